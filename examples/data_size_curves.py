"""Performance versus amount of data: a linear model plateaus, neural networks keep improving.

The lectures' picture (Andrew Ng's "scale drives deep learning progress"): with little data, every method
is about as good; as the training set grows, a classical model's accuracy levels off while bigger and
bigger neural networks keep turning more data into more accuracy.

On the bundled MNIST digits (:func:`nerve.datasets.load_digits_5k`: 4,000 training and 1,000 test images),
trained on growing subsets (the same 1,000 test images for all):

* logistic regression (scikit-learn's ``LogisticRegression``, C=1; nerve's own softmax regression, a
  ``Dense(10)`` trained with Adam, when scikit-learn is not installed);
* an MLP 784 -> 256 -> 128 -> 10 (ReLU, dropout 0.2);
* a CNN (LeNet-5, :func:`nerve.applications.LeNet5`).

The networks train with Adam (1e-3, batches of 32) for about 3,000 examples' worth of steps per size at the
least (``epochs = max(4, 12,000 // size)``, at most 30).

Measured (seed 0, 2 shared CPU cores, 3.5 min of CPU):

=====  ===================  =====  =====
size   logistic regression  MLP    CNN
=====  ===================  =====  =====
100    73.2%                77.2%  81.2%
250    82.3%                85.9%  88.3%
500    85.8%                89.3%  92.7%
1000   87.5%                91.2%  92.5%
2000   88.2%                92.4%  94.8%
4000   88.7%                94.4%  95.6%
=====  ===================  =====  =====

From 1,000 to 4,000 images logistic regression gains 1.2 points (0.5 over the last doubling: it has
levelled off near 89%), the MLP 3.2 and the CNN 3.1 (still 2.0 and 0.8 over the last doubling). The CNN's
dip at 1,000 images is the training budget: 12 epochs there against 24 at 500.

Run:
    python examples/data_size_curves.py                 # all sizes, PNG in runs/data_size/
    python examples/data_size_curves.py --sizes 100 400 --epochs-cap 3
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import nerve
from nerve import layers


def logistic_regression(x_train, y_train, x_test, y_test, seed):
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:  # nerve's own softmax regression
        nerve.random.seed(seed)
        model = nerve.Sequential([nerve.Input(shape=(784,)), layers.Dense(10, activation="softmax")])
        model.compile(optimizer=nerve.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
        model.fit(x_train, y_train, epochs=100, batch_size=len(x_train), verbose=0)
        return float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test)), "softmax regression (nerve)"
    model = LogisticRegression(C=1.0, max_iter=2000).fit(x_train, y_train)
    return float(model.score(x_test, y_test)), "logistic regression (scikit-learn)"


def mlp(seed):
    nerve.random.seed(seed)
    return nerve.Sequential([nerve.Input(shape=(784,)), layers.Dense(256, activation="relu"), layers.Dropout(0.2),
                             layers.Dense(128, activation="relu"), layers.Dropout(0.2),
                             layers.Dense(10, activation="softmax")])


def cnn(seed):
    nerve.random.seed(seed)
    return nerve.applications.LeNet5(input_shape=(28, 28, 1), num_classes=10)


def network_accuracy(model, x_train, y_train, x_test, y_test, epochs):
    model.compile(optimizer=nerve.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))


def plot(sizes, results, outdir):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install nerve[plot]): no picture")
        return
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, accuracies in results.items():
        ax.plot(sizes, 100 * np.asarray(accuracies), marker="o", label=name)
    ax.set_xscale("log"), ax.set_xlabel("training images (log scale)"), ax.set_ylabel("test accuracy (%)")
    ax.set_title("MNIST digits: accuracy against the amount of data")
    ax.grid(alpha=0.3), ax.legend()
    fig.tight_layout()
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "data_size_curves.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"picture: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 250, 500, 1000, 2000, 4000])
    parser.add_argument("--epochs-cap", type=int, default=30, help="most epochs for the networks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outdir", default=os.path.join("runs", "data_size"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(seed=args.seed)
    order = np.random.default_rng(args.seed).permutation(len(x_train))  # nested subsets: each contains the last
    flat_train, flat_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    images_train, images_test = x_train[..., None], x_test[..., None]
    results = {}
    print(f"{'size':>5s}  {'linear':>7s}  {'MLP':>6s}  {'CNN':>6s}")
    for size in args.sizes:
        chosen = order[:size]
        epochs = int(min(args.epochs_cap, max(4, 12_000 // size)))
        linear, linear_name = logistic_regression(flat_train[chosen], y_train[chosen], flat_test, y_test, args.seed)
        dense = network_accuracy(mlp(args.seed), flat_train[chosen], y_train[chosen], flat_test, y_test, epochs)
        conv = network_accuracy(cnn(args.seed), images_train[chosen], y_train[chosen], images_test, y_test, epochs)
        for name, value in ((linear_name, linear), ("MLP 784-256-128-10", dense), ("CNN (LeNet-5)", conv)):
            results.setdefault(name, []).append(value)
        print(f"{size:5d}  {linear:7.1%}  {dense:6.1%}  {conv:6.1%}   ({epochs} epochs, {time.perf_counter() - start:.0f}s)",
              flush=True)
    names = list(results)
    if len(args.sizes) > 1:
        first = max(0, len(args.sizes) - 3)
        gains = {name: results[name][-1] - results[name][first] for name in names}
        print(f"gain from {args.sizes[first]} to {args.sizes[-1]} training images: "
              + ", ".join(f"{name} {100 * gain:+.1f} points" for name, gain in gains.items()))
    plot(args.sizes, results, args.outdir)


if __name__ == "__main__":
    main()
