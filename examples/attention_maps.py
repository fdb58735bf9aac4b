"""Pictures of attention: where each output character of the date translator looks in the source sentence.

Trains the encoder-decoder Transformer of ``examples/date_translation.py`` (a short run), translates
a few held-out dates, and records the decoder's cross-attention weights while it does: for each
character it writes (rows: ``2035-01-24``), how much weight each head gives to each source
character (columns). A trained model writes the year's digits while looking at the year in the
source, the month while looking at the month's name or number, and so on: a soft alignment it
learned with no alignment given. The weights are caught by wrapping the attention layer's
``attend`` method to ask for ``return_attention_scores=True``.

The maps are drawn with matplotlib when it is installed (``attention_maps.png``), and printed as
text (the strongest source character per output character) in any case.

Run:
    python examples/attention_maps.py              # about 2 minutes on 2 cores
    python examples/attention_maps.py --quick      # a rough model, for the tests
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import nerve

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import date_translation as dt  # noqa: E402


def record_cross_attention(decoder_block):
    """Wrap the block's cross-attention so each call keeps its weights ``(batch, heads, Tq, Tk)``; returns the list."""
    kept = []
    layer = decoder_block.cross_attention
    original = layer.attend

    def attend(query, keys, values, keep=None, training=None, return_attention_scores=False):
        out, scores = original(query, keys, values, keep, training, return_attention_scores=True)
        kept.append(scores.numpy())
        return (out, scores) if return_attention_scores else out

    layer.attend = attend
    return kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default="attention_maps.png")
    parser.add_argument("--quick", action="store_true", help="a rough model, for tests")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.epochs = 1500, 2

    nerve.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    pairs = dt.make_pairs(rng, args.train)
    shown = dt.make_pairs(rng, 3, exclude=frozenset(s for s, _ in pairs))
    chars = dt.Chars([s for s, _ in pairs + shown] + [t for _, t in pairs])
    source_length, target_length = max(len(s) for s, _ in pairs + shown), 11
    src = chars.encode([s for s, _ in pairs], source_length)
    full = chars.encode([dt.START + t for _, t in pairs], target_length + 1)
    vocab = len(chars.chars)
    model = dt.transformer(vocab, vocab, source_length, target_length, 32 if args.quick else 64, 4, 1)
    model.compile(optimizer=nerve.optimizers.Adam(2e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit([src, full[:, :-1]], full[:, 1:], batch_size=64, epochs=args.epochs, verbose=0)

    decoder = next(layer for layer in model.layers if isinstance(layer, nerve.layers.TransformerDecoder))
    kept = record_cross_attention(decoder)
    sources = [s for s, _ in shown]
    translations = dt.translate(model, chars, sources, source_length, target_length)
    weights = kept[-1]  # the last decoding step saw the whole translation: (batch, heads, target, source)
    maps = []
    for i, (source, translation) in enumerate(zip(sources, translations)):
        average = weights[i].mean(axis=0)[:len(translation), :len(source)]  # over heads; real characters only
        maps.append((source, translation, average))
        print(f"{source!r} -> {translation!r} (expected {shown[i][1]!r})")
        for t, char in enumerate(translation):
            j = int(average[t].argmax())
            print(f"  {char} looks most at {source[j]!r} (position {j}, weight {average[t, j]:.2f})")
    print(f"attention maps: {len(maps)} sentences, {weights.shape[1]} heads averaged")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture")
        return
    figure, axes = plt.subplots(len(maps), 1, figsize=(9, 3.2 * len(maps)))
    for ax, (source, translation, average) in zip(np.atleast_1d(axes), maps):
        ax.imshow(average, cmap="viridis", aspect="auto", vmin=0)
        ax.set_xticks(range(len(source)), list(source))
        ax.set_yticks(range(len(translation)), list(translation))
        ax.set_xlabel("source character")
        ax.set_ylabel("output")
    figure.tight_layout()
    figure.savefig(args.out, dpi=100)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
