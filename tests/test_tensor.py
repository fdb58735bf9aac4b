"""Tests of nerve.tensor: Tensor creation and dtypes, the graph, and the semantics of backward()."""

import numpy as np
import pytest

import nerve
from nerve import ops


# ------------------------------------------------------------------ backward
def test_backward_fills_grad_of_leaves_only():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    b = nerve.tensor([3.0, 5.0], requires_grad=True)
    c = nerve.tensor([7.0, 11.0])  # a constant
    hidden = a * b
    loss = (hidden * c).sum()
    loss.backward()
    assert a.grad.tolist() == [21.0, 55.0]  # b * c
    assert b.grad.tolist() == [7.0, 22.0]  # a * c
    assert isinstance(a.grad, nerve.Tensor) and a.grad.dtype == np.float32
    assert c.grad is None
    assert hidden.grad is None  # intermediate results keep no gradient
    assert a.is_leaf and not hidden.is_leaf


def test_tensor_used_twice_in_one_expression_accumulates():
    x = nerve.tensor([2.0, -3.0], requires_grad=True)
    (x * x + x).sum().backward()  # d/dx (x^2 + x) = 2x + 1
    assert x.grad.tolist() == [5.0, -5.0]


def test_shared_subexpression_accumulates():
    x = nerve.tensor(np.array([0.5, 1.5]), requires_grad=True)
    h = x.exp()
    (h * h + 3 * h).sum().backward()  # d/dx (e^2x + 3e^x) = 2e^2x + 3e^x
    expected = 2 * np.exp(2 * x.numpy()) + 3 * np.exp(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-14)


def test_gradients_accumulate_across_backward_calls_until_reset():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [3.0 + 2.0, 3.0 + 4.0]
    x.grad = None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_backward_of_non_scalar_without_grad_is_a_helpful_error():
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError) as info:
        y.backward()
    message = str(info.value)
    assert "(3,)" in message and "sum()" in message
    assert x.grad is None


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad"):
        (nerve.tensor([1.0]) * 2).sum().backward()


def test_backward_of_one_element_non_scalar_defaults_to_ones():
    x = nerve.tensor([[2.0]], requires_grad=True)
    (x * x).backward()
    assert x.grad.tolist() == [[4.0]]


@pytest.mark.parametrize("as_tensor", [False, True])
def test_backward_with_explicit_upstream_gradient(as_tensor):
    x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    upstream = np.array([1.0, 10.0, 100.0], dtype=np.float32)
    y.backward(nerve.tensor(upstream) if as_tensor else upstream)
    assert x.grad.tolist() == [2.0, 40.0, 600.0]


def test_backward_rejects_upstream_of_wrong_shape():
    y = nerve.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        y.backward(np.ones(3))


def test_backward_on_a_leaf():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    x.backward(np.array([3.0, 4.0]))
    assert x.grad.tolist() == [3.0, 4.0]


def test_no_gradient_flows_to_inputs_without_requires_grad():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    w = nerve.tensor([3.0, 4.0], requires_grad=False)
    y = x * w
    assert y.op.needs_grad == (True, False)
    y.sum().backward()
    assert w.grad is None and x.grad.tolist() == [3.0, 4.0]


def test_leaf_gradient_keeps_leaf_dtype_through_casts():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    (x.double() * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]


def test_leaf_gradients_are_independent_writable_arrays():
    a = nerve.tensor(np.ones(3), requires_grad=True)
    b = nerve.tensor(np.ones(3), requires_grad=True)
    (a + b).backward(np.ones(3))
    assert not np.shares_memory(a.grad.data, b.grad.data)
    x = nerve.tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()
    x.grad.data *= 0.5  # in-place gradient clipping, as an optimizer might do
    assert x.grad.tolist() == [[0.5] * 3] * 2


# ---------------------------------------------------------- graph lifecycle
def test_graph_is_exposed_through_op_and_inputs():
    a = nerve.tensor([1.0], requires_grad=True)
    b = nerve.tensor([2.0], requires_grad=True)
    c = a * b
    d = c + 1.0
    assert a.op is None
    assert isinstance(c.op, nerve.Function) and c.op.name == "Mul"
    assert c.op.inputs[0] is a and c.op.inputs[1] is b
    assert d.op.name == "Add" and d.op.inputs[0] is c
    assert not d.op.inputs[1].requires_grad and d.op.inputs[1].item() == 1.0
    assert d.requires_grad


def test_second_backward_through_released_graph_raises():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    assert x.grad.tolist() == [2.0, 4.0]  # unchanged by the failed call


def test_backward_through_released_subgraph_raises():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2).sum().backward()


def test_retain_graph_allows_second_backward_and_doubles_grad():
    x = nerve.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    np.testing.assert_allclose(first, 3 * x.numpy() ** 2)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_long_chain_backpropagates_without_recursion_error():
    x = nerve.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y * 1.0001 + 0.0
    np.testing.assert_allclose(y.item(), 1.0001**20_000, rtol=1e-10)
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**20_000, rtol=1e-10)


def test_long_retained_chain_can_be_freed():
    x = nerve.tensor(np.array(0.0), requires_grad=True)
    y = x
    for _ in range(20_000):
        y = y + 1.0
    y.backward(retain_graph=True)
    assert y.item() == 20_000.0 and x.grad.item() == 1.0
    del y  # dropping a deep graph must not overflow the stack


# ------------------------------------------------------------------ no_grad
def test_no_grad_records_nothing():
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    assert nerve.is_grad_enabled()
    with nerve.no_grad():
        assert not nerve.is_grad_enabled()
        y = (w * 2).sum()
        z = ops.softmax(w)
    assert nerve.is_grad_enabled()
    for t in (y, z):
        assert not t.requires_grad and t.op is None
    with pytest.raises(RuntimeError):
        y.backward()
    assert w.grad is None


def test_no_grad_restores_mode_after_exception_and_nests():
    with pytest.raises(ZeroDivisionError):
        with nerve.no_grad():
            1 / 0
    assert nerve.is_grad_enabled()
    w = nerve.tensor([1.0], requires_grad=True)
    with nerve.no_grad():
        with nerve.enable_grad():
            assert (w * 2).requires_grad
        assert not (w * 2).requires_grad


# --------------------------------------------------- detach, numpy and item
def test_detach_shares_data_and_cuts_the_graph():
    x = nerve.tensor([3.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.op is None
    assert np.shares_memory(d.data, x.data)
    (d * x).sum().backward()  # d is a constant: gradient is d, not 2x
    assert x.grad.tolist() == [3.0]


def test_numpy_and_item():
    x = nerve.tensor([[1.5, 2.5]])
    array = x.numpy()
    assert isinstance(array, np.ndarray) and array.dtype == np.float32
    np.testing.assert_array_equal(array, [[1.5, 2.5]])
    assert np.shares_memory(array, x.data)
    total = x.sum().item()
    assert isinstance(total, float) and total == 4.0
    assert isinstance(nerve.tensor([7]).item(), int)
    with pytest.raises(ValueError, match=r"\(1, 2\)"):
        x.item()
    assert float(nerve.tensor([2.5])) == 2.5


def test_tensor_copies_its_input():
    source = np.array([1.0, 2.0])
    t = nerve.tensor(source)
    source[0] = 99.0
    assert t.tolist() == [1.0, 2.0]


# ------------------------------------------------------------------ dtypes
def test_default_dtypes():
    assert nerve.tensor([1.0]).dtype == np.float32
    assert nerve.tensor(1.0).dtype == np.float32
    assert nerve.tensor([[1, 2.5]]).dtype == np.float32
    assert nerve.tensor(np.zeros(2)).dtype == np.float64
    assert nerve.tensor(np.zeros(2, dtype=np.float32)).dtype == np.float32
    assert nerve.tensor([1, 2]).dtype == np.int64
    assert nerve.tensor(3).dtype == np.int64
    assert nerve.tensor([True]).dtype == np.bool_
    assert nerve.tensor([1.0], dtype="float64").dtype == np.float64


def test_python_numbers_do_not_promote_float32():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    for y in (x + 0.1, 0.1 + x, x * 2.5, x - 1, 2 / x, x**2.0, 2.0**x, ops.maximum(x, 0.5), ops.where(x > 1, x, 0.0)):
        assert y.dtype == np.float32, y.op
    (x + 0.1).sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_stays_float64():
    x = nerve.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = ops.softmax(x * 0.5 + 1.0).sum()
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="int64"):
        nerve.tensor([1, 2], requires_grad=True)


def test_ndarray_on_the_left_returns_tensor():
    x = nerve.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0], dtype=np.float32)
    for y in (a + x, a - x, a * x, a / x, a**x, a @ x):
        assert isinstance(y, nerve.Tensor) and y.requires_grad
    (a - x).sum().backward()
    assert x.grad.tolist() == [-1.0, -1.0]


def test_comparisons_give_boolean_tensors_without_grad():
    x = nerve.tensor([1.0, 3.0], requires_grad=True)
    for y, expected in ((x > 2, [False, True]), (x <= 1, [True, False]), (x == 3, [False, True]), (x != 3, [True, False])):
        assert y.dtype == np.bool_ and not y.requires_grad and y.tolist() == expected


# ---------------------------------------------------------- custom Function
class Cube(nerve.Function):
    def forward(self, x):
        self.x = x
        return x**3

    def backward(self, grad):
        return (grad * 3 * self.x**2,)


def test_custom_function_gets_gradients_and_releases_saved_arrays():
    x = nerve.tensor([2.0], requires_grad=True)
    y = Cube.apply(x)
    op = y.op
    assert op.inputs == (x,) and op.needs_grad == (True,)
    y.backward()
    assert x.grad.tolist() == [12.0]
    assert not hasattr(op, "x")  # saved arrays dropped after backward
