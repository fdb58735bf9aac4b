"""Differentiable operations: each op's forward and backward side by side.

Every op is a :class:`~nerve.tensor.Function` subclass; the lower-case function
below it is the public way to call it (``nerve.ops.exp(x)`` or ``x.exp()``).
Array calls go through ``self.xp`` (the tensor's array module), never straight
to NumPy, so a GPU array library can drop in.

A few ops (``var``, ``std``, ``stack``, ``split``, ``silu``...) are compositions
of others and get their gradient for free. Fused ops (``linear``,
``softmax_cross_entropy``, ``batch_norm``) exist where speed or numerical
stability needs them; their tests compare them with the composed version.

Examples:
    >>> import nerve
    >>> from nerve import ops
    >>> x = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> ops.softmax(x, axis=-1).sum().item()
    2.0
"""

from __future__ import annotations

import builtins
import math

import numpy

from nerve.engine import comm
from nerve.engine.backend import get_array_module
from nerve.engine.kernels import half
from nerve.engine.kernels.elementwise import relu as relu_kernel
from nerve.engine.tensor import DEFAULT_FLOAT, Function, Tensor, _lift, tensor

__all__ = [
    "Abs",
    "Add",
    "BatchNorm",
    "Cast",
    "Clip",
    "Concatenate",
    "Div",
    "ELU",
    "Exp",
    "GELU",
    "GetItem",
    "LeakyReLU",
    "Linear",
    "Log",
    "LogSoftmax",
    "LogSumExp",
    "MatMul",
    "Maximum",
    "Mean",
    "Minimum",
    "Mul",
    "Neg",
    "Pad",
    "Pow",
    "PowScalar",
    "ReLU",
    "ReduceExtreme",
    "Reshape",
    "Sigmoid",
    "SigmoidBinaryCrossEntropy",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Softplus",
    "Sqrt",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "Where",
    "abs",
    "add",
    "batch_norm", "sync_batch_norm",
    "cast",
    "clip",
    "column_sums",
    "concat",
    "concatenate",
    "div",
    "elu",
    "equal",
    "exp",
    "expand_dims",
    "gelu",
    "getitem",
    "greater",
    "greater_equal",
    "leaky_relu",
    "less",
    "less_equal",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mul",
    "neg",
    "not_equal",
    "one_hot",
    "pad",
    "permute",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "sigmoid_binary_cross_entropy",
    "silu",
    "softmax",
    "softmax_cross_entropy",
    "softplus",
    "split",
    "sqrt",
    "squared_difference_mean",
    "SquaredDifferenceMean",
    "squeeze",
    "stack",
    "std",
    "sub",
    "sum",
    "sum_to",
    "tanh",
    "transpose",
    "unsqueeze",
    "var",
    "where",
]

# ------------------------------------------------------------------ helpers
def sum_to(xp, grad, shape):
    """Sum ``grad`` over broadcast axes so that it has ``shape`` (undo broadcasting).

    Examples:
        >>> import numpy as np
        >>> sum_to(np, np.ones((4, 3)), (1, 3)).tolist()
        [[4.0, 4.0, 4.0]]
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        rest = grad.shape[extra:]
        grad = column_sums(xp, grad.reshape(-1, math.prod(rest))).reshape(rest)
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


#: from this many rows on, :func:`column_sums` is one BLAS product (3-4x faster than ``sum(axis=0)``)
COLUMN_SUM_MIN_ROWS = 64


def column_sums(xp, matrix):
    """``matrix.sum(axis=0)`` of a 2-D ``(rows, k)`` array: a bias's gradient, summed over the batch.

    For tall float32/float64 matrices it is ``ones(rows) @ matrix``, one BLAS
    product, 3-4x faster than NumPy's reduction over the rows (measured: 79 us
    against 326 us for 4000 x 512; 3 against 7.5 us for 256 x 100).

    Examples:
        >>> import numpy as np
        >>> column_sums(np, np.arange(6.0).reshape(3, 2)).tolist()
        [6.0, 9.0]
    """
    if matrix.shape[0] >= COLUMN_SUM_MIN_ROWS and matrix.dtype.kind == "f" and matrix.dtype.itemsize >= 4:
        return xp.ones(matrix.shape[0], dtype=matrix.dtype) @ matrix
    return matrix.sum(axis=0)


def _as_tensor(value, like=None):
    if isinstance(value, Tensor):
        return value
    if like is not None:
        return _lift(value, like)
    return tensor(value)


def _broadcast_error(name, a, b):
    return ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together")


def _check_broadcast(name, a, b):
    try:
        numpy.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise _broadcast_error(name, a, b) from None


def _normalize_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    return tuple(a % ndim if ndim else 0 for a in axis)


def _axis_index(name, axis, ndim, shape):
    """``axis`` in ``[-ndim, ndim)`` as a non-negative index, else a ValueError naming ``shape``."""
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor of shape {tuple(shape)}")
    return axis % ndim


def _expand_reduced(xp, grad, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts back against ``shape``."""
    if keepdims or not shape:
        return grad
    axes = _normalize_axis(axis, len(shape))
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return grad.reshape(kept)


# --------------------------------------------------------------- arithmetic
class Add(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, grad):
        sa, sb = self.shapes
        xp = self.xp
        return sum_to(xp, grad, sa), sum_to(xp, grad, sb)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, grad):
        sa, sb = self.shapes
        xp = self.xp
        gb = sum_to(xp, -grad, sb) if self.needs_grad[1] else None
        return sum_to(xp, grad, sa), gb


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad):
        a, b, xp = self.a, self.b, self.xp
        ga = sum_to(xp, grad * b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(xp, grad * a, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, grad):
        a, b, xp = self.a, self.b, self.xp
        ga = sum_to(xp, grad / b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(xp, -grad * a / (b * b), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, grad):
        return (-grad,)


class PowScalar(Function):
    """``x ** p`` for a constant Python number ``p``."""

    def forward(self, x):
        self.x = x
        return x**self.p

    def backward(self, grad):
        p = self.p
        if p == 2:
            return (grad * 2 * self.x,)
        return (grad * p * self.x ** (p - 1),)


class Pow(Function):
    """``a ** b`` for two tensors (the gradient in ``b`` needs ``a > 0``)."""

    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, grad):
        a, b, xp = self.a, self.b, self.xp
        ga = sum_to(xp, grad * b * a ** (b - 1), a.shape) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            safe = xp.where(a > 0, a, 1)
            gb = sum_to(xp, grad * self.out * xp.log(safe), b.shape)
        return ga, gb


def add(a, b):
    """Elementwise ``a + b`` with broadcasting.

    Examples:
        >>> import nerve
        >>> add(nerve.tensor([1.0, 2.0]), 1).tolist()
        [2.0, 3.0]
    """
    a, b = _pair(a, b)
    _check_shapes("add", a, b)
    return Add.apply(a, b)


def sub(a, b):
    """Elementwise ``a - b`` with broadcasting.

    Examples:
        >>> import nerve
        >>> sub(1, nerve.tensor([1.0, 2.0])).tolist()
        [0.0, -1.0]
    """
    a, b = _pair(a, b)
    _check_shapes("subtract", a, b)
    return Sub.apply(a, b)


def mul(a, b):
    """Elementwise ``a * b`` with broadcasting.

    Examples:
        >>> import nerve
        >>> mul(nerve.tensor([1.0, 2.0]), 3).tolist()
        [3.0, 6.0]
    """
    a, b = _pair(a, b)
    _check_shapes("multiply", a, b)
    return Mul.apply(a, b)


def div(a, b):
    """Elementwise ``a / b`` with broadcasting.

    Examples:
        >>> import nerve
        >>> div(nerve.tensor([1.0, 2.0]), 2).tolist()
        [0.5, 1.0]
    """
    a, b = _pair(a, b)
    _check_shapes("divide", a, b)
    return Div.apply(a, b)


def neg(x):
    """Elementwise ``-x``.

    Examples:
        >>> import nerve
        >>> neg(nerve.tensor([1.0])).tolist()
        [-1.0]
    """
    return Neg.apply(_as_tensor(x))


def pow(a, b):  # noqa: A001 - mirrors numpy/torch naming
    """Elementwise ``a ** b``.

    Examples:
        >>> import nerve
        >>> pow(nerve.tensor([2.0, 3.0]), 2).tolist()
        [4.0, 9.0]
    """
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return PowScalar.apply(a, p=b)
    a, b = _pair(a, b)
    _check_shapes("power", a, b)
    return Pow.apply(a, b)


def _pair(a, b):
    if isinstance(a, Tensor):
        return a, (b if isinstance(b, Tensor) else _lift(b, a))
    if isinstance(b, Tensor):
        return _lift(a, b), b
    return _as_tensor(a), _as_tensor(b)


def _check_shapes(name, a, b):
    if a.shape != b.shape:
        _check_broadcast(name, a, b)


# ------------------------------------------------------------------- matmul
class MatMul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        if a.ndim > 2 and b.ndim == 2:  # one 2-D product: NumPy's stacked 3-D @ 2-D matmul skips BLAS
            return half.matmul(self.xp, a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[-1],))
        return half.matmul(self.xp, a, b)

    def backward(self, grad):
        a, b, xp = self.a, self.b, self.xp
        a2 = a if a.ndim > 1 else a[None, :]
        b2 = b if b.ndim > 1 else b[:, None]
        g2 = grad
        if b.ndim == 1:
            g2 = g2[..., None]  # (..., m) -> (..., m, 1); a 0-d grad (vector @ vector) -> (1,)
        if a.ndim == 1:
            g2 = g2[..., None, :]  # (..., n) -> (..., 1, n)
        ga = gb = None
        if a.ndim > 2 and b.ndim == 2:  # as in forward: 2-D products over the stacked rows
            rows = g2.reshape(-1, g2.shape[-1])
            if self.needs_grad[0]:
                ga = half.matmul(xp, rows, b.T).reshape(a.shape)
            if self.needs_grad[1]:
                gb = half.matmul(xp, a.reshape(-1, a.shape[-1]).T, rows)
            return ga, gb
        if self.needs_grad[0]:
            ga = sum_to(xp, half.matmul(xp, g2, xp.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = sum_to(xp, half.matmul(xp, xp.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a, b):
    """Matrix product ``a @ b``, batched over leading axes like ``numpy.matmul``.

    Examples:
        >>> import nerve
        >>> matmul(nerve.tensor([[1.0, 2.0]]), nerve.tensor([[3.0], [4.0]])).tolist()
        [[11.0]]
    """
    a, b = _pair(a, b)
    ka = a.shape[-1] if a.ndim else None
    kb = b.shape[-2] if b.ndim > 1 else (b.shape[0] if b.ndim == 1 else None)
    if a.ndim == 0 or b.ndim == 0 or ka != kb:
        raise ValueError(
            f"matmul: inner dimensions do not match: {tuple(a.shape)} @ {tuple(b.shape)} "
            f"(the last axis of the left operand must equal the second-to-last of the right)"
        )
    return MatMul.apply(a, b)


def _plain_matmul(xp, a, b):
    return a @ b


class Linear(Function):
    """Fused ``x @ w + b`` (the Dense layer's op), optionally followed by ReLU: one node instead of three."""

    relu = False

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        mm = half.matmul if x.dtype.itemsize == 2 else _plain_matmul
        if x.ndim == 2:
            out = mm(self.xp, x, w)
        else:  # one 2-D product over all leading axes: NumPy's stacked (3-D @ 2-D) matmul skips BLAS (16x slower)
            out = mm(self.xp, x.reshape(-1, x.shape[-1]), w).reshape(x.shape[:-1] + (w.shape[-1],))
        if b is not None:
            out += b
        if self.relu:
            self.mask = out > 0
            relu_kernel(self.xp, out, out=out)
        return out

    def backward(self, grad):
        x, w = self.x, self.w
        if self.relu:
            grad = grad * self.mask
        mm = half.matmul if x.dtype.itemsize == 2 else _plain_matmul
        gx = None
        if self.needs_grad[0]:
            gx = mm(self.xp, grad, w.T) if grad.ndim == 2 else \
                mm(self.xp, grad.reshape(-1, grad.shape[-1]), w.T).reshape(grad.shape[:-1] + (w.shape[0],))
        gw = gb = None
        if self.needs_grad[1]:
            if x.ndim == 2:
                gw = mm(self.xp, x.T, grad)
            else:
                gw = mm(self.xp, x.reshape(-1, x.shape[-1]).T, grad.reshape(-1, grad.shape[-1]))
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = column_sums(self.xp, grad.reshape(-1, grad.shape[-1]))
        return gx, gw, gb


def linear(x, weight, bias=None, activation=None):
    """Affine map ``x @ weight + bias`` over the last axis of ``x``; ``activation="relu"`` fuses a ReLU.

    Examples:
        >>> import nerve
        >>> x = nerve.tensor([[1.0, 1.0]])
        >>> linear(x, nerve.tensor([[1.0], [2.0]]), nerve.tensor([0.5])).tolist()
        [[3.5]]
        >>> linear(x, nerve.tensor([[-1.0], [-2.0]]), activation="relu").tolist()
        [[0.0]]
    """
    x = _as_tensor(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[0]:
        raise ValueError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features on its last axis (shape {tuple(x.shape)}) "
            f"but the weight expects {weight.shape[0]} (weight shape {tuple(weight.shape)})"
        )
    if activation not in (None, "relu"):
        raise ValueError(f"linear: activation must be None or 'relu', got {activation!r}")
    params = {"relu": True} if activation == "relu" else {}
    if bias is None:
        return Linear.apply(x, weight, **params)
    return Linear.apply(x, weight, bias, **params)


# ------------------------------------------------------------ elementwise
class Exp(Function):
    def forward(self, x):
        self.out = self.xp.exp(x)
        return self.out

    def backward(self, grad):
        return (grad * self.out,)


class Log(Function):
    def forward(self, x):
        self.x = x
        return self.xp.log(x)

    def backward(self, grad):
        return (grad / self.x,)


class Sqrt(Function):
    def forward(self, x):
        self.out = self.xp.sqrt(x)
        return self.out

    def backward(self, grad):
        return (grad / (2 * self.out),)


class Abs(Function):
    def forward(self, x):
        self.x = x
        return self.xp.abs(x)

    def backward(self, grad):
        return (grad * self.xp.sign(self.x),)


class Clip(Function):
    def forward(self, x):
        self.x = x
        return self.xp.clip(x, self.low, self.high)

    def backward(self, grad):
        x, xp = self.x, self.xp
        inside = xp.ones(x.shape, dtype=bool)
        if self.low is not None:
            inside &= x >= self.low
        if self.high is not None:
            inside &= x <= self.high
        return (grad * inside,)


class Maximum(Function):
    def forward(self, a, b):
        self.mask = a >= b
        self.shapes = a.shape, b.shape
        return self.xp.maximum(a, b)

    def backward(self, grad):
        sa, sb = self.shapes
        xp, mask = self.xp, self.mask
        return sum_to(xp, grad * mask, sa), sum_to(xp, grad * ~mask, sb)


class Minimum(Function):
    def forward(self, a, b):
        self.mask = a <= b
        self.shapes = a.shape, b.shape
        return self.xp.minimum(a, b)

    def backward(self, grad):
        sa, sb = self.shapes
        xp, mask = self.xp, self.mask
        return sum_to(xp, grad * mask, sa), sum_to(xp, grad * ~mask, sb)


class Where(Function):
    def forward(self, a, b):
        self.shapes = a.shape, b.shape
        return self.xp.where(self.condition, a, b)

    def backward(self, grad):
        sa, sb = self.shapes
        xp, c = self.xp, self.condition
        zero = xp.zeros((), dtype=grad.dtype)
        return sum_to(xp, xp.where(c, grad, zero), sa), sum_to(xp, xp.where(c, zero, grad), sb)


class Cast(Function):
    def forward(self, x):
        self.source = x.dtype
        return x.astype(self.dtype)

    def backward(self, grad):
        return (grad.astype(self.source),)


def exp(x):
    """Elementwise e**x.

    Examples:
        >>> import nerve
        >>> round(exp(nerve.tensor([1.0])).item(), 4)
        2.7183
    """
    return Exp.apply(_as_tensor(x))


def log(x):
    """Elementwise natural logarithm.

    Examples:
        >>> import nerve
        >>> log(nerve.tensor([1.0])).item()
        0.0
    """
    return Log.apply(_as_tensor(x))


def sqrt(x):
    """Elementwise square root.

    Examples:
        >>> import nerve
        >>> sqrt(nerve.tensor([4.0])).item()
        2.0
    """
    return Sqrt.apply(_as_tensor(x))


def abs(x):  # noqa: A001
    """Elementwise absolute value (gradient sign(x), 0 at 0).

    Examples:
        >>> import nerve
        >>> abs(nerve.tensor([-2.0])).item()
        2.0
    """
    return Abs.apply(_as_tensor(x))


def clip(x, low=None, high=None):
    """Clamp values to ``[low, high]``; the gradient is 0 where clamped.

    Examples:
        >>> import nerve
        >>> clip(nerve.tensor([-2.0, 0.5, 3.0]), 0, 1).tolist()
        [0.0, 0.5, 1.0]
    """
    if low is None and high is None:
        raise ValueError("clip: give at least one of low and high")
    return Clip.apply(_as_tensor(x), low=low, high=high)


def maximum(a, b):
    """Elementwise maximum of two tensors (ties send the gradient to ``a``).

    Examples:
        >>> import nerve
        >>> maximum(nerve.tensor([1.0, 5.0]), 2).tolist()
        [2.0, 5.0]
    """
    a, b = _pair(a, b)
    _check_shapes("maximum", a, b)
    return Maximum.apply(a, b)


def minimum(a, b):
    """Elementwise minimum of two tensors (ties send the gradient to ``a``).

    Examples:
        >>> import nerve
        >>> minimum(nerve.tensor([1.0, 5.0]), 2).tolist()
        [1.0, 2.0]
    """
    a, b = _pair(a, b)
    _check_shapes("minimum", a, b)
    return Minimum.apply(a, b)


def where(condition, a, b):
    """Pick ``a`` where ``condition`` is true, else ``b`` (no gradient to the condition).

    Examples:
        >>> import nerve
        >>> x = nerve.tensor([-1.0, 2.0])
        >>> where(x > 0, x, 0.0).tolist()
        [0.0, 2.0]
    """
    a, b = _pair(a, b)
    condition = condition.data if isinstance(condition, Tensor) else a.xp.asarray(condition)
    return Where.apply(a, b, condition=condition.astype(bool))


def cast(x, dtype):
    """Convert to ``dtype``; the gradient is converted back.

    Examples:
        >>> import nerve
        >>> cast(nerve.tensor([1.0]), "float64").dtype
        dtype('float64')
    """
    x = _as_tensor(x)
    dtype = numpy.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind not in "fc":
        return Tensor(x.data.astype(dtype))
    return Cast.apply(x, dtype=dtype)


# ------------------------------------------------------- comparisons (no grad)
def _compare(fn_name, a, b):
    a, b = _pair(a, b)
    xp = a.xp
    return Tensor(getattr(xp, fn_name)(a.data, b.data))


def less(a, b):
    """Elementwise ``a < b`` as a boolean tensor (not differentiable).

    Examples:
        >>> import nerve
        >>> less(nerve.tensor([1.0, 3.0]), 2).tolist()
        [True, False]
    """
    return _compare("less", a, b)


def less_equal(a, b):
    """Elementwise ``a <= b`` (boolean, not differentiable).

    Examples:
        >>> import nerve
        >>> less_equal(nerve.tensor([1.0, 3.0]), 2).tolist()
        [True, False]
    """
    return _compare("less_equal", a, b)


def greater(a, b):
    """Elementwise ``a > b`` (boolean, not differentiable).

    Examples:
        >>> import nerve
        >>> greater(nerve.tensor([1.0, 3.0]), 2).tolist()
        [False, True]
    """
    return _compare("greater", a, b)


def greater_equal(a, b):
    """Elementwise ``a >= b`` (boolean, not differentiable).

    Examples:
        >>> import nerve
        >>> greater_equal(nerve.tensor([1.0, 3.0]), 2).tolist()
        [False, True]
    """
    return _compare("greater_equal", a, b)


def equal(a, b):
    """Elementwise ``a == b`` (boolean, not differentiable).

    Examples:
        >>> import nerve
        >>> equal(nerve.tensor([1.0, 3.0]), 2).tolist()
        [False, False]
    """
    return _compare("equal", a, b)


def not_equal(a, b):
    """Elementwise ``a != b`` (boolean, not differentiable).

    Examples:
        >>> import nerve
        >>> not_equal(nerve.tensor([1.0, 3.0]), 2).tolist()
        [True, True]
    """
    return _compare("not_equal", a, b)


# --------------------------------------------------------------- reductions
class Sum(Function):
    def forward(self, x):
        self.shape = x.shape
        return self.xp.sum(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, grad):
        xp = self.xp
        grad = _expand_reduced(xp, grad, self.shape, self.axis, self.keepdims)
        return (xp.broadcast_to(grad, self.shape),)


class Mean(Function):
    def forward(self, x):
        self.shape = x.shape
        total = self.xp.sum(x, axis=self.axis, keepdims=self.keepdims)
        self.count = x.size // builtins.max(total.size, 1) if x.size else 1
        if x.dtype.kind not in "fc":
            return total / self.count
        return total * x.dtype.type(1.0 / self.count) if self.count else total / self.count

    def backward(self, grad):
        xp = self.xp
        grad = _expand_reduced(xp, grad, self.shape, self.axis, self.keepdims)
        return (xp.broadcast_to(grad / self.count, self.shape),)


class ReduceExtreme(Function):
    """max or min over axes; ties share the gradient equally."""

    def forward(self, x):
        xp = self.xp
        fn = xp.max if self.largest else xp.min
        out = fn(x, axis=self.axis, keepdims=True)
        self.mask = x == out
        return out if self.keepdims else (out.reshape(()) if self.axis is None else xp.squeeze(out, axis=self.axis))

    def backward(self, grad):
        xp, mask = self.xp, self.mask
        grad = _expand_reduced(xp, grad, mask.shape, self.axis, self.keepdims)
        count = mask.sum(axis=self.axis, keepdims=True)
        return (mask * (grad / count),)


def _check_axis(name, x, axis):
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -x.ndim <= a < builtins.max(x.ndim, 1):
            raise ValueError(f"{name}: axis {a} is out of range for a tensor of shape {tuple(x.shape)}")
    return axis if isinstance(axis, int) else axes


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum over ``axis`` (all axes when None).

    Examples:
        >>> import nerve
        >>> sum(nerve.tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).tolist()
        [4.0, 6.0]
    """
    x = _as_tensor(x)
    return Sum.apply(x, axis=_check_axis("sum", x, axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """Arithmetic mean over ``axis``.

    Examples:
        >>> import nerve
        >>> mean(nerve.tensor([1.0, 2.0, 6.0])).item()
        3.0
    """
    x = _as_tensor(x)
    return Mean.apply(x, axis=_check_axis("mean", x, axis), keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Maximum over ``axis``; the gradient goes to the maximal entries.

    Examples:
        >>> import nerve
        >>> max(nerve.tensor([1.0, 4.0, 2.0])).item()
        4.0
    """
    x = _as_tensor(x)
    return ReduceExtreme.apply(x, axis=_check_axis("max", x, axis), keepdims=keepdims, largest=True)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Minimum over ``axis``; the gradient goes to the minimal entries.

    Examples:
        >>> import nerve
        >>> min(nerve.tensor([1.0, 4.0, 2.0])).item()
        1.0
    """
    x = _as_tensor(x)
    return ReduceExtreme.apply(x, axis=_check_axis("min", x, axis), keepdims=keepdims, largest=False)


def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis`` (``ddof=1`` for the unbiased estimate).

    Examples:
        >>> import nerve
        >>> var(nerve.tensor([1.0, 3.0])).item()
        1.0
    """
    x = _as_tensor(x)
    centred = x - mean(x, axis, keepdims=True)
    n = x.size // builtins.max(mean(x.detach(), axis, keepdims=keepdims).size, 1)
    return sum(centred * centred, axis, keepdims) / builtins.max(n - ddof, 1)


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis``.

    Examples:
        >>> import nerve
        >>> std(nerve.tensor([1.0, 3.0])).item()
        1.0
    """
    return sqrt(var(x, axis, keepdims, ddof))


# ------------------------------------------------------------------ shapes
class Reshape(Function):
    def forward(self, x):
        self.source = x.shape
        return x.reshape(self.shape)

    def backward(self, grad):
        return (grad.reshape(self.source),)


class Transpose(Function):
    def forward(self, x):
        return self.xp.transpose(x, self.axes)

    def backward(self, grad):
        if self.axes is None:
            return (self.xp.transpose(grad),)
        return (self.xp.transpose(grad, tuple(numpy.argsort(self.axes).tolist())),)  # host axes as a tuple


def reshape(x, shape):
    """Give ``x`` a new shape with the same number of elements (-1 infers one axis).

    Examples:
        >>> import nerve
        >>> reshape(nerve.tensor([1.0, 2.0, 3.0, 4.0]), (2, -1)).shape
        (2, 2)
    """
    x = _as_tensor(x)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) > 1 or (-1 not in shape and known != x.size) or (-1 in shape and (known == 0 or x.size % known)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} ({x.size} elements) into {shape}")
    return Reshape.apply(x, shape=shape)


def transpose(x, axes=None):
    """Permute axes (reverse them when ``axes`` is None).

    Examples:
        >>> import nerve
        >>> transpose(nerve.tensor([[1.0, 2.0]])).shape
        (2, 1)
    """
    x = _as_tensor(x)
    if axes is not None:
        axes = tuple(_axis_index("transpose", a, x.ndim, x.shape) for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape {tuple(x.shape)}")
    return Transpose.apply(x, axes=axes)


permute = transpose


def squeeze(x, axis=None):
    """Remove axes of length 1.

    Examples:
        >>> import nerve
        >>> squeeze(nerve.tensor([[1.0], [2.0]]), 1).shape
        (2,)
    """
    x = _as_tensor(x)
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = tuple(_axis_index("squeeze", a, x.ndim, x.shape) for a in ((axis,) if isinstance(axis, int) else axis))
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} of shape {tuple(x.shape)} has length {x.shape[a]}, not 1")
    return Reshape.apply(x, shape=tuple(n for i, n in enumerate(x.shape) if i not in axes))


def expand_dims(x, axis):
    """Insert an axis of length 1 at position ``axis``.

    Examples:
        >>> import nerve
        >>> expand_dims(nerve.tensor([1.0, 2.0]), 0).shape
        (1, 2)
    """
    x = _as_tensor(x)
    axis = _axis_index("expand_dims", axis, x.ndim + 1, x.shape)
    return Reshape.apply(x, shape=x.shape[:axis] + (1,) + x.shape[axis:])


unsqueeze = expand_dims


# ----------------------------------------------------------------- indexing
def _has_advanced(index):
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if (isinstance(item, (list, numpy.ndarray)) or hasattr(item, "__array_interface__")
                or hasattr(item, "__cuda_array_interface__") or get_array_module(item) is not numpy):
            return True  # an index array, on the host or on a device
    return False


class GetItem(Function):
    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, grad):
        xp = self.xp
        full = xp.zeros(self.shape, dtype=grad.dtype)
        if self.advanced:
            xp.add.at(full, self.index, grad)  # repeated indices add up
        else:
            full[self.index] = grad
        return (full,)


def getitem(x, index):
    """Basic slicing and integer-array indexing; repeated indices add up in the gradient.

    Examples:
        >>> import nerve
        >>> x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
        >>> x[[0, 0, 2]].sum().backward()
        >>> x.grad.tolist()
        [2.0, 0.0, 1.0]
    """
    x = _as_tensor(x)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    advanced = _has_advanced(index)
    if isinstance(index, list):
        index = x.xp.asarray(index)
    try:
        return GetItem.apply(x, index=index, advanced=advanced)
    except IndexError as error:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {tuple(x.shape)}: {error}") from None


class Concatenate(Function):
    def forward(self, *arrays):
        self.sizes = [a.shape[self.axis] for a in arrays]
        return self.xp.concatenate(arrays, axis=self.axis)

    def backward(self, grad):
        bounds = numpy.cumsum(self.sizes)[:-1].tolist()  # host numbers, not a host array
        parts = self.xp.split(grad, bounds, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_grad))


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis.

    Examples:
        >>> import nerve
        >>> concatenate([nerve.tensor([1.0]), nerve.tensor([2.0, 3.0])]).tolist()
        [1.0, 2.0, 3.0]
    """
    tensors = [_as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: needs at least one tensor")
    ndim = tensors[0].ndim
    axis = _axis_index("concatenate", axis, ndim, tensors[0].shape)
    for t in tensors[1:]:
        if t.ndim != ndim or any(t.shape[i] != tensors[0].shape[i] for i in range(ndim) if i != axis):
            shapes = [tuple(t.shape) for t in tensors]
            raise ValueError(f"concatenate: shapes {shapes} must agree on every axis except axis {axis}")
    return Concatenate.apply(*tensors, axis=axis)


concat = concatenate


def stack(tensors, axis=0):
    """Join tensors of the same shape along a new axis.

    Examples:
        >>> import nerve
        >>> stack([nerve.tensor([1.0, 2.0]), nerve.tensor([3.0, 4.0])]).shape
        (2, 2)
    """
    tensors = [_as_tensor(t) for t in tensors]
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


def split(x, sections, axis=0):
    """Split into equal parts (``sections`` an int) or at the given indices.

    Examples:
        >>> import nerve
        >>> [t.tolist() for t in split(nerve.tensor([1.0, 2.0, 3.0, 4.0]), 2)]
        [[1.0, 2.0], [3.0, 4.0]]
    """
    x = _as_tensor(x)
    axis = _axis_index("split", axis, x.ndim, x.shape)
    n = x.shape[axis]
    if isinstance(sections, int):
        if n % sections:
            raise ValueError(f"split: axis {axis} of length {n} cannot be split into {sections} equal parts")
        bounds = list(range(0, n + 1, n // sections))
    else:
        bounds = [0] + list(sections) + [n]
    out = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        index = (slice(None),) * axis + (slice(start, stop),)
        out.append(getitem(x, index))
    return out


class Pad(Function):
    def forward(self, x):
        self.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(self.pad_width, x.shape))
        return self.xp.pad(x, self.pad_width, mode="constant", constant_values=self.value)

    def backward(self, grad):
        return (grad[self.slices],)


def pad(x, pad_width, value=0.0):
    """Pad with a constant; ``pad_width`` is ``((before, after), ...)`` per axis.

    Examples:
        >>> import nerve
        >>> pad(nerve.tensor([1.0]), ((1, 2),)).tolist()
        [0.0, 1.0, 0.0, 0.0]
    """
    x = _as_tensor(x)
    if isinstance(pad_width, int):
        pad_width = ((pad_width, pad_width),) * x.ndim
    pad_width = tuple((int(lo), int(hi)) for lo, hi in pad_width)
    if len(pad_width) != x.ndim:
        raise ValueError(f"pad: got {len(pad_width)} (before, after) pairs for a tensor of rank {x.ndim}")
    return Pad.apply(x, pad_width=pad_width, value=value)


def one_hot(labels, num_classes, dtype=DEFAULT_FLOAT):
    """One-hot encode integer labels (not differentiable).

    Examples:
        >>> import nerve
        >>> one_hot(nerve.tensor([0, 2]), 3).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if isinstance(labels, Tensor):
        data = labels.data
    elif hasattr(labels, "shape") and hasattr(labels, "dtype"):
        data = labels  # an array of any registered module stays where it is
    else:
        data = numpy.asarray(labels)
    xp = get_array_module(data)
    if data.dtype.kind not in "iu":
        if data.dtype.kind == "f" and xp.all(data == xp.round(data)):
            data = data.astype(numpy.int64)
        else:
            raise TypeError(f"one_hot: labels must be integers, got dtype {data.dtype}")
    if data.size and (data.min() < 0 or data.max() >= num_classes):
        raise ValueError(f"one_hot: labels must lie in [0, {num_classes - 1}], got values from {int(data.min())} to {int(data.max())}")
    out = xp.zeros(data.shape + (num_classes,), dtype=dtype)
    xp.put_along_axis(out, data[..., None], 1, axis=-1)
    return Tensor(out)


# ------------------------------------------------------ softmax & friends
class LogSumExp(Function):
    def forward(self, x):
        xp = self.xp
        m = xp.max(x, axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        self.x = x
        out = xp.log(xp.sum(xp.exp(x - m), axis=self.axis, keepdims=True)) + m
        self.out = out
        return out if self.keepdims else out.reshape([n for i, n in enumerate(out.shape) if i not in _normalize_axis(self.axis, x.ndim)])

    def backward(self, grad):
        xp = self.xp
        grad = _expand_reduced(xp, grad, self.x.shape, self.axis, self.keepdims)
        return (grad * xp.exp(self.x - self.out),)


class Softmax(Function):
    def forward(self, x):
        xp = self.xp
        e = xp.exp(x - xp.max(x, axis=self.axis, keepdims=True))
        self.out = e / xp.sum(e, axis=self.axis, keepdims=True)
        return self.out

    def backward(self, grad):
        y = self.out
        return (y * (grad - (grad * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, x):
        xp = self.xp
        shifted = x - xp.max(x, axis=self.axis, keepdims=True)
        self.out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=self.axis, keepdims=True))
        return self.out

    def backward(self, grad):
        xp = self.xp
        return (grad - xp.exp(self.out) * grad.sum(axis=self.axis, keepdims=True),)


def logsumexp(x, axis=None, keepdims=False):
    """Stable ``log(sum(exp(x)))`` over ``axis``.

    Examples:
        >>> import nerve
        >>> round(logsumexp(nerve.tensor([1e4, 1e4], dtype="float64")).item() - 1e4, 4)
        0.6931
    """
    x = _as_tensor(x)
    return LogSumExp.apply(x, axis=_check_axis("logsumexp", x, axis), keepdims=keepdims)


def softmax(x, axis=-1):
    """Softmax along ``axis``: exponentials normalised to sum to 1 (stable for large inputs).

    Examples:
        >>> import nerve
        >>> softmax(nerve.tensor([0.0, 0.0])).tolist()
        [0.5, 0.5]
    """
    x = _as_tensor(x)
    return Softmax.apply(x, axis=_check_axis("softmax", x, axis))


def log_softmax(x, axis=-1):
    """Logarithm of the softmax, computed stably.

    Examples:
        >>> import nerve
        >>> round(log_softmax(nerve.tensor([0.0, 0.0])).tolist()[0], 4)
        -0.6931
    """
    x = _as_tensor(x)
    return LogSoftmax.apply(x, axis=_check_axis("log_softmax", x, axis))


# -------------------------------------------------------------- activations
class ReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        return relu_kernel(self.xp, x)

    def backward(self, grad):
        return (grad * self.mask,)


class LeakyReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        return self.xp.where(self.mask, x, self.alpha * x)

    def backward(self, grad):
        return (self.xp.where(self.mask, grad, self.alpha * grad),)


class ELU(Function):
    def forward(self, x):
        xp = self.xp
        self.mask = x > 0
        self.neg = self.alpha * xp.expm1(xp.minimum(x, 0))
        return xp.where(self.mask, x, self.neg)

    def backward(self, grad):
        return (self.xp.where(self.mask, grad, grad * (self.neg + self.alpha)),)


class Sigmoid(Function):
    def forward(self, x):
        xp = self.xp
        # exp(-|x|) never overflows (sigmoid(+-1000) = 1, 0) and keeps precision for large negative x
        e = xp.exp(-xp.abs(x))
        self.out = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.out

    def backward(self, grad):
        y = self.out
        return (grad * y * (1 - y),)


class Tanh(Function):
    def forward(self, x):
        self.out = self.xp.tanh(x)
        return self.out

    def backward(self, grad):
        y = self.out
        return (grad * (1 - y * y),)


class GELU(Function):
    """tanh approximation of GELU (as in GPT-2 and ``approximate='tanh'`` in PyTorch)."""

    C = math.sqrt(2 / math.pi)

    def forward(self, x):
        xp = self.xp
        self.x = x
        self.t = xp.tanh(self.C * (x + 0.044715 * x**3))
        return 0.5 * x * (1 + self.t)

    def backward(self, grad):
        x, t = self.x, self.t
        dt = (1 - t * t) * self.C * (1 + 3 * 0.044715 * x * x)
        return (grad * (0.5 * (1 + t) + 0.5 * x * dt),)


class Softplus(Function):
    def forward(self, x):
        xp = self.xp
        self.x = x
        return xp.logaddexp(0, x).astype(x.dtype, copy=False)

    def backward(self, grad):
        return (grad * (0.5 * (self.xp.tanh(0.5 * self.x) + 1)),)


def relu(x):
    """Rectified linear unit max(0, x).

    Examples:
        >>> import nerve
        >>> relu(nerve.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """
    return ReLU.apply(_as_tensor(x))


def leaky_relu(x, alpha=0.01):
    """x for x > 0, alpha * x otherwise (Keras's default alpha is 0.3 for the layer, 0.01 here like PyTorch).

    Examples:
        >>> import nerve
        >>> leaky_relu(nerve.tensor([-1.0, 2.0]), alpha=0.1).tolist()
        [-0.10000000149011612, 2.0]
    """
    return LeakyReLU.apply(_as_tensor(x), alpha=alpha)


def elu(x, alpha=1.0):
    """Exponential linear unit: x for x > 0, alpha * (exp(x) - 1) otherwise.

    Examples:
        >>> import nerve
        >>> round(elu(nerve.tensor([-1.0])).item(), 4)
        -0.6321
    """
    return ELU.apply(_as_tensor(x), alpha=alpha)


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)), without overflow for large |x|.

    Examples:
        >>> import nerve
        >>> sigmoid(nerve.tensor([0.0, 1000.0, -1000.0])).tolist()
        [0.5, 1.0, 0.0]
    """
    return Sigmoid.apply(_as_tensor(x))


def tanh(x):
    """Hyperbolic tangent.

    Examples:
        >>> import nerve
        >>> tanh(nerve.tensor([0.0])).item()
        0.0
    """
    return Tanh.apply(_as_tensor(x))


def gelu(x, approximate=True):
    """Gaussian error linear unit: the tanh approximation, or with ``approximate=False`` the exact erf form.

    Keras's ``ops.gelu`` defaults to ``approximate=True`` like this; ``nerve.activations.gelu`` (the
    ``"gelu"`` activation) defaults to the exact form, as Keras's activation and PyTorch do.

    Examples:
        >>> import nerve
        >>> round(gelu(nerve.tensor([1.0])).item(), 4), round(gelu(nerve.tensor([1.0]), approximate=False).item(), 4)
        (0.8412, 0.8413)
    """
    if not approximate:
        from nerve.engine.ops.special import gelu_exact  # special builds on this module

        return gelu_exact(x)
    return GELU.apply(_as_tensor(x))


def softplus(x):
    """Smooth ReLU log(1 + exp(x)), stable for large |x|.

    Examples:
        >>> import nerve
        >>> round(softplus(nerve.tensor([0.0])).item(), 4)
        0.6931
    """
    return Softplus.apply(_as_tensor(x))


def silu(x):
    """SiLU / swish: x * sigmoid(x).

    Examples:
        >>> import nerve
        >>> round(silu(nerve.tensor([1.0])).item(), 4)
        0.7311
    """
    x = _as_tensor(x)
    return x * sigmoid(x)


# ------------------------------------------------------------- fused losses
class SoftmaxCrossEntropy(Function):
    """Per-sample cross-entropy of softmax(logits) against targets along the last axis.

    ``sparse=True``: targets are integer class ids (given as the op parameter
    ``labels``); otherwise a probability tensor (one-hot or soft labels).
    """

    def forward(self, logits, targets=None):
        xp = self.xp
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
        self.log_probs = log_probs
        if targets is None:
            picked = xp.take_along_axis(log_probs, self.labels[..., None], axis=-1)[..., 0]
            return -picked
        self.targets = targets
        return -(targets * log_probs).sum(axis=-1)

    def backward(self, grad):
        xp = self.xp
        probs = xp.exp(self.log_probs)
        if len(self.needs_grad) == 1:
            g = probs
            xp.put_along_axis(g, self.labels[..., None], xp.take_along_axis(g, self.labels[..., None], axis=-1) - 1, axis=-1)
            return (g * grad[..., None],)
        targets = self.targets
        g_logits = (probs * targets.sum(axis=-1, keepdims=True) - targets) * grad[..., None]
        g_targets = -self.log_probs * grad[..., None] if self.needs_grad[1] else None
        return g_logits, g_targets


def softmax_cross_entropy(logits, targets=None, labels=None):
    """Cross-entropy between softmax(logits) and ``targets`` (probabilities) or ``labels`` (class ids), per sample.

    Examples:
        >>> import nerve
        >>> logits = nerve.tensor([[0.0, 0.0]])
        >>> round(softmax_cross_entropy(logits, labels=nerve.tensor([1])).item(), 4)
        0.6931
    """
    logits = _as_tensor(logits)
    if labels is not None:
        labels = labels.data if isinstance(labels, Tensor) else logits.xp.asarray(labels)
        return SoftmaxCrossEntropy.apply(logits, labels=labels.astype(numpy.int64, copy=False))
    return SoftmaxCrossEntropy.apply(logits, _as_tensor(targets, logits))


class SigmoidBinaryCrossEntropy(Function):
    """Elementwise binary cross-entropy of sigmoid(logits) against targets, stable for any logit."""

    def forward(self, logits, targets):
        xp = self.xp
        self.logits, self.targets = logits, targets
        # max(z, 0) - z * t + log(1 + exp(-|z|))
        return xp.maximum(logits, 0) - logits * targets + xp.log1p(xp.exp(-xp.abs(logits)))

    def backward(self, grad):
        xp = self.xp
        probs = 0.5 * (xp.tanh(0.5 * self.logits) + 1)
        g_logits = (probs - self.targets) * grad
        g_targets = -self.logits * grad if self.needs_grad[1] else None
        return g_logits, g_targets


def sigmoid_binary_cross_entropy(logits, targets):
    """Binary cross-entropy of sigmoid(logits) against targets in [0, 1], elementwise.

    Examples:
        >>> import nerve
        >>> round(sigmoid_binary_cross_entropy(nerve.tensor([0.0]), nerve.tensor([1.0])).item(), 4)
        0.6931
    """
    logits, targets = _pair(logits, targets)
    return SigmoidBinaryCrossEntropy.apply(logits, targets)


class SquaredDifferenceMean(Function):
    """Fused ``mean((a - b) ** 2, axis=-1)``: the per-sample MSE in one node.

    With ``reduction="mean"`` or ``"sum"`` the per-sample values are also
    reduced over the batch inside the same node (the MSE training loss as one
    op): ``"mean"`` is the mean of every squared difference, ``"sum"`` the sum
    of the per-sample means.
    """

    reduction = None

    def forward(self, a, b):
        self.diff = diff = a - b
        if self.reduction is None:
            return (diff * diff).mean(axis=-1)
        count = diff.size if self.reduction == "mean" else (diff.shape[-1] if diff.ndim else 1)
        self.scale = 1.0 / builtins.max(count, 1)
        squares = diff * diff
        return squares.sum() * diff.dtype.type(self.scale)

    def backward(self, grad):
        diff, xp = self.diff, self.xp
        if self.reduction is None:
            g = diff * (grad[..., None] * (2.0 / diff.shape[-1])).astype(diff.dtype, copy=False)
        else:
            g = diff * (grad * (2.0 * self.scale)).astype(diff.dtype, copy=False)  # grad: a 0-d array, on the device too
        ga = sum_to(xp, g, self.inputs[0].shape) if self.needs_grad[0] else None
        gb = sum_to(xp, -g, self.inputs[1].shape) if self.needs_grad[1] else None
        return ga, gb


def squared_difference_mean(a, b, reduction=None):
    """Mean over the last axis of ``(a - b) ** 2`` (one value per sample), fused for speed.

    ``reduction="mean"`` returns the mean over the batch too (a scalar: the
    mean of all squared differences), ``reduction="sum"`` the sum of the
    per-sample means; both stay one graph node.

    Examples:
        >>> import nerve
        >>> a, b = nerve.tensor([[1.0, 3.0], [2.0, 2.0]]), nerve.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> squared_difference_mean(a, b).tolist()
        [5.0, 4.0]
        >>> squared_difference_mean(a, b, reduction="mean").item(), squared_difference_mean(a, b, reduction="sum").item()
        (4.5, 9.0)
    """
    if reduction not in (None, "mean", "sum"):
        raise ValueError(f"squared_difference_mean: reduction must be None, 'mean' or 'sum', got {reduction!r}")
    a, b = _pair(a, b)
    _check_shapes("squared_difference_mean", a, b)
    if reduction is None:
        return SquaredDifferenceMean.apply(a, b)
    if a.shape != b.shape:  # the batch reduction below assumes no broadcasting
        return (mean if reduction == "mean" else sum)(SquaredDifferenceMean.apply(a, b))
    return SquaredDifferenceMean.apply(a, b, reduction=reduction)


# ---------------------------------------------------------- normalisation
class BatchNorm(Function):
    """Batch normalisation in training mode over every axis but the last (the features/channels)."""

    def forward(self, x, gamma, beta):
        centred = x - self.mean
        self.inv_std = 1.0 / self.xp.sqrt(self.var + self.epsilon)
        self.x_hat = centred * self.inv_std
        self.gamma = gamma
        return self.x_hat * gamma + beta

    def backward(self, grad):
        x_hat = self.x_hat
        axes = tuple(range(grad.ndim - 1))
        n = grad.size // grad.shape[-1]
        g_beta = grad.sum(axis=axes)
        g_gamma = (grad * x_hat).sum(axis=axes)
        gx = None
        if self.needs_grad[0]:
            gx = (self.gamma * self.inv_std / n) * (n * grad - g_beta - x_hat * g_gamma)
        return gx, g_gamma, g_beta


class SyncBatchNorm(BatchNorm):
    """Batch normalisation with the statistics of the whole data-parallel batch (every process's rows).

    The forward pass uses the global mean and variance; the backward pass sums the two reductions of the
    input gradient over the processes too. Each process's upstream gradient belongs to its own loss,
    which the training loop weights by the process's share ``w`` (its rows over all rows) before summing
    the weight gradients; the input gradient here is returned in the same per-process scale.
    """

    def backward(self, grad):
        xp = self.xp
        x_hat = self.x_hat
        axes = tuple(range(grad.ndim - 1))
        g_beta = grad.sum(axis=axes)
        g_gamma = (grad * x_hat).sum(axis=axes)
        gx = None
        if self.needs_grad[0]:
            share = self.local_rows / self.total_rows
            sums = comm.allreduce(xp.concatenate([g_beta, g_gamma]) * share)
            k = g_beta.shape[0]
            scale = 1.0 / (share * self.total_rows)
            gx = (self.gamma * self.inv_std) * (grad - sums[:k] * scale - x_hat * (sums[k:] * scale))
        return gx, g_gamma, g_beta


def sync_batch_norm(x, gamma, beta, epsilon=1e-3):
    """:func:`batch_norm` with the statistics of every process's rows (data-parallel training over MPI).

    Returns ``(output, mean, var, rows)``: the global batch statistics and the number of rows they cover.
    Without a data-parallel job it is :func:`batch_norm` (and ``rows`` this batch's).

    Examples:
        >>> import nerve, numpy as np
        >>> x = nerve.tensor(np.array([[1.0], [3.0]], dtype=np.float32))
        >>> y, m, v, n = sync_batch_norm(x, nerve.tensor([1.0]), nerve.tensor([0.0]))
        >>> m.tolist(), v.tolist(), n
        ([2.0], [1.0], 2)
    """
    x = _as_tensor(x)
    rows = x.size // x.shape[-1]
    if comm.size() == 1:
        out, mean, var = batch_norm(x, gamma, beta, epsilon)
        return out, mean, var, rows
    xp = x.xp
    axes = tuple(range(x.ndim - 1))
    data = x.data
    sums = comm.allreduce(xp.concatenate([data.sum(axis=axes).astype(xp.float64), [float(rows)]]))
    total = int(round(float(sums[-1])))
    mean = (sums[:-1] / total).astype(data.dtype)
    squares = comm.allreduce(((data - mean) ** 2).sum(axis=axes).astype(xp.float64))
    var = (squares / total).astype(data.dtype)
    out = SyncBatchNorm.apply(x, gamma, beta, mean=mean, var=var, epsilon=epsilon, local_rows=rows, total_rows=total)
    return out, mean, var, total


def batch_norm(x, gamma, beta, epsilon=1e-3):
    """Normalise ``x`` with its batch statistics over all axes but the last, then scale and shift.

    Returns ``(output, batch_mean, batch_var)``; the last two are arrays for
    updating running statistics.

    Examples:
        >>> import nerve, numpy as np
        >>> x = nerve.tensor(np.array([[1.0], [3.0]], dtype=np.float32))
        >>> y, m, v = batch_norm(x, nerve.tensor([1.0]), nerve.tensor([0.0]))
        >>> [round(a, 2) for a in y.numpy().ravel().tolist()], m.tolist(), v.tolist()
        ([-1.0, 1.0], [2.0], [1.0])
    """
    x = _as_tensor(x)
    axes = tuple(range(x.ndim - 1))
    batch_mean = x.data.mean(axis=axes)
    batch_var = x.data.var(axis=axes)
    out = BatchNorm.apply(x, gamma, beta, mean=batch_mean, var=batch_var, epsilon=epsilon)
    return out, batch_mean, batch_var
