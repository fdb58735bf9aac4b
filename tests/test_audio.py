"""Audio features: STFT, mel spectrogram and MFCC against scipy.signal / scipy.fft / NumPy references,
their gradients, and the layers' configs and model files."""

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.gradcheck import gradcheck

scipy_signal = pytest.importorskip("scipy.signal")
scipy_fft = pytest.importorskip("scipy.fft")


def chirp(samples=2000, rate=8000.0, batch=2, seed=0):
    t = np.arange(samples) / rate
    rng = np.random.default_rng(seed)
    tones = [np.sin(2 * np.pi * (300 + 700 * b) * t + 1500 * t ** 2) + 0.1 * rng.normal(size=samples)
             for b in range(batch)]
    return np.stack(tones)


# ------------------------------------------------------------------------------------------------ ops
@pytest.mark.parametrize("center", [True, False])
def test_stft_op_is_the_rfft_of_windowed_frames(center):
    x = chirp()
    real, imag = ops.stft(nerve.tensor(x), 200, 80, 256, window="hann", center=center)
    padded = np.pad(x, ((0, 0), (128, 128)), mode="reflect") if center else x
    frames = 1 + (padded.shape[1] - 256) // 80
    window = np.zeros(256)
    window[28:228] = scipy_signal.get_window("hann", 200)  # periodic, centred in the FFT frame
    expected = np.stack([np.fft.rfft(padded[:, i * 80:i * 80 + 256] * window) for i in range(frames)], axis=1)
    assert real.shape == (2, frames, 129)
    np.testing.assert_allclose(real.numpy() + 1j * imag.numpy(), expected, atol=1e-9)


def test_windows_match_scipy():
    for name in ("hann", "hamming"):
        for periodic in (True, False):
            np.testing.assert_allclose(ops.get_window(name, 50, periodic=periodic),
                                       scipy_signal.get_window(name, 50, fftbins=periodic), atol=1e-12)
    with pytest.raises(ValueError, match="unknown window 'kaiser'"):
        ops.get_window("kaiser", 8)


def test_mel_matrix_matches_the_htk_triangles_written_out():
    matrix = ops.linear_to_mel_weight_matrix(10, 129, 8000, 20.0, 4000.0, dtype="float64")
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    edges = np.linspace(mel(20.0), mel(4000.0), 12)
    expected = np.zeros((129, 10))
    for b in range(1, 129):
        m = mel(b * 4000.0 / 128)
        for j in range(10):
            left, centre, right = edges[j], edges[j + 1], edges[j + 2]
            expected[b, j] = max(0.0, min((m - left) / (centre - left), (right - m) / (right - centre)))
    np.testing.assert_allclose(matrix, expected, atol=1e-12)
    assert np.allclose(matrix.max(axis=0), 1.0, atol=0.05)  # every band has a bin near its peak


def test_dct_matrix_matches_scipy():
    x = np.random.default_rng(0).normal(size=(3, 20))
    np.testing.assert_allclose(x @ ops.dct_matrix(20, 13, dtype="float64"),
                               scipy_fft.dct(x, type=2, norm="ortho", axis=-1)[:, :13], atol=1e-12)


# --------------------------------------------------------------------------------------------- layers
def test_stft_spectrogram_psd_matches_scipy_spectrogram():
    x = chirp()
    layer = layers.STFTSpectrogram(mode="psd", frame_length=200, frame_step=50, fft_length=256, periodic=False,
                                   dtype="float64")
    got = layer(x[:, :, None]).numpy()
    _, _, expected = scipy_signal.spectrogram(x, fs=1.0, window=scipy_signal.get_window("hann", 200, fftbins=False),
                                              nperseg=200, noverlap=150, nfft=256, detrend=False, scaling="density",
                                              mode="psd")
    np.testing.assert_allclose(got, expected.transpose(0, 2, 1), rtol=1e-9, atol=1e-14)


def test_stft_spectrogram_magnitude_log_and_parts_match_scipy_stft():
    x = chirp(batch=1)
    _, _, reference = scipy_signal.stft(x, window=scipy_signal.get_window("hamming", 128, fftbins=True), nperseg=128,
                                        noverlap=64, nfft=128, boundary=None, padded=False, detrend=False)
    reference = reference.transpose(0, 2, 1)  # scaled by 1 / sum(window): scaling="spectrum"
    common = dict(frame_length=128, window="hamming", periodic=True, scaling="spectrum", dtype="float64")
    magnitude = layers.STFTSpectrogram(mode="magnitude", **common)(x[:, :, None]).numpy()
    np.testing.assert_allclose(magnitude, np.maximum(np.abs(reference), np.sqrt(1e-7)), rtol=1e-9)
    log = layers.STFTSpectrogram(mode="log", **common)(x[:, :, None]).numpy()
    np.testing.assert_allclose(log, np.log(np.maximum(np.abs(reference), np.sqrt(1e-7))), rtol=1e-9, atol=1e-12)
    both = layers.STFTSpectrogram(mode="stft", **common)(x[:, :, None]).numpy()
    np.testing.assert_allclose(both, np.concatenate([reference.real, reference.imag], axis=-1), atol=1e-12)
    real = layers.STFTSpectrogram(mode="real", **common)
    real(x[:, :, None])
    assert [w.name.split("/")[-1] for w in real.weights] == ["real_kernel"]


def test_stft_spectrogram_shapes_like_keras():
    audio = np.random.default_rng(0).uniform(size=(3, 16000, 2)).astype("float32")
    same = layers.STFTSpectrogram(frame_length=256, frame_step=128, fft_length=512, padding="same")
    assert same(audio).shape == (3, 125, 514)  # ceil(16000 / 128) frames, 2 channels x 257 bins
    image = layers.STFTSpectrogram(frame_length=256, frame_step=128, fft_length=512, padding="same", expand_dims=True)
    out = image(audio).numpy()
    assert out.shape == (3, 125, 257, 2)
    np.testing.assert_allclose(out[..., 1], same(audio).numpy()[..., 257:], rtol=1e-6)  # channel-major, as Keras
    first = layers.STFTSpectrogram(frame_length=256, data_format="channels_first")
    assert first(audio.transpose(0, 2, 1)).shape == (3, 258, 124)  # fft_length 256: 129 bins
    assert len(same.trainable_weights) == 2
    assert len(layers.STFTSpectrogram(trainable=False).trainable_weights) == 0


def test_mel_spectrogram_matches_a_numpy_reference():
    x = chirp(samples=4000)
    layer = layers.MelSpectrogram(fft_length=256, sequence_stride=100, sampling_rate=8000, num_mel_bins=24,
                                  min_freq=50.0, max_freq=3500.0, top_db=60.0, dtype="float64")
    got = layer(x).numpy()
    padded = np.pad(x, ((0, 0), (128, 128)), mode="reflect")
    frames = 1 + (padded.shape[1] - 256) // 100
    window = scipy_signal.get_window("hann", 256)
    power = np.stack([np.abs(np.fft.rfft(padded[:, i * 100:i * 100 + 256] * window)) ** 2 for i in range(frames)], 1)
    mel = power @ ops.linear_to_mel_weight_matrix(24, 129, 8000, 50.0, 3500.0, dtype="float64")
    decibels = 10 * np.log10(np.maximum(mel, 1e-10))
    decibels = np.maximum(decibels, decibels.max(axis=(1, 2), keepdims=True) - 60.0)
    assert got.shape == (2, 24, frames) == (2, 24, 1 + 4000 // 100)
    np.testing.assert_allclose(got, decibels.transpose(0, 2, 1), rtol=1e-9, atol=1e-9)
    single = layers.MelSpectrogram(fft_length=256, sequence_stride=100, sampling_rate=8000, num_mel_bins=24,
                                   min_freq=50.0, max_freq=3500.0, top_db=60.0, dtype="float64")(x[1]).numpy()
    np.testing.assert_allclose(single, got[1], rtol=1e-9, atol=1e-9)  # its own floor: the same as in the batch
    linear = layers.MelSpectrogram(fft_length=256, sequence_stride=100, sampling_rate=8000, num_mel_bins=24,
                                   min_freq=50.0, max_freq=3500.0, power_to_db=False, mag_exp=1.0, dtype="float64")
    np.testing.assert_allclose(linear(x).numpy(), (np.sqrt(power) @ ops.linear_to_mel_weight_matrix(
        24, 129, 8000, 50.0, 3500.0, dtype="float64")).transpose(0, 2, 1), rtol=1e-9, atol=1e-12)


def test_mfcc_is_the_orthonormal_dct_of_the_log_mel_bands():
    x = chirp(samples=3000)
    common = dict(fft_length=256, sequence_stride=128, sampling_rate=8000, num_mel_bins=32, dtype="float64")
    mel_db = layers.MelSpectrogram(**common)(x).numpy()
    mfcc = layers.MFCC(num_mfcc=13, **common)(x).numpy()
    np.testing.assert_allclose(mfcc, scipy_fft.dct(mel_db, type=2, norm="ortho", axis=1)[:, :13], rtol=1e-9,
                               atol=1e-9)
    librosa = pytest.importorskip("librosa")  # the same from librosa's DCT, when librosa is installed
    np.testing.assert_allclose(mfcc[0], librosa.feature.mfcc(S=mel_db[0], n_mfcc=13), rtol=1e-6, atol=1e-6)


def test_audio_layers_gradients(randn):
    signal = randn(2, 300)
    mel = layers.MelSpectrogram(fft_length=64, sequence_stride=32, sampling_rate=8000, num_mel_bins=8, top_db=None,
                                dtype="float64")
    assert gradcheck(lambda s: mel(s), [signal], max_elements=24).passed
    mfcc = layers.MFCC(num_mfcc=5, fft_length=64, sequence_stride=32, sampling_rate=8000, num_mel_bins=8,
                       top_db=None, dtype="float64")
    assert gradcheck(lambda s: mfcc(s), [signal], max_elements=24).passed
    stft = layers.STFTSpectrogram(mode="log", frame_length=32, frame_step=16, dtype="float64")
    stft(signal.numpy()[:, :, None])
    result = gradcheck(lambda s: stft(ops.reshape(s, (2, 300, 1))), [signal], max_elements=24,
                       weights=[("real_kernel", stft.real_kernel), ("imag_kernel", stft.imag_kernel)])
    assert result.passed, result


def test_audio_model_saves_and_loads(tmp_path):
    nerve.random.seed(0)
    inputs = nerve.Input(shape=(800,))
    features = layers.MFCC(num_mfcc=6, fft_length=128, sequence_stride=64, sampling_rate=8000, num_mel_bins=16)(inputs)
    spectrum = layers.STFTSpectrogram(frame_length=64, trainable=False)(layers.Reshape((800, 1))(inputs))
    merged = layers.Concatenate()([layers.Flatten()(features), layers.Flatten()(spectrum)])
    model = nerve.Model(inputs, layers.Dense(3)(merged))
    x = chirp(samples=800).astype("float32")
    model.save(tmp_path / "audio.nerve")
    loaded = nerve.load_model(tmp_path / "audio.nerve")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert {"MFCC", "STFTSpectrogram"} <= {type(layer).__name__ for layer in loaded.layers}


def test_audio_layer_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        layers.STFTSpectrogram(mode="power")
    with pytest.raises(ValueError, match=r"frame_step must be a positive integer not greater than frame_length"):
        layers.STFTSpectrogram(frame_length=64, frame_step=100)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, samples, channels\)"):
        layers.STFTSpectrogram()(np.zeros((2, 1000), dtype="float32"))
    with pytest.raises(ValueError, match=r"fft_length must be >= sequence_length"):
        layers.MelSpectrogram(fft_length=256, sequence_length=512)
    with pytest.raises(ValueError, match=r"upper_edge_hertz <= sampling_rate / 2 \(4000.0\)"):
        layers.MelSpectrogram(sampling_rate=8000, max_freq=6000)
    with pytest.raises(ValueError, match=r"num_mfcc must be in \[1, num_mel_bins=20\]"):
        layers.MFCC(num_mfcc=30, num_mel_bins=20)
    with pytest.raises(ValueError, match=r"expects waveforms of shape \(batch, samples\) or \(samples,\)"):
        layers.MelSpectrogram(fft_length=64, sequence_stride=32)(np.zeros((2, 500, 1), dtype="float32"))
