"""Keras 3 idioms on nerve (issue 18): functional helpers, ops on symbolic tensors, model/layer idioms."""

import json

import numpy as np
import pytest

import nerve
from nerve import layers


def test_ops_on_symbolic_inputs_become_graph_nodes_and_save(tmp_path):
    a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(3,))
    merged = nerve.concatenate([nerve.ops.relu(a), b * 2.0, 1.0 - b], axis=-1)
    model = nerve.Model([a, b], merged)
    xa, xb = np.array([[-1.0, 1.0], [2.0, -3.0]]), np.arange(6.0).reshape(2, 3)
    expected = np.concatenate([np.maximum(xa, 0), xb * 2, 1 - xb], axis=-1)
    np.testing.assert_allclose(model([xa, xb]).numpy(), expected)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")([xa, xb]).numpy(), expected)


def test_symbolic_operators_indexing_and_dtype_arguments(tmp_path):
    x = nerve.Input(shape=(4, 3))
    y = -(x[:, 1:, ::2] ** 2) / 2.0 @ np.ones((2, 2), dtype=np.float32)
    z = nerve.ops.cast(nerve.ops.sum(y, axis=(1, 2)), np.float64)
    model = nerve.Model(x, z)
    data = np.random.default_rng(0).normal(size=(5, 4, 3)).astype(np.float32)
    expected = ((-(data[:, 1:, ::2] ** 2) / 2) @ np.ones((2, 2))).sum(axis=(1, 2))
    out = model(data)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(data).numpy(), expected, rtol=1e-5)


def test_symbolic_op_gradients_flow_to_earlier_layers():
    x = nerve.Input(shape=(3,))
    h = layers.Dense(4)(x)
    model = nerve.Model(x, layers.Dense(1)(nerve.ops.tanh(h) * 3.0))
    model.compile(optimizer="sgd", loss="mse")
    before = model.layers[0].kernel.numpy().copy()
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
    assert not np.allclose(before, model.layers[0].kernel.numpy())


def test_symbolic_tensor_refuses_numpy_conversion():
    with pytest.raises(TypeError, match="placeholder"):
        np.asarray(nerve.Input(shape=(2,)))


def test_op_layer_config_names_only_public_ops():
    config = {"op": "system", "args": [], "kwargs": {}, "name": "bad"}
    with pytest.raises(ValueError, match="not a public function of nerve.ops"):
        layers.OpLayer.from_config(config)
    with pytest.raises(ValueError, match="not a public function of nerve.ops"):
        layers.OpLayer.from_config({**config, "op": "_as_tensor"})


@pytest.mark.parametrize("helper, cls, fn", [
    ("add", "Add", lambda a, b: a + b), ("subtract", "Subtract", lambda a, b: a - b),
    ("multiply", "Multiply", lambda a, b: a * b), ("average", "Average", lambda a, b: (a + b) / 2),
    ("maximum", "Maximum", np.maximum), ("minimum", "Minimum", np.minimum),
    ("concatenate", "Concatenate", lambda a, b: np.concatenate([a, b], axis=-1)),
])
def test_functional_merge_helpers(helper, cls, fn, tmp_path):
    a, b = nerve.Input(shape=(3,)), nerve.Input(shape=(3,))
    out = getattr(layers, helper)([a, b], name=f"merge_{helper}")
    model = nerve.Model([a, b], out)
    assert type(model.get_layer(f"merge_{helper}")).__name__ == cls
    xa, xb = np.array([[1.0, -2.0, 3.0]]), np.array([[0.5, 4.0, -1.0]])
    np.testing.assert_allclose(model([xa, xb]).numpy(), fn(xa, xb))
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")([xa, xb]).numpy(), fn(xa, xb))


def test_dot_matches_torch_batched_products_and_cosine():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 6, 3))
    tx, ty = torch.tensor(x), torch.tensor(y)
    out = layers.Dot(axes=2)([x, y]).numpy()
    np.testing.assert_allclose(out, torch.bmm(tx, ty.transpose(1, 2)).numpy(), rtol=1e-5)
    u, v = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 6))
    out = layers.Dot(axes=1)([u, v]).numpy()  # (4, 3, 6)
    np.testing.assert_allclose(out, torch.bmm(torch.tensor(u).transpose(1, 2), torch.tensor(v)).numpy(), rtol=1e-5)
    p, q = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    cos = torch.nn.functional.cosine_similarity(torch.tensor(p), torch.tensor(q)).numpy()[:, None]
    np.testing.assert_allclose(layers.dot([p, q], axes=1, normalize=True).numpy(), cos, rtol=1e-5)


def test_dot_gradient_check():
    rng = np.random.default_rng(1)
    x = nerve.tensor(rng.normal(size=(2, 3, 4)), requires_grad=True)
    y = nerve.tensor(rng.normal(size=(2, 5, 4)), requires_grad=True)
    layer = layers.Dot(axes=(2, 2), normalize=True)
    assert nerve.gradcheck.gradcheck(lambda a, b: layer([a, b]), [x, y])


def test_dot_errors_name_the_layer():
    with pytest.raises(ValueError, match="'d'.*differ in size"):
        layers.Dot(axes=1, name="d")([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="batch axis"):
        layers.Dot(axes=0)([np.ones((2, 3)), np.ones((2, 3))])
