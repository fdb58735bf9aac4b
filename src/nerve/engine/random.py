"""One seed for everything random in nerve: weight initialisation, dropout, shuffling, augmentation.

``nerve.random.seed(n)`` resets a single NumPy ``Generator``; with the same seed
on the same machine *and the same number of BLAS threads*, weights and whole training
runs are bit-identical. A matrix product split over another number of threads sums in
another order (runs then differ in the last bits, ~1e-6): ``seed(n, deterministic=True)``
pins the BLAS to one thread (through the optional ``threadpoolctl``), so that two runs give
the same bits whatever ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` say.

Keras 3's ``keras.random`` functions are here under their names and arguments: ``truncated_normal``, ``randint``,
``shuffle``, ``dropout``, ``categorical``, ``gamma``, ``beta``, ``binomial`` and :class:`SeedGenerator`. They return
nerve Tensors on the default device (``nerve.backend.get_device()``), drawn on the host by NumPy. Their ``seed``
is, as in Keras, an int (a fresh generator from that seed: the same values at every call), a
:class:`SeedGenerator` (a reproducible sequence: new values at every call) or None (nerve's global generator,
so ``nerve.random.seed(n)`` makes them reproducible). The float dtype defaults to ``nerve.backend.floatx()``.
``normal`` and ``uniform`` keep nerve's older contract and return NumPy arrays (of ``float32`` by default);
they take Keras's ``seed`` (and ``minval``/``maxval`` for ``uniform``) too.

Examples:
    >>> import nerve
    >>> nerve.random.seed(0)
    >>> a = nerve.random.generator().normal(size=2)
    >>> nerve.random.seed(0)
    >>> (a == nerve.random.generator().normal(size=2)).all()
    np.True_
"""

from __future__ import annotations

import numbers

import numpy

from nerve.engine import config, validate
from nerve.engine.backend import get_device, to_device
from nerve.engine.tensor import Tensor

__all__ = [
    "seed", "pinned_blas_threads", "generator", "get_state", "set_state", "normal", "uniform", "permutation",
    "SeedGenerator", "truncated_normal", "randint", "shuffle", "dropout", "categorical", "gamma", "beta", "binomial",
]

_generator = numpy.random.default_rng()


_blas_pin = {"limiter": None, "threads": None}  # threadpoolctl's limiter while the BLAS threads are pinned


def seed(n, deterministic=None):
    """Reset nerve's random generator to seed ``n`` (a non-negative int; None draws fresh entropy).

    Args:
        n: the seed.
        deterministic: ``True`` pins the BLAS (the matrix products) to one thread for the rest of the
            process, a positive int to that many threads: runs that pin the same count are
            bit-identical whatever the environment's thread variables. ``False`` gives the BLAS its
            thread count back; ``None`` (the default) leaves it as it is. Needs ``threadpoolctl``
            (``pip install threadpoolctl``); only BLAS libraries loaded at the call are pinned
            (NumPy's is loaded with NumPy).

    Examples:
        >>> seed(42)
        >>> seed(42, deterministic=True)  # doctest: +SKIP
    """
    global _generator
    if n is not None:
        n = validate.non_negative_int(n, "seed", "nerve.random.seed")
    if deterministic is not None:
        _pin_blas_threads(deterministic)
    _generator = numpy.random.default_rng(n)


def _pin_blas_threads(deterministic):
    """Pin (``True`` or a thread count) or release (``False``) the BLAS thread count with threadpoolctl."""
    where = "nerve.random.seed"
    if deterministic is False:
        if _blas_pin["limiter"] is not None:
            _blas_pin["limiter"].restore_original_limits()
        _blas_pin.update(limiter=None, threads=None)
        return
    threads = 1 if deterministic is True else validate.positive_int(deterministic, "deterministic", where)
    try:
        import threadpoolctl
    except ImportError:
        raise ImportError(f"{where}(deterministic=...) pins the BLAS thread count through threadpoolctl, which is "
                          "not installed: pip install threadpoolctl (or pip install 'nerve[deterministic]')") from None
    if _blas_pin["limiter"] is not None:
        _blas_pin["limiter"].restore_original_limits()
    _blas_pin.update(limiter=threadpoolctl.threadpool_limits(limits=threads, user_api="blas"), threads=threads)


def pinned_blas_threads():
    """The BLAS thread count pinned by ``seed(n, deterministic=...)``, or None when it is not pinned.

    Examples:
        >>> seed(0, deterministic=False); pinned_blas_threads() is None
        True
    """
    return _blas_pin["threads"]


def generator():
    """The current ``numpy.random.Generator``; draw from it, never from ``numpy.random`` directly.

    Examples:
        >>> seed(1); float(generator().uniform()) < 1
        True
    """
    return _generator


def get_state():
    """The generator's state as a JSON-serialisable dict (saved in checkpoints).

    Examples:
        >>> state = get_state(); x = generator().normal(); set_state(state)
        >>> x == generator().normal()
        True
    """
    return _generator.bit_generator.state


def set_state(state):
    """Restore a state returned by :func:`get_state`.

    Examples:
        >>> seed(3); saved = get_state(); first = generator().uniform()
        >>> set_state(saved); generator().uniform() == first
        True
    """
    _generator.bit_generator.state = state


def normal(shape, mean=0.0, stddev=1.0, dtype="float32", seed=None):
    """Normal samples of ``shape`` as a NumPy array of ``dtype``; ``seed`` as in Keras (see the module).

    Examples:
        >>> seed(0); normal((2, 3)).shape
        (2, 3)
        >>> bool((normal(3, seed=7) == normal(3, seed=7)).all())
        True
    """
    dtype = config.floatx() if dtype is None else dtype  # Keras's dtype=None
    return _rng_for(seed, "nerve.random.normal").normal(mean, stddev, size=shape).astype(dtype, copy=False)


def uniform(shape, low=0.0, high=1.0, dtype="float32", seed=None, *, minval=None, maxval=None):
    """Uniform samples in ``[low, high)`` of ``shape`` as a NumPy array; ``minval``/``maxval`` are Keras's names
    for ``low``/``high``, ``seed`` as in Keras (see the module).

    Examples:
        >>> seed(0); float(uniform((), 2, 3)) >= 2
        True
        >>> float(uniform((), minval=5.0, maxval=6.0, seed=1)) >= 5
        True
    """
    low = low if minval is None else minval
    high = high if maxval is None else maxval
    dtype = config.floatx() if dtype is None else dtype  # Keras's dtype=None
    return _rng_for(seed, "nerve.random.uniform").uniform(low, high, size=shape).astype(dtype, copy=False)


def permutation(n):
    """A random permutation of ``range(n)``.

    Examples:
        >>> seed(0); sorted(permutation(4).tolist())
        [0, 1, 2, 3]
    """
    return _generator.permutation(n)


# ---------------------------------------------------------------- Keras 3's keras.random
def _shape(shape, where):
    """``shape`` as a tuple of non-negative ints (an int is a 1-D shape)."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{where}: shape must be a tuple of ints, got {shape!r}") from None
    if not all(isinstance(d, numbers.Integral) and d >= 0 for d in dims):
        raise ValueError(f"{where}: shape must be a tuple of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


class SeedGenerator:
    """Keras's seed state: every draw that is given it as ``seed`` gets new values, and the sequence is the same
    for the same ``seed``.

    Args:
        seed: a non-negative int; None draws one from nerve's global generator (reproducible after
            ``nerve.random.seed(n)``).
        name: a label.

    ``state`` is ``[seed, draws so far]``; draw ``k`` uses ``numpy.random.default_rng([seed, k])``.

    Examples:
        >>> gen = SeedGenerator(seed=42)
        >>> a = truncated_normal((2,), seed=gen); b = truncated_normal((2,), seed=gen)
        >>> bool((a.numpy() == b.numpy()).all())   # new values at every draw
        False
        >>> again = SeedGenerator(seed=42)
        >>> bool((truncated_normal((2,), seed=again).numpy() == a.numpy()).all())   # the same sequence
        True
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"SeedGenerator: unrecognized keyword arguments {sorted(kwargs)}")
        self._initial_seed = seed
        if seed is None:
            seed = int(_generator.integers(1, 10**9))
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"SeedGenerator: seed must be a non-negative int or None, got {seed!r}")
        self.name = "seed_generator" if name is None else str(name)
        self._seed = int(seed)
        self._count = 0

    @property
    def state(self):
        """``[seed, number of draws so far]`` as an int64 array (settable, to resume a sequence)."""
        return numpy.array([self._seed, self._count], dtype=numpy.int64)

    @state.setter
    def state(self, value):
        seed_value, count = (int(v) for v in numpy.asarray(value).reshape(2))
        self._seed, self._count = seed_value, count

    def next(self, ordered=True):
        """The ``[seed, k]`` pair of the next draw (``k`` counts up); ``ordered`` is accepted for Keras.

        Examples:
            >>> SeedGenerator(3).next().tolist()
            [3, 0]
        """
        out = self.state
        self._count += 1
        return out

    def generator(self):
        """A fresh ``numpy.random.Generator`` for the next draw.

        Examples:
            >>> float(SeedGenerator(3).generator().uniform()) < 1
            True
        """
        return numpy.random.default_rng([int(v) for v in self.next()])

    def get_config(self):
        """``{"seed", "name"}`` as given (a None seed stays None).

        Examples:
            >>> SeedGenerator(7, name="noise").get_config()
            {'seed': 7, 'name': 'noise'}
        """
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        """A SeedGenerator from :meth:`get_config`.

        Examples:
            >>> SeedGenerator.from_config({"seed": 7, "name": "noise"}).name
            'noise'
        """
        return cls(**config)

    def __repr__(self):
        return f"SeedGenerator(seed={self._seed}, name={self.name!r}, draws={self._count})"


def _rng_for(seed, where):
    """The NumPy generator of one draw: from an int seed, a SeedGenerator, or nerve's global one (None)."""
    if seed is None:
        return _generator
    if isinstance(seed, SeedGenerator):
        return seed.generator()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"{where}: seed must be a non-negative int, a nerve.random.SeedGenerator or None, "
                        f"got {seed!r}")
    return numpy.random.default_rng([int(seed), 0])


def _float_dtype(dtype, where):
    dtype = numpy.dtype(config.floatx() if dtype is None else dtype)
    if dtype.kind != "f":
        raise ValueError(f"{where}: dtype must be a floating-point dtype, got {dtype.name}")
    return dtype


def _tensor(host, like=None):
    """A Tensor of the host array ``host`` on the device of ``like`` (a Tensor) or on the default device."""
    device = like.device if isinstance(like, Tensor) else get_device()
    return Tensor(to_device(numpy.ascontiguousarray(host), device))


def _host(x):
    """The values of a Tensor or array-like as a NumPy array."""
    data = x.data if isinstance(x, Tensor) else x
    return data if type(data) is numpy.ndarray else numpy.asarray(data.get() if hasattr(data, "get") else data)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal samples of ``shape`` with every value more than two ``stddev`` from ``mean`` drawn again (Keras).

    Returns a Tensor of ``dtype`` (default ``floatx()``) on the default device.

    Examples:
        >>> x = truncated_normal((1000,), mean=1.0, stddev=0.5, seed=0).numpy()
        >>> bool(x.min() >= 0.0 and x.max() <= 2.0), x.dtype
        (True, dtype('float32'))
    """
    where = "nerve.random.truncated_normal"
    shape, dtype = _shape(shape, where), _float_dtype(dtype, where)
    rng = _rng_for(seed, where)
    low, high = mean - 2.0 * stddev, mean + 2.0 * stddev
    values = rng.normal(mean, stddev, size=shape)
    bad = (values < low) | (values > high)
    while bad.any():  # about 4.6% redrawn per round: a handful of rounds
        values[bad] = rng.normal(mean, stddev, size=int(bad.sum()))
        bad = (values < low) | (values > high)
    return _tensor(values.astype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers of ``shape`` drawn uniformly from ``[minval, maxval)`` (Keras); a Tensor of the integer ``dtype``.

    Examples:
        >>> x = randint((2, 3), 0, 4, seed=1).numpy()
        >>> x.shape, x.dtype, bool(((x >= 0) & (x < 4)).all())
        ((2, 3), dtype('int32'), True)
    """
    where = "nerve.random.randint"
    dtype = numpy.dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"{where}: dtype must be an integer dtype, got {dtype.name}")
    if not maxval > minval:
        raise ValueError(f"{where}: maxval must be greater than minval, got minval={minval!r}, maxval={maxval!r}")
    rng = _rng_for(seed, where)
    return _tensor(rng.integers(minval, maxval, size=_shape(shape, where), dtype=dtype))


def shuffle(x, axis=0, seed=None):
    """``x`` (a Tensor or array) with its slices along ``axis`` in a random order; each slice stays whole (as in
    Keras's TensorFlow and PyTorch backends: shuffling a batch keeps every sample intact). Returns a Tensor on
    the device of ``x`` (the default device for an array); no gradient flows through it.

    Examples:
        >>> x = shuffle(Tensor(numpy.arange(6).reshape(3, 2)), seed=0).numpy()
        >>> sorted(x[:, 0].tolist()), bool((x[:, 1] == x[:, 0] + 1).all())
        ([0, 2, 4], True)
    """
    where = "nerve.random.shuffle"
    data = x.data if isinstance(x, Tensor) else numpy.asarray(x) if not hasattr(x, "shape") else x
    if data.ndim == 0:
        raise ValueError(f"{where}: x must have at least one dimension, got a scalar")
    if not isinstance(axis, numbers.Integral) or not -data.ndim <= axis < data.ndim:
        raise ValueError(f"{where}: axis {axis!r} is out of range for x of shape {tuple(data.shape)}")
    order = _rng_for(seed, where).permutation(data.shape[axis])
    if isinstance(x, Tensor):
        return Tensor(x.xp.take(data, x.xp.asarray(order), axis=int(axis)))
    return _tensor(numpy.take(_host(data), order, axis=int(axis)))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Keras's dropout: each value of ``inputs`` set to 0 with probability ``rate``, the rest divided by
    ``1 - rate`` (so the mean is kept). ``noise_shape`` (a shape that broadcasts to the inputs', None entries taken
    from it) drops whole slices. On a Tensor the gradient flows through the kept values.

    Examples:
        >>> out = dropout(Tensor(numpy.ones((2, 4), "float32")), 0.5, seed=0).numpy()
        >>> sorted(set(out.ravel().tolist()))
        [0.0, 2.0]
    """
    where = "nerve.random.dropout"
    rate = validate.probability(rate, "rate", where)
    x = inputs if isinstance(inputs, Tensor) else _tensor(numpy.asarray(_host(inputs)))
    if rate == 0.0:
        return x
    if rate == 1.0:
        return x * Tensor(x.xp.zeros((), dtype=x.dtype))
    shape = tuple(x.shape)
    if noise_shape is None:
        noise_shape = shape
    else:
        noise_shape = tuple(noise_shape)
        if len(noise_shape) != len(shape):
            raise ValueError(f"{where}: noise_shape {noise_shape} must have as many dimensions as the inputs, "
                             f"of shape {shape}")
        noise_shape = tuple(s if n is None else n for n, s in zip(noise_shape, shape))
        if any(n not in (1, s) for n, s in zip(noise_shape, shape)):
            raise ValueError(f"{where}: noise_shape {noise_shape} does not broadcast to the inputs' shape {shape}")
    keep = 1.0 - rate
    mask = _rng_for(seed, where).uniform(size=_shape(noise_shape, where)) < keep
    scale = mask.astype(x.dtype) * x.dtype.type(1.0 / keep)
    return x * Tensor(to_device(scale, x.device))


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class indices per row of the 2-D ``logits`` (unnormalised log-probabilities, Keras): a
    Tensor of shape ``(batch_size, num_samples)``. A class whose logit is ``-inf`` is never drawn.

    Examples:
        >>> logits = numpy.array([[0.0, 0.0, -numpy.inf], [-numpy.inf, -numpy.inf, 0.0]])
        >>> categorical(logits, 4, seed=0).numpy()[1].tolist()
        [2, 2, 2, 2]
    """
    where = "nerve.random.categorical"
    logits = _host(logits).astype(numpy.float64)
    if logits.ndim != 2:
        raise ValueError(f"{where}: logits must be a 2-D tensor of shape (batch_size, num_classes), got shape "
                         f"{logits.shape}")
    num_samples = validate.non_negative_int(num_samples, "num_samples", where)
    dtype = numpy.dtype(dtype)
    if dtype.kind not in "iu":
        raise ValueError(f"{where}: dtype must be an integer dtype, got {dtype.name}")
    batch, classes = logits.shape
    if classes == 0:
        raise ValueError(f"{where}: logits has 0 classes (shape {logits.shape})")
    top = logits.max(axis=1, keepdims=True)
    if not numpy.isfinite(top).all():
        bad = numpy.flatnonzero(~numpy.isfinite(top[:, 0])).tolist()
        raise ValueError(f"{where}: every row of logits needs a finite maximum; rows {bad} of logits of shape "
                         f"{logits.shape} do not")
    cdf = numpy.cumsum(numpy.exp(logits - top), axis=1)
    cdf /= cdf[:, -1:]
    draws = _rng_for(seed, where).random((batch, num_samples))
    # each row's draws against its own cumulative distribution: one searchsorted over rows laid end to end
    rows = numpy.arange(batch, dtype=numpy.float64)[:, None]
    index = numpy.searchsorted((cdf + rows).ravel(), (draws + rows).ravel(), side="right").reshape(batch, num_samples)
    index = numpy.minimum(index - (rows.astype(numpy.int64) * classes), classes - 1)
    return _tensor(index.astype(dtype))


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma samples of ``shape`` with concentration ``alpha`` and scale 1 (Keras): mean and variance ``alpha``.

    Examples:
        >>> x = gamma((20000,), alpha=3.0, seed=0).numpy()
        >>> round(float(x.mean()), 1)
        3.0
    """
    where = "nerve.random.gamma"
    shape, dtype = _shape(shape, where), _float_dtype(dtype, where)
    return _tensor(_rng_for(seed, where).gamma(_host(alpha), 1.0, size=shape).astype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Beta samples of ``shape`` with parameters ``alpha`` and ``beta`` (floats or arrays that broadcast to
    ``shape``, Keras): mean ``alpha / (alpha + beta)``.

    Examples:
        >>> x = beta((20000,), alpha=2.0, beta=6.0, seed=0).numpy()
        >>> round(float(x.mean()), 2)
        0.25
    """
    where = "nerve.random.beta"
    shape, dtype = _shape(shape, where), _float_dtype(dtype, where)
    return _tensor(_rng_for(seed, where).beta(_host(alpha), _host(beta), size=shape).astype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Binomial samples of ``shape``: successes in ``counts`` trials of probability ``probabilities`` (numbers or
    arrays that broadcast to ``shape``, Keras); a float Tensor of ``dtype`` (default ``floatx()``) like Keras's.

    Examples:
        >>> x = binomial((20000,), counts=10, probabilities=0.3, seed=0).numpy()
        >>> round(float(x.mean()), 1), float(x.max()) <= 10
        (3.0, True)
    """
    where = "nerve.random.binomial"
    shape, dtype = _shape(shape, where), _float_dtype(dtype, where)
    return _tensor(_rng_for(seed, where).binomial(_host(counts), _host(probabilities), size=shape).astype(dtype))
