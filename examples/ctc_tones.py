"""Reading digit sequences out of audio with CTC: nobody tells the network which frame says which digit.

Synthetic audio at 8 kHz, 1 s per recording: a sequence of 1 to 5 digits, each a pure tone of its own
(digit ``d`` at ``350 + 300 d`` Hz, 80-140 ms, loudness varying), with random silences of 20-60 ms
between them and noise. A repeated digit ("7 7") is two tones with a silence between.

Features: :class:`nerve.layers.MelSpectrogram` (32 mel bands in dB, one frame every 16 ms: 63 frames),
standardised. The network labels every frame: Conv1D 64 (5) -> Conv1D 64 (5) -> Dense 11 logits, where class
0 is CTC's *blank* and class ``d + 1`` digit ``d``. The CTC loss (``loss="ctc"``) sums over every
alignment of the labels to the 63 frames, so training needs only the digit sequence of each recording,
not where the digits are. Reading out: :func:`nerve.ops.ctc_decode` takes the best class of every frame,
merges repeats and drops blanks.

Measured (2 shared CPU cores, the defaults: 2,000 training and 300 test recordings, 8 epochs, batches of
16, Adam 3e-3): the CTC loss per epoch goes 11.33, 0.48, 0.03, 0.01 ... 0.003; on the test recordings
99.0% of the sequences are read exactly and the label error rate (edit distance / digits) is 0.3%;
85 s of CPU.

Run:
    python examples/ctc_tones.py
    python examples/ctc_tones.py --epochs 4 --train 500
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nerve
from nerve import layers

RATE = 8000
LENGTH = 8000
MAX_DIGITS = 5


def tone_sequences(n, seed=0):
    """``n`` recordings ``(n, 8000)`` and their digits ``(n, 5)`` as labels 1-10 (digit + 1), padded with 0."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, MAX_DIGITS + 1, size=n)
    digits = rng.integers(0, 10, size=(n, MAX_DIGITS))
    used = np.arange(MAX_DIGITS)[None, :] < counts[:, None]
    tone = rng.uniform(0.08, 0.14, size=(n, MAX_DIGITS)) * RATE * used
    gap = rng.uniform(0.02, 0.06, size=(n, MAX_DIGITS)) * RATE * used
    starts = rng.uniform(0, 0.05, size=(n, 1)) * RATE + np.cumsum(gap + tone, axis=1) - tone  # each tone's start
    t = np.arange(LENGTH)[None, None, :]
    on = (t >= starts[:, :, None]) & (t < (starts + tone)[:, :, None]) & used[:, :, None]  # (n, 5, samples)
    frequency = (350.0 + 300.0 * digits)[:, :, None]
    loudness = rng.uniform(0.4, 1.0, size=(n, MAX_DIGITS, 1))
    audio = (on * loudness * np.sin(2 * np.pi * frequency * t / RATE)).sum(axis=1)
    audio += 0.05 * rng.normal(size=audio.shape)
    labels = np.where(used, digits + 1, 0)
    return audio.astype(np.float32), labels


def features(audio):
    mel = layers.MelSpectrogram(fft_length=256, sequence_stride=128, sampling_rate=RATE, num_mel_bins=32,
                                min_freq=100.0, max_freq=4000.0)
    return np.transpose(mel(audio).numpy(), (0, 2, 1))  # (n, frames, bands)


def edit_distance(a, b):
    """Levenshtein distance between two short sequences (dynamic programming over one row)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    x_train, y_train = tone_sequences(args.train, args.seed)
    x_test, y_test = tone_sequences(args.test, args.seed + 1)
    f_train, f_test = features(x_train), features(x_test)
    mean, std = f_train.mean(axis=(0, 1)), f_train.std(axis=(0, 1)) + 1e-6
    f_train, f_test = (f_train - mean) / std, (f_test - mean) / std
    nerve.random.seed(args.seed)
    model = nerve.Sequential([
        nerve.Input(shape=f_train.shape[1:]),
        layers.Conv1D(64, 5, padding="same", activation="relu"),
        layers.Conv1D(64, 5, padding="same", activation="relu"),
        layers.Dense(11),  # logits: blank + 10 digits, for every frame
    ], name="ctc_reader")
    model.compile(optimizer=nerve.optimizers.Adam(3e-3), loss="ctc")
    history = model.fit(f_train, y_train, epochs=args.epochs, batch_size=16, verbose=0)
    losses = history.history["loss"]
    print(f"{args.train} training recordings, {f_train.shape[1]} frames of {f_train.shape[2]} mel bands each; "
          f"CTC loss per epoch: {losses[0]:.2f} -> {losses[-1]:.3f}\n  ({' '.join(f'{v:.2f}' for v in losses)})")
    decoded, _ = nerve.ops.ctc_decode(model.predict(f_test, verbose=0))
    read = [[int(c) - 1 for c in row if c > 0] for row in decoded[0]]
    truth = [[int(c) - 1 for c in row if c > 0] for row in y_test]
    exact = np.mean([r == t for r, t in zip(read, truth)])
    errors = sum(edit_distance(r, t) for r, t in zip(read, truth)) / sum(len(t) for t in truth)
    for r, t in list(zip(read, truth))[:6]:
        print(f"  said {''.join(map(str, t)):6s} read {''.join(map(str, r)):6s} {'ok' if r == t else 'WRONG'}")
    print(f"test: {exact:.1%} of the sequences read exactly, label error rate {errors:.1%} "
          f"({time.perf_counter() - start:.0f}s)")


if __name__ == "__main__":
    main()
