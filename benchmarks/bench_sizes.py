"""Cost versus size: one Adam training step of nerve against PyTorch eager, from small MLPs to CIFAR-scale CNNs and LSTMs.

Rows (the same layers in both frameworks, sparse categorical cross-entropy
from logits for the classifiers, mean squared error for the recurrent rows):

* MLPs 784-128-64-10 (batch 64), 784-512x2-10 (128), 784-1024x3-10 (256),
  784-4096x2-10 (1024), ReLU between the Dense layers;
* LeNet-5 on 28x28x1 at batch 64 and 256 (``bench_lenet.py``'s network);
* CNNs on 32x32x3: three 3x3 'same' convolutions with ReLU (16-32-64,
  32-64-128 or 64-128-256 channels), 2x2 max pooling after the first two,
  global average pooling, Dense 10; at batch 32, 64 and 128;
* GRU-128 and LSTM-128 -> Dense 1 at sequence lengths 40 and 200
  (``bench_rnn.py``'s models: batch 100, one feature per step).

Each row times nerve and PyTorch in alternating rounds (``timing.py``) and
prints the best ms per step of each and their ratio; ``--runs`` repeats the
whole measurement and prints the median ratio (and the range). For the
largest MLP and CNN it prints the achieved speed (the multiply-adds of the
forward and backward matrix products, or of the direct convolutions, times
two, per second) beside NumPy's own sgemm GFLOP/s measured on this machine
(the practical limit of a NumPy framework), and for the LSTM rows the time
NumPy's BLAS takes for the step's matrix products alone (the floor under
any NumPy LSTM step). ``--peak`` adds nerve's tracemalloc peak of one step.

Run: python benchmarks/bench_sizes.py [--quick] [--runs 3] [--only cnn lstm ...] [--peak]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import time

import numpy as np
from timing import interleaved_best, traced_peak

import nerve
from nerve import layers

# ------------------------------------------------------------------ rows
MLPS = [((128, 64), 64), ((512, 512), 128), ((1024, 1024, 1024), 256), ((4096, 4096), 1024)]
CNNS = [((16, 32, 64), 32), ((32, 64, 128), 64), ((64, 128, 256), 128)]
LENET_BATCHES = [64, 256]
RNNS = [("GRU", 40), ("GRU", 200), ("LSTM", 40), ("LSTM", 200)]


def machine_line():
    """CPU features NumPy found, the BLAS and its core type, and the thread counts."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
        simd = [k for k in ("AVX", "FMA3", "AVX2", "AVX512F", "AVX512_SKX", "AVX512_ICL") if features.get(k)]
    except ImportError:  # pragma: no cover - other NumPy versions
        simd = ["?"]
    blas = "?"
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f"{info[0]['internal_api']} {info[0]['version']} core {info[0]['architecture']} ({info[0]['num_threads']} threads)"
    except ImportError:
        blas = f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
    return (f"python {platform.python_version()}, numpy {np.__version__}, cpus={os.cpu_count()}, "
            f"cpu features {' '.join(simd)}, BLAS {blas}")


def coretype_note():
    """A warning line when ``OPENBLAS_CORETYPE`` keeps NumPy's BLAS below the CPU's AVX-512, else an empty string."""
    core = os.environ.get("OPENBLAS_CORETYPE", "")
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # pragma: no cover - other NumPy versions
        return ""
    if not core or not features.get("AVX512F") or core.lower() in ("skylakex", "cooperlake", "sapphirerapids"):
        return ""
    return (f"note: OPENBLAS_CORETYPE={core} keeps NumPy's BLAS on narrower vector kernels than this CPU's AVX-512 "
            "(PyTorch's oneDNN uses them): matrix products run up to 2x slower than the machine allows")


def classification_data(batch, shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch,) + shape, dtype=np.float32), rng.integers(0, 10, size=batch)


def mlp_nerve(widths):
    return nerve.Sequential([nerve.Input(shape=(784,))] + [layers.Dense(w, activation="relu") for w in widths]
                            + [layers.Dense(10)])


def mlp_torch(widths):
    import torch

    mods, prev = [], 784
    for w in widths:
        mods += [torch.nn.Linear(prev, w), torch.nn.ReLU()]
        prev = w
    return torch.nn.Sequential(*mods, torch.nn.Linear(prev, 10))


def cnn_nerve(channels):
    a, b, c = channels
    return nerve.Sequential([
        nerve.Input(shape=(32, 32, 3)),
        layers.Conv2D(a, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(b, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(c, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(), layers.Dense(10),
    ])


def cnn_torch(channels):
    import torch

    a, b, c = channels
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, a, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(b, c, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10),
    )


def nerve_classifier_step(model, x, y):
    opt = nerve.optimizers.Adam(1e-3, params=model.parameters())
    loss_fn = nerve.losses.SparseCategoricalCrossentropy(from_logits=True)
    xt, yt = nerve.Tensor(x), nerve.Tensor(y)

    def step():
        loss = loss_fn(yt, model(xt, training=True))
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def torch_classifier_step(net, x, y):
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if x.ndim == 4 else x)
    yt = torch.from_numpy(y)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(xt), yt).backward()
        opt.step()

    return step


def rows(kinds):
    """``(label, nerve step factory, torch step factory, flops per step or None)`` for every row."""
    import bench_lenet
    import bench_rnn

    out = []
    if "mlp" in kinds:
        for widths, batch in MLPS:
            dims = (784,) + widths + (10,)
            macs = sum(a * b for a, b in itertools.pairwise(dims))
            flops = 2 * batch * (3 * macs - dims[0] * dims[1])  # forward, weight and input gradients (not of x)
            label = f"MLP 784-{'-'.join(map(str, widths))}-10 b{batch}"

            def nerve_f(widths=widths, batch=batch):
                nerve.random.seed(0)
                return nerve_classifier_step(mlp_nerve(widths), *classification_data(batch, (784,)))

            def torch_f(widths=widths, batch=batch):
                import torch
                torch.manual_seed(0)
                return torch_classifier_step(mlp_torch(widths), *classification_data(batch, (784,)))

            out.append((label, nerve_f, torch_f, flops if widths == MLPS[-1][0] else None))
    if "lenet" in kinds:
        for batch in LENET_BATCHES:
            out.append((f"LeNet-5 b{batch}", lambda b=batch: bench_lenet.nerve_step(b),
                        lambda b=batch: bench_lenet.torch_step(b), None))
    if "cnn" in kinds:
        for channels, batch in CNNS:
            convs = [(32, 3, channels[0]), (16, channels[0], channels[1]), (8, channels[1], channels[2])]
            macs = sum(batch * s * s * 9 * c * f for s, c, f in convs)
            first = batch * 32 * 32 * 9 * 3 * channels[0]
            flops = 2 * (3 * macs - first)  # forward, kernel and input gradients (none for the image)
            label = f"CNN {'-'.join(map(str, channels))} b{batch}"

            def nerve_f(channels=channels, batch=batch):
                nerve.random.seed(0)
                return nerve_classifier_step(cnn_nerve(channels), *classification_data(batch, (32, 32, 3)))

            def torch_f(channels=channels, batch=batch):
                import torch
                torch.manual_seed(0)
                return torch_classifier_step(cnn_torch(channels), *classification_data(batch, (32, 32, 3)))

            out.append((label, nerve_f, torch_f, flops if channels == CNNS[-1][0] else None))
    for kind, length in RNNS:
        if kind.lower() in kinds:
            out.append((f"{kind}-128 length {length}", lambda k=kind, n=length: bench_rnn.nerve_loop(k, n),
                        lambda k=kind, n=length: bench_rnn.torch_loop(k, n), None))
    return out


def sgemm_gflops(n=2048, repeat=5, clock=time.perf_counter):
    """NumPy's float32 matrix product speed on ``n x n`` matrices (best of ``repeat``), in GFLOP/s."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        np.matmul(a, b, out=out)
        best = min(best, clock() - start)
    return 2 * n**3 / best / 1e9


def lstm_products_ms(length, clock=time.perf_counter, repeat=5):
    """Milliseconds NumPy's BLAS takes for the matrix products alone of one LSTM-128 training step (batch 100).

    The products nerve's fused LSTM runs, with the same shapes: per step ``[h, x, 1] @ [R; W; b]`` forward and
    ``dz @ R^T`` backward, then the weights' gradient as one product over all steps. No step can be faster
    than this in a NumPy framework: it is the floor the elementwise work sits on.
    """
    import bench_rnn

    B, U, F = bench_rnn.BATCH, bench_rnn.UNITS, bench_rnn.FEATURES
    rng = np.random.default_rng(0)
    hx = rng.standard_normal((length + 1, B, U + F + 1), dtype=np.float32)
    rw = rng.standard_normal((U + F + 1, 4 * U), dtype=np.float32)
    dz = rng.standard_normal((length, B, 4 * U), dtype=np.float32)
    r_t = rng.standard_normal((4 * U, U), dtype=np.float32)
    g, dh = np.empty((B, 4 * U), dtype=np.float32), np.empty((B, U), dtype=np.float32)

    def products():
        for t in range(length):
            np.matmul(hx[t], rw, out=g)
        for t in range(length - 1, -1, -1):
            np.matmul(dz[t], r_t, out=dh)
        return hx[:-1].reshape(length * B, -1).T @ dz.reshape(length * B, -1)

    products()
    best = float("inf")
    for _ in range(repeat):
        start = clock()
        products()
        best = min(best, clock() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps: a rough table in a minute or two")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole table; print median ratios")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", nargs="+", default=["mlp", "lenet", "cnn", "gru", "lstm"],
                        choices=["mlp", "lenet", "cnn", "gru", "lstm"])
    parser.add_argument("--match", default=None, help="only the rows whose label contains this text")
    parser.add_argument("--peak", action="store_true", help="also nerve's tracemalloc peak of one step")
    parser.add_argument("--torch-threads", type=int, default=2)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process's CPU time (time.process_time); meant for one thread per framework: "
                             "OPENBLAS_NUM_THREADS=1 ... --torch-threads 1, robust to other load on the machine")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    nerve.backend.keep_freed_memory()  # as a training script would (docs/settings.md)
    import torch

    torch.set_num_threads(args.torch_threads)
    print("one training step (forward + backward + Adam), nerve vs PyTorch eager; best of alternating rounds"
          + (" (CPU time)" if args.cpu_time else ""))
    print(machine_line() + f", torch {torch.__version__} ({torch.get_num_threads()} threads)")
    note = coretype_note()
    if note:
        print(note)
    table = [r for r in rows(args.only) if args.match is None or args.match in r[0]]
    ratios = {label: [] for label, *_ in table}
    times = {}
    for run in range(args.runs):
        if args.runs > 1:
            print(f"-- run {run + 1} of {args.runs}")
        print(f"{'row':<31} {'nerve ms':>9} {'torch ms':>9} {'nerve/torch':>12}" + (f" {'peak MiB':>9}" if args.peak else ""))
        for label, nerve_f, torch_f, flops in table:
            steps = {"nerve": nerve_f(), "torch": torch_f()}
            probe = time.perf_counter()
            steps["nerve"]()
            one = time.perf_counter() - probe  # about 0.1-0.3 s per round and candidate
            n = max(1, min(30, int((0.08 if args.quick else 0.25) / max(one, 1e-4))))
            best = interleaved_best(steps, n, rounds, warmup=1 if one > 0.05 else 3,
                                    clock=time.process_time if args.cpu_time else time.perf_counter)
            ratio = best["nerve"] / best["torch"]
            ratios[label].append(ratio)
            times[label] = (best, flops)
            peak = f" {traced_peak(steps['nerve']) / 2**20:>9.1f}" if args.peak else ""
            print(f"{label:<31} {best['nerve']:>9.2f} {best['torch']:>9.2f} {ratio:>12.2f}{peak}", flush=True)
    if args.runs > 1:
        print(f"\n{'row':<31} {'median nerve/torch':>19} {'range':>13}")
        for label, values in ratios.items():
            print(f"{label:<31} {statistics.median(values):>19.2f} {min(values):>6.2f}-{max(values):<6.2f}")
    clock = time.process_time if args.cpu_time else time.perf_counter
    for label, (best, _) in times.items():
        if label.startswith("LSTM"):
            floor = lstm_products_ms(int(label.split()[-1]), clock=clock)
            print(f"{label}: its matrix products alone take {floor:.2f} ms in NumPy's BLAS "
                  f"({floor / best['torch']:.2f}x PyTorch's whole step, {floor / best['nerve']:.0%} of nerve's)")
    limit = sgemm_gflops(clock=clock)
    for label, (best, flops) in times.items():
        if flops:
            kind = "direct-convolution multiply-adds x2" if label.startswith("CNN") else "matrix-product flops"
            print(f"{label}: nerve {flops / best['nerve'] / 1e6:.1f} GFLOP/s, torch {flops / best['torch'] / 1e6:.1f} "
                  f"GFLOP/s ({kind}); NumPy sgemm 2048^3: {limit:.1f} GFLOP/s "
                  f"(nerve at {100 * flops / best['nerve'] / 1e6 / limit:.0f}%)")


if __name__ == "__main__":
    main()
