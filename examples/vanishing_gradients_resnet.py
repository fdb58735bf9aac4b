"""Vanishing gradients: a deep plain sigmoid network stalls, the same depth with skip connections trains.

Two networks of 30 Dense layers, all with sigmoid activations, on the bundled
digits (4000 training / 1000 test images, flattened):

* plain:  x -> 29 x Dense(32, sigmoid) -> Dense(10)
* ResNet: x -> Dense(32) -> 14 x [h + Dense(32)(Dense(32, sigmoid)(h))] -> Dense(10)

Backpropagation multiplies the gradient by sigmoid'(z) <= 1/4 and by a weight
matrix at every layer, so in the plain network the gradient reaching the first
layers is smaller by many orders of magnitude: they do not learn, and neither
does the network. In the ResNet the identity path ``h + F(h)`` carries the
gradient back unchanged (d(h + F(h))/dh = I + dF/dh), so every layer gets a
useful gradient. (The identity path is kept free of activations, as in
pre-activation ResNets: a sigmoid after each addition would shrink the
gradient again at every block.)

The script prints the gradient norm of every layer's kernel for one batch at
initialisation, then trains both networks the same way (Adam 1e-3, batch 64)
and prints their accuracies. Measured (2 shared CPU cores): the plain network's
first-layer gradient is ~1e-18 against ~0.5 at its last layer, and it stays at
chance (10%); the ResNet reaches about 90% test accuracy after 6 epochs (89.6%
measured). About 15 seconds.

Run: ``python examples/vanishing_gradients_resnet.py [--epochs 6]``
"""

import argparse
import time

import numpy

import nerve
from nerve import layers

DEPTH = 30  # weight layers in each network
WIDTH = 32
EPOCHS = 6


def plain_network():
    inputs = nerve.Input(shape=(784,))
    h = inputs
    for i in range(1, DEPTH):
        h = layers.Dense(WIDTH, activation="sigmoid", name=f"dense_{i}")(h)
    return nerve.Model(inputs, layers.Dense(10, name=f"dense_{DEPTH}")(h), name="plain")


def residual_network():
    inputs = nerve.Input(shape=(784,))
    h = layers.Dense(WIDTH, name="dense_1")(inputs)
    for block in range((DEPTH - 2) // 2):
        f = layers.Dense(WIDTH, activation="sigmoid", name=f"dense_{2 * block + 2}")(h)
        f = layers.Dense(WIDTH, name=f"dense_{2 * block + 3}")(f)
        h = layers.Add(name=f"skip_{block + 1}")([h, f])
    return nerve.Model(inputs, layers.Dense(10, name=f"dense_{DEPTH}")(h), name="resnet")


def kernel_gradient_norms(model, x, y):
    """Norm of d(loss)/d(kernel) of every Dense layer, input side first, for one batch."""
    logits = model(x, training=True)
    nerve.losses.sparse_categorical_crossentropy(y, logits, from_logits=True).mean().backward()
    norms = [float(numpy.linalg.norm(layer.kernel.grad.numpy())) for layer in model.layers
             if isinstance(layer, layers.Dense)]
    for weight in model.trainable_weights:
        weight.grad = None
    return norms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    models = {}
    for build in (plain_network, residual_network):
        nerve.random.seed(0)
        models[build.__name__] = build()
    plain, resnet = models["plain_network"], models["residual_network"]

    print(f"Gradient norm of each layer's kernel at initialisation (one batch of 256), {DEPTH} layers:")
    print(f"{'layer':>6} {'plain':>10} {'resnet':>10}")
    plain_norms = kernel_gradient_norms(plain, x_train[:256], y_train[:256])
    resnet_norms = kernel_gradient_norms(resnet, x_train[:256], y_train[:256])
    for i, (p, r) in enumerate(zip(plain_norms, resnet_norms), 1):
        print(f"{i:>6} {p:>10.1e} {r:>10.1e}")
    print(f"first/last layer gradient ratio: plain {plain_norms[0] / plain_norms[-1]:.0e}, "
          f"resnet {resnet_norms[0] / resnet_norms[-1]:.0e}\n")

    results = {}
    for name, model in (("plain", plain), ("resnet", resnet)):
        model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                      loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        start = time.perf_counter()
        history = model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        results[name] = accuracy
        per_epoch = ", ".join(f"{a:.3f}" for a in history.history["accuracy"])
        print(f"{name:>6}: training accuracy per epoch [{per_epoch}], test accuracy {accuracy:.3f} "
              f"({time.perf_counter() - start:.0f} s)")
    print(f"\nplain {DEPTH}-layer sigmoid network: {results['plain']:.1%} (chance is 10%); "
          f"ResNet of the same depth: {results['resnet']:.1%}")


if __name__ == "__main__":
    main()
