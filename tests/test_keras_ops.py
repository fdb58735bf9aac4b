"""nerve.ops under Keras 3's names (issue 18): values against NumPy, gradients against PyTorch (float64)."""

import numpy as np
import pytest

import nerve
from nerve import ops

rng = np.random.default_rng(0)
X = rng.uniform(0.5, 2.0, size=(3, 4))
S = rng.normal(size=(3, 4))


def test_aliases_are_the_same_functions():
    assert ops.subtract is ops.sub and ops.multiply is ops.mul and ops.divide is ops.div
    assert ops.true_divide is ops.div and ops.negative is ops.neg and ops.power is ops.pow
    assert ops.absolute is ops.abs and ops.swish is ops.silu and ops.get_item is ops.getitem


@pytest.mark.parametrize("name, reference, data", [
    ("square", np.square, S), ("reciprocal", np.reciprocal, X), ("rsqrt", lambda x: 1 / np.sqrt(x), X),
    ("log1p", np.log1p, X), ("expm1", np.expm1, S), ("log2", np.log2, X), ("log10", np.log10, X),
    ("exp2", np.exp2, S), ("sin", np.sin, S), ("cos", np.cos, S), ("tan", np.tan, S),
    ("ravel", np.ravel, S), ("floor", np.floor, S), ("ceil", np.ceil, S), ("sign", np.sign, S),
    ("trunc", np.trunc, S), ("isfinite", np.isfinite, S),
])
def test_elementwise_values(name, reference, data):
    np.testing.assert_allclose(getattr(ops, name)(nerve.tensor(data)).numpy(), reference(data), rtol=1e-12)


@pytest.mark.parametrize("name, torch_fn, data", [
    ("square", lambda t: t * t, S), ("reciprocal", lambda t: 1 / t, X), ("rsqrt", lambda t: t.rsqrt(), X),
    ("log1p", lambda t: t.log1p(), X), ("expm1", lambda t: t.expm1(), S), ("log2", lambda t: t.log2(), X),
    ("log10", lambda t: t.log10(), X), ("exp2", lambda t: t.exp2(), S), ("sin", lambda t: t.sin(), S),
    ("cos", lambda t: t.cos(), S), ("tan", lambda t: t.tan(), S), ("cumsum", lambda t: t.cumsum(1), S),
    ("sort", lambda t: t.sort(-1).values, S), ("flip", lambda t: t.flip(1), S),
    ("normalize", lambda t: t / t.norm(dim=-1, keepdim=True), S), ("norm", lambda t: t.norm(), S),
    ("top_k", lambda t: t.topk(2, dim=-1).values, S), ("moveaxis", lambda t: t.movedim(0, 1), S),
])
def test_gradients_match_torch(name, torch_fn, data):
    torch = pytest.importorskip("torch")
    call = {"cumsum": lambda x: ops.cumsum(x, axis=1), "flip": lambda x: ops.flip(x, axis=1),
            "top_k": lambda x: ops.top_k(x, 2)[0], "moveaxis": lambda x: ops.moveaxis(x, 0, 1)}.get(
        name, getattr(ops, name))
    ours = nerve.tensor(data, requires_grad=True)
    out = call(ours)
    theirs = torch.tensor(data, requires_grad=True)
    expected = torch_fn(theirs)
    upstream = np.random.default_rng(1).normal(size=expected.shape)
    out.backward(nerve.tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_indexing_ops_follow_numpy():
    x = nerve.tensor(S)
    np.testing.assert_array_equal(ops.argmax(x, axis=1).numpy(), S.argmax(1))
    np.testing.assert_array_equal(ops.argmin(x).numpy(), S.argmin())
    np.testing.assert_array_equal(ops.argsort(x, axis=0).numpy(), S.argsort(0, kind="stable"))
    idx = rng.integers(0, 4, size=(3, 2))
    np.testing.assert_array_equal(ops.take_along_axis(x, idx, axis=1).numpy(), np.take_along_axis(S, idx, 1))
    np.testing.assert_array_equal(ops.take(x, [2, 0], axis=1).numpy(), np.take(S, [2, 0], axis=1))
    np.testing.assert_array_equal(ops.take(x, [5]).numpy(), np.take(S, [5]))
    values, indices = ops.top_k(x, 3, sorted=False)
    np.testing.assert_array_equal(np.sort(indices.numpy(), 1), indices.numpy())
    targets = S.argmax(1)
    assert ops.in_top_k(targets, x, 1).numpy().all()
    np.testing.assert_array_equal(ops.slice(x, (1, 1), (2, 2)).numpy(), S[1:3, 1:3])
    with pytest.raises(ValueError, match="top_k"):
        ops.top_k(x, 9)


def test_creation_shape_and_logic_helpers():
    assert ops.zeros((2, 3)).shape == (2, 3) and ops.ones((2,), dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(ops.eye(3, 2, k=-1).numpy(), np.eye(3, 2, k=-1))
    np.testing.assert_array_equal(ops.arange(1, 7, 2).numpy(), [1, 3, 5])
    np.testing.assert_allclose(ops.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5), rtol=1e-7)
    x = nerve.tensor(S)
    assert ops.full_like(x, 2.0).numpy().sum() == 24 and ops.zeros_like(x).dtype == x.dtype
    assert ops.shape(x) == (3, 4) and ops.ndim(x) == 2 and ops.size(x) == 12 and ops.is_tensor(x)
    assert ops.swapaxes(nerve.tensor(np.zeros((2, 3, 4))), 0, 2).shape == (4, 3, 2)
    assert ops.hstack([x, x]).shape == (3, 8) and ops.vstack([x, x]).shape == (6, 4)
    assert ops.logical_xor([True, False], [True, True]).tolist() == [False, True]
    assert ops.all(nerve.tensor([1.0, 1.0])).item() and not ops.any(nerve.tensor([0.0])).item()
    assert ops.round(nerve.tensor([2.5, 0.125], dtype="float64"), decimals=2).tolist() == [2.5, 0.12]
    mean, variance = ops.moments(x, axes=[0])
    np.testing.assert_allclose(mean.numpy(), S.mean(0)), np.testing.assert_allclose(variance.numpy(), S.var(0))
    assert ops.norm(x, ord=np.inf).item() == pytest.approx(np.abs(S).max())
    assert ops.dot(nerve.tensor([1.0, 2.0]), nerve.tensor([3.0, 4.0])).item() == 11.0
    w = nerve.tensor([2.0], requires_grad=True)
    assert not ops.stop_gradient(w * 3).requires_grad
    assert ops.convert_to_numpy(ops.convert_to_tensor([1, 2], dtype="float64")).dtype == np.float64


def test_keras_ops_on_functional_inputs_are_graph_nodes(tmp_path):
    inputs = nerve.Input(shape=(4,))
    out = ops.square(ops.normalize(inputs)) + ops.sin(inputs)
    model = nerve.Model(inputs, out)
    data = S.astype("float32")
    expected = (S / np.linalg.norm(S, axis=1, keepdims=True)) ** 2 + np.sin(S)
    np.testing.assert_allclose(model(data).numpy(), expected, rtol=1e-5)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(data).numpy(), expected, rtol=1e-5)
