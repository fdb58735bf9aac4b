"""The array-library seam.

Every op asks the tensor for its array module (``xp``) and calls ``xp.exp``,
``xp.matmul``... instead of ``numpy.exp``. Today the only module is NumPy; a
GPU library with the NumPy API (CuPy, for instance) can be dropped in by
registering it here, without touching op code.

Example:
    >>> import numpy as np
    >>> from nerve.backend import get_array_module
    >>> get_array_module(np.zeros(3)) is np
    True
"""

from __future__ import annotations

import numpy

_MODULES = []  # (array type, module) pairs of extra backends, e.g. (cupy.ndarray, cupy)


def register_array_module(array_type, module):
    """Register a NumPy-compatible array library.

    Tensors whose data is an instance of ``array_type`` will run their ops
    through ``module``.

    Example:
        >>> import numpy as np
        >>> register_array_module(np.ndarray, np)  # a no-op: NumPy is the default
    """
    if array_type is numpy.ndarray:
        return
    _MODULES.append((array_type, module))


def get_array_module(array):
    """Return the array module (``numpy`` or a registered one) that owns ``array``.

    Example:
        >>> import numpy as np
        >>> get_array_module(np.ones(2)).__name__
        'numpy'
    """
    if _MODULES:
        for array_type, module in _MODULES:
            if isinstance(array, array_type):
                return module
    return numpy


def to_numpy(array):
    """Return ``array`` as a NumPy array (copies from a device when needed).

    Example:
        >>> import numpy as np
        >>> to_numpy(np.arange(3)).tolist()
        [0, 1, 2]
    """
    if isinstance(array, numpy.ndarray):
        return array
    if hasattr(array, "get"):  # CuPy and friends
        return array.get()
    return numpy.asarray(array)
