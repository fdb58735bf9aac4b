"""Training-step speed of Transformer blocks against PyTorch eager, and nerve's peak memory of one step.

Models (d_model 128, 4 heads, feed-forward 512, sequence 64, batch 32, no dropout, mean squared
error against a random target, Adam):

  * encoder: 2 post-norm ``TransformerEncoder`` blocks (PyTorch: 2 ``nn.TransformerEncoderLayer``,
    ``batch_first=True``, ``norm_first=False``);
  * GPT block: 1 pre-norm ``TransformerDecoder`` without cross-attention, causal (PyTorch:
    ``nn.TransformerEncoderLayer(norm_first=True)`` with a causal mask, ``is_causal=True``).

nerve and PyTorch are timed in alternating rounds and the best round of each is kept (see
``timing.py``); compare the ratios of one run. The peak memory is what ``tracemalloc`` sees NumPy
allocate during one nerve training step (PyTorch's CPU allocator is not visible to it).

Run: python benchmarks/bench_attention.py [--rounds 5] [--steps 3] [--torch-threads 2]
"""

from __future__ import annotations

import argparse

import numpy as np

import nerve
from nerve import layers
from timing import interleaved_best, traced_peak

BATCH, LENGTH, DIM, HEADS, FF = 32, 64, 128, 4, 512


def data(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(BATCH, LENGTH, DIM)).astype(np.float32),
            rng.normal(size=(BATCH, LENGTH, DIM)).astype(np.float32))


def nerve_step(kind):
    nerve.random.seed(0)
    if kind == "encoder":
        blocks = [layers.TransformerEncoder(FF, HEADS) for _ in range(2)]
    else:
        blocks = [layers.TransformerDecoder(FF, HEADS, normalize_first=True)]
    model = nerve.Sequential([nerve.Input(shape=(LENGTH, DIM)), *blocks])
    opt = nerve.optimizers.Adam(1e-3, params=model.parameters())
    x, y = data()
    xt, yt = nerve.Tensor(x), nerve.Tensor(y)
    loss_fn = nerve.losses.MeanSquaredError()

    def step():
        loss = loss_fn(yt, model(xt, training=True))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def torch_step(kind):
    import torch

    torch.manual_seed(0)
    if kind == "encoder":
        net = torch.nn.Sequential(*[torch.nn.TransformerEncoderLayer(DIM, HEADS, FF, dropout=0.0, batch_first=True)
                                    for _ in range(2)])
        mask = None
    else:
        net = torch.nn.TransformerEncoderLayer(DIM, HEADS, FF, dropout=0.0, batch_first=True, norm_first=True)
        mask = torch.nn.Transformer.generate_square_subsequent_mask(LENGTH)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = (torch.from_numpy(a) for a in data())

    def step():
        opt.zero_grad()
        out = net(x) if mask is None else net(x, src_mask=mask, is_causal=True)
        torch.nn.functional.mse_loss(out, y).backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=2)
    args = parser.parse_args()
    nerve.backend.keep_freed_memory()
    try:
        import torch

        torch.set_num_threads(args.torch_threads)
        have_torch = True
    except ImportError:
        have_torch = False
    print(f"d_model {DIM}, {HEADS} heads, feed-forward {FF}, sequence {LENGTH}, batch {BATCH}; "
          "ms per training step (best of alternating rounds)")
    print(f"{'model':>12} {'nerve ms':>9} {'torch ms':>9} {'nerve/torch':>12} {'nerve peak MB':>14}")
    for kind in ("encoder", "gpt block"):
        fns = {"nerve": nerve_step(kind)}
        if have_torch:
            fns["torch"] = torch_step(kind)
        best = interleaved_best(fns, args.steps, args.rounds, warmup=2)
        t_torch = best.get("torch", float("nan"))
        t_nerve = best["nerve"]
        print(f"{kind:>12} {t_nerve:>9.1f} {t_torch:>9.1f} {t_nerve / t_torch:>12.2f} "
              f"{traced_peak(fns['nerve']) / 2**20:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
