"""Symbolic tensors: the placeholders of the functional API.

``nerve.Input(shape=...)`` returns a :class:`SymbolicTensor`; a layer called on one records the call
(a :class:`Node`) instead of computing, building itself on a one-sample example so that shapes are known.
``Model(inputs, outputs)`` then walks the recorded nodes.

Examples:
    >>> import nerve
    >>> x = nerve.Input(shape=(3,))
    >>> isinstance(x, SymbolicTensor), x.shape
    (True, (None, 3))
"""

from __future__ import annotations

from nerve.engine import ops as _ops
from nerve.engine.nest import flatten, map_structure
from nerve.engine.tensor import no_grad

__all__ = ["Node", "SymbolicTensor", "call_symbolic"]


class Node:
    """One call of a layer in a functional graph: the layer, its symbolic inputs, its symbolic outputs.

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(3,))
        >>> y = nerve.layers.Dense(2, name="d")(x)
        >>> y.node.layer.name, y.node.inputs is x
        ('d', True)
    """

    def __init__(self, layer, inputs, kwargs):
        self.layer = layer
        self.inputs = inputs
        self.kwargs = kwargs
        self.outputs = []


class SymbolicTensor:
    """A placeholder flowing through layers to describe a functional model (like a Keras tensor).

    It carries a shape whose batch axis is ``None``, a dtype, and the node that
    produced it. Layers called on it record the call instead of computing.

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(28, 28, 1))
        >>> x.shape
        (None, 28, 28, 1)
    """

    def __init__(self, example, node, index=0, name=None):
        self.example = example  # a concrete batch of one sample, used to infer shapes and build layers
        self.node = node
        self.index = index
        self.name = name

    @property
    def shape(self):
        return (None,) + tuple(self.example.shape[1:])

    @property
    def dtype(self):
        return self.example.dtype

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} from {self.node.layer.name}>"

    #: marks functional-API tensors for the ops, which record themselves as graph nodes when given one
    _nerve_symbolic = True

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is a placeholder of a functional model and holds no values; call the model on data, "
            "or apply nerve.ops / layers to it to add nodes to the graph"
        )

    # operators record the matching op of nerve.ops as a node of the graph (Keras 3 behaviour)
    def __add__(self, other):
        return _ops.add(self, other)

    def __radd__(self, other):
        return _ops.add(other, self)

    def __sub__(self, other):
        return _ops.sub(self, other)

    def __rsub__(self, other):
        return _ops.sub(other, self)

    def __mul__(self, other):
        return _ops.mul(self, other)

    def __rmul__(self, other):
        return _ops.mul(other, self)

    def __truediv__(self, other):
        return _ops.div(self, other)

    def __rtruediv__(self, other):
        return _ops.div(other, self)

    def __matmul__(self, other):
        return _ops.matmul(self, other)

    def __rmatmul__(self, other):
        return _ops.matmul(other, self)

    def __pow__(self, other):
        return _ops.pow(self, other)

    def __neg__(self):
        return _ops.neg(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)


def call_symbolic(layer, inputs, training=None, **kwargs):
    """Record ``layer(inputs)`` in the functional graph; the layer is built on a one-sample example.

    Layers call it for you when they receive a symbolic tensor.

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(3,))
        >>> call_symbolic(nerve.layers.Dense(4), x).shape
        (None, 4)
    """
    for value in flatten(inputs):
        if not isinstance(value, SymbolicTensor):
            raise TypeError(f"layer '{layer.name}': functional inputs must all come from nerve.Input or other layers, got {type(value).__name__}")
    examples = map_structure(inputs, lambda s: s.example)
    with no_grad():
        out = layer(examples, training=False, **kwargs)
    node = Node(layer, inputs, kwargs)
    layer.__dict__.setdefault("_inbound_nodes", []).append(node)  # layer.input / layer.output read the first
    if isinstance(out, (list, tuple)):
        node.outputs = [SymbolicTensor(o, node, i) for i, o in enumerate(out)]
        return type(out)(node.outputs)
    node.outputs = [SymbolicTensor(out, node, 0)]
    return node.outputs[0]
