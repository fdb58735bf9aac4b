"""The Free Spoken Digit Dataset loader, on a small archive of generated recordings (no network)."""

import hashlib
import io
import tarfile
import wave

import numpy as np
import pytest

from nerve import datasets
from nerve.training.datasets import audio, images


def wav_bytes(samples, rate=8000, width=2):
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes((np.asarray(samples) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def make_archive(path, speakers=("jackson", "theo"), repetitions=7, rate=8000):
    """A tar.gz laid out like the release: free-spoken-digit-dataset-1.0.9/recordings/{d}_{speaker}_{i}.wav."""
    expected = {}
    with tarfile.open(path, "w:gz") as archive:
        for s, speaker in enumerate(speakers):
            for digit in range(10):
                for index in range(repetitions):
                    n = 2000 + 300 * index + 50 * digit  # different lengths, some longer than 3000
                    t = np.arange(n) / rate
                    samples = 0.5 * np.sin(2 * np.pi * (200 + 100 * digit + 10 * s) * t)
                    payload = wav_bytes(samples, rate)
                    info = tarfile.TarInfo(f"free-spoken-digit-dataset-1.0.9/recordings/{digit}_{speaker}_{index}.wav")
                    info.size = len(payload)
                    archive.addfile(info, io.BytesIO(payload))
                    expected[(speaker, digit, index)] = (samples * 32767).astype("<i2") / 32768
        readme = b"not a recording"
        info = tarfile.TarInfo("free-spoken-digit-dataset-1.0.9/README.md")
        info.size = len(readme)
        archive.addfile(info, io.BytesIO(readme))
    return expected


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A generated archive standing in for the published one: its digest in CHECKSUMS, downloads copy it."""
    source = tmp_path / "upstream.tar.gz"
    expected = make_archive(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    monkeypatch.setitem(images.CHECKSUMS, audio.DATASET, {audio.SPOKEN_DIGITS_ARCHIVE: digest})
    calls = []

    def fake_download(url, destination):
        calls.append(url)
        destination.write_bytes(source.read_bytes())

    monkeypatch.setattr(images, "_download", fake_download)
    return expected, calls


def test_downloads_once_verifies_and_splits_like_the_authors(tmp_path, published):
    expected, calls = published
    (x_train, y_train), (x_test, y_test), (s_train, s_test) = datasets.load_spoken_digits(
        data_dir=tmp_path / "cache", length=3000, return_speakers=True)
    assert calls == ["https://github.com/Jakobovski/free-spoken-digit-dataset/archive/v1.0.9.tar.gz"]
    assert (tmp_path / "cache" / "free-spoken-digit" / "v1.0.9.tar.gz").exists()
    assert x_train.shape == (2 * 10 * 2, 3000) and x_test.shape == (2 * 10 * 5, 3000)  # repetitions 5, 6 train
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert np.bincount(y_test).tolist() == [10] * 10 and set(s_train) == {"jackson", "theo"}
    # sorted by speaker, digit, repetition; padded with zeros or cut to 3000 samples
    first = expected[("jackson", 0, 0)]  # 2000 samples
    np.testing.assert_allclose(x_test[0, :2000], first, atol=1e-6)
    assert (x_test[0, 2000:] == 0).all()
    np.testing.assert_allclose(x_train[-1], expected[("theo", 9, 6)][:3000], atol=1e-6)
    assert s_test[0] == "jackson" and y_test[:6].tolist() == [0, 0, 0, 0, 0, 1]
    # the second call reads the cache
    (again, _), _ = datasets.load_spoken_digits(data_dir=tmp_path / "cache", length=None)
    assert len(calls) == 1 and isinstance(again, list) and len(again[0]) == 2000 + 300 * 5


def test_damaged_archive_in_the_cache_is_reported(tmp_path, published):
    folder = tmp_path / "free-spoken-digit"
    folder.mkdir()
    (folder / "v1.0.9.tar.gz").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(datasets.DatasetError, match="checksum mismatch"):
        datasets.load_spoken_digits(data_dir=tmp_path)


def test_offline_without_the_archive_says_where_to_put_it(tmp_path):
    with pytest.raises(datasets.DatasetError, match=r"download=False[\s\S]*free-spoken-digit-dataset/archive/v1.0.9"):
        datasets.load_spoken_digits(data_dir=tmp_path, download=False)


def test_read_wav_formats():
    samples, rate = audio.read_wav(wav_bytes([0.0, 0.5, -0.5], rate=16000))
    assert rate == 16000 and np.allclose(samples, [0.0, 0.5, -0.5], atol=1e-4)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:  # 8-bit unsigned stereo
        out.setnchannels(2)
        out.setsampwidth(1)
        out.setframerate(8000)
        out.writeframes(bytes([128, 128, 255, 1]))
    samples, _ = audio.read_wav(buffer.getvalue())
    assert samples.tolist() == [0.0, pytest.approx((127 / 128 - 127 / 128) / 2)]
    with pytest.raises(datasets.DatasetError, match="not a readable PCM WAV file"):
        audio.read_wav(b"RIFF....not a wav")
