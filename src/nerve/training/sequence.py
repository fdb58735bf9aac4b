"""Sequence data utilities: padding, sliding windows for forecasting, a character vectoriser, a padding collate.

* :func:`pad_sequences` turns a list of variable-length sequences into one
  array (Keras semantics: ``padding``/``truncating`` ``"pre"`` or ``"post"``);
* :func:`make_windows` (alias :func:`sliding_window`) cuts a time series into
  inputs of length ``L`` and the targets ``horizon`` steps ahead, as strided
  views (no Python loop);
* :class:`CharVectorizer` maps text to integer ids and back (id 0 is padding);
* :func:`pad_collate` is a ``DataLoader`` ``collate_fn`` that pads a batch of
  variable-length sequences.

These work on NumPy arrays (data preparation, before anything becomes a Tensor).

Examples:
    >>> from nerve import sequence
    >>> sequence.pad_sequences([[1, 2, 3], [4]]).tolist()
    [[1, 2, 3], [0, 0, 4]]
    >>> x, y = sequence.make_windows(list(range(6)), input_length=3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [1, 2, 3], [2, 3, 4]], [3, 4, 5])
"""

from __future__ import annotations

import numpy
from numpy.lib.stride_tricks import sliding_window_view

from nerve.training.data import default_collate

__all__ = ["CharVectorizer", "make_windows", "pad_collate", "pad_sequences", "sliding_window"]

_SIDES = ("pre", "post")


def _check_side(name, value):
    if value not in _SIDES:
        raise ValueError(f"{name} must be 'pre' or 'post', got {value!r}")


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0):
    """Pad (and cut) sequences to one length: a list of ``n`` sequences -> an array ``(n, maxlen, ...)``.

    Args:
        sequences: list of sequences (lists or arrays); each element may be a
            number or an array of a fixed shape (e.g. feature vectors).
        maxlen: length of the result; by default the longest sequence's.
        dtype: dtype of the result (``"int32"`` like Keras; use ``"float32"``
            for real-valued series).
        padding: ``"pre"`` (default, pad at the start) or ``"post"``.
        truncating: ``"pre"`` (drop the start of longer sequences) or ``"post"``.
        value: the padding value.

    Raises ``ValueError`` when the elements of the sequences have different shapes.

    Examples:
        >>> pad_sequences([[1, 2, 3], [4, 5]], maxlen=2, padding="post", truncating="post").tolist()
        [[1, 2], [4, 5]]
        >>> pad_sequences([[1.5], [2.0, 3.0]], dtype="float32", padding="post", value=-1).tolist()
        [[1.5, -1.0], [2.0, 3.0]]
    """
    _check_side("pad_sequences: padding", padding)
    _check_side("pad_sequences: truncating", truncating)
    if not hasattr(sequences, "__len__"):
        raise TypeError(f"pad_sequences expects a list of sequences, got {type(sequences).__name__}")
    arrays = []
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"pad_sequences: sequence {i} is not a sequence (got {type(s).__name__}: {s!r}); "
                             "expected a list of lists or arrays")
        arrays.append(numpy.asarray(s))
    lengths = [len(a) for a in arrays]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    if maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be >= 0, got {maxlen}")
    sample_shape = ()
    for a in arrays:
        if len(a):
            sample_shape = a.shape[1:]
            break
    out = numpy.full((len(arrays), maxlen) + sample_shape, value, dtype=dtype)
    for i, a in enumerate(arrays):
        if not len(a) or maxlen == 0:
            continue
        if a.shape[1:] != sample_shape:
            raise ValueError(f"pad_sequences: sequence {i} has elements of shape {a.shape[1:]}, "
                             f"expected {sample_shape} like the first non-empty sequence")
        cut = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, : len(cut)] = cut
        else:
            out[i, maxlen - len(cut):] = cut
    return out


def make_windows(series, input_length, horizon=1, stride=1, multi_step=False):
    """Cut a series into forecasting examples: inputs of ``input_length`` steps, targets ``horizon`` steps ahead.

    Window ``i`` starts at ``i * stride``; its input is
    ``series[start : start + input_length]`` and its target is the value
    ``horizon`` steps after the window's last step,
    ``series[start + input_length - 1 + horizon]`` (``horizon=1``: the next
    value). With ``multi_step=True`` the target is all the next ``horizon``
    values, ``series[end : end + horizon]``.

    Built from strided views of the series (``numpy.lib.stride_tricks``), then
    copied once; a series of shape ``(T,)`` gives inputs ``(n, L)`` (add a
    feature axis, ``x[..., None]``, for a recurrent layer), a series ``(T, F)``
    gives ``(n, L, F)``.

    Examples:
        >>> x, y = make_windows(numpy.arange(10), input_length=4, horizon=2, stride=3)
        >>> x.tolist(), y.tolist()
        ([[0, 1, 2, 3], [3, 4, 5, 6]], [5, 8])
        >>> x, y = make_windows(numpy.arange(6), input_length=3, horizon=2, multi_step=True)
        >>> y.tolist()
        [[3, 4], [4, 5]]
    """
    series = numpy.asarray(series)
    if series.ndim == 0:
        raise ValueError("make_windows: series must have a time axis, got a scalar")
    for name, v in (("input_length", input_length), ("horizon", horizon), ("stride", stride)):
        if int(v) != v or v < 1:
            raise ValueError(f"make_windows: {name} must be a positive integer, got {v!r}")
    T = len(series)
    span = input_length + horizon
    if T < span:
        raise ValueError(f"make_windows: a series of length {T} is too short for input_length={input_length} "
                         f"plus horizon={horizon} (needs at least {span} steps)")
    starts = (T - span) // stride + 1
    windows = sliding_window_view(series, span, axis=0)[::stride][:starts]  # (n, ..., span): time last
    windows = numpy.moveaxis(windows, -1, 1)  # (n, span, ...)
    x = numpy.ascontiguousarray(windows[:, :input_length])
    if multi_step:
        y = numpy.ascontiguousarray(windows[:, input_length:])
    else:
        y = numpy.ascontiguousarray(windows[:, span - 1])
    return x, y


sliding_window = make_windows


class CharVectorizer:
    """Character-level text vectoriser: text -> integer ids and back.

    Id 0 is reserved for padding (never a character), so padded batches work
    with ``Embedding(mask_zero=True)``. With ``unknown="token"`` id 1 stands
    for characters not seen by :meth:`fit`; the other ids follow in sorted
    character order.

    Args:
        unknown: what :meth:`encode` does with an unseen character: ``"error"``
            (raise, naming it), ``"skip"`` (drop it) or ``"token"`` (map it to id 1).
        lower: lower-case text before fitting and encoding.

    Examples:
        >>> vec = CharVectorizer().fit("hello world")
        >>> vec.vocabulary_size
        9
        >>> ids = vec.encode("hold")
        >>> ids.tolist(), vec.decode(ids)
        ([4, 6, 5, 2], 'hold')
        >>> vec.encode("hi!")
        Traceback (most recent call last):
        ...
        ValueError: CharVectorizer.encode: characters not in the vocabulary: 'i', '!' (fit on more text, or use unknown='skip' or 'token')
    """

    PADDING = ""
    UNKNOWN = "\ufffd"
    _POLICIES = ("error", "skip", "token")

    def __init__(self, unknown="error", lower=False):
        if unknown not in self._POLICIES:
            raise ValueError(f"CharVectorizer: unknown must be one of {', '.join(self._POLICIES)}, got {unknown!r}")
        self.unknown = unknown
        self.lower = bool(lower)
        self.vocabulary = None
        self._index = None

    def _text(self, text):
        if not isinstance(text, str):
            raise TypeError(f"CharVectorizer expects a str, got {type(text).__name__}")
        return text.lower() if self.lower else text

    def fit(self, texts):
        """Build the vocabulary from a string or a list of strings; returns ``self``."""
        if isinstance(texts, str):
            texts = [texts]
        chars = sorted(set().union(*(set(self._text(t)) for t in texts)))
        specials = [self.PADDING] + ([self.UNKNOWN] if self.unknown == "token" else [])
        self.vocabulary = specials + [c for c in chars if c not in specials]
        self._index = {c: i for i, c in enumerate(self.vocabulary)}
        return self

    @property
    def vocabulary_size(self):
        """Number of ids, padding (and the unknown token) included: the ``input_dim`` of an Embedding."""
        self._check_fitted("vocabulary_size")
        return len(self.vocabulary)

    def _check_fitted(self, what):
        if self.vocabulary is None:
            raise RuntimeError(f"CharVectorizer.{what}: call fit(text) first to build the vocabulary")

    def encode(self, text):
        """Ids (int64 array) of the characters of ``text``; a list of strings gives a list of arrays."""
        self._check_fitted("encode")
        if isinstance(text, (list, tuple)):
            return [self.encode(t) for t in text]
        text = self._text(text)
        index = self._index
        missing = [c for c in dict.fromkeys(text) if c not in index]
        if missing:
            if self.unknown == "error":
                shown = ", ".join(repr(c) for c in missing[:10])
                raise ValueError(f"CharVectorizer.encode: characters not in the vocabulary: {shown} "
                                 "(fit on more text, or use unknown='skip' or 'token')")
            if self.unknown == "skip":
                text = "".join(c for c in text if c in index)
        unk = index.get(self.UNKNOWN, 0)
        return numpy.fromiter((index.get(c, unk) for c in text), dtype=numpy.int64, count=len(text))

    def decode(self, ids):
        """Text of the ids (padding ids are dropped, the unknown id becomes U+FFFD)."""
        self._check_fitted("decode")
        ids = numpy.asarray(ids).reshape(-1)
        n = len(self.vocabulary)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ValueError(f"CharVectorizer.decode: ids must lie in [0, {n}), got ids from {ids.min()} to {ids.max()}")
        return "".join(self.vocabulary[int(i)] for i in ids)

    def get_config(self):
        """JSON-serialisable state (settings and vocabulary)."""
        return {"unknown": self.unknown, "lower": self.lower, "vocabulary": self.vocabulary}

    @classmethod
    def from_config(cls, config):
        """Rebuild a vectoriser from :meth:`get_config`.

        Examples:
            >>> vec = CharVectorizer().fit("abc")
            >>> CharVectorizer.from_config(vec.get_config()).encode("cab").tolist()
            [3, 1, 2]
        """
        vec = cls(unknown=config["unknown"], lower=config["lower"])
        if config.get("vocabulary") is not None:
            vec.vocabulary = list(config["vocabulary"])
            vec._index = {c: i for i, c in enumerate(vec.vocabulary)}
        return vec


def pad_collate(samples, padding="post", value=0, dtype=None, lengths=False, mask=False):
    """``DataLoader`` collate function that pads variable-length sequences to the batch's longest.

    A sample is ``(sequence, target)`` (or a bare sequence). Returns
    ``(x, y)`` with ``x`` padded (``(batch, max_len, ...)``), which works with
    ``model.fit(loader)`` and ``Embedding(mask_zero=True)``; with
    ``lengths=True`` returns ``(x, lengths, y)`` and with ``mask=True``
    ``(x, mask, y)`` (boolean ``(batch, max_len)``), for hand-written loops.
    Targets are stacked as by ``default_collate``. Use
    ``functools.partial(pad_collate, lengths=True)`` to change the options.

    Examples:
        >>> x, y = pad_collate([([1, 2, 3], 0), ([4], 1)])
        >>> x.tolist(), y.tolist()
        ([[1, 2, 3], [4, 0, 0]], [0, 1])
        >>> x, lengths, y = pad_collate([([1, 2, 3], 0), ([4], 1)], lengths=True)
        >>> lengths.tolist()
        [3, 1]
    """

    if lengths and mask:
        raise ValueError("pad_collate: choose lengths=True or mask=True, not both")
    if not samples:
        raise ValueError("pad_collate: got an empty batch")
    paired = isinstance(samples[0], tuple) and len(samples[0]) == 2
    seqs = [s[0] for s in samples] if paired else list(samples)
    arrays = [numpy.asarray(s) for s in seqs]
    if dtype is None:
        dtype = numpy.result_type(*arrays) if arrays else numpy.int64
    sizes = numpy.array([len(a) for a in arrays], dtype=numpy.int64)
    x = pad_sequences(arrays, dtype=dtype, padding=padding, truncating="post", value=value)
    extra = ()
    if lengths:
        extra = (sizes,)
    elif mask:
        steps = numpy.arange(x.shape[1])
        keep = steps[None, :] < sizes[:, None] if padding == "post" else steps[None, :] >= (x.shape[1] - sizes)[:, None]
        extra = (keep,)
    if not paired:
        return (x,) + extra if extra else x
    y = default_collate([s[1] for s in samples])
    return (x,) + extra + (y,)
