"""Winograd F(2x2, 3x3) convolution kernels: 3x3 stride-1 convolutions as 16 batched matrix products.

The output is cut into 2x2 tiles; each reads a 4x4 tile of the (padded) input,
and neighbouring input tiles overlap by two pixels. With the transforms

* ``B^T`` (4x4) of the input tiles: ``V = B^T d B``,
* ``G`` (4x3) of the kernel: ``U = G g G^T``,
* ``A^T`` (2x4) back to the outputs: ``y = A^T (U . V) A``,

the 36 multiplications of a 2x2 output tile become the 16 of the elementwise
product ``U . V``, which for many channels is 16 matrix products
``(tiles, C) @ (C, F)``: 2.25 times fewer multiply-adds than im2col's
``(pixels, 9 C) @ (9 C, F)``. Each transform is itself one small product with
a Kronecker matrix (``kron(B^T, B^T)`` is 16x16), run over every tile and
channel at once, so the extra work is a few percent of the products, and the
transformed input ``V`` is four times the input (im2col's matrix is nine).

The transforms hold only 0, +-1 and +-1/2: in float32 the results differ
from the direct convolution by a few units in the last place of the sums
(the tests compare them, values and gradients, and run float64 gradient checks).

The same machinery gives the backward pass: the input gradient is the
adjoint (``dV = dM @ U^T`` and the transposed input transform, added back
over the overlapping tiles), the kernel gradient ``V^T @ dM`` transformed back
by ``G^T``; both again 16 batched products.

Layouts: images are channels-last ``(N, H, W, C)``; ``V`` is
``(16, tiles, C)``, tiles ordered ``(N, tile row, tile column)``.

Examples:
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
    >>> V = winograd_input(np, plan, x)
    >>> y = winograd_output(np, plan, winograd_products(np, V, winograd_kernel(np, np.ones((3, 3, 1, 1)))))
    >>> y[0, :, :, 0].tolist()  # sums of each 3x3 window
    [[45.0, 54.0], [81.0, 90.0]]
"""

from __future__ import annotations

import numpy

from nerve.engine.backend import parallel_map

__all__ = [
    "WINOGRAD_CHUNK_VALUES",
    "WINOGRAD_MIN_CHANNELS",
    "WinogradPlan",
    "use_winograd",
    "winograd_backward",
    "winograd_forward",
    "winograd_input",
    "winograd_input_grad",
    "winograd_kernel",
    "winograd_kernel_grad",
    "winograd_output",
    "winograd_output_grad",
    "winograd_products",
]

#: Winograd is used for 3x3 stride-1 convolutions whose input and output have at least this many channels
#: (fewer: the 16 products have a tiny inner dimension and im2col or the Toeplitz product is faster). Measured
#: here, forward and backward of one layer with fused ReLU, CPU time against the product nerve takes otherwise:
#: 16 -> 32 channels on 16x16 images 0.60x, 16 -> 16 on 32x32 0.78x, 32 -> 64 on 8x8 0.63x,
#: 12 -> 24 0.68x, but 8 -> 16 1.07x.
WINOGRAD_MIN_CHANNELS = 16
#: the batch is transformed, multiplied and transformed back in chunks of images whose transformed arrays hold
#: about this many values (2 MiB of float32): the passes between the products then run in the cache, and a
#: step's temporaries are those of one chunk
WINOGRAD_CHUNK_VALUES = 2**19

_BT = numpy.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=numpy.float64)
_G = numpy.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=numpy.float64)
_AT = numpy.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=numpy.float64)
#: ``vec(B^T d B) = BB @ vec(d)`` for a 4x4 tile ``d`` flattened row by row
_BB = numpy.kron(_BT, _BT)
#: ``vec(G g G^T) = GG @ vec(g)`` for the 3x3 kernel ``g``
_GG = numpy.kron(_G, _G)
#: ``vec(A^T m A) = AA @ vec(m)`` for a 4x4 tile ``m``
_AA = numpy.kron(_AT, _AT)


def use_winograd(geo):
    """True when the convolution ``geo`` (a :class:`~nerve.engine.kernels.conv.Geometry`) runs through Winograd.

    3x3 kernels, stride 1, no dilation, at least :data:`WINOGRAD_MIN_CHANNELS`
    input and output channels.

    Examples:
        >>> from nerve.engine.kernels.conv import Geometry
        >>> use_winograd(Geometry((8, 16, 16, 32), (3, 3, 32, 64), (1, 1), (1, 1), ((1, 1), (1, 1))))
        True
        >>> use_winograd(Geometry((8, 16, 16, 3), (3, 3, 3, 64), (1, 1), (1, 1), ((1, 1), (1, 1))))
        False
    """
    return ((geo.KH, geo.KW) == (3, 3) and geo.strides == (1, 1) and geo.dilation == (1, 1)
            and min(geo.C, geo.F) >= WINOGRAD_MIN_CHANNELS)


class WinogradPlan:
    """Tile counts and padding of one F(2x2, 3x3) convolution of an ``(N, H, W, C)`` input.

    ``pads`` are the convolution's ``((top, bottom), (left, right))`` zero
    padding; the output ``(OH, OW)`` is covered by ``th x tw`` tiles of 2x2
    (an odd size gets one more row or column of tiles, cut off at the end),
    which read a padded input of ``(2 th + 2, 2 tw + 2)`` pixels.

    Examples:
        >>> plan = WinogradPlan((8, 16, 16, 32), 64, ((1, 1), (1, 1)))
        >>> (plan.OH, plan.OW), (plan.th, plan.tw), plan.tiles
        ((16, 16), (8, 8), 512)
    """

    def __init__(self, x_shape, filters, pads):
        self.N, self.H, self.W, self.C = x_shape
        self.F = filters
        self.pads = pads
        (pt, pb), (pl, pr) = pads
        self.OH, self.OW = self.H + pt + pb - 2, self.W + pl + pr - 2
        self.th, self.tw = -(-self.OH // 2), -(-self.OW // 2)
        self.tiles = self.N * self.th * self.tw

    def part(self, n):
        """The plan of ``n`` images of the same size (a chunk of the batch)."""
        return WinogradPlan((n, self.H, self.W, self.C), self.F, self.pads)

    def chunks(self):
        """``(start, stop)`` image ranges of about :data:`WINOGRAD_CHUNK_VALUES` transformed values each.

        Examples:
            >>> WinogradPlan((10, 16, 16, 64), 128, ((1, 1), (1, 1))).chunks()  # 131,072 values per image
            [(0, 4), (4, 8), (8, 10)]
        """
        per_image = 16 * self.th * self.tw * max(self.C, self.F)
        n = max(1, WINOGRAD_CHUNK_VALUES // per_image)
        return [(start, min(start + n, self.N)) for start in range(0, self.N, n)]


def winograd_kernel(xp, kernel):
    """The transformed kernel ``U (16, C, F)`` of a ``(3, 3, C, F)`` kernel.

    Examples:
        >>> import numpy as np
        >>> winograd_kernel(np, np.ones((3, 3, 2, 5))).shape
        (16, 2, 5)
    """
    _, _, C, F = kernel.shape
    GG = xp.asarray(_GG, dtype=kernel.dtype)
    return (GG @ kernel.reshape(9, C * F)).reshape(16, C, F)


def _tile_view(xp, padded, th, tw):
    """``(4, 4, N, th, tw, C)`` view of the overlapping 4x4 tiles (stride 2) of ``padded (N, Hp, Wp, C)``."""
    s_n, s_h, s_w, s_c = padded.strides
    N, C = padded.shape[0], padded.shape[3]
    return xp.lib.stride_tricks.as_strided(padded, shape=(4, 4, N, th, tw, C),
                                           strides=(s_h, s_w, s_n, 2 * s_h, 2 * s_w, s_c))


def winograd_input(xp, plan, x, out=None):
    """The transformed input tiles ``V (16, tiles, C)`` of ``x (N, H, W, C)`` (zero padded as the plan says).

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> winograd_input(np, plan, np.ones((1, 4, 4, 1)))[:, 0, 0].tolist()  # B^T 1 B: one 4 in the middle
        [0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    p = plan
    (pt, _), (pl, _) = p.pads
    Hp, Wp = 2 * p.th + 2, 2 * p.tw + 2
    if (pt, pl, Hp, Wp) != (0, 0, p.H, p.W):
        padded = xp.zeros((p.N, Hp, Wp, p.C), dtype=x.dtype)
        rows, cols = min(p.H, Hp - pt), min(p.W, Wp - pl)  # an odd output reads one more zero row/column
        padded[:, pt: pt + rows, pl: pl + cols] = x[:, :rows, :cols]
    else:
        padded = xp.ascontiguousarray(x)
    d = xp.empty((16, p.tiles * p.C), dtype=x.dtype)
    d.reshape(4, 4, p.N, p.th, p.tw, p.C)[...] = _tile_view(xp, padded, p.th, p.tw)
    BB = xp.asarray(_BB, dtype=x.dtype)
    if out is None:
        return (BB @ d).reshape(16, p.tiles, p.C)
    xp.matmul(BB, d, out=out)  # out: a (16, tiles * C) view
    return out


def winograd_products(xp, V, U):
    """``M = V @ U``: the 16 products ``(tiles, C) @ (C, F)``, shape ``(16, tiles, F)``.

    Examples:
        >>> import numpy as np
        >>> winograd_products(np, np.ones((16, 3, 2)), np.ones((16, 2, 4))).shape
        (16, 3, 4)
    """
    return xp.matmul(V, U)


def winograd_output(xp, plan, M, out=None, bias=None, relu_mask=None):
    """The convolution's output ``(N, OH, OW, F)`` from the products ``M (16, tiles, F)``: ``A^T m A`` per tile.

    ``bias (F,)`` is added before the copy out of the tiles; with ``relu_mask``
    (a bool array of the output's shape) the copy is a ReLU, and the mask
    records where the output is positive. Same bits as adding and clipping after.

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> M = np.zeros((16, 1, 1)); M[5] = 1  # m = 1 at (1, 1) of the tile: A^T m A = outer(A^T[:, 1], A^T[:, 1])
        >>> winograd_output(np, plan, M)[0, :, :, 0].tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """
    p = plan
    AA = xp.asarray(_AA, dtype=M.dtype)
    y = (AA @ M.reshape(16, -1)).reshape(2, 2, p.N, p.th, p.tw, p.F)
    if bias is not None:
        y += bias
    if out is None:
        out = xp.empty((p.N, p.OH, p.OW, p.F), dtype=M.dtype)
    if (p.OH, p.OW) == (2 * p.th, 2 * p.tw):
        source = y.transpose(2, 3, 0, 4, 1, 5)
        target = out.reshape(p.N, p.th, 2, p.tw, 2, p.F)
        mask = None if relu_mask is None else relu_mask.reshape(target.shape)
    else:
        source = y.transpose(2, 3, 0, 4, 1, 5).reshape(p.N, 2 * p.th, 2 * p.tw, p.F)[:, : p.OH, : p.OW]
        target = out
        mask = None if relu_mask is None else relu_mask.reshape(out.shape)
    if mask is None:
        target[...] = source
    else:
        xp.greater(source, 0, out=mask)
        xp.maximum(source, 0, out=target)
    return out


def winograd_output_grad(xp, plan, grad, mask=None, with_sums=False):
    """``dM (16, tiles, F)``: the gradient of :func:`winograd_output`'s ``M`` from the output's ``grad``.

    With ``mask`` (a fused ReLU's, bool, the output's size), ``grad * mask``
    is taken in the same pass as the copy into tiles; ``with_sums`` returns
    ``(dM, sums)`` with the column sums ``(F,)`` of the (masked) gradient (the
    bias's gradient), taken from the tiled copy.

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> winograd_output_grad(np, plan, np.ones((1, 2, 2, 1))).ravel().tolist()  # AA^T @ ones
        [1.0, 2.0, 0.0, -1.0, 2.0, 4.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, 0.0, 1.0]
    """
    p = plan
    g = xp.empty((2, 2, p.N, p.th, p.tw, p.F), dtype=grad.dtype)
    grad = grad.reshape(p.N, p.OH, p.OW, p.F)
    if mask is not None:
        mask = mask.reshape(p.N, p.OH, p.OW, p.F)
    if (p.OH, p.OW) == (2 * p.th, 2 * p.tw):
        tiled = grad.reshape(p.N, p.th, 2, p.tw, 2, p.F).transpose(2, 4, 0, 1, 3, 5)
        if mask is None:
            g[...] = tiled
        else:
            xp.multiply(tiled, mask.reshape(p.N, p.th, 2, p.tw, 2, p.F).transpose(2, 4, 0, 1, 3, 5), out=g)
    else:
        full = xp.zeros((p.N, 2 * p.th, 2 * p.tw, p.F), dtype=grad.dtype)
        if mask is None:
            full[:, : p.OH, : p.OW] = grad
        else:
            xp.multiply(grad, mask, out=full[:, : p.OH, : p.OW])
        g[...] = full.reshape(p.N, p.th, 2, p.tw, 2, p.F).transpose(2, 4, 0, 1, 3, 5)
    AA = xp.asarray(_AA, dtype=grad.dtype)
    dM = (AA.T @ g.reshape(4, -1)).reshape(16, p.tiles, p.F)
    if not with_sums:
        return dM
    rows = g.reshape(-1, p.F)
    return dM, xp.ones(rows.shape[0], dtype=rows.dtype) @ rows  # one BLAS product: 3-4x a NumPy row sum


def winograd_input_grad(xp, plan, dM, U_t, out=None):
    """Gradient of the input ``(N, H, W, C)``: ``dV = dM @ U^T``, through ``B^T``'s adjoint, added over the tiles.

    ``U_t`` is the transformed kernel with its last two axes swapped, contiguous
    (``(16, F, C)``: the products run twice as fast as with a transposed view).

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> U = winograd_kernel(np, np.ones((3, 3, 1, 1)))
        >>> dM = winograd_output_grad(np, plan, np.ones((1, 2, 2, 1)))
        >>> winograd_input_grad(np, plan, dM, U.transpose(0, 2, 1).copy())[0, :, :, 0].tolist()  # windows per pixel
        [[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
    """
    p = plan
    dV = xp.matmul(dM, U_t)  # (16, tiles, C)
    BB = xp.asarray(_BB, dtype=dM.dtype)
    dd = (BB.T @ dV.reshape(16, -1)).reshape(2, 2, 2, 2, p.N, p.th, p.tw, p.C)  # (a, r, b, s, ...): row 2a + r
    Hp, Wp = 2 * p.th + 2, 2 * p.tw + 2
    padded = xp.zeros((p.N, Hp, Wp, p.C), dtype=dM.dtype)
    for a in range(2):
        for b in range(2):  # the quadrants (a, b) of all tiles cover disjoint 2x2 blocks
            view = padded[:, 2 * a: 2 * a + 2 * p.th, 2 * b: 2 * b + 2 * p.tw].reshape(p.N, p.th, 2, p.tw, 2, p.C)
            view += dd[a, :, b].transpose(2, 3, 0, 4, 1, 5)
    (pt, _), (pl, _) = p.pads
    inside = padded[:, pt: pt + p.H, pl: pl + p.W]
    if out is None:
        return xp.ascontiguousarray(inside)
    out[...] = inside
    return out


def winograd_kernel_grad(xp, V, dM):
    """Gradient of the ``(3, 3, C, F)`` kernel: ``dU = V^T @ dM`` (16 products over the tiles), through ``G``'s adjoint.

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
        >>> dM = winograd_output_grad(np, plan, np.ones((1, 2, 2, 1)))
        >>> winograd_kernel_grad(np, winograd_input(np, plan, x), dM)[:, :, 0, 0].tolist()  # sum of each shift
        [[10.0, 14.0, 18.0], [26.0, 30.0, 34.0], [42.0, 46.0, 50.0]]
    """
    return _kernel_back(xp, xp.matmul(V.transpose(0, 2, 1), dM))


def _kernel_back(xp, dU):
    """``(3, 3, C, F)`` kernel gradient from the gradient ``dU (16, C, F)`` of the transformed kernel."""
    _, C, F = dU.shape
    GG = xp.asarray(_GG, dtype=dU.dtype)
    return (GG.T @ dU.reshape(16, C * F)).reshape(3, 3, C, F)


def winograd_forward(xp, plan, x, U, bias=None, relu=False):
    """``(out, V, mask)``: the convolution ``(N, OH, OW, F)`` of ``x`` with the transformed kernel ``U``, ``V`` for
    the backward pass, and with ``relu`` the fused ReLU's mask (else None); ``bias`` is added first.

    Chunk by chunk of images (:meth:`WinogradPlan.chunks`): input transform,
    the 16 products, output transform; only ``V (16, tiles, C)`` is kept whole.

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((3, 4, 4, 1), 1, ((1, 1), (1, 1)))
        >>> out, V, _ = winograd_forward(np, plan, np.ones((3, 4, 4, 1)), winograd_kernel(np, np.ones((3, 3, 1, 1))))
        >>> out[2, :, :, 0].tolist()
        [[4.0, 6.0, 6.0, 4.0], [6.0, 9.0, 9.0, 6.0], [6.0, 9.0, 9.0, 6.0], [4.0, 6.0, 6.0, 4.0]]
    """
    p = plan
    per = p.th * p.tw
    V = xp.empty((16, p.tiles, p.C), dtype=x.dtype)
    V2 = V.reshape(16, p.tiles * p.C)
    out = xp.empty((p.N, p.OH, p.OW, p.F), dtype=x.dtype)
    mask = xp.empty(out.shape, dtype=bool) if relu else None
    chunks = p.chunks()

    def chunk(i):  # writes only its own images of V, out and mask
        start, stop = chunks[i]
        part = p.part(stop - start)
        Vc = winograd_input(xp, part, x[start:stop], out=V2[:, start * per * p.C: stop * per * p.C])
        winograd_output(xp, part, xp.matmul(Vc.reshape(16, -1, p.C), U), out=out[start:stop], bias=bias,
                        relu_mask=None if mask is None else mask[start:stop])

    parallel_map(xp, chunk, len(chunks))  # the chunks on the CPU's cores (NumPy and BLAS release the GIL)
    return out, V, mask


def winograd_backward(xp, plan, grad, V, U, input_grad=True, kernel_grad=True, bias_grad=False, mask=None):
    """Gradients ``(input, kernel, bias)`` of :func:`winograd_forward` for the output gradient ``grad``, by chunks.

    Each is None when not asked for. ``mask``: a fused ReLU's (see
    :func:`winograd_output_grad`).

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((3, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> x, U = np.arange(48.0).reshape(3, 4, 4, 1), winograd_kernel(np, np.ones((3, 3, 1, 1)))
        >>> _, V, _ = winograd_forward(np, plan, x, U)
        >>> gx, gk, gb = winograd_backward(np, plan, np.ones((3, 2, 2, 1)), V, U, bias_grad=True)
        >>> gx[0, :, :, 0].tolist()[0], gk[:, :, 0, 0].tolist()[0], gb.tolist()
        ([1.0, 2.0, 2.0, 1.0], [222.0, 234.0, 246.0], [12.0])
    """
    p = plan
    per = p.th * p.tw
    gx = xp.empty((p.N, p.H, p.W, p.C), dtype=grad.dtype) if input_grad else None
    U_t = xp.ascontiguousarray(U.transpose(0, 2, 1)) if input_grad else None
    chunks = p.chunks()

    def chunk(i):  # writes only its own images of gx; returns its parts of the kernel's and bias's sums
        start, stop = chunks[i]
        part = p.part(stop - start)
        dM = winograd_output_grad(xp, part, grad[start:stop], None if mask is None else mask[start:stop], bias_grad)
        sums = None
        if bias_grad:
            dM, sums = dM
        piece = xp.matmul(V[:, start * per: stop * per].transpose(0, 2, 1), dM) if kernel_grad else None
        if input_grad:
            winograd_input_grad(xp, part, dM, U_t, out=gx[start:stop])
        return piece, sums

    (dU, gb), *rest = parallel_map(xp, chunk, len(chunks))
    for piece, sums in rest:  # added in chunk order: the same bits for any number of threads
        if kernel_grad:
            dU += piece
        if bias_grad:
            gb = gb + sums
    return gx, (_kernel_back(xp, dU) if kernel_grad else None), gb
