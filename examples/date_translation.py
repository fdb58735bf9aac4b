"""Translation with an encoder-decoder Transformer: dates written in many ways, translated to ISO 8601.

The task is generated on the fly, by rules: a random date between 1950 and 2049 is written in one of
twelve styles ("Friday, March 5, 2021", "the 5th of march 2021", "05.03.2021", "3/5/21"...) and
the model must write it as ``2021-03-05``. Like a real translation, the output is produced one
character at a time, each depending on the source sentence *and* on the characters already
written; unlike a real one, exact-match accuracy on held-out dates tells plainly whether it works.

Model (character level): the source goes through ``TokenAndPositionEmbedding(mask_zero=True)`` (the
padding is masked out of every attention) and a ``TransformerEncoder``; the target, shifted right
behind a start symbol, through a ``TransformerDecoder`` (causal self-attention, then
cross-attention to the encoder's output) and a ``Dense`` layer giving next-character logits.
Training uses teacher forcing; translating uses greedy decoding, one character at a time.
With ``--gru`` it also trains the translation models that came before the Transformer for
comparison: a bidirectional GRU encoder and a GRU decoder with additive (Bahdanau) attention.

Measured (seed 0, default settings: 5 epochs on 12,000 pairs, 1000 held-out dates): the
Transformer (97,852 parameters) translates 97.9% to 99.0% of them exactly (two runs: float32
rounding differs with the BLAS's threads under load), 135 s of training on a quiet 2-core machine;
``--gru``: the GRU with additive attention (151,996 parameters) 93.0%, 437 s. ``--quick`` (the
test's setting: 3000 pairs, 4 epochs, d_model 32) 32%.

Run:
    python examples/date_translation.py
    python examples/date_translation.py --gru
"""

from __future__ import annotations

import argparse
import datetime
import time

import numpy as np

import nerve
from nerve import layers

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


STYLES = [
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3].lower()} {d.year}",
    lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1].lower()} {d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",                # US order
    lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",      # two-digit years: 50-99 -> 19xx, 00-49 -> 20xx
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",        # European order with dots
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{MONTHS[d.month - 1].upper()} {ordinal(d.day).upper()}, {d.year}",
    lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year % 100:02d}",
]

START, PAD = "^", "\0"


def random_dates(rng, n):
    first = datetime.date(1950, 1, 1).toordinal()
    last = datetime.date(2049, 12, 31).toordinal()
    return [datetime.date.fromordinal(int(o)) for o in rng.integers(first, last + 1, size=n)]


def make_pairs(rng, n, exclude=frozenset()):
    pairs = []
    while len(pairs) < n:
        for d in random_dates(rng, n):
            source = STYLES[rng.integers(len(STYLES))](d)
            if source not in exclude:
                pairs.append((source, d.isoformat()))
    return pairs[:n]


class Chars:
    """Characters <-> ids; id 0 is padding."""

    def __init__(self, texts):
        self.chars = [PAD] + sorted(set("".join(texts)) | {START})
        self.index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, texts, length):
        out = np.zeros((len(texts), length), dtype="int64")
        for row, text in enumerate(texts):
            ids = [self.index[c] for c in text[:length]]
            out[row, :len(ids)] = ids
        return out

    def decode(self, ids):
        return "".join(self.chars[i] for i in ids if i)


def transformer(source_vocab, target_vocab, source_length, target_length, dim, heads, layers_):
    src = nerve.Input(shape=(source_length,), dtype="int64", name="source")
    tgt = nerve.Input(shape=(target_length,), dtype="int64", name="target_in")
    x = layers.TokenAndPositionEmbedding(source_vocab, source_length, dim, mask_zero=True)(src)
    for _ in range(layers_):
        x = layers.TransformerEncoder(intermediate_dim=2 * dim, num_heads=heads)(x)
    y = layers.TokenAndPositionEmbedding(target_vocab, target_length, dim)(tgt)
    for _ in range(layers_):
        y = layers.TransformerDecoder(intermediate_dim=2 * dim, num_heads=heads)(y, x)
    return nerve.Model([src, tgt], layers.Dense(target_vocab)(y), name="date_transformer")


def gru_with_attention(source_vocab, target_vocab, source_length, target_length, units):
    """Bahdanau-style: bidirectional GRU encoder, GRU decoder, additive attention, then a Dense layer."""
    src = nerve.Input(shape=(source_length,), dtype="int64", name="source")
    tgt = nerve.Input(shape=(target_length,), dtype="int64", name="target_in")
    enc = layers.Bidirectional(layers.GRU(units, return_sequences=True))(
        layers.Embedding(source_vocab, 32, mask_zero=True)(src))
    dec = layers.GRU(2 * units, return_sequences=True)(layers.Embedding(target_vocab, 32)(tgt))
    keys = layers.Dense(2 * units, use_bias=False)(enc)        # W1 h
    queries = layers.Dense(2 * units, use_bias=False)(dec)     # W2 s
    context = layers.AdditiveAttention()([queries, enc, keys])
    out = layers.Dense(target_vocab)(layers.Concatenate()([dec, context]))
    return nerve.Model([src, tgt], out, name="date_gru_attention")


def translate(model, chars, sources, source_length, target_length):
    """Greedy decoding, all sentences at once: one character per step, fed back as the next input."""
    src = chars.encode(sources, source_length)
    target = np.zeros((len(sources), target_length), dtype="int64")
    target[:, 0] = chars.index[START]
    with nerve.no_grad():
        for t in range(target_length - 1):  # the answer fills positions 1..10 (the last prediction is the end)
            logits = model.predict([src, target], verbose=0, batch_size=256)
            target[:, t + 1] = logits[:, t].argmax(-1)
    return [chars.decode(row[1:]) for row in target]


def train_and_score(name, model, data, args):
    (x_train, y_train), (x_val, y_val), chars, sources, answers, lengths = data
    model.compile(optimizer=nerve.optimizers.Adam(args.learning_rate),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2 if args.verbose else 0,
              validation_data=(x_val, y_val))
    seconds = time.perf_counter() - start
    predictions = translate(model, chars, sources, *lengths)
    accuracy = 100.0 * np.mean([p == a for p, a in zip(predictions, answers)])
    print(f"{name}: exact match {accuracy:.1f}% on {len(answers)} held-out dates "
          f"({model.count_params():,} parameters, trained in {seconds:.0f} s)")
    return predictions, accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=12000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--gru", action="store_true", help="also train a GRU encoder-decoder with additive attention")
    parser.add_argument("--quick", action="store_true", help="a short run for tests")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.test, args.epochs, args.dim = 3000, 200, 4, 32

    nerve.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_pairs = make_pairs(rng, args.train)
    test_pairs = make_pairs(rng, args.test, exclude=frozenset(s for s, _ in train_pairs))  # unseen sentences
    sources = [s for s, _ in train_pairs]
    chars = Chars(sources + [t for _, t in train_pairs] + [s for s, _ in test_pairs])
    source_length = max(len(s) for s, _ in train_pairs + test_pairs)
    target_length = 11  # START + 10 characters in, the 10 characters (+ nothing) out

    def arrays(pairs):
        src = chars.encode([s for s, _ in pairs], source_length)
        full = chars.encode([START + t for _, t in pairs], target_length + 1)
        return [src, full[:, :-1]], full[:, 1:]

    x_train, y_train = arrays(train_pairs)
    x_val, y_val = arrays(test_pairs[:200])
    print(f"{len(train_pairs)} training pairs, {len(test_pairs)} held-out; e.g. {train_pairs[0][0]!r} -> "
          f"{train_pairs[0][1]!r}; {len(chars.chars)} characters")
    data = ((x_train, y_train), (x_val, y_val), chars, [s for s, _ in test_pairs], [t for _, t in test_pairs],
            (source_length, target_length))
    vocab = len(chars.chars)
    model = transformer(vocab, vocab, source_length, target_length, args.dim, args.heads, args.layers)
    predictions, _ = train_and_score("Transformer", model, data, args)
    for (source, answer), guess in list(zip(test_pairs, predictions))[:5]:
        print(f"  {source:<36} -> {guess}  {'ok' if guess == answer else 'expected ' + answer}")
    if args.gru:
        nerve.random.seed(args.seed)
        train_and_score("GRU + additive attention", gru_with_attention(vocab, vocab, source_length, target_length,
                                                                        args.dim), data, args)


if __name__ == "__main__":
    main()
