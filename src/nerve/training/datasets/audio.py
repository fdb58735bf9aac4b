"""The Free Spoken Digit Dataset (FSDD): "MNIST for audio", downloaded once into the cache directory.

Zohar Jackson's recordings of people saying the digits 0-9 in English, mono WAV files at 8 kHz with the
silence trimmed (https://github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0). Release v1.0.9,
which :func:`load_spoken_digits` reads, has 2,500 recordings: 5 speakers x 10 digits x 50 repetitions,
named ``{digit}_{speaker}_{index}.wav``. The dataset's own split: repetitions 0-4 of every speaker and
digit are the test set (250 recordings), 5-49 the training set (2,250).

The archive ``v1.0.9.tar.gz`` (11,975,353 bytes) is fetched from GitHub like the image datasets
(:mod:`nerve.training.datasets.images`): into ``data_dir``, ``$NERVE_DATA_DIR`` or ``~/.cache/nerve/datasets``,
sub-directory ``free-spoken-digit/``, kept only if its SHA-256 matches :data:`CHECKSUMS` (the digest
TensorFlow Datasets records for the same URL). The WAV files are read straight out of the archive with
the standard library's ``wave`` module (nothing is extracted).

Example (needs the archive or an internet connection, so not run here):
    >>> from nerve.datasets import load_spoken_digits  # doctest: +SKIP
    >>> (x_train, y_train), (x_test, y_test) = load_spoken_digits()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
    ((2250, 8000), dtype('float32'), (250,))
"""

from __future__ import annotations

import io
import re
import tarfile
import wave

import numpy

from nerve.training.datasets import images

__all__ = ["load_spoken_digits", "read_wav", "SPOKEN_DIGITS_ARCHIVE", "SAMPLING_RATE"]

DATASET = "free-spoken-digit"
SPOKEN_DIGITS_ARCHIVE = "v1.0.9.tar.gz"
SAMPLING_RATE = 8000
_NAME = re.compile(r"(?:^|/)recordings/(\d)_([A-Za-z]+)_(\d+)\.wav$")

images.CHECKSUMS.setdefault(DATASET, {
    SPOKEN_DIGITS_ARCHIVE: "8bc44cde129d505cbbb6b365c09f80c663f2aa77578afc634e6141a2f87100c0",
})
images.SOURCES.setdefault(DATASET, ["https://github.com/Jakobovski/free-spoken-digit-dataset/archive/"])


def read_wav(source):
    """Samples of a PCM WAV file (path, bytes or file object) as float32 in [-1, 1], and its sampling rate.

    Mono, or the mean of the channels; 8-bit (unsigned) or 16/32-bit (signed) samples.

    Examples:
        >>> import io, wave, numpy as np
        >>> buffer = io.BytesIO()
        >>> with wave.open(buffer, "wb") as out:
        ...     out.setnchannels(1); out.setsampwidth(2); out.setframerate(8000)
        ...     out.writeframes(np.array([0, 16384, -32768], dtype="<i2").tobytes())
        >>> samples, rate = read_wav(buffer.getvalue())
        >>> samples.tolist(), rate
        ([0.0, 0.5, -1.0], 8000)
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        with wave.open(source, "rb") as recording:
            channels, width, rate = recording.getnchannels(), recording.getsampwidth(), recording.getframerate()
            frames = recording.readframes(recording.getnframes())
    except (wave.Error, EOFError) as error:
        raise images.DatasetError(f"{getattr(source, 'name', 'audio')}: not a readable PCM WAV file ({error})") from None
    if width == 1:
        samples = (numpy.frombuffer(frames, dtype=numpy.uint8).astype(numpy.float32) - 128.0) / 128.0
    elif width in (2, 4):
        kind = "<i2" if width == 2 else "<i4"
        samples = numpy.frombuffer(frames, dtype=kind).astype(numpy.float32) / float(2 ** (8 * width - 1))
    else:
        raise images.DatasetError(f"{getattr(source, 'name', 'audio')}: {8 * width}-bit samples are not supported "
                                  f"(expected 8, 16 or 32-bit PCM)")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def _fit(recordings, length):
    """Zero-pad or cut every recording to ``length`` samples: ``(n, length)`` float32."""
    out = numpy.zeros((len(recordings), length), dtype=numpy.float32)
    for row, samples in zip(out, recordings):  # one copy per recording (they have different lengths)
        row[:min(length, len(samples))] = samples[:length]
    return out


def load_spoken_digits(data_dir=None, download=True, length=SAMPLING_RATE, return_speakers=False):
    """The Free Spoken Digit Dataset, split as its authors split it: ``(x_train, y_train), (x_test, y_test)``.

    Args:
        data_dir: the cache directory (default ``$NERVE_DATA_DIR`` or ``~/.cache/nerve/datasets``).
        download: fetch the archive when it is missing (otherwise :class:`DatasetError` says where to put it).
        length: samples per recording: shorter ones are zero-padded at the end, longer ones cut (8000 =
            1 s at 8 kHz, longer than almost every recording); ``None`` keeps each recording whole and returns
            lists of float32 arrays.
        return_speakers: also return the speaker names ``(speakers_train, speakers_test)``.

    Returns:
        ``x``: float32 samples in [-1, 1], shape ``(n, length)``, at 8 kHz (:data:`SAMPLING_RATE`); ``y``: uint8
        digits 0-9. Recordings are sorted by speaker, digit and repetition.

    Example (needs the archive, so not run here):
        >>> (x_train, y_train), (x_test, y_test) = load_spoken_digits(length=4000)  # doctest: +SKIP
        >>> x_train.shape, sorted(set(y_test.tolist())) == list(range(10))  # doctest: +SKIP
        ((2250, 4000), True)
    """
    (path,) = images._fetch(DATASET, [SPOKEN_DIGITS_ARCHIVE], data_dir, download)
    records = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = _NAME.search(member.name)
                if not member.isfile() or match is None:
                    continue
                digit, speaker, index = int(match.group(1)), match.group(2), int(match.group(3))
                samples, rate = read_wav(archive.extractfile(member).read())
                if rate != SAMPLING_RATE:
                    raise images.DatasetError(f"{path}: {member.name} is sampled at {rate} Hz, expected "
                                              f"{SAMPLING_RATE} Hz")
                records.append((speaker, digit, index, samples))
    except tarfile.TarError as error:
        raise images.DatasetError(
            f"{path}: not a readable tar archive ({error}); delete it to download it again") from None
    if not records:
        raise images.DatasetError(f"{path}: no recordings/{{digit}}_{{speaker}}_{{index}}.wav files in the archive")
    records.sort(key=lambda record: record[:3])
    splits = []
    for is_test in (False, True):
        chosen = [record for record in records if (record[2] < 5) == is_test]
        recordings = [record[3] for record in chosen]
        x = recordings if length is None else _fit(recordings, int(length))
        y = numpy.array([record[1] for record in chosen], dtype=numpy.uint8)
        splits.append((x, y, [record[0] for record in chosen]))
    (x_train, y_train, s_train), (x_test, y_test, s_test) = splits
    if return_speakers:
        return (x_train, y_train), (x_test, y_test), (s_train, s_test)
    return (x_train, y_train), (x_test, y_test)
