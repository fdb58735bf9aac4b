"""Elementwise kernels: a ReLU that runs at NumPy's vectorised speed.

NumPy 2.4's ``maximum(x, 0)`` with a scalar operand does not take the SIMD
loop that two equally shaped arrays get: on float32 it costs 3-4x as much as
``maximum(x, zeros)`` (0.40 ms against 0.15 ms for the 1.2 million values of
LeNet-5's first convolution at batch 256). :func:`relu` takes the maximum with
a cached block of zeros instead, block by block; the results are the same bits
(``maximum(-0.0, 0.0)`` is ``+0.0`` and NaN propagates on both paths).

Examples:
    >>> import numpy as np
    >>> relu(np, np.array([-1.0, 0.5, -0.0])).tolist()
    [0.0, 0.5, 0.0]
"""

from __future__ import annotations

import numpy

__all__ = ["ZERO_BLOCK", "relu"]

#: values per block of :func:`relu` (the zeros it compares with stay in the cache)
ZERO_BLOCK = 1 << 15

_zeros = {}


def _zero_block(dtype):
    block = _zeros.get(dtype)
    if block is None:
        block = _zeros[dtype] = numpy.zeros(ZERO_BLOCK, dtype=dtype)
        block.flags.writeable = False
    return block


def relu(xp, x, out=None):
    """``maximum(x, 0)`` into ``out`` (a new array without it; ``out`` may be ``x``), same bits as NumPy's.

    On NumPy with C-contiguous float arrays the maximum is taken against a
    block of zeros, :data:`ZERO_BLOCK` values at a time (the fast loop);
    otherwise, and on other array modules, it is ``xp.maximum(x, 0)``.

    Examples:
        >>> import numpy as np
        >>> a = np.array([[-2.0, 3.0], [0.0, -0.5]], dtype=np.float32)
        >>> relu(np, a, out=a).tolist()
        [[0.0, 3.0], [0.0, 0.0]]
    """
    fast = (xp is numpy and x.dtype.kind == "f" and x.flags.c_contiguous
            and (out is None or (out.flags.c_contiguous and out.shape == x.shape and out.dtype == x.dtype)))
    if not fast:
        return xp.maximum(x, 0, out=out)
    if out is None:
        out = xp.empty_like(x)
    zeros = _zero_block(x.dtype)
    src, dst, size = x.reshape(-1), out.reshape(-1), x.size
    for start in range(0, size, ZERO_BLOCK):
        stop = min(start + ZERO_BLOCK, size)
        xp.maximum(src[start:stop], zeros[: stop - start], out=dst[start:stop])
    return out
