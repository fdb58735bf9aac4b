"""Weight penalties added to the loss, with Keras semantics.

A regularizer is called on a weight tensor and returns a differentiable scalar
tensor: ``L1(l1)(w) = l1 * sum(|w|)``, ``L2(l2)(w) = l2 * sum(w ** 2)`` (no
factor 1/2, as in Keras), ``L1L2`` the sum of both. Layers take them as
``kernel_regularizer=`` and the model adds the penalties to the training loss.

Examples:
    >>> import nerve
    >>> from nerve import regularizers
    >>> w = nerve.tensor([1.0, -2.0], requires_grad=True)
    >>> penalty = regularizers.get("l2")(w)
    >>> round(penalty.item(), 4)
    0.05
    >>> penalty.backward()
    >>> [round(g, 4) for g in w.grad.tolist()]
    [0.02, -0.04]
"""

from __future__ import annotations

import math

from nerve.engine import ops, registry
from nerve.engine.tensor import Tensor, tensor

__all__ = [
    "Regularizer", "L1L2", "L1", "L2", "l1", "l2", "l1_l2", "OrthogonalRegularizer", "orthogonal_regularizer", "get",
    "serialize", "deserialize",
]


def _factor(value, argument, where):
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {argument} must be a non-negative number, got {value}")
    return value


def _as_weight(weight):
    return weight if isinstance(weight, Tensor) else tensor(weight)


class Regularizer:
    """Base class: ``__call__(weight)`` returns a scalar Tensor penalty; ``get_config`` its arguments.

    Examples:
        >>> import nerve
        >>> class MaxAbs(Regularizer):
        ...     def __call__(self, weight):
        ...         return 0.1 * nerve.ops.abs(weight).max()
        >>> round(MaxAbs()(nerve.tensor([1.0, -3.0])).item(), 4)
        0.3
    """

    def __call__(self, weight):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(weight)")

    def get_config(self):
        """Constructor arguments as a JSON-serialisable dict.

        Examples:
            >>> L1L2(l1=0.1, l2=0.2).get_config()
            {'l1': 0.1, 'l2': 0.2}
        """
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuild a regularizer from :meth:`get_config`'s dict.

        Examples:
            >>> L2.from_config({"l2": 0.5}).l2
            0.5
        """
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w ** 2)``.

    Examples:
        >>> import nerve
        >>> L1L2(l1=0.5, l2=0.25)(nerve.tensor([1.0, -2.0])).item()
        2.75
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1", type(self).__name__)
        self.l2 = _factor(l2, "l2", type(self).__name__)

    def __call__(self, weight):
        weight = _as_weight(weight)
        penalty = None
        if self.l1:
            penalty = self.l1 * ops.sum(ops.abs(weight))
        if self.l2:
            squares = self.l2 * ops.sum(weight**2)
            penalty = squares if penalty is None else penalty + squares
        if penalty is None:  # both factors zero
            penalty = Tensor(weight.xp.zeros((), dtype=weight.dtype))
        return penalty

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``: pushes weights to exactly zero (sparse weights).

    Examples:
        >>> import nerve
        >>> L1(l1=0.5)(nerve.tensor([1.0, -2.0])).item()
        1.5
    """

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w ** 2)`` (weight decay through the loss; no factor 1/2, as in Keras).

    Examples:
        >>> import nerve
        >>> L2(l2=0.5)(nerve.tensor([1.0, -2.0])).item()
        2.5
    """

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


# Keras also exposes the classes under lowercase names.
class OrthogonalRegularizer(Regularizer):
    """Push the rows (``mode="rows"``) or columns (``"columns"``) of a 2-D weight towards orthogonality (Keras
    semantics): ``factor`` times the mean absolute cosine similarity of the distinct pairs.

    Examples:
        >>> import nerve
        >>> OrthogonalRegularizer(factor=1.0)(nerve.tensor([[1.0, 0.0], [1.0, 0.0]])).item()
        1.0
        >>> OrthogonalRegularizer(factor=1.0)(nerve.tensor([[1.0, 0.0], [0.0, 2.0]])).item()
        0.0
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer")
        if mode not in ("rows", "columns"):
            raise ValueError(f"OrthogonalRegularizer: mode must be 'rows' or 'columns', got {mode!r}")
        self.mode = mode

    def __call__(self, weight):
        weight = _as_weight(weight)
        if weight.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer: needs a 2-D weight, got shape {tuple(weight.shape)}")
        vectors = weight if self.mode == "rows" else ops.transpose(weight, (1, 0))
        vectors = vectors / ops.sqrt(ops.maximum(ops.sum(vectors * vectors, axis=1, keepdims=True), 1e-12))
        product = ops.matmul(vectors, ops.transpose(vectors, (1, 0)))
        size = product.shape[0]
        if size < 2:
            return Tensor(weight.xp.zeros((), dtype=weight.dtype))
        off_diagonal = product * Tensor(1 - weight.xp.eye(size, dtype=weight.dtype))
        return ops.sum(ops.abs(off_diagonal)) * (self.factor * 0.5 / (size * (size - 1) / 2))

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2, "orthogonal_regularizer": OrthogonalRegularizer}
_BY_CLASS_NAME = {"L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer}


registry.register_builtins("regularizer", [L1, L2, L1L2, OrthogonalRegularizer], _BY_NAME)


def _class_named(name):
    cls = registry.lookup("regularizer", name)
    if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
        raise registry.UnknownObjectError(f"{name!r} does not name a regularizer class")
    return cls


def get(identifier):
    """Return a regularizer for ``identifier``.

    Accepts ``None`` (no penalty: returns ``None``), a name (``"l1"``, ``"l2"``,
    ``"l1_l2"`` or a class name; Keras's default factors 0.01), a dict
    ``{"class_name": ..., "config": {...}}``, a Regularizer (returned as is) or
    class, or any callable ``fn(weight) -> scalar Tensor`` (returned as is).

    Examples:
        >>> get("l1")
        L1(l1=0.01)
        >>> get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}})
        L1L2(l1=0.1, l2=0.2)
        >>> get("l3")
        Traceback (most recent call last):
        ...
        nerve.engine.registry.UnknownObjectError: unknown regularizer 'l3': it is not one of nerve's built-in regularizers and not registered. ...
    """
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        cls = _class_named(identifier)
        return L1L2(l1=0.01, l2=0.01) if cls is L1L2 else cls()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(
                f"a regularizer given as a dict needs 'class_name' (and optionally 'config'), got keys {sorted(identifier)}"
            )
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"a regularizer must be None, a name, a dict, a Regularizer or a callable, got {type(identifier).__name__}: "
        f"{identifier!r}"
    )


def serialize(regularizer):
    """Return ``{"class_name": ..., "config": ...}`` for ``regularizer``; :func:`get` turns it back.

    Examples:
        >>> serialize(L2(0.001))
        {'class_name': 'L2', 'config': {'l2': 0.001}}
    """
    regularizer = get(regularizer)
    if not isinstance(regularizer, Regularizer):
        raise ValueError(
            f"cannot serialize the custom regularizer {regularizer!r}: subclass nerve.regularizers.Regularizer "
            "and implement get_config"
        )
    return registry.serialize(regularizer, "regularizer")


def deserialize(config, custom_objects=None):
    """Rebuild a regularizer from :func:`serialize` output; only built-in or registered classes (nothing is imported).

    Examples:
        >>> deserialize({"class_name": "L2", "config": {"l2": 0.5}})
        L2(l2=0.5)
    """
    return registry.deserialize("regularizer", config, base=Regularizer, custom_objects=custom_objects)
