"""Tensors and reverse-mode automatic differentiation.

A :class:`Tensor` wraps an array (NumPy on the CPU, CuPy or another NumPy-like
module on a device, through :mod:`nerve.backend`); ``tensor.device`` says
where, ``tensor.to("gpu")`` copies it there. Every tensor made by an op remembers that op
(``tensor.op``) and the op remembers its inputs (``tensor.op.inputs``): this is
the computational graph, built as the code runs (define-by-run).

``loss.backward()`` walks that graph once, in reverse topological order and
without recursion, calling each op's ``backward`` to turn the gradient of the
loss with respect to the op's output into gradients with respect to its inputs
(the chain rule). Gradients of leaves (tensors created by the user with
``requires_grad=True``, such as weights) are *added* to their ``.grad``; call
``optimizer.zero_grad()`` (or set ``.grad = None``) between steps.

Examples:
    >>> import nerve
    >>> w = nerve.tensor([2.0, -1.0], requires_grad=True)
    >>> loss = (w * w).sum()
    >>> loss.backward()
    >>> w.grad.numpy().tolist()
    [4.0, -2.0]
"""

from __future__ import annotations

import contextlib

import numpy

from nerve.engine.backend import (
    device_of,
    get_array_module,
    get_device,
    to_device,
    to_numpy,
)

DEFAULT_FLOAT = numpy.float32


class _GradMode:
    enabled = True


def is_grad_enabled():
    """Return True when operations are being recorded for backward.

    Examples:
        >>> import nerve
        >>> with nerve.no_grad():
        ...     print(nerve.is_grad_enabled())
        False
    """
    return _GradMode.enabled


@contextlib.contextmanager
def no_grad():
    """Context in which ops are not recorded: no graph, no memory kept for backward.

    Use it for inference and for updating weights by hand.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> with nerve.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """
    previous = _GradMode.enabled
    _GradMode.enabled = False
    try:
        yield
    finally:
        _GradMode.enabled = previous


@contextlib.contextmanager
def enable_grad():
    """Context that turns recording back on inside a :func:`no_grad` block.

    Examples:
        >>> import nerve
        >>> with nerve.no_grad():
        ...     with nerve.enable_grad():
        ...         y = nerve.tensor([1.0], requires_grad=True) * 2
        >>> y.requires_grad
        True
    """
    previous = _GradMode.enabled
    _GradMode.enabled = True
    try:
        yield
    finally:
        _GradMode.enabled = previous


def _default_dtype_for(data):
    """dtype given to ``data`` when the caller names none (float32 for Python floats)."""
    if (isinstance(data, numpy.ndarray) or hasattr(data, "__array_interface__") or hasattr(data, "__cuda_array_interface__")
            or get_array_module(data) is not numpy):
        return None  # keep the array's own dtype
    if isinstance(data, bool):
        return numpy.bool_
    if isinstance(data, int):
        return numpy.int64
    if isinstance(data, float):
        return DEFAULT_FLOAT
    array = numpy.asarray(data)
    if array.dtype.kind == "f":
        return DEFAULT_FLOAT
    return None


def tensor(data, requires_grad=False, dtype=None, name=None, device=None):
    """Create a tensor from a Python number, a (nested) list, an array or a Tensor.

    Python floats and lists of floats become float32; NumPy arrays keep their
    dtype unless ``dtype`` is given; integers stay integers (labels, indices).
    The data is copied to ``device`` (``"cpu"``, ``"gpu"``); by default host
    data goes to the default device (:func:`nerve.set_device`) and device
    arrays stay on their device.

    Examples:
        >>> import nerve
        >>> t = nerve.tensor([[1.0, 2.0]], requires_grad=True)
        >>> t.shape, t.dtype
        ((1, 2), dtype('float32'))
        >>> nerve.tensor([1.0], dtype="float64").dtype
        dtype('float64')
    """
    if isinstance(data, Tensor):
        data = data.data
    if dtype is None:
        dtype = _default_dtype_for(data)
    xp = get_array_module(data)
    array = xp.array(data, dtype=dtype)  # always a copy: the tensor owns its data
    if device is None:
        default = get_device()
        if default != "cpu" and xp is numpy:
            array = to_device(array, default)
    elif device_of(array) != device:
        array = to_device(array, device)
    return Tensor(array, requires_grad=requires_grad, name=name)


class Tensor:
    """An array with a gradient and a place in the computational graph.

    Prefer :func:`nerve.tensor` to build one from user data; ``Tensor(array)``
    wraps ``array`` without copying.

    Attributes:
        data: the underlying array (NumPy ``ndarray`` on the CPU, e.g. ``cupy.ndarray`` on a GPU).
        grad: a Tensor with the accumulated gradient (leaves only), or None.
        requires_grad: whether gradients flow to this tensor.
        op: the :class:`Function` that produced it (None for leaves).
        name: optional label shown in graphs and error messages.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.Tensor(np.ones((2, 3), dtype=np.float32))
        >>> (x + 1).sum().item()
        12.0
    """

    __slots__ = ("data", "grad", "requires_grad", "op", "name", "__weakref__")
    # Make NumPy defer to Tensor for `ndarray + tensor`, so the result is a Tensor.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad=False, op=None, name=None):
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            data = numpy.asarray(data)
            if data.dtype == numpy.float64:
                data = data.astype(DEFAULT_FLOAT)
        self.data = data
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.op = op
        self.name = name
        if self.requires_grad and data.dtype.kind not in "fc":
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {data.dtype}")

    # ----------------------------------------------------------------- basics
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def xp(self):
        """The array module (``numpy`` or a registered GPU module) of this tensor."""
        return get_array_module(self.data)

    @property
    def device(self):
        """Where the data lives: ``"cpu"`` (NumPy) or a device name such as ``"gpu"``.

        Examples:
            >>> import nerve
            >>> nerve.tensor([1.0]).device
            'cpu'
        """
        return device_of(self.data)

    def to(self, device):
        """This tensor on ``device`` (``"cpu"``, ``"gpu"``): itself when already there, else a copy.

        The copy keeps ``requires_grad``: under gradient recording it is an
        op, so the gradient flows back to this tensor's device.

        Examples:
            >>> import nerve
            >>> t = nerve.tensor([1.0, 2.0])
            >>> t.to("cpu") is t
            True
        """
        if device_of(self.data) == device:
            return self
        if self.requires_grad and _GradMode.enabled:
            return _Copy.apply(self, device=device)
        return Tensor(to_device(self.data, device), name=self.name)

    @property
    def is_leaf(self):
        """True for tensors made by the user rather than by an op."""
        return self.op is None

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={type(self.op).__name__}" if self.op is not None else ""
        body = numpy.array2string(to_numpy(self.data), separator=", ", precision=4, threshold=20)
        device = device_of(self.data)
        where = "" if device == "cpu" else f", device={device!r}"
        return f"Tensor({body}, dtype={self.dtype}{where}{grad}{op})"

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    __hash__ = object.__hash__

    @property
    def value(self):
        """The tensor itself: Keras's ``variable.value`` (so ``[v.value.grad for v in model.trainable_weights]``).

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> w.value is w
            True
        """
        return self

    def assign(self, value):
        """Overwrite the values in place (Keras's ``variable.assign``); the shape must stay. Returns the tensor.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0, 2.0])
            >>> w.assign([3.0, 4.0]).tolist()
            [3.0, 4.0]
        """
        data = value.data if isinstance(value, Tensor) else value
        array = get_array_module(self.data).asarray(data, dtype=self.data.dtype)
        if array.shape != self.data.shape:
            raise ValueError(f"assign: tensor {self.name or ''} has shape {self.data.shape}, got a value of shape "
                             f"{array.shape}")
        self.data[...] = array
        return self

    def numpy(self):
        """Return the data as a NumPy array (shares memory on the CPU).

        Examples:
            >>> import nerve
            >>> nerve.tensor([1.0, 2.0]).numpy()
            array([1., 2.], dtype=float32)
        """
        return to_numpy(self.data)

    def item(self):
        """Return the value of a one-element tensor as a Python number.

        Examples:
            >>> import nerve
            >>> nerve.tensor([[3.5]]).item()
            3.5
        """
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        """Return the data as nested Python lists."""
        return self.data.tolist()

    def detach(self):
        """Return a tensor sharing this data but cut from the graph (no gradient).

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> (w * 2).detach().requires_grad
            False
        """
        return Tensor(self.data, requires_grad=False)

    def requires_grad_(self, flag=True):
        """Set ``requires_grad`` in place and return the tensor."""
        self.requires_grad = bool(flag)
        return self

    def astype(self, dtype):
        """Cast to ``dtype``; differentiable (the gradient is cast back)."""
        return ops.cast(self, dtype)

    def float(self):
        """Cast to float32."""
        return ops.cast(self, numpy.float32)

    def double(self):
        """Cast to float64."""
        return ops.cast(self, numpy.float64)

    # --------------------------------------------------------------- backward
    def backward(self, grad=None, retain_graph=False):
        """Compute gradients of this tensor with respect to every leaf that requires them.

        Args:
            grad: upstream gradient, same shape as this tensor. May be omitted
                only for a tensor with one element (a loss), where it is 1.
            retain_graph: keep the graph's saved arrays so that ``backward``
                can be called through it again. By default they are released.

        Examples:
            >>> import nerve
            >>> x = nerve.tensor([1.0, 2.0, 3.0], requires_grad=True)
            >>> y = x * x
            >>> y.backward(nerve.tensor([1.0, 1.0, 1.0]))
            >>> x.grad.numpy().tolist()
            [2.0, 4.0, 6.0]
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require gradients: none of its inputs "
                "has requires_grad=True, or it was computed under nerve.no_grad()"
            )
        xp = self.xp
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() on a tensor of shape {self.shape} needs an explicit upstream gradient of that "
                    "shape: call t.backward(grad), or reduce it to a scalar first (t.sum() or t.mean())"
                )
            grad = xp.ones(self.shape, dtype=self.dtype)
        else:
            grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(f"backward(): upstream gradient has shape {grad.shape}, expected {self.shape}")
        run_backward(self, grad, retain_graph)

    # ------------------------------------------------------------- operators
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __pos__(self):
        return self

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def __lt__(self, other):
        return ops.less(self, other)

    def __le__(self, other):
        return ops.less_equal(self, other)

    def __gt__(self, other):
        return ops.greater(self, other)

    def __ge__(self, other):
        return ops.greater_equal(self, other)

    def __eq__(self, other):
        return ops.equal(self, other)

    def __ne__(self, other):
        return ops.not_equal(self, other)

    # --------------------------------------------------------------- methods
    def sum(self, axis=None, keepdims=False):
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return ops.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return ops.min(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return ops.var(self, axis, keepdims, ddof)

    def std(self, axis=None, keepdims=False, ddof=0):
        return ops.std(self, axis, keepdims, ddof)

    def argmax(self, axis=None):
        return Tensor(self.xp.argmax(self.data, axis=axis))

    def argmin(self, axis=None):
        return Tensor(self.xp.argmin(self.data, axis=axis))

    def any(self):
        return bool(self.xp.any(self.data))

    def all(self):
        return bool(self.xp.all(self.data))

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def flatten(self, start_axis=0):
        return ops.reshape(self, self.shape[:start_axis] + (-1,))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    def permute(self, *axes):
        return self.transpose(*axes)

    @property
    def T(self):
        return ops.transpose(self, None)

    def squeeze(self, axis=None):
        return ops.squeeze(self, axis)

    def expand_dims(self, axis):
        return ops.expand_dims(self, axis)

    unsqueeze = expand_dims

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def clip(self, low=None, high=None):
        return ops.clip(self, low, high)

    def relu(self):
        return ops.relu(self)

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)

    def softmax(self, axis=-1):
        return ops.softmax(self, axis)

    def log_softmax(self, axis=-1):
        return ops.log_softmax(self, axis)

    def logsumexp(self, axis=None, keepdims=False):
        return ops.logsumexp(self, axis, keepdims)


class Function:
    """Base class of every differentiable operation.

    A subclass implements ``forward(*arrays)``, returning the output array and
    saving on ``self`` what the backward pass needs, and ``backward(grad)``,
    returning one gradient array (or None) per input. Both work on raw arrays
    through ``self.xp``; ``Function.apply`` does the Tensor bookkeeping.

    ``self.needs_grad[i]`` tells ``backward`` whether input ``i`` wants a
    gradient, so expensive gradients that nobody needs can be skipped.

    Examples:
        >>> import nerve
        >>> from nerve.engine.tensor import Function
        >>> class Cube(Function):
        ...     def forward(self, x):
        ...         self.x = x
        ...         return x ** 3
        ...     def backward(self, grad):
        ...         return (3 * self.x ** 2 * grad,)
        >>> x = nerve.tensor([2.0], requires_grad=True)
        >>> Cube.apply(x).backward()
        >>> x.grad.item()
        12.0
    """

    inputs = ()
    needs_grad = ()
    xp = numpy

    def __init__(self, **params):
        self.__dict__.update(params)

    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on tensors (or numbers/arrays) and record it in the graph."""
        fn = cls.__new__(cls)
        if params:
            fn.__dict__.update(params)
        first = None
        for value in inputs:
            if type(value) is Tensor or isinstance(value, Tensor):
                first = value
                break
        if first is None:
            raise TypeError(f"{cls.__name__} needs at least one Tensor input")
        for value in inputs:
            if not isinstance(value, Tensor):
                inputs = tuple(v if isinstance(v, Tensor) else _lift(v, first) for v in inputs)
                break
        data = first.data
        fn.xp = xp = numpy if type(data) is numpy.ndarray else get_array_module(data)
        out = fn.forward(*[t.data for t in inputs])
        if not hasattr(out, "dtype"):
            out = xp.asarray(out)
        result = _new_tensor(out)
        if _GradMode.enabled:
            for t in inputs:
                if t.requires_grad:
                    fn.inputs = inputs
                    fn.needs_grad = tuple([t.requires_grad for t in inputs])
                    result.requires_grad = True
                    result.op = fn
                    break
        return result

    def forward(self, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self):
        """Drop saved arrays and inputs once backward has used them."""
        self.__dict__.clear()
        self.released = True

    @property
    def name(self):
        return type(self).__name__

    def __repr__(self):
        return f"<op {self.name}>"


def _new_tensor(data):
    """A Tensor around an op's output array, skipping the checks of ``Tensor.__init__`` (hot path)."""
    t = _object_new(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = False
    t.op = None
    t.name = None
    return t


_object_new = object.__new__


def _lift(value, like):
    """Turn a Python number or array into a constant tensor matching ``like``'s dtype."""
    xp = get_array_module(like.data)
    if isinstance(value, (int, float, bool)):
        dtype = like.dtype if like.dtype.kind in "fc" or isinstance(value, int) else DEFAULT_FLOAT
        return Tensor(xp.asarray(value, dtype=dtype))
    array = xp.asarray(value)
    if array.dtype.kind == "f" and like.dtype.kind == "f" and array.dtype != like.dtype and array.ndim == 0:
        array = array.astype(like.dtype)
    return Tensor(array)


def _topological_order(root):
    """Op-made tensors reachable from ``root``, each after all of its inputs (iterative DFS; leaves left out)."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        op = node.op
        if op is not None:
            if getattr(op, "released", False):
                raise RuntimeError(
                    f"backward() went through the graph of op {op.name} a second time, but its saved arrays "
                    "were released by the first backward(); pass retain_graph=True to the first call"
                )
            for parent in op.inputs:
                if parent.op is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def _accumulate(leaf, grad, handed):
    """Add ``grad`` to ``leaf.grad``; a leaf's first gradient is its own writable array, shared with nobody."""
    if leaf.grad is None:
        if (grad.dtype != leaf.dtype or id(grad) in handed or grad.base is not None
                or not getattr(grad.flags, "writeable", True)):  # device arrays (CuPy) have no such flag
            grad = grad.astype(leaf.dtype, copy=True)
        handed.add(id(grad))
        leaf.grad = Tensor(grad)
    else:
        leaf.grad = Tensor(leaf.grad.data + grad.astype(leaf.dtype, copy=False))


def run_backward(root, grad, retain_graph=False):
    """Backpropagate ``grad`` (an array shaped like ``root``) through the graph of ``root``.

    Gradients of op-made tensors are kept only until their op's backward has
    used them; gradients of leaves are added to ``leaf.grad`` as they arrive.
    """
    handed = {id(grad)}  # the upstream array belongs to the caller: leaves get copies of it
    if root.op is None:
        _accumulate(root, grad, handed)
        return
    grads = {id(root): grad}
    for node in reversed(_topological_order(root)):
        node_grad = grads.pop(id(node), None)
        if node_grad is None:
            continue
        op = node.op
        for parent, parent_grad in zip(op.inputs, op.backward(node_grad)):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent.op is None:
                _accumulate(parent, parent_grad, handed)
                continue
            key = id(parent)
            previous = grads.get(key)
            grads[key] = parent_grad if previous is None else previous + parent_grad
        if not retain_graph:
            op.release()


class _Copy(Function):
    """``Tensor.to``: a copy to another device; the gradient is copied back."""

    def forward(self, x):
        self.source = device_of(x)
        return to_device(x, self.device)

    def backward(self, grad):
        return (to_device(grad, self.source),)


class _OpsOnFirstUse:
    """Stands in for :mod:`nerve.engine.ops` until a Tensor operator first needs it.

    The ops build on ``Tensor`` and ``Function``, so this module cannot import them while it loads;
    the first attribute lookup imports the ops package and puts it in this placeholder's place.
    """

    def __getattr__(self, name):
        global ops
        from nerve.engine import ops as loaded

        ops = loaded
        return getattr(loaded, name)


ops = _OpsOnFirstUse()

__all__ = [
    "DEFAULT_FLOAT", "is_grad_enabled", "no_grad", "enable_grad", "tensor", "Tensor", "Function",
    "run_backward",
]
