"""One seed for everything random in nerve: weight initialisation, dropout, shuffling, augmentation.

``nerve.random.seed(n)`` resets a single NumPy ``Generator``; with the same seed
on the same machine, weights and whole training runs are bit-identical.

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

__all__ = [
    "seed", "generator", "get_state", "set_state", "normal", "uniform", "permutation",
]

_generator = numpy.random.default_rng()


def seed(n):
    """Reset nerve's random generator to seed ``n`` (an int).

    Example:
        >>> seed(42)
    """
    global _generator
    _generator = numpy.random.default_rng(n)


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
