"""Convolution and pooling against PyTorch (torch.nn.functional) on random inputs, same weights.

nerve is channels-last with kernels ``(KH, KW, C_in, C_out)``; PyTorch is
channels-first with weights ``(C_out, C_in, KH, KW)``: the helpers transpose.
For ``padding="same"`` the TensorFlow/Keras padding (the extra pixel after)
is applied explicitly with ``F.pad``, since PyTorch pads symmetrically.
"""

import numpy as np
import pytest

import nerve
from nerve import layers, ops

torch = pytest.importorskip("torch")
F = torch.nn.functional


def to_torch(array, requires_grad=True):
    """NHWC (or NLC) float64 array -> NCHW (or NCL) torch tensor."""
    axes = (0, array.ndim - 1) + tuple(range(1, array.ndim - 1))
    return torch.tensor(np.ascontiguousarray(array.transpose(axes)), requires_grad=requires_grad)


def from_torch(t):
    array = t.detach().numpy()
    axes = (0,) + tuple(range(2, array.ndim)) + (1,)
    return array.transpose(axes)


def torch_same_pad(X, kernel, strides, dilation, spatial):
    """F.pad arguments (last axis first) reproducing the TF/Keras 'same' padding."""
    pads = []
    for size, k, s, d in reversed(list(zip(spatial, kernel, strides, dilation))):
        pads.extend(ops.conv_padding(size, k, s, "same", d))
    return F.pad(X, pads)


def run_both(nerve_fn, torch_fn, inputs_nhwc, rng):
    """Run both with the same inputs and the same upstream gradient; return (nerve results, torch results)."""
    tensors = [nerve.tensor(a, requires_grad=True) for a in inputs_nhwc]
    out = nerve_fn(*tensors)
    upstream = rng.normal(size=out.shape)
    out.backward(upstream)
    torch_out, torch_inputs = torch_fn()
    torch_out.backward(to_torch(upstream, requires_grad=False))
    return out, tensors, torch_out, torch_inputs


@pytest.mark.parametrize("hw, kernel, strides, padding, dilation", [
    ((9, 8), (3, 3), (1, 1), "valid", (1, 1)),
    ((9, 8), (3, 3), (1, 1), "same", (1, 1)),
    ((9, 8), (4, 2), (1, 1), "same", (1, 1)),
    ((10, 9), (4, 4), (2, 2), "same", (1, 1)),
    ((11, 9), (3, 3), (2, 1), "valid", (2, 1)),
    ((12, 12), (5, 5), (1, 1), "same", (1, 1)),
    ((10, 10), (3, 3), (2, 2), "same", (2, 2)),
])
def test_conv2d_matches_torch(rng, hw, kernel, strides, padding, dilation):
    x = rng.normal(size=(3, *hw, 4))
    k = rng.normal(size=(*kernel, 4, 5))
    b = rng.normal(size=5)
    X, K, B = to_torch(x), torch.tensor(k.transpose(3, 2, 0, 1).copy(), requires_grad=True), torch.tensor(b, requires_grad=True)

    def torch_fn():
        Xp = torch_same_pad(X, kernel, strides, dilation, hw) if padding == "same" else X
        return F.conv2d(Xp, K, B, stride=strides, dilation=dilation), (X, K, B)

    out, (xt, kt, bt), Y, _ = run_both(
        lambda x, k, b: ops.conv2d(x, k, b, strides, padding, dilation), torch_fn, [x, k, b], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(kt.grad.numpy(), K.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bt.grad.numpy(), B.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_conv2d_float32_matches_torch(rng):
    """The LeNet layer shapes in float32, as used for training."""
    x = rng.normal(size=(8, 28, 28, 1)).astype(np.float32)
    k = rng.normal(size=(5, 5, 1, 6)).astype(np.float32)
    out = ops.conv2d(nerve.tensor(x), nerve.tensor(k), padding="same")
    Y = F.conv2d(torch.tensor(x.transpose(0, 3, 1, 2).copy()), torch.tensor(k.transpose(3, 2, 0, 1).copy()), padding=2)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("length, kernel, stride, padding, dilation", [
    (12, 3, 1, "valid", 1), (12, 4, 1, "same", 1), (13, 3, 2, "same", 1), (12, 3, 1, "causal", 2),
])
def test_conv1d_matches_torch(rng, length, kernel, stride, padding, dilation):
    x = rng.normal(size=(2, length, 3))
    k = rng.normal(size=(kernel, 3, 4))
    X, K = to_torch(x), torch.tensor(k.transpose(2, 1, 0).copy(), requires_grad=True)

    def torch_fn():
        if padding == "causal":
            Xp = F.pad(X, ((kernel - 1) * dilation, 0))
        elif padding == "same":
            Xp = F.pad(X, ops.conv_padding(length, kernel, stride, "same", dilation))
        else:
            Xp = X
        return F.conv1d(Xp, K, stride=stride, dilation=dilation), (X, K)

    out, (xt, kt), Y, _ = run_both(lambda x, k: ops.conv1d(x, k, None, stride, padding, dilation), torch_fn, [x, k], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(kt.grad.numpy(), K.grad.numpy().transpose(2, 1, 0), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("hw, kernel, strides, padding", [
    ((4, 5), (3, 3), (2, 2), "valid"),
    ((4, 5), (2, 2), (2, 2), "valid"),
    ((4, 5), (3, 3), (1, 1), "valid"),
    ((4, 4), (3, 3), (2, 2), "same"),
    ((4, 4), (4, 4), (2, 2), "same"),
])
def test_conv2d_transpose_matches_torch(rng, hw, kernel, strides, padding):
    x = rng.normal(size=(2, *hw, 3))
    k = rng.normal(size=(*kernel, 4, 3))  # (kh, kw, filters, in)
    b = rng.normal(size=4)
    # torch's weight for conv_transpose2d is (in, out, kh, kw)
    X, K, B = to_torch(x), torch.tensor(k.transpose(3, 2, 0, 1).copy(), requires_grad=True), torch.tensor(b, requires_grad=True)
    out_hw = [ops.deconv_output_length(n, kk, s, padding) for n, kk, s in zip(hw, kernel, strides)]
    pads = [ops.conv_padding(n, kk, s, padding) for n, kk, s in zip(out_hw, kernel, strides)]

    def torch_fn():
        # full transposed conv, then crop TF's padding (and pad an output that torch makes too short)
        full = F.conv_transpose2d(X, K, B, stride=strides)
        full = F.pad(full, (0, max(out_hw[1] + sum(pads[1]) - full.shape[3], 0), 0, max(out_hw[0] + sum(pads[0]) - full.shape[2], 0)))
        (pt, _), (pl, _) = pads
        return full[:, :, pt : pt + out_hw[0], pl : pl + out_hw[1]], (X, K, B)

    out, (xt, kt, bt), Y, _ = run_both(lambda x, k, b: ops.conv2d_transpose(x, k, b, strides, padding), torch_fn, [x, k, b], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(kt.grad.numpy(), K.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(bt.grad.numpy(), B.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("hw, pool, strides", [
    ((8, 8), (2, 2), (2, 2)), ((9, 7), (2, 2), (2, 2)), ((9, 8), (3, 3), (2, 2)), ((8, 9), (2, 3), (1, 2)), ((7, 7), (3, 3), (1, 1)),
])
def test_pooling_matches_torch(rng, kind, hw, pool, strides):
    x = rng.normal(size=(2, *hw, 3))
    X = to_torch(x)
    nerve_fn = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    torch_fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    out, (xt,), Y, _ = run_both(lambda x: nerve_fn(x, pool, strides), lambda: (torch_fn(X, pool, strides), (X,)), [x], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-12, atol=1e-12)


def test_max_pool_same_matches_torch_with_explicit_padding(rng):
    x = rng.normal(size=(2, 7, 8, 3))
    X = to_torch(x)
    pads = [ops.conv_padding(n, 3, 2, "same") for n in (7, 8)]

    def torch_fn():
        Xp = F.pad(X, pads[1] + pads[0], value=-np.inf)
        return F.max_pool2d(Xp, 3, 2), (X,)

    out, (xt,), Y, _ = run_both(lambda x: ops.max_pool2d(x, 3, 2, "same"), torch_fn, [x], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-12)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool1d_matches_torch(rng, kind):
    x = rng.normal(size=(2, 11, 3))
    X = to_torch(x)
    nerve_fn = ops.max_pool1d if kind == "max" else ops.avg_pool1d
    torch_fn = F.max_pool1d if kind == "max" else F.avg_pool1d
    out, (xt,), Y, _ = run_both(lambda x: nerve_fn(x, 3, 2), lambda: (torch_fn(X, 3, 2), (X,)), [x], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y), rtol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-12)


def test_upsampling_matches_torch(rng):
    x = rng.normal(size=(2, 3, 4, 2))
    X = to_torch(x)
    out, (xt,), Y, _ = run_both(lambda x: ops.upsample2d(x, (2, 3)),
                                lambda: (F.interpolate(X, scale_factor=(2, 3), mode="nearest"), (X,)), [x], rng)
    np.testing.assert_allclose(out.numpy(), from_torch(Y))
    np.testing.assert_allclose(xt.grad.numpy(), from_torch(X.grad), rtol=1e-12)


def test_lenet_forward_backward_matches_torch(rng):
    """A whole LeNet-5 (layers API) against the same network in torch, same weights, float64."""
    nerve.random.seed(0)
    model = nerve.Sequential([
        nerve.Input(shape=(28, 28, 1), dtype="float64"),
        layers.Conv2D(6, 5, padding="same", activation="relu", dtype="float64"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 5, activation="relu", dtype="float64"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu", dtype="float64"),
        layers.Dense(84, activation="relu", dtype="float64"),
        layers.Dense(10, dtype="float64"),
    ])
    x = rng.random((4, 28, 28, 1))
    y = rng.integers(0, 10, size=4)
    loss = nerve.losses.SparseCategoricalCrossentropy(from_logits=True)(nerve.tensor(y), model(nerve.tensor(x), training=True))
    loss.backward()
    c1, c2, d1, d2, d3 = [layer for layer in model.layers if layer.weights]
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10),
    ).double()
    with torch.no_grad():
        for conv, mod in ((c1, net[0]), (c2, net[3])):
            mod.weight.copy_(torch.tensor(conv.kernel.numpy().transpose(3, 2, 0, 1).copy()))
            mod.bias.copy_(torch.tensor(conv.bias.numpy()))
        # nerve flattens (h, w, c); torch flattens (c, h, w): permute the first dense kernel's rows
        w1 = d1.kernel.numpy().reshape(5, 5, 16, 120).transpose(2, 0, 1, 3).reshape(400, 120)
        for dense, mod, w in ((d1, net[7], w1), (d2, net[9], d2.kernel.numpy()), (d3, net[11], d3.kernel.numpy())):
            mod.weight.copy_(torch.tensor(w.T.copy()))
            mod.bias.copy_(torch.tensor(dense.bias.numpy()))
    torch_loss = F.cross_entropy(net(to_torch(x, requires_grad=False)), torch.tensor(y))
    torch_loss.backward()
    np.testing.assert_allclose(loss.item(), torch_loss.item(), rtol=1e-12)
    np.testing.assert_allclose(c1.kernel.grad.numpy(), net[0].weight.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c2.kernel.grad.numpy(), net[3].weight.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c2.bias.grad.numpy(), net[3].bias.grad.numpy(), rtol=1e-9, atol=1e-12)
