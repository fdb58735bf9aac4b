"""The speed kernels of :mod:`nerve.engine.kernels`, each against a plain reference computation.

References are written here as the definition of each operation (loops over
output positions on tiny float64 arrays); adjoint pairs (im2col/col2im, the
Toeplitz rows and their un-copy, the Toeplitz matrix and the kernel gradient)
are checked with ``<A x, y> == <x, A* y>``.
"""

import itertools

import numpy as np
import pytest

from nerve.engine import backend
from nerve.engine.kernels import conv as kconv
from nerve.engine.kernels.conv import (
    Geometry,
    ToeplitzPlan,
    add_bias_relu,
    block_width,
    col2im,
    im2col,
    matmul_reduce,
    matmul_tall,
    relu_grad,
    toeplitz_bias_grad,
    toeplitz_kernel_grad,
    toeplitz_matrix,
    toeplitz_plan,
    toeplitz_rows,
    toeplitz_unrows,
)
from nerve.engine.kernels.pool import (
    avg_pool_scale,
    max_pool_overlapping,
    max_pool_overlapping_backward,
    max_pool_tiled,
    max_pool_tiled_backward,
    pad_hw,
    running_extreme,
    scatter_to_winner,
    send_to_winner,
    sum_pool,
    sum_pool_backward,
    unpad_hw,
    window_counts,
    window_slices,
)

from nerve.engine.kernels.winograd import (
    WinogradPlan,
    winograd_backward,
    winograd_forward,
    winograd_kernel,
)

# (x_shape, kernel_shape, strides, dilation, pads)
GEOMETRIES = [
    ((2, 4, 5, 1), (2, 3, 1, 2), (1, 1), (1, 1), ((0, 0), (0, 0))),
    ((1, 5, 6, 2), (3, 3, 2, 3), (2, 1), (1, 2), ((1, 1), (2, 1))),
    ((2, 6, 4, 3), (1, 2, 3, 2), (1, 2), (2, 1), ((0, 1), (1, 0))),
    ((1, 3, 3, 1), (3, 3, 1, 1), (1, 1), (1, 1), ((1, 1), (1, 1))),
]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def padded(x, pads, value=0.0):
    (pt, pb), (pl, pr) = pads
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def reference_im2col(x, geo):
    """cols[(i, j, c), (n, oh, ow)] = xpad[n, oh * sh + i * dh, ow * sw + j * dw, c], one entry at a time."""
    xp_ = padded(x, geo.pads)
    (sh, sw), (dh, dw) = geo.strides, geo.dilation
    cols = np.zeros((geo.KH, geo.KW, geo.C, geo.N, geo.OH, geo.OW))
    for i, j, c, n, oh, ow in itertools.product(range(geo.KH), range(geo.KW), range(geo.C), range(geo.N),
                                                 range(geo.OH), range(geo.OW)):
        cols[i, j, c, n, oh, ow] = xp_[n, oh * sh + i * dh, ow * sw + j * dw, c]
    return cols.reshape(geo.KH * geo.KW * geo.C, geo.pixels)


def reference_conv(x, k, geo):
    """out[n, oh, ow, f] = sum_{i, j, c} xpad[n, oh * sh + i * dh, ow * sw + j * dw, c] k[i, j, c, f]."""
    xp_ = padded(x, geo.pads)
    (sh, sw), (dh, dw) = geo.strides, geo.dilation
    out = np.zeros((geo.N, geo.OH, geo.OW, geo.F))
    for n, oh, ow, f in itertools.product(range(geo.N), range(geo.OH), range(geo.OW), range(geo.F)):
        total = 0.0
        for i, j, c in itertools.product(range(geo.KH), range(geo.KW), range(geo.C)):
            total += xp_[n, oh * sh + i * dh, ow * sw + j * dw, c] * k[i, j, c, f]
        out[n, oh, ow, f] = total
    return out


# ------------------------------------------------------------------ im2col
@pytest.mark.parametrize("case", GEOMETRIES)
def test_im2col_matches_a_loop(rng, case):
    geo = Geometry(*case)
    x = rng.standard_normal(case[0])
    np.testing.assert_array_equal(im2col(np, x, geo), reference_im2col(x, geo))


@pytest.mark.parametrize("case", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(rng, case):
    geo = Geometry(*case)
    x = rng.standard_normal(case[0])
    y = rng.standard_normal((geo.KH * geo.KW * geo.C, geo.pixels))
    np.testing.assert_allclose(np.sum(im2col(np, x, geo) * y), np.sum(x * col2im(np, y, geo)), rtol=1e-12)


def test_geometry_output_size():
    geo = Geometry((2, 7, 9, 3), (3, 2, 3, 4), (2, 3), (1, 2), ((1, 0), (0, 2)))
    assert (geo.Hp, geo.Wp) == (8, 11)
    assert (geo.OH, geo.OW) == ((8 - 3) // 2 + 1, (11 - 3) // 3 + 1)
    assert geo.pixels == 2 * geo.OH * geo.OW


# ------------------------------------------------------------ block Toeplitz
def plans(case):
    """The Toeplitz plan of ``case`` with every block width that divides its output width."""
    geo = Geometry(*case)
    return [ToeplitzPlan(geo, w) for w in range(1, geo.OW + 1) if geo.OW % w == 0]


@pytest.mark.parametrize("case", GEOMETRIES)
def test_toeplitz_product_is_the_convolution(rng, case):
    geo = Geometry(*case)
    x, k, b = rng.standard_normal(case[0]), rng.standard_normal(case[1]), rng.standard_normal(case[1][3])
    expected = reference_conv(x, k, geo)
    for plan in plans(case):
        out = toeplitz_rows(np, plan, x) @ toeplitz_matrix(np, plan, k)
        np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=1e-12, atol=1e-12)
        with_bias = toeplitz_rows(np, plan, x, ones=True) @ toeplitz_matrix(np, plan, k, b)
        np.testing.assert_allclose(with_bias.reshape(expected.shape), expected + b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", GEOMETRIES)
def test_toeplitz_adjoints(rng, case):
    """unrows is the adjoint of rows; kernel_grad and bias_grad are the adjoint of building T."""
    x, k, b = rng.standard_normal(case[0]), rng.standard_normal(case[1]), rng.standard_normal(case[1][3])
    for plan in plans(case):
        rows = toeplitz_rows(np, plan, x)
        y = rng.standard_normal(rows.shape)
        np.testing.assert_allclose(np.sum(rows * y), np.sum(x * toeplitz_unrows(np, plan, y)), rtol=1e-12)
        T = toeplitz_matrix(np, plan, k, b)
        g = rng.standard_normal(T.shape)
        dot = np.sum(k * toeplitz_kernel_grad(np, plan, g)) + np.sum(b * toeplitz_bias_grad(plan, g))
        np.testing.assert_allclose(np.sum(T * g), dot, rtol=1e-12)


def test_toeplitz_rows_adds_a_column_of_ones(rng):
    plan = plans(GEOMETRIES[1])[0]
    x = rng.standard_normal(GEOMETRIES[1][0])
    rows = toeplitz_rows(np, plan, x, ones=True)
    assert rows.shape[1] == plan.inner + 1 and (rows[:, -1] == 1).all()
    np.testing.assert_array_equal(rows[:, :-1], toeplitz_rows(np, plan, x))


def test_block_width_and_plan_cache():
    lenet1 = Geometry((8, 28, 28, 1), (5, 5, 1, 6), (1, 1), (1, 1), ((2, 2), (2, 2)))
    assert block_width(lenet1) == 7
    assert block_width(Geometry((8, 14, 14, 6), (5, 5, 6, 16), (1, 1), (1, 1), ((0, 0), (0, 0)))) == 5
    wide = Geometry((8, 16, 16, 64), (3, 3, 64, 64), (1, 1), (1, 1), ((0, 0), (0, 0)))
    assert block_width(wide) is None and toeplitz_plan(wide) is None
    plan = toeplitz_plan(lenet1)
    assert plan.Wb == 7 and plan.nb == 4 and toeplitz_plan(lenet1) is plan


def test_block_width_follows_the_settings(monkeypatch):
    geo = Geometry((8, 28, 28, 1), (5, 5, 1, 6), (1, 1), (1, 1), ((2, 2), (2, 2)))
    monkeypatch.setattr(kconv, "TOEPLITZ_MAX_INNER", 0)
    assert block_width(geo) is None
    monkeypatch.setattr(kconv, "TOEPLITZ_MAX_INNER", 256)
    monkeypatch.setattr(kconv, "TOEPLITZ_MIN_COLUMNS", 12)
    assert block_width(geo) == 2  # the narrowest block with 2 * 6 columns of T
    monkeypatch.setattr(kconv, "TOEPLITZ_MIN_COLUMNS", 1000)
    assert block_width(geo) == 7  # none that wide: the widest block within 2.2 times the kernel's span


# ------------------------------------------------------- blocked products
@pytest.mark.parametrize("n", [7, 30, 33])
def test_blocked_matmuls_match_plain(rng, monkeypatch, n):
    monkeypatch.setattr(kconv, "BLOCK", 10)  # several blocks, with a remainder for 33
    a, b, c = rng.standard_normal((3, n)), rng.standard_normal((n, 4)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(matmul_reduce(np, a, b), a @ b, rtol=1e-12)
    np.testing.assert_allclose(matmul_tall(np, a, c), a.T @ c, rtol=1e-12)


# ------------------------------------------------------ fused bias, ReLU
def test_add_bias_relu_and_its_gradient(rng):
    out = rng.standard_normal((2, 3, 4 * 5))  # (N, OH, OW * F) with F = 5
    bias = rng.standard_normal(5)
    expected = np.maximum(out.reshape(2, 3, 4, 5) + bias, 0).reshape(out.shape)
    biased = out.copy()
    assert add_bias_relu(np, biased, bias) is None  # no ReLU: no mask
    np.testing.assert_array_equal(biased, (out.reshape(2, 3, 4, 5) + bias).reshape(out.shape))
    mask = add_bias_relu(np, out, bias, relu=True)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(mask, expected > 0)
    grad = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(relu_grad(np, grad, mask), grad * (expected > 0).reshape(grad.shape))
    untouched = out.copy()
    assert add_bias_relu(np, untouched) is None and np.array_equal(untouched, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 1000, (1 << 15) + 7, 3 * (1 << 15)])
def test_relu_kernel_gives_numpys_bits(rng, dtype, size):
    from nerve.engine.kernels.elementwise import relu
    x = rng.standard_normal(size).astype(dtype)
    x[::97] = -0.0
    x[1::101] = np.nan
    expected = np.maximum(x, 0)
    got = relu(np, x)
    assert got.dtype == x.dtype and np.array_equal(got.view(np.uint8), expected.view(np.uint8))
    in_place = x.copy()
    assert relu(np, in_place, out=in_place) is in_place
    assert np.array_equal(in_place.view(np.uint8), expected.view(np.uint8))
    strided = x[::2]  # not contiguous: NumPy's own maximum
    assert np.array_equal(relu(np, strided).view(np.uint8), np.maximum(strided, 0).view(np.uint8))


def test_kernels_give_the_same_bits_with_threads(rng, monkeypatch):
    x = rng.standard_normal((5, 5, 6, 2))  # a batch of 5, split over 3 threads
    geo = Geometry(x.shape, *GEOMETRIES[1][1:])
    plan = ToeplitzPlan(geo, 1)
    y = rng.standard_normal((geo.KH * geo.KW * geo.C, geo.pixels))
    pooled = rng.standard_normal((5, 6, 8, 3))

    def run():
        return [im2col(np, x, geo), col2im(np, y, geo), toeplitz_rows(np, plan, x, ones=True),
                toeplitz_unrows(np, plan, toeplitz_rows(np, plan, x)), max_pool_tiled(np, pooled, (2, 2), (3, 4))[0]]

    serial = run()
    monkeypatch.setattr(backend, "PARALLEL_MIN_ELEMENTS", 0)
    backend.set_num_threads(3)
    try:
        threaded = run()
    finally:
        backend.set_num_threads(None)
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- pooling
def test_window_slices_pick_each_offset():
    x = np.arange(7)
    slices = window_slices(3, 3, 2)  # windows [0, 3), [2, 5), [4, 7)
    assert [x[s].tolist() for s in slices] == [[0, 2, 4], [1, 3, 5], [2, 4, 6]]


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_running_extreme_is_max_and_first_argmax(rng, count):
    candidates = [np.round(rng.standard_normal(50)) for _ in range(count)]  # rounded: many ties
    stacked = np.stack(candidates)
    arg, best = running_extreme(np, candidates)
    np.testing.assert_array_equal(best, stacked.max(axis=0))
    first = np.argmax(stacked, axis=0)  # the first maximum, like the kernel
    if count == 1:
        assert arg is None
    else:
        np.testing.assert_array_equal(arg.astype(int), first)
        assert arg.dtype == (bool if count == 2 else np.uint8)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_send_to_winner_and_scatter(rng, count):
    candidates = [np.round(rng.standard_normal(20)) for _ in range(count)]
    arg, _ = running_extreme(np, candidates)
    winner = np.zeros(20, dtype=int) if arg is None else arg.astype(int)
    grad = rng.standard_normal(20)
    parts = [np.full(20, np.nan) for _ in range(count)]
    send_to_winner(np, grad, arg, parts)
    for offset, part in enumerate(parts):
        np.testing.assert_array_equal(part, np.where(winner == offset, grad, 0.0))
    # scatter: 20 windows of `count` values moved by 1 along axis 1, overlapping
    slices = window_slices(20, count, 1)
    out = scatter_to_winner(np, grad[None], None if arg is None else arg[None], slices, (1, 20 + count - 1), axis=1)
    expected = np.zeros(20 + count - 1)
    for o in range(20):
        expected[o + winner[o]] += grad[o]
    np.testing.assert_allclose(out[0], expected, rtol=1e-15)


def reference_max_pool(x, pool, strides, out_hw):
    """Output, and the input position each output's gradient goes to: the first maximum row of each column,
    then the first column whose row maximum is largest (the separable order of the kernels)."""
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, out_hw
    n_, _, _, c_ = x.shape
    out = np.zeros((n_, oh, ow, c_))
    where = {}
    for n, i, j, c in itertools.product(range(n_), range(oh), range(ow), range(c_)):
        window = x[n, i * sh : i * sh + kh, j * sw : j * sw + kw, c]
        row_of_col = np.argmax(window, axis=0)
        col = int(np.argmax(window.max(axis=0)))
        out[n, i, j, c] = window.max()
        where[n, i, j, c] = (n, i * sh + row_of_col[col], j * sw + col, c)
    return out, where


def reference_max_pool_grad(grad, where, shape):
    gx = np.zeros(shape)
    for key, position in where.items():
        gx[position] += grad[key]
    return gx


@pytest.mark.parametrize("pool, shape", [((2, 2), (2, 4, 6, 3)), ((3, 2), (1, 7, 5, 2)), ((1, 3), (2, 2, 7, 1)),
                                         ((2, 1), (1, 5, 3, 2))])
def test_max_pool_tiled_matches_a_loop(rng, pool, shape):
    x = np.round(rng.standard_normal(shape) * 2)  # rounded: ties
    out_hw = (shape[1] // pool[0], shape[2] // pool[1])
    out, winners = max_pool_tiled(np, x, pool, out_hw)
    expected, where = reference_max_pool(x, pool, pool, out_hw)
    np.testing.assert_array_equal(out, expected)
    grad = rng.standard_normal(out.shape)
    gx = max_pool_tiled_backward(np, grad, winners, pool, x.shape)
    np.testing.assert_array_equal(gx, reference_max_pool_grad(grad, where, x.shape))


@pytest.mark.parametrize("pool, strides, shape", [((3, 3), (2, 2), (2, 7, 7, 2)), ((2, 3), (1, 2), (1, 4, 7, 3)),
                                                  ((2, 2), (1, 1), (1, 3, 4, 1)), ((1, 1), (2, 2), (1, 4, 4, 1))])
def test_max_pool_overlapping_matches_a_loop(rng, pool, strides, shape):
    x = np.round(rng.standard_normal(shape) * 2)
    out_hw = tuple((n - k) // s + 1 for n, k, s in zip(shape[1:3], pool, strides))
    out, winners = max_pool_overlapping(np, x, pool, strides, out_hw)
    expected, where = reference_max_pool(x, pool, strides, out_hw)
    np.testing.assert_array_equal(out, expected)
    grad = rng.standard_normal(out.shape)
    gx = max_pool_overlapping_backward(np, grad, winners, pool, strides, x.shape)
    np.testing.assert_allclose(gx, reference_max_pool_grad(grad, where, x.shape), rtol=1e-15)


def test_pad_and_unpad(rng):
    x = rng.standard_normal((2, 3, 4, 2))
    pads = ((1, 0), (2, 1))
    p = pad_hw(np, x, pads, value=-np.inf)
    assert p.shape == (2, 4, 7, 2) and np.isneginf(p[:, 0]).all() and np.isneginf(p[:, :, :2]).all()
    np.testing.assert_array_equal(unpad_hw(p, pads), x)
    assert pad_hw(np, x, ((0, 0), (0, 0))) is x and unpad_hw(x, ((0, 0), (0, 0))) is x


@pytest.mark.parametrize("pool, strides, pads", [((2, 2), (2, 2), ((0, 1), (0, 0))), ((3, 2), (2, 1), ((1, 1), (0, 1)))])
def test_sum_pool_and_average_scale(rng, pool, strides, pads):
    x = rng.standard_normal((2, 5, 4, 3))
    xp_ = padded(x, pads)
    out_hw = tuple((n - k) // s + 1 for n, k, s in zip(xp_.shape[1:3], pool, strides))
    (kh, kw), (sh, sw) = pool, strides
    expected = np.zeros((2,) + out_hw + (3,))
    real = np.zeros(out_hw)
    inside = padded(np.ones((1, 5, 4, 1)), pads)[0, :, :, 0]
    for i, j in itertools.product(*map(range, out_hw)):
        expected[:, i, j] = xp_[:, i * sh : i * sh + kh, j * sw : j * sw + kw].sum(axis=(1, 2))
        real[i, j] = inside[i * sh : i * sh + kh, j * sw : j * sw + kw].sum()
    np.testing.assert_allclose(sum_pool(np, xp_, pool, strides, out_hw), expected, rtol=1e-12)
    scale = avg_pool_scale(np, x.shape[1:3], pads, pool, strides, out_hw, np.float64)
    np.testing.assert_allclose(scale[0, :, :, 0], 1 / real, rtol=1e-15)
    rows_real = inside[:, 0] if pads[1][0] == 0 else inside[:, pads[1][0]]  # a column of real pixels
    np.testing.assert_array_equal(window_counts(pads[0][0], 5, out_hw[0], kh, sh),
                                  [rows_real[i * sh : i * sh + kh].sum() for i in range(out_hw[0])])
    grad = rng.standard_normal(expected.shape)
    gx = sum_pool_backward(np, grad, pool, strides, xp_.shape)
    np.testing.assert_allclose(np.sum(expected * grad), np.sum(xp_ * gx), rtol=1e-12)  # the adjoint


# --------------------------------------------------------------- Winograd
WINOGRAD_CASES = [  # (x_shape, filters, pads): even and odd outputs, with and without padding
    ((2, 4, 4, 2), 3, ((1, 1), (1, 1))),
    ((2, 9, 10, 2), 3, ((1, 1), (1, 1))),  # more than one 4x4 tile a side, the last one cut off
    ((1, 12, 8, 2), 2, ((0, 0), (0, 0))),
    ((3, 5, 7, 2), 2, ((1, 1), (1, 1))),
    ((2, 6, 5, 3), 2, ((0, 0), (0, 0))),
    ((1, 3, 3, 1), 1, ((0, 0), (0, 0))),
]


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("chunk_values", [1, 10**9])  # one image per chunk, or the whole batch
@pytest.mark.parametrize("case", WINOGRAD_CASES)
def test_winograd_is_the_convolution_and_its_adjoints(rng, monkeypatch, case, chunk_values, tile):
    """F(2x2, 3x3) and F(4x4, 3x3) give the direct convolution (loops), and their input and kernel gradients
    satisfy <conv(x, k), g> == <x, gx(g)> == <k, gk(g)> (the convolution is linear in x and in k), bias
    gradient = sum."""
    from nerve.engine.kernels import winograd

    monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_VALUES", chunk_values)
    x_shape, filters, pads = case
    x, k = rng.standard_normal(x_shape), rng.standard_normal((3, 3, x_shape[3], filters))
    geo = Geometry(x_shape, k.shape, (1, 1), (1, 1), pads)
    plan = WinogradPlan(x_shape, filters, pads, tile=tile)
    assert plan.tile == tile
    U = winograd_kernel(np, k, plan.tile)
    out, V, none = winograd_forward(np, plan, x, U)
    expected = reference_conv(x, k, geo)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    assert none is None
    b = rng.standard_normal(filters)
    fused, _, relu_mask = winograd_forward(np, plan, x, U, bias=b, relu=True)  # bias and ReLU in the copy out
    np.testing.assert_array_equal(fused, np.maximum(out + b, 0))
    np.testing.assert_array_equal(relu_mask, out + b > 0)
    g = rng.standard_normal(out.shape)
    mask = rng.random(out.shape) > 0.3
    gx, gk, gb = winograd_backward(np, plan, g, V, U, bias_grad=True, mask=mask)
    gm = g * mask
    np.testing.assert_allclose(np.vdot(expected, gm), np.vdot(x, gx), rtol=1e-12)
    np.testing.assert_allclose(np.vdot(expected, gm), np.vdot(k, gk), rtol=1e-12)
    np.testing.assert_allclose(gb, gm.reshape(-1, filters).sum(axis=0), rtol=1e-12, atol=1e-12)
    only_x, none_k, none_b = winograd_backward(np, plan, g, V, U, kernel_grad=False)
    np.testing.assert_allclose(only_x, winograd_backward(np, plan, g, V, U)[0], rtol=0, atol=0)
    assert none_k is None and none_b is None


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("threads", [2, 3])
def test_winograd_chunks_in_threads_give_the_same_bits(rng, monkeypatch, threads, tile):
    """The chunks of the batch run on several threads (each with its own matrix products); every output and
    gradient is bit-identical to one thread (the bias's sums added in chunk order, the kernel's gradient one
    product over the tiles that all chunks wrote)."""
    from nerve.engine import backend
    from nerve.engine.kernels import winograd

    monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_VALUES", 1)  # one image per chunk: 5 chunks
    x = rng.standard_normal((5, 6, 7, 4)).astype(np.float32)
    k = rng.standard_normal((3, 3, 4, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    plan = WinogradPlan(x.shape, 3, ((1, 1), (1, 1)), tile=tile)
    g = rng.standard_normal((5, 6, 7, 3)).astype(np.float32)

    def run():
        U = winograd_kernel(np, k, plan.tile)
        out, V, mask = winograd_forward(np, plan, x, U, bias=b, relu=True)
        return (out, V, mask) + winograd_backward(np, plan, g, V, U, bias_grad=True, mask=mask)

    backend.set_num_threads(1)
    try:
        serial = run()
        backend.set_num_threads(threads)
        threaded = run()
    finally:
        backend.set_num_threads(None)
    for a, c in zip(serial, threaded):
        np.testing.assert_array_equal(a, c)
    assert backend.parallel_map(np, lambda i: i * 10, 4, threads=threads) == [0, 10, 20, 30]
