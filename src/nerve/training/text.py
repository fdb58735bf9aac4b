"""Text generation: samplers (greedy, temperature, top-k, top-p) and ``generate`` with cached keys and values.

A language model gives, for each position, scores (logits) of the next token. Generation appends
one token at a time: a *sampler* turns the last position's logits into the next id (keras-hub's
names: :class:`GreedySampler`, :class:`RandomSampler`, :class:`TopKSampler`, :class:`TopPSampler`;
``temperature`` divides the logits first: below 1 sharper, above 1 flatter).

:func:`generate` runs a model on the prompt, then adds tokens. For a GPT-shaped ``Sequential``
(``TokenAndPositionEmbedding``, ``TransformerDecoder`` blocks without cross-attention, then
position-wise layers such as ``LayerNormalization`` and ``Dense``) it keeps each block's keys and
values, so each new token costs one step through the stack instead of a pass over the whole text;
any other model is re-run on the whole sequence at each step (same result, more work). Random
draws come from nerve's generator (``nerve.random.seed``).

Examples:
    >>> import numpy as np
    >>> logits = np.log(np.array([[0.1, 0.6, 0.3]]))
    >>> GreedySampler()(logits).tolist(), TopKSampler(k=1)(logits).tolist()
    ([1], [1])
"""

from __future__ import annotations

import numpy

from nerve.blocks import layers as _layers
from nerve.engine import random
from nerve.engine.backend import to_numpy
from nerve.engine.tensor import Tensor, no_grad

__all__ = ["GreedySampler", "RandomSampler", "Sampler", "TopKSampler", "TopPSampler", "generate", "get_sampler"]


def _logits_array(logits):
    data = to_numpy(logits.data if isinstance(logits, Tensor) else logits)  # device logits: copied explicitly
    if data.ndim != 2:
        raise ValueError(f"sampler: expected logits of shape (batch, vocabulary), got shape {data.shape}")
    return data.astype("float64")


def _probabilities(logits, temperature):
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = numpy.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _draw(p):
    """One index per row of the probability matrix ``p``, by inverse CDF with nerve's generator."""
    cumulative = numpy.cumsum(p, axis=-1)
    u = random.generator().random((p.shape[0], 1)) * cumulative[:, -1:]
    return numpy.minimum((cumulative < u).sum(axis=-1), p.shape[1] - 1).astype("int64")


def _top_k_mask(z, k):
    """Logits outside each row's ``k`` largest set to ``-inf``."""
    k = min(k, z.shape[1])
    kth = numpy.partition(z, -k, axis=-1)[:, -k][:, None]
    return numpy.where(z >= kth, z, -numpy.inf)


class Sampler:
    """Base class: ``sampler(logits)`` maps ``(batch, vocabulary)`` logits to ``(batch,)`` next ids.

    Examples:
        >>> import numpy as np
        >>> class Last(Sampler):
        ...     def __call__(self, logits):
        ...         return np.full(len(logits), np.asarray(logits).shape[1] - 1)
        >>> Last()(np.zeros((2, 5))).tolist()
        [4, 4]
    """

    def __init__(self, temperature=1.0):
        if not temperature > 0:
            raise ValueError(f"{type(self).__name__}: temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def __call__(self, logits):  # pragma: no cover - abstract
        raise NotImplementedError


class GreedySampler(Sampler):
    """The most likely next token (``argmax``); deterministic.

    Examples:
        >>> GreedySampler()([[0.0, 2.0, 1.0]]).tolist()
        [1]
    """

    def __call__(self, logits):
        return _logits_array(logits).argmax(axis=-1).astype("int64")


class RandomSampler(Sampler):
    """A draw from ``softmax(logits / temperature)``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> RandomSampler(temperature=0.01)([[0.0, 5.0, 1.0]]).tolist()
        [1]
    """

    def __call__(self, logits):
        return _draw(_probabilities(_logits_array(logits), self.temperature))


class TopKSampler(Sampler):
    """A draw among the ``k`` most likely tokens (their probabilities renormalised).

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> ids = TopKSampler(k=2)([[0.0, 3.0, 3.0, -1.0]] * 20)
        >>> sorted(set(ids.tolist()))
        [1, 2]
    """

    def __init__(self, k=5, temperature=1.0):
        super().__init__(temperature)
        if int(k) < 1:
            raise ValueError(f"TopKSampler: k must be >= 1, got {k}")
        self.k = int(k)

    def __call__(self, logits):
        return _draw(_probabilities(_top_k_mask(_logits_array(logits), self.k), self.temperature))


class TopPSampler(Sampler):
    """Nucleus sampling: a draw among the most likely tokens whose probabilities add up to ``p``.

    The smallest set of top tokens with total probability >= ``p`` is kept (at least one token);
    ``k`` optionally caps its size first.

    Examples:
        >>> import nerve, numpy as np
        >>> nerve.random.seed(0)
        >>> ids = TopPSampler(p=0.7)(np.log([[0.5, 0.3, 0.2]] * 50))
        >>> sorted(set(ids.tolist()))
        [0, 1]
    """

    def __init__(self, p=0.9, k=None, temperature=1.0):
        super().__init__(temperature)
        if not 0 < p <= 1:
            raise ValueError(f"TopPSampler: p must be in (0, 1], got {p}")
        self.p, self.k = float(p), None if k is None else int(k)

    def __call__(self, logits):
        z = _logits_array(logits)
        if self.k is not None:
            z = _top_k_mask(z, self.k)
        probs = _probabilities(z, self.temperature)
        order = numpy.argsort(-probs, axis=-1, kind="stable")
        sorted_p = numpy.take_along_axis(probs, order, axis=-1)
        before = numpy.cumsum(sorted_p, axis=-1) - sorted_p  # probability of the tokens ranked above
        keep_sorted = before < self.p
        keep = numpy.zeros_like(keep_sorted)
        numpy.put_along_axis(keep, order, keep_sorted, axis=-1)
        return _draw(numpy.where(keep, probs, 0.0))


_SAMPLERS = {"greedy": GreedySampler, "random": RandomSampler, "top_k": TopKSampler, "top_p": TopPSampler}


def get_sampler(identifier):
    """A sampler from a name (``"greedy"``, ``"random"``, ``"top_k"``, ``"top_p"``) or a sampler/callable.

    Examples:
        >>> type(get_sampler("top_p")).__name__
        'TopPSampler'
    """
    if isinstance(identifier, str):
        if identifier not in _SAMPLERS:
            raise ValueError(f"unknown sampler {identifier!r}; expected one of {sorted(_SAMPLERS)}")
        return _SAMPLERS[identifier]()
    if callable(identifier):
        return identifier
    raise TypeError(f"a sampler must be a name or a callable, got {type(identifier).__name__}")


# ---------------------------------------------------------------- generate
_POSITION_WISE = (_layers.LayerNormalization, _layers.RMSNormalization, _layers.Dense, _layers.Dropout,
                  _layers.Activation)


def _cached_plan(model):
    """(embedding, decoder blocks, the rest) when ``model`` is a GPT-shaped stack that can use a cache, else None."""
    stack = list(getattr(model, "layers", []))
    if not stack or not isinstance(stack[0], _layers.TokenAndPositionEmbedding):
        return None
    blocks = []
    rest = stack[1:]
    while rest and isinstance(rest[0], _layers.TransformerDecoder):
        blocks.append(rest.pop(0))
    if not blocks or any(b.built and b.cross_attention is not None for b in blocks):
        return None
    if not all(isinstance(layer, _POSITION_WISE) for layer in rest):
        return None
    return stack[0], blocks, rest


def _last_logits(out, from_logits):
    data = out.data if isinstance(out, Tensor) else out
    last = to_numpy(data[:, -1]).astype("float64")  # only the last position comes to the host (from a device)
    return last if from_logits else numpy.log(numpy.maximum(last, 1e-30))


def generate(model, prompt, max_new_tokens, sampler="greedy", from_logits=True, end_token_id=None, use_cache=True):
    """Extend each prompt by up to ``max_new_tokens`` ids chosen by ``sampler``; returns the ``(batch, length)`` ids.

    Args:
        model: maps ids ``(batch, time)`` to next-token scores ``(batch, time, vocabulary)``.
        prompt: ids ``(batch, time)`` (or one sequence ``(time,)``).
        sampler: a name (``"greedy"``, ``"random"``, ``"top_k"``, ``"top_p"``) or a :class:`Sampler`.
        from_logits: the model returns logits (True) or probabilities (False, e.g. a final softmax).
        end_token_id: a row stops growing after this id (later positions repeat it).
        use_cache: keep keys and values for GPT-shaped ``Sequential`` models (see the module doc);
            beyond the position table's ``sequence_length`` only the last ``sequence_length`` ids are read
            (with or without the cache).

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> nerve.random.seed(0)
        >>> gpt = nerve.Sequential([layers.TokenAndPositionEmbedding(10, 8, 8),
        ...                         layers.TransformerDecoder(16, 2), layers.Dense(10)])
        >>> fast = generate(gpt, np.array([[1, 2]]), 4)
        >>> slow = generate(gpt, np.array([[1, 2]]), 4, use_cache=False)
        >>> fast.shape, bool((fast == slow).all())
        ((1, 6), True)
    """
    sampler = get_sampler(sampler)
    ids = to_numpy(prompt.data if isinstance(prompt, Tensor) else prompt).astype("int64")
    single = ids.ndim == 1
    ids = ids[None] if single else ids
    if ids.ndim != 2 or ids.shape[1] == 0:
        raise ValueError(f"generate: prompt must be ids of shape (batch, time) with time >= 1, got {ids.shape}")
    plan = _cached_plan(model) if use_cache else None
    window = _context_length(model)
    finished = numpy.zeros(len(ids), dtype=bool)
    with no_grad():
        if plan is not None:
            embedding, blocks, rest = plan
            limit = embedding.sequence_length
            caches, logits = _cached_start(ids[:, -limit:], embedding, blocks, rest, from_logits)
        else:
            logits = _last_logits(model(ids[:, -window:] if window else ids, training=False), from_logits)
        for _ in range(int(max_new_tokens)):
            nxt = numpy.asarray(sampler(logits), dtype="int64")
            if end_token_id is not None:
                nxt = numpy.where(finished, end_token_id, nxt)
                finished |= nxt == end_token_id
            ids = numpy.concatenate([ids, nxt[:, None]], axis=1)
            if end_token_id is not None and finished.all():
                break
            if plan is None:
                logits = _last_logits(model(ids[:, -window:] if window else ids, training=False), from_logits)
            elif ids.shape[1] <= limit:
                x = embedding(nxt[:, None], start_index=ids.shape[1] - 1)
                for i, block in enumerate(blocks):
                    x, caches[i] = block(x, self_attention_cache=caches[i], return_cache=True)
                for layer in rest:
                    x = layer(x, training=False)
                logits = _last_logits(x, from_logits)
            else:  # past the position table: slide the window and start again
                caches, logits = _cached_start(ids[:, -limit:], embedding, blocks, rest, from_logits)
    return ids[0] if single else ids


def _context_length(model):
    """The ``sequence_length`` of the model's first position table, or None."""
    for layer in getattr(model, "layers", []):
        if isinstance(layer, (_layers.TokenAndPositionEmbedding, _layers.PositionEmbedding)):
            return layer.sequence_length
    return None


def _cached_start(ids, embedding, blocks, rest, from_logits):
    x = embedding(ids)
    caches = []
    for block in blocks:
        x, cache = block(x, return_cache=True)
        caches.append(cache)
    for layer in rest:
        x = layer(x, training=False)
    return caches, _last_logits(x, from_logits)
