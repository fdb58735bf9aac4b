"""Convolution kernels: im2col/col2im, the block-Toeplitz product, blocked matrix products, fused bias and ReLU.

Images are channels-last: the input ``x (N, H, W, C)``, the kernel
``(KH, KW, C, F)``, the output ``(N, OH, OW, F)``. A convolution is a matrix
product in one of two layouts (the op picks with :func:`toeplitz_plan`):

* **im2col** (:func:`im2col`, adjoint :func:`col2im`): every kernel
  position's shifted copy of the input goes into one channel-major matrix
  ``cols (KH * KW * C, N * OH * OW)`` (long contiguous rows), and the
  convolution is ``cols.T @ kernel`` with the kernel as a
  ``(KH * KW * C, F)`` matrix.
* **block Toeplitz** (:class:`ToeplitzPlan`), for inputs with few channels:
  one product of blocks of input rows (:func:`toeplitz_rows`) with a banded
  matrix built from the kernel (:func:`toeplitz_matrix`); more
  multiplications, but a shape the BLAS runs at full speed and far less
  copying.

The copies and the elementwise passes split the batch over nerve's threads
(:func:`nerve.engine.backend.split_batch`); each thread writes its own slice,
so the results do not depend on the number of threads.

Examples:
    >>> import numpy as np
    >>> geo = Geometry((1, 3, 3, 1), (2, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))
    >>> x, kernel = np.arange(9.0).reshape(1, 3, 3, 1), np.ones((2, 2, 1, 1))
    >>> (im2col(np, x, geo).T @ kernel.reshape(-1, 1)).reshape(2, 2).tolist()
    [[8.0, 12.0], [20.0, 24.0]]
"""

from __future__ import annotations

import functools

import numpy

from nerve.engine.backend import split_batch
from nerve.engine.kernels.elementwise import relu as relu_kernel

__all__ = [
    "BLOCK", "TOEPLITZ_MAX_INNER", "TOEPLITZ_MAX_WASTE", "TOEPLITZ_MIN_COLUMNS",
    "Geometry", "im2col", "col2im",
    "ToeplitzPlan", "block_width", "toeplitz_plan", "toeplitz_matrix", "toeplitz_rows", "toeplitz_unrows",
    "toeplitz_kernel_grad", "toeplitz_bias_grad",
    "matmul_reduce", "matmul_tall",
    "add_bias_relu", "relu_grad",
]

#: the block-Toeplitz product is used while im2col's inner dimension ``KH * KW * C`` is at most this
TOEPLITZ_MAX_INNER = 256
#: widest block: at most this many times the multiplications of im2col
TOEPLITZ_MAX_WASTE = 2.2
#: narrowest block: at least two output columns and ``Wb * F`` (the columns of ``T``) at least this
TOEPLITZ_MIN_COLUMNS = 40
#: long matrix products are split into batches of about this many pixels (BLAS handles
#: ``(p x n) @ (n x q)`` with huge ``n`` and tiny ``p, q`` poorly; a batch of blocks is much faster)
BLOCK = 4096


# ---------------------------------------------------------------- im2col
class Geometry:
    """Shapes and padding of one 2-D convolution.

    ``x_shape`` is ``(N, H, W, C)`` (the convolution's input side),
    ``kernel_shape`` ``(KH, KW, C, F)``, ``strides`` and ``dilation`` pairs,
    ``pads`` two ``(before, after)`` pairs. Holds ``N, H, W, C, KH, KW, F``,
    the padded size ``Hp, Wp``, the output size ``OH, OW`` and ``pixels``
    (``N * OH * OW``, the rows of the product).

    Examples:
        >>> geo = Geometry((8, 28, 28, 1), (5, 5, 1, 6), (1, 1), (1, 1), ((2, 2), (2, 2)))
        >>> (geo.Hp, geo.Wp), (geo.OH, geo.OW), geo.pixels
        ((32, 32), (28, 28), 6272)
    """

    def __init__(self, x_shape, kernel_shape, strides, dilation, pads):
        self.N, self.H, self.W, self.C = x_shape
        self.KH, self.KW, _, self.F = kernel_shape
        self.strides, self.dilation, self.pads = strides, dilation, pads
        (pt, pb), (pl, pr) = pads
        self.Hp, self.Wp = self.H + pt + pb, self.W + pl + pr
        (sh, sw), (dh, dw) = strides, dilation
        self.OH = (self.Hp - (self.KH - 1) * dh - 1) // sh + 1
        self.OW = (self.Wp - (self.KW - 1) * dw - 1) // sw + 1
        self.pixels = self.N * self.OH * self.OW


def _positions(geo):
    """``(i, j, index)`` per kernel position: ``buffer[index]`` are the input pixels it multiplies.

    ``buffer`` is the zero-padded input in the ``(C, N, Hp, Wp)`` layout.
    """
    (sh, sw), (dh, dw) = geo.strides, geo.dilation
    for i in range(geo.KH):
        rows = slice(i * dh, i * dh + (geo.OH - 1) * sh + 1, sh)
        for j in range(geo.KW):
            cols = slice(j * dw, j * dw + (geo.OW - 1) * sw + 1, sw)
            yield i, j, (slice(None), slice(None), rows, cols)


def im2col(xp, x, geo):
    """``(KH * KW * C, pixels)`` matrix of shifted copies of ``x (N, H, W, C)``, rows ordered like the kernel.

    Channel major: row ``(i, j, c)`` holds, for every output pixel, the input
    value that kernel entry ``(i, j, c)`` multiplies (zero in the padding).
    Each kernel position's copy is one strided slice of a zero-padded
    ``(C, N, Hp, Wp)`` buffer; the batch is split over nerve's threads.

    Examples:
        >>> import numpy as np
        >>> geo = Geometry((1, 2, 3, 1), (2, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))
        >>> im2col(np, np.arange(6.0).reshape(1, 2, 3, 1), geo).tolist()
        [[0.0, 1.0], [1.0, 2.0], [3.0, 4.0], [4.0, 5.0]]
    """
    g = geo
    (pt, _), (pl, _) = g.pads
    cols = xp.empty((g.KH, g.KW, g.C, g.N, g.OH, g.OW), dtype=x.dtype)

    def work(start, stop):
        buffer = xp.zeros((g.C, stop - start, g.Hp, g.Wp), dtype=x.dtype)
        buffer[:, :, pt : pt + g.H, pl : pl + g.W] = x[start:stop].transpose(3, 0, 1, 2)
        for i, j, where in _positions(g):
            cols[i, j, :, start:stop] = buffer[where]

    split_batch(xp, work, g.N, cols.size)
    return cols.reshape(g.KH * g.KW * g.C, g.pixels)


def col2im(xp, cols, geo):
    """Adjoint of :func:`im2col`: add each kernel position's rows of ``cols`` back into an ``(N, H, W, C)`` array.

    Examples:
        >>> import numpy as np
        >>> geo = Geometry((1, 3, 3, 1), (2, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0)))
        >>> col2im(np, np.ones((4, 4)), geo)[0, :, :, 0].tolist()  # how many windows cover each pixel
        [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    g = geo
    (pt, _), (pl, _) = g.pads
    cols = cols.reshape(g.KH, g.KW, g.C, g.N, g.OH, g.OW)
    out = xp.empty((g.N, g.H, g.W, g.C), dtype=cols.dtype)

    def work(start, stop):
        buffer = xp.zeros((g.C, stop - start, g.Hp, g.Wp), dtype=cols.dtype)
        for i, j, where in _positions(g):
            buffer[where] += cols[i, j, :, start:stop]
        out[start:stop] = buffer[:, :, pt : pt + g.H, pl : pl + g.W].transpose(1, 2, 3, 0)

    split_batch(xp, work, g.N, cols.size)
    return out


# ---------------------------------------------------------- block Toeplitz
class ToeplitzPlan:
    """Convolution as one well-shaped matrix product over blocks of output columns (for few input channels).

    Take ``Wb`` neighbouring output columns of one output row: they read
    ``span = (Wb - 1) * sw + (KW - 1) * dw + 1`` columns of each of the ``KH``
    input rows under the kernel. Those ``KH * span * C`` values, multiplied by
    a banded (Toeplitz) matrix ``T`` of shape ``(KH * span * C, Wb * F)`` that
    holds the kernel at every one of the ``Wb`` positions, give the block's
    ``Wb * F`` outputs, already channels-last. ``T`` is the same for every
    block, so the whole convolution is one product
    ``(N * OH * nb, KH * span * C) @ T`` with ``nb = OW / Wb`` blocks per row,
    and its rows (one strided copy of the input) come out in the order of the
    output. It does ``span / KW`` times the multiplications of im2col, but
    with a far better shape for the BLAS when ``C`` is small (im2col's
    ``KH * KW * C`` inner dimension is then tiny) and with less copying.

    The plan holds the geometry ``geo``, ``Wb`` (``block``), ``nb``, ``span``,
    ``inner`` (``KH * span * C``, the rows of ``T`` without the bias row),
    ``flat`` (where each kernel entry goes in ``T``) and the slices of the
    input rows and columns each block reads. :func:`toeplitz_plan` picks the
    block width and caches the plans.

    Examples:
        >>> geo = Geometry((8, 28, 28, 1), (5, 5, 1, 6), (1, 1), (1, 1), ((2, 2), (2, 2)))
        >>> plan = ToeplitzPlan(geo, 14)
        >>> plan.Wb, plan.nb, plan.span, plan.inner
        (14, 2, 18, 90)
    """

    def __init__(self, geo, block):
        self.geo = g = geo
        (sh, sw), (dh, dw) = g.strides, g.dilation
        self.Wb, self.nb = block, g.OW // block
        self.span = (block - 1) * sw + (g.KW - 1) * dw + 1
        self.inner = g.KH * self.span * g.C  # columns of the rows, rows of T (plus one for the bias)
        # flat positions in T[i] (span * C, Wb * F) of kernel entry (j, c, f) at block column q
        j, c, f, q = numpy.meshgrid(numpy.arange(g.KW), numpy.arange(g.C), numpy.arange(g.F), numpy.arange(block),
                                    indexing="ij")
        row = (q * sw + j * dw) * g.C + c
        self.flat = (row * (block * g.F) + q * g.F + f).reshape(-1)  # ordered (j, c, f, q)
        self.row_slices = [slice(i * dh, i * dh + (g.OH - 1) * sh + 1, sh) for i in range(g.KH)]
        self.col_slices = [slice(b * block * sw * g.C, (b * block * sw + self.span) * g.C) for b in range(self.nb)]


def block_width(geo):
    """The block width ``Wb`` of the Toeplitz product for ``geo``, or None when im2col suits it better.

    im2col when its inner dimension ``KH * KW * C`` exceeds
    :data:`TOEPLITZ_MAX_INNER`. Otherwise ``Wb`` is the widest divisor of
    ``OW`` with at least two columns and ``Wb * F >=``
    :data:`TOEPLITZ_MIN_COLUMNS` whose span stays within
    :data:`TOEPLITZ_MAX_WASTE` times the kernel's (the widest within it when
    none is that wide). Every wasted multiplication (a block does
    ``span / KW`` times im2col's) costs more than the narrower product's
    shape: with NumPy's OpenBLAS on AVX2 kernels, one thread, the copy, the
    forward product and the kernel gradient's product of LeNet-5's first
    layer (batch 256, ``F = 6``) took 3.9 ms with ``Wb = 7`` or 4, 6.1 ms with
    14 and 8.5 ms with 28; a 3x3 layer on a grey image with 32 filters (batch
    128) 3.6 ms with ``Wb = 2``, 4.3, 4.8 and 7.2 ms with 4, 7 and 14; the
    CIFAR image layer (3x3, 3 -> 32) 10.2 ms with 2 against 14.0 ms with 4.
    LeNet-5's second layer (``6 -> 16``, with its input gradient) costs the
    same with ``Wb = 2`` or 5 alone (7.7 / 7.8 ms; 10.3 ms with 10), but
    its whole training step was 5% faster with 5 (the larger matrix of
    ``Wb = 2`` crowds the cache): hence 40 columns, not 32.

    Examples:
        >>> block_width(Geometry((8, 28, 28, 1), (5, 5, 1, 6), (1, 1), (1, 1), ((2, 2), (2, 2))))
        7
        >>> block_width(Geometry((8, 16, 16, 64), (3, 3, 64, 64), (1, 1), (1, 1), ((0, 0), (0, 0)))) is None
        True
    """
    if geo.KH * geo.KW * geo.C > TOEPLITZ_MAX_INNER:
        return None
    (_, sw), (_, dw) = geo.strides, geo.dilation
    one = (geo.KW - 1) * dw + 1
    widths = [w for w in range(1, geo.OW + 1) if geo.OW % w == 0]
    fits = [w for w in widths if (w - 1) * sw + one <= TOEPLITZ_MAX_WASTE * geo.KW]
    wide_enough = [w for w in fits if w >= 2 and w * geo.F >= TOEPLITZ_MIN_COLUMNS]
    # one column per block is im2col with the pixels on the rows
    return min(wide_enough, default=max(fits, default=1))


def toeplitz_plan(geo):
    """The :class:`ToeplitzPlan` for ``geo``, or None when im2col suits it better (see :func:`block_width`).

    Plans are cached: a training step meets the same shapes every time.

    Examples:
        >>> geo = Geometry((8, 14, 14, 6), (5, 5, 6, 16), (1, 1), (1, 1), ((0, 0), (0, 0)))
        >>> plan = toeplitz_plan(geo)
        >>> plan.Wb, plan is toeplitz_plan(geo)
        (5, True)
    """
    block = block_width(geo)
    if block is None:
        return None
    key = ((geo.N, geo.H, geo.W, geo.C), (geo.KH, geo.KW, geo.C, geo.F), geo.strides, geo.dilation, geo.pads)
    return _cached_plan(key, block)


@functools.lru_cache(maxsize=64)
def _cached_plan(key, block):
    x_shape, kernel_shape, strides, dilation, pads = key
    return ToeplitzPlan(Geometry(x_shape, kernel_shape, strides, dilation, pads), block)


def toeplitz_matrix(xp, plan, kernel, bias=None):
    """``T`` of shape ``(KH * span * C, Wb * F)`` holding ``kernel`` at each block column; with ``bias``, one more row.

    The bias row, times the column of ones that :func:`toeplitz_rows` adds,
    adds the bias inside the product.

    Examples:
        >>> import numpy as np
        >>> plan = ToeplitzPlan(Geometry((1, 1, 3, 1), (1, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))), 2)
        >>> toeplitz_matrix(np, plan, np.array([1.0, 2.0]).reshape(1, 2, 1, 1), np.array([5.0])).tolist()
        [[1.0, 0.0], [2.0, 1.0], [0.0, 2.0], [5.0, 5.0]]
    """
    g, inner = plan.geo, plan.inner
    T = xp.zeros((inner + (bias is not None), plan.Wb * g.F), dtype=kernel.dtype)
    kernel_rows = T[:inner].reshape(g.KH, -1)
    kernel_rows[:, xp.asarray(plan.flat)] = xp.broadcast_to(kernel[..., None], kernel.shape + (plan.Wb,)).reshape(g.KH, -1)
    if bias is not None:
        T[inner] = xp.tile(bias, plan.Wb)
    return T


def toeplitz_rows(xp, plan, x, ones=False):
    """``(N * OH * nb, KH * span * C)``: for every block of output columns, the input values it reads.

    One copy out of a strided view of the (padded) input: a single call
    costs a third of a loop of ``KH * nb`` slice copies on a machine whose
    caches the rest of the step keeps busy. With ``ones``, one more column of
    ones: times the bias row of :func:`toeplitz_matrix` it adds the bias
    inside the product, and the same column turns the kernel gradient's
    product into the bias gradient too (no extra passes).

    Examples:
        >>> import numpy as np
        >>> plan = ToeplitzPlan(Geometry((1, 1, 3, 1), (1, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))), 2)
        >>> toeplitz_rows(np, plan, np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1), ones=True).tolist()
        [[1.0, 2.0, 3.0, 1.0]]
    """
    g = plan.geo
    (pt, pb), (pl, pr) = g.pads
    (sh, sw), (dh, _) = g.strides, g.dilation
    if pt or pb or pl or pr:
        padded = xp.zeros((g.N, g.Hp, g.Wp, g.C), dtype=x.dtype)
        padded[:, pt : pt + g.H, pl : pl + g.W] = x
    else:
        padded = xp.ascontiguousarray(x)
    s_c = padded.itemsize  # from the shape: NumPy may give axes of length 1 any stride
    s_w, s_h, s_n = g.C * s_c, g.Wp * g.C * s_c, g.Hp * g.Wp * g.C * s_c
    windows = xp.lib.stride_tricks.as_strided(
        padded, shape=(g.N, g.OH, plan.nb, g.KH, plan.span * g.C),
        strides=(s_n, sh * s_h, plan.Wb * sw * s_w, dh * s_h, s_c))  # a span of pixels is span * C values in a row
    inner = plan.inner
    matrix = xp.empty((g.N * g.OH * plan.nb, inner + ones), dtype=x.dtype)
    stacked = matrix[:, :inner].reshape(windows.shape)  # a view: the rows of matrix are inner (+ 1) long
    if ones:
        matrix[:, inner] = 1

    def work(start, stop):
        stacked[start:stop] = windows[start:stop]

    split_batch(xp, work, g.N, stacked.size)
    return matrix


def toeplitz_unrows(xp, plan, stacked):
    """Adjoint of :func:`toeplitz_rows` (without the ones): add the copies back into an ``(N, H, W, C)`` array.

    Examples:
        >>> import numpy as np
        >>> plan = ToeplitzPlan(Geometry((1, 1, 3, 1), (1, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))), 1)
        >>> toeplitz_unrows(np, plan, np.ones((2, 2))).ravel().tolist()  # two blocks of one column each
        [1.0, 2.0, 1.0]
    """
    g = plan.geo
    (pt, _), (pl, _) = g.pads
    stacked = stacked.reshape(g.N, g.OH, plan.nb, g.KH, plan.span * g.C)
    padding = (g.Hp, g.Wp) != (g.H, g.W)
    out = xp.empty((g.N, g.H, g.W, g.C), dtype=stacked.dtype) if padding else xp.zeros((g.N, g.H, g.W * g.C), dtype=stacked.dtype)

    def work(start, stop):
        # without padding the sums go straight into the result
        padded = xp.zeros((stop - start, g.Hp, g.Wp * g.C), dtype=stacked.dtype) if padding else out[start:stop]
        for i, rows in enumerate(plan.row_slices):
            for b, cols in enumerate(plan.col_slices):
                padded[:, rows, cols] += stacked[start:stop, :, b, i]
        if padding:
            out[start:stop] = padded.reshape(stop - start, g.Hp, g.Wp, g.C)[:, pt : pt + g.H, pl : pl + g.W]

    split_batch(xp, work, g.N, stacked.size)
    return out.reshape(g.N, g.H, g.W, g.C)


def toeplitz_kernel_grad(xp, plan, grad_t):
    """Gradient of the kernel ``(KH, KW, C, F)`` from the gradient of ``T``: sum each kernel entry's copies.

    Examples:
        >>> import numpy as np
        >>> plan = ToeplitzPlan(Geometry((1, 1, 3, 1), (1, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))), 2)
        >>> toeplitz_kernel_grad(np, plan, np.arange(6.0).reshape(3, 2)).ravel().tolist()  # 0 + 3, 2 + 5
        [3.0, 7.0]
    """
    g = plan.geo
    picked = grad_t[: plan.inner].reshape(g.KH, -1)[:, xp.asarray(plan.flat)]
    return picked.reshape(g.KH, g.KW, g.C, g.F, plan.Wb).sum(axis=-1)


def toeplitz_bias_grad(plan, grad_t):
    """Gradient of the bias ``(F,)`` from the gradient of ``T``'s bias row (see :func:`toeplitz_matrix`).

    Examples:
        >>> import numpy as np
        >>> plan = ToeplitzPlan(Geometry((1, 1, 3, 1), (1, 2, 1, 1), (1, 1), (1, 1), ((0, 0), (0, 0))), 2)
        >>> toeplitz_bias_grad(plan, np.arange(8.0).reshape(4, 2)).tolist()
        [13.0]
    """
    return grad_t[plan.inner].reshape(plan.Wb, plan.geo.F).sum(axis=0)


# ------------------------------------------------------ blocked products
def _blocks(n):
    """Number of blocks and block size to split ``n`` pixels into (the remainder handled apart)."""
    count = max(n // BLOCK, 1)
    return count, n // count


def matmul_reduce(xp, a, b):
    """``a @ b`` for ``a (p, n)``, ``b (n, q)`` with a long inner dimension ``n``: summed block products.

    Splits ``n`` into blocks of about :data:`BLOCK` (the BLAS runs a batch of
    short products much faster than one with a huge inner dimension and
    small ``p, q``).

    Examples:
        >>> import numpy as np
        >>> a, b = np.ones((2, 10000)), np.ones((10000, 3))
        >>> matmul_reduce(np, a, b).tolist()
        [[10000.0, 10000.0, 10000.0], [10000.0, 10000.0, 10000.0]]
    """
    p, n = a.shape
    count, size = _blocks(n)
    if count == 1:
        return a @ b
    main = count * size
    out = xp.matmul(a[:, :main].reshape(p, count, size).transpose(1, 0, 2), b[:main].reshape(count, size, -1)).sum(axis=0)
    if main < n:
        out += a[:, main:] @ b[main:]
    return out


def matmul_tall(xp, a_t, b):
    """``a_t.T @ b`` for ``a_t (p, n)``, ``b (p, q)``: an ``(n, q)`` result computed block by block.

    Examples:
        >>> import numpy as np
        >>> a_t, b = np.ones((2, 10000)), np.ones((2, 3))
        >>> out = matmul_tall(np, a_t, b)
        >>> out.shape, bool((out == 2).all())
        ((10000, 3), True)
    """
    p, n = a_t.shape
    count, size = _blocks(n)
    if count == 1:
        return a_t.T @ b
    out = xp.empty((n, b.shape[1]), dtype=xp.result_type(a_t, b))
    main = count * size
    xp.matmul(a_t[:, :main].reshape(p, count, size).transpose(1, 2, 0), b, out=out[:main].reshape(count, size, -1))
    if main < n:
        out[main:] = a_t[:, main:].T @ b
    return out


# ------------------------------------------------------ fused bias, ReLU
def add_bias_relu(xp, out, bias=None, relu=False):
    """Add ``bias`` and apply a ReLU in place on ``out (N, OH, OW * F)``; returns the ReLU's mask (or None).

    The bias ``(F,)`` is tiled to a whole row of ``OW * F`` values first (an
    innermost axis of only ``F`` is slow to broadcast). The mask is a bool
    array of ``out``'s shape, True where the output was positive (see
    :func:`relu_grad`). Does nothing without bias and ReLU.

    Examples:
        >>> import numpy as np
        >>> out = np.array([[[-2.0, 1.0, 0.5, -1.0]]])  # N = OH = 1, OW = 2, F = 2
        >>> mask = add_bias_relu(np, out, np.array([1.0, -1.0]), relu=True)
        >>> out.tolist(), mask.tolist()
        ([[[0.0, 0.0, 1.5, 0.0]]], [[[False, False, True, False]]])
    """
    if bias is None and not relu:
        return None
    row_bias = None if bias is None else xp.tile(bias, out.shape[-1] // bias.shape[0])
    mask = xp.empty(out.shape, dtype=bool) if relu else None

    def finish(start, stop):
        part = out[start:stop]
        if row_bias is not None:
            part += row_bias
        if relu:
            xp.greater(part, 0, out=mask[start:stop])
            relu_kernel(xp, part, out=part)

    split_batch(xp, finish, out.shape[0], out.size)
    return mask


def relu_grad(xp, grad, mask):
    """Gradient through the ReLU of :func:`add_bias_relu`: ``grad * mask``, in a new array of ``grad``'s shape.

    Examples:
        >>> import numpy as np
        >>> relu_grad(np, np.array([[[1.0, 2.0, 3.0]]]), np.array([[[True, False, True]]])).tolist()
        [[[1.0, 0.0, 3.0]]]
    """
    masked = xp.empty(grad.shape, dtype=grad.dtype)
    grad3 = grad.reshape(mask.shape)
    masked3 = masked.reshape(mask.shape)

    def work(start, stop):
        xp.multiply(grad3[start:stop], mask[start:stop], out=masked3[start:stop])

    split_batch(xp, work, mask.shape[0], grad.size)
    return masked
