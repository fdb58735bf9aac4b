"""Attention and normalisation ops: scaled dot-product attention and layer (or RMS) normalisation.

Each is one :class:`~nerve.tensor.Function` with its forward and backward side by side, so that a
Transformer block records a handful of graph nodes instead of dozens.

* :class:`ScaledDotProductAttention`: ``softmax(q k^T * scale + masks) v`` over the last two axes,
  with boolean padding masks, a causal mask, an additive float bias and dropout on the weights
  (drawn from nerve's seeded generator). The softmax is the stable one (the row maximum is
  subtracted); a query whose keys are all masked gets zero weights and a zero output (PyTorch's
  ``scaled_dot_product_attention`` behaves the same since 2.5), never NaN.
* :class:`LayerNorm`: normalisation over the trailing axes with an optional scale ``gamma`` and
  shift ``beta``; with ``rms=True`` it is RMS normalisation (no centring, ``x / sqrt(mean(x^2) + eps)``).

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> q = nerve.tensor(np.ones((1, 2, 4)))
    >>> ops.scaled_dot_product_attention(q, q, q, is_causal=True).shape
    (1, 2, 4)
"""

from __future__ import annotations

import math

import numpy

from nerve.engine import random
from nerve.engine.ops.core import _as_tensor, sum_to
from nerve.engine.tensor import Function, Tensor

__all__ = [
    "LayerNorm",
    "ScaledDotProductAttention",
    "causal_mask",
    "layer_norm",
    "rms_norm",
    "scaled_dot_product_attention",
]


def causal_mask(xp, query_length, key_length, offset=0):
    """Boolean ``(query_length, key_length)`` mask, True where query ``i`` may see key ``j``: ``j <= i + offset``.

    ``offset=0`` is PyTorch's ``is_causal`` and Keras's ``use_causal_mask`` (aligned at the top left);
    a decoder that has cached ``offset`` earlier keys passes that number.

    Examples:
        >>> import numpy as np
        >>> causal_mask(np, 2, 3).astype(int).tolist()
        [[1, 0, 0], [1, 1, 0]]
    """
    rows = xp.arange(query_length)[:, None] + offset
    return xp.arange(key_length)[None, :] <= rows


class ScaledDotProductAttention(Function):
    """``out = dropout(softmax(q @ k^T * scale + bias, masked)) @ v`` over the last two axes.

    Inputs: ``q (..., Lq, D)``, ``k (..., Lk, D)``, ``v (..., Lk, Dv)`` (leading axes broadcast).
    Parameters: ``keep`` (boolean array broadcastable to ``(..., Lq, Lk)``, True = attend, or None),
    ``bias`` (float array added to the scores, or None), ``scale`` (a float), ``drop`` (the dropout
    multipliers, 0 or ``1/(1-p)``, of the weights' shape, or None).
    Saves the softmax weights (``self.weights``) for the backward pass and for layers that return them.
    """

    def forward(self, q, k, v):
        xp = self.xp
        self.q, self.k, self.v = q, k, v
        scores = q @ xp.swapaxes(k, -1, -2)
        scores *= q.dtype.type(self.scale)
        if self.bias is not None:
            scores = scores + self.bias
        if self.keep is not None:
            scores = xp.where(self.keep, scores, -numpy.inf)
        top = scores.max(axis=-1, keepdims=True)
        top = xp.where(xp.isfinite(top), top, 0)  # a row with every key masked: exp(-inf) = 0 everywhere
        scores -= top  # scores is this op's own array: exp in place, no temporaries of (..., Lq, Lk)
        weights = xp.exp(scores, out=scores)
        total = weights.sum(axis=-1, keepdims=True)
        weights /= xp.where(total > 0, total, 1)
        self.weights = weights
        self.used = weights if self.drop is None else weights * self.drop
        return self.used @ v

    def backward(self, grad):
        xp = self.xp
        q, k, v, w = self.q, self.k, self.v, self.weights
        gq = gk = gv = None
        if self.needs_grad[2]:
            gv = sum_to(xp, xp.swapaxes(self.used, -1, -2) @ grad, v.shape)
        if self.needs_grad[0] or self.needs_grad[1]:
            gw = grad @ xp.swapaxes(v, -1, -2)
            if self.drop is not None:
                gw *= self.drop
            rows = xp.multiply(gw, w).sum(axis=-1, keepdims=True)
            gw -= rows  # gw is this op's own array: the softmax's backward in place
            gw *= w
            gw *= q.dtype.type(self.scale)
            gs = gw
            if self.needs_grad[0]:
                gq = sum_to(xp, gs @ k, q.shape)
            if self.needs_grad[1]:
                gk = sum_to(xp, xp.swapaxes(gs, -1, -2) @ q, k.shape)
        return gq, gk, gv


def _mask_array(xp, mask, name):
    data = mask.data if isinstance(mask, Tensor) else mask
    return xp.asarray(data)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 return_weights=False):
    """Scaled dot-product attention, PyTorch's ``F.scaled_dot_product_attention`` (same argument names).

    Args:
        query: ``(..., Lq, D)``; key: ``(..., Lk, D)``; value: ``(..., Lk, Dv)``.
        attn_mask: a boolean array broadcastable to ``(..., Lq, Lk)`` (True: the query may attend to
            that key) or a float array added to the scores (``-inf`` hides a key); None: no mask.
        dropout_p: probability of dropping each attention weight (the rest are scaled by
            ``1/(1-p)``); the draw comes from nerve's generator (``nerve.random.seed``). Give 0 at inference.
        is_causal: query ``i`` sees keys ``0..i`` only (combined with ``attn_mask``).
        scale: factor of the scores, ``1/sqrt(D)`` by default.
        return_weights: also return the softmax weights (before dropout) as an array-backed tensor
            without gradient.

    Examples:
        >>> import numpy as np, nerve
        >>> q = nerve.tensor(np.zeros((1, 2, 2)))
        >>> v = nerve.tensor(np.array([[[1.0, 0.0], [0.0, 1.0]]]))
        >>> scaled_dot_product_attention(q, q, v, is_causal=True).tolist()
        [[[1.0, 0.0], [0.5, 0.5]]]
    """
    query, key, value = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    for name, t in (("query", query), ("key", key), ("value", value)):
        if t.ndim < 2:
            raise ValueError(f"scaled_dot_product_attention: {name} must have shape (..., length, features), "
                             f"got shape {tuple(t.shape)}")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError("scaled_dot_product_attention: expected query (..., Lq, D), key (..., Lk, D) and value "
                         f"(..., Lk, Dv), got shapes {tuple(query.shape)}, {tuple(key.shape)} and {tuple(value.shape)}")
    if not 0 <= dropout_p < 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    xp = query.xp
    lq, lk = query.shape[-2], key.shape[-2]
    keep = bias = None
    if attn_mask is not None:
        mask = _mask_array(xp, attn_mask, "attn_mask")
        try:
            numpy.broadcast_shapes(mask.shape, tuple(query.shape[:-2]) + (lq, lk))
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention: attn_mask of shape {tuple(mask.shape)} does not "
                             f"broadcast to the scores' shape {tuple(query.shape[:-2]) + (lq, lk)}") from None
        if mask.dtype.kind == "b":
            keep = mask
        else:
            bias = mask.astype(query.dtype)
    if is_causal:
        causal = causal_mask(xp, lq, lk)
        keep = causal if keep is None else keep & causal
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    drop = None
    if dropout_p > 0:
        shape = numpy.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2])) + (lq, lk)
        kept = random.generator().random(shape) >= dropout_p
        drop = xp.asarray(kept, dtype=query.dtype) * query.dtype.type(1.0 / (1.0 - dropout_p))
    out = ScaledDotProductAttention.apply(query, key, value, keep=keep, bias=bias, scale=float(scale), drop=drop)
    if return_weights:
        fn = out.op
        if fn is None:  # no gradient recorded: recompute the weights without the graph
            fn = ScaledDotProductAttention(keep=keep, bias=bias, scale=float(scale), drop=None, xp=xp)
            fn.forward(query.data, key.data, value.data)
        return out, Tensor(fn.weights)
    return out


class LayerNorm(Function):
    """Normalise over the last ``n_axes`` axes, then scale by ``gamma`` and shift by ``beta`` (each optional).

    Inputs: ``x`` then ``gamma`` when ``has_gamma`` and ``beta`` when ``has_beta`` (shapes that broadcast
    against ``x``). Parameters: ``n_axes``, ``epsilon``, ``rms`` (RMS normalisation: no mean subtracted,
    no ``beta`` usually).
    """

    def forward(self, x, *params):
        xp = self.xp
        axes = tuple(range(x.ndim - self.n_axes, x.ndim))
        centred = x if self.rms else x - x.mean(axis=axes, keepdims=True)
        squares = centred * centred
        var = squares.mean(axis=axes, keepdims=True)
        self.inv = 1.0 / xp.sqrt(var + x.dtype.type(self.epsilon))
        if self.rms:
            self.x_hat = xp.multiply(x, self.inv, out=squares)  # reuse the temporary
        else:
            centred *= self.inv  # a fresh array: normalise in place
            self.x_hat = centred
        self.axes = axes
        params = list(params)
        self.gamma = params.pop(0) if self.has_gamma else None
        if self.gamma is None and not self.has_beta:
            return self.x_hat
        out = self.x_hat * self.gamma if self.gamma is not None else self.x_hat.copy()
        if self.has_beta:
            out += params.pop(0)
        return out

    def backward(self, grad):
        xp = self.xp
        x_hat, axes = self.x_hat, self.axes
        grads = [None]
        if self.needs_grad[0]:
            g = grad if self.gamma is None else grad * self.gamma
            projection = (g * x_hat).mean(axis=axes, keepdims=True)
            if self.rms:
                gx = self.inv * (g - x_hat * projection)
            else:
                gx = self.inv * (g - g.mean(axis=axes, keepdims=True) - x_hat * projection)
            grads[0] = gx
        if self.has_gamma:
            grads.append(sum_to(xp, grad * x_hat, self.gamma.shape) if self.needs_grad[1] else None)
        if self.has_beta:
            grads.append(sum_to(xp, grad, self.inputs[-1].shape) if self.needs_grad[-1] else None)
        return tuple(grads)


def _check_norm(name, x, n_axes, param, what):
    if param is None:
        return None
    param = _as_tensor(param, like=x)
    trailing = tuple(x.shape[x.ndim - n_axes:])
    try:
        shape = numpy.broadcast_shapes(param.shape, trailing)
    except ValueError:
        shape = None
    if shape != trailing or param.ndim > n_axes:
        raise ValueError(f"{name}: {what} of shape {tuple(param.shape)} does not match the normalised axes "
                         f"{trailing} of input shape {tuple(x.shape)}")
    return param


def layer_norm(x, gamma=None, beta=None, epsilon=1e-5, n_axes=1):
    """Layer normalisation over the last ``n_axes`` axes: ``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    The variance is the biased one (divided by the count), as in PyTorch and Keras. ``gamma`` and
    ``beta`` have the shape of the normalised axes (or broadcast to it); either may be None.

    Examples:
        >>> import nerve
        >>> y = layer_norm(nerve.tensor([[1.0, 3.0]]))
        >>> [round(v, 3) for v in y.tolist()[0]]
        [-1.0, 1.0]
    """
    x = _as_tensor(x)
    if not 1 <= n_axes <= x.ndim:
        raise ValueError(f"layer_norm: n_axes must be between 1 and the input's rank {x.ndim}, got {n_axes}")
    gamma = _check_norm("layer_norm", x, n_axes, gamma, "gamma")
    beta = _check_norm("layer_norm", x, n_axes, beta, "beta")
    inputs = [x] + [p for p in (gamma, beta) if p is not None]
    return LayerNorm.apply(*inputs, n_axes=n_axes, epsilon=float(epsilon), rms=False, has_gamma=gamma is not None,
                           has_beta=beta is not None)


def rms_norm(x, gamma=None, epsilon=1e-6, n_axes=1):
    """RMS normalisation over the last ``n_axes`` axes: ``x / sqrt(mean(x**2) + epsilon) * gamma`` (as ``RMSNorm``).

    Examples:
        >>> import nerve
        >>> [round(v, 3) for v in rms_norm(nerve.tensor([[3.0, -3.0]])).tolist()[0]]
        [1.0, -1.0]
    """
    x = _as_tensor(x)
    if not 1 <= n_axes <= x.ndim:
        raise ValueError(f"rms_norm: n_axes must be between 1 and the input's rank {x.ndim}, got {n_axes}")
    gamma = _check_norm("rms_norm", x, n_axes, gamma, "gamma")
    inputs = [x] + ([gamma] if gamma is not None else [])
    return LayerNorm.apply(*inputs, n_axes=n_axes, epsilon=float(epsilon), rms=True, has_gamma=gamma is not None,
                           has_beta=False)
