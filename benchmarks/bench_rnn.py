"""Training-step speed of a GRU and an LSTM (hidden 128, one feature per step, batch 100) against PyTorch.

Model: recurrent layer (128 units) -> Dense(1), mean squared error, Adam; one
training step is forward + backward through time + Adam update. Sequence
lengths 40 and 200. Timed in the same run for:

  * nerve, PyTorch-style loop (``loss.backward(); opt.step()``),
  * nerve's ``model.train_on_batch`` (the Keras-style path),
  * PyTorch eager (``nn.GRU`` / ``nn.LSTM`` with ``batch_first=True``,
    ``torch.set_num_threads(2)``), when installed.

The machine is shared, so nerve and PyTorch are timed in alternating rounds
and the best round of each is kept; compare the ratios of one run. At length
200 the gradients vanish into subnormal numbers, which slows PyTorch down
unless ``--torch-flush-denormal`` is given (nerve flushes them itself).

On a machine shared with other busy processes, multi-threaded BLAS (NumPy's
OpenBLAS and PyTorch alike) can slow down many times over; compare with
``OPENBLAS_NUM_THREADS=1 ... --torch-threads 1`` then.

Run: python benchmarks/bench_rnn.py [--rounds 7] [--steps 5] [--lengths 40 200] [--torch-threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

import nerve
from nerve import layers
from timing import interleaved_best

BATCH, UNITS, FEATURES = 100, 128, 1


def make_data(length, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, length, FEATURES)).astype(np.float32)
    y = rng.normal(size=(BATCH, 1)).astype(np.float32)
    return x, y


def nerve_model(kind, length):
    nerve.random.seed(0)
    recurrent = layers.GRU(UNITS) if kind == "GRU" else layers.LSTM(UNITS)
    return nerve.Sequential([nerve.Input(shape=(length, FEATURES)), recurrent, layers.Dense(1)])


def nerve_loop(kind, length):
    model = nerve_model(kind, length)
    opt = nerve.optimizers.Adam(1e-3, params=model.parameters())
    loss_fn = nerve.losses.MeanSquaredError()
    x, y = make_data(length)
    xt, yt = nerve.Tensor(x), nerve.Tensor(y)

    def step():
        loss = loss_fn(yt, model(xt, training=True))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def nerve_keras(kind, length):
    model = nerve_model(kind, length)
    model.compile(optimizer=nerve.optimizers.Adam(1e-3), loss="mse")
    x, y = make_data(length)
    return lambda: model.train_on_batch(x, y)


def torch_loop(kind, length):
    import torch

    torch.manual_seed(0)
    rnn = (torch.nn.GRU if kind == "GRU" else torch.nn.LSTM)(FEATURES, UNITS, batch_first=True)
    head = torch.nn.Linear(UNITS, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = make_data(length)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.MSELoss()

    def step():
        opt.zero_grad()
        out, _ = rnn(xt)
        loss = loss_fn(head(out[:, -1]), yt)
        loss.backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=[40, 200])
    parser.add_argument("--torch-threads", type=int, default=2,
                        help="PyTorch intra-op threads (NumPy's BLAS threads follow OPENBLAS_NUM_THREADS)")
    parser.add_argument("--torch-flush-denormal", action="store_true",
                        help="torch.set_flush_denormal(True): spare PyTorch the subnormal-number slowdown that long "
                             "sequences cause (nerve flushes vanishing gradients itself)")
    args = parser.parse_args()
    # nerve's opt-in to reusing freed memory (glibc), as a training script would set it: without it
    # every step page-faults its large arrays in again (docs/settings.md)
    nerve.backend.keep_freed_memory()
    try:
        import torch

        torch.set_num_threads(args.torch_threads)
        if args.torch_flush_denormal:
            torch.set_flush_denormal(True)
        have_torch = True
    except ImportError:
        have_torch = False
    print(f"recurrent layer ({UNITS} units) -> Dense(1), MSE, Adam; batch {BATCH}, {FEATURES} feature per step; "
          "ms per training step (best of alternating rounds)")
    print(f"python {platform.python_version()}, numpy {np.__version__} "
          f"(OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')})"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads, flush_denormal="
             f"{args.torch_flush_denormal})" if have_torch else ", torch not installed"))
    print(f"{'layer':>6} {'length':>7} {'nerve ms':>9} {'fit-path ms':>12} {'torch ms':>9} {'nerve/torch':>12} {'fit/torch':>10}")
    for kind in ("GRU", "LSTM"):
        for length in args.lengths:
            fns = {"nerve": nerve_loop(kind, length), "keras": nerve_keras(kind, length)}
            if have_torch:
                fns["torch"] = torch_loop(kind, length)
            best = interleaved_best(fns, args.steps, args.rounds, warmup=2)
            t_torch = best.get("torch", float("nan"))
            print(f"{kind:>6} {length:>7} {best['nerve']:>9.2f} {best['keras']:>12.2f} {t_torch:>9.2f} "
                  f"{best['nerve'] / t_torch:>12.2f} {best['keras'] / t_torch:>10.2f}", flush=True)


if __name__ == "__main__":
    main()
