"""Vanishing gradients, made visible: a 20-layer sigmoid network next to the same depth with ReLU and He init.

The derivative of the sigmoid is at most 1/4, so backpropagation multiplies
the gradient by roughly 1/4 per layer: after 20 layers the first layer gets
about 1e-12 of what the last one gets and does not learn. nerve's health
check measures the gradient norm of every layer and says so in plain words;
the ReLU network of the same depth, initialised with He's rule, keeps its
gradients within a small factor across all layers.

Run:
    python examples/diagnose_vanishing.py                 # 3 epochs on 4000 digits
    python examples/diagnose_vanishing.py --quick         # 1 epoch on 1000 digits
    python examples/diagnose_vanishing.py --plot out/     # also save gradient-norm pictures (needs nerve[plot])
"""

from __future__ import annotations

import argparse
import os

import nerve
from nerve import diagnostics, layers


def deep_net(activation, depth=20, width=32, seed=0):
    nerve.random.seed(seed)
    nerve.layers.reset_names()
    initializer = "he_normal" if activation == "relu" else "glorot_uniform"
    hidden = [layers.Dense(width, activation=activation, kernel_initializer=initializer) for _ in range(depth)]
    model = nerve.Sequential([nerve.Input(shape=(784,))] + hidden + [layers.Dense(10)], name=f"deep_{activation}")
    model.compile(optimizer=nerve.optimizers.SGD(0.01, momentum=0.9),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 1000 digits")
    parser.add_argument("--plot", default=None, help="folder for gradient-norm pictures")
    args = parser.parse_args(argv)
    epochs, n = (1, 1000) if args.quick else (args.epochs, 4000)

    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    x_train, y_train = x_train[:n], y_train[:n]
    for activation in ["sigmoid", "relu"]:
        model = deep_net(activation)
        print(f"\n=== 20 hidden layers of 32 {activation} units ===")
        report = diagnostics.check_health(model, x_train[:256], y_train[:256])
        print(report)
        monitor = diagnostics.HealthMonitor(probe=x_test[:256], verbose=0)
        model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0, callbacks=[monitor])
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        first, last = model.layers[0].name, model.layers[-1].name
        norms = monitor.epochs[-1]["grad_norms"]
        print(f"after {epochs} epoch(s): test accuracy {accuracy:.1%}; gradient norm at the input-side layer "
              f"{norms[first]:.2e}, at the output layer {norms[last]:.2e} (ratio {norms[first] / norms[last]:.1e})")
        verdict = "vanishing gradients" if "vanishing_gradients" in monitor.kinds() else "gradients flow"
        print(f"verdict: {verdict}")
        if args.plot:
            from nerve import plotting

            os.makedirs(args.plot, exist_ok=True)
            path = os.path.join(args.plot, f"gradient_norms_{activation}.png")
            plotting.plot_gradient_norms(monitor).savefig(path)
            print(f"saved {path}")


if __name__ == "__main__":
    main()
