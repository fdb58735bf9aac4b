"""LeNet-5 on the bundled handwritten digits, and the same network in PyTorch for comparison.

LeNet (the lecture's convolutional network for OCR): 28x28x1 image ->
Conv2D(6, 5x5, 'same', ReLU) -> MaxPool 2 -> Conv2D(16, 5x5, ReLU) -> MaxPool 2 ->
Flatten (400) -> Dense 120 ReLU -> Dense 84 ReLU -> Dense 10 logits. Trained with
Adam (1e-3), batch size 64, 10 epochs, on the 4,000 training digits of the
bundled MNIST subset (seeded, stratified 4000/1000 split), tested on the other
1,000. ``--compare-torch`` trains the PyTorch twin (same layers, same protocol)
in the same run. Seeds 0-4, measured on 2026-12-06: nerve 96.64% on average
(95.8-97.3%); PyTorch 96.92% (96.4-97.4%) when it starts from nerve's
initialisation (``--torch-init keras``: Glorot-uniform kernels, zero biases),
96.06% (95.2-96.5%) from its own.

:func:`lenet` builds (and compiles) the model, :func:`train_nerve` trains it
from arrays or from a loader: reuse them to add data augmentation (shifts,
rotations, zoom...) and push the accuracy further.

Run:
    python examples/lenet_digits.py                   # nerve, seed 0
    python examples/lenet_digits.py --seeds 0 1 2     # several seeds
    python examples/lenet_digits.py --compare-torch   # also PyTorch
    python examples/lenet_digits.py --compare-torch --torch-init keras   # PyTorch from nerve's initialisation
    python examples/lenet_digits.py --quick           # 1 epoch on 500 digits (smoke test)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nerve
from nerve import layers


def load(seed=0):
    """The bundled digits, split 4000/1000 with ``seed``, as (N, 28, 28, 1) float32 images in [0, 1]."""
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(test_size=1000, seed=seed)
    return (x_train[..., None], y_train), (x_test[..., None], y_test)


def lenet(compile=True, learning_rate=1e-3):
    """LeNet-5 for 28x28x1 images, returning logits; compiled with Adam and sparse cross-entropy by default."""
    model = nerve.Sequential([
        nerve.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 5, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dense(84, activation="relu"),
        layers.Dense(10),
    ], name="lenet5")
    if compile:
        model.compile(optimizer=nerve.optimizers.Adam(learning_rate),
                      loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def train_nerve(seed=0, epochs=10, batch_size=64, train=None, verbose=0, limit=None):
    """Train LeNet-5 on the training digits and return (test accuracy, model).

    ``train`` may be a ``nerve.data.DataLoader`` yielding ``(x, y)`` batches
    (for instance with an augmentation transform); by default the arrays are
    used with ``fit``'s own shuffling. ``limit`` keeps the first ``limit``
    training digits (smoke tests).
    """
    (x_train, y_train), (x_test, y_test) = load()
    nerve.random.seed(seed)
    model = lenet()
    if train is None:
        model.fit(x_train[:limit], y_train[:limit], batch_size=batch_size, epochs=epochs, verbose=verbose)
    else:
        model.fit(train, epochs=epochs, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return accuracy, model


def train_torch(seed=0, epochs=10, batch_size=64, limit=None, init="torch"):
    """The same network and protocol in PyTorch (2 threads); returns the test accuracy.

    ``init="keras"`` starts from nerve's (and Keras's) initialisation, Glorot-uniform kernels and
    zero biases, instead of PyTorch's own, so that only the frameworks differ.
    """
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    (x_train, y_train), (x_test, y_test) = load()
    x_train, y_train = x_train[:limit], y_train[:limit]
    to_nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # noqa: E731
    xt, yt, xv, yv = to_nchw(x_train), torch.from_numpy(y_train), to_nchw(x_test), torch.from_numpy(y_test)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10),
    )
    if init == "keras":
        for module in net:
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.xavier_uniform_(module.weight)
                torch.nn.init.zeros_(module.bias)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad()
            F.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    with torch.no_grad():
        return float((net(xv).argmax(1) == yv).float().mean())


def main():
    parser = argparse.ArgumentParser(description="LeNet-5 on the bundled digits")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--compare-torch", action="store_true", help="also train the same network in PyTorch")
    parser.add_argument("--torch-init", choices=["torch", "keras"], default="torch",
                        help="the PyTorch twin's initialisation: PyTorch's own, or nerve's (Glorot-uniform, zero bias)")
    parser.add_argument("--quick", action="store_true", help="1 epoch on 500 digits, for a smoke test")
    args = parser.parse_args()
    epochs, limit = (1, 500) if args.quick else (args.epochs, None)
    nerve_acc, torch_acc = [], []
    for seed in args.seeds:
        start = time.perf_counter()
        accuracy, model = train_nerve(seed, epochs, limit=limit)
        nerve_acc.append(accuracy)
        line = f"seed {seed}: nerve LeNet-5 test accuracy {accuracy:.2%} ({time.perf_counter() - start:.1f} s)"
        if args.compare_torch:
            start = time.perf_counter()
            torch_acc.append(train_torch(seed, epochs, limit=limit, init=args.torch_init))
            line += f" | PyTorch {torch_acc[-1]:.2%} ({time.perf_counter() - start:.1f} s)"
        print(line)
    print(f"LeNet-5 parameters: {model.count_params():,}")
    if len(args.seeds) > 1:
        print(f"mean over {len(args.seeds)} seeds: nerve {np.mean(nerve_acc):.2%}"
              + (f", PyTorch {np.mean(torch_acc):.2%}" if torch_acc else ""))


if __name__ == "__main__":
    main()
