"""Data-parallel training under ``mpiexec -n 2`` on the loopback, compared with one process.

Skipped where MPI is not installed (``pip install "nerve[mpi]"``); CI installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import nerve

MPIEXEC = shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401

    HAVE_MPI4PY = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_MPI4PY = False

needs_mpi = pytest.mark.skipif(MPIEXEC is None or not HAVE_MPI4PY,
                               reason="MPI is not installed: pip install \"nerve[mpi]\" (mpi4py and mpich)")

COMMON = textwrap.dedent("""
    import sys
    import numpy as np
    import nerve
    from nerve import layers

    nerve.distributed.initialize(timeout=20)

    def data(dtype, n=200):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(n, 6)).astype(dtype)
        y = (x[:, :1] * 2 - x[:, 1:2] + 0.1 * rng.normal(size=(n, 1))).astype(dtype)
        return x, y

    def model(dtype, dropout=0.0, batch_norm=False):
        nerve.random.seed(0)
        stack = [nerve.Input(shape=(6,), dtype=dtype), layers.Dense(16, activation="tanh", dtype=dtype)]
        if dropout:
            stack.append(layers.Dropout(dropout))
        if batch_norm:
            stack.append(layers.BatchNormalization(synchronized=True, dtype=dtype))
        m = nerve.Sequential(stack + [layers.Dense(1, dtype=dtype)])
        m.compile(optimizer=nerve.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
        return m

    def save(path, m, history=None):
        if nerve.distributed.is_main():
            extra = {k: np.array(v) for k, v in (history.history if history else {}).items()}
            np.savez(path, *m.get_weights(), **extra)
""")

TRAIN = COMMON + textwrap.dedent("""
    dtype, out = sys.argv[1], sys.argv[2]
    x, y = data(dtype)
    m = model(dtype, batch_norm=len(sys.argv) > 3)
    history = m.fit(x, y, batch_size=64, epochs=5, verbose=0, validation_split=0.2,
                    callbacks=[nerve.callbacks.CSVLogger(out + f".rank{nerve.distributed.rank()}.csv")])
    save(out, m, history)
""")

CHECKPOINT = COMMON + textwrap.dedent("""
    mode, out, ckpt = sys.argv[1], sys.argv[2], sys.argv[3]
    x, y = data("float64")
    if mode == "straight":
        m = model("float64", dropout=0.3)
        m.fit(x, y, batch_size=32, epochs=4, verbose=0)
    elif mode == "first_half":
        m = model("float64", dropout=0.3)
        m.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[nerve.callbacks.ModelCheckpoint(ckpt)])
    else:  # resume
        m = nerve.load_model(ckpt)
        m.fit(x, y, batch_size=32, epochs=4, initial_epoch=m.initial_epoch, verbose=0)
    save(out, m)
""")

FAILING = COMMON + textwrap.dedent("""
    class Fail(nerve.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if nerve.distributed.rank() == 1 and batch == 2:
                raise RuntimeError("rank 1 breaks on purpose")

    x, y = data("float64")
    m = model("float64")
    m.fit(x, y, batch_size=16, epochs=50, verbose=0, callbacks=[Fail()])
    print("finished without noticing")
""")

DYING = COMMON.replace("timeout=20", "timeout=3") + textwrap.dedent("""
    import os, time

    class Die(nerve.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if nerve.distributed.rank() == 1 and batch == 2:
                if sys.argv[1] == "exit":
                    os._exit(3)          # the process is gone
                time.sleep(3600)         # the process hangs

    x, y = data("float64")
    m = model("float64")
    m.fit(x, y, batch_size=16, epochs=50, verbose=0, callbacks=[Die()])
    print("finished without noticing")
""")

MANUAL = COMMON + textwrap.dedent("""
    out = sys.argv[1]
    x, y = data("float64", n=64)
    m = model("float64")
    nerve.distributed.broadcast_weights(m)
    opt = nerve.distributed.DistributedOptimizer(nerve.optimizers.SGD(0.1, params=m.parameters()))
    loader = nerve.data.DataLoader(nerve.distributed.shard(nerve.data.TensorDataset(x, y)), batch_size=8)
    loss_fn = nerve.losses.MeanSquaredError()
    for epoch in range(3):
        for xb, yb in loader:
            loss = loss_fn(yb, m(xb, training=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
    save(out, m)
""")


@pytest.fixture(autouse=True)
def _no_shared_memory_left_behind():
    """An aborted MPI job cannot remove its shared-memory files: remove the ones a test's job made."""
    shm = "/dev/shm"
    before = set(os.listdir(shm)) if os.path.isdir(shm) else set()
    yield
    if os.path.isdir(shm):
        for name in set(os.listdir(shm)) - before:
            if name.startswith("mpich_shm_"):
                try:
                    os.unlink(os.path.join(shm, name))
                except OSError:
                    pass


def _run(script, args, tmp_path, processes, timeout=240):
    path = tmp_path / "script.py"
    path.write_text(script)
    command = [sys.executable, str(path), *map(str, args)]
    if processes > 1:
        command = [MPIEXEC, "-n", str(processes), *command]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=timeout, env=env)


def _weights(path):
    with np.load(path) as archive:
        return {k: archive[k] for k in archive.files}


@needs_mpi
@pytest.mark.parametrize("dtype, tolerance", [("float64", 1e-12), ("float32", 1e-5)])
def test_two_ranks_reach_the_weights_of_one_process(tmp_path, dtype, tolerance):
    one = _run(TRAIN, [dtype, tmp_path / "one.npz"], tmp_path, 1)
    assert one.returncode == 0, one.stderr
    two = _run(TRAIN, [dtype, tmp_path / "two.npz"], tmp_path, 2)
    assert two.returncode == 0, two.stderr
    a, b = _weights(tmp_path / "one.npz"), _weights(tmp_path / "two.npz")
    assert a.keys() == b.keys() and {"loss", "mae", "val_loss", "val_mae"} <= set(a)
    for key in a:
        scale = max(1.0, float(np.abs(a[key]).max()))
        assert np.abs(a[key] - b[key]).max() <= tolerance * scale, f"{key} differs"
    # only rank 0 writes logs
    assert (tmp_path / "two.npz.rank0.csv").exists() and not (tmp_path / "two.npz.rank1.csv").exists()


@needs_mpi
def test_synchronized_batch_normalization_on_two_ranks_matches_one_process(tmp_path):
    one = _run(TRAIN, ["float64", tmp_path / "one.npz", "bn"], tmp_path, 1)
    two = _run(TRAIN, ["float64", tmp_path / "two.npz", "bn"], tmp_path, 2)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    a, b = _weights(tmp_path / "one.npz"), _weights(tmp_path / "two.npz")
    assert len([k for k in a if k.startswith("arr_")]) == 8  # the moving statistics are compared too
    for key in a:
        assert np.abs(a[key] - b[key]).max() <= 1e-12 * max(1.0, float(np.abs(a[key]).max())), key


@needs_mpi
def test_checkpoint_of_two_ranks_resumes_bit_identically_on_two_and_closely_on_one(tmp_path):
    ckpt = tmp_path / "run.nerve"
    for mode, out in (("straight", "straight.npz"), ("first_half", "half.npz"), ("resume", "resumed.npz")):
        result = _run(CHECKPOINT, [mode, tmp_path / out, ckpt], tmp_path, 2)
        assert result.returncode == 0, result.stderr
    straight, resumed = _weights(tmp_path / "straight.npz"), _weights(tmp_path / "resumed.npz")
    for key in straight:
        np.testing.assert_array_equal(straight[key], resumed[key])
    single = _run(CHECKPOINT, ["resume", tmp_path / "single.npz", ckpt], tmp_path, 1)
    assert single.returncode == 0, single.stderr  # a checkpoint of 2 ranks loads and trains on 1


@needs_mpi
def test_a_rank_that_raises_ends_the_run_on_every_rank(tmp_path):
    start = time.perf_counter()
    result = _run(FAILING, [], tmp_path, 2, timeout=120)
    elapsed = time.perf_counter() - start
    assert result.returncode != 0
    assert "rank 1 breaks on purpose" in result.stderr
    assert "finished without noticing" not in result.stdout
    assert elapsed < 60


@needs_mpi
@pytest.mark.parametrize("how", ["exit", "hang"])
def test_a_rank_that_dies_or_hangs_ends_the_run_within_the_timeout(tmp_path, how):
    start = time.perf_counter()
    result = _run(DYING, [how], tmp_path, 2, timeout=120)
    elapsed = time.perf_counter() - start
    assert result.returncode != 0 and "finished without noticing" not in result.stdout
    assert elapsed < 60
    if how == "hang":  # rank 0 waited 3 s in a collective, then said why and aborted the job
        assert "did not complete within 3 s" in result.stderr


@needs_mpi
def test_manual_loop_with_shard_and_distributed_optimizer_matches_one_process(tmp_path):
    two = _run(MANUAL, [tmp_path / "two.npz"], tmp_path, 2)
    assert two.returncode == 0, two.stderr
    # one process: the same samples per step (rank 0 takes rows 0, 2, 4..., rank 1 rows 1, 3, 5...)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6))
    y = x[:, :1] * 2 - x[:, 1:2] + 0.1 * rng.normal(size=(64, 1))
    nerve.random.seed(0)
    m = nerve.Sequential([nerve.Input(shape=(6,), dtype="float64"), nerve.layers.Dense(16, activation="tanh", dtype="float64"),
                          nerve.layers.Dense(1, dtype="float64")])
    opt = nerve.optimizers.SGD(0.1, params=m.parameters())
    loss_fn = nerve.losses.MeanSquaredError()
    for epoch in range(3):
        for b in range(4):
            rows = np.concatenate([np.arange(0, 64, 2)[b * 8:(b + 1) * 8], np.arange(1, 64, 2)[b * 8:(b + 1) * 8]])
            loss = loss_fn(y[rows], m(x[rows], training=True))
            opt.zero_grad()
            loss.backward()
            opt.step()
    expected = m.get_weights()
    got = _weights(tmp_path / "two.npz")
    for i, w in enumerate(expected):
        np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-12, atol=1e-14)


def test_one_process_without_mpiexec_is_a_job_of_one():
    assert nerve.distributed.size() >= 1
    assert nerve.distributed.local_rows(10, index=1, count=3) == (4, 7)
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    w.grad = nerve.tensor([0.5, 1.5])
    opt = nerve.distributed.DistributedOptimizer(nerve.optimizers.SGD(1.0, params=[w]))
    assert opt.step() and w.tolist() == [0.5, 0.5]
    part = nerve.distributed.shard(nerve.data.TensorDataset(np.arange(9)), index=2, count=4)
    assert len(part) == 2 and [int(part[i][0]) for i in range(2)] == [2, 6]


@pytest.mark.parametrize("under_mpiexec", [False, True])
def test_without_mpi4py_a_plain_run_is_a_job_of_one_and_mpiexec_is_an_error(under_mpiexec):
    code = textwrap.dedent(f"""
        import os, sys
        sys.modules["mpi4py"] = None          # as if mpi4py were not installed
        for name in ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD"):
            os.environ.pop(name, None)
        if {under_mpiexec}:
            os.environ["PMI_RANK"] = "1"
        import nerve
        try:
            print("RESULT", nerve.distributed.initialize())
        except ImportError as error:
            print("RESULT ImportError", "mpi4py" in str(error))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT")][-1]
    assert line == ("RESULT ImportError True" if under_mpiexec else "RESULT (0, 1)"), result.stderr
