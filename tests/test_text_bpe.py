"""BytePairTokenizer (byte-level BPE through the optional ``tokenizers`` package): round trips, padding, config."""

import json

import numpy as np
import pytest

import nerve
from nerve import layers

pytest.importorskip("tokenizers")

TEXTS = ["Shall I compare thee to a summer's day?", "Thou art more lovely and more temperate:",
         "Rough winds do shake the darling buds of May,", "And summer's lease hath all too short a date;"] * 5


def test_round_trip_padding_and_unseen_text():
    bpe = layers.BytePairTokenizer(vocabulary_size=320)
    bpe.adapt(TEXTS)
    vocabulary = bpe.get_vocabulary()
    assert vocabulary[0] == "<pad>" and 257 <= len(vocabulary) <= 320
    ids = bpe(["summer's day", "Zebras? ünïcödé!"]).numpy()
    assert ids.dtype == np.int64 and ids.shape[0] == 2 and (ids[0] != 0).sum() < len("summer's day")  # merged
    assert bpe.detokenize(ids) == ["summer's day", "Zebras? ünïcödé!"]  # byte level: nothing is unknown
    fixed = layers.BytePairTokenizer(vocabulary_size=320, sequence_length=4, tokenizer=bpe.get_config()["tokenizer"])
    assert fixed(["a", TEXTS[0]]).shape == (2, 4)
    assert fixed(["a"]).numpy()[0, 1:].tolist() == [0, 0, 0]


def test_config_keeps_the_tokenizer_and_model_files(tmp_path):
    bpe = layers.BytePairTokenizer(vocabulary_size=300, sequence_length=12)
    bpe.adapt(TEXTS)
    again = layers.deserialize(json.loads(json.dumps(layers.serialize(bpe))))
    np.testing.assert_array_equal(again(TEXTS[:3]).numpy(), bpe(TEXTS[:3]).numpy())
    ids = bpe(TEXTS[:4]).numpy()
    model = nerve.Sequential([nerve.Input(shape=(12,), dtype="int64"),
                              layers.TokenAndPositionEmbedding(300, 12, 8, mask_zero=True),
                              layers.TransformerEncoder(16, 2), layers.GlobalAveragePooling1D(), layers.Dense(1)])
    before = model.predict(ids, verbose=0)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve").predict(ids, verbose=0), before, rtol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match=r"layer 'bpe' \(BytePairTokenizer\) has no vocabulary yet"):
        layers.BytePairTokenizer(name="bpe")(["text"])
    with pytest.raises(ValueError, match="vocabulary_size must be >= 2"):
        layers.BytePairTokenizer(vocabulary_size=1)
