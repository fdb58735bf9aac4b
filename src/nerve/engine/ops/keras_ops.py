"""Keras 3's ``keras.ops`` names for nerve's ops, and the common ones nerve lacked.

Aliases (``subtract`` is :func:`~nerve.engine.ops.core.sub`, ``multiply`` is ``mul``...) are the same functions;
the rest are small ops (``Sin``, ``Cos``, ``CumSum`` with their gradients) or compositions of nerve's ops, so
their gradients come from autodiff. Integer results (``argmax``, ``argsort``) and tests (``isnan``,
``logical_and``) are constants: no gradient flows through them, as in every framework.

Examples:
    >>> import nerve
    >>> from nerve import ops
    >>> x = nerve.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    >>> values, indices = ops.top_k(x, 2)
    >>> values.tolist(), indices.tolist()
    ([[3.0, 2.0]], [[0, 2]])
"""

from __future__ import annotations

import builtins
import math

import numpy

from nerve.engine.backend import get_device, to_device, to_numpy
from nerve.engine.ops.core import (
    _as_tensor, abs, concatenate, div, exp, getitem, log, matmul, maximum, mean, mul, neg, pow, reshape, silu, sqrt,
    sub, sum, transpose,
)
from nerve.engine.tensor import Function, Tensor, tensor

__all__ = [
    "Sin", "Cos", "CumSum",
    "subtract", "multiply", "divide", "true_divide", "negative", "power", "absolute", "swish", "get_item",
    "square", "reciprocal", "rsqrt", "log1p", "expm1", "log2", "log10", "exp2", "sin", "cos", "tan", "cumsum",
    "convert_to_tensor", "convert_to_numpy", "is_tensor", "shape", "ndim", "size", "zeros", "ones", "full",
    "zeros_like", "ones_like", "full_like", "eye", "arange", "linspace", "moveaxis", "swapaxes", "ravel", "flip",
    "hstack", "vstack", "argmax", "argmin", "argsort", "sort", "take", "take_along_axis", "top_k", "in_top_k",
    "all", "any", "logical_and", "logical_or", "logical_not", "logical_xor", "isnan", "isinf", "isfinite",
    "floor", "ceil", "round", "sign", "trunc", "norm", "normalize", "dot", "moments", "stop_gradient", "slice",
]

# Keras's names of nerve's ops: the same functions
subtract, multiply, divide, true_divide, negative, power, absolute = sub, mul, div, div, neg, pow, abs
swish, get_item = silu, getitem


def _constant(array):
    return Tensor(array)


def _created(array, dtype):
    """A new constant tensor on the current device from a host array."""
    array = array.astype(dtype or "float32", copy=False)
    return Tensor(to_device(array, get_device()))


# --------------------------------------------------------------------- elementwise
def square(x):
    """``x * x``.

    Examples:
        >>> import nerve
        >>> square(nerve.tensor([-2.0, 3.0])).tolist()
        [4.0, 9.0]
    """
    x = _as_tensor(x)
    return x * x


def reciprocal(x):
    """``1 / x``.

    Examples:
        >>> import nerve
        >>> reciprocal(nerve.tensor([2.0, 4.0])).tolist()
        [0.5, 0.25]
    """
    return div(1.0, _as_tensor(x))


def rsqrt(x):
    """``1 / sqrt(x)``.

    Examples:
        >>> import nerve
        >>> rsqrt(nerve.tensor([4.0])).tolist()
        [0.5]
    """
    return div(1.0, sqrt(_as_tensor(x)))


def log1p(x):
    """``log(1 + x)``.

    Examples:
        >>> import nerve, math
        >>> f"{log1p(nerve.tensor([math.e - 1])).item():.4f}"
        '1.0000'
    """
    return log(_as_tensor(x) + 1.0)


def expm1(x):
    """``exp(x) - 1``.

    Examples:
        >>> import nerve
        >>> expm1(nerve.tensor([0.0])).tolist()
        [0.0]
    """
    return exp(_as_tensor(x)) - 1.0


def log2(x):
    """Base-2 logarithm.

    Examples:
        >>> import nerve
        >>> log2(nerve.tensor([8.0])).tolist()
        [3.0]
    """
    return log(_as_tensor(x)) * (1.0 / math.log(2.0))


def log10(x):
    """Base-10 logarithm.

    Examples:
        >>> import nerve
        >>> f"{log10(nerve.tensor([1000.0])).item():.4f}"
        '3.0000'
    """
    return log(_as_tensor(x)) * (1.0 / math.log(10.0))


def exp2(x):
    """``2 ** x``.

    Examples:
        >>> import nerve
        >>> exp2(nerve.tensor([3.0])).tolist()
        [8.0]
    """
    return exp(_as_tensor(x) * math.log(2.0))


class Sin(Function):
    def forward(self, x):
        self.x = x
        return self.xp.sin(x)

    def backward(self, grad):
        return (grad * self.xp.cos(self.x),)


class Cos(Function):
    def forward(self, x):
        self.x = x
        return self.xp.cos(x)

    def backward(self, grad):
        return (grad * -self.xp.sin(self.x),)


def sin(x):
    """Sine.

    Examples:
        >>> import nerve, math
        >>> f"{sin(nerve.tensor([math.pi / 2])).item():.4f}"
        '1.0000'
    """
    return Sin.apply(_as_tensor(x))


def cos(x):
    """Cosine.

    Examples:
        >>> import nerve
        >>> cos(nerve.tensor([0.0])).tolist()
        [1.0]
    """
    return Cos.apply(_as_tensor(x))


def tan(x):
    """Tangent, ``sin(x) / cos(x)``.

    Examples:
        >>> import nerve, math
        >>> f"{tan(nerve.tensor([math.pi / 4])).item():.4f}"
        '1.0000'
    """
    x = _as_tensor(x)
    return div(sin(x), cos(x))


class CumSum(Function):
    def forward(self, x):
        return self.xp.cumsum(x, axis=self.axis)

    def backward(self, grad):
        xp = self.xp
        return (xp.flip(xp.cumsum(xp.flip(grad, axis=self.axis), axis=self.axis), axis=self.axis),)


def cumsum(x, axis=None, dtype=None):
    """Cumulative sum along ``axis`` (None: over the flattened tensor).

    Examples:
        >>> import nerve
        >>> cumsum(nerve.tensor([1.0, 2.0, 3.0])).tolist()
        [1.0, 3.0, 6.0]
    """
    x = _as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    out = CumSum.apply(x, axis=axis)
    return out if dtype is None else out.astype(dtype)


# ----------------------------------------------------------------- tensors and shapes
def convert_to_tensor(x, dtype=None, sparse=None):
    """A Tensor of ``x`` (arrays, lists, numbers; a Tensor of the same dtype is returned as it is).

    Examples:
        >>> convert_to_tensor([1, 2], dtype="float32").tolist()
        [1.0, 2.0]
    """
    if isinstance(x, Tensor) and (dtype is None or x.dtype == numpy.dtype(dtype)):
        return x
    return tensor(x.data if isinstance(x, Tensor) else x, dtype=dtype)


def convert_to_numpy(x):
    """``x`` as a NumPy array (copied from a device).

    Examples:
        >>> import nerve
        >>> convert_to_numpy(nerve.tensor([1.0])).tolist()
        [1.0]
    """
    return to_numpy(x.data if isinstance(x, Tensor) else x)  # device arrays too, copied explicitly


def is_tensor(x):
    """True for nerve Tensors.

    Examples:
        >>> import nerve
        >>> is_tensor(nerve.tensor([1.0])), is_tensor([1.0])
        (True, False)
    """
    return isinstance(x, Tensor)


def shape(x):
    """The shape as a tuple.

    Examples:
        >>> import nerve
        >>> shape(nerve.tensor([[1.0, 2.0]]))
        (1, 2)
    """
    return tuple(_as_tensor(x).shape)


def ndim(x):
    """The number of axes.

    Examples:
        >>> import nerve
        >>> ndim(nerve.tensor([[1.0]]))
        2
    """
    return _as_tensor(x).ndim


def size(x):
    """The number of elements.

    Examples:
        >>> import nerve
        >>> size(nerve.tensor([[1.0, 2.0]]))
        2
    """
    return int(math.prod(_as_tensor(x).shape))


def zeros(shape, dtype=None):
    """A tensor of zeros (float32 by default).

    Examples:
        >>> zeros((2,)).tolist()
        [0.0, 0.0]
    """
    return _created(numpy.zeros(shape), dtype)


def ones(shape, dtype=None):
    """A tensor of ones.

    Examples:
        >>> ones((2,)).tolist()
        [1.0, 1.0]
    """
    return _created(numpy.ones(shape), dtype)


def full(shape, fill_value, dtype=None):
    """A tensor filled with ``fill_value``.

    Examples:
        >>> full((2,), 7.0).tolist()
        [7.0, 7.0]
    """
    return _created(numpy.full(shape, fill_value), dtype)


def _like(x, fill, dtype):
    x = _as_tensor(x)
    return Tensor(x.xp.full(x.shape, fill, dtype=dtype or x.dtype))


def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape (and dtype unless given).

    Examples:
        >>> import nerve
        >>> zeros_like(nerve.tensor([1.0, 2.0])).tolist()
        [0.0, 0.0]
    """
    return _like(x, 0, dtype)


def ones_like(x, dtype=None):
    """Ones of ``x``'s shape.

    Examples:
        >>> import nerve
        >>> ones_like(nerve.tensor([1.0, 2.0])).tolist()
        [1.0, 1.0]
    """
    return _like(x, 1, dtype)


def full_like(x, fill_value, dtype=None):
    """``fill_value`` in ``x``'s shape.

    Examples:
        >>> import nerve
        >>> full_like(nerve.tensor([1.0, 2.0]), 3.0).tolist()
        [3.0, 3.0]
    """
    return _like(x, fill_value, dtype)


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    """The identity matrix (ones on diagonal ``k``).

    Examples:
        >>> eye(2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    return _created(numpy.eye(N, M, k), dtype)


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (int64 for integer arguments, as NumPy).

    Examples:
        >>> arange(3).tolist(), arange(0.0, 1.0, 0.5).tolist()
        ([0, 1, 2], [0.0, 0.5])
    """
    values = numpy.arange(start, stop, step)
    return Tensor(to_device(values.astype(dtype) if dtype else values, get_device()))


def linspace(start, stop, num=50, endpoint=True, dtype=None):
    """``num`` evenly spaced values from ``start`` to ``stop``.

    Examples:
        >>> linspace(0.0, 1.0, 3).tolist()
        [0.0, 0.5, 1.0]
    """
    return _created(numpy.linspace(start, stop, num, endpoint=endpoint), dtype)


def moveaxis(x, source, destination):
    """Move axis ``source`` to position ``destination``.

    Examples:
        >>> import nerve
        >>> moveaxis(nerve.tensor(numpy.zeros((2, 3, 4))), 0, -1).shape
        (3, 4, 2)
    """
    x = _as_tensor(x)
    order = [i for i in range(x.ndim) if i != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return transpose(x, tuple(order))


def swapaxes(x, axis1, axis2):
    """Exchange two axes.

    Examples:
        >>> import nerve
        >>> swapaxes(nerve.tensor(numpy.zeros((2, 3, 4))), 0, 2).shape
        (4, 3, 2)
    """
    x = _as_tensor(x)
    order = list(range(x.ndim))
    order[axis1], order[axis2] = order[axis2], order[axis1]
    return transpose(x, tuple(order))


def ravel(x):
    """Flatten to one axis.

    Examples:
        >>> import nerve
        >>> ravel(nerve.tensor([[1.0, 2.0], [3.0, 4.0]])).tolist()
        [1.0, 2.0, 3.0, 4.0]
    """
    return reshape(_as_tensor(x), (-1,))


def flip(x, axis=None):
    """Reverse the order along ``axis`` (None: all axes).

    Examples:
        >>> import nerve
        >>> flip(nerve.tensor([1.0, 2.0, 3.0])).tolist()
        [3.0, 2.0, 1.0]
    """
    x = _as_tensor(x)
    axes = range(x.ndim) if axis is None else [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis)]
    index = tuple(builtins.slice(None, None, -1) if i in axes else builtins.slice(None) for i in range(x.ndim))
    return getitem(x, index)


def hstack(xs):
    """Join along the second axis (the first for 1-D tensors).

    Examples:
        >>> import nerve
        >>> hstack([nerve.tensor([1.0]), nerve.tensor([2.0])]).tolist()
        [1.0, 2.0]
    """
    xs = [_as_tensor(x) for x in xs]
    return concatenate(xs, axis=0 if xs[0].ndim == 1 else 1)


def vstack(xs):
    """Join along the first axis (1-D tensors become rows).

    Examples:
        >>> import nerve
        >>> vstack([nerve.tensor([1.0, 2.0]), nerve.tensor([3.0, 4.0])]).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    xs = [_as_tensor(x) for x in xs]
    return concatenate([reshape(x, (1, -1)) if x.ndim == 1 else x for x in xs], axis=0)


# ---------------------------------------------------------------- indices and sorting
def argmax(x, axis=None, keepdims=False):
    """Indices of the largest values along ``axis`` (a constant int64 tensor).

    Examples:
        >>> import nerve
        >>> argmax(nerve.tensor([[1.0, 5.0, 2.0]]), axis=-1).tolist()
        [1]
    """
    x = _as_tensor(x)
    return _constant(x.xp.argmax(x.data, axis=axis, keepdims=keepdims))


def argmin(x, axis=None, keepdims=False):
    """Indices of the smallest values along ``axis``.

    Examples:
        >>> import nerve
        >>> argmin(nerve.tensor([[1.0, 5.0, 0.5]]), axis=-1).tolist()
        [2]
    """
    x = _as_tensor(x)
    return _constant(x.xp.argmin(x.data, axis=axis, keepdims=keepdims))


def argsort(x, axis=-1):
    """Indices that sort ``x`` along ``axis`` (stable).

    Examples:
        >>> import nerve
        >>> argsort(nerve.tensor([3.0, 1.0, 2.0])).tolist()
        [1, 2, 0]
    """
    x = _as_tensor(x)
    return _constant(x.xp.argsort(x.data, axis=axis, kind="stable"))


def take_along_axis(x, indices, axis=None):
    """The values of ``x`` at ``indices`` along ``axis`` (NumPy's rule); the gradient goes back to those places.

    Examples:
        >>> import nerve
        >>> take_along_axis(nerve.tensor([[10.0, 20.0, 30.0]]), numpy.array([[2, 0]]), axis=1).tolist()
        [[30.0, 10.0]]
    """
    x = _as_tensor(x)
    index = indices.data if isinstance(indices, Tensor) else x.xp.asarray(indices)
    if axis is None:
        return getitem(reshape(x, (-1,)), index.reshape(-1))
    axis %= x.ndim
    if index.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices of rank {index.ndim} for a tensor of rank {x.ndim}")
    grids = x.xp.ix_(*[x.xp.arange(n) for n in index.shape])
    full = tuple(index if i == axis else grids[i] for i in range(x.ndim))
    return getitem(x, full)


def take(x, indices, axis=None):
    """The entries of ``x`` at ``indices`` along ``axis`` (None: of the flattened tensor).

    Examples:
        >>> import nerve
        >>> take(nerve.tensor([[1.0, 2.0], [3.0, 4.0]]), [1, 0], axis=1).tolist()
        [[2.0, 1.0], [4.0, 3.0]]
    """
    x = _as_tensor(x)
    index = indices.data if isinstance(indices, Tensor) else x.xp.asarray(indices)
    if axis is None:
        return getitem(reshape(x, (-1,)), index)
    axis %= x.ndim
    return getitem(x, (builtins.slice(None),) * axis + (index,))


def sort(x, axis=-1):
    """``x`` sorted along ``axis``; differentiable (the gradient goes back to where each value came from).

    Examples:
        >>> import nerve
        >>> sort(nerve.tensor([3.0, 1.0, 2.0])).tolist()
        [1.0, 2.0, 3.0]
    """
    x = _as_tensor(x)
    return take_along_axis(x, argsort(x, axis=axis), axis=axis)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument name
    """The ``k`` largest values along the last axis and their indices: ``(values, indices)``.

    Examples:
        >>> import nerve
        >>> values, indices = top_k(nerve.tensor([1.0, 4.0, 3.0]), 2)
        >>> values.tolist(), indices.tolist()
        ([4.0, 3.0], [1, 2])
    """
    x = _as_tensor(x)
    if not 1 <= k <= x.shape[-1]:
        raise ValueError(f"top_k: k must be between 1 and {x.shape[-1]} (the last axis), got {k}")
    order = x.xp.argsort(-x.data, axis=-1, kind="stable")[..., :k]
    if not sorted:
        order = x.xp.sort(order, axis=-1)
    indices = _constant(order)
    return take_along_axis(x, indices, axis=-1), indices


def in_top_k(targets, predictions, k):
    """Whether each target class is among the ``k`` highest predictions of its row (bool constant).

    Examples:
        >>> import nerve
        >>> in_top_k([1, 0], nerve.tensor([[0.1, 0.9], [0.2, 0.8]]), 1).tolist()
        [True, False]
    """
    predictions = _as_tensor(predictions)
    xp = predictions.xp
    targets = targets.data if isinstance(targets, Tensor) else xp.asarray(targets)
    scores = predictions.data
    target_scores = xp.take_along_axis(scores, targets.reshape(-1, 1).astype("int64"), axis=-1)
    return _constant((scores > target_scores).sum(axis=-1) < k)


# ------------------------------------------------------------------ tests and rounding
def _logical(fn, *xs):
    values = [x.data if isinstance(x, Tensor) else x for x in xs]
    first = next((x for x in xs if isinstance(x, Tensor)), None)
    xp = first.xp if first is not None else numpy
    return _constant(getattr(xp, fn)(*[xp.asarray(v) for v in values]))


def all(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Whether every element (along ``axis``) is true.

    Examples:
        >>> import nerve
        >>> all(nerve.tensor([1.0, 0.0])).item()
        False
    """
    x = _as_tensor(x)
    return _constant(x.xp.all(x.data, axis=axis, keepdims=keepdims))


def any(x, axis=None, keepdims=False):  # noqa: A001 - Keras's name
    """Whether some element (along ``axis``) is true.

    Examples:
        >>> import nerve
        >>> any(nerve.tensor([1.0, 0.0])).item()
        True
    """
    x = _as_tensor(x)
    return _constant(x.xp.any(x.data, axis=axis, keepdims=keepdims))


def logical_and(x1, x2):
    """Elementwise AND.

    Examples:
        >>> logical_and([True, False], [True, True]).tolist()
        [True, False]
    """
    return _logical("logical_and", x1, x2)


def logical_or(x1, x2):
    """Elementwise OR.

    Examples:
        >>> logical_or([True, False], [False, False]).tolist()
        [True, False]
    """
    return _logical("logical_or", x1, x2)


def logical_not(x):
    """Elementwise NOT.

    Examples:
        >>> logical_not([True, False]).tolist()
        [False, True]
    """
    return _logical("logical_not", x)


def logical_xor(x1, x2):
    """Elementwise XOR.

    Examples:
        >>> logical_xor([True, True], [True, False]).tolist()
        [False, True]
    """
    return _logical("logical_xor", x1, x2)


def isnan(x):
    """Elementwise test for NaN.

    Examples:
        >>> import nerve
        >>> isnan(nerve.tensor([1.0, float("nan")])).tolist()
        [False, True]
    """
    return _logical("isnan", _as_tensor(x))


def isinf(x):
    """Elementwise test for infinity.

    Examples:
        >>> import nerve
        >>> isinf(nerve.tensor([1.0, float("inf")])).tolist()
        [False, True]
    """
    return _logical("isinf", _as_tensor(x))


def isfinite(x):
    """Elementwise test for finite values.

    Examples:
        >>> import nerve
        >>> isfinite(nerve.tensor([1.0, float("inf")])).tolist()
        [True, False]
    """
    return _logical("isfinite", _as_tensor(x))


def floor(x):
    """Round down (a constant: the gradient is zero almost everywhere).

    Examples:
        >>> import nerve
        >>> floor(nerve.tensor([1.5, -1.5])).tolist()
        [1.0, -2.0]
    """
    return _logical("floor", _as_tensor(x))


def ceil(x):
    """Round up.

    Examples:
        >>> import nerve
        >>> ceil(nerve.tensor([1.5, -1.5])).tolist()
        [2.0, -1.0]
    """
    return _logical("ceil", _as_tensor(x))


def round(x, decimals=0):  # noqa: A001 - Keras's name
    """Round half to even, to ``decimals`` places.

    Examples:
        >>> import nerve
        >>> round(nerve.tensor([0.5, 1.5, 2.25]), decimals=0).tolist()
        [0.0, 2.0, 2.0]
    """
    x = _as_tensor(x)
    return _constant(x.xp.round(x.data, decimals))


def sign(x):
    """-1, 0 or 1 by sign.

    Examples:
        >>> import nerve
        >>> sign(nerve.tensor([-2.0, 0.0, 3.0])).tolist()
        [-1.0, 0.0, 1.0]
    """
    return _logical("sign", _as_tensor(x))


def trunc(x):
    """Round towards zero.

    Examples:
        >>> import nerve
        >>> trunc(nerve.tensor([-1.7, 1.7])).tolist()
        [-1.0, 1.0]
    """
    return _logical("trunc", _as_tensor(x))


# --------------------------------------------------------------------- reductions
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002 - Keras's argument name
    """Vector norm along ``axis`` (None: all elements): ``ord`` None or 2 (Euclidean), 1, or ``inf``.

    Examples:
        >>> import nerve
        >>> norm(nerve.tensor([3.0, 4.0])).item(), norm(nerve.tensor([3.0, -4.0]), ord=1).item()
        (5.0, 7.0)
    """
    x = _as_tensor(x)
    if ord in (None, 2, "euclidean"):
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return sum(abs(x), axis=axis, keepdims=keepdims)
    if ord in (math.inf, "inf"):
        from nerve.engine.ops.core import max as reduce_max

        return reduce_max(abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: ord must be None, 1, 2 or inf (vector norms), got {ord!r}")


def normalize(x, axis=-1, order=2, epsilon=None):
    """``x`` divided by its ``order``-norm along ``axis``; the L2 case is ``x / sqrt(max(sum(x^2), epsilon))``
    (``epsilon`` 1e-7 by default), as Keras.

    Examples:
        >>> import nerve
        >>> [f"{v:.4f}" for v in normalize(nerve.tensor([3.0, 4.0])).tolist()]
        ['0.6000', '0.8000']
    """
    x = _as_tensor(x)
    epsilon = 1e-7 if epsilon is None else epsilon
    if order == 2:
        return div(x, sqrt(maximum(sum(x * x, axis=axis, keepdims=True), epsilon)))
    return div(x, maximum(norm(x, ord=order, axis=axis, keepdims=True), epsilon))


def dot(x1, x2):
    """NumPy's ``dot`` for vectors and matrices: the inner product of vectors, else the matrix product.

    Examples:
        >>> import nerve
        >>> dot(nerve.tensor([1.0, 2.0]), nerve.tensor([3.0, 4.0])).item()
        11.0
    """
    x1, x2 = _as_tensor(x1), _as_tensor(x2)
    if x1.ndim == 1 and x2.ndim == 1:
        return sum(x1 * x2)
    return matmul(x1, x2)


def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` of ``x`` over ``axes`` (population variance).

    Examples:
        >>> import nerve
        >>> m, v = moments(nerve.tensor([1.0, 2.0, 3.0, 4.0]), axes=0)
        >>> m.item(), v.item()
        (2.5, 1.25)
    """
    x = _as_tensor(x)
    axes = tuple(axes) if isinstance(axes, (list, tuple)) else (axes,)
    average = mean(x, axis=axes, keepdims=True)
    centered = x - average
    variance = mean(centered * centered, axis=axes, keepdims=keepdims)
    return (average if keepdims else mean(x, axis=axes)), variance


def stop_gradient(x):
    """``x`` as a constant: no gradient flows back through it.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([2.0], requires_grad=True)
        >>> stop_gradient(w * 3).requires_grad
        False
    """
    x = _as_tensor(x)
    return Tensor(x.data)


def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    """The block of ``shape`` starting at ``start_indices`` (one per axis).

    Examples:
        >>> import nerve
        >>> slice(nerve.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), (0, 1), (2, 2)).tolist()
        [[2.0, 3.0], [5.0, 6.0]]
    """
    inputs = _as_tensor(inputs)
    if len(start_indices) != inputs.ndim or len(shape) != inputs.ndim:
        raise ValueError(f"slice: give one start index and one size per axis of the shape-{tuple(inputs.shape)} "
                         f"input, got {tuple(start_indices)} and {tuple(shape)}")
    return getitem(inputs, tuple(builtins.slice(int(s), int(s) + int(n)) for s, n in zip(start_indices, shape)))
