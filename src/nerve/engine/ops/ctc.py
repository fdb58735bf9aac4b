"""Connectionist temporal classification (Graves et al., 2006): the loss of reading a label sequence out of frames.

A network emits, at each of ``T`` frames, a distribution over the classes plus a *blank*. An alignment is
one class or blank per frame; collapsing it (merge repeats, then drop blanks: ``aa-ab-`` -> ``aab``)
gives a label sequence. The CTC loss is ``-log`` of the total probability of all alignments that
collapse to the target, computed by the forward-backward recursion over the target with blanks
interleaved (``- l1 - l2 - ... - lS -``, ``2S + 1`` states): a state is reached from itself, from the
state before, or from two before when it skips a blank between two different labels.

The recursion runs in log space over the frames (a recurrence, one vectorised step per frame, over all
examples and states at once), and its gradient with respect to the logits is the closed form
``softmax(logits) - posterior(class)``, the posterior summing ``alpha * beta`` over the states of each class.

Examples:
    >>> import numpy as np, nerve
    >>> logits = nerve.tensor(np.zeros((1, 2, 2)))          # 2 frames, blank + one class, all uniform
    >>> round(float(ctc_loss([[1]], logits).item()), 4)      # alignments 1-, -1, 11: 3 of 4, -log(3/4)
    0.2877
"""

from __future__ import annotations

import numpy

from nerve.engine.backend import to_numpy
from nerve.engine.ops.core import _as_tensor
from nerve.engine.tensor import Function, Tensor

__all__ = ["ctc_loss", "ctc_decode"]


def _logsumexp(xp, *terms):
    stacked = xp.stack(terms)
    top = xp.max(stacked, axis=0)
    safe = xp.where(xp.isfinite(top), top, 0.0)
    with numpy.errstate(divide="ignore"):
        return xp.log(xp.sum(xp.exp(stacked - safe), axis=0)) + safe


def _host(value):
    """Labels or lengths as a host array: a tensor's data, copied explicitly from a device (CuPy) when it is there.

    They are small integer arrays, checked and laid out on the host, then copied to the logits' device once.
    """
    return to_numpy(value.data if isinstance(value, Tensor) else value)


class CTCLoss(Function):
    def forward(self, logits):
        xp = self.xp
        batch, frames, classes = logits.shape
        ext, ext_len, out_len = self.extended, self.extended_length, self.output_length
        states = ext.shape[1]
        shifted = logits - xp.max(logits, axis=-1, keepdims=True)
        log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
        self.log_probs = log_probs
        # log-probability of each state's symbol at each frame: (batch, frames, states)
        emit = xp.take_along_axis(log_probs, xp.broadcast_to(ext[:, None, :], (batch, frames, states)), axis=2)
        state = xp.arange(states)[None, :]
        valid = state < ext_len[:, None]
        # a state may skip the blank before it when it is a label different from the label two states back
        skip = xp.zeros((batch, states), dtype=bool)
        skip[:, 2:] = (ext[:, 2:] != self.blank) & (ext[:, 2:] != ext[:, :-2])
        self.skip, self.valid, self.emit = skip, valid, emit
        neg = -xp.inf
        alpha = xp.full((batch, frames, states), neg, dtype=logits.dtype)
        alpha[:, 0, :2] = emit[:, 0, :2]
        alpha[:, 0] = xp.where(valid, alpha[:, 0], neg)
        for t in range(1, frames):
            prev = alpha[:, t - 1]
            one = xp.concatenate([xp.full((batch, 1), neg, dtype=prev.dtype), prev[:, :-1]], axis=1)
            two = xp.concatenate([xp.full((batch, 2), neg, dtype=prev.dtype), prev[:, :-2]], axis=1)
            two = xp.where(skip, two, neg)
            alpha[:, t] = xp.where(valid, _logsumexp(xp, prev, one, two) + emit[:, t], neg)
        self.alpha = alpha
        rows = xp.arange(batch)
        last = alpha[rows, out_len - 1]  # (batch, states) at each example's last frame
        ends = xp.stack([last[rows, ext_len - 1], last[rows, xp.maximum(ext_len - 2, 0)]])
        ends[1] = xp.where(ext_len > 1, ends[1], neg)
        self.log_likelihood = _logsumexp(xp, ends[0], ends[1])
        return -self.log_likelihood

    def backward(self, grad):
        xp = self.xp
        log_probs, alpha, emit, skip, valid = self.log_probs, self.alpha, self.emit, self.skip, self.valid
        batch, frames, classes = log_probs.shape
        states = alpha.shape[2]
        ext_len, out_len = self.extended_length, self.output_length
        neg = -xp.inf
        state = xp.arange(states)[None, :]
        final = valid & (state >= ext_len[:, None] - 2)  # the last label or the last blank
        beta = xp.full_like(alpha, neg)
        skip_next = xp.zeros_like(skip)
        skip_next[:, :-2] = skip[:, 2:]  # state s may jump to s + 2
        following = xp.full((batch, states), neg, dtype=alpha.dtype)
        for t in range(frames - 1, -1, -1):
            one = xp.concatenate([following[:, 1:], xp.full((batch, 1), neg, dtype=alpha.dtype)], axis=1)
            two = xp.concatenate([following[:, 2:], xp.full((batch, 2), neg, dtype=alpha.dtype)], axis=1)
            two = xp.where(skip_next, two, neg)
            step = _logsumexp(xp, following, one, two) + emit[:, t]
            start = xp.where(final, emit[:, t], neg)
            is_last = (t == out_len - 1)[:, None]
            after = (t > out_len - 1)[:, None]
            following = xp.where(after, neg, xp.where(is_last, start, xp.where(valid, step, neg)))
            beta[:, t] = following
        feasible = xp.isfinite(self.log_likelihood)
        log_likelihood = xp.where(feasible, self.log_likelihood, 0.0)
        # posterior of each state at each frame; alpha and beta both contain the frame's emission
        posterior = xp.exp(alpha + beta - emit - log_likelihood[:, None, None])
        posterior = xp.where(xp.isfinite(posterior), posterior, 0.0)
        one_hot = (self.extended[:, :, None] == xp.arange(classes)[None, None, :]).astype(alpha.dtype)
        per_class = xp.matmul(posterior, one_hot)  # (batch, frames, classes)
        inside = (xp.arange(frames)[None, :] < out_len[:, None])[:, :, None]
        d_logits = xp.where(inside, xp.exp(log_probs) - per_class, 0.0)
        d_logits = xp.where(feasible[:, None, None], d_logits, 0.0)  # an impossible target has no gradient
        return (d_logits * grad[:, None, None],)


def ctc_loss(target, output, target_length=None, output_length=None, mask_index=0):
    """CTC loss of every example: ``-log p(target | output)``, shape ``(batch,)``.

    Keras 3's ``keras.ops.ctc_loss``. ``output``: logits ``(batch, frames, classes)`` (a log-softmax is
    taken inside); ``target``: integer labels ``(batch, max_label_length)``; ``mask_index``: the class
    index of the blank (0, as in Keras). ``target_length`` (default: the labels before the first blank,
    so targets can be padded with ``mask_index``) and ``output_length`` (default: all frames) give each
    example's lengths. A target that no alignment can produce (more frames needed than there are) has an
    infinite loss and a zero gradient. Differentiable with respect to ``output``.

    Examples:
        >>> import numpy as np, nerve
        >>> logits = nerve.tensor(np.log(np.array([[[0.1, 0.9], [0.1, 0.9], [0.9, 0.1]]])), requires_grad=True)
        >>> loss = ctc_loss([[1, 0]], logits)   # target "1", padded with the blank 0
        >>> round(float(loss.item()), 4)        # -log p(1-- + 11- + 111 + -1- + -11 + --1)
        0.0182
        >>> loss.sum().backward(); logits.grad.shape
        (1, 3, 2)
    """
    output = _as_tensor(output)
    xp = output.xp
    if output.ndim != 3 or output.dtype.kind != "f":
        raise ValueError(f"ctc_loss: expected float logits of shape (batch, frames, classes), received shape "
                         f"{tuple(output.shape)} and dtype {output.dtype}")
    batch, frames, classes = output.shape
    labels = _host(target)
    if labels.ndim != 2 or labels.shape[0] != batch or labels.dtype.kind not in "iuf":
        raise ValueError(f"ctc_loss: expected integer targets of shape ({batch}, max_label_length), received "
                         f"shape {labels.shape}")
    labels = labels.astype(numpy.int64)
    blank = int(mask_index)
    if not 0 <= blank < classes:
        raise ValueError(f"ctc_loss: mask_index must be a class index in [0, {classes}), received {mask_index}")
    if target_length is None:
        is_blank = labels == blank
        target_length = numpy.where(is_blank.any(axis=1), is_blank.argmax(axis=1), labels.shape[1])
    target_length = _host(target_length).astype(numpy.int64).reshape(-1)
    output_length = numpy.full(batch, frames) if output_length is None else _host(output_length).reshape(-1)
    output_length = output_length.astype(numpy.int64)
    if target_length.shape != (batch,) or output_length.shape != (batch,):
        raise ValueError(f"ctc_loss: expected one target_length and one output_length per example ({batch}), "
                         f"received shapes {target_length.shape} and {output_length.shape}")
    if (target_length < 0).any() or (target_length > labels.shape[1]).any():
        raise ValueError(f"ctc_loss: target_length must be in [0, {labels.shape[1]}], received "
                         f"{target_length.tolist()}")
    if (output_length < 1).any() or (output_length > frames).any():
        raise ValueError(f"ctc_loss: output_length must be in [1, {frames}], received {output_length.tolist()}")
    used = numpy.arange(labels.shape[1])[None, :] < target_length[:, None]
    if ((labels < 0) | (labels >= classes) | (labels == blank))[used].any():
        raise ValueError(f"ctc_loss: target labels must be class indices in [0, {classes}) other than the blank "
                         f"{blank}, received {labels[used].min()}..{labels[used].max()}")
    extended = numpy.full((batch, 2 * labels.shape[1] + 1), blank, dtype=numpy.int64)
    extended[:, 1::2] = numpy.where(used, labels, blank)
    return CTCLoss.apply(output, extended=xp.asarray(extended), extended_length=xp.asarray(2 * target_length + 1),
                         output_length=xp.asarray(output_length), blank=blank)


def ctc_decode(inputs, sequence_lengths=None, strategy="greedy", mask_index=0):
    """Greedy CTC decoding: the best class of every frame, repeats merged, blanks dropped.

    Keras 3's ``keras.ops.ctc_decode`` with ``strategy="greedy"``: ``inputs`` are logits or probabilities
    ``(batch, frames, classes)``; returns ``(decoded, scores)``: ``decoded`` of shape ``(1, batch, frames)``
    holding each sequence's labels padded with -1, ``scores`` of shape ``(1, batch)`` the negative sum over
    frames of the best log-softmax value (as Keras). Not differentiable.

    Examples:
        >>> import numpy as np
        >>> frames = np.eye(3)[[[1, 1, 0, 1, 2, 2, 0]]]        # 1 1 - 1 2 2 -  ->  1 1 2
        >>> decoded, _ = ctc_decode(np.log(frames + 1e-3))
        >>> decoded[0, 0, :4].tolist()
        [1, 1, 2, -1]
    """
    if strategy != "greedy":
        raise ValueError(f"ctc_decode: only strategy='greedy' is available, received {strategy!r}")
    logits = _as_tensor(inputs)
    xp = logits.xp
    data = logits.data
    if data.ndim != 3:
        raise ValueError(f"ctc_decode: expected inputs of shape (batch, frames, classes), received shape "
                         f"{tuple(data.shape)}")
    batch, frames, _ = data.shape
    if isinstance(sequence_lengths, Tensor):
        sequence_lengths = sequence_lengths.data
    lengths = xp.full(batch, frames) if sequence_lengths is None else xp.asarray(sequence_lengths).reshape(-1)
    shifted = data - xp.max(data, axis=-1, keepdims=True)
    log_probs = shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))
    best = xp.argmax(data, axis=-1)
    inside = xp.arange(frames)[None, :] < lengths[:, None]
    scores = -xp.sum(xp.where(inside, xp.max(log_probs, axis=-1), 0.0), axis=1)
    previous = xp.concatenate([xp.full((batch, 1), -1, dtype=best.dtype), best[:, :-1]], axis=1)
    keep = inside & (best != mask_index) & (best != previous)
    # move the kept labels to the front of each row, in order (a stable sort on "not kept")
    order = xp.argsort(~keep, axis=1, kind="stable")
    decoded = xp.where(xp.take_along_axis(keep, order, axis=1), xp.take_along_axis(best, order, axis=1), -1)
    return decoded[None], scores[None]
