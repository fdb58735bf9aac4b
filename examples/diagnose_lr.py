"""Choosing the learning rate: the range test's suggestion against a real sweep, and what "too high" looks like.

1. ``model.find_lr`` (``nerve.diagnostics.lr_finder``) trains for 200 batches
   while raising the learning rate exponentially from 1e-7 to 10, then puts
   the weights and optimizer state back. The loss falls, reaches a minimum and
   explodes; the suggestion is a tenth of the rate at the minimum.
2. A sweep trains the same digits MLP from scratch at several learning rates
   and reports the validation accuracy of each: the suggestion should land
   within a factor of 10 of the best one.
3. A learning rate 1000x too high: the HealthMonitor reports divergence (the
   loss goes up), huge updates and dead ReLUs, in plain words.

Run:
    python examples/diagnose_lr.py                 # Adam; 2 epochs per swept rate
    python examples/diagnose_lr.py --optimizer sgd
    python examples/diagnose_lr.py --quick         # fewer rates, 1 epoch, 1000 digits
    python examples/diagnose_lr.py --plot out/     # save the range-test curve (needs nerve[plot])
"""

from __future__ import annotations

import argparse
import os

import nerve
from nerve import diagnostics, layers

OPTIMIZERS = {
    "adam": lambda lr: nerve.optimizers.Adam(lr),
    "sgd": lambda lr: nerve.optimizers.SGD(lr),
    "momentum": lambda lr: nerve.optimizers.SGD(lr, momentum=0.9),
}


def digits_mlp(optimizer, seed=0):
    nerve.random.seed(seed)
    nerve.layers.reset_names()  # dense, dense_1, dense_2 in every model
    model = nerve.Sequential([
        nerve.Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ], name="digits_mlp")
    model.compile(optimizer=optimizer, loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per learning rate in the sweep")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", default=None, help="folder for the range-test picture")
    args = parser.parse_args(argv)
    make = OPTIMIZERS[args.optimizer]
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    if args.quick:
        x_train, y_train, epochs = x_train[:1000], y_train[:1000], 1
        rates = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    else:
        epochs = args.epochs
        rates = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]

    model = digits_mlp(make(1e-3))
    result = model.find_lr(x_train, y_train, num_steps=200, batch_size=64)
    print(f"range test ({args.optimizer}, {len(result.lrs)} batches): loss lowest at lr {result.min_loss_lr:.3g}, "
          f"falls fastest at {result.steepest_lr:.3g}; suggested learning rate {result.suggestion:.3g}")
    if args.plot:
        os.makedirs(args.plot, exist_ok=True)
        path = os.path.join(args.plot, f"lr_finder_{args.optimizer}.png")
        result.plot().savefig(path)
        print(f"saved {path}")

    print(f"\nsweep: {epochs} epoch(s) from scratch per learning rate, validation on {len(x_test)} test digits")
    accuracy = {}
    for lr in rates:
        m = digits_mlp(make(lr))
        m.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
        accuracy[lr] = m.evaluate(x_test, y_test, verbose=0)[1]
        print(f"  lr {lr:<8g} accuracy {accuracy[lr]:.1%}")
    best = max(accuracy, key=accuracy.get)
    factor = max(result.suggestion / best, best / result.suggestion)
    print(f"best swept learning rate {best:g}; the suggestion {result.suggestion:.3g} is within a factor of "
          f"{factor:.1f} of it: {'yes' if factor <= 10 else 'NO'} (within 10x)")

    too_high = best * 1000
    print(f"\n=== a learning rate 1000x the best: {too_high:g} ===")
    m = digits_mlp(make(too_high))
    monitor = diagnostics.HealthMonitor(probe=x_test[:256], verbose=0)
    history = m.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0, callbacks=[monitor])
    print("training loss per epoch:", ", ".join(f"{v:.3g}" for v in history.history["loss"]))
    print(monitor.summary())
    print(f"verdict: {'divergence' if 'divergence' in monitor.kinds() else 'no divergence'}")


if __name__ == "__main__":
    main()
