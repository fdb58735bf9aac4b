"""nerve.sequence: pad_sequences (Keras semantics), sliding windows, CharVectorizer, pad_collate."""

import functools

import numpy
import pytest

import nerve.sequence as sequence
from nerve.data import DataLoader, Dataset


# ------------------------------------------------------------ pad_sequences
def _keras_pad(seqs, maxlen, padding, truncating, value):
    """Hand-written reference of Keras's pad_sequences for 1-D integer sequences."""
    maxlen = max(len(s) for s in seqs) if maxlen is None else maxlen
    rows = []
    for s in seqs:
        s = list(s)[-maxlen:] if truncating == "pre" else list(s)[:maxlen]
        fill = [value] * (maxlen - len(s))
        rows.append(fill + s if padding == "pre" else s + fill)
    return rows


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncating", ["pre", "post"])
@pytest.mark.parametrize("maxlen", [None, 2, 4, 7])
def test_pad_sequences_matches_reference(padding, truncating, maxlen):
    seqs = [[1, 2, 3, 4, 5], [6], [], [7, 8, 9]]
    got = sequence.pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating, value=-1)
    assert got.dtype == numpy.int32
    assert got.tolist() == _keras_pad(seqs, maxlen, padding, truncating, -1)


def test_pad_sequences_vectors_and_dtypes():
    seqs = [numpy.ones((2, 3)), numpy.full((1, 3), 2.0)]
    out = sequence.pad_sequences(seqs, dtype="float32", padding="post")
    assert out.shape == (2, 2, 3) and out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out[1], [[2, 2, 2], [0, 0, 0]])
    assert sequence.pad_sequences([[0.5, 1.5]], dtype="float64").tolist() == [[0.5, 1.5]]
    assert sequence.pad_sequences([]).shape == (0, 0)


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post', got 'middle'"):
        sequence.pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="truncating"):
        sequence.pad_sequences([[1]], truncating="both")
    with pytest.raises(ValueError, match=r"sequence 1 has elements of shape \(2,\), expected \(3,\)"):
        sequence.pad_sequences([numpy.ones((2, 3)), numpy.ones((2, 2))])
    with pytest.raises(ValueError, match="sequence 1 is not a sequence"):
        sequence.pad_sequences([[1, 2], 3])


# --------------------------------------------------------------- windows
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("stride", [1, 2])
def test_make_windows_matches_loop(horizon, stride):
    series = numpy.arange(20, dtype=float) ** 1.5
    L = 5
    x, y = sequence.make_windows(series, L, horizon=horizon, stride=stride)
    starts = list(range(0, len(series) - L - horizon + 1, stride))
    numpy.testing.assert_array_equal(x, [series[s:s + L] for s in starts])
    numpy.testing.assert_array_equal(y, [series[s + L - 1 + horizon] for s in starts])
    xm, ym = sequence.make_windows(series, L, horizon=horizon, stride=stride, multi_step=True)
    numpy.testing.assert_array_equal(xm, x)
    numpy.testing.assert_array_equal(ym, [series[s + L:s + L + horizon] for s in starts])
    assert x.flags["C_CONTIGUOUS"] and y.flags["C_CONTIGUOUS"]


def test_make_windows_multivariate_and_errors():
    series = numpy.arange(30).reshape(10, 3)
    x, y = sequence.sliding_window(series, 4, horizon=2)
    assert x.shape == (5, 4, 3) and y.shape == (5, 3)
    numpy.testing.assert_array_equal(x[1], series[1:5])
    numpy.testing.assert_array_equal(y[1], series[6])
    x[0, 0, 0] = -1  # a copy, not a view of the series
    assert series[0, 0] == 0
    with pytest.raises(ValueError, match=r"length 5 is too short for input_length=4 plus horizon=2 \(needs at least 6"):
        sequence.make_windows(numpy.arange(5), 4, horizon=2)
    with pytest.raises(ValueError, match="horizon must be a positive integer"):
        sequence.make_windows(numpy.arange(5), 2, horizon=0)


# ------------------------------------------------------------ CharVectorizer
def test_char_vectorizer_round_trip():
    text = "To be, or not to be"
    vec = sequence.CharVectorizer().fit(text)
    assert vec.vocabulary[0] == ""
    assert vec.vocabulary_size == len(set(text)) + 1
    ids = vec.encode(text)
    assert ids.dtype == numpy.int64 and ids.min() >= 1
    assert vec.decode(ids) == text
    assert vec.decode(numpy.r_[0, 0, ids]) == text  # padding is dropped
    assert [a.tolist() for a in vec.encode(["be", "to"])] == [vec.encode("be").tolist(), vec.encode("to").tolist()]
    again = sequence.CharVectorizer.from_config(vec.get_config())
    assert again.encode(text).tolist() == ids.tolist()


def test_char_vectorizer_unknown_policies():
    with pytest.raises(ValueError, match=r"not in the vocabulary: 'z'"):
        sequence.CharVectorizer().fit("abc").encode("abz")
    assert sequence.CharVectorizer(unknown="skip").fit("abc").encode("azb").tolist() == [1, 2]
    vec = sequence.CharVectorizer(unknown="token").fit("abc")
    ids = vec.encode("azb")
    assert ids.tolist() == [2, 1, 3]
    assert vec.decode(ids) == "a\ufffdb"
    assert sequence.CharVectorizer(lower=True).fit("AB").encode("ab").tolist() == [1, 2]
    with pytest.raises(RuntimeError, match="fit"):
        sequence.CharVectorizer().encode("a")
    with pytest.raises(ValueError, match="unknown must be one of"):
        sequence.CharVectorizer(unknown="drop")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 3\)"):
        sequence.CharVectorizer().fit("ab").decode([5])


# --------------------------------------------------------------- pad_collate
class _Ragged(Dataset):
    def __init__(self):
        self.items = [([1, 2, 3], 0), ([4], 1), ([5, 6], 1), ([7, 8, 9, 10], 0)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_pad_collate_with_dataloader():
    loader = DataLoader(_Ragged(), batch_size=2, shuffle=False, collate_fn=sequence.pad_collate)
    batches = list(loader)
    x, y = batches[0]
    assert x.tolist() == [[1, 2, 3], [4, 0, 0]] and y.tolist() == [0, 1]
    assert batches[1][0].shape == (2, 4)
    loader = DataLoader(_Ragged(), batch_size=4, collate_fn=functools.partial(sequence.pad_collate, lengths=True))
    x, lengths, y = next(iter(loader))
    assert lengths.tolist() == [3, 1, 2, 4]
    x, mask, y = sequence.pad_collate(_Ragged().items[:2], mask=True, padding="pre")
    assert x.tolist() == [[1, 2, 3], [0, 0, 4]]
    assert mask.tolist() == [[True, True, True], [False, False, True]]
    assert sequence.pad_collate([[1], [2, 3]]).tolist() == [[1, 0], [2, 3]]
    with pytest.raises(ValueError, match="not both"):
        sequence.pad_collate(_Ragged().items, lengths=True, mask=True)


def test_padded_batches_train_a_masked_model():
    """pad_collate + Embedding(mask_zero) + GRU: a model fits batches of variable-length sequences."""
    import nerve
    from nerve import layers

    rng = numpy.random.default_rng(0)
    items = []
    for _ in range(64):
        n = int(rng.integers(2, 8))
        seq = rng.integers(1, 5, size=n)
        items.append((seq, int(seq[-1] > 2)))

    class Items(Dataset):
        def __len__(self):
            return len(items)

        def __getitem__(self, i):
            return items[i]

    nerve.random.seed(0)
    model = nerve.Sequential([layers.Embedding(5, 4, mask_zero=True), layers.GRU(8), layers.Dense(2, activation="softmax")])
    model.compile(optimizer=nerve.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    loader = DataLoader(Items(), batch_size=16, shuffle=True, collate_fn=sequence.pad_collate)
    history = model.fit(loader, epochs=15, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
