"""Training-step speed and peak device memory on a GPU: nerve on CuPy against PyTorch on CUDA, in one run.

Rows (the same layers in both frameworks, Adam(1e-3), sparse categorical
cross-entropy from logits; one step = forward + backward + update, ended by
reading the loss as a Python float in both, which waits for the GPU):

* LeNet-5 on 28x28x1 at batch 256 (``bench_lenet.py``'s network);
* ResNet-18 on 32x32x3 at batch 128 (``nerve.applications.ResNet18(small_input=True)``:
  3x3 stride-1 stem without max pooling, 4 stages of 2 basic blocks, batch norm);
* a GRU layer of 128 units over 200 steps of 32 features, batch 64, Dense 10 on the last state;
* a Transformer encoder block (4 heads, model width 128, feed-forward 512, post-norm) on
  64 sequences of 128 tokens, mean over time, Dense 10.

The frameworks are timed in alternating rounds (``timing.py``), best round kept;
the ratio nerve/PyTorch < 1 means nerve is faster. Peak device memory: CuPy's
memory pool size after the row's steps (the pool keeps what it allocated, so it
is the high-water mark; freed before each row) and
``torch.cuda.max_memory_allocated`` (reset before each row).

``--mixed`` runs both in float16 mixed precision (nerve's ``"mixed_float16"``
policy with loss scaling; PyTorch's ``autocast`` + ``GradScaler``).
``--device cpu`` runs the same rows on NumPy and PyTorch's CPU build (a smoke
test of the script; use ``--quick`` there).

Run: python benchmarks/bench_gpu.py [--mixed] [--quick] [--rounds 5] [--steps 20] [--only lenet resnet18 gru transformer]
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
from timing import interleaved_best, traced_peak

import nerve
from nerve import layers

ROWS = ("lenet", "resnet18", "gru", "transformer")


# ------------------------------------------------------------------ the models
def nerve_model(row, quick):
    if row == "lenet":
        return nerve.Sequential([
            nerve.Input(shape=(28, 28, 1)),
            layers.Conv2D(6, 5, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(16, 5, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
            layers.Dense(120, activation="relu"), layers.Dense(84, activation="relu"), layers.Dense(10),
        ])
    if row == "resnet18":
        return nerve.applications.ResNet18(input_shape=(32, 32, 3), num_classes=10, small_input=True,
                                           filters=16 if quick else 64, classifier_activation=None)
    if row == "gru":
        return nerve.Sequential([nerve.Input(shape=(200, 32)), layers.GRU(128), layers.Dense(10)])
    inputs = nerve.Input(shape=(128, 128))
    x = layers.TransformerEncoder(intermediate_dim=512, num_heads=4)(inputs)
    x = layers.GlobalAveragePooling1D()(x)
    return nerve.Model(inputs, layers.Dense(10)(x))


def torch_model(row, quick):
    import torch
    from torch import nn

    if row == "lenet":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    if row == "resnet18":
        width = 16 if quick else 64

        class Block(nn.Module):
            def __init__(self, cin, cout, stride):
                super().__init__()
                self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
                self.b1 = nn.BatchNorm2d(cout)
                self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
                self.b2 = nn.BatchNorm2d(cout)
                self.short = None if stride == 1 and cin == cout else nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

            def forward(self, x):
                y = self.b2(self.c2(torch.relu(self.b1(self.c1(x)))))
                return torch.relu(y + (x if self.short is None else self.short(x)))

        blocks, cin = [], width
        for stage in range(4):
            cout = width * 2**stage
            for b in range(2):
                blocks.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        return nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), *blocks,
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))
    if row == "gru":
        class GRUNet(nn.Module):
            def __init__(self):
                super().__init__()
                self.gru = nn.GRU(32, 128, batch_first=True)
                self.out = nn.Linear(128, 10)

            def forward(self, x):
                return self.out(self.gru(x)[0][:, -1])

        return GRUNet()

    class EncoderNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, batch_first=True)
            self.out = nn.Linear(128, 10)

        def forward(self, x):
            return self.out(self.block(x).mean(dim=1))

    return EncoderNet()


def batch_of(row, quick, seed=0):
    rng = np.random.default_rng(seed)
    shape = {"lenet": (256, 28, 28, 1), "resnet18": (32 if quick else 128, 32, 32, 3),
             "gru": (64, 200, 32), "transformer": (64, 128, 128)}[row]
    if quick and row in ("gru", "transformer"):
        shape = (8,) + shape[1:]
    return rng.normal(size=shape).astype("float32"), rng.integers(0, 10, shape[0])


# ------------------------------------------------------------------ the steps
def nerve_step(row, device, quick, mixed):
    nerve.mixed_precision.set_global_policy("mixed_float16" if mixed else None)
    nerve.random.seed(0)
    model = nerve_model(row, quick)
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    nerve.mixed_precision.set_global_policy(None)
    x, y = batch_of(row, quick)
    model.to(device)
    x, y = nerve.backend.to_device(x, device), nerve.backend.to_device(y, device)

    def step():
        model.train_on_batch(x, y)  # returns the loss as a float: waits for the device

    return step


def torch_step(row, device, quick, mixed):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = torch_model(row, quick).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = batch_of(row, quick)
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2).copy()  # PyTorch convolutions take channels first
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    scaler = torch.amp.GradScaler(device, enabled=mixed)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=torch.float16, enabled=mixed):
            loss = F.cross_entropy(net(xt), yt)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        loss.item()

    return step


# ------------------------------------------------------------------ memory
def peak_memory(step, framework, device):
    """Peak bytes of one framework's arrays over a few steps on ``device``."""
    if device == "cpu":
        if framework == "torch":
            return None  # PyTorch's CPU allocator reports to no tracer
        return traced_peak(step)
    if framework == "torch":
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    import cupy

    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    step()
    step()
    return pool.total_bytes()


def describe(device):
    import torch

    line = f"nerve {nerve.__version__}, NumPy {np.__version__}, torch {torch.__version__}, {platform.machine()}"
    if device == "cuda":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        line += (f", CuPy {cupy.__version__}, CUDA runtime {cupy.cuda.runtime.runtimeGetVersion()}, "
                 f"GPU {props['name'].decode()} ({props['totalGlobalMem'] / 2**30:.0f} GiB)")
    else:
        line += f", CPU ({torch.get_num_threads()} torch threads)"
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--mixed", action="store_true", help="float16 mixed precision in both frameworks")
    parser.add_argument("--quick", action="store_true", help="small batches and widths, few steps (a smoke run)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--only", nargs="+", choices=ROWS, default=list(ROWS))
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = min(args.rounds, 2), min(args.steps, 2)
    nerve_device = "gpu" if args.device == "cuda" else "cpu"
    if nerve_device == "gpu" and not nerve.backend.gpu_available():
        raise SystemExit("bench_gpu.py: CuPy sees no GPU (pip install 'nerve[gpu]' on a machine with one), "
                         "or run with --device cpu --quick")
    print(describe(args.device))
    print(f"{'mixed float16' if args.mixed else 'float32'}, best of {args.rounds} rounds of {args.steps} steps")
    print(f"{'row':<12} {'nerve ms':>9} {'torch ms':>9} {'ratio':>6} {'nerve MiB':>10} {'torch MiB':>10}")
    results = {}
    for row in args.only:
        steps = {"nerve": nerve_step(row, nerve_device, args.quick, args.mixed),
                 "torch": torch_step(row, args.device, args.quick, args.mixed)}
        best = interleaved_best(steps, steps=args.steps, rounds=args.rounds, warmup=2 if args.quick else 5)
        memory = {name: peak_memory(step, name, args.device) for name, step in steps.items()}
        mib = {name: "-" if value is None else f"{value / 2**20:.1f}" for name, value in memory.items()}
        ratio = best["nerve"] / best["torch"]
        results[row] = ratio
        print(f"{row:<12} {best['nerve']:>9.2f} {best['torch']:>9.2f} {ratio:>6.2f} {mib['nerve']:>10} {mib['torch']:>10}",
              flush=True)
    return results


if __name__ == "__main__":
    main()
