"""nerve.ops against PyTorch: same float64 random inputs, same upstream gradient, values and gradients compared.

Skipped when torch is not installed.
"""

import numpy as np
import pytest

import nerve
from nerve import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL, ATOL = 1e-10, 1e-12


def normal(rng, *shape):
    return rng.normal(size=shape)


def positive(rng, *shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away(rng, *shape):
    """Values with |x| in [0.2, 2], away from the kinks of relu, leaky_relu, elu and abs."""
    return rng.uniform(0.2, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def unit(rng, *shape):
    return rng.uniform(0.0, 1.0, size=shape)


def compare_with_torch(rng, nerve_fn, torch_fn, *arrays):
    """Run both functions on the same float64 arrays; compare outputs and every input's gradient."""
    ours = [nerve.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = nerve_fn(*ours)
    expected = torch_fn(*theirs)
    assert out.shape == tuple(expected.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg="forward")
    upstream = rng.uniform(0.5, 1.5, size=out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (t, r) in enumerate(zip(ours, theirs)):
        assert t.grad is not None, f"no gradient for input {i}"
        np.testing.assert_allclose(t.grad.numpy(), r.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=f"grad of input {i}")


LABELS = np.array([2, 0, 4, 4, 1, 3])
CONDITION = np.array([[True, False, False, True]] * 3)


def _cases():
    c = []

    def case(name, nerve_fn, torch_fn, *inputs):
        c.append(pytest.param(nerve_fn, torch_fn, inputs, id=name))

    # broadcast arithmetic and reflected forms
    case("add", lambda a, b: a + b, lambda a, b: a + b, (normal, 3, 4), (normal, 4))
    case("sub", lambda a, b: a - b, lambda a, b: a - b, (normal, 3, 1), (normal, 1, 4))
    case("mul", lambda a, b: a * b, lambda a, b: a * b, (normal, 2, 3, 4), (normal, 3, 1))
    case("div", lambda a, b: a / b, lambda a, b: a / b, (normal, 3, 4), (away, 4))
    case("pow-tensor", lambda a, b: a**b, lambda a, b: a**b, (positive, 3, 4), (normal, 3, 1))
    case("pow-scalar", lambda a: a**3, lambda a: a**3, (normal, 3, 4))
    case("rsub", lambda a: 2 - a, lambda a: 2 - a, (normal, 3, 4))
    case("rdiv", lambda a: 2 / a, lambda a: 2 / a, (away, 3, 4))
    case("rpow", lambda a: 2**a, lambda a: 2**a, (normal, 3, 4))
    # matmul and linear
    case("matmul-batched", lambda a, b: a @ b, lambda a, b: a @ b, (normal, 2, 1, 3, 4), (normal, 5, 4, 2))
    case("matmul-1d-2d", lambda a, b: a @ b, lambda a, b: a @ b, (normal, 4), (normal, 4, 3))
    case("matmul-3d-1d", lambda a, b: a @ b, lambda a, b: a @ b, (normal, 2, 3, 4), (normal, 4))
    case("linear-3d", ops.linear, lambda x, w, b: x @ w + b, (normal, 2, 5, 4), (normal, 4, 3), (normal, 3))
    # elementwise
    case("exp", ops.exp, torch.exp, (normal, 3, 4))
    case("log", ops.log, torch.log, (positive, 3, 4))
    case("sqrt", ops.sqrt, torch.sqrt, (positive, 3, 4))
    case("abs", ops.abs, torch.abs, (away, 3, 4))
    case("clip", lambda x: x.clip(-0.5, 0.7), lambda x: x.clamp(-0.5, 0.7), (normal, 4, 5))
    case("maximum", ops.maximum, torch.maximum, (normal, 3, 4), (normal, 4))
    case("minimum", ops.minimum, torch.minimum, (normal, 3, 1), (normal, 1, 4))
    case("where", lambda a, b: ops.where(CONDITION, a, b), lambda a, b: torch.where(torch.tensor(CONDITION), a, b),
         (normal, 3, 4), (normal, 4))
    # reductions
    case("sum-tuple", lambda x: x.sum(axis=(0, 2)), lambda x: x.sum(dim=(0, 2)), (normal, 2, 3, 4))
    case("mean-keepdims", lambda x: x.mean(axis=-1, keepdims=True), lambda x: x.mean(dim=-1, keepdim=True),
         (normal, 2, 3, 4))
    case("max-axis", lambda x: x.max(axis=1), lambda x: x.amax(dim=1), (normal, 2, 3, 4))
    case("max-all", lambda x: x.max(), lambda x: x.amax(), (normal, 3, 4))
    case("min-axis-keep", lambda x: x.min(axis=-1, keepdims=True), lambda x: x.amin(dim=-1, keepdim=True),
         (normal, 2, 3, 4))
    case("var", lambda x: x.var(axis=0), lambda x: x.var(dim=0, correction=0), (normal, 5, 3))
    case("var-ddof1", lambda x: x.var(axis=(0, 1), ddof=1), lambda x: x.var(dim=(0, 1), correction=1),
         (normal, 2, 3, 4))
    case("var-all-ddof1", lambda x: ops.var(x, ddof=1), lambda x: x.var(correction=1), (normal, 3, 4))
    case("std", lambda x: x.std(axis=-1, keepdims=True), lambda x: x.std(dim=-1, keepdim=True, correction=0),
         (normal, 3, 5))
    case("std-ddof1", lambda x: ops.std(x, axis=0, ddof=1), lambda x: x.std(dim=0, correction=1), (normal, 4, 3))
    # softmax family
    case("softmax-last", ops.softmax, lambda x: torch.softmax(x, dim=-1), (normal, 3, 5))
    case("softmax-0", lambda x: ops.softmax(x, axis=0), lambda x: torch.softmax(x, dim=0), (normal, 3, 5))
    case("log-softmax-1", lambda x: ops.log_softmax(x, axis=1), lambda x: torch.log_softmax(x, dim=1),
         (normal, 2, 3, 4))
    case("logsumexp", lambda x: ops.logsumexp(x, axis=(0, 2), keepdims=True),
         lambda x: torch.logsumexp(x, dim=(0, 2), keepdim=True), (normal, 2, 3, 4))
    case("logsumexp-last", lambda x: ops.logsumexp(x, axis=-1), lambda x: torch.logsumexp(x, dim=-1), (normal, 3, 5))
    # shapes and indexing
    case("reshape-permute", lambda x: x.reshape(6, 4).T.reshape(2, 12), lambda x: x.reshape(6, 4).T.reshape(2, 12),
         (normal, 2, 3, 4))
    case("permute", lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1), (normal, 2, 3, 4))
    case("getitem-repeated", lambda x: x[[0, 2, 0, 0]], lambda x: x[torch.tensor([0, 2, 0, 0])], (normal, 3, 4))
    case("getitem-repeated-column", lambda x: x[:, [1, 1, 3]], lambda x: x[:, torch.tensor([1, 1, 3])],
         (normal, 3, 4))
    case("getitem-slices", lambda x: x[1:, ::2], lambda x: x[1:, ::2], (normal, 3, 4))
    case("concatenate", lambda a, b: ops.concatenate([a, b], axis=1), lambda a, b: torch.cat([a, b], dim=1),
         (normal, 2, 3), (normal, 2, 4))
    case("stack", lambda a, b: ops.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], dim=-1),
         (normal, 2, 3), (normal, 2, 3))
    case("pad", lambda x: ops.pad(x, ((1, 2), (0, 3))), lambda x: F.pad(x, (0, 3, 1, 2)), (normal, 3, 4))
    # activations
    case("relu", ops.relu, torch.relu, (away, 3, 4))
    case("sigmoid", ops.sigmoid, torch.sigmoid, (normal, 3, 4))
    case("tanh", ops.tanh, torch.tanh, (normal, 3, 4))
    case("elu", ops.elu, F.elu, (away, 3, 4))
    case("elu-alpha", lambda x: ops.elu(x, alpha=0.5), lambda x: F.elu(x, alpha=0.5), (away, 3, 4))
    case("leaky-relu", ops.leaky_relu, F.leaky_relu, (away, 3, 4))
    case("leaky-relu-alpha", lambda x: ops.leaky_relu(x, 0.2), lambda x: F.leaky_relu(x, 0.2), (away, 3, 4))
    case("softplus", ops.softplus, F.softplus, (normal, 3, 4))
    case("gelu", ops.gelu, lambda x: F.gelu(x, approximate="tanh"), (normal, 3, 4))
    case("silu", ops.silu, F.silu, (normal, 3, 4))
    # losses
    case("cross-entropy-labels", lambda z: ops.softmax_cross_entropy(z, labels=LABELS),
         lambda z: F.cross_entropy(z, torch.tensor(LABELS), reduction="none"), (normal, 6, 5))
    case("cross-entropy-one-hot", lambda z: ops.softmax_cross_entropy(z, targets=ops.one_hot(LABELS, 5, np.float64)),
         lambda z: F.cross_entropy(z, F.one_hot(torch.tensor(LABELS), 5).double(), reduction="none"), (normal, 6, 5))
    case("cross-entropy-soft-targets", lambda z, t: ops.softmax_cross_entropy(z, targets=t),
         lambda z, t: F.cross_entropy(z, t, reduction="none"), (normal, 6, 5), (unit, 6, 5))
    case("cross-entropy-3d-labels",
         lambda z: ops.softmax_cross_entropy(z, labels=LABELS.reshape(2, 3)),
         lambda z: F.cross_entropy(z.reshape(6, 5), torch.tensor(LABELS), reduction="none").reshape(2, 3),
         (normal, 2, 3, 5))
    case("binary-cross-entropy", ops.sigmoid_binary_cross_entropy,
         lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction="none"), (normal, 3, 4), (unit, 3, 4))
    case("batch-norm-2d", lambda x, g, b: ops.batch_norm(x, g, b, epsilon=1e-3)[0],
         lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-3), (normal, 6, 3), (normal, 3),
         (normal, 3))
    case("batch-norm-4d", lambda x, g, b: ops.batch_norm(x, g, b, epsilon=1e-5)[0],
         lambda x, g, b: F.batch_norm(x.permute(0, 3, 1, 2), None, None, g, b, training=True, eps=1e-5)
         .permute(0, 2, 3, 1), (normal, 2, 3, 3, 4), (normal, 4), (normal, 4))
    return c


@pytest.mark.parametrize("nerve_fn, torch_fn, inputs", _cases())
def test_matches_torch(nerve_fn, torch_fn, inputs, rng):
    arrays = [make(rng, *shape) for make, *shape in inputs]
    compare_with_torch(rng, nerve_fn, torch_fn, *arrays)


def test_max_full_reduction_with_ties_matches_torch():
    x = np.array([[1.0, 3.0], [3.0, 0.0]])
    ours = nerve.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    ours.max().backward()
    theirs.amax().backward()  # amax splits the gradient evenly between ties, like nerve
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())


def test_softmax_family_on_huge_inputs_matches_torch():
    x = np.array([[1e4, -1e4, 1e4 - 1.0], [-1e4, 0.0, -1e4 + 3.0]])
    t = torch.tensor(x)
    np.testing.assert_allclose(ops.softmax(nerve.tensor(x)).numpy(), torch.softmax(t, -1).numpy(), rtol=RTOL, atol=0)
    np.testing.assert_allclose(ops.log_softmax(nerve.tensor(x)).numpy(), torch.log_softmax(t, -1).numpy(), rtol=RTOL)
    np.testing.assert_allclose(ops.logsumexp(nerve.tensor(x), axis=-1).numpy(), torch.logsumexp(t, -1).numpy(),
                               rtol=RTOL)
