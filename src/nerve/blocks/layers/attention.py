"""Attention layers and Transformer blocks (Keras 3 and keras-hub names and arguments).

* :class:`Attention` (Luong, dot-product scores) and :class:`AdditiveAttention` (Bahdanau, ``tanh``
  scores): the attention of the first neural translation models, on ``[query, value(, key)]``.
* :class:`MultiHeadAttention`: learned query/key/value projections split into heads, scaled
  dot-product attention per head (one fused op, :func:`nerve.ops.scaled_dot_product_attention`),
  an output projection.
* Positions: :class:`PositionEmbedding` (learned), :class:`SinePositionEncoding` (fixed sinusoids),
  :class:`TokenAndPositionEmbedding` (ids to token plus position vectors).
* :class:`TransformerEncoder` and :class:`TransformerDecoder` blocks: self-attention (causal in the
  decoder), cross-attention to an encoder's output, a feed-forward network, dropout, residual
  connections, and layer normalisation after (``normalize_first=False``, the original Transformer)
  or before each part (``normalize_first=True``, GPT-2 style).

Masks: a padding mask attached by ``Embedding(mask_zero=True)`` or :class:`TokenAndPositionEmbedding`
(see :func:`nerve.layers.get_mask`) is found on the inputs, as the recurrent layers find it, and
keeps padded keys out of every softmax; the blocks pass it on to their output.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 8))
    >>> layers.TransformerEncoder(intermediate_dim=16, num_heads=2)(x).shape
    (2, 5, 8)
"""

from __future__ import annotations

import numpy

from nerve.blocks import activations, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry
from nerve.blocks.layers.core import Dense, Dropout
from nerve.blocks.layers.normalization import LayerNormalization
from nerve.blocks.layers.recurrent import Embedding, attach_mask, get_mask
from nerve.engine import ops, random
from nerve.engine.tensor import Tensor

__all__ = [
    "AdditiveAttention",
    "Attention",
    "MultiHeadAttention",
    "PositionEmbedding",
    "SinePositionEncoding",
    "TokenAndPositionEmbedding",
    "TransformerDecoder",
    "TransformerEncoder",
]


# ----------------------------------------------------------------- helpers
def _where(layer):
    return f"layer '{layer.name}' ({type(layer).__name__})"


def _bool_mask(mask):
    """An explicit mask (Tensor, array, or a float tensor made from booleans by the layer) as a boolean array."""
    if mask is None:
        return None
    data = mask.data if isinstance(mask, Tensor) else mask
    if not (hasattr(data, "dtype") and hasattr(data, "shape")):
        data = numpy.asarray(data)
    return data if data.dtype == bool else data != 0


def _check_sequence(layer, name, x):
    if not isinstance(x, Tensor) or x.ndim != 3:
        shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
        raise ValueError(f"{_where(layer)} expects {name} of shape (batch, time, features), got {shape}")


def _check_mask_shape(layer, mask, batch, lq, lk, what="attention_mask"):
    if mask is None:
        return None
    try:
        numpy.broadcast_shapes(mask.shape, (batch, lq, lk))
    except ValueError:
        raise ValueError(f"{_where(layer)}: {what} must broadcast to (batch, query time, key time) = "
                         f"{(batch, lq, lk)}, got shape {tuple(mask.shape)}") from None
    return mask


def _dropout_scale(rate, shape, like):
    keep = random.generator().random(shape) >= rate
    return Tensor(like.xp.asarray(keep, dtype=like.dtype) * like.dtype.type(1.0 / (1.0 - rate)))


# --------------------------------------------------------- Luong / Bahdanau
class _BaseDenseAttention(Layer):
    """Shared machinery of Attention and AdditiveAttention (Keras's ``BaseDenseAttention``)."""

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.seed = seed

    def _split(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{_where(self)} expects inputs [query, value] or [query, value, key], "
                             f"got {type(inputs).__name__}" + (f" of length {len(inputs)}"
                                                               if isinstance(inputs, (list, tuple)) else ""))
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) == 3 else v
        for name, t in (("query", q), ("value", v), ("key", k)):
            _check_sequence(self, name, t)
        if k.shape[1] != v.shape[1]:
            raise ValueError(f"{_where(self)}: key and value must have the same time length, got shapes "
                             f"{tuple(k.shape)} and {tuple(v.shape)}")
        return q, v, k

    def build(self, input_shape):
        self._check_dims(input_shape)

    def _check_dims(self, input_shape):
        if isinstance(input_shape, list) and len(input_shape) >= 2:
            q, k = input_shape[0], input_shape[2] if len(input_shape) == 3 else input_shape[1]
            if q[-1] != k[-1]:
                raise ValueError(f"{_where(self)}: query and key need the same feature size, got shapes "
                                 f"{tuple(q)} and {tuple(k)}")

    def call(self, inputs, training=None, mask=None, return_attention_scores=False, use_causal_mask=False):
        q, v, k = self._split(inputs)
        if mask is None:
            mask = [get_mask(q), get_mask(v)]
        q_mask, v_mask = (list(mask) + [None, None])[:2]
        scores = self._scores(q, k)
        keep = None
        if v_mask is not None:
            keep = _bool_mask(v_mask)[:, None, :]
        if use_causal_mask:
            causal = ops.causal_mask(q.xp, q.shape[1], k.shape[1])[None]
            keep = causal if keep is None else keep & causal
        if keep is not None:  # Keras: a large negative number on the masked scores
            scores = scores - Tensor(q.xp.asarray(~keep, dtype=scores.dtype) * scores.dtype.type(1e9))
        weights = ops.softmax(scores, axis=-1)
        used = weights
        if training and self.dropout > 0:
            used = weights * _dropout_scale(self.dropout, tuple(weights.shape), weights)
        out = ops.matmul(used, v)
        if q_mask is not None:
            out = out * Tensor(q.xp.asarray(_bool_mask(q_mask)[..., None], dtype=out.dtype))
            attach_mask(out, _bool_mask(q_mask))
        if return_attention_scores:
            return out, weights
        return out

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


@builtin_layer
class Attention(_BaseDenseAttention):
    """Dot-product (Luong) attention on ``[query, value]`` or ``[query, value, key]`` (key defaults to value).

    ``scores = query @ key^T`` (times a learned scalar ``scale`` with ``use_scale=True``), or with
    ``score_mode="concat"``: ``sum(tanh(query_i + key_j))`` times a learned scalar. Then the softmax
    over the keys and the weighted sum of the values. ``mask=[query_mask, value_mask]`` (or the masks
    attached to the inputs by ``Embedding(mask_zero=True)``) hides padded values and zeroes padded
    queries; ``use_causal_mask=True`` hides later steps; ``return_attention_scores=True`` also returns
    the weights ``(batch, Tq, Tv)``.

    Examples:
        >>> import numpy as np
        >>> q = np.array([[[1.0, 0.0]]]); v = np.array([[[10.0, 0.0], [0.0, 10.0]]])
        >>> out, w = Attention()([q, v], return_attention_scores=True)
        >>> [round(x, 4) for x in w.numpy().ravel().tolist()]
        [1.0, 0.0]
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale, self.score_mode = bool(use_scale), score_mode

    def build(self, input_shape):
        super().build(input_shape)
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = None
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), "ones")

    def _scores(self, q, k):
        if self.score_mode == "dot":
            scores = ops.matmul(q, ops.transpose(k, (0, 2, 1)))
            return scores * self.scale if self.scale is not None else scores
        summed = ops.unsqueeze(q, 2) + ops.unsqueeze(k, 1)
        if self.scale is not None:
            summed = summed * self.scale
        return ops.tanh(summed).sum(axis=-1) * self.concat_score_weight

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


@builtin_layer
class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau) attention: ``scores_ij = sum(scale * tanh(query_i + key_j))``, softmax, weighted values.

    As in Keras, the query and key come already projected to the same size (put ``Dense`` layers
    before it for Bahdanau's ``W1 h + W2 s``); ``use_scale=True`` learns the vector ``scale``
    (Bahdanau's ``v``). Same inputs, masks and options as :class:`Attention`.

    Examples:
        >>> import numpy as np
        >>> layer = AdditiveAttention()
        >>> layer([np.ones((2, 3, 4)), np.ones((2, 5, 4))]).shape, layer.scale.shape
        ((2, 3, 4), (4,))
    """

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape):
        super().build(input_shape)
        dim = input_shape[0][-1]
        self.scale = self.add_weight("scale", (dim,), "glorot_uniform") if self.use_scale else None

    def _scores(self, q, k):
        summed = ops.tanh(ops.unsqueeze(q, 2) + ops.unsqueeze(k, 1))
        if self.scale is not None:
            summed = summed * self.scale
        return summed.sum(axis=-1)

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale}


# -------------------------------------------------------- MultiHeadAttention
@builtin_layer
class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al. 2017), Keras 3's ``MultiHeadAttention``.

    ``layer(query, value, key=None, attention_mask=None, use_causal_mask=False,
    return_attention_scores=False, training=None)``: the query ``(B, Tq, dq)`` attends to the
    key ``(B, Tv, dk)`` (the value by default), and mixes the value ``(B, Tv, dv)``. Each of the
    ``num_heads`` heads projects the query and key to ``key_dim`` features and the value to
    ``value_dim`` (``key_dim`` by default), and runs scaled dot-product attention (scores divided by
    ``sqrt(key_dim)``); the heads' outputs are concatenated and projected to ``output_shape``
    features (the query's size by default). ``dropout`` drops attention weights in training.

    Masks: ``attention_mask`` is a boolean ``(B, Tq, Tv)`` array, True where a query may attend to a
    key; masks attached to the query, value and key (``Embedding(mask_zero=True)``) are combined
    with it, as in Keras; ``use_causal_mask=True`` adds the causal mask. A query with every key masked
    gets zero attention weights (Keras would give it uniform ones). The output carries the query's mask.

    Weights (Keras's shapes): ``query_kernel (dq, H, key_dim)``, ``query_bias (H, key_dim)``,
    ``key_kernel (dk, H, key_dim)``, ``key_bias``, ``value_kernel (dv, H, value_dim)``, ``value_bias``,
    ``output_kernel (H, value_dim, out)``, ``output_bias (out,)``.
    ``torch.nn.MultiheadAttention(embed_dim=E, num_heads=H, kdim, vdim, batch_first=True)`` holds the
    same numbers: with ``W.reshape(d, H * dh).T`` written ``flat(W)``, ``in_proj_weight`` is
    ``[flat(query_kernel); flat(key_kernel); flat(value_kernel)]`` (or ``q_proj_weight``... when
    ``kdim``/``vdim`` differ from E), ``in_proj_bias`` is the three biases flattened one after the
    other, ``out_proj.weight`` is ``output_kernel.reshape(H * value_dim, out).T`` and ``out_proj.bias``
    is ``output_bias`` (PyTorch needs ``key_dim = value_dim = E / H`` and ``out = E``). PyTorch's
    boolean ``attn_mask`` and ``key_padding_mask`` are True where attention is *not* allowed: the
    opposite of Keras's and nerve's.

    Examples:
        >>> import numpy as np
        >>> mha = MultiHeadAttention(num_heads=2, key_dim=4)
        >>> x = np.ones((3, 5, 8))
        >>> out, scores = mha(x, x, use_causal_mask=True, return_attention_scores=True)
        >>> out.shape, scores.shape, mha.query_kernel.shape
        ((3, 5, 8), (3, 2, 5, 5), (8, 2, 4))
    """

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(num_heads) <= 0 or int(key_dim) <= 0 or (value_dim is not None and int(value_dim) <= 0):
            raise ValueError(f"MultiHeadAttention: num_heads, key_dim and value_dim must be positive, got "
                             f"{num_heads}, {key_dim} and {value_dim}")
        if not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.dropout, self.use_bias, self.seed = float(dropout), bool(use_bias), seed
        if output_shape is not None and not isinstance(output_shape, int):
            output_shape = tuple(output_shape)
            if len(output_shape) != 1:
                raise ValueError(f"MultiHeadAttention: output_shape must be an int or a 1-tuple, got {output_shape}")
            output_shape = output_shape[0]
        self._output_dim = None if output_shape is None else int(output_shape)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def __call__(self, query, value=None, key=None, attention_mask=None, training=None, **kwargs):
        if isinstance(query, dict):
            inputs = query
        else:
            if value is None:
                raise TypeError(f"{_where(self)}: call it as layer(query, value, key=None, attention_mask=None, ...)")
            inputs = {"query": query, "value": value}
            if key is not None:
                inputs["key"] = key
            if attention_mask is not None:
                inputs["attention_mask"] = attention_mask
        return super().__call__(inputs, training=training, **kwargs)

    def _records_input_spec(self):
        return False

    def build(self, input_shape):
        dq, dv = input_shape["query"][-1], input_shape["value"][-1]
        dk = input_shape["key"][-1] if "key" in input_shape else dv
        h, kd, vd = self.num_heads, self.key_dim, self.value_dim
        out = self._output_dim or dq
        weight = lambda name, shape, init, reg: self.add_weight(name, shape, init, reg)
        self.query_kernel = weight("query_kernel", (dq, h, kd), self.kernel_initializer, self.kernel_regularizer)
        self.key_kernel = weight("key_kernel", (dk, h, kd), self.kernel_initializer, self.kernel_regularizer)
        self.value_kernel = weight("value_kernel", (dv, h, vd), self.kernel_initializer, self.kernel_regularizer)
        self.output_kernel = weight("output_kernel", (h, vd, out), self.kernel_initializer, self.kernel_regularizer)
        self.query_bias = self.key_bias = self.value_bias = self.output_bias = None
        if self.use_bias:
            self.query_bias = weight("query_bias", (h, kd), self.bias_initializer, self.bias_regularizer)
            self.key_bias = weight("key_bias", (h, kd), self.bias_initializer, self.bias_regularizer)
            self.value_bias = weight("value_bias", (h, vd), self.bias_initializer, self.bias_regularizer)
            self.output_bias = weight("output_bias", (out,), self.bias_initializer, self.bias_regularizer)

    def build_for(self, query_shape, value_shape, dtype=None):
        """Build the weights for a query and value of these shapes, outside a call (the Transformer blocks do).

        Examples:
            >>> mha = MultiHeadAttention(2, 3)
            >>> mha.build_for((None, 4, 6), (None, 7, 5)); mha.key_kernel.shape
            (5, 2, 3)
        """
        if self.built:
            return
        if self.dtype is None:
            self.dtype = numpy.dtype(dtype or "float32")
        shapes = {"query": tuple(query_shape), "value": tuple(value_shape)}
        self.build(shapes)
        self.built = True
        self.build_input_shape = {k: (None,) + v[1:] for k, v in shapes.items()}

    def _heads(self, x, kernel, bias, size):
        """(B, T, d) -> (B, H, T, size) through one matrix product."""
        b, t = x.shape[0], x.shape[1]
        flat_bias = None if bias is None else ops.reshape(bias, (self.num_heads * size,))
        y = ops.linear(x, ops.reshape(kernel, (kernel.shape[0], self.num_heads * size)), flat_bias)
        return ops.permute(ops.reshape(y, (b, t, self.num_heads, size)), (0, 2, 1, 3))

    def project_key_value(self, key, value):
        """The heads' keys and values ``(B, H, T, key_dim)`` and ``(B, H, T, value_dim)`` (for caches).

        Examples:
            >>> import numpy as np
            >>> mha = MultiHeadAttention(2, 3); x = np.ones((1, 4, 6)); _ = mha(x, x)
            >>> [t.shape for t in mha.project_key_value(mha._prepare(x), mha._prepare(x))]
            [(1, 2, 4, 3), (1, 2, 4, 3)]
        """
        return (self._heads(key, self.key_kernel, self.key_bias, self.key_dim),
                self._heads(value, self.value_kernel, self.value_bias, self.value_dim))

    def attend(self, query, keys, values, keep=None, training=None, return_attention_scores=False):
        """Attention of ``query (B, Tq, dq)`` to projected ``keys``/``values`` (B, H, Tv, ...), then the output
        projection; ``keep`` is a boolean mask broadcastable to ``(B, H, Tq, Tv)``.

        Examples:
            >>> import numpy as np
            >>> mha = MultiHeadAttention(2, 3); x = mha._prepare(np.ones((1, 4, 6))); _ = mha(x, x)
            >>> mha.attend(x, *mha.project_key_value(x, x)).shape
            (1, 4, 6)
        """
        b, tq = query.shape[0], query.shape[1]
        q = self._heads(query, self.query_kernel, self.query_bias, self.key_dim)
        rate = self.dropout if training else 0.0
        result = ops.scaled_dot_product_attention(q, keys, values, attn_mask=keep, dropout_p=rate,
                                                  return_weights=return_attention_scores)
        out, scores = result if return_attention_scores else (result, None)
        out = ops.reshape(ops.permute(out, (0, 2, 1, 3)), (b, tq, self.num_heads * self.value_dim))
        kernel = ops.reshape(self.output_kernel, (self.num_heads * self.value_dim, self.output_kernel.shape[-1]))
        out = ops.linear(out, kernel, self.output_bias)
        return (out, scores) if return_attention_scores else out

    def call(self, inputs, training=None, use_causal_mask=False, return_attention_scores=False):
        query, value = inputs["query"], inputs["value"]
        key = inputs.get("key", value)
        for name, t in (("query", query), ("value", value), ("key", key)):
            _check_sequence(self, name, t)
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"{_where(self)}: key and value must have the same time length, got shapes "
                             f"{tuple(key.shape)} and {tuple(value.shape)}")
        keep = self.compute_attention_mask(query, value, key if "key" in inputs else None,
                                           inputs.get("attention_mask"), use_causal_mask)
        keys, values = self.project_key_value(key, value)
        keep = None if keep is None else keep[:, None]
        result = self.attend(query, keys, values, keep, training, return_attention_scores)
        q_mask = get_mask(query)
        attach_mask(result[0] if return_attention_scores else result, q_mask)
        return result

    def compute_attention_mask(self, query, value, key=None, attention_mask=None, use_causal_mask=False):
        """The boolean ``(B, Tq, Tv)`` mask (or None): the explicit mask, the query/value/key masks, causality.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> ids = np.array([[4, 2, 0]])
            >>> x = layers.Embedding(5, 4, mask_zero=True)(ids)
            >>> MultiHeadAttention(1, 4).compute_attention_mask(x, x, use_causal_mask=True).astype(int).tolist()
            [[[1, 0, 0], [1, 1, 0], [0, 0, 0]]]
        """
        xp = query.xp
        b, tq, tv = query.shape[0], query.shape[1], value.shape[1]
        keep = None

        def combine(keep, extra):
            return extra if keep is None else keep & extra

        q_mask, v_mask = get_mask(query), get_mask(value)
        k_mask = get_mask(key) if key is not None else None
        if q_mask is not None:
            keep = combine(keep, xp.asarray(q_mask, dtype=bool)[:, :, None])
        if v_mask is not None:
            keep = combine(keep, xp.asarray(v_mask, dtype=bool)[:, None, :])
        if k_mask is not None:
            keep = combine(keep, xp.asarray(k_mask, dtype=bool)[:, None, :])
        if use_causal_mask:
            keep = combine(keep, ops.causal_mask(xp, tq, tv)[None])
        explicit = _check_mask_shape(self, _bool_mask(attention_mask), b, tq, tv)
        if explicit is not None:
            keep = combine(keep, xp.asarray(explicit))
        if keep is not None and keep.ndim == 3 and keep.shape[0] == 1 and b != 1:
            keep = xp.broadcast_to(keep, (b,) + keep.shape[1:])
        return keep

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._output_dim,
                "kernel_initializer": serialize_entry(self.kernel_initializer),
                "bias_initializer": serialize_entry(self.bias_initializer),
                "kernel_regularizer": serialize_entry(self.kernel_regularizer),
                "bias_regularizer": serialize_entry(self.bias_regularizer), "seed": self.seed}


# ------------------------------------------------------------- positions
def _broadcast_like(table, inputs):
    """``table (T, D)`` as a tensor of ``inputs``' shape ``(B, T, D)`` (gradients summed over the batch)."""
    zeros = Tensor(inputs.xp.zeros(tuple(inputs.shape), dtype=table.dtype))
    return zeros + ops.unsqueeze(table, 0)


@builtin_layer
class PositionEmbedding(Layer):
    """Learned position embeddings (keras-hub): returns a trained vector per position, shaped like the input.

    ``layer(inputs, start_index=0)`` with ``inputs (B, T, D)`` returns rows ``start_index ...
    start_index + T - 1`` of the ``(sequence_length, D)`` table, broadcast to ``(B, T, D)``; add
    them to the token embeddings (``layers.Add()`` in a functional model), or use
    :class:`TokenAndPositionEmbedding`.

    Examples:
        >>> import numpy as np
        >>> layer = PositionEmbedding(sequence_length=10)
        >>> layer(np.zeros((2, 4, 3))).shape, layer.position_embeddings.shape
        ((2, 4, 3), (10, 3))
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = int(sequence_length)
        self.initializer = initializers.get(initializer)

    def _fixes_last_axis(self):
        return True

    def build(self, input_shape):
        self.position_embeddings = self.add_weight("embeddings", (self.sequence_length, input_shape[-1]),
                                                   self.initializer)

    def call(self, inputs, start_index=0):
        _check_sequence(self, "inputs", inputs)
        t = inputs.shape[1]
        if start_index + t > self.sequence_length:
            raise ValueError(f"{_where(self)}: positions {start_index}..{start_index + t - 1} go beyond "
                             f"sequence_length={self.sequence_length} (input shape {tuple(inputs.shape)})")
        table = ops.getitem(self.position_embeddings, slice(start_index, start_index + t))
        return _broadcast_like(table, inputs)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "initializer": serialize_entry(self.initializer)}


def sine_position_encoding(xp, length, depth, max_wavelength=10000.0, start_index=0, dtype="float32"):
    """The ``(length, depth)`` table of :class:`SinePositionEncoding` (sines on even features, cosines on odd)."""
    position = xp.arange(start_index, start_index + length, dtype="float64")[:, None]
    features = xp.arange(depth)
    timescales = (1.0 / max_wavelength) ** ((2 * (features // 2)) / depth)
    angles = position * timescales[None, :]
    table = xp.where(features % 2 == 0, xp.sin(angles), xp.cos(angles))
    return table.astype(dtype)


@builtin_layer
class SinePositionEncoding(Layer):
    """Fixed sinusoidal position encodings (Vaswani et al. 2017; keras-hub's layer), shaped like the input.

    Feature ``2i`` of position ``p`` is ``sin(p / max_wavelength^(2i/D))``, feature ``2i+1`` the
    cosine of the same angle: nearby positions get similar vectors, and a fixed offset is a rotation,
    so attention can read relative positions. Nothing is learned; add the result to the embeddings.

    Examples:
        >>> import numpy as np
        >>> enc = SinePositionEncoding()(np.zeros((1, 3, 4)))
        >>> [round(v, 3) for v in enc.numpy()[0, 1].tolist()]
        [0.841, 0.54, 0.01, 1.0]
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = float(max_wavelength)

    def call(self, inputs, start_index=0):
        _check_sequence(self, "inputs", inputs)
        table = sine_position_encoding(inputs.xp, inputs.shape[1], inputs.shape[2], self.max_wavelength,
                                       start_index, inputs.dtype)
        return Tensor(inputs.xp.broadcast_to(table, tuple(inputs.shape)).copy())

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@builtin_layer
class TokenAndPositionEmbedding(Layer):
    """Token ids ``(B, T)`` to token embeddings plus learned position embeddings ``(B, T, embedding_dim)`` (keras-hub).

    ``mask_zero=True`` treats id 0 as padding and attaches the mask for the attention layers after it.
    ``call(ids, start_index=0)``: ``start_index`` is the position of the first id (for generation with a cache).

    Examples:
        >>> import numpy as np
        >>> from nerve.layers import get_mask
        >>> emb = TokenAndPositionEmbedding(vocabulary_size=20, sequence_length=8, embedding_dim=4, mask_zero=True)
        >>> out = emb(np.array([[5, 3, 0]]))
        >>> out.shape, get_mask(out).tolist()
        ((1, 3, 4), [[True, True, False]])
    """

    accepts_integer_input = True

    def __init__(self, vocabulary_size, sequence_length, embedding_dim, embeddings_initializer="uniform",
                 mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.sequence_length = int(vocabulary_size), int(sequence_length)
        self.embedding_dim, self.mask_zero = int(embedding_dim), bool(mask_zero)
        self.embeddings_initializer = embeddings_initializer
        self.token_embedding = Embedding(self.vocabulary_size, self.embedding_dim, embeddings_initializer,
                                         mask_zero=self.mask_zero, name=f"{self.name}_token", dtype=self.dtype)
        self.position_embedding = PositionEmbedding(self.sequence_length, name=f"{self.name}_position",
                                                    dtype=self.dtype)

    def _fixes_last_axis(self):
        return False

    def call(self, inputs, start_index=0):
        tokens = self.token_embedding(inputs)
        out = tokens + self.position_embedding(tokens, start_index=start_index)
        return attach_mask(out, get_mask(tokens))

    def get_config(self):
        init = self.embeddings_initializer
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "embedding_dim": self.embedding_dim,
                "embeddings_initializer": init if isinstance(init, str) else serialize_entry(init),
                "mask_zero": self.mask_zero}


# ------------------------------------------------------- Transformer blocks
class _TransformerBlock(Layer):
    """Shared parts: arguments, the feed-forward network, residual + norm steps, padding masks."""

    def __init__(self, intermediate_dim, num_heads, dropout=0.0, activation="relu", layer_norm_epsilon=1e-5,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", normalize_first=False, **kwargs):
        super().__init__(**kwargs)
        if int(intermediate_dim) <= 0 or int(num_heads) <= 0:
            raise ValueError(f"{type(self).__name__}: intermediate_dim and num_heads must be positive, got "
                             f"{intermediate_dim} and {num_heads}")
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        self.intermediate_dim, self.num_heads = int(intermediate_dim), int(num_heads)
        self.dropout, self.layer_norm_epsilon = float(dropout), float(layer_norm_epsilon)
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.normalize_first = bool(normalize_first)

    def _attention(self, query_shape, value_shape, name):
        hidden = query_shape[-1]
        if hidden % self.num_heads:
            raise ValueError(f"{_where(self)}: the feature size {hidden} must be divisible by num_heads="
                             f"{self.num_heads}")
        layer = MultiHeadAttention(self.num_heads, hidden // self.num_heads, dropout=self.dropout,
                                   kernel_initializer=self.kernel_initializer,
                                   bias_initializer=self.bias_initializer, name=f"{self.name}_{name}",
                                   dtype=self.dtype)
        layer.build_for(query_shape, value_shape, self.dtype)
        return layer

    def _norm(self, name):
        return LayerNormalization(epsilon=self.layer_norm_epsilon, name=f"{self.name}_{name}", dtype=self.dtype)

    def _build_feedforward(self, hidden):
        self.feedforward_intermediate_dense = Dense(self.intermediate_dim, activation=self.activation,
                                                    kernel_initializer=self.kernel_initializer,
                                                    bias_initializer=self.bias_initializer,
                                                    name=f"{self.name}_ffn_intermediate", dtype=self.dtype)
        self.feedforward_output_dense = Dense(hidden, kernel_initializer=self.kernel_initializer,
                                              bias_initializer=self.bias_initializer,
                                              name=f"{self.name}_ffn_output", dtype=self.dtype)
        self.feedforward_layer_norm = self._norm("ffn_norm")
        self.dropout_layer = Dropout(self.dropout, name=f"{self.name}_dropout")

    def _residual(self, x, norm, body, training):
        """``norm(x + dropout(body(x)))`` (post-norm) or ``x + dropout(body(norm(x)))`` (pre-norm)."""
        y = body(norm(x) if self.normalize_first else x)
        y = x + self.dropout_layer(y, training=training)
        return y if self.normalize_first else norm(y)

    def _feedforward(self, x, training):
        def body(h):
            h = self.feedforward_intermediate_dense(h)
            h = self.dropout_layer(h, training=training)
            return self.feedforward_output_dense(h)

        return self._residual(x, self.feedforward_layer_norm, body, training)

    def _padding(self, x, padding_mask, where="padding_mask"):
        mask = padding_mask if padding_mask is not None else get_mask(x)
        if mask is None:
            return None
        mask = x.xp.asarray(_bool_mask(mask))
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise ValueError(f"{_where(self)}: {where} must have shape (batch, time) = {tuple(x.shape[:2])}, "
                             f"got {tuple(mask.shape)}")
        return mask

    def _combine(self, x, padding, attention_mask, lk):
        """The boolean ``(B, 1, Tq, Tk)`` mask from a key padding mask and an explicit attention mask."""
        keep = None if padding is None else padding[:, None, None, :]
        if attention_mask is not None:
            explicit = x.xp.asarray(_check_mask_shape(self, _bool_mask(attention_mask), x.shape[0], x.shape[1], lk))
            explicit = explicit[:, None] if explicit.ndim == 3 else explicit
            keep = explicit if keep is None else keep & explicit
        return keep

    def get_config(self):
        return {**super().get_config(), "intermediate_dim": self.intermediate_dim, "num_heads": self.num_heads,
                "dropout": self.dropout, "activation": serialize_entry(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "kernel_initializer": serialize_entry(self.kernel_initializer),
                "bias_initializer": serialize_entry(self.bias_initializer), "normalize_first": self.normalize_first}


@builtin_layer
class TransformerEncoder(_TransformerBlock):
    """One Transformer encoder block (keras-hub's ``TransformerEncoder``): self-attention, then a feed-forward network.

    ``x = norm(x + dropout(self_attention(x)))``, then ``x = norm(x + dropout(W2 dropout(act(W1 x))))``
    (``normalize_first=True`` normalises before each part instead). The heads have ``key_dim =
    features / num_heads``. ``call(inputs, padding_mask=None, attention_mask=None, training=None)``:
    the ``(B, T)`` padding mask (True on real tokens) defaults to the mask attached to the inputs by
    ``Embedding(mask_zero=True)``/:class:`TokenAndPositionEmbedding`, and is passed on to the output.

    Examples:
        >>> import numpy as np
        >>> block = TransformerEncoder(intermediate_dim=32, num_heads=4, normalize_first=True)
        >>> block(np.ones((2, 6, 16))).shape
        (2, 6, 16)
    """

    def build(self, input_shape):
        hidden = input_shape[-1]
        self.self_attention = self._attention(input_shape, input_shape, "self_attention")
        self.self_attention_layer_norm = self._norm("self_attention_norm")
        self._build_feedforward(hidden)

    def call(self, inputs, training=None, padding_mask=None, attention_mask=None):
        _check_sequence(self, "inputs", inputs)
        padding = self._padding(inputs, padding_mask)
        keep = self._combine(inputs, padding, attention_mask, inputs.shape[1])

        def attend(h):
            keys, values = self.self_attention.project_key_value(h, h)
            return self.self_attention.attend(h, keys, values, keep, training)

        x = self._residual(inputs, self.self_attention_layer_norm, attend, training)
        x = self._feedforward(x, training)
        return attach_mask(x, padding)


@builtin_layer
class TransformerDecoder(_TransformerBlock):
    """One Transformer decoder block (keras-hub's ``TransformerDecoder``): causal self-attention, cross-attention
    to the encoder's output (when one is given), a feed-forward network.

    ``call(decoder_sequence, encoder_sequence=None, decoder_padding_mask=None,
    decoder_attention_mask=None, encoder_padding_mask=None, encoder_attention_mask=None,
    self_attention_cache=None, use_causal_mask=True, return_cache=False, training=None)``. Without an
    encoder sequence (the first call decides) it has no cross-attention: a GPT block. Padding masks
    default to the masks attached to the sequences.

    Generation with a cache (a nerve variant of keras-hub's): pass ``return_cache=True`` and
    ``self_attention_cache``, the ``(keys, values)`` pair this block returned for the earlier tokens
    (None at the first step); the call then returns ``(outputs, cache)``, the cache grown by the new
    tokens' keys and values, so each new token costs one step instead of a pass over the whole prefix.

    Examples:
        >>> import numpy as np
        >>> block = TransformerDecoder(intermediate_dim=32, num_heads=2)
        >>> block(np.ones((2, 4, 8)), np.ones((2, 6, 8))).shape
        (2, 4, 8)
    """

    def __call__(self, decoder_sequence, encoder_sequence=None, training=None, **kwargs):
        if isinstance(decoder_sequence, (list, tuple)):
            inputs = list(decoder_sequence)
        else:
            inputs = [decoder_sequence] + ([encoder_sequence] if encoder_sequence is not None else [])
        if len(inputs) == 1:
            inputs = inputs[0]
        return super().__call__(inputs, training=training, **kwargs)

    def _records_input_spec(self):
        return False

    def build(self, input_shape):
        decoder_shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        hidden = decoder_shape[-1]
        self.self_attention = self._attention(decoder_shape, decoder_shape, "self_attention")
        self.self_attention_layer_norm = self._norm("self_attention_norm")
        self.cross_attention = self.cross_attention_layer_norm = None
        if isinstance(input_shape, list):
            self.cross_attention = self._attention(decoder_shape, input_shape[1], "cross_attention")
            self.cross_attention_layer_norm = self._norm("cross_attention_norm")
        self._build_feedforward(hidden)

    def call(self, inputs, training=None, decoder_padding_mask=None, decoder_attention_mask=None,
             encoder_padding_mask=None, encoder_attention_mask=None, self_attention_cache=None,
             use_causal_mask=True, return_cache=False):
        x, encoder = (inputs[0], inputs[1]) if isinstance(inputs, list) else (inputs, None)
        _check_sequence(self, "decoder_sequence", x)
        if (encoder is None) != (self.cross_attention is None):
            raise ValueError(f"{_where(self)} was built " + ("with" if self.cross_attention is not None else "without")
                             + " an encoder_sequence and must be called the same way")
        caching = self_attention_cache is not None or return_cache
        past = 0 if self_attention_cache is None else self_attention_cache[0].shape[2]
        padding = self._padding(x, decoder_padding_mask, "decoder_padding_mask")
        tq = x.shape[1]
        keep = None
        if padding is not None and not caching:
            keep = padding[:, None, None, :]
        if use_causal_mask and tq > 1:
            causal = ops.causal_mask(x.xp, tq, past + tq, offset=past)[None, None]
            keep = causal if keep is None else keep & causal
        if decoder_attention_mask is not None:
            keep = self._combine(x, None, decoder_attention_mask, past + tq) if keep is None else \
                keep & self._combine(x, None, decoder_attention_mask, past + tq)
        cache = []

        def self_attend(h):
            keys, values = self.self_attention.project_key_value(h, h)
            if self_attention_cache is not None:
                keys = ops.concatenate([self_attention_cache[0], keys], axis=2)
                values = ops.concatenate([self_attention_cache[1], values], axis=2)
            cache.append((keys, values))
            return self.self_attention.attend(h, keys, values, keep, training)

        x = self._residual(x, self.self_attention_layer_norm, self_attend, training)
        if encoder is not None:
            _check_sequence(self, "encoder_sequence", encoder)
            enc_padding = self._padding(encoder, encoder_padding_mask, "encoder_padding_mask")
            cross_keep = self._combine(x, enc_padding, encoder_attention_mask, encoder.shape[1])

            def cross_attend(h):
                keys, values = self.cross_attention.project_key_value(encoder, encoder)
                return self.cross_attention.attend(h, keys, values, cross_keep, training)

            x = self._residual(x, self.cross_attention_layer_norm, cross_attend, training)
        x = self._feedforward(x, training)
        attach_mask(x, padding)
        if caching:
            return x, cache[0]
        return x

