"""Data-parallel training of the digits MLP over MPI: the same script on every process.

The network of ``nerve quickstart`` (784 pixels -> Dense 128 ReLU -> Dense 64 ReLU -> 10 logits,
Adam 1e-3, sparse cross-entropy) trained on the 4,000 training digits of the bundled MNIST subset and
tested on the other 1,000. After ``nerve.distributed.initialize()``, ``fit`` and ``evaluate`` split
every batch between the processes (``--batch-size`` is the *global* batch: with 2 processes each
computes 64 of the 128 samples), sum the gradients in one Allreduce per step and apply the same
update everywhere; only rank 0 prints. See docs/distributed.md.

The network is small (a step of 128 takes about a millisecond), so on one machine two processes train
it hardly faster than one, if at all: the point here is the script. Larger steps gain more (LeNet-5:
see the figures in docs/distributed.md and benchmarks/bench_distributed.py).

Run:
    mpiexec -n 2 python examples/distributed_digits.py             # 2 processes (pip install "nerve[mpi]")
    mpiexec -n 2 python examples/distributed_digits.py --epochs 10
    python examples/distributed_digits.py                          # the same script as a job of one
"""

from __future__ import annotations

import argparse
import os
import time

# One BLAS thread per process, set before NumPy is imported (an OPENBLAS_NUM_THREADS of your own wins):
# processes that share a machine must not fight over its cores with BLAS threads, and one process with
# one thread is the fair baseline for N processes with one each.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import nerve  # after the BLAS setting
from nerve import layers


def mlp():
    """784-128-64-10 with ReLU, compiled with Adam(1e-3) and sparse cross-entropy from logits."""
    model = nerve.Sequential([
        nerve.Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ], name="digits_mlp")
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128, help="global batch, split between the processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    _, size = nerve.distributed.initialize()  # (rank, size): (0, 1) without mpiexec
    main_process = nerve.distributed.is_main()
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True, seed=args.seed)
    nerve.random.seed(args.seed)  # fit starts every process from rank 0's weights and random state anyway
    model = mlp()
    if main_process:
        print(f"{size} process{'es' if size > 1 else ''}: global batch {args.batch_size}, "
              f"{args.batch_size // size}{'+' if args.batch_size % size else ''} samples per process per step")

    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=1)  # bar on rank 0 only
    elapsed = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)  # split between processes too
    if main_process:
        samples = args.epochs * len(x_train)
        print(f"trained {args.epochs} epochs on {len(x_train)} digits in {elapsed:.2f}s: "
              f"{samples / elapsed:,.0f} samples/s on {size} process{'es' if size > 1 else ''}")
        print(f"test loss {loss:.4f}, test accuracy {accuracy:.2%}")
    return accuracy


if __name__ == "__main__":
    main()
