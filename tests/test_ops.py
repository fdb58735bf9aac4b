"""Tests of nerve.ops: forward values against NumPy formulas, gradients against central differences.

Every case in ``CASES`` is checked twice: the forward value against a
hand-written NumPy reference, and the autodiff gradient of every input against
``nerve.gradcheck.check_gradients`` (float64 central differences).
"""

import math
import warnings

import numpy as np
import pytest

import nerve
from nerve import ops
from nerve.gradcheck import check_gradients

SAME = "same"  # the case's function also works on NumPy arrays and is its own reference


# ----------------------------------------------------- NumPy references
def np_logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def np_softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis=-1):
    return x - np_logsumexp(x, axis=axis, keepdims=True)


def np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def np_gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def np_elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1.0))


def np_batch_norm(x, gamma, beta, epsilon=1e-3):
    axes = tuple(range(x.ndim - 1))
    return (x - x.mean(axis=axes)) / np.sqrt(x.var(axis=axes) + epsilon) * gamma + beta


def np_sce_labels(logits, labels):
    lp = np_log_softmax(logits)
    return -np.take_along_axis(lp, labels[..., None], axis=-1)[..., 0]


def np_bce(z, t):
    s = np_sigmoid(z)
    return -(t * np.log(s) + (1 - t) * np.log(1 - s))


# ------------------------------------------------------------ constants
LEFT = np.linspace(0.5, 2.0, 12).reshape(3, 4)  # a NumPy array on the left of an operator
COND = np.array([[True, False, True, True], [False, False, True, False], [True, True, False, True]])
MASK = np.array([[True, False, True, False], [False, True, True, False], [True, False, False, True]])
LABELS = np.array([0, 4, 2, 2])
LABELS_2D = np.array([[0, 1, 4], [3, 3, 2]])


def N(*shape):
    return ("normal", shape)


def P(*shape):
    return ("positive", shape)


def A(*shape):
    return ("away", shape)


def U(*shape):
    return ("unit", shape)


def case(name, fn, specs, ref=SAME):
    return pytest.param(fn, specs, ref, id=name)


CASES = [
    # arithmetic with broadcasting
    case("add-3x4-4", lambda a, b: a + b, [N(3, 4), N(4)]),
    case("add-3x1-1x4", lambda a, b: a + b, [N(3, 1), N(1, 4)]),
    case("add-2x3x4-3x1", lambda a, b: a + b, [N(2, 3, 4), N(3, 1)]),
    case("add-scalar-tensor", lambda a, b: a + b, [N(), N(3, 4)]),
    case("add-fn", lambda a, b: ops.add(a, b), [N(3, 4), N(4)], lambda a, b: a + b),
    case("sub-3x4-4", lambda a, b: a - b, [N(3, 4), N(4)]),
    case("sub-3x1-1x4", lambda a, b: a - b, [N(3, 1), N(1, 4)]),
    case("sub-2x3x4-3x1", lambda a, b: a - b, [N(2, 3, 4), N(3, 1)]),
    case("mul-3x4-4", lambda a, b: a * b, [N(3, 4), N(4)]),
    case("mul-3x1-1x4", lambda a, b: a * b, [N(3, 1), N(1, 4)]),
    case("mul-2x3x4-3x1", lambda a, b: a * b, [N(2, 3, 4), N(3, 1)]),
    case("mul-self", lambda a: a * a, [N(3, 4)]),
    case("div-3x4-4", lambda a, b: a / b, [N(3, 4), A(4)]),
    case("div-3x1-1x4", lambda a, b: a / b, [N(3, 1), A(1, 4)]),
    case("div-2x3x4-3x1", lambda a, b: a / b, [N(2, 3, 4), A(3, 1)]),
    case("div-tensor-scalar-tensor", lambda a, b: a / b, [N(3, 4), A()]),
    case("neg", lambda a: -a, [N(3, 4)]),
    case("neg-fn", lambda a: ops.neg(a), [N(3, 4)], lambda a: -a),
    case("pow-2", lambda a: a**2, [N(3, 4)]),
    case("pow-3", lambda a: a**3, [N(3, 4)]),
    case("pow-half", lambda a: a**0.5, [P(3, 4)]),
    case("pow-neg", lambda a: a**-1.5, [P(3, 4)]),
    case("pow-tensor-3x4-4", lambda a, b: a**b, [P(3, 4), N(4)]),
    case("pow-tensor-3x1-1x4", lambda a, b: a**b, [P(3, 1), N(1, 4)]),
    case("pow-fn", lambda a, b: ops.pow(a, b), [P(3, 4), N(3, 4)], lambda a, b: a**b),
    # reflected forms: Python numbers and NumPy arrays on the left
    case("rsub-number", lambda a: 2 - a, [N(3, 4)]),
    case("rdiv-number", lambda a: 2 / a, [A(3, 4)]),
    case("rpow-number", lambda a: 2**a, [N(3, 4)]),
    case("radd-number", lambda a: 1.5 + a, [N(3, 4)]),
    case("rmul-number", lambda a: 3.0 * a, [N(3, 4)]),
    case("rsub-array", lambda a: LEFT - a, [N(3, 4)]),
    case("rdiv-array", lambda a: LEFT / a, [A(4)]),
    case("rpow-array", lambda a: LEFT**a, [N(3, 4)]),
    case("radd-array", lambda a: LEFT + a, [N(3, 1)]),
    case("rmul-array", lambda a: LEFT * a, [N(4)]),
    case("rmatmul-array", lambda a: LEFT @ a, [N(4, 2)]),
    # matmul
    case("matmul-2d", lambda a, b: a @ b, [N(3, 4), N(4, 5)]),
    case("matmul-3d-2d", lambda a, b: a @ b, [N(2, 3, 4), N(4, 5)]),
    case("matmul-batch-broadcast", lambda a, b: a @ b, [N(2, 1, 2, 3), N(3, 3, 2)]),
    case("matmul-1d-2d", lambda a, b: a @ b, [N(4), N(4, 3)]),
    case("matmul-2d-1d", lambda a, b: a @ b, [N(3, 4), N(4)]),
    case("matmul-1d-3d", lambda a, b: a @ b, [N(4), N(2, 4, 3)]),
    case("matmul-3d-1d", lambda a, b: a @ b, [N(2, 3, 4), N(4)]),
    case("matmul-fn", lambda a, b: ops.matmul(a, b), [N(2, 3), N(3, 2)], lambda a, b: a @ b),
    # linear
    case("linear-2d-bias", ops.linear, [N(5, 4), N(4, 3), N(3)], lambda x, w, b: x @ w + b),
    case("linear-3d-bias", ops.linear, [N(2, 5, 4), N(4, 3), N(3)], lambda x, w, b: x @ w + b),
    case("linear-2d", ops.linear, [N(5, 4), N(4, 3)], lambda x, w: x @ w),
    case("linear-3d", ops.linear, [N(2, 5, 4), N(4, 3)], lambda x, w: x @ w),
    # elementwise
    case("exp", ops.exp, [N(3, 4)], np.exp),
    case("log", ops.log, [P(3, 4)], np.log),
    case("sqrt", ops.sqrt, [P(3, 4)], np.sqrt),
    case("abs", ops.abs, [A(3, 4)], np.abs),
    case("clip-both", lambda x: ops.clip(x, -0.5, 0.7), [N(4, 5)], lambda x: np.clip(x, -0.5, 0.7)),
    case("clip-low", lambda x: x.clip(low=0.1), [N(4, 5)], lambda x: np.maximum(x, 0.1)),
    case("clip-high", lambda x: x.clip(high=0.1), [N(4, 5)], lambda x: np.minimum(x, 0.1)),
    case("maximum", ops.maximum, [N(3, 4), N(4)], np.maximum),
    case("minimum", ops.minimum, [N(3, 1), N(1, 4)], np.minimum),
    case("maximum-number", lambda x: ops.maximum(x, 0.2), [N(3, 4)], lambda x: np.maximum(x, 0.2)),
    case("where", lambda a, b: ops.where(COND, a, b), [N(3, 4), N(4)], lambda a, b: np.where(COND, a, b)),
    case("where-number", lambda a: ops.where(COND, a, 0.5), [N(3, 4)], lambda a: np.where(COND, a, 0.5)),
    case(
        "where-tensor-condition",
        lambda a, b: ops.where(a > b, a, b * 2),
        [N(3, 4), N(3, 4)],
        lambda a, b: np.where(a > b, a, b * 2),
    ),
    # reshaping and axes
    case("reshape", lambda x: x.reshape(6, 4), [N(2, 3, 4)]),
    case("reshape-infer", lambda x: ops.reshape(x, (4, -1)), [N(2, 3, 4)], lambda x: x.reshape(4, -1)),
    case("reshape-flat", lambda x: x.reshape(-1), [N(2, 3, 4)]),
    case("transpose-none", lambda x: x.transpose(), [N(2, 3, 4)]),
    case("transpose-T", lambda x: x.T, [N(3, 4)]),
    case("transpose-axes", lambda x: x.transpose(1, 0, 2), [N(2, 3, 4)]),
    case("permute-negative", lambda x: x.permute(-1, 0, 1), [N(2, 3, 4)], lambda x: x.transpose(2, 0, 1)),
    case("squeeze-axis", lambda x: x.squeeze(1), [N(3, 1, 4)]),
    case("squeeze-all", lambda x: x.squeeze(), [N(3, 1, 4, 1)]),
    case("squeeze-negative", lambda x: x.squeeze(-1), [N(3, 4, 1)]),
    case("expand-dims-0", lambda x: ops.expand_dims(x, 0), [N(3, 4)], lambda x: np.expand_dims(x, 0)),
    case("expand-dims-neg", lambda x: x.expand_dims(-1), [N(3, 4)], lambda x: np.expand_dims(x, -1)),
    case("unsqueeze-middle", lambda x: x.unsqueeze(1), [N(3, 4)], lambda x: np.expand_dims(x, 1)),
    # indexing
    case("getitem-int", lambda x: x[1], [N(3, 4)]),
    case("getitem-slices", lambda x: x[1:, ::2], [N(3, 4)]),
    case("getitem-negative-step", lambda x: x[::-1, -1:0:-2], [N(3, 5)]),
    case("getitem-ellipsis", lambda x: x[..., -1], [N(2, 3, 4)]),
    case("getitem-repeated", lambda x: x[[0, 2, 0, 0]], [N(3, 4)]),
    case("getitem-repeated-pairs", lambda x: x[[0, 0, 2], [1, 1, 3]], [N(3, 4)]),
    case("getitem-array-column", lambda x: x[:, np.array([1, 1, 3])], [N(3, 4)]),
    case("getitem-bool-mask", lambda x: x[MASK], [N(3, 4)]),
    case("getitem-row-mask", lambda x: x[np.array([True, False, True])], [N(3, 4)]),
    # joining and padding
    case("concatenate-0", lambda a, b, c: ops.concatenate([a, b, c]), [N(1, 3), N(2, 3), N(3, 3)],
         lambda a, b, c: np.concatenate([a, b, c])),
    case("concatenate-neg", lambda a, b: ops.concatenate([a, b], axis=-1), [N(2, 3, 1), N(2, 3, 2)],
         lambda a, b: np.concatenate([a, b], axis=-1)),
    case("stack-0", lambda a, b: ops.stack([a, b]), [N(3, 2), N(3, 2)], lambda a, b: np.stack([a, b])),
    case("stack-1", lambda a, b, c: ops.stack([a, b, c], axis=1), [N(3, 2), N(3, 2), N(3, 2)],
         lambda a, b, c: np.stack([a, b, c], axis=1)),
    case("split-equal", lambda x: ops.stack([p * (i + 1) for i, p in enumerate(ops.split(x, 2, axis=1))]),
         [N(3, 4)], lambda x: np.stack([p * (i + 1) for i, p in enumerate(np.split(x, 2, axis=1))])),
    case("split-indices",
         lambda x: ops.concatenate([p.reshape(-1) * (i + 1) for i, p in enumerate(ops.split(x, [1, 3], axis=-1))]),
         [N(3, 5)],
         lambda x: np.concatenate([p.reshape(-1) * (i + 1) for i, p in enumerate(np.split(x, [1, 3], axis=-1))])),
    case("pad", lambda x: ops.pad(x, ((1, 2), (0, 1))), [N(3, 4)], lambda x: np.pad(x, ((1, 2), (0, 1)))),
    case("pad-int-value", lambda x: ops.pad(x, 1, value=1.5), [N(2, 3)],
         lambda x: np.pad(x, 1, constant_values=1.5)),
    # softmax family
    case("logsumexp-none", ops.logsumexp, [N(3, 4)], np_logsumexp),
    case("logsumexp-0", lambda x: ops.logsumexp(x, 0), [N(3, 4)], lambda x: np_logsumexp(x, 0)),
    case("logsumexp-neg-keep", lambda x: x.logsumexp(-1, keepdims=True), [N(2, 3, 4)],
         lambda x: np_logsumexp(x, -1, keepdims=True)),
    case("logsumexp-tuple", lambda x: ops.logsumexp(x, (0, 2)), [N(2, 3, 4)], lambda x: np_logsumexp(x, (0, 2))),
    case("softmax-last", ops.softmax, [N(3, 4)], np_softmax),
    case("softmax-0", lambda x: ops.softmax(x, 0), [N(3, 4)], lambda x: np_softmax(x, 0)),
    case("softmax-middle", lambda x: x.softmax(1), [N(2, 3, 4)], lambda x: np_softmax(x, 1)),
    case("log-softmax-last", ops.log_softmax, [N(3, 4)], np_log_softmax),
    case("log-softmax-0", lambda x: ops.log_softmax(x, 0), [N(3, 4)], lambda x: np_log_softmax(x, 0)),
    case("log-softmax-middle", lambda x: x.log_softmax(1), [N(2, 3, 4)], lambda x: np_log_softmax(x, 1)),
    # activations (inputs kept away from kinks)
    case("relu", ops.relu, [A(3, 4)], lambda x: np.maximum(x, 0)),
    case("leaky-relu", lambda x: ops.leaky_relu(x, alpha=0.1), [A(3, 4)], lambda x: np.where(x > 0, x, 0.1 * x)),
    case("leaky-relu-default", ops.leaky_relu, [A(3, 4)], lambda x: np.where(x > 0, x, 0.01 * x)),
    case("elu", ops.elu, [A(3, 4)], np_elu),
    case("elu-alpha", lambda x: ops.elu(x, alpha=0.5), [A(3, 4)], lambda x: np_elu(x, 0.5)),
    case("sigmoid", ops.sigmoid, [N(3, 4)], np_sigmoid),
    case("tanh", ops.tanh, [N(3, 4)], np.tanh),
    case("gelu", ops.gelu, [N(3, 4)], np_gelu),
    case("softplus", ops.softplus, [N(3, 4)], lambda x: np.log1p(np.exp(x))),
    case("silu", ops.silu, [N(3, 4)], lambda x: x * np_sigmoid(x)),
    # fused losses
    case("sce-labels", lambda z: ops.softmax_cross_entropy(z, labels=LABELS), [N(4, 5)],
         lambda z: np_sce_labels(z, LABELS)),
    case("sce-labels-3d", lambda z: ops.softmax_cross_entropy(z, labels=nerve.tensor(LABELS_2D)), [N(2, 3, 5)],
         lambda z: np_sce_labels(z, LABELS_2D)),
    case("sce-targets", lambda z, t: ops.softmax_cross_entropy(z, targets=t), [N(4, 5), U(4, 5)],
         lambda z, t: -(t * np_log_softmax(z)).sum(-1)),
    case("bce", ops.sigmoid_binary_cross_entropy, [N(3, 4), U(3, 4)], np_bce),
    # batch normalisation (training mode)
    case("batch-norm-2d", lambda x, g, b: ops.batch_norm(x, g, b)[0], [N(6, 3), N(3), N(3)], np_batch_norm),
    case("batch-norm-4d", lambda x, g, b: ops.batch_norm(x, g, b, epsilon=1e-5)[0], [N(2, 3, 3, 2), N(2), N(2)],
         lambda x, g, b: np_batch_norm(x, g, b, 1e-5)),
]

# Reductions: every combination of op, axis and keepdims on a (2, 3, 4) input.
REDUCTIONS = {
    "sum": (lambda x, **k: x.sum(**k), lambda x, **k: x.sum(**k)),
    "mean": (lambda x, **k: ops.mean(x, **k), lambda x, **k: x.mean(**k)),
    "max": (lambda x, **k: x.max(**k), lambda x, **k: x.max(**k)),
    "min": (lambda x, **k: ops.min(x, **k), lambda x, **k: x.min(**k)),
    "var": (lambda x, **k: x.var(**k), lambda x, **k: x.var(**k)),
    "var-ddof1": (lambda x, **k: ops.var(x, ddof=1, **k), lambda x, **k: x.var(ddof=1, **k)),
    "std": (lambda x, **k: ops.std(x, **k), lambda x, **k: x.std(**k)),
    "std-ddof1": (lambda x, **k: x.std(ddof=1, **k), lambda x, **k: x.std(ddof=1, **k)),
}
for _name, (_fn, _ref) in REDUCTIONS.items():
    for _axis in (None, 0, -1, (0, 2), (-1, 1)):
        for _keep in (False, True):
            CASES.append(
                case(
                    f"{_name}-axis{_axis}-keep{_keep}".replace(" ", ""),
                    lambda x, f=_fn, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                    [N(2, 3, 4)],
                    lambda x, f=_ref, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                )
            )


def _make_inputs(randn, specs):
    return [randn(*shape, kind=kind) for kind, shape in specs]


@pytest.mark.parametrize("fn, specs, ref", CASES)
def test_forward_matches_numpy(fn, specs, ref, randn):
    inputs = _make_inputs(randn, specs)
    out = fn(*inputs)
    assert isinstance(out, nerve.Tensor)
    expected = np.asarray((fn if ref is SAME else ref)(*[t.numpy().copy() for t in inputs]))
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn, specs, ref", CASES)
def test_gradients_match_central_differences(fn, specs, ref, randn):
    inputs = _make_inputs(randn, specs)
    assert check_gradients(fn, inputs)
    for t in inputs:
        assert t.grad is not None and t.grad.shape == t.shape and t.grad.dtype == np.float64


# --------------------------------------------------- explicit gradient values
def test_matmul_1d_1d_forward(randn):
    a, b = randn(4), randn(4)
    out = a @ b
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), a.numpy() @ b.numpy(), rtol=1e-13)


def test_matmul_1d_1d_gradient(randn):
    a, b = randn(4), randn(4)
    (a @ b).backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.numpy())
    np.testing.assert_array_equal(b.grad.numpy(), a.numpy())
    assert check_gradients(lambda a, b: a @ b, [a, b])


def test_getitem_repeated_indices_scatter_add():
    x = nerve.tensor(np.arange(4.0), requires_grad=True)
    x[[0, 0, 3, 0]].backward(np.array([1.0, 10.0, 100.0, 1000.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [1011.0, 0.0, 0.0, 100.0])


def test_getitem_repeated_index_pairs_scatter_add():
    x = nerve.tensor(np.zeros((2, 3)), requires_grad=True)
    x[[1, 1, 0], [2, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])


def test_getitem_bool_mask_gradient():
    x = nerve.tensor(np.array([[-1.0, 2.0], [3.0, -4.0]]), requires_grad=True)
    y = x[x > 0]
    assert y.tolist() == [2.0, 3.0]
    y.backward(np.array([5.0, 7.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 5.0], [7.0, 0.0]])


def test_max_ties_share_gradient():
    x = nerve.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])


def test_clip_gradient_is_zero_where_clamped():
    x = nerve.tensor(np.array([-2.0, 0.5, 3.0]), requires_grad=True)
    x.clip(0.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 0.0])


def test_relu_gradient_values():
    x = nerve.tensor(np.array([-1.0, 2.0, -3.0, 4.0]), requires_grad=True)
    ops.relu(x).backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 0.0, 4.0])


def test_relu_gives_positive_zero():
    out = ops.relu(nerve.tensor(np.array([-1.0, 0.0, 2.0]))).numpy()
    assert out.tolist() == [0.0, 0.0, 2.0]
    assert not np.signbit(out).any()


def test_relu_propagates_nan():
    assert np.isnan(ops.relu(nerve.tensor(np.array([np.nan]))).item())


def test_where_sends_no_gradient_to_unchosen_branch():
    a = nerve.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = nerve.tensor(np.array([3.0, 4.0]), requires_grad=True)
    ops.where(np.array([True, False]), a, b).sum().backward()
    assert a.grad.tolist() == [1.0, 0.0]
    assert b.grad.tolist() == [0.0, 1.0]


def test_softmax_cross_entropy_forms_agree_with_composed_version(randn):
    logits = randn(5, 4)
    labels = np.array([3, 0, 1, 1, 2])
    targets = ops.one_hot(labels, 4, dtype=np.float64)
    composed = -(targets * ops.log_softmax(logits)).sum(-1)
    sparse = ops.softmax_cross_entropy(logits, labels=labels)
    dense = ops.softmax_cross_entropy(logits, targets=targets)
    np.testing.assert_allclose(sparse.numpy(), composed.numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dense.numpy(), composed.numpy(), rtol=1e-13, atol=1e-13)
    grads = []
    for loss in (composed, sparse, dense):
        logits.grad = None
        loss.mean().backward()
        grads.append(logits.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[2], grads[0], rtol=1e-12, atol=1e-14)


def test_softmax_cross_entropy_soft_targets_composed(randn):
    logits, targets = randn(3, 6), randn(3, 6, kind="unit")
    fused = ops.softmax_cross_entropy(logits, targets=targets)
    composed = -(targets * ops.log_softmax(logits)).sum(-1)
    np.testing.assert_allclose(fused.numpy(), composed.numpy(), rtol=1e-13)


def test_batch_norm_returns_batch_statistics(randn):
    x = randn(2, 3, 4, 5)
    _, mean, var = ops.batch_norm(x, randn(5), randn(5))
    np.testing.assert_allclose(mean, x.numpy().mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(var, x.numpy().var(axis=(0, 1, 2)), rtol=1e-12)


# ------------------------------------------------------------------ stability
@pytest.fixture
def no_warnings():
    # overflow, division by zero and invalid values become errors (underflow to 0 is fine)
    with warnings.catch_warnings(), np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
        warnings.simplefilter("error")
        yield


def test_softmax_family_is_finite_on_huge_inputs(no_warnings):
    data = np.array([[1e4, -1e4, 1e4 - 1.0], [-1e4, -1e4 + 2.0, -1e4]])
    x = nerve.tensor(data, requires_grad=True)
    s = ops.softmax(x)
    ls = ops.log_softmax(x)
    lse = ops.logsumexp(x, axis=-1)
    for t in (s, ls, lse):
        assert np.all(np.isfinite(t.numpy()))
    e = 1.0 / (1.0 + math.exp(-1.0))
    np.testing.assert_allclose(s.numpy()[0], [e, 0.0, 1.0 - e], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(ls.numpy()[0, [0, 2]], [np.log(e), np.log(1.0 - e)], rtol=1e-12)
    np.testing.assert_allclose(ls.numpy()[0, 1], -2e4 + np.log(e), rtol=1e-12)
    np.testing.assert_allclose(lse.numpy(), [1e4 + np.log1p(math.exp(-1.0)), -1e4 + 2.0 + np.log1p(2 * math.exp(-2.0))],
                               rtol=1e-14)
    (s.sum() + ls.sum() + lse.sum()).backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_softmax_family_float32_huge_inputs(no_warnings):
    x = nerve.tensor([[1e4, -1e4, 0.0]])
    assert x.dtype == np.float32
    np.testing.assert_allclose(ops.softmax(x).numpy(), [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(ops.logsumexp(x).item(), 1e4)
    assert np.all(np.isfinite(ops.log_softmax(x).numpy()))


def test_sigmoid_saturates_without_warnings(no_warnings):
    x = nerve.tensor(np.array([1000.0, -1000.0, 0.0]), requires_grad=True)
    y = ops.sigmoid(x)
    assert y.tolist() == [1.0, 0.0, 0.5]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.25]
    assert ops.sigmoid(nerve.tensor([1000.0, -1000.0])).tolist() == [1.0, 0.0]  # float32 too


def test_sigmoid_keeps_relative_precision_in_left_tail():
    x = np.array([-30.0, -40.0, -700.0])
    np.testing.assert_allclose(ops.sigmoid(nerve.tensor(x)).numpy(), np.exp(x) / (1.0 + np.exp(x)), rtol=1e-12)


def test_softplus_and_bce_are_stable_on_huge_logits(no_warnings):
    z = nerve.tensor(np.array([1000.0, -1000.0]), requires_grad=True)
    np.testing.assert_array_equal(ops.softplus(z).numpy(), [1000.0, 0.0])
    loss = ops.sigmoid_binary_cross_entropy(z, np.array([0.0, 1.0]))
    np.testing.assert_array_equal(loss.numpy(), [1000.0, 1000.0])
    loss.sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, -1.0])


def test_softmax_cross_entropy_stable_on_huge_logits(no_warnings):
    z = nerve.tensor(np.array([[1e4, -1e4]]), requires_grad=True)
    loss = ops.softmax_cross_entropy(z, labels=np.array([1]))
    np.testing.assert_allclose(loss.numpy(), [2e4])
    loss.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [[1.0, -1.0]])


# -------------------------------------------------------------------- one_hot
def test_one_hot_values_and_dtype():
    out = ops.one_hot(nerve.tensor([[0, 2], [1, 1]]), 3)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.float32)[[[0, 2], [1, 1]]])
    assert ops.one_hot(np.array([1]), 2, dtype=np.float64).dtype == np.float64
    assert not ops.one_hot(np.array([1]), 2).requires_grad


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [5]])
def test_one_hot_rejects_out_of_range_labels(labels):
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        ops.one_hot(np.array(labels), 3)


def test_one_hot_rejects_fractional_labels():
    with pytest.raises(TypeError, match="integers"):
        ops.one_hot(np.array([0.5]), 3)


# --------------------------------------------------------------- shape errors
@pytest.mark.parametrize("op", [ops.add, ops.sub, ops.mul, ops.div, ops.maximum, ops.minimum])
def test_broadcast_error_names_both_shapes(op):
    a, b = nerve.tensor(np.ones((3, 4))), nerve.tensor(np.ones(5))
    with pytest.raises(ValueError) as info:
        op(a, b)
    assert "(3, 4)" in str(info.value) and "(5,)" in str(info.value)


def test_operator_broadcast_error():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        nerve.tensor(np.ones((3, 4))) + nerve.tensor(np.ones(5))


@pytest.mark.parametrize("shapes", [((3, 4), (5, 2)), ((2, 3, 4), (3, 2)), ((4,), (3,)), ((3, 4), (3,))])
def test_matmul_inner_dimension_mismatch(shapes):
    a, b = (nerve.tensor(np.ones(s)) for s in shapes)
    with pytest.raises(ValueError, match="inner dimensions") as info:
        a @ b
    assert str(shapes[0]) in str(info.value) and str(shapes[1]) in str(info.value)


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        ops.linear(nerve.tensor(np.ones((2, 5))), nerve.tensor(np.ones((4, 3))))


@pytest.mark.parametrize("shape", [(5, 3), (7,), (-1, 5), (-1, -1)])
def test_reshape_to_incompatible_size(shape):
    x = nerve.tensor(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        x.reshape(shape)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.sum(axis=2),
        lambda x: x.mean(axis=-3),
        lambda x: x.max(axis=(0, 5)),
        lambda x: x.var(axis=3),
        lambda x: ops.softmax(x, axis=2),
        lambda x: ops.log_softmax(x, axis=-3),
        lambda x: ops.logsumexp(x, axis=4),
        lambda x: x.squeeze(0),  # axis 0 has length 3, not 1
        lambda x: x.transpose(0, 0),
    ],
    ids=["sum", "mean", "max", "var", "softmax", "log_softmax", "logsumexp", "squeeze-length", "transpose-dup"],
)
def test_bad_axis_raises(call):
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        call(nerve.tensor(np.ones((3, 1))))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.transpose(0, 5),
        lambda x: x.squeeze(5),
        lambda x: x.expand_dims(7),
        lambda x: ops.concatenate([x, x], axis=5),
        lambda x: ops.split(x, 3, axis=4),
    ],
    ids=["transpose", "squeeze", "expand_dims", "concatenate", "split"],
)
def test_out_of_range_axis_raises(call):
    with pytest.raises(ValueError, match="out of range"):
        call(nerve.tensor(np.ones((3, 1))))


def test_concatenate_and_stack_shape_errors():
    with pytest.raises(ValueError, match="concatenate"):
        ops.concatenate([nerve.tensor(np.ones((2, 3))), nerve.tensor(np.ones((2, 4)))], axis=0)
    with pytest.raises(ValueError, match="stack"):
        ops.stack([nerve.tensor(np.ones(2)), nerve.tensor(np.ones(3))])
    with pytest.raises(ValueError, match="split"):
        ops.split(nerve.tensor(np.ones(5)), 2)


def test_getitem_out_of_bounds_names_shape():
    with pytest.raises(IndexError, match=r"\(3,\)"):
        nerve.tensor(np.ones(3))[5]
