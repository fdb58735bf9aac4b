"""Training-step speed and peak memory of LeNet-5 on 28x28x1 images: nerve vs PyTorch eager.

Network (both frameworks, same layers): Conv2D(6, 5, 'same', relu) -> MaxPool 2 ->
Conv2D(16, 5, relu) -> MaxPool 2 -> Flatten -> Dense 120 relu -> Dense 84 relu ->
Dense 10, sparse categorical cross-entropy from logits, Adam(1e-3). One step is
forward + backward + optimizer update, timed at batch 64 and 256, best of
``--repeat`` runs of ``--steps`` steps, the frameworks timed in turns (the
machine is shared: take the best, compare within one run).

Peak memory: for nerve, ``tracemalloc``'s peak over one step (NumPy reports its
array buffers to tracemalloc, so this counts the arrays a step allocates,
saved activations and im2col matrices included); for both, the process's peak
resident set size (``resource.getrusage`` maxrss) after the runs, which
includes the interpreter, the libraries and PyTorch's allocator caches.

Run: python benchmarks/bench_lenet.py [--repeat 7] [--steps 30] [--batches 64 256]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource

import numpy as np

import nerve
from nerve import layers
from timing import interleaved_best, traced_peak


def lenet():
    """The LeNet-5 of this benchmark as a nerve Sequential model (logits out)."""
    return nerve.Sequential([
        nerve.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 5, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(120, activation="relu"),
        layers.Dense(84, activation="relu"),
        layers.Dense(10),
    ])


def make_data(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, size=batch)
    return x, y


def nerve_step(batch):
    nerve.random.seed(0)
    model = lenet()
    opt = nerve.optimizers.Adam(1e-3, params=model.parameters())
    loss_fn = nerve.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = make_data(batch)
    xt, yt = nerve.Tensor(x), nerve.Tensor(y)

    def step():
        loss = loss_fn(yt, model(xt, training=True))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def nerve_fit_path(batch):
    nerve.random.seed(0)
    model = lenet()
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = make_data(batch)
    return lambda: model.train_on_batch(x, y)


def torch_step(batch):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = make_data(batch)
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(xt), yt)
        loss.backward()
        opt.step()

    return step


def max_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    args = parser.parse_args()
    # nerve's opt-in to reusing freed memory (glibc), as a training script would set it: without it
    # every step page-faults its large arrays in again (docs/settings.md)
    nerve.backend.keep_freed_memory()
    have_torch = False
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(2)
            have_torch = True
        except ImportError:
            pass
    print("LeNet-5 (28x28x1), one training step: forward + backward + Adam, sparse CE from logits")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, cpus={os.cpu_count()}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if have_torch else ", torch not used"))
    print(f"{'batch':>6} {'nerve ms':>9} {'fit-path ms':>12} {'torch ms':>9} {'nerve/torch':>12} {'nerve peak MiB':>15}")
    for batch in args.batches:
        candidates = {"nerve": nerve_step(batch), "fit": nerve_fit_path(batch)}
        if have_torch:
            candidates["torch"] = torch_step(batch)
        t = interleaved_best(candidates, args.steps, args.repeat)
        peak = traced_peak(candidates["nerve"]) / 2**20
        t_torch = t.get("torch", float("nan"))
        print(f"{batch:>6} {t['nerve']:>9.2f} {t['fit']:>12.2f} {t_torch:>9.2f} {t['nerve'] / t_torch:>12.2f} {peak:>15.1f}")
    print(f"process peak RSS (nerve + torch, whole run): {max_rss_mib():.0f} MiB")
    print("nerve peak = tracemalloc peak of one step (NumPy arrays and Python objects allocated during the step)")


if __name__ == "__main__":
    main()
