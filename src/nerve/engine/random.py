"""One seed for everything random in nerve: weight initialisation, dropout, shuffling, augmentation.

``nerve.random.seed(n)`` resets a single NumPy ``Generator``; with the same seed
on the same machine *and the same number of BLAS threads*, weights and whole training
runs are bit-identical. A matrix product split over another number of threads sums in
another order (runs then differ in the last bits, ~1e-6): ``seed(n, deterministic=True)``
pins the BLAS to one thread (through the optional ``threadpoolctl``), so that two runs give
the same bits whatever ``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` say.

Example:
    >>> import nerve
    >>> nerve.random.seed(0)
    >>> a = nerve.random.generator().normal(size=2)
    >>> nerve.random.seed(0)
    >>> (a == nerve.random.generator().normal(size=2)).all()
    np.True_
"""

from __future__ import annotations

import numpy

from nerve.engine import validate

__all__ = [
    "seed", "pinned_blas_threads", "generator", "get_state", "set_state", "normal", "uniform", "permutation",
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

    Example:
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

    Example:
        >>> seed(0, deterministic=False); pinned_blas_threads() is None
        True
    """
    return _blas_pin["threads"]


def generator():
    """The current ``numpy.random.Generator``; draw from it, never from ``numpy.random`` directly.

    Example:
        >>> seed(1); float(generator().uniform()) < 1
        True
    """
    return _generator


def get_state():
    """The generator's state as a JSON-serialisable dict (saved in checkpoints).

    Example:
        >>> state = get_state(); x = generator().normal(); set_state(state)
        >>> x == generator().normal()
        True
    """
    return _generator.bit_generator.state


def set_state(state):
    """Restore a state returned by :func:`get_state`.

    Example:
        >>> seed(3); saved = get_state(); first = generator().uniform()
        >>> set_state(saved); generator().uniform() == first
        True
    """
    _generator.bit_generator.state = state


def normal(shape, mean=0.0, stddev=1.0, dtype="float32"):
    """Normal samples of ``shape`` as an array of ``dtype``.

    Example:
        >>> seed(0); normal((2, 3)).shape
        (2, 3)
    """
    return _generator.normal(mean, stddev, size=shape).astype(dtype, copy=False)


def uniform(shape, low=0.0, high=1.0, dtype="float32"):
    """Uniform samples in ``[low, high)`` of ``shape``.

    Example:
        >>> seed(0); float(uniform((), 2, 3)) >= 2
        True
    """
    return _generator.uniform(low, high, size=shape).astype(dtype, copy=False)


def permutation(n):
    """A random permutation of ``range(n)``.

    Example:
        >>> seed(0); sorted(permutation(4).tolist())
        [0, 1, 2, 3]
    """
    return _generator.permutation(n)
