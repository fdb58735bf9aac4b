"""Mixed precision on the bundled digits: the MLP and LeNet-5 trained in float32 and in "mixed_float16".

float16 arithmetic with float32 master weights and dynamic loss scaling (see docs/devices.md) should
learn what float32 learns. This trains each network twice from the same seed, once per policy, and
prints the test accuracy of both, their difference in points, the final loss scale and the number of
steps skipped on overflow, and the time per epoch (on a CPU float16 is emulated and slower; the point
here is the accuracy, the speed is a GPU's).

Run: python examples/mixed_precision_digits.py [--epochs-mlp 10] [--epochs-lenet 4] [--quick]
"""

from __future__ import annotations

import argparse
import time

import nerve
from nerve import layers, mixed_precision


def mlp(shape):
    return nerve.Sequential([nerve.Input(shape=shape), layers.Dense(128, activation="relu"),
                             layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax")])


def lenet(shape):
    return nerve.applications.LeNet5(input_shape=shape)


def train(build, data, policy, epochs, batch_size=64):
    (x, y), (xt, yt) = data
    mixed_precision.set_global_policy(policy)
    try:
        nerve.random.seed(0)
        nerve.layers.reset_names()
        model = build(x.shape[1:])
    finally:
        mixed_precision.set_global_policy(None)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = (time.perf_counter() - start) / epochs
    accuracy = model.evaluate(xt, yt, verbose=0)[1]
    return accuracy, seconds, model.optimizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-mlp", type=int, default=10)
    parser.add_argument("--epochs-lenet", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="1 epoch each on 1,000 digits")
    args = parser.parse_args(argv)
    flat = nerve.datasets.load_digits_5k(flatten=True)
    images = nerve.datasets.load_digits_5k()
    images = tuple((x[..., None], y) for x, y in images)  # LeNet takes (28, 28, 1) images
    runs = [("MLP 784-128-64-10", mlp, flat, args.epochs_mlp), ("LeNet-5", lenet, images, args.epochs_lenet)]
    if args.quick:
        runs = [(name, build, tuple((x[:1000], y[:1000]) for x, y in data), 1) for name, build, data, _ in runs]
    for name, build, data, epochs in runs:
        results = {policy: train(build, data, policy, epochs) for policy in ("float32", "mixed_float16")}
        (acc32, sec32, _), (acc16, sec16, optimizer) = results["float32"], results["mixed_float16"]
        print(f"{name}, {epochs} epochs: float32 test accuracy {100 * acc32:.2f}% ({sec32:.2f} s/epoch), "
              f"mixed_float16 {100 * acc16:.2f}% ({sec16:.2f} s/epoch), difference {100 * (acc16 - acc32):+.2f} points; "
              f"loss scale {optimizer.dynamic_scale:g}, {optimizer.overflow_steps} steps skipped on overflow")


if __name__ == "__main__":
    main()
