"""Activation functions by name, as Keras names them.

Each function is a thin named wrapper over the differentiable op in
:mod:`nerve.ops`; this module adds Keras defaults (``leaky_relu`` has
``alpha=0.2``) and the name lookup used by layers (``activation="relu"``)
and by model saving (:func:`serialize`).

Examples:
    >>> import nerve
    >>> from nerve import activations
    >>> act = activations.get("relu")
    >>> act(nerve.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    >>> activations.serialize(act)
    'relu'
"""

from __future__ import annotations

from nerve.engine import ops, registry
from nerve.engine.tensor import Tensor, tensor

__all__ = [
    "linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax", "gelu", "silu", "swish", "softplus",
    "step", "get", "serialize", "deserialize",
    "selu", "mish", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "softsign", "log_sigmoid", "log_softmax",
    "celu", "exponential", "glu", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink", "threshold",
    "squareplus", "sparse_plus", "sparse_sigmoid",
]


def linear(x):
    """Identity: returns ``x`` unchanged (the activation of a layer given ``activation=None``).

    Examples:
        >>> import nerve
        >>> linear(nerve.tensor([-1.0, 2.0])).tolist()
        [-1.0, 2.0]
    """
    return x


def sigmoid(x):
    """Logistic function 1 / (1 + exp(-x)); exact 0 and 1 for large |x|, no overflow warning.

    Examples:
        >>> import nerve
        >>> sigmoid(nerve.tensor([0.0, 1000.0, -1000.0])).tolist()
        [0.5, 1.0, 0.0]
    """
    return ops.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent.

    Examples:
        >>> import nerve
        >>> round(tanh(nerve.tensor([1.0])).item(), 4)
        0.7616
    """
    return ops.tanh(x)


def relu(x):
    """Rectified linear unit max(x, 0).

    Examples:
        >>> import nerve
        >>> relu(nerve.tensor([-3.0, 0.5])).tolist()
        [0.0, 0.5]
    """
    return ops.relu(x)


def leaky_relu(x, alpha=0.2):
    """``x`` for x > 0, ``alpha * x`` otherwise; ``alpha=0.2`` as in Keras's activation function.

    Examples:
        >>> import nerve
        >>> leaky_relu(nerve.tensor([-1.0, 2.0], dtype="float64")).tolist()
        [-0.2, 2.0]
    """
    return ops.leaky_relu(x, alpha=alpha)


def elu(x, alpha=1.0):
    """Exponential linear unit: ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise.

    Examples:
        >>> import nerve
        >>> round(elu(nerve.tensor([-1.0])).item(), 4)
        -0.6321
    """
    return ops.elu(x, alpha=alpha)


def softmax(x, axis=-1):
    """Softmax along ``axis``: non-negative values summing to 1 (stable for large inputs).

    Examples:
        >>> import nerve
        >>> softmax(nerve.tensor([[1.0, 1.0, 1.0, 1.0]])).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """
    return ops.softmax(x, axis=axis)


def gelu(x, approximate=False):
    """Gaussian error linear unit ``x * Phi(x)``: exact (erf) by default, as in Keras and PyTorch.

    ``approximate=True`` is the tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (GPT-2,
    PyTorch's ``approximate="tanh"``); the two differ by less than 1e-3. ``activation="gelu"`` is the
    exact form.

    Examples:
        >>> import nerve
        >>> round(gelu(nerve.tensor([1.0])).item(), 4), round(gelu(nerve.tensor([1.0]), approximate=True).item(), 4)
        (0.8413, 0.8412)
    """
    return ops.gelu(x, approximate=approximate)


def silu(x):
    """SiLU, also called swish: ``x * sigmoid(x)``.

    Examples:
        >>> import nerve
        >>> round(silu(nerve.tensor([1.0])).item(), 4)
        0.7311
    """
    return ops.silu(x)


swish = silu


def softplus(x):
    """Smooth ReLU ``log(1 + exp(x))``, stable for large |x|.

    Examples:
        >>> import nerve
        >>> round(softplus(nerve.tensor([0.0])).item(), 4)
        0.6931
    """
    return ops.softplus(x)


def step(x):
    """Heaviside step: 1 where ``x >= 0``, 0 elsewhere, in ``x``'s dtype (the threshold unit of McCulloch-Pitts).

    The unit of Rosenblatt's perceptron (:class:`nerve.applications.Perceptron`). Its derivative is 0 wherever it
    exists, so nothing flows back through it: the output is a constant of the graph, and a network of step units
    cannot be trained by backpropagation (that is why the smooth sigmoid replaced it).

    Examples:
        >>> import nerve
        >>> step(nerve.tensor([-2.0, 0.0, 0.5])).tolist()
        [0.0, 1.0, 1.0]
    """
    x = x if isinstance(x, Tensor) else tensor(x)
    return ops.cast(ops.greater_equal(x, 0), x.dtype if x.dtype.kind == "f" else "float32")


def _t(x):
    return x if isinstance(x, Tensor) else tensor(x)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(x):
    """Scaled ELU: ``scale * elu(x, alpha)`` with Klambauer et al.'s alpha 1.6733 and scale 1.0507 (use with
    ``kernel_initializer="lecun_normal"``).

    Examples:
        >>> import nerve
        >>> [round(v, 4) for v in selu(nerve.tensor([-1.0, 1.0])).tolist()]
        [-1.1113, 1.0507]
    """
    return ops.elu(_t(x), alpha=_SELU_ALPHA) * _SELU_SCALE


def mish(x):
    """Mish: ``x * tanh(softplus(x))``.

    Examples:
        >>> import nerve
        >>> round(mish(nerve.tensor([1.0])).item(), 4)
        0.8651
    """
    x = _t(x)
    return x * ops.tanh(ops.softplus(x))


def relu6(x):
    """ReLU capped at 6: ``min(max(x, 0), 6)``.

    Examples:
        >>> import nerve
        >>> relu6(nerve.tensor([-1.0, 3.0, 8.0])).tolist()
        [0.0, 3.0, 6.0]
    """
    return ops.clip(_t(x), 0.0, 6.0)


def hard_sigmoid(x):
    """Piecewise-linear sigmoid ``relu6(x + 3) / 6`` (Keras 3; PyTorch's ``hardsigmoid``).

    Examples:
        >>> import nerve
        >>> hard_sigmoid(nerve.tensor([-4.0, 0.0, 1.5, 4.0])).tolist()
        [0.0, 0.5, 0.75, 1.0]
    """
    return ops.clip(_t(x) + 3.0, 0.0, 6.0) / 6.0


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard swish; MobileNetV3).

    Examples:
        >>> import nerve
        >>> hard_silu(nerve.tensor([-4.0, 1.5, 4.0])).tolist()
        [-0.0, 1.125, 4.0]
    """
    x = _t(x)
    return x * hard_sigmoid(x)


hard_swish = hard_silu


def softsign(x):
    """``x / (1 + |x|)``.

    Examples:
        >>> import nerve
        >>> softsign(nerve.tensor([-1.0, 3.0])).tolist()
        [-0.5, 0.75]
    """
    x = _t(x)
    return x / (ops.abs(x) + 1.0)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``.

    Examples:
        >>> import nerve
        >>> round(log_sigmoid(nerve.tensor([0.0])).item(), 4)
        -0.6931
    """
    return -ops.softplus(-_t(x))


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` along ``axis``, computed stably.

    Examples:
        >>> import nerve
        >>> [round(v, 4) for v in log_softmax(nerve.tensor([0.0, 0.0])).tolist()]
        [-0.6931, -0.6931]
    """
    return ops.log_softmax(_t(x), axis=axis)


def celu(x, alpha=1.0):
    """Continuously differentiable ELU: ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``.

    Examples:
        >>> import nerve
        >>> [round(v, 4) for v in celu(nerve.tensor([-1.0, 2.0]), alpha=2.0).tolist()]
        [-0.7869, 2.0]
    """
    x = _t(x)
    return ops.maximum(x, 0.0) + ops.minimum((ops.exp(x / alpha) - 1.0) * alpha, 0.0)


def exponential(x):
    """``exp(x)``.

    Examples:
        >>> import nerve
        >>> round(exponential(nerve.tensor([1.0])).item(), 4)
        2.7183
    """
    return ops.exp(_t(x))


def glu(x, axis=-1):
    """Gated linear unit: the first half of ``axis`` times the sigmoid of the second half.

    Examples:
        >>> import nerve
        >>> glu(nerve.tensor([[2.0, 0.0]])).tolist()
        [[1.0]]
    """
    x = _t(x)
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} must have an even size to split in two halves, got shape {tuple(x.shape)}")
    a, b = ops.split(x, 2, axis=axis)
    return a * ops.sigmoid(b)


def hard_tanh(x):
    """``clip(x, -1, 1)``.

    Examples:
        >>> import nerve
        >>> hard_tanh(nerve.tensor([-2.0, 0.5, 2.0])).tolist()
        [-1.0, 0.5, 1.0]
    """
    return ops.clip(_t(x), -1.0, 1.0)


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0.

    Examples:
        >>> import nerve
        >>> hard_shrink(nerve.tensor([-1.0, 0.25, 0.75])).tolist()
        [-1.0, 0.0, 0.75]
    """
    x = _t(x)
    return ops.where(ops.greater(ops.abs(x), threshold), x, x * 0.0)


def soft_shrink(x, threshold=0.5):
    """``sign(x) * max(|x| - threshold, 0)``.

    Examples:
        >>> import nerve
        >>> soft_shrink(nerve.tensor([-1.0, 0.25, 0.75])).tolist()
        [-0.5, 0.0, 0.25]
    """
    x = _t(x)
    return x - ops.clip(x, -threshold, threshold)


def tanh_shrink(x):
    """``x - tanh(x)``.

    Examples:
        >>> import nerve
        >>> round(tanh_shrink(nerve.tensor([1.0])).item(), 4)
        0.2384
    """
    x = _t(x)
    return x - ops.tanh(x)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``.

    Examples:
        >>> import nerve
        >>> threshold(nerve.tensor([0.5, 2.0]), 1.0, -1.0).tolist()
        [-1.0, 2.0]
    """
    x = _t(x)
    return ops.where(ops.greater(x, threshold), x, x * 0.0 + default_value)


def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``, a smooth ReLU without exponentials.

    Examples:
        >>> import nerve
        >>> squareplus(nerve.tensor([0.0, 3.0]), b=16).tolist()
        [2.0, 4.0]
    """
    x = _t(x)
    return (x + ops.sqrt(x * x + float(b))) / 2.0


def sparse_plus(x):
    """0 for ``x <= -1``, ``(x + 1)^2 / 4`` in between, ``x`` for ``x >= 1``.

    Examples:
        >>> import nerve
        >>> sparse_plus(nerve.tensor([-2.0, 0.0, 2.0])).tolist()
        [0.0, 0.25, 2.0]
    """
    x = _t(x)
    inner = ops.clip(x, -1.0, 1.0) + 1.0
    return ops.where(ops.greater_equal(x, 1.0), x, inner * inner / 4.0)


def sparse_sigmoid(x):
    """0 for ``x <= -1``, ``(x + 1) / 2`` in between, 1 for ``x >= 1``.

    Examples:
        >>> import nerve
        >>> sparse_sigmoid(nerve.tensor([-2.0, 0.0, 2.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    return (ops.clip(_t(x), -1.0, 1.0) + 1.0) / 2.0


def deserialize(config, custom_objects=None):
    """The activation a name (or ``{"class_name": name}``) stands for: :func:`serialize`'s inverse.

    Examples:
        >>> deserialize("selu") is selu
        True
    """
    if isinstance(config, dict):
        config = config.get("class_name", config.get("config"))
    with registry.custom_object_scope(custom_objects):
        return get(config)


_BY_NAME = {
    "linear": linear,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "softmax": softmax,
    "gelu": gelu,
    "silu": silu,
    "swish": swish,
    "softplus": softplus,
    "step": step,
    **{fn.__name__: fn for fn in (selu, mish, relu6, hard_sigmoid, hard_silu, softsign, log_sigmoid, log_softmax, celu,
                                  exponential, glu, hard_tanh, hard_shrink, soft_shrink, tanh_shrink, threshold,
                                  squareplus, sparse_plus, sparse_sigmoid)},
    "hard_swish": hard_silu,
}

# Functions that serialize to a name. The ops with the same meaning and defaults
# count too, so ``Dense(activation=nerve.ops.relu)`` can be saved. ``ops.leaky_relu``
# is left out: its default alpha (0.01) differs from this module's (0.2); so is ``ops.gelu``
# (tanh form by default, as Keras's ops.gelu; the "gelu" activation is the exact form).
_NAME_OF = {id(fn): name for name, fn in _BY_NAME.items() if name not in ("swish", "hard_swish")}
_NAME_OF.update({id(getattr(ops, name)): name for name in ("sigmoid", "tanh", "relu", "elu", "softmax", "silu", "softplus")})
registry.register_builtins("activation", [], _BY_NAME)


def get(identifier):
    """Return the activation function for ``identifier``.

    ``None`` gives :func:`linear`; a name (any case) gives the function of that
    name; a callable is returned as it is.

    Examples:
        >>> get("ReLU") is relu, get(None) is linear
        (True, True)
        >>> get("relux")
        Traceback (most recent call last):
        ...
        nerve.engine.registry.UnknownObjectError: unknown activation 'relux': it is not one of nerve's built-in activations and not registered. ...
    """
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = registry.lookup("activation", identifier)
        if isinstance(fn, type) or not callable(fn):
            raise registry.UnknownObjectError(f"{identifier!r} does not name an activation function")
        return fn
    if callable(identifier):
        return identifier
    raise TypeError(
        f"activation must be None, a name such as 'relu' or a callable, got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(activation):
    """Return the name under which ``activation`` can be saved and given back to :func:`get`.

    Raises ``ValueError`` for a custom callable, which has no name to save.

    Examples:
        >>> serialize(relu), serialize(swish), serialize(None)
        ('relu', 'silu', 'linear')
    """
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return serialize(get(activation))
    name = _NAME_OF.get(id(activation))
    if name is None and registry.get_registered_object(registry.get_registered_name(activation)) is activation:
        name = registry.get_registered_name(activation)  # registered with @register_serializable
    if name is None:
        label = getattr(activation, "__qualname__", None) or repr(activation)
        raise ValueError(
            f"cannot serialize the custom activation {label}: only built-in activations and functions "
            f"registered with @nerve.saving.register_serializable can be saved by name ({', '.join(sorted(_BY_NAME))})"
        )
    return name
