"""Workers sharing one study on a real PostgreSQL server (the many-machines setup), started on loopback here.

The fixture runs ``initdb`` and ``pg_ctl`` from the PostgreSQL server package
into a temporary folder (as the ``postgres`` user when the tests run as root,
since the server refuses to run as root), listening on 127.0.0.1 and a free
port with trust authentication, and stops it afterwards. It is skipped, with
the reason, when the server binaries or psycopg2 are missing or the server
does not start. On Debian: ``apt-get install -y postgresql``.
"""

import functools
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy
import pytest

optuna = pytest.importorskip("optuna", reason="nerve.tuning needs Optuna: pip install \"nerve[tune]\"")
pytest.importorskip("psycopg2", reason="PostgreSQL storage needs psycopg2: pip install psycopg2-binary")

from nerve.tuning import Categorical, Float, SearchSpace, Tuner, build_mlp  # noqa: E402

TrialState = optuna.trial.TrialState
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _server_binaries():
    for folder in [None] + sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        initdb = shutil.which("initdb", path=folder)
        pg_ctl = shutil.which("pg_ctl", path=folder)
        if initdb and pg_ctl:
            return initdb, pg_ctl
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin; "
                    "install them with: apt-get install -y postgresql")
    initdb, pg_ctl = binaries
    prefix = []
    folder = tempfile.mkdtemp(prefix="nerve-pg-")
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the postgres user
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run the PostgreSQL server as")
        runner = shutil.which("runuser") or shutil.which("su")
        if runner is None:
            pytest.skip("running as root and neither runuser nor su is available to start PostgreSQL as 'postgres'")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = [runner, "-u", "postgres", "--"] if runner.endswith("runuser") else None
        if prefix is None:
            pytest.skip("running as root: starting PostgreSQL needs runuser")
    data, port = os.path.join(folder, "data"), _free_port()

    def run(*command, timeout=60):
        return subprocess.run(prefix + list(command), capture_output=True, text=True, timeout=timeout)

    result = run(initdb, "-D", data, "-A", "trust", "-U", "nerve", "-E", "UTF8", "--no-sync")
    if result.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed, cannot start a PostgreSQL server: {result.stderr.strip()[-500:]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    result = run(pg_ctl, "-D", data, "-o", options, "-l", os.path.join(folder, "server.log"), "-w", "-t", "60", "start")
    if result.returncode != 0:
        log = open(os.path.join(folder, "server.log")).read()[-800:] if os.path.exists(os.path.join(folder, "server.log")) else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"the PostgreSQL server did not start: {result.stderr.strip()[-300:]} {log}")
    try:
        yield f"postgresql+psycopg2://nerve@127.0.0.1:{port}/postgres"
    finally:
        run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def make_data(n=160, seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x[:, 0] - x[:, 2] > 0).astype("int64")


X, Y = make_data()
build = functools.partial(build_mlp, input_shape=(5,), num_classes=2)


def slow_build(params):
    """Trials that last a little, so that every worker gets some of them even on a busy machine."""
    time.sleep(0.3)
    return build(params)
SPACE = SearchSpace(learning_rate=Float(1e-3, 1e-1, log=True), units=Categorical([4, 8, 16]), n_layers=1)


def check_shared(study, expected):
    """Every trial once: the numbers run 0..n-1 without gaps or repeats, all finished, ids unique."""
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers
    assert len({t._trial_id for t in trials}) == len(trials)
    assert all(t.state == TrialState.COMPLETE for t in trials), [t.state for t in trials]
    assert len(trials) in expected
    return trials


def test_two_worker_processes_share_one_postgres_study(postgres_url):
    tuner = Tuner(slow_build, SPACE, objective="val_accuracy", strategy="random", seed=0, storage=postgres_url,
                  study_name="two_workers", pruner=None)
    rows = tuner.search(X, Y, epochs=1, batch_size=16, n_trials=6, n_jobs=2, verbose=0)
    trials = check_shared(tuner.study, expected={6})
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, f"both workers should have run trials, got {workers}"
    assert len(rows) == 6 and rows[0]["value"] == tuner.best_value
    # another client sees the same trials through the server
    reloaded = optuna.load_study(study_name="two_workers", storage=postgres_url)
    assert [(t.number, t.value, t.params) for t in reloaded.trials] == [(t.number, t.value, t.params) for t in trials]


def test_independent_machines_join_one_postgres_study(postgres_url, tmp_path):
    """Two separate `search` programs (as on two machines) on one study: they share it, none lost or duplicated."""
    script = tmp_path / "machine.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
        from test_tuning_postgres import X, Y, SPACE, slow_build
        from nerve.tuning import Tuner
        # both "machines" start their searches together (else a fast one could run every trial alone)
        open(os.path.join({str(tmp_path)!r}, "ready-" + sys.argv[1]), "w").close()
        deadline = time.time() + 120
        while len([f for f in os.listdir({str(tmp_path)!r}) if f.startswith("ready-")]) < 2 and time.time() < deadline:
            time.sleep(0.05)
        tuner = Tuner(slow_build, SPACE, objective="val_accuracy", strategy="tpe", seed=int(sys.argv[1]),
                      storage=sys.argv[2], study_name="machines", pruner=None)
        tuner.search(X, Y, epochs=1, batch_size=16, n_trials=6, verbose=0)
    """))
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    machines = [subprocess.Popen([sys.executable, str(script), str(seed), postgres_url], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for machine in machines:
        out, err = machine.communicate(timeout=240)
        assert machine.returncode == 0, err[-2000:]
    study = optuna.load_study(study_name="machines", storage=postgres_url)
    # each program stops once the study holds 6 trials; one that already started may finish (6 or 7)
    trials = check_shared(study, expected={6, 7})
    assert len({t.user_attrs["worker"] for t in trials}) == 2


def test_resume_on_postgres_counts_earlier_trials(postgres_url):
    first = Tuner(build, SPACE, objective="val_accuracy", strategy="random", storage=postgres_url, study_name="resume")
    first.search(X, Y, epochs=1, n_trials=2, verbose=0)
    again = Tuner(build, SPACE, objective="val_accuracy", strategy="random", storage=postgres_url, study_name="resume")
    again.search(X, Y, epochs=1, n_trials=4, verbose=0)
    check_shared(again.study, expected={4})


def test_wrong_credentials_are_a_clear_error(postgres_url):
    from nerve.tuning import StorageError

    bad = postgres_url.replace("/postgres", "/no_such_database")
    with pytest.raises(StorageError, match="no_such_database"):
        Tuner(build, SPACE, storage=bad).search(X, Y, n_trials=1, verbose=0)
