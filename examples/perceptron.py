"""Rosenblatt's perceptron: it learns AND, OR and any separable set, and loops forever on XOR.

A threshold unit ``step(w . x + b)`` trained by the perceptron rule (no gradients,
:class:`nerve.applications.Perceptron`) on four problems:

* AND and OR on the corners of the unit square;
* a 2-D cloud of 200 points on both sides of a line (a gap of 0.2 around it);
* XOR, which no line separates.

Then a two-layer network (2 -> Dense 4 tanh -> Dense 1 sigmoid) trained by backpropagation
on XOR, which gets all four corners right. With matplotlib (``pip install nerve[plot]``) the
example draws the decision boundary after every epoch (``runs/perceptron/*.png``).

Measured (seed 0, the defaults, about 2 s): AND converges after 6 epochs (11 mistakes), OR after 4
(5 mistakes), the 2-D cloud after 2 epochs (8 mistakes; Novikoff's bound for the generating line is
273); on XOR the weights come back to an earlier epoch's after 3 epochs (3, 3 and 4 mistakes), so the
rule would cycle forever, at 50% accuracy; the two-layer network gets 100% on XOR after 500 Adam steps.

Run:
    python examples/perceptron.py
    python examples/perceptron.py --no-plot
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import nerve
from nerve import layers
from nerve.applications import Perceptron

CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def separable_cloud(seed=0, n=200):
    """``n`` points in [-1, 1]^2 labelled by the side of the line x2 = 0.8 x1 + 0.1, none within 0.1 of it."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(4 * n, 2))
    side = x[:, 1] - 0.8 * x[:, 0] - 0.1
    keep = np.abs(side) / np.hypot(0.8, 1.0) > 0.1
    x, side = x[keep][:n], side[keep][:n]
    return x, (side > 0).astype(int)


def novikoff_bound(x, separator):
    """``(R / gamma)^2`` for the separating ``(w, b)`` given, on the inputs with a constant 1 appended."""
    augmented = np.hstack([x, np.ones((len(x), 1))])
    gamma = np.min(np.abs(augmented @ separator)) / np.linalg.norm(separator)
    return (np.max(np.linalg.norm(augmented, axis=1)) / gamma) ** 2


def two_layer_xor(seed=0, steps=500):
    nerve.random.seed(seed)
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(4, activation="tanh"),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=nerve.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    labels = np.array([[0], [1], [1], [0]], dtype="float32")
    model.fit(CORNERS.astype("float32"), labels, epochs=steps, batch_size=4, verbose=0)
    return model, float(np.mean((model.predict(CORNERS.astype("float32"), verbose=0) > 0.5) == labels))


def plot_epochs(name, x, labels, model, outdir):
    """One panel per epoch: the samples and the line ``w . x + b = 0`` after that epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    states = model.history_[1:]
    columns = min(len(states), 6)
    rows = -(-len(states) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.6 * rows), squeeze=False)
    low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    grid = np.stack(np.meshgrid(np.linspace(low[0], high[0], 120), np.linspace(low[1], high[1], 120)), axis=-1)
    for ax in axes.ravel():
        ax.set_visible(False)
    for epoch, ((weights, bias), ax) in enumerate(zip(states, axes.ravel()), start=1):
        ax.set_visible(True)
        fires = (grid @ weights + bias >= 0).astype(float)
        ax.contourf(grid[..., 0], grid[..., 1], fires, levels=[-0.5, 0.5, 1.5], colors=["#dde6f5", "#f7dede"])
        ax.scatter(x[:, 0], x[:, 1], c=np.where(labels == model.classes_[1], "tab:red", "tab:blue"), s=18)
        ax.set_title(f"epoch {epoch}: {model.mistakes_[epoch - 1]} mistakes", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"perceptron on {name}: " + ("converged" if model.converged_ else "cycles (not separable)"))
    fig.tight_layout()
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, f"perceptron_{name.lower().replace(' ', '_')}.png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--xor-steps", type=int, default=500, help="Adam steps for the two-layer network on XOR")
    parser.add_argument("--outdir", default=os.path.join("runs", "perceptron"))
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)

    cloud_x, cloud_y = separable_cloud(args.seed)
    problems = {"AND": (CORNERS, np.array([0, 0, 0, 1])), "OR": (CORNERS, np.array([0, 1, 1, 1])),
                "2-D cloud": (cloud_x, cloud_y), "XOR": (CORNERS, np.array([0, 1, 1, 0]))}
    can_plot = not args.no_plot
    if can_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("matplotlib is not installed (pip install nerve[plot]): no pictures")
            can_plot = False
    print(f"{'problem':10s} {'epochs':>6s} {'mistakes':>8s}  per epoch               result")
    for name, (x, labels) in problems.items():
        model = Perceptron(max_epochs=args.max_epochs).fit(x, labels)
        outcome = ("converged" if model.converged_ else
                   "cycles: the weights came back to an earlier epoch's" if model.cycled_ else "not converged")
        per_epoch = " ".join(map(str, model.mistakes_[:10])) + (" ..." if len(model.mistakes_) > 10 else "")
        print(f"{name:10s} {model.epochs_:6d} {sum(model.mistakes_):8d}  {per_epoch:22s}  {outcome}, "
              f"accuracy {model.score(x, labels):.0%}")
        if name == "2-D cloud":
            print(f"{'':10s} Novikoff's bound for the separator (-0.8, 1, -0.1): at most "
                  f"{novikoff_bound(x, np.array([-0.8, 1.0, -0.1])):.0f} mistakes")
        if can_plot:
            print(f"{'':10s} decision boundary per epoch: {plot_epochs(name, x, labels, model, args.outdir)}")
    _, accuracy = two_layer_xor(args.seed, args.xor_steps)
    print(f"two-layer network (2-4-1, tanh, backpropagation) on XOR after {args.xor_steps} Adam steps: "
          f"accuracy {accuracy:.0%}")


if __name__ == "__main__":
    main()
