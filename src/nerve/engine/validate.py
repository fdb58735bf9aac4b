"""Argument checks at the API boundary: one small set of validators that every tier uses.

Each validator returns the value in its canonical form (an ``int``, a ``float``, a tuple, an array)
or raises an error that names the argument, what was expected, what was received and where::

    Dense: units must be a positive integer, got 2.5 (float)

A wrong *type* raises ``TypeError``; a value of the right type out of range raises ``ValueError``.
``where`` is the caller (a layer or function name, ``"fit"``, ``"SGD"``...).

Examples:
    >>> from nerve.engine import validate
    >>> validate.positive_int(3, "units", "Dense")
    3
    >>> validate.positive_int(2.5, "units", "Dense")
    Traceback (most recent call last):
    ...
    TypeError: Dense: units must be a positive integer, got 2.5 (float)
"""

from __future__ import annotations

import math
import numbers

import numpy

__all__ = [
    "positive_int", "non_negative_int", "probability", "finite_float", "shape", "int_tuple",
    "values_in_range", "sample_weights", "class_weights",
]


def _received(value):
    """``value`` as an error message quotes it: its repr, and its type where the repr hides it."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, (bool, numpy.bool_, str)) or value is None:
        return text
    return f"{text} ({type(value).__name__})"


def _is_int(value):
    return isinstance(value, (numbers.Integral, numpy.integer)) and not isinstance(value, (bool, numpy.bool_))


def _is_real(value):
    return isinstance(value, (numbers.Real, numpy.integer, numpy.floating)) and not isinstance(value, (bool, numpy.bool_))


def positive_int(value, name, where):
    """``value`` as an ``int`` >= 1; Python and NumPy integers are accepted, floats and booleans are not.

    Examples:
        >>> import numpy as np
        >>> positive_int(np.int64(4), "filters", "Conv2D")
        4
        >>> positive_int(0, "filters", "Conv2D")
        Traceback (most recent call last):
        ...
        ValueError: Conv2D: filters must be a positive integer, got 0 (int)
    """
    if not _is_int(value):
        raise TypeError(f"{where}: {name} must be a positive integer, got {_received(value)}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {_received(value)}")
    return int(value)


def non_negative_int(value, name, where):
    """``value`` as an ``int`` >= 0 (floats and booleans are refused).

    Examples:
        >>> non_negative_int(0, "initial_epoch", "fit")
        0
        >>> non_negative_int(-1, "epochs", "fit")
        Traceback (most recent call last):
        ...
        ValueError: fit: epochs must be a non-negative integer, got -1 (int)
    """
    if not _is_int(value):
        raise TypeError(f"{where}: {name} must be a non-negative integer, got {_received(value)}")
    if value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative integer, got {_received(value)}")
    return int(value)


def finite_float(value, name, where, low=None, strict=False, high=None, high_strict=False):
    """``value`` as a finite ``float``, optionally bounded: ``> low`` (``strict``) or ``>= low``, and ``< high`` or ``<= high``.

    Examples:
        >>> finite_float(1e-3, "epsilon", "Adam", low=0.0, strict=True)
        0.001
        >>> finite_float(float("nan"), "delta", "Huber")
        Traceback (most recent call last):
        ...
        ValueError: Huber: delta must be a finite number, got nan (float)
    """
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if strict else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_strict else '<='} {high:g}")
    expected = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")
    if not _is_real(value):
        raise TypeError(f"{where}: {name} must be {expected}, got {_received(value)}")
    number = float(value)
    if (not math.isfinite(number) or (low is not None and not (number > low if strict else number >= low))
            or (high is not None and not (number < high if high_strict else number <= high))):
        raise ValueError(f"{where}: {name} must be {expected}, got {_received(value)}")
    return number


def probability(value, name, where, include_one=True):
    """``value`` as a ``float`` in ``[0, 1]`` (or ``[0, 1)`` with ``include_one=False``).

    Examples:
        >>> probability(0.5, "rate", "Dropout", include_one=False)
        0.5
        >>> probability(2.0, "momentum", "SGD", include_one=False)
        Traceback (most recent call last):
        ...
        ValueError: SGD: momentum must be in [0, 1), got 2.0 (float)
    """
    expected = f"in [0, 1{']' if include_one else ')'}"
    if not _is_real(value):
        raise TypeError(f"{where}: {name} must be {expected}, got {_received(value)}")
    number = float(value)
    if not (0.0 <= number <= 1.0) or (number == 1.0 and not include_one):
        raise ValueError(f"{where}: {name} must be {expected}, got {_received(value)}")
    return number


def shape(value, name, where, allow_none=True):
    """``value`` as a tuple of positive ints (``None`` entries allowed for unknown sizes); an int is a 1-tuple.

    Examples:
        >>> shape((28, 28, 1), "shape", "Input"), shape(3, "shape", "Input"), shape((None, 4), "shape", "Input")
        ((28, 28, 1), (3,), (None, 4))
        >>> shape((-3,), "shape", "Input")
        Traceback (most recent call last):
        ...
        ValueError: Input: shape must be a tuple of positive integers (or None for an unknown size), got (-3,); entry 0 is -3
    """
    expected = "a tuple of positive integers" + (" (or None for an unknown size)" if allow_none else "")
    if _is_int(value):
        value = (value,)
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: {name} must be {expected}, got {_received(value)}")
    for i, entry in enumerate(value):
        if entry is None and allow_none:
            continue
        if not _is_int(entry):
            raise TypeError(f"{where}: {name} must be {expected}, got {tuple(value)!r}; entry {i} is {_received(entry)}")
        if entry < 1:
            raise ValueError(f"{where}: {name} must be {expected}, got {tuple(value)!r}; entry {i} is {entry!r}")
    return tuple(None if v is None else int(v) for v in value)


def int_tuple(value, n, name, where):
    """``value`` (a positive int, or a sequence of ``n`` of them) as a tuple of ``n`` ints: kernel sizes, strides.

    Examples:
        >>> int_tuple(3, 2, "kernel_size", "Conv2D"), int_tuple([1, 2], 2, "strides", "Conv2D")
        ((3, 3), (1, 2))
        >>> int_tuple((3, 3, 3), 2, "kernel_size", "Conv2D")
        Traceback (most recent call last):
        ...
        ValueError: Conv2D: kernel_size must be a positive integer or 2 positive integers, got (3, 3, 3)
    """
    expected = f"a positive integer or {n} positive integers"
    if _is_int(value):
        value = (value,) * n
    if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
        raise TypeError(f"{where}: {name} must be {expected}, got {_received(value)}")
    value = tuple(value)
    if len(value) != n:
        raise ValueError(f"{where}: {name} must be {expected}, got {value!r}")
    for entry in value:
        if not _is_int(entry):
            raise TypeError(f"{where}: {name} must be {expected}, got {value!r}")
        if entry < 1:
            raise ValueError(f"{where}: {name} must be {expected}, got {value!r}")
    return tuple(int(v) for v in value)


def values_in_range(values, name, where, low=None, high=None, hint=""):
    """Check that every entry of the host array ``values`` lies in ``[low, high]`` (a cheap min/max).

    Arrays of another array module (a GPU) are not read back: the check is skipped there, so it
    never costs a device synchronisation. ``hint`` is appended to the message.

    Examples:
        >>> import numpy as np
        >>> values_in_range(np.array([0.0, 1.0]), "y_true", "BinaryCrossentropy", 0, 1)
        >>> values_in_range(np.array([0, 3]), "y_true", "BinaryCrossentropy", 0, 1)
        Traceback (most recent call last):
        ...
        ValueError: BinaryCrossentropy: y_true must hold values in [0, 1], got values from 0 to 3
    """
    if not isinstance(values, numpy.ndarray) or values.size == 0 or values.dtype.kind not in "iufb":
        return
    lowest, highest = values.min(), values.max()
    if (low is not None and lowest < low) or (high is not None and highest > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{where}: {name} must hold values in [{lo}, {hi}], got values from {lowest:g} to {highest:g}{hint}")


def sample_weights(weights, n, where, name="sample_weight"):
    """``weights`` as a float32 vector of ``n`` finite, non-negative weights (one per sample).

    Examples:
        >>> sample_weights([1, 0.5], 2, "fit").tolist()
        [1.0, 0.5]
        >>> sample_weights([1.0, -2.0], 2, "fit")
        Traceback (most recent call last):
        ...
        ValueError: fit: sample_weight must be finite and non-negative (one weight >= 0 per sample), got -2.0 at index 1
    """
    try:
        array = numpy.asarray(weights)
    except ValueError:  # ragged nested lists
        raise TypeError(f"{where}: {name} must be a vector of numbers, one per sample, got {_received(weights)}") from None
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{where}: {name} must be a vector of numbers, one per sample, got an array of dtype {array.dtype}")
    array = array.astype("float32", copy=False)
    if array.ndim > 1 and array.size == array.shape[0]:
        array = array.reshape(-1)  # (n, 1)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"{where}: {name} must have one weight per sample, shape ({n},), got shape {array.shape}")
    bad = ~numpy.isfinite(array) | (array < 0)
    if bad.any():
        index = int(numpy.argmax(bad))
        raise ValueError(f"{where}: {name} must be finite and non-negative (one weight >= 0 per sample), got "
                         f"{float(array[index])!r} at index {index}")
    return array


def class_weights(weights, classes, where, name="class_weight"):
    """``weights`` ({class id: weight}) checked against the ``classes`` that exist; returns ``{int: float}``.

    ``classes`` is the number of classes (ids ``0 .. classes - 1``); each key must be one of them and
    each weight a finite number >= 0.

    Examples:
        >>> class_weights({0: 1.0, 1: 3.0}, 2, "fit")
        {0: 1.0, 1: 3.0}
        >>> class_weights({5: 2.0}, 2, "fit")
        Traceback (most recent call last):
        ...
        ValueError: fit: class_weight keys must be class ids of the data, in [0, 1] (2 classes), got the key 5
    """
    if not isinstance(weights, dict):
        raise TypeError(f"{where}: {name} must be a dict {{class id: weight}}, got {_received(weights)}")
    checked = {}
    for key, value in weights.items():
        if not _is_int(key) and not (isinstance(key, (float, numpy.floating)) and float(key).is_integer()):
            raise TypeError(f"{where}: {name} keys must be integer class ids, got the key {_received(key)}")
        if not 0 <= key < classes:
            raise ValueError(f"{where}: {name} keys must be class ids of the data, in [0, {classes - 1}] "
                             f"({classes} classes), got the key {key!r}")
        checked[int(key)] = finite_float(value, f"{name}[{key!r}]", where, low=0.0)
    return checked
