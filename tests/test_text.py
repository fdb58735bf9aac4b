"""TextVectorization, StringLookup and IntegerLookup: Keras semantics, output modes, config round trips."""

import json

import numpy as np
import pytest

from nerve import layers

TEXTS = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog, a mat"]


def test_adapt_orders_by_frequency_and_caps_max_tokens():
    vectorize = layers.TextVectorization(max_tokens=6)
    vectorize.adapt(TEXTS)
    vocabulary = vectorize.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and len(vocabulary) == 6
    assert set(vocabulary[2:4]) == {"the", "a"}  # 3 times each, then cat/dog/mat (2 each)
    assert vocabulary[4] in {"cat", "dog", "mat"}


def test_int_mode_pads_truncates_and_maps_unknown():
    vectorize = layers.TextVectorization(output_sequence_length=5, vocabulary=["the", "cat", "sat"])
    out = vectorize(["the cat sat on the mat", "Cat!"]).numpy()
    assert out.tolist() == [[2, 3, 4, 1, 2], [3, 0, 0, 0, 0]]
    assert out.dtype == np.int64
    ragged = layers.TextVectorization(vocabulary=["a"])(["a a a", "a"]).numpy()
    assert ragged.shape == (2, 3)  # without output_sequence_length: the longest text of the batch


def test_standardize_split_and_ngrams():
    raw = layers.TextVectorization(standardize=None, split="character", vocabulary=["A", "b"])
    assert raw(["Ab!"]).tolist() == [[2, 3, 1]]
    custom = layers.TextVectorization(standardize=lambda s: s.replace("-", " "), split=lambda s: s.split(" "),
                                      vocabulary=["x", "y"])
    assert custom(["x-y"]).tolist() == [[2, 3]]
    bigrams = layers.TextVectorization(ngrams=(2,), vocabulary=["a b", "b c"])
    assert bigrams(["a b c"]).tolist() == [[2, 3]]


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_bag_of_words_modes(mode):
    vectorize = layers.TextVectorization(output_mode=mode, max_tokens=10, pad_to_max_tokens=True)
    vectorize.adapt(TEXTS)
    vocabulary = vectorize.get_vocabulary()
    out = vectorize(["the the cat zebra"]).numpy()
    assert out.shape == (1, 10)
    counts = np.zeros(10)
    for token in ["the", "the", "cat"]:
        counts[vocabulary.index(token)] += 1
    counts[0] += 1  # zebra: unknown
    if mode == "multi_hot":
        np.testing.assert_array_equal(out[0], np.minimum(counts, 1))
    elif mode == "count":
        np.testing.assert_array_equal(out[0], counts)
    else:
        documents = [set(vectorize._tokens_of(t)) for t in TEXTS]
        idf = np.array([np.log(1 + 3 / (1 + sum(t in d for d in documents))) for t in vocabulary[1:]])
        weights = np.zeros(10)
        weights[1:len(vocabulary)] = idf
        weights[0] = idf.mean()
        np.testing.assert_allclose(out[0], counts * weights, rtol=1e-6)


def test_config_keeps_vocabulary_and_idf():
    vectorize = layers.TextVectorization(output_mode="tf_idf", ngrams=2)
    vectorize.adapt(TEXTS)
    config = json.loads(json.dumps(layers.serialize(vectorize)))
    again = layers.deserialize(config)
    assert again.get_vocabulary() == vectorize.get_vocabulary()
    np.testing.assert_array_equal(again(TEXTS).numpy(), vectorize(TEXTS).numpy())
    ints = layers.TextVectorization(output_sequence_length=4)
    ints.adapt(TEXTS)
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(ints))))
    np.testing.assert_array_equal(again(TEXTS).numpy(), ints(TEXTS).numpy())


def test_string_lookup_modes_mask_and_invert():
    lookup = layers.StringLookup(vocabulary=["a", "b", "c"], mask_token="")
    assert lookup.get_vocabulary() == ["", "[UNK]", "a", "b", "c"]
    assert lookup([["a", ""], ["z", "c"]]).tolist() == [[2, 0], [1, 4]]
    inverse = layers.StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inverse(np.array([3, 1, 0])).tolist() == ["c", "a", "[UNK]"]
    one_hot = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")(["b", "q"]).numpy()
    assert one_hot.tolist() == [[0, 0, 1], [1, 0, 0]]
    multi = layers.StringLookup(vocabulary=["a", "b"], output_mode="count")([["a", "a", "q"]]).numpy()
    assert multi.tolist() == [[1, 2, 0]]


def test_string_lookup_oov_buckets_and_errors():
    lookup = layers.StringLookup(vocabulary=["a"], num_oov_indices=3)
    ids = lookup(["x", "y", "z", "w", "a"]).numpy()
    assert ids[-1] == 3 and set(ids[:-1].tolist()) <= {0, 1, 2}
    assert lookup(["x"]).tolist() == lookup(["x"]).tolist()  # the same bucket every time
    strict = layers.StringLookup(vocabulary=["a"], num_oov_indices=0, name="strict")
    with pytest.raises(ValueError, match=r"layer 'strict' \(StringLookup\): num_oov_indices=0"):
        strict(["b"])
    with pytest.raises(ValueError, match="repeated tokens"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.StringLookup(output_mode="bag")


def test_integer_lookup():
    lookup = layers.IntegerLookup()
    lookup.adapt(np.array([[7, 7, 3], [3, 7, 9]]))
    assert lookup.get_vocabulary() == [-1, 7, 3, 9]
    assert lookup(np.array([[9, 4]])).tolist() == [[3, 0]]
    inverse = layers.IntegerLookup(vocabulary=lookup.get_vocabulary(), invert=True)
    assert inverse(np.array([1, 2])).tolist() == [7, 3]
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(lookup))))
    assert again.get_vocabulary() == lookup.get_vocabulary()
