"""Weight constraints: projections applied to a weight after each optimizer step (Keras's ``kernel_constraint``).

* :class:`MaxNorm`: rescale each unit's incoming weights so their norm is at most ``max_value`` (often used with dropout);
* :class:`MinMaxNorm`: keep the norms between ``min_value`` and ``max_value``;
* :class:`NonNeg`: clip negative weights to zero;
* :class:`UnitNorm`: unit norm along ``axis``.

Examples:
    >>> import numpy as np, nerve
    >>> w = nerve.tensor(np.array([[3.0], [4.0]]))
    >>> MaxNorm(1.0)(w).numpy().ravel().round(2).tolist()
    [0.6, 0.8]
"""

from __future__ import annotations

from nerve.engine import registry
from nerve.engine.tensor import Tensor

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "get", "serialize", "deserialize",
           "max_norm", "min_max_norm", "non_neg", "unit_norm"]

_EPSILON = 1e-7


class Constraint:
    """Base class: ``constraint(weight)`` returns the projected weight (a Tensor), ``get_config()`` its arguments.

    Examples:
        >>> import nerve
        >>> class Clip(Constraint):
        ...     def __call__(self, w):
        ...         return nerve.ops.clip(w, -1.0, 1.0)
        >>> Clip()(nerve.tensor([2.0, -3.0])).tolist()
        [1.0, -1.0]
    """

    def __call__(self, weight):
        return weight

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _norms(w, axis):
    xp = w.xp
    return xp.sqrt(xp.sum(w.data * w.data, axis=axis, keepdims=True))


@registry.register_builtin("constraint", "max_norm")
class MaxNorm(Constraint):
    """Rescale weights so that each norm along ``axis`` is at most ``max_value``.

    Examples:
        >>> import numpy as np, nerve
        >>> MaxNorm(2.0)(nerve.tensor(np.array([[3.0], [4.0]]))).numpy().ravel().round(3).tolist()
        [1.2, 1.6]
    """

    def __init__(self, max_value=2.0, axis=0):
        self.max_value, self.axis = float(max_value), axis

    def __call__(self, weight):
        norms = _norms(weight, self.axis)
        desired = weight.xp.clip(norms, 0, self.max_value)
        return Tensor(weight.data * (desired / (norms + _EPSILON)))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


@registry.register_builtin("constraint", "min_max_norm")
class MinMaxNorm(Constraint):
    """Keep each norm along ``axis`` between ``min_value`` and ``max_value`` (``rate`` < 1 moves part of the way).

    Examples:
        >>> import numpy as np, nerve
        >>> MinMaxNorm(1.0, 2.0)(nerve.tensor(np.array([[0.3], [0.4]]))).numpy().ravel().round(2).tolist()
        [0.6, 0.8]
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = float(min_value), float(max_value), float(rate), axis

    def __call__(self, weight):
        norms = _norms(weight, self.axis)
        clipped = weight.xp.clip(norms, self.min_value, self.max_value)
        desired = self.rate * clipped + (1 - self.rate) * norms
        return Tensor(weight.data * (desired / (norms + _EPSILON)))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


@registry.register_builtin("constraint", "non_neg")
class NonNeg(Constraint):
    """Set negative weights to zero.

    Examples:
        >>> import nerve
        >>> NonNeg()(nerve.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    def __call__(self, weight):
        return Tensor(weight.xp.maximum(weight.data, 0))


@registry.register_builtin("constraint", "unit_norm")
class UnitNorm(Constraint):
    """Scale each slice along ``axis`` to unit norm.

    Examples:
        >>> import numpy as np, nerve
        >>> UnitNorm()(nerve.tensor(np.array([[3.0], [4.0]]))).numpy().ravel().round(2).tolist()
        [0.6, 0.8]
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, weight):
        return Tensor(weight.data / (_norms(weight, self.axis) + _EPSILON))

    def get_config(self):
        return {"axis": self.axis}


# Keras's lower-case names of the same classes (keras.constraints.max_norm...)
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm


def get(identifier):
    """A constraint from a name (``"max_norm"``, ``"MaxNorm"``), a config dict, an instance or None.

    Examples:
        >>> get("non_neg")
        NonNeg()
        >>> get({"class_name": "MaxNorm", "config": {"max_value": 3.0}}).max_value
        3.0
    """
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        return registry.lookup("constraint", identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(f"a constraint must be a name, a dict, a Constraint or None, got {type(identifier).__name__}")


def serialize(constraint):
    """``{"class_name": ..., "config": ...}`` for a constraint (None for None).

    Examples:
        >>> serialize(MaxNorm(3.0))
        {'class_name': 'MaxNorm', 'config': {'max_value': 3.0, 'axis': 0}}
    """
    return None if constraint is None else registry.serialize(constraint, "constraint")


def deserialize(config, custom_objects=None):
    """Rebuild a constraint from :func:`serialize` output; only built-in or registered classes.

    Examples:
        >>> deserialize({"class_name": "UnitNorm", "config": {"axis": 1}}).axis
        1
    """
    return registry.deserialize("constraint", config, base=Constraint, custom_objects=custom_objects)
