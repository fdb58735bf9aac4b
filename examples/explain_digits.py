"""Explaining predictions: saliency, gradient x input and integrated gradients on digits; attributions on flights.

1. Train the digits MLP, then explain a few test predictions. Saliency is the
   gradient of the predicted class's score (its logit) with respect to every
   pixel; gradient x input weights it by the pixel; integrated gradients
   average the gradient along the path from a black image to the digit, and
   their sum equals score(digit) - score(black image) (completeness), which
   the script checks.
2. Train a small network on the flight-delay data and print the per-feature
   attribution table: which of temperature and wind drives its predictions.
3. ``--plot DIR`` saves the overlays, the decision boundary of the flight
   model and its computational graph (SVG when Graphviz's ``dot`` is installed,
   DOT text otherwise).

Run:
    python examples/explain_digits.py
    python examples/explain_digits.py --quick
    python examples/explain_digits.py --plot out/
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import nerve
from nerve import diagnostics, layers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--plot", default=None, help="folder for pictures")
    args = parser.parse_args(argv)
    epochs = 1 if args.quick else args.epochs

    # ------------------------------------------------------------------ digits
    nerve.random.seed(0)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    model = nerve.Sequential([nerve.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                              layers.Dense(64, activation="relu"), layers.Dense(10)], name="digits_mlp")
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    print(f"digits MLP, {epochs} epoch(s): test accuracy {model.evaluate(x_test, y_test, verbose=0)[1]:.1%}")

    picked = np.arange(0, 1000, 167)[:6]
    x = x_test[picked]
    logits = model.predict(x)
    predicted = logits.argmax(axis=1)
    maps = diagnostics.saliency(model, x)
    products = diagnostics.gradient_x_input(model, x)
    attributions, delta = diagnostics.integrated_gradients(model, x, steps=64, return_delta=True)
    black = model.predict(np.zeros_like(x))[np.arange(len(x)), predicted]
    print("\n  true  predicted  logit   ig sum   logit - logit(black)   completeness error   top saliency pixel")
    for i in range(len(x)):
        score = logits[i, predicted[i]]
        row, col = divmod(int(np.abs(maps[i]).argmax()), 28)
        print(f"  {y_test[picked[i]]:>4}  {predicted[i]:>9}  {score:6.2f}  {attributions[i].sum():7.3f}  "
              f"{score - black[i]:21.3f}  {delta[i]:19.1e}   ({row}, {col})")
    ink = x > 0.2
    magnitude = np.abs(maps)
    on_ink = (magnitude * ink).sum(axis=1) / magnitude.sum(axis=1)
    print(f"saliency: {on_ink.mean():.0%} of |gradient| lies on the ink, which covers {ink.mean():.0%} of the pixels; "
          "gradient x input and integrated gradients (black baseline) are zero on the black background by construction")
    assert np.allclose(products[~ink & (x == 0)], 0)

    # ----------------------------------------------------------------- flights
    features, delayed = nerve.datasets.make_flight_delays(n=3000)
    mean, std = features.mean(axis=0), features.std(axis=0)
    scaled = (features - mean) / std
    nerve.random.seed(0)
    flights = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(16, activation="relu"),
                                layers.Dense(1, activation="sigmoid")], name="flight_delays")
    flights.compile(optimizer=nerve.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    flights.fit(scaled[:2500], delayed[:2500], epochs=5 if args.quick else 30, batch_size=64, verbose=0)
    print(f"\nflight-delay model: test accuracy {flights.evaluate(scaled[2500:], delayed[2500:], verbose=0)[1]:.1%}")
    print(diagnostics.feature_attributions(flights, scaled[2500:], ["temperature", "wind"]))

    if args.plot:
        from nerve import plotting

        os.makedirs(args.plot, exist_ok=True)
        titles = [f"true {y_test[p]}, predicted {c}" for p, c in zip(picked, predicted)]
        for name, values in [("saliency", maps), ("gradient_x_input", products), ("integrated_gradients", attributions)]:
            path = os.path.join(args.plot, f"digits_{name}.png")
            plotting.plot_saliency(x, values, titles=titles).savefig(path)
            print(f"saved {path}")
        path = os.path.join(args.plot, "flight_decision_boundary.png")
        plotting.plot_decision_boundary(flights, scaled[:500], delayed[:500],
                                        ["temperature (standardised)", "wind (standardised)"]).savefig(path)
        print(f"saved {path}")
        graph = os.path.join(args.plot, "flight_model." + ("svg" if diagnostics.dot_available() else "dot"))
        print(f"saved {diagnostics.draw_graph(flights, graph, detail='ops')}")


if __name__ == "__main__":
    main()
