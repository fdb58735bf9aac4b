"""Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution kernels: 3x3 stride-1 convolutions as batched matrix products.

F(2x2, 3x3): the output is cut into 2x2 tiles; each reads a 4x4 tile of the
(padded) input, and neighbouring input tiles overlap by two pixels. With the
transforms

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

F(4x4, 3x3) (Lavin and Gray, 2016) cuts the output into 4x4 tiles read from
6x6 input tiles: 36 products per 16 outputs, 4 times fewer multiply-adds than
the direct convolution (1.78 times fewer than F(2x2, 3x3)), and ``V`` is 2.25
times the input. Its transforms hold larger numbers (up to 5/2 in ``B^T``, 8
in ``A^T``, 16/15 in ``G``), so float32 results are a little less accurate:
measured here, within 3e-6 of the largest value of the exact result, values
and gradients, against 6e-7 for F(2x2, 3x3) and 5e-7 for im2col (the tests
compare both with a float64 reference, and run float64 gradient checks).
:class:`WinogradPlan` takes the 4x4 tiles when they need at most 90% of the
products (:func:`choose_tile`: 16x16 and 8x8 outputs, for example, not 6x6).

The F(2x2, 3x3) transforms hold only 0, +-1 and +-1/2: in float32 the results
differ from the direct convolution by a few units in the last place of the sums.

The same machinery gives the backward pass: the input gradient is the
adjoint (``dV = dM @ U^T`` and the transposed input transform, added back
over the overlapping tiles), the kernel gradient ``V^T @ dM`` transformed back
by ``G^T``; both again 16 (or 36) batched products.

Layouts: images are channels-last ``(N, H, W, C)``; ``V`` is
``(a * a, tiles, C)`` (``a = 4`` or ``6``, the input tile's side), tiles ordered
``(N, tile row, tile column)``.

Examples:
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
    >>> V = winograd_input(np, plan, x)
    >>> y = winograd_output(np, plan, winograd_products(np, V, winograd_kernel(np, np.ones((3, 3, 1, 1)), 2)))
    >>> y[0, :, :, 0].tolist()  # sums of each 3x3 window
    [[45.0, 54.0], [81.0, 90.0]]
"""

from __future__ import annotations

import numpy

from nerve.engine.backend import parallel_map

__all__ = [
    "WINOGRAD_CHUNK_VALUES",
    "WINOGRAD_MIN_CHANNELS",
    "WINOGRAD_TILE",
    "WinogradPlan",
    "choose_tile",
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
#: the output tile side of every Winograd convolution: None picks per shape (:func:`choose_tile`), 2 or 4 forces
#: F(2x2, 3x3) or F(4x4, 3x3)
WINOGRAD_TILE = None


class _Transforms:
    """The Kronecker forms of one F(m x m, 3x3) algorithm's transforms (float64, cast where used).

    ``BB = kron(B^T, B^T)``: ``vec(B^T d B) = BB @ vec(d)`` for an ``a x a`` tile
    ``d`` flattened row by row (``a = m + 2``); ``GG = kron(G, G)`` for the
    3x3 kernel; ``AA = kron(A^T, A^T)`` back to the ``m x m`` outputs.
    """

    def __init__(self, BT, G, AT):
        self.m, self.a = AT.shape
        self.BB, self.GG, self.AA = numpy.kron(BT, BT), numpy.kron(G, G), numpy.kron(AT, AT)


_TRANSFORMS = {
    2: _Transforms(BT=numpy.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=numpy.float64),
                   G=numpy.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=numpy.float64),
                   AT=numpy.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=numpy.float64)),
    # F(4x4, 3x3) with the interpolation points 0, 1, -1, 2, -1/2 and infinity: in float32 about 2.5 times
    # more accurate than Lavin and Gray's 0, +-1, +-2 (measured here: 1.1e-6 against 2.8e-6 of the largest
    # output, 64 channels), whose transforms hold larger numbers (5 in B^T)
    4: _Transforms(BT=numpy.array([[1, 3 / 2, -2, -3 / 2, 1, 0], [0, -1, -5 / 2, -1 / 2, 1, 0],
                                   [0, 1, 1 / 2, -5 / 2, 1, 0], [0, -1 / 2, -1, 1 / 2, 1, 0],
                                   [0, 2, -1, -2, 1, 0], [0, 1, 3 / 2, -2, -3 / 2, 1]], dtype=numpy.float64),
                   G=numpy.array([[1, 0, 0], [-1 / 3, -1 / 3, -1 / 3], [1 / 3, -1 / 3, 1 / 3],
                                  [1 / 15, 2 / 15, 4 / 15], [-16 / 15, 8 / 15, -4 / 15], [0, 0, 1]],
                                 dtype=numpy.float64),
                   AT=numpy.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -1 / 2, 0], [0, 1, 1, 4, 1 / 4, 0],
                                   [0, 1, -1, 8, -1 / 8, 1]], dtype=numpy.float64)),
}


def choose_tile(out_h, out_w):
    """The output tile side (2 or 4) whose algorithm needs fewer tile products for an ``out_h x out_w`` output.

    F(4x4, 3x3) takes ``36 ceil(h / 4) ceil(w / 4)`` products per channel pair, F(2x2, 3x3)
    ``16 ceil(h / 2) ceil(w / 2)``; the 4x4 tiles are taken when they need at most 90% as many (their
    transforms cost a little more per value).

    Examples:
        >>> choose_tile(16, 16), choose_tile(8, 8), choose_tile(6, 6), choose_tile(2, 2)
        (4, 4, 2, 2)
    """
    two = 16 * -(-out_h // 2) * -(-out_w // 2)
    four = 36 * -(-out_h // 4) * -(-out_w // 4)
    return 4 if four <= 0.9 * two else 2


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
    """Tile counts and padding of one F(m x m, 3x3) convolution of an ``(N, H, W, C)`` input.

    ``pads`` are the convolution's ``((top, bottom), (left, right))`` zero
    padding; ``tile`` the output tile's side ``m`` (2 or 4; None: the one of
    :func:`choose_tile`). The output ``(OH, OW)`` is covered by ``th x tw``
    tiles of ``m x m`` (a size that ``m`` does not divide gets one more row or
    column of tiles, cut off at the end), which read a padded input of
    ``(m th + 2, m tw + 2)`` pixels in overlapping ``a x a`` tiles (``a = m + 2``).

    Examples:
        >>> plan = WinogradPlan((8, 16, 16, 32), 64, ((1, 1), (1, 1)), tile=2)
        >>> (plan.OH, plan.OW), (plan.th, plan.tw), plan.tiles
        ((16, 16), (8, 8), 512)
        >>> WinogradPlan((8, 16, 16, 32), 64, ((1, 1), (1, 1))).tile  # the default: 4x4 tiles for 16x16
        4
    """

    def __init__(self, x_shape, filters, pads, tile=None):
        self.N, self.H, self.W, self.C = x_shape
        self.F = filters
        self.pads = pads
        (pt, pb), (pl, pr) = pads
        self.OH, self.OW = self.H + pt + pb - 2, self.W + pl + pr - 2
        if tile is None:
            tile = WINOGRAD_TILE if WINOGRAD_TILE is not None else choose_tile(self.OH, self.OW)
        if tile not in _TRANSFORMS:
            raise ValueError(f"WinogradPlan: expected an output tile of 2 or 4, got {tile!r}")
        self.tile = m = tile
        self.a = m + 2
        self.th, self.tw = -(-self.OH // m), -(-self.OW // m)
        self.tiles = self.N * self.th * self.tw

    @property
    def transforms(self):
        """The :class:`_Transforms` of this plan's tile size."""
        return _TRANSFORMS[self.tile]

    def part(self, n):
        """The plan of ``n`` images of the same size (a chunk of the batch)."""
        return WinogradPlan((n, self.H, self.W, self.C), self.F, self.pads, self.tile)

    def chunks(self):
        """``(start, stop)`` image ranges of about :data:`WINOGRAD_CHUNK_VALUES` transformed values each.

        Examples:
            >>> WinogradPlan((10, 16, 16, 64), 128, ((1, 1), (1, 1)), tile=2).chunks()  # 131,072 values per image
            [(0, 4), (4, 8), (8, 10)]
        """
        per_image = self.a * self.a * self.th * self.tw * max(self.C, self.F)
        n = max(1, WINOGRAD_CHUNK_VALUES // per_image)
        return [(start, min(start + n, self.N)) for start in range(0, self.N, n)]


def winograd_kernel(xp, kernel, tile):
    """The transformed kernel ``U (a * a, C, F)`` of a ``(3, 3, C, F)`` kernel, for output tiles of ``tile`` (a plan's).

    Examples:
        >>> import numpy as np
        >>> winograd_kernel(np, np.ones((3, 3, 2, 5)), tile=2).shape
        (16, 2, 5)
        >>> winograd_kernel(np, np.ones((3, 3, 2, 5)), tile=4).shape
        (36, 2, 5)
    """
    _, _, C, F = kernel.shape
    t = _TRANSFORMS[tile]
    GG = xp.asarray(t.GG, dtype=kernel.dtype)
    return (GG @ kernel.reshape(9, C * F)).reshape(t.a * t.a, C, F)


def _tile_view(xp, padded, plan):
    """``(a, a, N, th, tw, C)`` view of the overlapping ``a x a`` tiles (stride ``m``) of ``padded (N, Hp, Wp, C)``."""
    s_n, s_h, s_w, s_c = padded.strides
    N, C, a, m = padded.shape[0], padded.shape[3], plan.a, plan.tile
    return xp.lib.stride_tricks.as_strided(padded, shape=(a, a, N, plan.th, plan.tw, C),
                                           strides=(s_h, s_w, s_n, m * s_h, m * s_w, s_c))


def winograd_input(xp, plan, x, out=None):
    """The transformed input tiles ``V (a * a, tiles, C)`` of ``x (N, H, W, C)`` (zero padded as the plan says).

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> winograd_input(np, plan, np.ones((1, 4, 4, 1)))[:, 0, 0].tolist()  # B^T 1 B: one 4 in the middle
        [0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    p = plan
    m, a = p.tile, p.a
    (pt, _), (pl, _) = p.pads
    Hp, Wp = m * p.th + 2, m * p.tw + 2
    if (pt, pl, Hp, Wp) != (0, 0, p.H, p.W):
        padded = xp.zeros((p.N, Hp, Wp, p.C), dtype=x.dtype)
        rows, cols = min(p.H, Hp - pt), min(p.W, Wp - pl)  # an uneven output reads more zero rows/columns
        padded[:, pt: pt + rows, pl: pl + cols] = x[:, :rows, :cols]
    else:
        padded = xp.ascontiguousarray(x)
    d = xp.empty((a * a, p.tiles * p.C), dtype=x.dtype)
    d.reshape(a, a, p.N, p.th, p.tw, p.C)[...] = _tile_view(xp, padded, p)
    BB = xp.asarray(p.transforms.BB, dtype=x.dtype)
    if out is None:
        return (BB @ d).reshape(a * a, p.tiles, p.C)
    xp.matmul(BB, d, out=out)  # out: an (a * a, tiles * C) view
    return out


def winograd_products(xp, V, U):
    """``M = V @ U``: the ``a * a`` products ``(tiles, C) @ (C, F)``, shape ``(a * a, tiles, F)``.

    Examples:
        >>> import numpy as np
        >>> winograd_products(np, np.ones((16, 3, 2)), np.ones((16, 2, 4))).shape
        (16, 3, 4)
    """
    return xp.matmul(V, U)


def _tiled(out, plan, channels):
    """``out (N, m th, m tw, channels)`` as ``(N, th, m, tw, m, channels)``: the output tiles' pixels."""
    p, m = plan, plan.tile
    return out.reshape(p.N, p.th, m, p.tw, m, channels)


def winograd_output(xp, plan, M, out=None, bias=None, relu_mask=None):
    """The convolution's output ``(N, OH, OW, F)`` from the products ``M (a * a, tiles, F)``: ``A^T m A`` per tile.

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
    p, m = plan, plan.tile
    AA = xp.asarray(p.transforms.AA, dtype=M.dtype)
    y = (AA @ M.reshape(p.a * p.a, -1)).reshape(m, m, p.N, p.th, p.tw, p.F)
    if bias is not None:
        y += bias
    if out is None:
        out = xp.empty((p.N, p.OH, p.OW, p.F), dtype=M.dtype)
    source = y.transpose(2, 3, 0, 4, 1, 5)  # (N, th, m, tw, m, F)
    if (p.OH, p.OW) == (m * p.th, m * p.tw):
        target = _tiled(out, p, p.F)
        mask = None if relu_mask is None else relu_mask.reshape(target.shape)
    else:
        source = source.reshape(p.N, m * p.th, m * p.tw, p.F)[:, : p.OH, : p.OW]
        target = out
        mask = None if relu_mask is None else relu_mask.reshape(out.shape)
    if mask is None:
        target[...] = source
    else:
        xp.greater(source, 0, out=mask)
        xp.maximum(source, 0, out=target)
    return out


def winograd_output_grad(xp, plan, grad, mask=None, with_sums=False, out=None):
    """``dM (a * a, tiles, F)``: the gradient of :func:`winograd_output`'s ``M`` from the output's ``grad``.

    With ``mask`` (a fused ReLU's, bool, the output's size), ``grad * mask``
    is taken in the same pass as the copy into tiles; ``with_sums`` returns
    ``(dM, sums)`` with the column sums ``(F,)`` of the (masked) gradient (the
    bias's gradient), taken from the tiled copy. ``out``: an ``(a * a, tiles * F)``
    array or view to write ``dM`` into.

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> winograd_output_grad(np, plan, np.ones((1, 2, 2, 1))).ravel().tolist()  # AA^T @ ones
        [1.0, 2.0, 0.0, -1.0, 2.0, 4.0, 0.0, -2.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, 0.0, 1.0]
    """
    p, m = plan, plan.tile
    g = xp.empty((m, m, p.N, p.th, p.tw, p.F), dtype=grad.dtype)
    grad = grad.reshape(p.N, p.OH, p.OW, p.F)
    if mask is not None:
        mask = mask.reshape(p.N, p.OH, p.OW, p.F)
    if (p.OH, p.OW) == (m * p.th, m * p.tw):
        tiled = _tiled(grad, p, p.F).transpose(2, 4, 0, 1, 3, 5)
        if mask is None:
            g[...] = tiled
        else:
            xp.multiply(tiled, _tiled(mask, p, p.F).transpose(2, 4, 0, 1, 3, 5), out=g)
    else:
        full = xp.zeros((p.N, m * p.th, m * p.tw, p.F), dtype=grad.dtype)
        if mask is None:
            full[:, : p.OH, : p.OW] = grad
        else:
            xp.multiply(grad, mask, out=full[:, : p.OH, : p.OW])
        g[...] = _tiled(full, p, p.F).transpose(2, 4, 0, 1, 3, 5)
    AA = xp.asarray(p.transforms.AA, dtype=grad.dtype)
    if out is None:
        dM = (AA.T @ g.reshape(m * m, -1)).reshape(p.a * p.a, p.tiles, p.F)
    else:
        dM = xp.matmul(AA.T, g.reshape(m * m, -1), out=out).reshape(p.a * p.a, p.tiles, p.F)
    if not with_sums:
        return dM
    rows = g.reshape(-1, p.F)
    return dM, xp.ones(rows.shape[0], dtype=rows.dtype) @ rows  # one BLAS product: 3-4x a NumPy row sum


def winograd_input_grad(xp, plan, dM, U_t, out=None):
    """Gradient of the input ``(N, H, W, C)``: ``dV = dM @ U^T``, through ``B^T``'s adjoint, added over the tiles.

    ``U_t`` is the transformed kernel with its last two axes swapped, contiguous
    (``(a * a, F, C)``: the products run twice as fast as with a transposed view).

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((1, 4, 4, 1), 1, ((0, 0), (0, 0)))
        >>> U = winograd_kernel(np, np.ones((3, 3, 1, 1)), plan.tile)
        >>> dM = winograd_output_grad(np, plan, np.ones((1, 2, 2, 1)))
        >>> winograd_input_grad(np, plan, dM, U.transpose(0, 2, 1).copy())[0, :, :, 0].tolist()  # windows per pixel
        [[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
    """
    p, m, a = plan, plan.tile, plan.a
    dV = xp.matmul(dM, U_t)  # (a * a, tiles, C)
    BB = xp.asarray(p.transforms.BB, dtype=dM.dtype)
    dd = (BB.T @ dV.reshape(a * a, -1)).reshape(a, a, p.N, p.th, p.tw, p.C)
    # a tile's row r lands on padded row m i + r: the rows q m ... q m + m - 1 of all tiles (block q) cover
    # disjoint rows, so each pair of blocks (q, s) is one strided add
    blocks = -(-a // m)
    padded = xp.zeros((p.N, m * (p.th + blocks - 1), m * (p.tw + blocks - 1), p.C), dtype=dM.dtype)
    for q in range(blocks):
        rq = min(m, a - q * m)
        for s in range(blocks):
            rs = min(m, a - s * m)
            view = padded[:, q * m: q * m + m * p.th, s * m: s * m + m * p.tw]
            view = view.reshape(p.N, p.th, m, p.tw, m, p.C)[:, :, :rq, :, :rs]
            view += dd[q * m: q * m + rq, s * m: s * m + rs].transpose(2, 3, 0, 4, 1, 5)
    (pt, _), (pl, _) = p.pads
    inside = padded[:, pt: pt + p.H, pl: pl + p.W]
    if out is None:
        return xp.ascontiguousarray(inside)
    out[...] = inside
    return out


def winograd_kernel_grad(xp, V, dM):
    """Gradient of the ``(3, 3, C, F)`` kernel: ``dU = V^T @ dM`` (``a * a`` products over the tiles), through
    ``G``'s adjoint.

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
    """``(3, 3, C, F)`` kernel gradient from the gradient ``dU (a * a, C, F)`` of the transformed kernel."""
    n, C, F = dU.shape
    transforms = next(t for t in _TRANSFORMS.values() if t.a * t.a == n)
    GG = xp.asarray(transforms.GG, dtype=dU.dtype)
    return (GG.T @ dU.reshape(n, C * F)).reshape(3, 3, C, F)


def _check_kernel(plan, U, where):
    if U.shape[0] != plan.a * plan.a:
        raise ValueError(f"{where}: the transformed kernel has {U.shape[0]} tile positions, the plan's "
                         f"{plan.tile}x{plan.tile} output tiles need {plan.a * plan.a} (winograd_kernel(xp, kernel, "
                         f"plan.tile))")


def winograd_forward(xp, plan, x, U, bias=None, relu=False):
    """``(out, V, mask)``: the convolution ``(N, OH, OW, F)`` of ``x`` with the transformed kernel ``U``, ``V`` for
    the backward pass, and with ``relu`` the fused ReLU's mask (else None); ``bias`` is added first.

    Chunk by chunk of images (:meth:`WinogradPlan.chunks`): input transform,
    the ``a * a`` products, output transform; only ``V (a * a, tiles, C)`` is kept whole.
    ``U`` must be :func:`winograd_kernel`'s for the plan's tile.

    Examples:
        >>> import numpy as np
        >>> plan = WinogradPlan((3, 4, 4, 1), 1, ((1, 1), (1, 1)))
        >>> U = winograd_kernel(np, np.ones((3, 3, 1, 1)), plan.tile)
        >>> out, V, _ = winograd_forward(np, plan, np.ones((3, 4, 4, 1)), U)
        >>> out[2, :, :, 0].tolist()
        [[4.0, 6.0, 6.0, 4.0], [6.0, 9.0, 9.0, 6.0], [6.0, 9.0, 9.0, 6.0], [4.0, 6.0, 6.0, 4.0]]
    """
    p = plan
    _check_kernel(p, U, "winograd_forward")
    per = p.th * p.tw
    V = xp.empty((p.a * p.a, p.tiles, p.C), dtype=x.dtype)
    V2 = V.reshape(p.a * p.a, p.tiles * p.C)
    out = xp.empty((p.N, p.OH, p.OW, p.F), dtype=x.dtype)
    mask = xp.empty(out.shape, dtype=bool) if relu else None
    chunks = p.chunks()

    def chunk(i):  # writes only its own images of V, out and mask
        start, stop = chunks[i]
        part = p.part(stop - start)
        Vc = winograd_input(xp, part, x[start:stop], out=V2[:, start * per * p.C: stop * per * p.C])
        winograd_output(xp, part, xp.matmul(Vc.reshape(p.a * p.a, -1, p.C), U), out=out[start:stop], bias=bias,
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
        >>> x, U = np.arange(48.0).reshape(3, 4, 4, 1), winograd_kernel(np, np.ones((3, 3, 1, 1)), plan.tile)
        >>> _, V, _ = winograd_forward(np, plan, x, U)
        >>> gx, gk, gb = winograd_backward(np, plan, np.ones((3, 2, 2, 1)), V, U, bias_grad=True)
        >>> gx[0, :, :, 0].tolist()[0], gk[:, :, 0, 0].tolist()[0], gb.tolist()
        ([1.0, 2.0, 2.0, 1.0], [222.0, 234.0, 246.0], [12.0])
    """
    p = plan
    _check_kernel(p, U, "winograd_backward")
    per = p.th * p.tw
    gx = xp.empty((p.N, p.H, p.W, p.C), dtype=grad.dtype) if input_grad else None
    U_t = xp.ascontiguousarray(U.transpose(0, 2, 1)) if input_grad else None
    # the chunks write their dM into one array: the kernel's gradient is then ONE product over all tiles (a sum
    # of per-chunk products, each of a few tiles, ran 2x slower with its additions)
    dM_all = xp.empty((p.a * p.a, p.tiles * p.F), dtype=grad.dtype) if kernel_grad else None
    chunks = p.chunks()

    def chunk(i):  # writes only its own images of gx and tiles of dM_all; returns its part of the bias's sum
        start, stop = chunks[i]
        part = p.part(stop - start)
        out = None if dM_all is None else dM_all[:, start * per * p.F: stop * per * p.F]
        dM = winograd_output_grad(xp, part, grad[start:stop], None if mask is None else mask[start:stop], bias_grad,
                                  out=out)
        sums = None
        if bias_grad:
            dM, sums = dM
        if input_grad:
            winograd_input_grad(xp, part, dM, U_t, out=gx[start:stop])
        return sums

    gb, *rest = parallel_map(xp, chunk, len(chunks))
    if bias_grad:
        for sums in rest:  # added in chunk order: the same bits for any number of threads
            gb = gb + sums
    gk = None
    if kernel_grad:
        gk = _kernel_back(xp, xp.matmul(V.transpose(0, 2, 1), dM_all.reshape(p.a * p.a, p.tiles, p.F)))
    return gx, gk, gb
