"""Merging layers Keras has beyond :mod:`nerve.blocks.layers.core`'s (``Minimum``, ``Dot``) and Keras's
functional helpers: ``layers.concatenate([a, b])`` is ``layers.Concatenate()([a, b])``, and so on.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(2,))
    >>> model = nerve.Model([a, b], layers.concatenate([layers.add([a, b]), layers.minimum([a, b])]))
    >>> model([np.array([[1.0, 5.0]]), np.array([[3.0, 2.0]])]).tolist()
    [[4.0, 7.0, 1.0, 2.0]]
"""

from __future__ import annotations

from nerve.blocks.layers.base import Layer, builtin_layer
from nerve.blocks.layers.core import Add, Average, Concatenate, Maximum, Multiply, Subtract, _Merge
from nerve.engine import ops

__all__ = [
    "Minimum", "Dot", "concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum", "dot",
]


@builtin_layer
class Minimum(_Merge):
    """Elementwise minimum of a list of tensors.

    Examples:
        >>> import numpy as np
        >>> Minimum()([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
        [[0.0, 0.0]]
    """

    def _combine(self, a, b):
        return ops.minimum(a, b)


def _l2_normalize(x, axis):
    # Keras: x * rsqrt(max(sum(x^2), 1e-12))
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=axis, keepdims=True), 1e-12))


@builtin_layer
class Dot(Layer):
    """Dot product of two batched tensors along ``axes`` (Keras's ``batch_dot``).

    Args:
        axes: an int, or a pair of ints, one axis of each input (the batch axis is 0 and cannot be one).
        normalize: L2-normalise both inputs along ``axes`` first, so the result is the cosine similarity.

    Inputs of shapes ``(batch, n)`` give ``(batch, 1)``; ``(batch, n, d)`` and ``(batch, m, d)`` with
    ``axes=2`` give ``(batch, n, m)``.

    Examples:
        >>> import numpy as np
        >>> Dot(axes=1)([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])]).tolist()
        [[11.0]]
        >>> round(Dot(axes=1, normalize=True)([np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]])]).item(), 4)
        0.7071
    """

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, int):
            axes = (axes, axes)
        if not (isinstance(axes, (list, tuple)) and len(axes) == 2 and all(isinstance(a, int) for a in axes)):
            raise ValueError(f"Dot: axes must be an int or a pair of ints, got {axes!r}")
        self.axes = tuple(axes)
        self.normalize = bool(normalize)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(f"layer '{self.name}' (Dot) expects a list of 2 tensors")
        x, y = inputs
        if x.ndim != y.ndim or x.ndim not in (2, 3):
            raise ValueError(f"layer '{self.name}' (Dot): expects two inputs of rank 2 or both of rank 3 (batch axis "
                             f"included), got shapes {tuple(x.shape)} and {tuple(y.shape)}")
        ax, ay = (a % x.ndim for a in self.axes)
        if ax == 0 or ay == 0:
            raise ValueError(f"layer '{self.name}' (Dot): axes {self.axes} include the batch axis 0")
        if x.shape[ax] != y.shape[ay]:
            raise ValueError(f"layer '{self.name}' (Dot): axis {ax} of {tuple(x.shape)} and axis {ay} of "
                             f"{tuple(y.shape)} differ in size")
        if self.normalize:
            x, y = _l2_normalize(x, ax), _l2_normalize(y, ay)
        if x.ndim == 2:
            return ops.sum(x * y, axis=1, keepdims=True)
        if ax == 1:
            x = ops.transpose(x, (0, 2, 1))  # (batch, n, d): the contracted axis last
        if ay == 2:
            y = ops.transpose(y, (0, 2, 1))  # (batch, d, m): the contracted axis first
        return ops.matmul(x, y)

    def get_config(self):
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}


def concatenate(inputs, axis=-1, **kwargs):
    """Functional form of :class:`Concatenate`: ``Concatenate(axis=axis, **kwargs)(inputs)``.

    Examples:
        >>> import numpy as np
        >>> concatenate([np.zeros((2, 3)), np.ones((2, 1))]).shape
        (2, 4)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    """Functional form of :class:`Add`.

    Examples:
        >>> import numpy as np
        >>> add([np.ones((1, 2)), np.ones((1, 2))]).tolist()
        [[2.0, 2.0]]
    """
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """Functional form of :class:`Subtract`.

    Examples:
        >>> import numpy as np
        >>> subtract([np.full((1, 2), 3.0), np.ones((1, 2))]).tolist()
        [[2.0, 2.0]]
    """
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """Functional form of :class:`Multiply`.

    Examples:
        >>> import numpy as np
        >>> multiply([np.full((1, 2), 3.0), np.full((1, 2), 2.0)]).tolist()
        [[6.0, 6.0]]
    """
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """Functional form of :class:`Average`.

    Examples:
        >>> import numpy as np
        >>> average([np.zeros((1, 2)), np.full((1, 2), 4.0)]).tolist()
        [[2.0, 2.0]]
    """
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """Functional form of :class:`Maximum`.

    Examples:
        >>> import numpy as np
        >>> maximum([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
        [[1.0, 1.0]]
    """
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """Functional form of :class:`Minimum`.

    Examples:
        >>> import numpy as np
        >>> minimum([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
        [[0.0, 0.0]]
    """
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """Functional form of :class:`Dot`.

    Examples:
        >>> import numpy as np
        >>> dot([np.array([[1.0, 2.0]]), np.array([[3.0, 4.0]])], axes=1).tolist()
        [[11.0]]
    """
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
