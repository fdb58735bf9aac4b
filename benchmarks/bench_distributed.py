"""Data-parallel training speed: samples per second with ``fit`` on 1 process and on 2 (``mpiexec -n 2``).

Models: LeNet-5 (``nerve.applications.LeNet5(classifier_activation=None)``, 28x28x1 digits) and the
digits MLP 784-128-64-10, both at a global batch of 256 (2 processes: 128 each), Adam(1e-3), sparse
cross-entropy from logits, the accuracy metric on, trained with ``fit`` on the 4,000 training digits
of the bundled subset (``drop_last=True``: 15 steps of 256 per epoch). Every process runs one BLAS
thread (``OPENBLAS_NUM_THREADS=1``) and one nerve thread (``nerve.backend.set_num_threads(1)``), so
the 1-process run is the baseline "one single-threaded process".

Printed for each model (medians over ``--repeat`` runs, the 1- and 2-process runs launched in turns
so that both see the same machine load):

* samples/s on 1 and on 2 processes, and their ratio (the scaling: 2.0 is perfect);
* the time of a training step split into: forward + backward, ``average_gradients`` (packing the
  gradients, the one Allreduce, and the wait for the slower rank), and the rest (optimizer update
  and the metrics on gathered outputs, of which ``allgather_rows``); the Allreduce share is its part
  of the step;
* "skew": the mean difference, per step, between the forward + backward times of the two ranks (load
  imbalance: the faster rank waits about that long inside the Allreduce), and the cost of the same
  Allreduce with both ranks synchronised first (a barrier), for nerve's ``allreduce`` and a blocking
  ``MPI.Allreduce``;
* "other load": the cores that other processes of the machine kept busy during the runs (from
  ``/proc/stat``, less this benchmark's own CPU time). Before each run the script waits (at most
  ``--quiet-wait`` seconds) for the machine to be quiet: on a shared machine, a run next to another
  job measures that job.

The script starts its own runs: ``python benchmarks/bench_distributed.py`` launches
``python bench_distributed.py --worker ...`` (1 process) and ``mpiexec -n 2 python
bench_distributed.py --worker ...`` (2 processes), which print one JSON line each.

Run: python benchmarks/bench_distributed.py [--repeat 5] [--models lenet mlp] [--processes 2] [--mpiexec mpiexec]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time

# the workers (and this process) use one BLAS thread: set before NumPy is imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("NERVE_NUM_THREADS", "1")

import numpy as np

import nerve

BATCH = 256
STEPS_PER_EPOCH = 4000 // BATCH  # 15
EPOCHS = {"lenet": 4, "mlp": 40}  # about 1 s of training per run on one process
NAMES = {"lenet": "LeNet-5 (28x28x1)", "mlp": "MLP 784-128-64-10"}


# ------------------------------------------------------------------------------------------- worker
def build(kind):
    """The compiled model and its training data (4,000 digits)."""
    (x, y), _ = nerve.datasets.load_digits_5k(flatten=(kind == "mlp"))
    nerve.random.seed(0)
    if kind == "lenet":
        x = x[..., None]
        model = nerve.applications.LeNet5(classifier_activation=None)  # logits
    else:
        model = nerve.Sequential([
            nerve.Input(shape=(784,)),
            nerve.layers.Dense(128, activation="relu"),
            nerve.layers.Dense(64, activation="relu"),
            nerve.layers.Dense(10),
        ])
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model, x, y


class StepTimer:
    """Wraps ``train_step``, ``average_gradients``, the optimizer's ``step`` and ``allgather_rows``: each step's parts.

    Per step: forward + backward (up to ``average_gradients``, or to the optimizer step on one process),
    ``average_gradients``, the rest (optimizer update, constraints, metrics), and ``allgather_rows``
    (the metrics' gathering, part of the rest).
    """

    def __init__(self, model):
        from nerve.training import distributed as dist_module

        self.rows = []
        self.recording = False
        self._mark = {}
        original_step, original_update = model.train_step, model.optimizer.step
        original_average, original_gather = dist_module.average_gradients, dist_module.allgather_rows

        def average_gradients(*args, **kwargs):
            self._mark["enter"] = time.perf_counter()
            try:
                return original_average(*args, **kwargs)
            finally:
                self._mark["leave"] = time.perf_counter()

        def allgather_rows(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original_gather(*args, **kwargs)
            finally:
                self._mark["gather"] = self._mark.get("gather", 0.0) + time.perf_counter() - start

        def update(*args, **kwargs):
            self._mark.setdefault("update", time.perf_counter())
            return original_update(*args, **kwargs)

        def train_step(*args, **kwargs):
            self._mark.clear()
            start = time.perf_counter()
            result = original_step(*args, **kwargs)
            end = time.perf_counter()
            if self.recording:
                update_at = self._mark.get("update", end)
                enter = self._mark.get("enter", update_at)  # one process: no Allreduce
                leave = self._mark.get("leave", enter)
                self.rows.append((enter - start, leave - enter, end - leave, self._mark.get("gather", 0.0)))
            return result

        dist_module.average_gradients = average_gradients  # the trainer looks them up on the module
        dist_module.allgather_rows = allgather_rows
        model.train_step = train_step
        model.optimizer.step = update


def synchronised_allreduce_ms(count, dtype, repeat=50):
    """Milliseconds of one Allreduce of ``count`` values after a barrier: nerve's, and a blocking MPI one."""
    from nerve.engine import comm

    buffer = np.ones(count, dtype=dtype)
    results = []
    for reduce in (lambda: comm.allreduce(buffer, out=buffer),
                   lambda: comm._STATE["comm"].Allreduce(comm._STATE["mpi"].IN_PLACE, buffer)):
        times = []
        for _ in range(repeat):
            comm._STATE["comm"].Barrier()
            start = time.perf_counter()
            reduce()
            times.append(time.perf_counter() - start)
        results.append(statistics.median(times) * 1e3)
    return results


def worker(kind, epochs):
    nerve.backend.set_num_threads(1)
    nerve.backend.keep_freed_memory()
    rank, size = nerve.distributed.initialize()
    model, x, y = build(kind)
    timer = StepTimer(model)
    model.fit(x[:3 * BATCH], y[:3 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # build, warm caches
    nerve.distributed.barrier()
    timer.recording = True
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, drop_last=True)
    elapsed = time.perf_counter() - start
    timer.recording = False
    rows = np.array(timer.rows)  # (steps, 4) seconds
    per_rank = nerve.distributed.allgather_rows(rows[None])  # (size, steps, 4)
    elapsed_all = nerve.distributed.allgather_rows(np.array([elapsed]))
    params = sum(w.size for w in model.optimizer.params)
    sync = synchronised_allreduce_ms(params + 1, np.float32) if size > 1 else [float("nan")] * 2
    if rank == 0:
        mean = per_rank.mean(axis=1)  # (size, 4) seconds per step
        step = mean[:, :3].sum(axis=1)
        skew = np.abs(per_rank[:, :, 0].max(axis=0) - per_rank[:, :, 0].min(axis=0)).mean()
        print(json.dumps({
            "model": kind, "processes": size, "samples_per_s": epochs * STEPS_PER_EPOCH * BATCH / elapsed_all.max(),
            "step_ms": float(step.mean() * 1e3), "forward_backward_ms": float(mean[:, 0].mean() * 1e3),
            "allreduce_ms": float(mean[:, 1].mean() * 1e3), "rest_ms": float(mean[:, 2].mean() * 1e3),
            "gather_ms": float(mean[:, 3].mean() * 1e3), "skew_ms": float(skew * 1e3),
            "allreduce_share": float((mean[:, 1] / step).mean()), "values": int(params) + 1,
            "sync_allreduce_ms": sync[0], "sync_blocking_allreduce_ms": sync[1],
        }), flush=True)


# ------------------------------------------------------------------------------------------- launcher
def machine_line():
    """CPU, SIMD, BLAS and MPI settings, in one line (the other benchmarks print the same kind of line)."""
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        cpu = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    config = getattr(np, "__config__", None)
    blas, simd = "?", "?"
    try:
        deps = config.CONFIG["Build Dependencies"]["blas"]
        blas = f"{deps['name']} {deps['version']}"
        found = config.CONFIG["SIMD Extensions"]["found"]
        simd = ",".join(found)
    except (AttributeError, KeyError, TypeError):
        pass
    try:
        import mpi4py
        from mpi4py import MPI

        library = " ".join(MPI.Get_library_version().splitlines()[0].split())
        mpi = f"mpi4py {mpi4py.__version__}, {library}"
    except ImportError:
        mpi = "mpi4py not installed"
    return (f"python {platform.python_version()}, numpy {np.__version__} ({blas}, SIMD {simd}), "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '(unset)')}, "
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
            f"nerve threads={nerve.backend.get_num_threads()}, cpu: {cpu} x {os.cpu_count()}; {mpi}")


def busy_cpu_seconds():
    """CPU seconds all processes of the machine have run so far (Linux ``/proc/stat``; None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:8]]
    except (OSError, ValueError):
        return None
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def wait_for_quiet(limit, threshold=0.2, window=0.5):
    """Wait (at most ``limit`` seconds) until the other processes of the machine use under ``threshold`` cores."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        before = busy_cpu_seconds()
        if before is None:
            return
        time.sleep(window)
        if (busy_cpu_seconds() - before) / window < threshold:
            return


def run_worker(kind, processes, mpiexec, epochs):
    """One run; its JSON, with ``other_load``: the cores other processes of the machine kept busy meanwhile."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--epochs", str(epochs)]
    if processes > 1:
        command = [mpiexec, "-n", str(processes), *command]
    usage, busy, start = resource.getrusage(resource.RUSAGE_CHILDREN), busy_cpu_seconds(), time.perf_counter()
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr}")
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (after.ru_utime + after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    record["other_load"] = max(0.0, (busy_cpu_seconds() - busy - ours) / wall) if busy is not None else float("nan")
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each configuration (median reported)")
    parser.add_argument("--models", nargs="+", choices=sorted(EPOCHS), default=["lenet", "mlp"])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--mpiexec", default=shutil.which("mpiexec") or "mpiexec")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default: lenet 4, mlp 40)")
    parser.add_argument("--quiet-wait", type=float, default=60.0,
                        help="before each run, wait up to this many seconds for the other processes to go quiet")
    parser.add_argument("--worker", choices=sorted(EPOCHS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.epochs or EPOCHS[args.worker])
        return
    print(f"data-parallel fit, global batch {BATCH}, Adam + accuracy metric; 1 process vs "
          f"{os.path.basename(args.mpiexec)} -n {args.processes}; median of {args.repeat} runs, "
          "one BLAS thread per process")
    print(machine_line(), flush=True)
    runs = {(kind, p): [] for kind in args.models for p in (1, args.processes)}
    for _ in range(args.repeat):
        for kind in args.models:  # the configurations in turns: a burst of load does not land on one only
            for processes in (1, args.processes):
                wait_for_quiet(args.quiet_wait)
                runs[kind, processes].append(run_worker(kind, processes, args.mpiexec, args.epochs or EPOCHS[kind]))

    def med(kind, processes, key):
        return statistics.median(run[key] for run in runs[kind, processes])

    p = args.processes
    print(f"{'model':<18} {'1 proc samples/s':>16} {f'{p} procs samples/s':>18} {'scaling':>8} {'allreduce share':>16}")
    for kind in args.models:
        one, many = med(kind, 1, "samples_per_s"), med(kind, p, "samples_per_s")
        ratios = sorted(m["samples_per_s"] / o["samples_per_s"] for o, m in zip(runs[kind, 1], runs[kind, p]))
        share = med(kind, p, "allreduce_share")
        print(f"{NAMES[kind]:<18} {one:>16,.0f} {many:>18,.0f} {many / one:>7.2f}x {share:>15.1%}"
              f"   (scaling per run: {', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"\nms per step (medians; {p} processes: mean of the ranks); the same Allreduce after a barrier; "
          "the other processes' load on the machine during the runs:")
    print(f"{'model':<18} {'procs':>5} {'step':>7} {'fwd+bwd':>8} {'allreduce':>10} {'rest':>7} {'(gather)':>9} "
          f"{'skew':>6} {'values':>8} {'nerve sync':>11} {'MPI sync':>9} {'other load':>11}")
    for kind in args.models:
        for processes in (1, p):
            row = [med(kind, processes, key) for key in ("step_ms", "forward_backward_ms", "allreduce_ms", "rest_ms",
                                                           "gather_ms", "skew_ms", "values", "sync_allreduce_ms",
                                                           "sync_blocking_allreduce_ms", "other_load")]
            collective = (f"{row[2]:>10.2f} {row[3]:>7.2f} {row[4]:>9.2f} {row[5]:>6.2f} {int(row[6]):>8,} "
                          f"{row[7]:>11.3f} {row[8]:>9.3f}") if processes > 1 else \
                f"{'-':>10} {row[3]:>7.2f} {'-':>9} {'-':>6} {'-':>8} {'-':>11} {'-':>9}"
            print(f"{NAMES[kind]:<18} {processes:>5} {row[0]:>7.2f} {row[1]:>8.2f} {collective} {row[9]:>6.2f} cores")
    print("step = fwd+bwd + allreduce (average_gradients: packing, the Allreduce of `values` float32 numbers and the "
          "wait for the slower rank) + rest (optimizer update, metrics; gather = allgather_rows of outputs and targets "
          "for the metrics); skew = mean difference per step between the ranks' fwd+bwd; nerve sync / MPI sync = "
          "nerve.distributed.allreduce / a blocking MPI Allreduce of the same buffer right after a barrier")


if __name__ == "__main__":
    main()
