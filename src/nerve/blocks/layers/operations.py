"""Ops on functional-API tensors: ``nerve.ops.relu(inputs)`` inside a functional model becomes a graph node.

As in Keras 3, any public op of :mod:`nerve.ops` (and the arithmetic operators ``+ - * / @ **``,
unary ``-`` and indexing) applied to a symbolic tensor from :func:`nerve.Input` is recorded as an
:class:`OpLayer`: a weightless layer that calls the op by its public name. The model saves it like any
layer: the op's name and its constant arguments (numbers, strings, tuples, slices, dtypes, small arrays)
go into the JSON config, and loading looks the name up among :mod:`nerve.ops`'s public functions only.

Examples:
    >>> import numpy as np, nerve
    >>> a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(3,))
    >>> merged = nerve.concatenate([nerve.ops.relu(a), b * 2.0], axis=-1)
    >>> model = nerve.Model([a, b], merged)
    >>> model([np.array([[-1.0, 1.0]]), np.ones((1, 3))]).tolist()
    [[0.0, 1.0, 2.0, 2.0, 2.0]]
"""

from __future__ import annotations

import inspect

import numpy

from nerve.blocks.layers.base import Layer, builtin_layer, reset_names
from nerve.blocks.layers.symbolic import SymbolicTensor
from nerve.engine import config as _engine_config
from nerve.engine import ops as engine_ops
from nerve.engine.tensor import Tensor

__all__ = ["OpLayer"]


class _Slot:
    """The place of the i-th symbolic input in an op's arguments."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def _template(value, symbols):
    """``value`` with every symbolic tensor replaced by a :class:`_Slot` (collected in ``symbols``)."""
    if isinstance(value, SymbolicTensor):
        symbols.append(value)
        return _Slot(len(symbols) - 1)
    if isinstance(value, (list, tuple)):
        return type(value)(_template(v, symbols) for v in value)
    if isinstance(value, dict):
        return {k: _template(v, symbols) for k, v in value.items()}
    return value


def _fill(value, inputs):
    if isinstance(value, _Slot):
        return inputs[value.index]
    if isinstance(value, (list, tuple)):
        return type(value)(_fill(v, inputs) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, inputs) for k, v in value.items()}
    return value


def _encode(value, where):
    """A JSON form of a constant argument (tuples, slices, dtypes and arrays tagged so they come back)."""
    if isinstance(value, _Slot):
        return {"__input__": value.index}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, numpy.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, where) for v in value]}
    if isinstance(value, list):
        return [_encode(v, where) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"__dict__": {k: _encode(v, where) for k, v in value.items()}}
    if isinstance(value, slice):
        return {"__slice__": [_encode(value.start, where), _encode(value.stop, where), _encode(value.step, where)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, numpy.dtype) or (isinstance(value, type) and issubclass(value, numpy.generic)):
        return {"__dtype__": numpy.dtype(value).name}
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, numpy.ndarray) and value.size <= 4096 and value.dtype.kind in "biuf":
        return {"__array__": value.tolist(), "dtype": value.dtype.name}
    raise ValueError(f"{where}: the argument {value!r} ({type(value).__name__}) cannot be saved in a model file; "
                     "use numbers, strings, tuples, slices, dtypes or small arrays, or write a registered Layer")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__input__" in value:
        return _Slot(int(value["__input__"]))
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v) for k, v in value["__dict__"].items()}
    if "__slice__" in value:
        return slice(*(_decode(v) for v in value["__slice__"]))
    if "__ellipsis__" in value:
        return Ellipsis
    if "__dtype__" in value:
        return numpy.dtype(value["__dtype__"])
    if "__array__" in value:
        return numpy.asarray(value["__array__"], dtype=numpy.dtype(value["dtype"]))
    raise ValueError(f"OpLayer config: unknown argument encoding {sorted(value)}")


def _op_function(name):
    """The public op ``name`` of :mod:`nerve.ops` (the only functions an OpLayer may call)."""
    fn = getattr(engine_ops, name, None) if isinstance(name, str) and not name.startswith("_") else None
    if name not in engine_ops.__all__ or not inspect.isfunction(fn):
        raise ValueError(f"OpLayer: '{name}' is not a public function of nerve.ops")
    return fn


@builtin_layer
class OpLayer(Layer):
    """A functional-graph node that applies the public op ``op`` of :mod:`nerve.ops` (created for you).

    Args:
        op: the op's name in ``nerve.ops`` (``"relu"``, ``"concatenate"``...).
        args: the op's arguments, with the symbolic inputs replaced by slots (``{"__input__": i}``
            in a config).
        kwargs: the op's arguments, with the symbolic inputs replaced by slots (``{"__input__": i}``
            in a config).

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(3,))
        >>> y = nerve.ops.relu(x)
        >>> type(y.node.layer).__name__, y.node.layer.op, y.shape
        ('OpLayer', 'relu', (None, 3))
    """

    accepts_integer_input = True

    def __init__(self, op, args=(), kwargs=None, **base):
        super().__init__(**base)
        self._fn = _op_function(op)
        self.op = op
        self._args = tuple(_decode(a) if isinstance(a, (dict, list)) else a for a in args)
        self._kwargs = {k: _decode(v) for k, v in (kwargs or {}).items()}

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        return self._fn(*_fill(self._args, inputs), **_fill(self._kwargs, inputs))

    def get_config(self):
        where = f"layer '{self.name}' (OpLayer '{self.op}')"
        return {**super().get_config(), "op": self.op, "args": [_encode(a, where) for a in self._args],
                "kwargs": {k: _encode(v, where) for k, v in self._kwargs.items()}}


def _record(name, args, kwargs):
    """Record ``nerve.ops.<name>(*args, **kwargs)`` on symbolic tensors as an :class:`OpLayer` node."""
    symbols = []
    args = _template(tuple(args), symbols)
    kwargs = _template(dict(kwargs), symbols)
    layer = OpLayer(name)
    layer._args, layer._kwargs = args, kwargs
    return layer(symbols)


engine_ops._symbolic_call = _record


# --------------------------------------------- what nerve.backend's settings change in the layers
def _follow_floatx(name):
    """``nerve.backend.set_floatx(name)``: layers created from now on compute and keep weights in ``name``."""
    from nerve.blocks import mixed_precision

    mixed_precision.set_global_policy(name)


_engine_config.floatx_hooks.append(_follow_floatx)
_engine_config.clear_session_hooks.append(reset_names)
