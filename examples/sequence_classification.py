"""Sequence classification: the sentiment of short generated "reviews", where word order matters.

The data set is generated deterministically (``make_reviews`` below): sentences
of 4 to 30 words built from neutral words ("the", "plot", "was"...), positive
and negative words, and "not", which flips the word after it ("not good" is
negative). The label is the sign of the summed sentiment, so a model must read
the order, not just count words. Sentences are padded with
``nerve.sequence.pad_sequences(padding="post")`` and id 0 is masked by
``Embedding(mask_zero=True)``, so the padding does not change the result; a
``Bidirectional(GRU)`` reads each sentence in both directions.

The script prints the test accuracy, the accuracy on sentences whose label
depends on a "not", and a few predictions.

Run:
    python examples/sequence_classification.py            # about a minute on 2 cores
    python examples/sequence_classification.py --epochs 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nerve
from nerve import layers
from nerve.sequence import pad_sequences

POSITIVE = ["good", "great", "excellent", "wonderful", "lovely", "fine", "superb"]
NEGATIVE = ["bad", "awful", "terrible", "boring", "poor", "dull", "weak"]
NEUTRAL = ["the", "movie", "film", "plot", "acting", "was", "is", "and", "but", "really", "quite", "very",
           "story", "a", "this", "music", "ending", "cast", "it", "so"]
VOCABULARY = ["<pad>", "not"] + POSITIVE + NEGATIVE + NEUTRAL
WORD_ID = {w: i for i, w in enumerate(VOCABULARY)}


def make_reviews(n, seed):
    """``n`` sentences (lists of words), labels (1 positive), and whether a "not" decided the label."""
    rng = np.random.default_rng(seed)
    sentences, labels, negated = [], [], []
    while len(sentences) < n:
        words, score, flips = [], 0, 0
        for _ in range(int(rng.integers(4, 31))):
            kind = rng.choice(["neutral", "pos", "neg", "not"], p=[0.6, 0.15, 0.15, 0.1])
            if kind == "neutral":
                words.append(str(rng.choice(NEUTRAL)))
                continue
            if kind == "not":
                polarity = int(rng.choice([1, -1]))
                words += ["not", str(rng.choice(POSITIVE if polarity > 0 else NEGATIVE))]
                score -= polarity
                flips -= polarity
                continue
            words.append(str(rng.choice(POSITIVE if kind == "pos" else NEGATIVE)))
            score += 1 if kind == "pos" else -1
        if score == 0:
            continue  # no clear label: draw again
        sentences.append(words)
        labels.append(int(score > 0))
        negated.append(np.sign(score) != np.sign(score - 2 * flips))  # ignoring "not" would flip the label
    return sentences, np.array(labels), np.array(negated)


def encode(sentences, maxlen=31):
    return pad_sequences([[WORD_ID[w] for w in s] for s in sentences], maxlen=maxlen, padding="post")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    nerve.random.seed(args.seed)
    train_text, y_train, _ = make_reviews(4000, seed=args.seed)
    test_text, y_test, test_negated = make_reviews(1000, seed=args.seed + 1)
    x_train, x_test = encode(train_text), encode(test_text)
    print(f"{len(x_train)} training and {len(x_test)} test sentences, padded to {x_train.shape[1]} words; "
          f"{y_train.mean():.0%} positive; {test_negated.mean():.0%} of test labels decided by a 'not'")

    model = nerve.Sequential([
        nerve.Input(shape=(x_train.shape[1],), dtype="int64"),
        layers.Embedding(len(VOCABULARY), 16, mask_zero=True),
        layers.Bidirectional(layers.GRU(32)),
        layers.Dense(2, activation="softmax"),
    ], name="review_sentiment")
    model.compile(optimizer=nerve.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, validation_split=0.1, verbose=2)
    print(f"trained in {time.perf_counter() - start:.0f} s")

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    negated_accuracy = float((predicted[test_negated] == y_test[test_negated]).mean())
    print(f"test accuracy {accuracy:.3f} (chance {max(y_test.mean(), 1 - y_test.mean()):.3f}); "
          f"on sentences decided by a 'not': {negated_accuracy:.3f}")
    for words, label, guess in list(zip(test_text, y_test, predicted))[:5]:
        print(f"  [{'+' if guess else '-'}{'' if guess == label else ' WRONG'}] {' '.join(words)}")


if __name__ == "__main__":
    main()
