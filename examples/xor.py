"""XOR with a 2-layer network and plain gradient descent.

XOR is not linearly separable, so a single neuron cannot learn it; one hidden
layer can. Training uses the whole data set (4 points) in every step:
``batch_size=4`` is full-batch gradient descent, and with plain SGD (no
momentum) each epoch is exactly one update ``w <- w - learning_rate * dL/dw``.

Run:
    python examples/xor.py               # 2000 epochs (= 2000 updates)
    python examples/xor.py --epochs 10
"""

from __future__ import annotations

import argparse

import nerve
from nerve import layers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    nerve.random.seed(args.seed)
    x, y = nerve.datasets.load_xor()
    model = nerve.Sequential([
        nerve.Input(shape=(2,)),
        layers.Dense(4, activation="tanh", name="hidden"),
        layers.Dense(1, activation="sigmoid", name="output"),
    ], name="xor")
    model.compile(optimizer=nerve.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=len(x), epochs=args.epochs, shuffle=False, verbose=0)
    print(f"{model.optimizer.iterations} gradient-descent steps; loss {history.history['loss'][0]:.4f} -> "
          f"{history.history['loss'][-1]:.4f}")
    predictions = model.predict(x)[:, 0]
    print("x1 x2  target  prediction")
    for (a, b), target, p in zip(x, y[:, 0], predictions):
        print(f"{a:>2.0f} {b:>2.0f}  {target:>6.0f}  {p:>10.3f}")
    accuracy = float(((predictions > 0.5) == (y[:, 0] > 0.5)).mean())
    print(f"accuracy {accuracy:.0%}")
    return accuracy


if __name__ == "__main__":
    main()
