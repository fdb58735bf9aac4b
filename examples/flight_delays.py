"""Flight delays: binary classification with a sigmoid output and binary cross-entropy, as in the lecture.

Inputs [temperature in degrees C, wind speed in km/h] -> delayed (1) or not
(0), on synthetic data from ``nerve.datasets.make_flight_delays``: very cold
or very windy days bring delays. The script prints the predicted delay
probabilities for the lecture's four inputs next to the probability the data
was generated with.

Run:
    python examples/flight_delays.py            # 60 epochs
    python examples/flight_delays.py --epochs 3
"""

from __future__ import annotations

import argparse

import numpy as np

import nerve
from nerve import layers

LECTURE_INPUTS = np.array([[-20, 45], [80, 0], [4, 15], [45, 60]], dtype="float32")


def true_probability(x):
    """The delay probability the synthetic data is drawn from (see make_flight_delays)."""
    temperature, wind = x[:, 0], x[:, 1]
    z = -3.0 + 0.5 * np.maximum(0.0, -10.0 - temperature) + 0.3 * np.maximum(0.0, wind - 50.0)
    return 1.0 / (1.0 + np.exp(-z))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    nerve.random.seed(args.seed)
    x, y = nerve.datasets.make_flight_delays(n=4000, seed=args.seed)
    x_train, x_test, y_train, y_test = nerve.data.train_test_split(x, y, test_size=0.2, stratify=y.ravel(),
                                                                   seed=args.seed)
    scaler = nerve.data.StandardScaler().fit(x_train)

    model = nerve.Sequential([
        nerve.Input(shape=(2,), name="temperature_wind"),
        layers.Dense(16, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid", name="delayed"),
    ], name="flight_delays")
    model.compile(optimizer=nerve.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy", "auc"])
    model.fit(scaler.transform(x_train), y_train, batch_size=64, epochs=args.epochs, validation_split=0.1, verbose=0)
    loss, accuracy, auc = model.evaluate(scaler.transform(x_test), y_test, verbose=0)
    majority = max(y_test.mean(), 1 - y_test.mean())
    print(f"test loss {loss:.4f}, test accuracy {accuracy:.2%} (always 'on time': {majority:.2%}), test AUC {auc:.3f}")

    probabilities = model.predict(scaler.transform(LECTURE_INPUTS))[:, 0]
    print("temperature  wind  P(delayed)  (data's true P)")
    for (temperature, wind), p, truth in zip(LECTURE_INPUTS, probabilities, true_probability(LECTURE_INPUTS)):
        print(f"{temperature:>11.0f} {wind:>5.0f}  {p:>10.3f}  ({truth:.3f})")
    print("note: 80 degrees C lies far outside the training range [-25, 40]: the network extrapolates there")
    return accuracy, probabilities


if __name__ == "__main__":
    main()
