"""Convolution, pooling, upsampling and padding: ops and layers.

Values are compared with direct loop implementations written here (the
definition of the operation, one output at a time), gradients with central
differences in float64, output shapes with the Keras formulas; plus errors,
training, and save/load.
"""

import math

import numpy as np
import pytest

import nerve
from nerve import layers, ops
from nerve.gradcheck import check_gradients


def check_multilinear(fn, inputs):
    """Gradient check for functions linear in each input (convolutions): a larger step has no truncation error
    and much less round-off than the default 1e-6 on sums of many products."""
    return check_gradients(fn, inputs, eps=1e-4)


# ----------------------------------------------------------- references
def reference_conv2d(x, k, strides=(1, 1), padding="valid", dilation=(1, 1)):
    """Direct definition: out[n, i, j, f] = sum_{a, b, c} xpad[n, i*s + a*d, j*s + b*d, c] k[a, b, c, f]."""
    n, h, w, _ = x.shape
    kh, kw, _, f = k.shape
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        pads = []
        for size, kk, s, d in ((h, kh, sh, dh), (w, kw, sw, dw)):
            total = max((math.ceil(size / s) - 1) * s + (kk - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
    else:
        pads = [(0, 0), (0, 0)]
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    oh = (xp.shape[1] - (kh - 1) * dh - 1) // sh + 1
    ow = (xp.shape[2] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * sh : i * sh + (kh - 1) * dh + 1 : dh, j * sw : j * sw + (kw - 1) * dw + 1 : dw, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


def reference_pool(x, pool, strides, padding, kind):
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = pool, strides
    if padding == "same":
        oh, ow = math.ceil(h / sh), math.ceil(w / sw)
        pt = max((oh - 1) * sh + kh - h, 0) // 2
        pl = max((ow - 1) * sw + kw - w, 0) // 2
    else:
        oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
        pt = pl = 0
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - pt, j * sw - pl
            window = x[:, max(r0, 0) : r0 + kh, max(c0, 0) : c0 + kw, :]
            out[:, i, j, :] = window.max(axis=(1, 2)) if kind == "max" else window.mean(axis=(1, 2))
    return out


# ------------------------------------------------------- convolution op
CONV_CASES = [
    # (input shape, kernel (kh, kw), filters, strides, padding, dilation)
    ((2, 5, 6, 3), (3, 3), 2, 1, "valid", 1),
    ((2, 5, 6, 3), (3, 3), 2, 1, "same", 1),
    ((1, 6, 5, 2), (2, 2), 3, 1, "same", 1),       # even kernel: pad (0, 1)
    ((1, 7, 6, 2), (4, 4), 2, 1, "same", 1),       # even kernel: pad (1, 2)
    ((2, 7, 8, 2), (3, 3), 2, 2, "valid", 1),      # stride 2
    ((1, 7, 8, 2), (3, 2), 2, 2, "same", 1),       # stride 2, same, non-square kernel
    ((1, 8, 7, 2), (4, 4), 2, 2, "same", 1),       # even kernel + stride
    ((1, 7, 9, 2), (3, 3), 2, 1, "valid", 2),      # dilation 2
    ((1, 7, 8, 2), (3, 2), 2, 1, "same", 2),       # dilation + same
    ((1, 9, 9, 1), (3, 3), 2, (2, 1), "same", (1, 2)),
]


STRATEGIES = {  # (TOEPLITZ_MAX_INNER, TOEPLITZ_MAX_WASTE, WINOGRAD_MIN_CHANNELS)
    "im2col": (0, 2.2, 10**9),
    "toeplitz-whole-rows": (10**9, 10.0**9, 10**9),  # one block per output row
    "toeplitz-blocks": (10**9, 1.7, 10**9),  # several blocks per output row
    "winograd": (0, 2.2, 1),  # 3x3 stride-1 kernels through Winograd F(2x2, 3x3), the others im2col
}


def _force_strategy(monkeypatch, name):
    from nerve.engine.kernels import conv as conv_kernels
    from nerve.engine.kernels import winograd

    inner, waste, channels = STRATEGIES[name]
    monkeypatch.setattr(conv_kernels, "TOEPLITZ_MAX_INNER", inner)
    monkeypatch.setattr(conv_kernels, "TOEPLITZ_MAX_WASTE", waste)
    monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", channels)


@pytest.fixture(params=sorted(STRATEGIES))
def strategy(request, monkeypatch):
    """Run a test with each convolution strategy forced (by default the choice depends on the shapes)."""
    _force_strategy(monkeypatch, request.param)
    return request.param


@pytest.mark.parametrize("shape, kernel, filters, strides, padding, dilation", CONV_CASES)
def test_conv2d_values_and_gradients(randn, strategy, shape, kernel, filters, strides, padding, dilation):
    x = randn(*shape)
    k = randn(*kernel, shape[-1], filters)
    b = randn(filters)
    out = ops.conv2d(x, k, b, strides=strides, padding=padding, dilation=dilation)
    s = (strides, strides) if isinstance(strides, int) else strides
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    expected = reference_conv2d(x.numpy(), k.numpy(), s, padding, d) + b.numpy()
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    for axis in (0, 1):
        assert out.shape[axis + 1] == ops.conv_output_length(shape[axis + 1], kernel[axis], s[axis], padding, d[axis])
    check_multilinear(lambda x, k, b: ops.conv2d(x, k, b, strides=strides, padding=padding, dilation=dilation), [x, k, b])


def test_conv2d_strategies_agree(randn, monkeypatch):
    """im2col and the block-Toeplitz product (whole rows or blocks) give the same values and gradients."""
    x, k = randn(2, 6, 9, 3), randn(3, 2, 3, 4)

    def run():
        xg, kg = nerve.tensor(x.numpy(), requires_grad=True), nerve.tensor(k.numpy(), requires_grad=True)
        out = ops.conv2d(xg, kg, padding="same", strides=(1, 2), dilation=(1, 2))
        out.backward(np.cos(out.numpy()))
        return out.numpy(), xg.grad.numpy(), kg.grad.numpy()

    results = {}
    for name in STRATEGIES:
        _force_strategy(monkeypatch, name)
        results[name] = run()
    for name in STRATEGIES:
        for a, b in zip(results[name], results["im2col"]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_threaded_batch_split_is_bit_identical(name, monkeypatch):
    """With nerve's threads on, conv (ReLU fused, bias, 'same' padding) and max/avg pooling give the same bits."""
    from nerve.engine import backend  # the module whose split_batch reads PARALLEL_MIN_ELEMENTS

    _force_strategy(monkeypatch, name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 8, 10, 3)).astype(np.float32)
    k = rng.standard_normal((3, 3, 3, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)

    def run():
        xt, kt, bt = (nerve.tensor(a, requires_grad=True) for a in (x, k, b))
        y = ops.conv2d(xt, kt, bt, padding="same", activation="relu")
        pooled = [ops.max_pool2d(y, 2), ops.max_pool2d(y, 3, strides=2, padding="same"), ops.avg_pool2d(y, 2)]
        loss = sum((p * p).sum() for p in pooled)
        loss.backward()
        return [y.numpy()] + [p.numpy() for p in pooled] + [t.grad.numpy() for t in (xt, kt, bt)]

    serial = run()
    monkeypatch.setattr(backend, "PARALLEL_MIN_ELEMENTS", 0)  # split even these small arrays
    backend.set_num_threads(3)
    try:
        threaded = run()
    finally:
        backend.set_num_threads(None)
    for a, c in zip(serial, threaded):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_conv2d_of_a_view_with_odd_strides(name, monkeypatch):
    """Inputs that are views (a channel axis added with None has stride 0, a slice skips pixels) give the
    same output as their contiguous copies."""
    _force_strategy(monkeypatch, name)
    rng = np.random.default_rng(5)
    images = rng.standard_normal((3, 9, 8))
    k = nerve.tensor(rng.standard_normal((3, 3, 1, 2)))
    for x in (images[..., None], rng.standard_normal((3, 9, 16, 2))[:, :, ::2, :1]):
        for padding in ("valid", "same"):
            expected = ops.conv2d(nerve.tensor(np.ascontiguousarray(x)), k, padding=padding).numpy()
            np.testing.assert_array_equal(ops.conv2d(nerve.Tensor(x), k, padding=padding).numpy(), expected)  # no copy
            np.testing.assert_allclose(expected, reference_conv2d(np.ascontiguousarray(x), k.numpy(), padding=padding),
                                       rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tile, tolerance", [(2, 2e-6), (4, 6e-6)])
@pytest.mark.parametrize("shape, filters, padding", [
    ((4, 16, 16, 16), 32, "same"),   # CIFAR-like, even: whole tiles
    ((3, 9, 7, 16), 20, "same"),     # odd output: one more row and column of tiles, cut off
    ((2, 8, 11, 17), 16, "valid"),   # no padding, odd width
    ((4, 8, 8, 64), 128, "same"),    # many channels: longer sums
])
def test_winograd_matches_im2col_in_float32(monkeypatch, shape, filters, padding, tile, tolerance):
    """Winograd F(2x2, 3x3) and F(4x4, 3x3) against the direct product (im2col, float64 reference) at float32
    tolerance: values, input, kernel and bias gradients. Measured, of the largest entry: F(2x2, 3x3) at most
    6e-7, like im2col in float32 (5e-7); F(4x4, 3x3) at most 3e-6 (its transforms hold larger numbers)."""
    from nerve.engine.kernels import winograd

    monkeypatch.setattr(winograd, "WINOGRAD_TILE", tile)
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape).astype(np.float32)
    k = (rng.standard_normal((3, 3, shape[-1], filters)) / np.sqrt(9 * shape[-1])).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)
    upstream = None

    def run(dtype, channels):
        nonlocal upstream
        monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", channels)
        xt, kt, bt = (nerve.tensor(a.astype(dtype), requires_grad=True) for a in (x, k, b))
        out = ops.conv2d(xt, kt, bt, padding=padding, activation="relu")
        assert out.op.winograd == (channels == 1)
        assert not out.op.winograd or out.op.wplan.tile == tile
        if upstream is None:
            upstream = rng.standard_normal(out.shape)
        out.backward(upstream.astype(dtype))
        return [out.numpy(), xt.grad.numpy(), kt.grad.numpy(), bt.grad.numpy()]

    fast = run(np.float32, 1)
    exact = run(np.float64, 10**9)
    assert all(a.dtype == np.float32 for a in fast)
    for a, e in zip(fast, exact):
        np.testing.assert_allclose(a, e, rtol=0, atol=tolerance * np.abs(e).max())


def test_winograd_chunks_of_the_batch_change_nothing(monkeypatch):
    """The batch split into chunks of one or two images gives the values and gradients of one chunk (float64,
    fused ReLU: its mask and the bias gradient are taken chunk by chunk too), and passes a gradient check."""
    from nerve.engine.kernels import winograd

    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal(shape) for shape in ((5, 7, 6, 16), (3, 3, 16, 16), (16,))]
    monkeypatch.setattr(winograd, "WINOGRAD_MIN_CHANNELS", 1)

    def run(chunk_values):
        monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_VALUES", chunk_values)
        tensors = [nerve.tensor(a, requires_grad=True) for a in arrays]
        out = ops.conv2d(*tensors, padding="same", activation="relu")
        out.backward(np.cos(out.numpy()))
        return [out.numpy()] + [t.grad.numpy() for t in tensors]

    whole = run(10**9)
    for chunk_values in (1, 16 * 4 * 3 * 16 * 2):  # one image per chunk; two (and a remainder of one)
        for a, b in zip(run(chunk_values), whole):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    check_multilinear(lambda x, k, b: ops.conv2d(x, k, b, padding="same"),
                      [nerve.tensor(a, requires_grad=True) for a in arrays])  # still in chunks of two


def test_winograd_choice():
    """3x3 stride-1 convolutions with at least 16 input and output channels take Winograd."""
    from nerve.engine.kernels.conv import Geometry
    from nerve.engine.kernels.winograd import use_winograd

    def wino(x_shape, kernel_shape, strides=(1, 1), dilation=(1, 1)):
        return use_winograd(Geometry(x_shape, kernel_shape, strides, dilation, ((1, 1), (1, 1))))

    assert wino((8, 16, 16, 32), (3, 3, 32, 64))
    assert not wino((8, 32, 32, 3), (3, 3, 3, 16))  # the image layer: few channels, the Toeplitz product
    assert not wino((8, 16, 16, 32), (3, 3, 32, 64), strides=(2, 2))
    assert not wino((8, 16, 16, 32), (3, 3, 32, 64), dilation=(2, 2))
    assert not wino((8, 16, 16, 32), (5, 5, 32, 64))


@pytest.mark.parametrize("size, tile", [(16, 4), (8, 4), (7, 4), (14, 4), (6, 2), (5, 2), (2, 2)])
def test_winograd_tile_follows_the_output_size(size, tile):
    """A 'same' 3x3 convolution takes 4x4 output tiles when they need at most 90% of the 2x2 tiles' products
    (36 per 4x4 tile against 16 per 2x2 tile, counting the cut-off tiles at the edges), and gives the same values
    either way."""
    rng = np.random.default_rng(5)
    x = nerve.tensor(rng.standard_normal((2, size, size, 16)), requires_grad=True)
    k = nerve.tensor(rng.standard_normal((3, 3, 16, 16)), requires_grad=True)
    out = ops.conv2d(x, k, padding="same")
    assert out.op.winograd and out.op.wplan.tile == tile
    direct = reference_conv2d(x.numpy(), k.numpy(), padding="same")
    np.testing.assert_allclose(out.numpy(), direct, rtol=1e-10, atol=1e-10)


def test_block_width_choice():
    """LeNet-5's layers get the blocks measured fastest; many input channels go to im2col."""
    from nerve.engine.kernels.conv import Geometry, block_width

    def width(x_shape, kernel_shape, pads=((0, 0), (0, 0))):
        return block_width(Geometry(x_shape, kernel_shape, (1, 1), (1, 1), pads))

    assert width((8, 28, 28, 1), (5, 5, 1, 6), ((2, 2), (2, 2))) == 7  # 7 * 6 columns of T, span 11 of 5
    assert width((8, 14, 14, 6), (5, 5, 6, 16)) == 5
    assert width((8, 32, 32, 3), (3, 3, 3, 32), ((1, 1), (1, 1))) == 2  # many filters: the narrowest block
    assert width((8, 13, 13, 8), (3, 3, 8, 4)) == 1  # 11 output columns: a prime, so one per block
    assert width((8, 16, 16, 64), (3, 3, 64, 64)) is None


@pytest.mark.parametrize("shapes", [((2, 12, 12, 1), (5, 5, 1, 6)), ((2, 6, 6, 40), (3, 3, 40, 4))])
def test_conv2d_skips_the_input_gradient_when_nothing_needs_it(monkeypatch, shapes):
    """A first layer (the model's input needs no gradient) never computes the input's gradient."""
    from nerve.engine.ops import conv as conv_ops

    calls = []
    for name in ("toeplitz_unrows", "col2im"):
        original = getattr(conv_ops, name)
        monkeypatch.setattr(conv_ops, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
    rng = np.random.default_rng(0)
    x_shape, k_shape = shapes
    k = nerve.tensor(rng.standard_normal(k_shape).astype(np.float32), requires_grad=True)
    for needs in (False, True):
        x = nerve.tensor(rng.standard_normal(x_shape).astype(np.float32), requires_grad=needs)
        ops.conv2d(x, k, padding="same", activation="relu").sum().backward()
        assert (x.grad is not None) == needs and k.grad is not None
        assert len(calls) == needs, calls


def test_conv2d_blocked_matmuls_match_plain(randn, monkeypatch):
    """Splitting long matrix products into blocks (with a remainder) changes nothing."""
    from nerve.engine.kernels import conv as conv_kernels

    x, k = randn(3, 9, 7, 2), randn(3, 3, 2, 4)
    monkeypatch.setattr(conv_kernels, "BLOCK", 10)  # 3 * 9 * 7 pixels: many blocks and a remainder
    check_multilinear(lambda x, k: ops.conv2d(x, k, padding="same"), [x, k])
    check_multilinear(lambda x, k: ops.conv2d(x, k, strides=2), [x, k])


def test_conv2d_float32_stays_float32(rng):
    x = nerve.tensor(rng.normal(size=(2, 8, 8, 3)).astype(np.float32), requires_grad=True)
    k = nerve.tensor(rng.normal(size=(3, 3, 3, 4)).astype(np.float32), requires_grad=True)
    out = ops.conv2d(x, k, padding="same")
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32 and k.grad.dtype == np.float32


def test_conv2d_skips_input_gradient_when_not_needed(randn, strategy):
    x = nerve.tensor(randn(1, 5, 5, 2).numpy())  # no grad
    k = randn(3, 3, 2, 2)
    ops.conv2d(x, k).sum().backward()
    assert x.grad is None and k.grad is not None
    check_multilinear(lambda k: ops.conv2d(x, k, padding="same"), [k])


@pytest.mark.parametrize("length, kernel, stride, padding, dilation", [
    (9, 3, 1, "valid", 1), (9, 4, 1, "same", 1), (10, 3, 2, "same", 1), (9, 3, 1, "causal", 2), (8, 2, 3, "valid", 1),
])
def test_conv1d(randn, strategy, length, kernel, stride, padding, dilation):
    x, k, b = randn(2, length, 3), randn(kernel, 3, 2), randn(2)
    out = ops.conv1d(x, k, b, strides=stride, padding=padding, dilation=dilation)
    if padding == "causal":
        x2 = np.pad(x.numpy(), ((0, 0), ((kernel - 1) * dilation, 0), (0, 0)))
        expected = reference_conv2d(x2[:, None], k.numpy()[None], (1, stride), "valid", (1, dilation))[:, 0]
        assert out.shape[1] == length
    else:
        expected = reference_conv2d(x.numpy()[:, None], k.numpy()[None], (1, stride), padding, (1, dilation))[:, 0]
    np.testing.assert_allclose(out.numpy(), expected + b.numpy(), rtol=1e-12, atol=1e-12)
    check_multilinear(lambda x, k, b: ops.conv1d(x, k, b, strides=stride, padding=padding, dilation=dilation), [x, k, b])


# ------------------------------------------------------ transposed conv
@pytest.mark.parametrize("hw, kernel, strides, padding, expected_hw", [
    ((3, 4), (3, 3), 2, "same", (6, 8)),
    ((3, 4), (3, 3), 2, "valid", (7, 9)),
    ((3, 3), (2, 2), 3, "valid", (9, 9)),   # kernel < stride: output size * stride
    ((3, 4), (4, 4), 2, "same", (6, 8)),
    ((4, 3), (3, 2), 1, "same", (4, 3)),
    ((3, 3), (3, 3), 1, "valid", (5, 5)),
])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(randn, hw, kernel, strides, padding, expected_hw):
    x = randn(2, *hw, 3)
    k = randn(*kernel, 2, 3)  # (kh, kw, filters, in_channels)
    b = randn(2)
    out = ops.conv2d_transpose(x, k, b, strides=strides, padding=padding)
    assert out.shape == (2, *expected_hw, 2)
    # <conv2d_transpose(x), z> == <x, conv2d(z)> for every z: the transpose of the convolution
    z = randn(*out.shape, requires_grad=False)
    forward = ops.conv2d(z, k, strides=strides, padding=padding).numpy()
    lhs = np.sum((out.numpy() - b.numpy()) * z.numpy())
    assert forward.shape == x.shape
    np.testing.assert_allclose(lhs, np.sum(x.numpy() * forward), rtol=1e-10)
    check_multilinear(lambda x, k, b: ops.conv2d_transpose(x, k, b, strides=strides, padding=padding), [x, k, b])


# --------------------------------------------------------------- pooling
POOL_CASES = [
    # (input shape, pool, strides, padding)
    ((2, 6, 6, 2), (2, 2), None, "valid"),
    ((1, 7, 9, 2), (2, 2), None, "valid"),      # odd sizes: last row/column dropped
    ((1, 7, 8, 2), (3, 3), (2, 2), "valid"),    # overlapping windows
    ((1, 7, 8, 2), (3, 3), (2, 2), "same"),
    ((1, 5, 7, 2), (2, 2), None, "same"),       # padding after only
    ((1, 6, 7, 1), (2, 3), (1, 2), "same"),     # stride != pool, non-square
    ((1, 6, 6, 2), (2, 2), (3, 3), "valid"),    # stride > pool: gaps
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("shape, pool, strides, padding", POOL_CASES)
def test_pooling_values_and_gradients(randn, kind, shape, pool, strides, padding):
    fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    x = randn(*shape)
    out = fn(x, pool, strides, padding)
    expected = reference_pool(x.numpy(), pool, strides or pool, padding, kind)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    check_gradients(lambda x: fn(x, pool, strides, padding), [x])


def test_max_pool_gradient_goes_to_one_maximum_per_window():
    x = nerve.tensor(np.ones((1, 2, 2, 1)), requires_grad=True)  # a tie: all four equal
    ops.max_pool2d(x, 2).sum().backward()
    assert x.grad.numpy().sum() == 1.0 and x.grad.numpy()[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d(randn, kind):
    fn = ops.max_pool1d if kind == "max" else ops.avg_pool1d
    x = randn(2, 9, 3)
    out = fn(x, 3, 2, "same")
    expected = reference_pool(x.numpy()[:, None], (1, 3), (1, 2), "same", kind)[:, 0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert out.shape == (2, 5, 3)
    check_gradients(lambda x: fn(x, 3, 2, "same"), [x])


def test_upsample_and_zero_pad(randn):
    x = randn(2, 3, 2, 2)
    up = ops.upsample2d(x, (2, 3))
    np.testing.assert_array_equal(up.numpy(), x.numpy().repeat(2, axis=1).repeat(3, axis=2))
    check_gradients(lambda x: ops.upsample2d(x, (2, 3)), [x])
    padded = ops.zero_pad2d(x, ((1, 0), (2, 1)))
    np.testing.assert_array_equal(padded.numpy(), np.pad(x.numpy(), ((0, 0), (1, 0), (2, 1), (0, 0))))
    check_gradients(lambda x: ops.zero_pad2d(x, (1, 2)), [x])


def test_global_pooling(randn):
    x = randn(2, 3, 4, 5)
    np.testing.assert_allclose(ops.global_avg_pool(x).numpy(), x.numpy().mean(axis=(1, 2)))
    np.testing.assert_allclose(ops.global_max_pool(x).numpy(), x.numpy().max(axis=(1, 2)))
    check_gradients(lambda x: ops.global_avg_pool(x), [x])
    check_gradients(lambda x: ops.global_max_pool(x), [x])


# ---------------------------------------------------------------- layers
def _layer_check(layer, x):
    """Build ``layer`` on float64 ``x`` and gradient-check wrt the input and every weight."""
    layer(x)
    check_gradients(lambda x, *ws: layer(x), [x] + layer.trainable_weights, eps=1e-5)


LAYER_CASES = [
    (lambda: layers.Conv2D(2, 3, activation="tanh"), (2, 6, 5, 2)),
    (lambda: layers.Conv2D(2, (2, 4), strides=2, padding="same"), (1, 7, 8, 2)),
    (lambda: layers.Conv2D(2, 3, dilation_rate=2, padding="same", use_bias=False), (1, 7, 6, 2)),
    (lambda: layers.Conv1D(3, 3, strides=2, padding="same"), (2, 9, 2)),
    (lambda: layers.Conv1D(2, 2, dilation_rate=2, padding="causal"), (2, 7, 2)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same"), (1, 3, 4, 2)),
    (lambda: layers.Conv2DTranspose(2, 2, strides=2), (1, 3, 3, 2)),
    (lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (1, 7, 6, 2)),
    (lambda: layers.AveragePooling2D((2, 3), strides=(2, 1)), (1, 6, 7, 2)),
    (lambda: layers.MaxPooling1D(2), (2, 7, 3)),
    (lambda: layers.AveragePooling1D(3, strides=1, padding="same"), (2, 7, 3)),
    (lambda: layers.GlobalAveragePooling2D(), (2, 3, 4, 3)),
    (lambda: layers.GlobalMaxPooling2D(), (2, 3, 4, 3)),
    (lambda: layers.GlobalAveragePooling1D(), (2, 5, 3)),
    (lambda: layers.GlobalMaxPooling1D(), (2, 5, 3)),
    (lambda: layers.UpSampling2D(2), (1, 3, 2, 2)),
    (lambda: layers.ZeroPadding2D((1, 2)), (1, 3, 2, 2)),
]


@pytest.mark.parametrize("make, shape", LAYER_CASES)
def test_layer_gradients_and_config(randn, make, shape):
    layer = make()
    x = randn(*shape)
    _layer_check(layer, x)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    if layer.weights:
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(clone(x).numpy(), layer(x).numpy())


@pytest.mark.parametrize("make, shape, expected", [
    (lambda: layers.Conv2D(4, 5), (2, 28, 28, 1), (2, 24, 24, 4)),
    (lambda: layers.Conv2D(4, 5, padding="same"), (2, 28, 28, 1), (2, 28, 28, 4)),
    (lambda: layers.Conv2D(4, 3, strides=2, padding="same"), (2, 7, 8, 1), (2, 4, 4, 4)),
    (lambda: layers.Conv2D(4, 3, strides=2), (2, 7, 8, 1), (2, 3, 3, 4)),
    (lambda: layers.Conv2D(4, 3, dilation_rate=2), (2, 7, 8, 1), (2, 3, 4, 4)),
    (lambda: layers.Conv1D(4, 3, strides=2), (2, 10, 3), (2, 4, 4)),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2), (2, 7, 7, 1), (2, 15, 15, 4)),
    (lambda: layers.Conv2DTranspose(4, 4, strides=2, padding="same"), (2, 7, 7, 1), (2, 14, 14, 4)),
    (lambda: layers.MaxPooling2D(2), (2, 7, 7, 3), (2, 3, 3, 3)),
    (lambda: layers.MaxPooling2D(2, padding="same"), (2, 7, 7, 3), (2, 4, 4, 3)),
    (lambda: layers.AveragePooling2D(3, strides=1), (2, 7, 7, 3), (2, 5, 5, 3)),
    (lambda: layers.UpSampling2D((2, 3)), (2, 4, 5, 3), (2, 8, 15, 3)),
    (lambda: layers.ZeroPadding2D(((1, 2), (3, 4))), (2, 4, 5, 3), (2, 7, 12, 3)),
])
def test_output_shapes(make, shape, expected):
    assert make()(np.zeros(shape, dtype=np.float32)).shape == expected


def test_conv_kernel_shapes_and_param_count():
    conv = layers.Conv2D(16, 5)
    conv(np.zeros((1, 14, 14, 6), dtype=np.float32))
    assert conv.kernel.shape == (5, 5, 6, 16) and conv.count_params() == 5 * 5 * 6 * 16 + 16
    transpose = layers.Conv2DTranspose(3, 2)
    transpose(np.zeros((1, 4, 4, 8), dtype=np.float32))
    assert transpose.kernel.shape == (2, 2, 3, 8)
    assert layers.Conv1D(4, 3)(np.zeros((1, 5, 2))).shape == (1, 3, 4)


def test_batch_normalization_on_images(randn):
    """Core BatchNormalization normalises each channel over (batch, height, width)."""
    bn = layers.BatchNormalization()
    x = randn(4, 3, 3, 2)
    out = bn(x, training=True).numpy()
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 1, 2)), x.numpy().var(axis=(0, 1, 2)) / (x.numpy().var(axis=(0, 1, 2)) + 1e-3))
    conv = layers.Conv2D(2, 2)
    conv(x)
    check_gradients(lambda x, k, b: bn(conv(x), training=True), [x] + conv.trainable_weights)


# ---------------------------------------------------------------- errors
def test_missing_channel_axis_error():
    with pytest.raises(ValueError, match=r"conv.*\(batch, height, width, channels\).*\(2, 28, 28\).*x\[\.\.\., None\]"):
        layers.Conv2D(4, 3, name="conv")(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"MaxPooling2D.*\(2, 28, 28\).*channel axis"):
        layers.MaxPooling2D(2)(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match=r"x\[\.\.\., None\]"):
        ops.conv2d(nerve.tensor(np.zeros((2, 5, 5))), nerve.tensor(np.zeros((3, 3, 1, 1))))


def test_kernel_larger_than_input_error():
    with pytest.raises(ValueError, match=r"'big' \(Conv2D\).*kernel \(7, 7\).*\(1, 5, 5, 1\).*\(-1, -1\)"):
        layers.Conv2D(2, 7, name="big")(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"spanning \(5, 5\)"):
        layers.Conv2D(2, 3, dilation_rate=2)(np.zeros((1, 4, 4, 1)))
    layers.Conv2D(2, 7, padding="same")(np.zeros((1, 5, 5, 1)))  # fine: padded to fit


def test_spatial_size_shrinking_to_zero_error_at_model_construction():
    inputs = nerve.Input(shape=(8, 8, 1))
    h = layers.MaxPooling2D(2)(inputs)
    h = layers.MaxPooling2D(2)(h)
    h = layers.MaxPooling2D(2)(h)
    with pytest.raises(ValueError, match=r"MaxPooling2D.*pool window \(2, 2\).*\(1, 1, 1, 1\)"):
        layers.MaxPooling2D(2, name="too_many")(h)
    with pytest.raises(ValueError, match=r"Conv2D.*kernel \(3, 3\)"):
        nerve.Sequential([nerve.Input(shape=(6, 6, 1)), layers.Conv2D(2, 3), layers.Conv2D(2, 3), layers.Conv2D(2, 3)])


def test_argument_errors():
    with pytest.raises(ValueError, match="unknown padding 'full'.*'valid', 'same'"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="kernel_size must be a positive integer or 2"):
        layers.Conv2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        layers.Conv2D(0, 3)
    with pytest.raises(ValueError, match="input has 3 channels.*expects 2"):
        ops.conv2d(nerve.tensor(np.zeros((1, 5, 5, 3))), nerve.tensor(np.zeros((3, 3, 2, 1))))
    with pytest.raises(ValueError, match="ZeroPadding2D: padding must be"):
        layers.ZeroPadding2D(-1)
    conv = layers.Conv2D(2, 3)
    conv(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="built for inputs of rank 4 with 3 features"):
        conv(np.zeros((1, 5, 5, 4)))


# ------------------------------------------------- training, save / load
def _small_convnet():
    return nerve.Sequential([
        nerve.Input(shape=(8, 8, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(6, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(2),
    ])


def _bars(rng, n):
    """Images with a vertical (class 0) or horizontal (class 1) bar at a random place."""
    x = rng.normal(scale=0.1, size=(n, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 2, size=n)
    pos = rng.integers(1, 7, size=n)
    for i in range(n):
        if y[i]:
            x[i, pos[i], :, 0] += 1
        else:
            x[i, :, pos[i], 0] += 1
    return x, y


def test_small_convnet_trains_with_fit(rng):
    nerve.random.seed(0)
    x, y = _bars(rng, 128)
    model = _small_convnet()
    model.compile(optimizer=nerve.optimizers.Adam(1e-2), loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)[0]
    history = model.fit(x, y, batch_size=32, epochs=15, verbose=0)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert loss < 0.5 * before and accuracy > 0.9


def test_save_and_load_conv_model(tmp_path, rng):
    nerve.random.seed(0)
    inputs = nerve.Input(shape=(8, 8, 2))
    h = layers.Conv2D(3, 3, strides=2, padding="same", activation="relu", kernel_regularizer=nerve.regularizers.L2(1e-4))(inputs)
    h = layers.BatchNormalization()(h)
    h = layers.Conv2DTranspose(2, 2, strides=2)(h)
    h = layers.ZeroPadding2D(1)(h)
    h = layers.AveragePooling2D(2, padding="same")(h)
    h = layers.UpSampling2D(2)(h)
    h = layers.MaxPooling2D(3, strides=2)(h)
    h = layers.Conv1D(2, 2)(layers.Reshape((-1, 2))(h))
    h = layers.MaxPooling1D(2)(h)
    outputs = layers.GlobalMaxPooling1D()(h)
    model = nerve.Model(inputs, outputs)
    x = rng.normal(size=(3, 8, 8, 2)).astype(np.float32)
    path = tmp_path / "conv_model"
    model.save(path)
    loaded = nerve.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in loaded.layers] == [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_fused_relu_matches_composed_and_gradchecks(padding):
    rng = np.random.default_rng(7)
    x = nerve.tensor(rng.normal(size=(2, 6, 7, 3)), dtype="float64", requires_grad=True)
    k = nerve.tensor(rng.normal(size=(3, 3, 3, 4)), dtype="float64", requires_grad=True)
    b = nerve.tensor(rng.normal(size=(4,)) * 0.1, dtype="float64", requires_grad=True)
    fused = nerve.ops.conv2d(x, k, b, padding=padding, activation="relu")
    composed = nerve.ops.relu(nerve.ops.conv2d(x, k, b, padding=padding))
    np.testing.assert_array_equal(fused.numpy(), composed.numpy())
    check_gradients(lambda x, k, b: nerve.ops.conv2d(x, k, b, padding=padding, activation="relu"), [x, k, b])
    layer = nerve.layers.Conv2D(4, 3, padding=padding, activation="relu")
    layer(x)
    assert layer(x).op.relu  # the layer takes the fused path
