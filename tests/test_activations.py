"""Tests for nerve.activations: values vs NumPy formulas, gradients, name lookup, PyTorch agreement."""

import math
import warnings

import numpy as np
import pytest

import nerve
from nerve import activations, ops
from nerve.gradcheck import check_gradients


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _gelu_exact(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# name -> (nerve function, NumPy reference)
REFERENCES = {
    "linear": (activations.linear, lambda x: x),
    "sigmoid": (activations.sigmoid, _sigmoid),
    "tanh": (activations.tanh, np.tanh),
    "relu": (activations.relu, lambda x: np.maximum(x, 0.0)),
    "leaky_relu": (activations.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (activations.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1.0)),
    "softmax": (activations.softmax, _softmax),
    "gelu": (activations.gelu, _gelu_exact),
    "silu": (activations.silu, lambda x: x * _sigmoid(x)),
    "swish": (activations.swish, lambda x: x * _sigmoid(x)),
    "softplus": (activations.softplus, lambda x: np.log1p(np.exp(x))),
}


def _inputs(shape=(4, 5), seed=0):
    """Random float64 points kept away from the kinks of relu & co at 0."""
    x = np.random.default_rng(seed).normal(scale=2.0, size=shape)
    return np.where(np.abs(x) < 0.05, 0.3, x)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_values_match_numpy_formula(name):
    fn, reference = REFERENCES[name]
    x = _inputs()
    out = fn(nerve.tensor(x))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), reference(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_float32_stays_float32(name):
    fn, reference = REFERENCES[name]
    x = _inputs().astype(np.float32)
    out = fn(nerve.tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), reference(x.astype(np.float64)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(set(REFERENCES) - {"linear"}))
def test_gradients_match_central_differences(name):
    fn, _ = REFERENCES[name]
    x = nerve.tensor(_inputs(seed=1), requires_grad=True)
    assert check_gradients(fn, [x])


def test_linear_gradient_passes_through():
    x = nerve.tensor(_inputs(), requires_grad=True)
    (activations.linear(x) * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(x.shape, 3.0))


def test_parameters_alpha_and_axis():
    x = _inputs()
    np.testing.assert_allclose(activations.leaky_relu(nerve.tensor(x), alpha=0.5).numpy(), np.where(x > 0, x, 0.5 * x))
    np.testing.assert_allclose(activations.elu(nerve.tensor(x), alpha=2.0).numpy(), np.where(x > 0, x, 2.0 * np.expm1(x)))
    np.testing.assert_allclose(activations.softmax(nerve.tensor(x), axis=0).numpy(), _softmax(x, axis=0))
    assert check_gradients(lambda t: activations.leaky_relu(t, alpha=0.5), [nerve.tensor(x, requires_grad=True)])
    assert check_gradients(lambda t: activations.elu(t, alpha=2.0), [nerve.tensor(x, requires_grad=True)])
    assert check_gradients(lambda t: activations.softmax(t, axis=0), [nerve.tensor(x, requires_grad=True)])


def test_sigmoid_saturates_without_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dtype in ("float32", "float64"):
            out = activations.sigmoid(nerve.tensor([1000.0, -1000.0], dtype=dtype)).numpy()
            assert out.tolist() == [1.0, 0.0]
            assert activations.softplus(nerve.tensor([1000.0, -1000.0], dtype=dtype)).numpy()[0] == 1000.0
            assert np.all(np.isfinite(activations.softmax(nerve.tensor([[1e4, -1e4, 0.0]], dtype=dtype)).numpy()))


def test_get_names_case_and_none():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("ReLU") is activations.relu
    assert activations.get("SWISH") is activations.silu
    for name in REFERENCES:
        assert activations.get(name) is REFERENCES[name][0]


def test_get_returns_callables_unchanged():
    def custom(x):
        return x * 2

    assert activations.get(custom) is custom
    assert activations.get(ops.relu) is ops.relu


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        activations.get("rleu")
    message = str(info.value)
    assert "'rleu'" in message
    for name in REFERENCES:
        assert name in message


def test_get_rejects_non_callables():
    with pytest.raises(TypeError, match="int"):
        activations.get(3)


def test_serialize_round_trip():
    for name, (fn, _) in REFERENCES.items():
        saved = activations.serialize(fn)
        assert activations.get(saved) is fn or (name == "swish" and saved == "silu")
    assert activations.serialize(None) == "linear"
    assert activations.serialize("Tanh") == "tanh"
    assert activations.serialize(ops.relu) == "relu"


def test_serialize_custom_callable_raises():
    def my_activation(x):
        return x

    with pytest.raises(ValueError, match="my_activation"):
        activations.serialize(my_activation)
    with pytest.raises(ValueError, match="custom"):
        activations.serialize(lambda x: x)
    # ops.leaky_relu has a different default alpha, so it must not be saved as 'leaky_relu'
    with pytest.raises(ValueError):
        activations.serialize(ops.leaky_relu)


# ------------------------------------------------------------------ PyTorch
TORCH_EQUIVALENTS = {
    "sigmoid": lambda F, t: F.sigmoid(t),
    "tanh": lambda F, t: F.tanh(t),
    "relu": lambda F, t: F.relu(t),
    "leaky_relu": lambda F, t: F.leaky_relu(t, 0.2),
    "elu": lambda F, t: F.elu(t, 1.0),
    "softmax": lambda F, t: F.softmax(t, dim=-1),
    "gelu": lambda F, t: F.gelu(t),
    "silu": lambda F, t: F.silu(t),
    "softplus": lambda F, t: F.softplus(t),
}


@pytest.mark.parametrize("name", sorted(TORCH_EQUIVALENTS))
def test_matches_torch_values_and_gradients(name):
    torch = pytest.importorskip("torch")
    x = _inputs(shape=(3, 6), seed=2)
    upstream = np.random.default_rng(3).normal(size=x.shape)

    ours = nerve.tensor(x, requires_grad=True)
    out = REFERENCES[name][0](ours)
    out.backward(upstream)

    theirs = torch.tensor(x, requires_grad=True)
    expected = TORCH_EQUIVALENTS[name](torch.nn.functional, theirs)
    expected.backward(torch.tensor(upstream))

    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
