"""Audio preprocessing layers: STFT spectrograms, mel spectrograms and MFCCs (Keras 3 names and arguments).

Speech recognisers rarely read raw samples: they read how the energy of each frequency band changes over
time. The layers here turn waveforms into those pictures inside the model, on any device, with gradients:

* :class:`STFTSpectrogram` (Keras 3): the short-time Fourier transform as a strided 1-D convolution whose
  kernels are windowed cosines and sines (trainable if you like), in the modes ``"log"``,
  ``"magnitude"``, ``"psd"``, ``"real"``, ``"imag"``, ``"stft"``;
* :class:`MelSpectrogram` (Keras 3): power spectrum of centred frames, pooled into mel bands (the
  ear's frequency resolution), in decibels;
* :class:`MFCC`: the discrete cosine transform of the log-mel bands, keeping the first coefficients
  (the classic features of speech recognition).

Examples:
    >>> import numpy as np
    >>> from nerve import layers
    >>> audio = np.random.default_rng(0).normal(size=(2, 8000)).astype("float32")   # 1 s at 8 kHz
    >>> layers.MelSpectrogram(fft_length=256, sequence_stride=128, sampling_rate=8000, num_mel_bins=40)(audio).shape
    (2, 40, 63)
    >>> layers.MFCC(num_mfcc=13, fft_length=256, sequence_stride=128, sampling_rate=8000, num_mel_bins=40)(audio).shape
    (2, 13, 63)
"""

from __future__ import annotations

import math

import numpy

from nerve.blocks.layers.base import Layer, builtin_layer
from nerve.engine import ops
from nerve.engine.tensor import tensor

__all__ = ["STFTSpectrogram", "MelSpectrogram", "MFCC"]

_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")
_EPSILON = 1e-7  # Keras's backend.epsilon()


def _check_choice(layer, name, value, choices):
    if value not in choices:
        raise ValueError(f"{layer}: {name} must be one of {', '.join(map(repr, choices))}, received {value!r}")


@builtin_layer
class STFTSpectrogram(Layer):
    """Short-time Fourier transform of 1-D signals ``(batch, samples, channels)`` as a strided convolution.

    Keras 3's layer: frames of ``frame_length`` samples every ``frame_step`` (default half a frame), each
    multiplied by ``window`` and transformed into ``fft_length // 2 + 1`` frequency bins by two kernels of
    shape ``(frame_length, 1, bins)`` (the windowed cosines and minus sines of the DFT, divided by
    ``sqrt(sum(window^2))`` for ``scaling="density"`` or ``sum(window)`` for ``"spectrum"``). The kernels are
    weights (``real_kernel``, ``imag_kernel``): pass ``trainable=False`` for a fixed transform.

    ``mode``: ``"magnitude"`` ``sqrt(real^2 + imag^2)``, ``"log"`` its logarithm, ``"psd"`` the one-sided
    power spectral density (``scipy.signal.spectrogram(..., scaling="density")`` with ``fs=1``),
    ``"real"``, ``"imag"``, ``"angle"`` (not differentiable here) or ``"stft"`` (real and imaginary
    parts side by side). ``padding="same"`` gives ``ceil(samples / frame_step)`` frames. The output is
    ``(batch, frames, channels * bins)``, or ``(batch, frames, bins, channels)`` with ``expand_dims=True``
    (an image for ``Conv2D``); ``data_format="channels_first"`` reads ``(batch, channels, samples)`` and
    writes ``(batch, channels * bins, frames)`` (or ``(batch, channels, frames, bins)``).

    Examples:
        >>> import numpy as np
        >>> layer = STFTSpectrogram(mode="log", frame_length=256, frame_step=128, fft_length=512, trainable=False)
        >>> layer(np.random.default_rng(0).uniform(size=(3, 16000, 1)).astype("float32")).shape
        (3, 124, 257)
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        _check_choice("STFTSpectrogram", "mode", mode, _MODES)
        _check_choice("STFTSpectrogram", "scaling", scaling, ("density", "spectrum", None))
        _check_choice("STFTSpectrogram", "padding", padding, ("valid", "same"))
        _check_choice("STFTSpectrogram", "data_format", data_format, ("channels_last", "channels_first", None))
        self.frame_length = int(frame_length)
        if frame_step is not None and not 1 <= int(frame_step) <= self.frame_length:
            raise ValueError(f"STFTSpectrogram: frame_step must be a positive integer not greater than frame_length "
                             f"({self.frame_length}), received {frame_step}")
        if fft_length is not None and int(fft_length) < self.frame_length:
            raise ValueError(f"STFTSpectrogram: fft_length must be >= frame_length ({self.frame_length}), "
                             f"received {fft_length}")
        ops.get_window(window, self.frame_length)  # an unknown window fails here, not at the first call
        self.mode, self.window, self.periodic, self.scaling = mode, window, bool(periodic), scaling
        self.frame_step = None if frame_step is None else int(frame_step)
        self.fft_length = None if fft_length is None else int(fft_length)
        self.padding, self.expand_dims = padding, bool(expand_dims)
        self.data_format = data_format or "channels_last"
        self._frame_step = self.frame_step or self.frame_length // 2
        self._fft_length = self.fft_length or 2 ** math.ceil(math.log2(self.frame_length))

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"layer '{self.name}' (STFTSpectrogram) expects inputs of shape (batch, samples, "
                             f"channels), received shape {tuple(input_shape)}")
        window = ops.get_window(self.window, self.frame_length, periodic=self.periodic)
        scale = {"density": math.sqrt(float(numpy.sum(window ** 2))), "spectrum": float(numpy.sum(numpy.abs(window))),
                 None: 1.0}[self.scaling]
        n = numpy.arange(self.frame_length)[:, None]
        k = numpy.arange(self._fft_length // 2 + 1)[None, :]
        angle = 2.0 * math.pi * n * k / self._fft_length
        kernels = {"real": window[:, None] * numpy.cos(angle) / scale, "imag": -window[:, None] * numpy.sin(angle) / scale}
        for part in ("real", "imag"):
            if (part == "real" and self.mode == "imag") or (part == "imag" and self.mode == "real"):
                continue
            values = kernels[part][:, None, :]
            setattr(self, f"{part}_kernel", self.add_weight(f"{part}_kernel", values.shape,
                                                            initializer=lambda shape, dtype=None, v=values: v.astype(dtype)))

    def _fixes_last_axis(self):
        return False  # the kernels apply to every channel

    def _transform(self, signals, kernel):
        """``signals (batch * channels, samples, 1)`` -> ``(batch * channels, frames, bins)``."""
        return ops.conv1d(signals, ops.cast(kernel, signals.dtype), strides=self._frame_step, padding=self.padding)

    def call(self, inputs):
        x = inputs if self.data_format == "channels_first" else ops.transpose(inputs, (0, 2, 1))
        batch, channels, samples = x.shape
        signals = ops.reshape(x, (batch * channels, samples, 1))
        real = self._transform(signals, self.real_kernel) if self.mode != "imag" else None
        imag = self._transform(signals, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            out = real
        elif self.mode == "imag":
            out = imag
        elif self.mode == "angle":
            out = real.xp.arctan2(imag.data, real.data)
            out = ops.cast(tensor(out), real.dtype)
        elif self.mode == "stft":
            out = ops.concatenate([real, imag], axis=-1)
        else:
            power = real * real + imag * imag
            if self.mode == "psd":  # one-sided: every bin but DC (and Nyquist for an even FFT) counts twice
                bins = power.shape[-1]
                doubled = numpy.full(bins, 2.0)
                doubled[0] = 1.0
                if self._fft_length % 2 == 0:
                    doubled[-1] = 1.0
                out = power * ops.cast(tensor(power.xp.asarray(doubled)), power.dtype)
            else:
                out = ops.sqrt(ops.maximum(power, _EPSILON))
                if self.mode == "log":
                    out = ops.log(ops.maximum(out, _EPSILON))
        frames, bins = out.shape[1], out.shape[2]
        out = ops.reshape(out, (batch, channels, frames, bins))
        if self.expand_dims:
            return ops.transpose(out, (0, 2, 3, 1)) if self.data_format == "channels_last" else out
        if self.data_format == "channels_last":
            return ops.reshape(ops.transpose(out, (0, 2, 1, 3)), (batch, frames, channels * bins))
        return ops.reshape(ops.transpose(out, (0, 1, 3, 2)), (batch, channels * bins, frames))

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length,
                "window": self.window if self.window is None or isinstance(self.window, str)
                else numpy.asarray(self.window).tolist(),
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "expand_dims": self.expand_dims, "data_format": self.data_format}


@builtin_layer
class MelSpectrogram(Layer):
    """Mel spectrogram of waveforms ``(batch, samples)`` (or one ``(samples,)``): ``(batch, num_mel_bins, frames)``.

    Keras 3's layer: centred frames of ``sequence_length`` samples (default ``fft_length``) every
    ``sequence_stride``, a periodic ``window``, the magnitude of the ``fft_length``-point FFT raised to
    ``mag_exp`` (2: power), pooled into ``num_mel_bins`` triangular bands evenly spaced on the HTK mel
    scale between ``min_freq`` and ``max_freq`` (default half the ``sampling_rate``); with ``power_to_db``,
    decibels ``10 log10(max(power, min_power) / ref_power)`` floored ``top_db`` below the maximum. The
    maximum is each example's own (Keras takes it over the whole batch, which makes an example's features
    depend on its batch). No weights. Frames: ``1 + samples // sequence_stride``.

    Examples:
        >>> import numpy as np
        >>> layer = MelSpectrogram(num_mel_bins=64, sampling_rate=8000, sequence_stride=256, fft_length=2048)
        >>> layer(np.random.default_rng(0).uniform(size=(16000,)).astype("float32")).shape
        (64, 63)
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True,
                 top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        self.fft_length = int(fft_length)
        self.sequence_stride = int(sequence_stride)
        self.sequence_length = int(sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(f"{type(self).__name__}: fft_length must be >= sequence_length, received "
                             f"sequence_length={self.sequence_length}, fft_length={self.fft_length}")
        ops.get_window(window, self.sequence_length)
        self.window = window
        self.sampling_rate = int(sampling_rate)
        self.num_mel_bins = int(num_mel_bins)
        self.min_freq = float(min_freq)
        self.max_freq = float(max_freq) if max_freq is not None else self.sampling_rate / 2.0
        self.power_to_db = bool(power_to_db)
        self.top_db = None if top_db is None else float(top_db)
        self.mag_exp, self.min_power, self.ref_power = float(mag_exp), float(min_power), float(ref_power)
        ops.linear_to_mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1, self.sampling_rate,
                                        self.min_freq, self.max_freq)  # checks the band edges now

    def _fixes_last_axis(self):
        return False

    def _records_input_spec(self):
        return False

    def _mel_db(self, inputs):
        """``(batch, frames, num_mel_bins)`` mel bands (in dB with ``power_to_db``)."""
        x = inputs if inputs.dtype.kind == "f" else ops.cast(inputs, "float32")
        if x.ndim not in (1, 2):
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}) expects waveforms of shape (batch, samples) "
                             f"or (samples,), received shape {tuple(x.shape)}")
        single = x.ndim == 1
        if single:
            x = ops.reshape(x, (1, x.shape[0]))
        real, imag = ops.stft(x, self.sequence_length, self.sequence_stride, self.fft_length, self.window, center=True)
        power = real * real + imag * imag
        spectrum = power if self.mag_exp == 2.0 else ops.maximum(power, 1e-30) ** (self.mag_exp / 2.0)
        mel = ops.linear_to_mel_weight_matrix(self.num_mel_bins, self.fft_length // 2 + 1, self.sampling_rate,
                                              self.min_freq, self.max_freq, dtype=x.dtype, xp=x.xp)
        out = ops.matmul(spectrum, tensor(mel))
        if self.power_to_db:
            out = ops.power_to_db(out, self.min_power, self.ref_power, self.top_db, axis=(1, 2))
        return out, single

    def call(self, inputs):
        out, single = self._mel_db(inputs)
        out = ops.transpose(out, (0, 2, 1))
        return ops.reshape(out, tuple(out.shape[1:])) if single else out

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}


@builtin_layer
class MFCC(MelSpectrogram):
    """Mel-frequency cepstral coefficients: the DCT of log-mel bands, ``(batch, num_mfcc, frames)``.

    The :class:`MelSpectrogram` in decibels (all its arguments; ``power_to_db`` is always on, ``top_db``
    default 80), then the orthonormal DCT-II over the bands (``scipy.fft.dct(..., norm="ortho")``), keeping
    the first ``num_mfcc`` coefficients, as ``librosa.feature.mfcc`` computes them from a mel spectrogram in
    dB. The low coefficients describe the spectral envelope (the shape of the vocal tract), which is what
    tells phonemes apart.

    Examples:
        >>> import numpy as np
        >>> t = np.arange(8000) / 8000.0
        >>> tone = np.sin(2 * np.pi * 440.0 * t).astype("float32")
        >>> MFCC(num_mfcc=13, sampling_rate=8000, fft_length=256, sequence_stride=128, num_mel_bins=40)(tone[None]).shape
        (1, 13, 63)
    """

    def __init__(self, num_mfcc=13, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, top_db=80.0, mag_exp=2.0,
                 min_power=1e-10, ref_power=1.0, **kwargs):
        kwargs.pop("power_to_db", None)
        super().__init__(fft_length, sequence_stride, sequence_length, window, sampling_rate, num_mel_bins, min_freq,
                         max_freq, True, top_db, mag_exp, min_power, ref_power, **kwargs)
        self.num_mfcc = int(num_mfcc)
        if not 1 <= self.num_mfcc <= self.num_mel_bins:
            raise ValueError(f"MFCC: num_mfcc must be in [1, num_mel_bins={self.num_mel_bins}], received {num_mfcc}")

    def call(self, inputs):
        log_mel, single = self._mel_db(inputs)
        dct = ops.dct_matrix(self.num_mel_bins, self.num_mfcc, dtype=log_mel.dtype, xp=log_mel.xp)
        out = ops.transpose(ops.matmul(log_mel, tensor(dct)), (0, 2, 1))
        return ops.reshape(out, tuple(out.shape[1:])) if single else out

    def get_config(self):
        config = super().get_config()
        config.pop("power_to_db")
        return {**config, "num_mfcc": self.num_mfcc}
