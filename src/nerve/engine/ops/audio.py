"""Audio features as differentiable compositions: the short-time Fourier transform, mel filters, the DCT of MFCCs.

Nothing here needs a backward of its own: framing is integer indexing (:func:`getitem`), the discrete Fourier
transform of every frame is a product with fixed cosine and sine matrices (:func:`matmul`), the mel scale is a
product with a matrix of triangles and the MFCCs a product with the DCT-II matrix. Gradients come from those
ops, and the same code runs on any array module (the constants are built with the input's ``xp``).

Conventions follow Keras 3 (``keras.ops.stft``, ``keras.layers.MelSpectrogram``): the real and imaginary
parts of ``rfft`` (imaginary part ``-sum x sin``), frames centred with reflection padding when
``center=True``, mel filters on the HTK mel scale ``mel(f) = 1127 ln(1 + f / 700)`` with peaks of 1.

Examples:
    >>> import numpy as np, nerve
    >>> t = np.arange(256) / 256.0
    >>> real, imag = stft(nerve.tensor(np.cos(2 * np.pi * 8 * t)), 64, 64, 64, window=None, center=False)
    >>> real.shape, int(np.argmax(real.numpy()[0])), round(float(real.numpy()[0, 2]), 3)  # 8 Hz x 64/256 s
    ((4, 33), 2, 32.0)
"""

from __future__ import annotations

import math

import numpy

from nerve.engine.ops.core import _as_tensor, getitem, log, matmul, maximum, mul, sub
from nerve.engine.ops.core import max as reduce_max

__all__ = ["get_window", "stft", "linear_to_mel_weight_matrix", "dct_matrix", "power_to_db"]

_WINDOWS = ("hann", "hamming")
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def get_window(window, length, periodic=True, xp=None, dtype="float64"):
    """A window of ``length`` samples: ``"hann"``, ``"hamming"``, ``None`` (rectangular) or an array of that length.

    ``periodic=True`` gives the window of spectral analysis (``scipy.signal.get_window``'s default,
    ``fftbins=True``: the symmetric window of ``length + 1`` samples without its last one); ``False`` the
    symmetric window.

    Examples:
        >>> get_window("hann", 4).round(2).tolist(), get_window("hann", 4, periodic=False).round(2).tolist()
        ([0.0, 0.5, 1.0, 0.5], [0.0, 0.75, 0.75, 0.0])
    """
    xp = xp or numpy
    length = int(length)
    if window is None:
        return xp.ones(length, dtype=dtype)
    if isinstance(window, str):
        if window not in _WINDOWS:
            raise ValueError(f"get_window: unknown window {window!r}; expected one of {', '.join(_WINDOWS)}, "
                             f"None or an array of {length} values")
        if length == 1:
            return xp.ones(1, dtype=dtype)
        span = length if periodic else length - 1
        phase = 2.0 * math.pi * xp.arange(length, dtype=dtype) / span
        a = 0.5 if window == "hann" else 0.54
        return (a - (1.0 - a) * xp.cos(phase)).astype(dtype)
    values = xp.asarray(window, dtype=dtype)
    if values.shape != (length,):
        raise ValueError(f"get_window: expected a window of shape ({length},), received shape {values.shape}")
    return values


def _dft_matrices(xp, window, fft_length, dtype):
    """``(real, imag)`` matrices of shape ``(len(window), fft_length // 2 + 1)``: a frame times them is its rfft."""
    n = xp.arange(window.shape[0], dtype=dtype)[:, None]
    k = xp.arange(fft_length // 2 + 1, dtype=dtype)[None, :]
    angle = (2.0 * math.pi / fft_length) * n * k
    return (window[:, None] * xp.cos(angle)).astype(dtype), (-window[:, None] * xp.sin(angle)).astype(dtype)


def _reflect_indices(xp, length, pad):
    """Indices of ``numpy.pad(x, pad, mode="reflect")`` along an axis of ``length``."""
    if pad >= length:
        raise ValueError(f"stft: center=True reflects {pad} samples at each end, which needs signals longer than "
                         f"{pad} samples; received {length}")
    index = xp.arange(-pad, length + pad)
    index = xp.abs(index)
    return xp.where(index >= length, 2 * (length - 1) - index, index)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform of real signals ``x (..., samples)``: ``(real, imag)``, each ``(..., frames, bins)``.

    Keras 3's ``keras.ops.stft``: frames of ``sequence_length`` samples every ``sequence_stride``, multiplied
    by ``window`` (periodic, centred in ``fft_length`` when shorter), and the ``fft_length // 2 + 1`` bins of
    their real FFT. ``center=True`` pads ``fft_length // 2`` samples at both ends by reflection, so that frame
    ``t`` is centred on sample ``t * sequence_stride``. Differentiable (a gather and two matrix products).

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.random.default_rng(0).normal(size=(2, 1000)))
        >>> real, imag = stft(x, 256, 128, 256)
        >>> real.shape
        (2, 8, 129)
        >>> reference = np.fft.rfft(np.pad(x.numpy(), ((0, 0), (128, 128)), mode="reflect")[:, 128:384]
        ...                         * get_window("hann", 256))
        >>> bool(np.allclose(real.numpy()[:, 1] + 1j * imag.numpy()[:, 1], reference))
        True
    """
    x = _as_tensor(x)
    sequence_length, sequence_stride, fft_length = int(sequence_length), int(sequence_stride), int(fft_length)
    if min(sequence_length, sequence_stride, fft_length) < 1:
        raise ValueError(f"stft: sequence_length, sequence_stride and fft_length must be >= 1, received "
                         f"{sequence_length}, {sequence_stride}, {fft_length}")
    if fft_length < sequence_length:
        raise ValueError(f"stft: fft_length ({fft_length}) must be >= sequence_length ({sequence_length})")
    if x.ndim < 1 or x.dtype.kind != "f":
        raise ValueError(f"stft: expected real floating-point signals of shape (..., samples), received shape "
                         f"{tuple(x.shape)} and dtype {x.dtype}")
    xp = x.xp
    if center:
        x = getitem(x, (Ellipsis, _reflect_indices(xp, x.shape[-1], fft_length // 2)))
    samples = x.shape[-1]
    if samples < fft_length:
        raise ValueError(f"stft: a frame needs {fft_length} samples, the signal has {samples}"
                         + (" after padding" if center else ""))
    frames = 1 + (samples - fft_length) // sequence_stride
    index = xp.arange(frames)[:, None] * sequence_stride + xp.arange(fft_length)[None, :]
    windowed = get_window(window, sequence_length, periodic=True, xp=xp, dtype=x.dtype)
    left = (fft_length - sequence_length) // 2
    full = xp.zeros(fft_length, dtype=x.dtype)
    full[left:left + sequence_length] = windowed
    real, imag = _dft_matrices(xp, full, fft_length, x.dtype)
    framed = getitem(x, (Ellipsis, index))
    return matmul(framed, real), matmul(framed, imag)


def linear_to_mel_weight_matrix(num_mel_bins=20, num_spectrogram_bins=129, sampling_rate=8000,
                                lower_edge_hertz=125.0, upper_edge_hertz=3800.0, dtype="float32", xp=None):
    """The ``(num_spectrogram_bins, num_mel_bins)`` matrix that maps a linear spectrum to mel bands.

    TensorFlow's and Keras's filters (HTK mel scale ``1127 ln(1 + f / 700)``): ``num_mel_bins`` triangles
    evenly spaced in mels between the edges, each rising from 0 at its left neighbour's centre to 1 at its
    centre and back to 0 at its right neighbour's centre; the DC bin gets no weight.

    Examples:
        >>> m = linear_to_mel_weight_matrix(4, 9, 8000, 0.0, 4000.0, dtype="float64")
        >>> m.shape, float(m.max()) <= 1.0, m[0].tolist()
        ((9, 4), True, [0.0, 0.0, 0.0, 0.0])
    """
    xp = xp or numpy
    if not 0.0 <= lower_edge_hertz < upper_edge_hertz <= sampling_rate / 2.0:
        raise ValueError(f"linear_to_mel_weight_matrix: expected 0 <= lower_edge_hertz < upper_edge_hertz <= "
                         f"sampling_rate / 2 ({sampling_rate / 2.0}), received {lower_edge_hertz} and "
                         f"{upper_edge_hertz}")

    def to_mel(hertz, module=xp):
        return _MEL_HIGH_FREQUENCY_Q * module.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)

    frequencies = xp.linspace(0.0, sampling_rate / 2.0, int(num_spectrogram_bins))[1:]
    bins_mel = to_mel(frequencies)[:, None]
    # the two edges are Python numbers: computed on the host (no round trip from a device)
    low, high = (float(to_mel(numpy.float64(hertz), numpy)) for hertz in (lower_edge_hertz, upper_edge_hertz))
    edges = xp.linspace(low, high, int(num_mel_bins) + 2)
    lower, center, upper = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = xp.maximum(0.0, xp.minimum(rising, falling))
    return xp.concatenate([xp.zeros((1, int(num_mel_bins))), weights]).astype(dtype)


def dct_matrix(num_inputs, num_outputs=None, dtype="float32", xp=None):
    """The orthonormal DCT-II as a ``(num_inputs, num_outputs)`` matrix: ``x @ D`` is ``scipy.fft.dct(x, norm="ortho")``.

    ``num_outputs`` keeps the first coefficients (13 of 40 log-mel bands for MFCCs).

    Examples:
        >>> import numpy as np
        >>> d = dct_matrix(8, dtype="float64")
        >>> bool(np.allclose(d.T @ d, np.eye(8))), (np.ones(8) @ d).round(6).tolist()[:2]
        (True, [2.828427, 0.0])
    """
    xp = xp or numpy
    n = int(num_inputs)
    k = xp.arange(n if num_outputs is None else int(num_outputs), dtype="float64")[None, :]
    i = xp.arange(n, dtype="float64")[:, None]
    matrix = xp.cos(math.pi * k * (2.0 * i + 1.0) / (2.0 * n)) * math.sqrt(2.0 / n)
    matrix[:, 0] /= math.sqrt(2.0)
    return matrix.astype(dtype)


def power_to_db(x, min_power=1e-10, ref_power=1.0, top_db=80.0, axis=None):
    """Decibels ``10 log10(max(x, min_power) / ref_power)``, floored at ``top_db`` below the maximum.

    The maximum is taken over ``axis`` (``None``: the whole tensor; layers pass every axis but the batch
    axis, so each example gets its own floor). ``top_db=None`` does not floor.

    Examples:
        >>> import nerve
        >>> power_to_db(nerve.tensor([1.0, 10.0, 1e-12]), top_db=50.0).tolist()
        [0.0, 10.0, -40.0]
    """
    x = _as_tensor(x)
    floor = math.log10(max(abs(float(ref_power)), min_power))
    decibels = mul(sub(log(maximum(x, min_power)), math.log(10.0) * floor), 10.0 / math.log(10.0))
    if top_db is None:
        return decibels
    return maximum(decibels, sub(reduce_max(decibels, axis=axis, keepdims=axis is not None), float(top_db)))
