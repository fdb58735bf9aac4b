"""The universal approximation theorem, seen: one hidden layer fits a 1-D function better as it gets wider.

Target on [-pi, pi]: ``f(x) = sin(2x) + |x| / 2 - 0.3 x^2 / pi`` (smooth bumps plus a kink at 0).

1. By construction (the proof's idea): ``n`` steep sigmoid units, one per step of a staircase, with the
   output weights set to the function's increments; no training. The worst error shrinks like ``1 / n``.
2. By training: ``1 -> Dense(n, tanh) -> Dense(1)``, Adam (0.02) on 200 points for 1,500 full-batch steps.

Measured (seed 0; about 15 s of CPU):

=====  =======================  ===================
width  staircase (worst error)  trained (worst error)
=====  =======================  ===================
1      --                       1.150
2      --                       0.869
4      1.088                    0.738
8      0.413                    0.247
16     0.185                    0.084
64     0.045                    0.085
256    0.011                    --
=====  =======================  ===================

The theorem promises that *some* width is enough for any accuracy; it does not say that gradient descent
finds those weights (the trained width-64 net is no better than width 16 after the same number of steps),
nor how many units a given accuracy needs (in d dimensions a staircase needs ``(1 / error)^d`` of them:
depth is what avoids that).

Run:
    python examples/universal_approximation.py          # PNG in runs/universal_approximation/
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import nerve
from nerve import layers


def target(x):
    return np.sin(2 * x) + 0.5 * np.abs(x) - 0.3 * x ** 2 / np.pi


def staircase_network(n, low=-np.pi, high=np.pi, steepness=None):
    """``1 -> Dense(n, sigmoid) -> Dense(1)`` with weights set by hand: a sum of ``n`` smoothed steps."""
    grid = np.linspace(low, high, n + 1)
    centres = (grid[:-1] + grid[1:]) / 2  # where each step rises
    steepness = steepness or 10.0 * n / (high - low)
    model = nerve.Sequential([nerve.Input(shape=(1,)), layers.Dense(n, activation="sigmoid"), layers.Dense(1)])
    hidden, output = model.layers[-2], model.layers[-1]
    hidden.set_weights([np.full((1, n), steepness, dtype="float32"), (-steepness * centres).astype("float32")])
    rises = np.diff(target(grid))  # each unit adds the function's increment over its step
    output.set_weights([rises[:, None].astype("float32"), np.array([target(grid[0])], dtype="float32")])
    return model


def trained_network(width, x, y, steps=1500, seed=0):
    nerve.random.seed(seed)
    model = nerve.Sequential([nerve.Input(shape=(1,)), layers.Dense(width, activation="tanh"), layers.Dense(1)])
    model.compile(optimizer=nerve.optimizers.Adam(0.02), loss="mse")
    model.fit(x, y, epochs=steps, batch_size=len(x), verbose=0)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--staircase-widths", type=int, nargs="+", default=[4, 8, 16, 64, 256])
    parser.add_argument("--trained-widths", type=int, nargs="+", default=[1, 2, 4, 8, 16, 64])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--outdir", default=os.path.join("runs", "universal_approximation"))
    args = parser.parse_args(argv)
    x = np.linspace(-np.pi, np.pi, 200, dtype="float32")[:, None]
    y = target(x).astype("float32")
    dense_x = np.linspace(-np.pi, np.pi, 2001, dtype="float32")[:, None]
    curves = {}
    for n in args.staircase_widths:
        fitted = staircase_network(n).predict(dense_x, verbose=0)
        print(f"staircase of {n:4d} sigmoid units (no training): worst error {np.abs(fitted - target(dense_x)).max():.3f}")
        curves[f"staircase, {n} units"] = fitted
    for width in args.trained_widths:
        fitted = trained_network(width, x, y, args.steps).predict(dense_x, verbose=0)
        print(f"trained, {width:4d} tanh units ({args.steps} Adam steps): worst error "
              f"{np.abs(fitted - target(dense_x)).max():.3f}")
        curves[f"trained, {width} units"] = fitted
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install nerve[plot]): no picture")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, kind in zip(axes, ("staircase", "trained")):
        ax.plot(dense_x, target(dense_x), color="k", linewidth=2.5, label="f(x)")
        for name, fitted in curves.items():
            if name.startswith(kind):
                ax.plot(dense_x, fitted, linewidth=1, label=name)
        ax.set_title(f"one hidden layer, {kind}"), ax.legend(fontsize=7), ax.set_xlabel("x")
    fig.tight_layout()
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "universal_approximation.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"picture: {path}")


if __name__ == "__main__":
    main()
