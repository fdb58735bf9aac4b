"""Recurrent layers and sequence helpers: Embedding, Masking, SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed.

Shapes follow Keras: sequences are ``(batch, time, features)``; a recurrent
layer returns its last output ``(batch, units)``, or every step's output
``(batch, time, units)`` with ``return_sequences=True``, and with
``return_state=True`` a list ``[output, *final_states]`` (LSTM: ``h, c``).
An initial state is passed as ``layer(x, initial_state=[h0, c0])`` or, in the
functional API, as extra inputs ``layer([x, h0, c0])``.

Masking padded steps: :class:`Embedding` with ``mask_zero=True`` and
:class:`Masking` attach a boolean mask ``(batch, time)`` to the tensor they
return (see :func:`attach_mask`); the next recurrent layer finds it there
(:func:`get_mask`) with no extra argument, in ``Sequential`` and functional
models alike, or takes one explicitly: ``layer(x, mask=m)``. At a masked step
the state is carried over unchanged, so padding does not change the final
state; the output sequence repeats the previous output there (Keras's
default), or holds zeros with ``zero_output_for_mask=True``. Recurrent layers
with ``return_sequences=True``, :class:`TimeDistributed` and
:class:`Bidirectional` pass the mask on. Layers that make a new tensor without
knowing about masks (``Dropout``, ``Dense``...) drop it: put them after the
recurrent layer, or use the recurrent layer's own ``dropout=``.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> model = nerve.Sequential([layers.Embedding(100, 8, mask_zero=True), layers.LSTM(16), layers.Dense(1)])
    >>> padded = np.array([[0, 0, 5, 7], [3, 9, 2, 4]])
    >>> model(padded).shape
    (2, 1)
    >>> bool(np.allclose(model(padded[:1]).numpy(), model(padded[:1, 2:]).numpy()))  # padding changes nothing
    True
"""

from __future__ import annotations

import weakref

import numpy

from nerve.blocks import activations, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry, unique_name
from nerve.blocks.layers.base import deserialize as deserialize_layer
from nerve.engine import ops, random, registry, validate
from nerve.engine.backend import get_array_module
from nerve.engine.tensor import Tensor

__all__ = [
    "GRU",
    "LSTM",
    "Bidirectional",
    "Embedding",
    "Masking",
    "SimpleRNN",
    "TimeDistributed",
    "attach_mask",
    "get_mask",
]


# ------------------------------------------------------------------- masks
_MASKS = {}  # id(tensor) -> (weak reference to the tensor, boolean mask array)


def attach_mask(tensor, mask):
    """Attach a boolean ``(batch, time)`` mask to ``tensor`` for the next layer to find; returns ``tensor``.

    The entry disappears with the tensor. This is how ``Embedding(mask_zero=True)``
    and ``Masking`` hand their mask to the next recurrent layer.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.zeros((1, 3, 2)))
        >>> _ = attach_mask(x, np.array([[True, True, False]]))
        >>> get_mask(x).tolist()
        [[True, True, False]]
    """
    if mask is None:
        return tensor
    key = id(tensor)

    def forget(ref, key=key):
        entry = _MASKS.get(key)
        if entry is not None and entry[0] is ref:
            del _MASKS[key]

    _MASKS[key] = (weakref.ref(tensor, forget), mask)
    return tensor


def _for_ops(activation):
    """A built-in activation the recurrent ops fuse, by name; anything else as the callable it is."""
    try:
        name = activations.serialize(activation)
    except ValueError:
        return activation
    return name if name in ("linear", "relu", "sigmoid", "tanh") else activation


def get_mask(tensor):
    """The mask attached to ``tensor`` by :func:`attach_mask`, or None.

    Examples:
        >>> import numpy as np, nerve
        >>> get_mask(nerve.tensor(np.zeros((1, 2)))) is None
        True
    """
    if not isinstance(tensor, Tensor):
        return None
    entry = _MASKS.get(id(tensor))
    if entry is None or entry[0]() is not tensor:
        return None
    return entry[1]


def _mask_array(layer, mask, x):
    """Validate an explicit or attached mask against ``x`` (batch, time, ...) and return a boolean array."""
    if mask is None:
        return None
    data = mask.data if isinstance(mask, Tensor) else mask
    data = x.xp.asarray(data)
    if tuple(data.shape) != tuple(x.shape[:2]):
        raise ValueError(
            f"layer '{layer.name}' ({type(layer).__name__}): the mask must have shape (batch, time) = "
            f"{tuple(x.shape[:2])}, got {tuple(data.shape)}"
        )
    return data.astype(bool)


# ------------------------------------------------------------- input checks
def _regular_array(layer, x):
    """Nested Python lists (or an object array) of sequences -> one array, with a clear error when ragged."""
    if isinstance(x, numpy.ndarray) and x.dtype != object:
        return x
    try:
        array = numpy.asarray(x)
        if array.dtype != object:
            return array
    except ValueError:
        pass
    lengths = sorted({len(s) for s in x if hasattr(s, "__len__")})
    raise ValueError(
        f"layer '{layer.name}' ({type(layer).__name__}) got {len(x)} sequences of different lengths "
        f"(lengths {lengths[:10]}{'...' if len(lengths) > 10 else ''}); pad them to one length first, e.g. "
        "nerve.sequence.pad_sequences(sequences, maxlen=...), and mask the padding with "
        "Embedding(mask_zero=True) or Masking()"
    )


def _is_nested_data(x):
    """True for a list of Python lists/numbers (data), False for a list of tensors/arrays (several inputs)."""
    return (isinstance(x, (list, tuple)) and len(x) > 0 and not isinstance(x[0], (Tensor, numpy.ndarray))
            and get_array_module(x[0]) is numpy)  # device arrays are inputs too


def _split_inputs(inputs):
    if isinstance(inputs, (list, tuple)):
        return inputs[0], list(inputs[1:])
    return inputs, []


def _reverse_time(x):
    return x[:, ::-1]


def _dropout_scale(rate, shape, dtype, xp):
    """Inverted-dropout multipliers (0 or 1/(1-rate)) of ``shape``, drawn from nerve's generator."""
    keep = random.generator().random(shape) >= rate
    return xp.asarray(keep, dtype=dtype) * dtype.type(1.0 / (1.0 - rate))


# ------------------------------------------------------------------ Embedding
@builtin_layer
class Embedding(Layer):
    """Turn integer ids ``(batch, time)`` into dense vectors ``(batch, time, output_dim)`` by table lookup.

    Args:
        input_dim: vocabulary size; ids must lie in ``[0, input_dim)``.
        output_dim: size of each vector.
        embeddings_initializer: ``"uniform"`` (U(-0.05, 0.05), Keras's default) or any initializer.
        embeddings_regularizer: optional regularizer of the table.
        mask_zero: id 0 is padding: the output carries a mask (``ids != 0``)
            that the next recurrent layer uses to skip those steps.

    Raises ``ValueError`` naming the layer and the offending smallest/largest id
    for ids outside the vocabulary. Float input holding whole numbers (as a
    ``Sequential`` without an integer ``Input`` passes it) is accepted.

    Examples:
        >>> import numpy as np
        >>> emb = Embedding(10, 4, mask_zero=True, name="embedding")
        >>> out = emb(np.array([[0, 3, 9]]))
        >>> out.shape, get_mask(out).tolist()
        ((1, 3, 4), [[False, True, True]])
        >>> emb(np.array([[1, 12]]))
        Traceback (most recent call last):
        ...
        ValueError: layer 'embedding' (Embedding): ids must lie in [0, 10) (input_dim=10), got ids from 1 to 12 in input of shape (1, 2)
    """

    accepts_integer_input = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = validate.positive_int(input_dim, "input_dim", "Embedding")
        self.output_dim = validate.positive_int(output_dim, "output_dim", "Embedding")
        if isinstance(embeddings_initializer, str) and embeddings_initializer.lower() == "uniform":
            embeddings_initializer = initializers.RandomUniform(-0.05, 0.05)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)

    def _prepare(self, x):
        if _is_nested_data(x) or (isinstance(x, numpy.ndarray) and x.dtype == object):
            x = _regular_array(self, x)
        return super()._prepare(x)

    def _fixes_last_axis(self):
        return False  # the last input axis is time, whose length may change between calls

    def build(self, input_shape):
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, self.embeddings_regularizer)

    def _ids(self, inputs):
        ids = inputs.data
        xp = inputs.xp
        if ids.dtype.kind == "f":
            if ids.size and not bool(xp.all(ids == xp.floor(ids))):
                raise ValueError(f"layer '{self.name}' (Embedding) expects integer ids, got non-integer values "
                                 f"in input of shape {tuple(ids.shape)}")
            ids = ids.astype(numpy.int64)
        elif ids.dtype.kind not in "iub":
            raise TypeError(f"layer '{self.name}' (Embedding) expects integer ids, got dtype {ids.dtype}")
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.input_dim:
                raise ValueError(
                    f"layer '{self.name}' (Embedding): ids must lie in [0, {self.input_dim}) (input_dim={self.input_dim}), "
                    f"got ids from {low} to {high} in input of shape {tuple(ids.shape)}"
                )
        return ids

    def call(self, inputs):
        ids = self._ids(inputs)
        out = ops.getitem(self.embeddings, ids)
        return attach_mask(out, self.compute_mask(ids))

    def compute_mask(self, inputs, mask=None):
        """The padding mask ``ids != 0`` when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        ids = inputs.data if isinstance(inputs, Tensor) else inputs
        return ids != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": serialize_entry(self.embeddings_initializer),
                "embeddings_regularizer": serialize_entry(self.embeddings_regularizer), "mask_zero": self.mask_zero}


# -------------------------------------------------------------------- Masking
@builtin_layer
class Masking(Layer):
    """Mark time steps whose features all equal ``mask_value`` as padding (zeroed, and skipped by recurrent layers).

    Examples:
        >>> import numpy as np
        >>> x = np.array([[[1.0], [0.0], [2.0]]])
        >>> out = Masking()(x)
        >>> get_mask(out).tolist()
        [[True, False, True]]
    """

    min_ndim = 3

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def compute_mask(self, inputs, mask=None):
        """True where some feature differs from ``mask_value``."""
        data = inputs.data if isinstance(inputs, Tensor) else inputs
        return get_array_module(data).any(data != self.mask_value, axis=-1)

    def call(self, inputs):
        keep = self.compute_mask(inputs)
        out = inputs * Tensor(keep[..., None].astype(inputs.dtype))
        return attach_mask(out, keep)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


# ---------------------------------------------------------- recurrent layers
class _Recurrent(Layer):
    """Shared machinery of SimpleRNN, LSTM and GRU: checks, masks, dropout, direction, states, config."""

    _gates = 1  # kernel width is gates * units
    _n_states = 1
    _auto_name = "simple_rnn"  # Keras's automatic names (the generic rule would give "simple_r_n_n")

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, zero_output_for_mask=False,
                 **kwargs):
        if kwargs.get("name") is None:
            kwargs["name"] = unique_name(self._auto_name)
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.units = validate.positive_int(units, "units", kind)
        for label, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            validate.probability(rate, label, kind, include_one=False)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)

    # -- calling
    def __call__(self, inputs, training=None, initial_state=None, mask=None, **kwargs):
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            inputs = [inputs] + states
        if mask is not None:
            kwargs["mask"] = mask
        return super().__call__(inputs, training=training, **kwargs)

    def _prepare(self, x):
        if _is_nested_data(x) or (isinstance(x, numpy.ndarray) and x.dtype == object):
            x = _regular_array(self, x)
        return super()._prepare(x)

    def _check_input(self, inputs):
        x, states = _split_inputs(inputs)
        where = f"layer '{self.name}' ({type(self).__name__})"
        if not isinstance(x, Tensor):
            return
        shape = tuple(x.shape)
        if len(shape) != 3:
            hint = ""
            if len(shape) == 2:
                hint = (f"; for one feature per time step add a feature axis (x[..., None] gives shape {shape + (1,)}),"
                        " and for token ids put an Embedding layer first")
            raise ValueError(f"{where} expects input of shape (batch, time, features), i.e. rank 3, "
                             f"got shape {shape}{hint}")
        if self.built and shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{where} was built for {self.kernel.shape[0]} features per time step, "
                             f"but received input of shape {shape}")
        if states and len(states) != self._n_states:
            raise ValueError(f"{where} takes {self._n_states} initial state(s), got {len(states)}")
        for state in states:
            if tuple(state.shape) != (shape[0], self.units):
                raise ValueError(f"{where}: an initial state must have shape (batch, units) = "
                                 f"{(shape[0], self.units)}, got {tuple(state.shape)}")

    def build(self, input_shape):
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        features, width = shape[-1], self._gates * self.units
        self.kernel = self.add_weight("kernel", (features, width), self.kernel_initializer, self.kernel_regularizer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width), self.recurrent_initializer,
                                                self.recurrent_regularizer)
        for weight in (self.kernel, self.recurrent_kernel):  # the orthogonal initializer may return a transposed view
            weight.data = weight.xp.ascontiguousarray(weight.data)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", self._bias_shape(), self._bias_init(), self.bias_regularizer)

    def _bias_shape(self):
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def call(self, inputs, training=None, mask=None):
        x, states = _split_inputs(inputs)
        if mask is None:
            mask = get_mask(x)
        mask = _mask_array(self, mask, x)
        if self.go_backwards:
            x = _reverse_time(x)
            mask = None if mask is None else mask[:, ::-1]
        xp = x.xp
        if training and self.dropout > 0:
            x = x * Tensor(_dropout_scale(self.dropout, (x.shape[0], 1, x.shape[2]), x.dtype, xp))
        recurrent_mask = None
        if training and self.recurrent_dropout > 0:
            recurrent_mask = _dropout_scale(self.recurrent_dropout, (x.shape[0], self.units), x.dtype, xp)
        result = self._run(x, states, mask, recurrent_mask)
        result = result if isinstance(result, tuple) else (result,)
        output, final_states = result[0], list(result[1:])
        if self.return_sequences and mask is not None:
            if self.zero_output_for_mask:
                output = output * Tensor(mask[:, :, None].astype(output.dtype))
            attach_mask(output, mask)
        if not self.return_state:
            return output
        outputs = [output] + final_states
        if self.output_shape is None:  # the base class records single-tensor outputs only
            self.output_shape = [(None,) + tuple(o.shape[1:]) for o in outputs]
        return outputs

    def compute_mask(self, inputs, mask=None):
        """The input mask (in output order) when ``return_sequences``, else None."""
        if not self.return_sequences or mask is None:
            return None
        return mask[:, ::-1] if self.go_backwards else mask

    def _run(self, x, states, mask, recurrent_mask):  # pragma: no cover - abstract
        raise NotImplementedError

    def _common(self, mask, recurrent_mask):
        return dict(activation=_for_ops(self.activation), mask=mask, recurrent_mask=recurrent_mask,
                    return_sequences=self.return_sequences, return_state=self.return_state)

    # -- config
    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_entry(self.kernel_initializer),
            "recurrent_initializer": serialize_entry(self.recurrent_initializer),
            "bias_initializer": serialize_entry(self.bias_initializer),
            "kernel_regularizer": serialize_entry(self.kernel_regularizer),
            "recurrent_regularizer": serialize_entry(self.recurrent_regularizer),
            "bias_regularizer": serialize_entry(self.bias_regularizer),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


@builtin_layer
class SimpleRNN(_Recurrent):
    """Fully connected recurrent layer: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        units: size of the state and output.
        activation: ``"tanh"`` by default.
        use_bias: whether the layer has a bias.
        kernel_initializer: Glorot uniform by default.
        recurrent_initializer: orthogonal by default.
        bias_initializer: zeros by default.
        kernel_regularizer: as in :class:`~nerve.layers.Dense`.
        recurrent_regularizer: as in :class:`~nerve.layers.Dense`.
        bias_regularizer: as in :class:`~nerve.layers.Dense`.
        dropout: fraction of input features dropped in training (one mask per
            sequence, shared over time).
        recurrent_dropout: fraction of state units dropped before the recurrent
            matmul in training (one mask per sequence).
        return_sequences: return every step's output ``(batch, time, units)``.
        return_state: also return the final state: ``[output, h]``.
        go_backwards: read the sequence from the end; the output sequence is
            then in reversed order, as in Keras.
        zero_output_for_mask: with a mask and ``return_sequences``, output
            zeros at masked steps instead of repeating the previous output.

    Weights: ``kernel (features, units)``, ``recurrent_kernel (units, units)``,
    ``bias (units,)``; PyTorch's ``nn.RNN`` stores their transposes and two biases.

    Examples:
        >>> import numpy as np
        >>> rnn = SimpleRNN(4, return_sequences=True)
        >>> rnn(np.zeros((2, 5, 3))).shape
        (2, 5, 4)
        >>> SimpleRNN(4, name="rnn")(np.zeros((2, 5)))
        Traceback (most recent call last):
        ...
        ValueError: layer 'rnn' (SimpleRNN) expects input of shape (batch, time, features), i.e. rank 3, got shape (2, 5); for one feature per time step add a feature axis (x[..., None] gives shape (2, 5, 1)), and for token ids put an Embedding layer first
    """

    def _run(self, x, states, mask, recurrent_mask):
        h0 = states[0] if states else None
        return ops.simple_rnn(x, h0, self.kernel, self.recurrent_kernel, self.bias,
                              **self._common(mask, recurrent_mask))


@builtin_layer
class LSTM(_Recurrent):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997), Keras semantics.

    Arguments as :class:`SimpleRNN`, plus ``recurrent_activation``
    (``"sigmoid"``, for the gates) and ``unit_forget_bias`` (start the forget
    gate's bias at 1, as Keras does). The state is ``[h, c]``: pass
    ``initial_state=[h0, c0]`` and get ``[output, h, c]`` with ``return_state=True``.

    Weights (Keras layout): ``kernel (features, 4 * units)``,
    ``recurrent_kernel (units, 4 * units)``, ``bias (4 * units,)``, gate blocks
    in the order input, forget, cell, output (``i, f, c, o``). PyTorch's
    ``nn.LSTM`` uses ``i, f, g, o`` (the same order) but stores the transposes,
    ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``, and splits the
    bias in two (``bias_ih + bias_hh = bias``).

    Examples:
        >>> import numpy as np
        >>> lstm = LSTM(8, return_state=True)
        >>> out, h, c = lstm(np.zeros((2, 5, 3)))
        >>> out.shape, h.shape, c.shape
        ((2, 8), (2, 8), (2, 8))
        >>> [w.shape for w in lstm.weights]
        [(3, 32), (8, 32), (32,)]
    """

    _gates = 4
    _n_states = 2
    _auto_name = "lstm"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, init = self.units, self.bias_initializer

        def forget_bias_one(shape, dtype="float32"):
            parts = [init((units,), dtype=dtype), numpy.ones((units,), dtype=dtype), init((2 * units,), dtype=dtype)]
            return numpy.concatenate([numpy.asarray(p, dtype=dtype) for p in parts])

        return forget_bias_one

    def _run(self, x, states, mask, recurrent_mask):
        h0, c0 = states if states else (None, None)
        return ops.lstm(x, h0, c0, self.kernel, self.recurrent_kernel, self.bias,
                        recurrent_activation=_for_ops(self.recurrent_activation), **self._common(mask, recurrent_mask))

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


@builtin_layer
class GRU(_Recurrent):
    """Gated recurrent unit layer (Cho et al., 2014), Keras semantics.

    Arguments as :class:`SimpleRNN`, plus ``recurrent_activation``
    (``"sigmoid"``) and ``reset_after`` (True, the Keras 2+ and cuDNN/PyTorch
    form: the reset gate multiplies the recurrent projection).

    Weights (Keras layout): ``kernel (features, 3 * units)``,
    ``recurrent_kernel (units, 3 * units)``, gate blocks in the order update,
    reset, candidate (``z, r, h``); ``bias`` is ``(2, 3 * units)`` with
    ``reset_after`` (row 0 for the input projection, row 1 for the recurrent
    one) and ``(3 * units,)`` otherwise. PyTorch's ``nn.GRU`` orders its blocks
    ``r, z, n`` and stores transposes: ``weight_ih = kernel[:, [r, z, h]].T``,
    ``bias_ih = bias[0][[r, z, h]]``, ``bias_hh = bias[1][[r, z, h]]``.

    Examples:
        >>> import numpy as np
        >>> gru = GRU(6, return_sequences=True)
        >>> gru(np.zeros((2, 5, 3))).shape
        (2, 5, 6)
        >>> gru.bias.shape
        (2, 18)
    """

    _gates = 3
    _auto_name = "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _run(self, x, states, mask, recurrent_mask):
        h0 = states[0] if states else None
        bias = recurrent_bias = None
        if self.bias is not None:
            bias, recurrent_bias = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        return ops.gru(x, h0, self.kernel, self.recurrent_kernel, bias, recurrent_bias,
                       recurrent_activation=_for_ops(self.recurrent_activation), reset_after=self.reset_after,
                       **self._common(mask, recurrent_mask))

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}


# ------------------------------------------------------------------- wrappers
def _layer_from(spec):
    if isinstance(spec, Layer):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        return deserialize_layer(spec)
    raise TypeError(f"expected a Layer or a layer config dict, got {type(spec).__name__}")


def _layer_spec(layer, **overrides):
    return {"class_name": registry.get_registered_name(layer), "config": {**layer.get_config(), **overrides}}


_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@builtin_layer
class Bidirectional(Layer):
    """Run a recurrent layer forwards and a copy backwards over the sequence, and merge their outputs.

    Args:
        layer: a SimpleRNN, LSTM or GRU layer (its configuration is copied into
            ``forward_layer`` and, with ``go_backwards`` flipped,
            ``backward_layer``; the two have their own weights).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"``, or
            None to return ``[forward, backward]``.
        backward_layer: optional explicit backward layer.

    With ``return_sequences`` the backward outputs are put back in time order
    before merging. ``initial_state`` holds the forward states then the
    backward ones; ``return_state`` gives ``[output, *forward_states,
    *backward_states]``. A mask reaches both directions.

    Examples:
        >>> import numpy as np
        >>> bi = Bidirectional(GRU(4, return_sequences=True))
        >>> bi(np.zeros((2, 5, 3))).shape
        (2, 5, 8)
        >>> Bidirectional(LSTM(4), merge_mode="sum")(np.zeros((2, 5, 3))).shape
        (2, 4)
    """

    min_ndim = 3

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        layer = _layer_from(layer)
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional wraps a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Bidirectional: unknown merge_mode {merge_mode!r}; valid: 'concat', 'sum', 'mul', 'ave', None")
        self.merge_mode = merge_mode
        self._layer_config = _layer_spec(layer)
        self.forward_layer = _layer_from(_layer_spec(layer, name=f"forward_{layer.name}"))
        if backward_layer is None:
            backward = _layer_spec(layer, name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            self.backward_layer = _layer_from(backward)
        else:
            self.backward_layer = _layer_from(backward_layer)
            if self.backward_layer.return_sequences != layer.return_sequences:
                raise ValueError("Bidirectional: forward and backward layers must agree on return_sequences")
        self._explicit_backward = backward_layer is not None
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state

    def __call__(self, inputs, training=None, initial_state=None, mask=None, **kwargs):
        if initial_state is not None:
            inputs = [inputs] + list(initial_state)
        if mask is not None:
            kwargs["mask"] = mask
        return super().__call__(inputs, training=training, **kwargs)

    def _check_input(self, inputs):
        x, _ = _split_inputs(inputs)
        if isinstance(x, Tensor) and x.ndim != 3:
            raise ValueError(f"layer '{self.name}' (Bidirectional) expects input of shape (batch, time, features), "
                             f"got shape {tuple(x.shape)}")

    def call(self, inputs, training=None, mask=None):
        x, states = _split_inputs(inputs)
        if mask is None:
            mask = get_mask(x)
        mask = _mask_array(self, mask, x)
        half = len(states) // 2
        if states and len(states) % 2:
            raise ValueError(f"layer '{self.name}' (Bidirectional): initial_state needs as many backward as "
                             f"forward states, got {len(states)} states")
        forward = self.forward_layer(x, training=training, mask=mask, initial_state=states[:half] or None)
        backward = self.backward_layer(x, training=training, mask=mask, initial_state=states[half:] or None)
        forward_states = backward_states = []
        if self.return_state:
            forward, forward_states = forward[0], forward[1:]
            backward, backward_states = backward[0], backward[1:]
        if self.return_sequences and self.backward_layer.go_backwards != self.forward_layer.go_backwards:
            backward = _reverse_time(backward)
        merged = self._merge(forward, backward)
        if self.return_sequences and mask is not None:
            for out in merged if isinstance(merged, list) else [merged]:
                attach_mask(out, mask)
        if self.return_state:
            outputs = merged if isinstance(merged, list) else [merged]
            return outputs + list(forward_states) + list(backward_states)
        return merged

    def _merge(self, forward, backward):
        mode = self.merge_mode
        if mode == "concat":
            return ops.concatenate([forward, backward], axis=-1)
        if mode == "sum":
            return forward + backward
        if mode == "mul":
            return forward * backward
        if mode == "ave":
            return (forward + backward) * 0.5
        return [forward, backward]

    def compute_mask(self, inputs, mask=None):
        """The input mask when the wrapped layer returns sequences, else None."""
        return mask if self.return_sequences else None

    def get_config(self):
        config = {**super().get_config(), "layer": self._layer_config, "merge_mode": self.merge_mode}
        if self._explicit_backward:
            config["backward_layer"] = _layer_spec(self.backward_layer)
        return config


@builtin_layer
class TimeDistributed(Layer):
    """Apply a layer to every time step: ``(batch, time, ...)`` -> ``(batch, time, ...)``, one set of weights.

    The time axis is folded into the batch (one call of the inner layer on
    ``(batch * time, ...)``), so it costs one big matmul for a Dense layer.

    Examples:
        >>> import numpy as np
        >>> from nerve.blocks.layers import Dense
        >>> td = TimeDistributed(Dense(2))
        >>> td(np.zeros((4, 7, 3))).shape
        (4, 7, 2)
    """

    min_ndim = 3

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = _layer_from(layer)

    def call(self, inputs, training=None, mask=None):
        B, T = inputs.shape[0], inputs.shape[1]
        folded = ops.reshape(inputs, (B * T,) + tuple(inputs.shape[2:]))
        out = self.layer(folded, training=training)
        out = ops.reshape(out, (B, T) + tuple(out.shape[1:]))
        if mask is None:
            mask = get_mask(inputs)
        return attach_mask(out, _mask_array(self, mask, inputs))

    def compute_mask(self, inputs, mask=None):
        """The input mask, unchanged."""
        return mask

    def get_config(self):
        return {**super().get_config(), "layer": _layer_spec(self.layer)}
