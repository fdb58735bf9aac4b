"""Training-step speed of the house-price MLP (4 -> 200 -> 100 -> 50 -> 1, MSE, Adam).

Times one step (forward + backward + Adam update) in the same run for:
  * nerve (the PyTorch-style loop over a Sequential model),
  * nerve's ``model.train_on_batch`` (the Keras-style path, with its extra bookkeeping),
  * a hand-written NumPy version (forward, backward and Adam written out by hand; like nerve it
    zeroes subnormal Adam moments every 50 steps, since dead ReLU units otherwise make Adam's
    momentum decay into subnormal floats that are ~40x slower to compute with),
  * PyTorch eager, when installed (``pip install torch==2.13.0``),
and prints milliseconds per step and the ratios. The four are timed in alternating
rounds of ``--steps`` steps and the best round of each is kept (``timing.py``):
timings move 1.2-2x between runs on a shared machine; compare the ratios of one run.

Run: python benchmarks/bench_mlp.py [--rounds 15] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

import nerve
from nerve import layers
from timing import interleaved_best

SIZES = (4, 200, 100, 50, 1)


def make_data(batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, SIZES[0])).astype(np.float32)
    y = rng.normal(size=(batch, 1)).astype(np.float32)
    return x, y


def nerve_loop(batch):
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(4,))] + [layers.Dense(n, activation="relu") for n in SIZES[1:-1]] + [layers.Dense(1)])
    opt = nerve.optimizers.Adam(1e-3, params=model.parameters())
    loss_fn = nerve.losses.MeanSquaredError()
    x, y = make_data(batch)
    xt, yt = nerve.Tensor(x), nerve.Tensor(y)

    def step():
        loss = loss_fn(yt, model(xt, training=True))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def nerve_keras(batch):
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(4,))] + [layers.Dense(n, activation="relu") for n in SIZES[1:-1]] + [layers.Dense(1)])
    model.compile(optimizer=nerve.optimizers.Adam(1e-3), loss="mse")
    x, y = make_data(batch)
    return lambda: model.train_on_batch(x, y)


def numpy_loop(batch):
    rng = np.random.default_rng(0)
    ws = [(rng.normal(size=(a, b)) * np.sqrt(2 / a)).astype(np.float32) for a, b in zip(SIZES[:-1], SIZES[1:])]
    bs = [np.zeros(b, np.float32) for b in SIZES[1:]]
    params = ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    x, y = make_data(batch)
    state = {"t": 0}
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-7

    def step():
        acts, pre = [x], []
        h = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = h @ w + b
            pre.append(z)
            h = np.maximum(z, 0) if i < len(ws) - 1 else z
            acts.append(h)
        grad = 2 * (h - y) / h.size
        gws, gbs = [None] * len(ws), [None] * len(bs)
        for i in reversed(range(len(ws))):
            if i < len(ws) - 1:
                grad = grad * (pre[i] > 0)
            gws[i] = acts[i].T @ grad
            gbs[i] = grad.sum(0)
            if i:
                grad = grad @ ws[i].T
        state["t"] += 1
        t = state["t"]
        c1, c2 = 1 - b1**t, 1 - b2**t
        for p, g, mi, vi in zip(params, gws + gbs, m, v):
            mi *= b1
            mi += (1 - b1) * g
            vi *= b2
            vi += (1 - b2) * g * g
            p -= (lr / c1) * mi / (np.sqrt(vi / c2) + eps)
        if t % 50 == 0:  # like nerve's optimizers: keep Adam's moments clear of slow subnormal floats
            tiny = np.finfo(np.float32).tiny
            for arr in m + v:
                np.putmask(arr, np.abs(arr) < tiny, 0)

    return step


def torch_loop(batch):
    import torch

    torch.manual_seed(0)
    mods = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        mods += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = torch.nn.Sequential(*mods[:-1])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = make_data(batch)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.MSELoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(xt), yt)
        loss.backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    # nerve's opt-in to reusing freed memory (glibc), as a training script would set it: without it
    # every step page-faults its large arrays in again (docs/settings.md)
    nerve.backend.keep_freed_memory()
    try:
        import torch

        torch.set_num_threads(2)
        have_torch = True
    except ImportError:
        have_torch = False
    print(f"house-price MLP {'-'.join(map(str, SIZES))}, one training step (forward + backward + Adam)")
    print(f"python {platform.python_version()}, numpy {np.__version__}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if have_torch else ", torch not installed"))
    print(f"{'batch':>6} {'nerve ms':>9} {'fit-path ms':>12} {'numpy ms':>9} {'torch ms':>9} {'nerve/numpy':>12} {'nerve/torch':>12}")
    for batch in (32, 256):
        candidates = {"nerve": nerve_loop(batch), "fit": nerve_keras(batch), "numpy": numpy_loop(batch)}
        if have_torch:
            candidates["torch"] = torch_loop(batch)
        t = interleaved_best(candidates, args.steps, args.rounds, warmup=20)
        t_nerve, t_keras, t_numpy, t_torch = t["nerve"], t["fit"], t["numpy"], t.get("torch", float("nan"))
        print(f"{batch:>6} {t_nerve:>9.3f} {t_keras:>12.3f} {t_numpy:>9.3f} {t_torch:>9.3f} {t_nerve / t_numpy:>12.2f} {t_nerve / t_torch:>12.2f}")


if __name__ == "__main__":
    main()
