"""Keras 3's activations beyond the classic ones (issue 18): values and gradients against PyTorch in float64."""

import numpy as np
import pytest

import nerve
from nerve import activations, layers

torch = pytest.importorskip("torch")
F = torch.nn.functional

CASES = {
    "selu": (activations.selu, F.selu),
    "mish": (activations.mish, F.mish),
    "relu6": (activations.relu6, F.relu6),
    "hard_sigmoid": (activations.hard_sigmoid, F.hardsigmoid),
    "hard_silu": (activations.hard_silu, F.hardswish),
    "softsign": (activations.softsign, F.softsign),
    "log_sigmoid": (activations.log_sigmoid, F.logsigmoid),
    "log_softmax": (activations.log_softmax, lambda t: F.log_softmax(t, dim=-1)),
    "celu": (lambda x: activations.celu(x, alpha=1.5), lambda t: F.celu(t, alpha=1.5)),
    "exponential": (activations.exponential, torch.exp),
    "glu": (activations.glu, lambda t: F.glu(t, dim=-1)),
    "hard_tanh": (activations.hard_tanh, F.hardtanh),
    "hard_shrink": (activations.hard_shrink, lambda t: F.hardshrink(t, 0.5)),
    "soft_shrink": (lambda x: activations.soft_shrink(x, 0.7), lambda t: F.softshrink(t, 0.7)),
    "tanh_shrink": (activations.tanh_shrink, F.tanhshrink),
    "threshold": (lambda x: activations.threshold(x, 0.3, -2.0), lambda t: F.threshold(t, 0.3, -2.0)),
    "squareplus": (lambda x: activations.squareplus(x, b=2), lambda t: (t + torch.sqrt(t * t + 2)) / 2),
    "sparse_plus": (activations.sparse_plus,
                    lambda t: torch.where(t >= 1, t, torch.where(t <= -1, 0 * t, (t + 1) ** 2 / 4))),
    "sparse_sigmoid": (activations.sparse_sigmoid, lambda t: torch.clamp((t + 1) / 2, 0, 1)),
}


def _inputs():
    x = np.random.default_rng(0).normal(scale=3.0, size=(4, 8))
    x[np.abs(np.abs(x) - 0.5) < 1e-3] += 0.01  # away from the kinks
    return x


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name):
    ours_fn, torch_fn = CASES[name]
    x = _inputs()
    upstream = np.random.default_rng(1).normal(size=torch_fn(torch.tensor(x)).shape)
    ours = nerve.tensor(x, requires_grad=True)
    out = ours_fn(ours)
    out.backward(nerve.tensor(upstream))
    theirs = torch.tensor(x, requires_grad=True)
    expected = torch_fn(theirs)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    # torch's hardsigmoid backward multiplies by 1/6 rounded to float32 (relative 3e-8); the exact one is checked below
    grad_rtol = 1e-7 if name == "hard_sigmoid" else 1e-10
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=grad_rtol, atol=1e-12)


def test_hard_sigmoid_gradient_is_exactly_one_sixth_inside():
    x = nerve.tensor(np.array([-4.0, -1.0, 0.5, 2.9, 3.5]), requires_grad=True)
    activations.hard_sigmoid(x).backward(nerve.tensor(np.ones(5)))
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 1 / 6, 1 / 6, 1 / 6, 0.0], rtol=1e-15)


@pytest.mark.parametrize("name", ["selu", "mish", "hard_silu", "softsign", "log_sigmoid", "celu", "glu", "squareplus"])
def test_activation_names_in_layers_save_and_load(name, tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(6, activation=name)])
    model.save(tmp_path / "m.nerve")
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert activations.serialize(activations.get(name)) == name


def test_glu_odd_axis_is_an_error_and_deserialize():
    with pytest.raises(ValueError, match="even size"):
        activations.glu(nerve.tensor(np.ones((2, 3))))
    assert activations.deserialize({"class_name": "mish"}) is activations.mish
    assert activations.get("hard_swish") is activations.hard_silu
