"""float16 matrix products on the CPU: float32 arithmetic, float16 result.

NumPy has no float16 BLAS: ``a @ b`` on float16 arrays runs a plain loop, about 100x slower than
float32's sgemm, and accumulates in float16. GPUs multiply float16 with float32 accumulation (tensor
cores); on NumPy the same numbers come from casting to float32, one sgemm, and rounding the result to
float16 once. On other array modules (CuPy) the product is the module's own.

Examples:
    >>> import numpy as np
    >>> a = np.full((2, 3), 0.1, np.float16); b = np.ones((3, 2), np.float16)
    >>> out = matmul(np, a, b)
    >>> out.dtype, round(float(out[0, 0]), 3)
    (dtype('float16'), 0.3)
"""

from __future__ import annotations

import numpy

__all__ = ["matmul", "is_emulated"]


def is_emulated(xp, dtype):
    """True when ``xp`` computes ``dtype`` products without a BLAS of their own (float16 on NumPy).

    Examples:
        >>> import numpy as np
        >>> is_emulated(np, np.dtype(np.float16)), is_emulated(np, np.dtype(np.float32))
        (True, False)
    """
    return xp is numpy and dtype.itemsize == 2 and dtype.kind == "f"


def matmul(xp, a, b):
    """``xp.matmul(a, b)``; float16 operands on NumPy are multiplied in float32 and rounded once.

    Examples:
        >>> import numpy as np
        >>> matmul(np, np.eye(2, dtype=np.float16), np.ones((2, 2), np.float16)).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    if xp is numpy and (a.dtype.itemsize == 2 or b.dtype.itemsize == 2) and a.dtype.kind == "f":
        out_dtype = numpy.result_type(a.dtype, b.dtype)
        return numpy.matmul(a.astype(numpy.float32), b.astype(numpy.float32)).astype(out_dtype)
    return xp.matmul(a, b)
