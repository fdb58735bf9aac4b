"""Text preprocessing layers (Keras 3 names and arguments): TextVectorization, StringLookup, IntegerLookup.

They turn raw strings (or integer categories) into the numbers a model reads: ids for an
``Embedding`` (``output_mode="int"``) or one fixed-size vector per text (``"multi_hot"``,
``"count"``, ``"tf_idf"``, a bag of words). ``adapt(data)`` learns the vocabulary from a list of
texts, most frequent tokens first; the vocabulary (and the idf weights) is part of the layer's
config, so ``nerve.layers.serialize`` and a model file keep it.

They run on the host, before the model: call them on a list or array of strings and feed the
result to ``fit``. Standardising, splitting and looking up strings is Python string work (one
pass over the texts); the outputs are built with array operations.

Devices: strings exist only on the host, so these layers always compute there (they cannot sit inside
a model, which takes numbers). Numeric inputs that are tensors or arrays on a device (ids for
``IntegerLookup`` or ``StringLookup(invert=True)``, ``BytePairTokenizer.detokenize``) are copied to the
host explicitly. Their numeric outputs are tensors on the layer's device: the default device
(``nerve.set_device``, ``with nerve.device("gpu"):``) unless ``layer.to(...)`` placed it, so under
``"gpu"`` the ids go straight into a model on the GPU; strings (``invert=True``) stay host arrays.

Examples:
    >>> from nerve import layers
    >>> vectorize = layers.TextVectorization(output_sequence_length=4)
    >>> vectorize.adapt(["the cat sat", "the dog"])
    >>> vectorize.get_vocabulary()
    ['', '[UNK]', 'the', 'sat', 'dog', 'cat']
    >>> vectorize(["The bird sat!"]).tolist()
    [[2, 1, 3, 0]]
"""

from __future__ import annotations

import collections
import re
import zlib

import numpy

from nerve.blocks.layers.base import Layer, builtin_layer
from nerve.engine.backend import to_device, to_numpy
from nerve.engine.tensor import Tensor

__all__ = ["BytePairTokenizer", "IntegerLookup", "StringLookup", "TextVectorization"]

#: Keras's punctuation set for ``standardize="lower_and_strip_punctuation"``
PUNCTUATION = r'!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\''
_PUNCTUATION_RE = re.compile(f"[{PUNCTUATION}]")

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def _as_list(data, where):
    """Texts or values from a list, tuple, array or Tensor, as a flat Python list and the batch shape."""
    if isinstance(data, Tensor):
        data = data.numpy()
    elif hasattr(data, "dtype") and not isinstance(data, numpy.ndarray):
        data = to_numpy(data)  # a device array (ids): copied to the host explicitly
    array = numpy.asarray(data, dtype=object)
    return array.reshape(-1).tolist(), array.shape


def _placed(layer, array):
    """A host result as a tensor on the layer's device (the default device unless ``to()`` placed it)."""
    return Tensor(to_device(array, layer.device))


def _sorted_vocabulary(counts):
    """Tokens by decreasing count, ties by decreasing token (Keras's order)."""
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


class _IndexLookup(Layer):
    """Shared machinery of StringLookup, IntegerLookup and TextVectorization: a vocabulary, OOV buckets, modes."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, **kwargs):
        kwargs.pop("sparse", None)
        kwargs.pop("encoding", None)
        super().__init__(**kwargs)
        kind = type(self).__name__
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(f"{kind}: output_mode must be one of {_OUTPUT_MODES}, got {output_mode!r}")
        if max_tokens is not None and int(max_tokens) <= 1:
            raise ValueError(f"{kind}: max_tokens must be greater than 1 (or None), got {max_tokens}")
        if int(num_oov_indices) < 0:
            raise ValueError(f"{kind}: num_oov_indices must be >= 0, got {num_oov_indices}")
        if invert and output_mode != "int":
            raise ValueError(f"{kind}: invert=True needs output_mode='int', got {output_mode!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices, self.mask_token, self.oov_token = int(num_oov_indices), mask_token, oov_token
        self.invert, self.output_mode, self.pad_to_max_tokens = bool(invert), output_mode, bool(pad_to_max_tokens)
        self._tokens, self._index, self.idf_weights = [], {}, None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- vocabulary
    def _special(self):
        """Tokens before the learned ones: the mask token (int mode) and the OOV token(s)."""
        head = [self.mask_token] if self.mask_token is not None and self.output_mode == "int" else []
        return head + [self.oov_token] * self.num_oov_indices

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary in index order (mask and OOV tokens first unless ``include_special_tokens=False``).

        Examples:
            >>> StringLookup(vocabulary=["a", "b"]).get_vocabulary()
            ['[UNK]', 'a', 'b']
        """
        return (self._special() if include_special_tokens else []) + list(self._tokens)

    def vocabulary_size(self):
        """Number of indices the layer produces (special tokens included).

        Examples:
            >>> StringLookup(vocabulary=["a", "b"], mask_token="").vocabulary_size()
            4
        """
        return len(self.get_vocabulary())

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Use ``vocabulary`` (tokens without the special ones; a leading mask/OOV token is dropped) and, for
        ``output_mode="tf_idf"``, ``idf_weights`` (one per token, special ones included or not).

        Examples:
            >>> lookup = StringLookup()
            >>> lookup.set_vocabulary(["x", "y"]); lookup(["y", "z"]).tolist()
            [2, 0]
        """
        tokens = [self._token(t) for t in vocabulary]
        special = self._special()
        if tokens[:len(special)] == special and special:
            tokens = tokens[len(special):]
        if len(set(tokens)) != len(tokens):
            repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}): the vocabulary has repeated tokens "
                             f"{repeated[:5]}")
        if self.max_tokens is not None and len(tokens) + len(special) > self.max_tokens:
            tokens = tokens[:self.max_tokens - len(special)]
        self._tokens = tokens
        self._index = {t: i + len(special) for i, t in enumerate(tokens)}
        if idf_weights is not None:
            weights = numpy.asarray(idf_weights, dtype="float64").ravel()
            if len(weights) == len(tokens) + len(special):
                weights = weights[len(special):]
            if len(weights) != len(tokens):
                raise ValueError(f"layer '{self.name}' ({type(self).__name__}): {len(weights)} idf_weights for a "
                                 f"vocabulary of {len(tokens)} tokens")
            self.idf_weights = weights
        elif self.output_mode == "tf_idf" and self.idf_weights is None:
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}): output_mode='tf_idf' needs idf_weights "
                             "with a given vocabulary (or call adapt)")

    def _token(self, t):
        return str(t)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary (most frequent first, at most ``max_tokens`` indices) and idf weights from ``data``.

        Examples:
            >>> lookup = StringLookup()
            >>> lookup.adapt(["b", "a", "b"]); lookup.get_vocabulary()
            ['[UNK]', 'b', 'a']
        """
        documents = self._documents(data)
        counts = collections.Counter(t for doc in documents for t in doc)
        special = set(self._special())
        for t in special:
            counts.pop(t, None)
        tokens = _sorted_vocabulary(counts)
        if self.max_tokens is not None:
            tokens = tokens[:max(self.max_tokens - len(self._special()), 0)]
        idf = None
        if self.output_mode == "tf_idf":
            document_counts = collections.Counter(t for doc in documents for t in set(doc))
            frequency = numpy.array([document_counts[t] for t in tokens], dtype="float64")
            idf = numpy.log(1.0 + len(documents) / (1.0 + frequency))
        self.idf_weights = None
        self.set_vocabulary(tokens, idf)

    def _documents(self, data):
        """The tokens of each document (a list per sample) for ``adapt``."""
        values, shape = _as_list(data, type(self).__name__)
        if len(shape) <= 1:
            return [[self._token(v)] for v in values]
        per = int(numpy.prod(shape[1:]))
        return [[self._token(v) for v in values[i:i + per]] for i in range(0, len(values), per)]

    # -- lookup
    def _oov_index(self, token):
        base = 1 if self.mask_token is not None and self.output_mode == "int" else 0
        if self.num_oov_indices == 1:
            return base
        return base + zlib.crc32(str(token).encode("utf-8")) % self.num_oov_indices

    def _lookup(self, tokens):
        """Ids of a flat list of tokens (the mask token maps to 0, unknown ones to an OOV index)."""
        if self.num_oov_indices == 0:
            unknown = [t for t in tokens if t not in self._index and t != self.mask_token]
            if unknown:
                raise ValueError(f"layer '{self.name}' ({type(self).__name__}): num_oov_indices=0 but the input has "
                                 f"tokens outside the vocabulary, e.g. {unknown[:3]}")
        index, mask = self._index, self.mask_token

        def one(token):
            if mask is not None and token == mask:
                return 0
            found = index.get(token)
            return found if found is not None else self._oov_index(token)

        return numpy.array([one(t) for t in tokens], dtype="int64")

    def _depth(self):
        size = self.vocabulary_size()
        if self.pad_to_max_tokens and self.max_tokens is not None:
            size = max(size, self.max_tokens)
        return size

    def _encode(self, ids, batch_shape):
        """``(batch, ...)`` ids to the output mode's array."""
        if self.output_mode == "int":
            return ids.reshape(batch_shape)
        depth = self._depth()
        if self.output_mode == "one_hot":
            out = numpy.zeros(ids.shape + (depth,), dtype="float32")
            out[numpy.arange(ids.size), ids] = 1.0
            return out.reshape(tuple(batch_shape) + (depth,))
        rows = ids.reshape(-1, 1) if len(batch_shape) <= 1 else ids.reshape(batch_shape[0], -1)
        counts = numpy.zeros((rows.shape[0], depth), dtype="float32")
        numpy.add.at(counts, (numpy.repeat(numpy.arange(rows.shape[0]), rows.shape[1]), rows.ravel()), 1.0)
        if self.output_mode == "multi_hot":
            counts = numpy.minimum(counts, 1.0)
        elif self.output_mode == "tf_idf":
            weights = numpy.zeros(depth, dtype="float64")
            n_special = len(self._special())
            weights[n_special:n_special + len(self.idf_weights)] = self.idf_weights
            weights[:n_special] = self.idf_weights.mean() if len(self.idf_weights) else 0.0
            counts = (counts * weights).astype("float32")
        return counts

    def __call__(self, inputs, training=None, **kwargs):
        return self.call(inputs)

    def call(self, inputs):
        values, shape = _as_list(inputs, type(self).__name__)
        if self.invert:
            vocabulary = self.get_vocabulary()
            ids = numpy.asarray(values, dtype="int64")
            if ids.size and (ids.min() < 0 or ids.max() >= len(vocabulary)):
                raise ValueError(f"layer '{self.name}' ({type(self).__name__}): ids must lie in "
                                 f"[0, {len(vocabulary)}), got {int(ids.min())}..{int(ids.max())}")
            return numpy.array([vocabulary[i] for i in ids.tolist()], dtype=object).reshape(shape)
        ids = self._lookup([self._token(v) for v in values])
        return _placed(self, self._encode(ids, shape))

    def get_config(self):
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "vocabulary": list(self._tokens),
                "idf_weights": None if self.idf_weights is None else [float(w) for w in self.idf_weights],
                "invert": self.invert, "output_mode": self.output_mode, "pad_to_max_tokens": self.pad_to_max_tokens}


@builtin_layer
class StringLookup(_IndexLookup):
    """Map strings to integer ids with a vocabulary (Keras's ``StringLookup``), or back (``invert=True``).

    Index order: the ``mask_token`` (if given: it maps to 0), ``num_oov_indices`` out-of-vocabulary
    indices (unknown strings; hashed into them when there are several), then the vocabulary.
    ``output_mode`` ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"`` gives vectors instead.

    Host-only (strings): it computes on the host; numeric outputs are tensors on the layer's device (the
    default device unless ``to()`` placed it), device inputs are copied to the host explicitly.

    Examples:
        >>> lookup = StringLookup(vocabulary=["a", "b", "c"])
        >>> lookup([["a", "c"], ["d", "b"]]).tolist()
        [[1, 3], [0, 2]]
        >>> StringLookup(vocabulary=["a", "b", "c"], invert=True)([[1, 3]]).tolist()
        [['a', 'c']]
    """


@builtin_layer
class IntegerLookup(_IndexLookup):
    """Map integer categories to contiguous ids (Keras's ``IntegerLookup``); unknown values go to the OOV index.

    Same options as :class:`StringLookup`; the default OOV token is -1 and the mask token None.

    Host-only (strings): it computes on the host; numeric outputs are tensors on the layer's device (the
    default device unless ``to()`` placed it), device inputs are copied to the host explicitly.

    Examples:
        >>> lookup = IntegerLookup(vocabulary=[12, 36, 1138])
        >>> lookup([12, 1138, 7]).tolist()
        [1, 3, 0]
        >>> IntegerLookup(vocabulary=[12, 36], output_mode="multi_hot")([[12, 36, 12]]).tolist()
        [[0.0, 1.0, 1.0]]
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False,
                 **kwargs):
        self.vocabulary_dtype = vocabulary_dtype
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights, invert,
                         output_mode, pad_to_max_tokens, **kwargs)

    def _token(self, t):
        return int(t)

    def call(self, inputs):
        out = super().call(inputs)
        return out.astype("int64") if self.invert else out

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype}


@builtin_layer
class TextVectorization(_IndexLookup):
    """Texts to token ids or bag-of-words vectors (Keras's ``TextVectorization``).

    Each text is standardised (``standardize``: ``"lower_and_strip_punctuation"`` by default,
    ``"lower"``, ``"strip_punctuation"``, None, or a function of one string), split into tokens
    (``split``: ``"whitespace"``, ``"character"``, None, or a function returning a list), extended
    with n-grams (``ngrams``: an int n for 1..n-grams, or a tuple of sizes; joined by a space), and
    looked up in the vocabulary that ``adapt`` learned (at most ``max_tokens`` entries).

    ``output_mode``: ``"int"`` gives ids (0 is padding, 1 ``"[UNK]"``), padded or cut to
    ``output_sequence_length`` (else to the longest text of the batch); ``"multi_hot"``, ``"count"``
    and ``"tf_idf"`` give one vector per text of ``max_tokens`` (or vocabulary-size) entries, index 0
    for unknown tokens; tf-idf weighs counts by ``log(1 + documents / (1 + documents with the token))``.
    A function given as ``standardize`` or ``split`` is not saved in the config (pass it again when loading).

    Host-only (strings): it computes on the host; numeric outputs are tensors on the layer's device (the
    default device unless ``to()`` placed it), device inputs are copied to the host explicitly.

    Examples:
        >>> vectorize = TextVectorization(output_mode="count", ngrams=2)
        >>> vectorize.adapt(["a b a"])
        >>> vectorize.get_vocabulary()
        ['[UNK]', 'a', 'b a', 'b', 'a b']
        >>> vectorize(["a b", "c"]).tolist()
        [[0.0, 1.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, **kwargs):
        kwargs.pop("ragged", None)
        if standardize not in (None, "lower", "strip_punctuation", "lower_and_strip_punctuation") \
                and not callable(standardize):
            raise ValueError(f"TextVectorization: unknown standardize {standardize!r}")
        if split not in (None, "whitespace", "character") and not callable(split):
            raise ValueError(f"TextVectorization: unknown split {split!r}")
        if output_mode == "one_hot":
            raise ValueError("TextVectorization: output_mode must be 'int', 'multi_hot', 'count' or 'tf_idf'")
        if output_sequence_length is not None and output_mode != "int":
            raise ValueError("TextVectorization: output_sequence_length only applies to output_mode='int'")
        self.standardize, self.split = standardize, split
        if isinstance(ngrams, int):
            ngrams = tuple(range(1, ngrams + 1))
        self.ngrams = None if ngrams is None else tuple(int(n) for n in ngrams)
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        mask_token = "" if output_mode == "int" else None
        super().__init__(max_tokens=max_tokens, num_oov_indices=1, mask_token=mask_token, oov_token="[UNK]",
                         vocabulary=vocabulary, idf_weights=idf_weights, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, **kwargs)

    def _tokens_of(self, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        text = str(text)
        if callable(self.standardize):
            text = self.standardize(text)
        else:
            if self.standardize in ("lower", "lower_and_strip_punctuation"):
                text = text.lower()
            if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
                text = _PUNCTUATION_RE.sub("", text)
        if self.split is None:
            tokens = [text]
        elif self.split == "whitespace":
            tokens = text.split()
        elif self.split == "character":
            tokens = list(text)
        else:
            tokens = list(self.split(text))
        if self.ngrams:
            tokens = [" ".join(tokens[i:i + n]) for n in self.ngrams for i in range(len(tokens) - n + 1)]
        return tokens

    def _documents(self, data):
        values, _ = _as_list(data, "TextVectorization")
        return [self._tokens_of(v) for v in values]

    def call(self, inputs):
        values, shape = _as_list(inputs, "TextVectorization")
        if len(shape) == 2 and shape[1] == 1:
            shape = shape[:1]
        if len(shape) > 1:
            raise ValueError(f"layer '{self.name}' (TextVectorization) expects a batch of strings (batch,) or "
                             f"(batch, 1), got shape {shape}")
        documents = [self._tokens_of(v) for v in values]
        lengths = numpy.array([len(d) for d in documents], dtype="int64")
        ids = self._lookup([t for d in documents for t in d])
        if self.output_mode == "int":
            width = self.output_sequence_length
            if width is None:
                width = int(lengths.max()) if len(lengths) else 0
            out = numpy.zeros((len(documents), width), dtype="int64")
            starts = numpy.concatenate([[0], numpy.cumsum(lengths)[:-1]]) if len(lengths) else lengths
            position = numpy.arange(len(ids)) - numpy.repeat(starts, lengths)
            row = numpy.repeat(numpy.arange(len(documents)), lengths)
            keep = position < width
            out[row[keep], position[keep]] = ids[keep]
            return _placed(self, out)
        depth = self._depth()
        counts = numpy.zeros((len(documents), depth), dtype="float32")
        numpy.add.at(counts, (numpy.repeat(numpy.arange(len(documents)), lengths), ids), 1.0)
        if self.output_mode == "multi_hot":
            counts = numpy.minimum(counts, 1.0)
        elif self.output_mode == "tf_idf":
            weights = numpy.zeros(depth, dtype="float64")
            weights[1:1 + len(self.idf_weights)] = self.idf_weights
            weights[0] = self.idf_weights.mean() if len(self.idf_weights) else 0.0
            counts = (counts * weights).astype("float32")
        return _placed(self, counts)

    def get_config(self):
        config = super().get_config()
        for key in ("num_oov_indices", "mask_token", "oov_token", "invert"):
            config.pop(key)
        return {**config, "standardize": self.standardize if not callable(self.standardize) else None,
                "split": self.split if not callable(self.split) else None,
                "ngrams": None if self.ngrams is None else list(self.ngrams),
                "output_sequence_length": self.output_sequence_length}


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise ImportError("BytePairTokenizer needs the 'tokenizers' package: pip install tokenizers "
                          "(or nerve[text])") from None
    return tokenizers


@builtin_layer
class BytePairTokenizer(Layer):
    """Byte-level BPE subword tokenizer trained on your texts, through the ``tokenizers`` library (optional extra).

    ``adapt(texts)`` learns up to ``vocabulary_size`` subword tokens by byte-pair encoding (GPT-2's
    scheme: every byte sequence can be written, so no text is out of vocabulary); calling the layer
    on a list of texts gives ids padded with 0 (the ``"<pad>"`` token) to ``sequence_length`` (else
    to the longest text of the batch); :meth:`detokenize` turns ids back into text. The trained
    tokenizer (vocabulary and merges, as the library's JSON) is part of the layer's config, so a
    saved model keeps it. Needs ``pip install tokenizers``.

    Example (it prints the same line without ``tokenizers``, so that it runs everywhere):
        >>> import importlib.util
        >>> if importlib.util.find_spec("tokenizers"):
        ...     bpe = BytePairTokenizer(vocabulary_size=300)
        ...     bpe.adapt(["the theory of the thing", "then there was the other"] * 10)
        ...     print(bpe.detokenize(bpe(["the other theory"])))
        ... else:
        ...     print(["the other theory"])
        ['the other theory']
    """

    PAD = "<pad>"

    def __init__(self, vocabulary_size=1000, sequence_length=None, tokenizer=None, **kwargs):
        super().__init__(**kwargs)
        if int(vocabulary_size) < 2:
            raise ValueError(f"BytePairTokenizer: vocabulary_size must be >= 2, got {vocabulary_size}")
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        self._json = tokenizer
        self._tokenizer = None

    def _get(self):
        if self._tokenizer is None:
            if self._json is None:
                raise ValueError(f"layer '{self.name}' (BytePairTokenizer) has no vocabulary yet: call adapt(texts)")
            self._tokenizer = _tokenizers().Tokenizer.from_str(self._json)
        return self._tokenizer

    def adapt(self, data, batch_size=None, steps=None):
        """Train the byte-level BPE vocabulary on ``data`` (a list or array of texts).
        """
        tk = _tokenizers()
        texts = [str(t) for t in _as_list(data, "BytePairTokenizer")[0]]
        tokenizer = tk.Tokenizer(tk.models.BPE())
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(vocab_size=self.vocabulary_size, special_tokens=[self.PAD],
                                         initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        self._tokenizer, self._json = tokenizer, tokenizer.to_str()

    def get_vocabulary(self):
        """The tokens in id order (id 0 is ``"<pad>"``).
        """
        vocabulary = self._get().get_vocab()
        return [t for t, _ in sorted(vocabulary.items(), key=lambda kv: kv[1])]

    def __call__(self, inputs, training=None, **kwargs):
        return self.call(inputs)

    def call(self, inputs):
        texts = [str(t) for t in _as_list(inputs, "BytePairTokenizer")[0]]
        encoded = [e.ids for e in self._get().encode_batch(texts)]
        lengths = numpy.array([len(e) for e in encoded], dtype="int64")
        width = self.sequence_length if self.sequence_length is not None else int(lengths.max(initial=0))
        out = numpy.zeros((len(encoded), width), dtype="int64")
        flat = numpy.array([i for e in encoded for i in e], dtype="int64")
        position = numpy.arange(len(flat)) - numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
        row = numpy.repeat(numpy.arange(len(encoded)), lengths)
        keep = position < width
        out[row[keep], position[keep]] = flat[keep]
        return _placed(self, out)

    def detokenize(self, ids):
        """Texts from ids ``(batch, time)`` (padding dropped).
        """
        data = ids.numpy() if isinstance(ids, Tensor) else to_numpy(ids)  # device arrays copied explicitly
        rows = data.reshape(1, -1) if data.ndim == 1 else data
        return self._get().decode_batch([[int(i) for i in row if i != 0] for row in rows.tolist()])

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "tokenizer": self._json}
