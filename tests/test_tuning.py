"""nerve.tuning: search spaces, the Tuner (grid/random/TPE, pruning, failures, best model, resume, workers), results, CLI.

Everything trains tiny MLPs on a small synthetic problem for 2-3 epochs, so the
whole file stays fast; the digits-scale experiment is examples/tune_digits.py.
"""

import functools
import json
import os
import subprocess
import sys
import textwrap

import numpy
import pytest

optuna = pytest.importorskip("optuna", reason="nerve.tuning needs Optuna: pip install \"nerve[tune]\"")

import nerve  # noqa: E402
from nerve.tuning import (Categorical, Float, Int, PruningCallback, SearchSpace, StorageError, Tuner,  # noqa: E402
                          build_mlp, format_leaderboard, param_importance, results_table)
from nerve.tools.tuning.space import Condition  # noqa: E402

TrialState = optuna.trial.TrialState


def make_data(n=240, features=6, seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")
    return x, y


X, Y = make_data()
build_small = functools.partial(build_mlp, input_shape=(6,), num_classes=2)  # picklable: usable by worker processes


def small_space(**extra):
    return SearchSpace(learning_rate=Float(1e-3, 1e-1, log=True), units=Categorical([4, 8]), n_layers=1, **extra)


# --------------------------------------------------------------------------- search space
@pytest.mark.parametrize("make, message", [
    (lambda: Float(1.0, 0.5), "low must be <= high, got low=1.0 > high=0.5"),
    (lambda: Float(0.0, 1.0, log=True), "a log range needs low > 0"),
    (lambda: Float(0.1, 1.0, log=True, step=0.1), "step and log=True cannot be combined"),
    (lambda: Float(0.0, float("inf")), "high must be finite"),
    (lambda: Float("a", 1.0), "low must be a number"),
    (lambda: Int(5, 1), "low must be <= high, got low=5 > high=1"),
    (lambda: Int(1, 5, step=0), "step must be >= 1"),
    (lambda: Int(0, 5, log=True), "a log range needs low >= 1"),
    (lambda: Int(1.5, 3), "low must be an integer"),
    (lambda: Categorical([]), "choices is empty"),
    (lambda: Categorical(["relu", "relu"]), "listed twice"),
    (lambda: Categorical([(128, 64)]), "choices must be None, bool, int, float or str"),
    (lambda: Categorical("relu"), "choices must be a list"),
    (lambda: SearchSpace(), "the search space is empty"),
    (lambda: SearchSpace(batch_size=64), "the search space is empty"),  # only fixed values: nothing to search
    (lambda: SearchSpace(units_3=Int(1, 4, when="n_layers >= 3")), "names 'n_layers', which is not a parameter"),
    (lambda: SearchSpace(units_3=Int(1, 4, when="n_layers >= 3"), n_layers=Int(1, 3)), "declared after it"),
    (lambda: SearchSpace(a=Int(1, 4, when="a > 1")), "refers to 'a' itself"),
    (lambda: Int(1, 4, when="n_layers >>= 3"), "cannot read the value '>= 3'"),
    (lambda: SearchSpace.from_dict({"lr": {"type": "flaot", "low": 0.1, "high": 1}}), "type must be one of"),
    (lambda: SearchSpace.from_dict({"lr": {"type": "float", "low": 0.1, "hihg": 1}}), "unknown keys ['hihg']"),
    (lambda: SearchSpace.from_dict({"lr": {"type": "float", "low": 0.1}}), "search space entry 'lr' (float)"),
    (lambda: SearchSpace(x=Float(0.0, 1.0)).grid(), "grid search needs a finite set of values, but 'x'"),
])
def test_bad_spaces_fail_with_clear_messages(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)


def test_conditions():
    c = Condition("optimizer == sgd")  # bare words are strings
    assert c({"optimizer": "sgd"}) and not c({"optimizer": "adam"}) and not c({})
    assert Condition("n not in [1, 2]")({"n": 3})
    assert not Condition("n > 2")({"n": "text"})  # incomparable types: inactive, not a crash
    space = SearchSpace(n_layers=Int(1, 3), extra=Float(0, 1, when=lambda p: p["n_layers"] == 2))
    assert space.params["extra"].active({"n_layers": 2}) and not space.params["extra"].active({"n_layers": 1})


def test_grid_enumerates_distinct_combinations_with_conditions():
    space = SearchSpace(n_layers=Int(1, 3), units_2=Categorical([8, 16], when="n_layers >= 2"),
                        units_3=Categorical([4, 8, 16], when="n_layers >= 3"), dropout=Float(0.0, 0.5, step=0.25),
                        activation="relu")
    grid = space.grid()
    # per dropout value: n=1 -> 1, n=2 -> 2, n=3 -> 2*3 = 6; total 9 * 3 dropout values
    assert len(grid) == 27
    assert len({json.dumps(g, sort_keys=True) for g in grid}) == 27
    assert all(("units_2" in g) == (g["n_layers"] >= 2) and ("units_3" in g) == (g["n_layers"] >= 3) for g in grid)
    assert sorted({g["dropout"] for g in grid}) == [0.0, 0.25, 0.5]
    assert "activation" not in grid[0]  # fixed values are not part of the grid


def test_space_sample_uses_optuna_suggest_and_keeps_fixed_values():
    space = SearchSpace(lr=Float(1e-4, 1e-1, log=True), n=Int(1, 3), units_3=Int(16, 256, log=True, when="n >= 3"),
                        act=["relu", "tanh"], batch_size=64)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        params = space.sample(trial)
        assert params["batch_size"] == 64
        assert 1e-4 <= params["lr"] <= 1e-1 and params["act"] in ("relu", "tanh")
        assert ("units_3" in params) == (params["n"] >= 3)
        assert set(trial.params) == set(params) - {"batch_size"}
        study.tell(trial, 0.0)
    distribution = study.trials[0].distributions["lr"]
    assert distribution.log and distribution.low == 1e-4


# --------------------------------------------------------------------------- tuner basics
def test_random_search_runs_and_ranks_trials():
    tuner = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", pruner=None, seed=0)
    rows = tuner.search(X, Y, epochs=2, batch_size=32, n_trials=4, verbose=0)
    assert [r["state"] for r in rows] == ["complete"] * 4
    assert sorted(r["number"] for r in rows) == [0, 1, 2, 3]
    values = [r["value"] for r in rows]
    assert values == sorted(values, reverse=True)  # maximize: best first
    assert tuner.best_value == values[0] and tuner.best_params["n_layers"] == 1
    assert {k: rows[0][k] for k in ("learning_rate", "units")} == {k: tuner.best_params[k] for k in ("learning_rate", "units")}
    assert all(r["epochs"] == 2 and r["duration_s"] > 0 and r["error"] is None for r in rows)
    board = tuner.leaderboard()
    assert board.splitlines()[0].split() == ["rank", "trial", "state", "val_accuracy", "learning_rate", "units",
                                             "epochs", "seconds"]
    assert len(board.splitlines()) == 5


def test_random_values_depend_only_on_seed_and_trial_number():
    def params_of(seed):
        tuner = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", seed=seed)
        tuner.search(X, Y, epochs=1, n_trials=3, verbose=0)
        return [t.params for t in tuner.study.trials]

    first = params_of(0)
    assert first == params_of(0)
    assert first != params_of(1)
    assert len({p["learning_rate"] for p in first}) == 3


def test_grid_search_runs_each_combination_once():
    space = SearchSpace(n_layers=Int(1, 2), units_2=Categorical([4, 8], when="n_layers >= 2"), learning_rate=0.05)
    tuner = Tuner(build_small, space, objective="val_loss", strategy="grid")
    rows = tuner.search(X, Y, epochs=1, verbose=0)  # n_trials defaults to the grid size
    assert len(rows) == 3
    got = sorted(json.dumps({k: r[k] for k in ("n_layers", "units_2")}) for r in rows)
    assert got == sorted(json.dumps({"n_layers": g["n_layers"], "units_2": g.get("units_2")}) for g in space.grid())
    assert tuner.direction == "minimize" and rows[0]["value"] == min(r["value"] for r in rows)


def test_tpe_search_runs():
    tuner = Tuner(build_small, small_space(), objective="val_loss", strategy="tpe", seed=0)
    rows = tuner.search(X, Y, epochs=1, n_trials=3, verbose=0)
    assert len(rows) == 3 and isinstance(tuner.study.sampler, optuna.samplers.TPESampler)


def test_batch_size_and_epochs_from_the_space_override_search_arguments():
    tuner = Tuner(build_small, small_space(epochs=3, batch_size=Categorical([16, 64])), objective="val_accuracy")
    rows = tuner.search(X, Y, epochs=1, n_trials=2, verbose=0)
    assert [r["epochs"] for r in rows] == [3, 3]
    assert {r["batch_size"] for r in rows} <= {16, 64}


# --------------------------------------------------------------------------- failures and pruning
calls = []


def flaky_build(params):
    calls.append(params)
    if len(calls) == 2:
        raise RuntimeError("out of cheese in layer 3")
    return build_small(params)


def test_a_failing_trial_is_recorded_and_the_search_goes_on():
    calls.clear()
    tuner = Tuner(flaky_build, small_space(), objective="val_accuracy", strategy="random")
    rows = tuner.search(X, Y, epochs=1, n_trials=4, verbose=0)
    assert len(calls) == 4
    states = [r["state"] for r in rows]
    assert states.count("complete") == 3 and states[-1] == "failed"
    failed = rows[-1]
    assert failed["number"] == 1 and "RuntimeError: out of cheese in layer 3" in failed["error"]
    assert "flaky_build" in failed["error"]  # where it happened
    assert "trial 1 failed: RuntimeError: out of cheese" in tuner.leaderboard()
    assert tuner.study.trials[1].state == TrialState.FAIL


def test_wrong_build_results_fail_their_trials_with_reasons():
    def uncompiled(params):
        return nerve.Sequential([nerve.layers.Dense(2)])

    tuner = Tuner(uncompiled, small_space(), objective="val_accuracy")
    rows = tuner.search(X, Y, epochs=1, n_trials=2, verbose=0)
    assert [r["state"] for r in rows] == ["failed", "failed"]
    assert "build_fn must return a compiled model" in rows[0]["error"]
    with pytest.raises(ValueError, match="no complete trial yet; first error: ValueError: build_fn must return"):
        tuner.best_params
    missing = Tuner(build_small, small_space(), objective="val_f1")
    rows = missing.search(X, Y, epochs=1, n_trials=1, verbose=0)
    assert "'val_f1' is not in the epoch logs" in rows[0]["error"]


@pytest.mark.filterwarnings("ignore")  # overflow and non-finite gradient warnings are the point here
def test_diverging_trial_fails_with_its_reason():
    def diverge(params):
        return build_mlp({**params, "learning_rate": 1e30, "optimizer": "sgd"}, (6,), 2)

    rows = Tuner(diverge, small_space(), objective="val_loss").search(X * 1e3, Y, epochs=2, n_trials=1, verbose=0)
    assert rows[0]["state"] == "failed" and ("diverged" in rows[0]["error"] or "nan" in rows[0]["error"].lower())


class FakeTrial:
    def __init__(self, prune_after):
        self.number, self.reports, self.prune_after, self.user_attrs = 7, [], prune_after, {}

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return len(self.reports) >= self.prune_after

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


def test_pruning_callback_reports_every_epoch_and_stops_the_trial():
    nerve.random.seed(0)
    trial = FakeTrial(prune_after=2)
    model = build_small({"learning_rate": 0.01})
    with pytest.raises(optuna.TrialPruned, match="trial 7 pruned after epoch 2"):
        model.fit(X, Y, epochs=5, validation_split=0.25, verbose=0, callbacks=[PruningCallback(trial, "val_accuracy")])
    assert [step for step, _ in trial.reports] == [0, 1]
    assert all(0 <= v <= 1 for _, v in trial.reports)
    assert model.stop_training and trial.user_attrs == {"pruned_at_epoch": 2}
    with pytest.raises(ValueError, match="'val_auc' is not in the epoch logs"):
        model.fit(X, Y, epochs=1, validation_split=0.25, verbose=0, callbacks=[PruningCallback(trial, "val_auc")])


def test_tuner_prunes_bad_trials_early():
    # a pruner that stops every trial whose val_accuracy is below 1.01 after the first epoch: all are pruned at epoch 1
    pruner = optuna.pruners.ThresholdPruner(lower=1.01, n_warmup_steps=0)
    tuner = Tuner(build_small, small_space(), objective="val_accuracy", pruner=pruner)
    rows = tuner.search(X, Y, epochs=4, n_trials=2, verbose=0)
    assert [r["state"] for r in rows] == ["pruned", "pruned"]
    assert [r["epochs"] for r in rows] == [1, 1] and all(0 <= r["value"] <= 1 for r in rows)


# --------------------------------------------------------------------------- storage, resume, best model
def test_unreachable_storage_is_a_clear_error_before_training(tmp_path):
    calls.clear()
    tuner = Tuner(flaky_build, small_space(), storage=str(tmp_path / "missing" / "study.db"))
    with pytest.raises(StorageError, match="the folder .*missing does not exist"):
        tuner.search(X, Y, n_trials=2, verbose=0)
    pytest.importorskip("psycopg2")
    url = "postgresql://nerve:secret@127.0.0.1:1/tuning"  # port 1: nothing listens there
    with pytest.raises(StorageError) as info:
        Tuner(flaky_build, small_space(), storage=url).search(X, Y, n_trials=2, verbose=0)
    message = str(info.value)
    assert "postgresql://nerve:***@127.0.0.1:1/tuning" in message and "secret" not in message
    assert calls == []  # no trial started


def test_resume_continues_to_the_requested_total(tmp_path):
    storage = str(tmp_path / "study.db")
    first = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", storage=storage,
                  study_name="resume")
    first.search(X, Y, epochs=1, n_trials=2, verbose=0)
    again = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", storage=storage,
                  study_name="resume")
    rows = again.search(X, Y, epochs=1, n_trials=3, verbose=0)
    assert sorted(r["number"] for r in rows) == [0, 1, 2]
    assert again.search(X, Y, epochs=1, n_trials=3, verbose=0) == rows  # already complete: nothing to run
    other = Tuner(build_small, small_space(extra=Int(1, 2)), objective="val_accuracy", storage=storage,
                  study_name="resume")
    with pytest.raises(ValueError, match="was created with another search space"):
        other.search(X, Y, n_trials=4, verbose=0)
    flipped = Tuner(build_small, small_space(), objective="val_accuracy", direction="minimize", storage=storage,
                    study_name="resume")
    with pytest.raises(ValueError, match="created to maximize"):
        flipped.search(X, Y, n_trials=4, verbose=0)


def interrupt_third(params):
    calls.append(params)
    if len(calls) == 3:
        raise KeyboardInterrupt
    return build_small(params)


def test_interrupted_search_keeps_completed_trials_and_resumes(tmp_path):
    storage = str(tmp_path / "study.db")
    calls.clear()
    tuner = Tuner(interrupt_third, small_space(), objective="val_accuracy", storage=storage, study_name="s")
    with pytest.raises(KeyboardInterrupt):
        tuner.search(X, Y, epochs=1, n_trials=4, verbose=0)
    kept = optuna.load_study(study_name="s", storage=f"sqlite:///{storage}")
    assert [t.state for t in kept.trials] == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL]
    resumed = Tuner(build_small, small_space(), objective="val_accuracy", storage=storage, study_name="s")
    rows = resumed.search(X, Y, epochs=1, n_trials=4, verbose=0)
    # the interrupted trial does not count: four complete trials, the interrupted one listed as failed
    assert [r["state"] for r in rows].count("complete") == 4 and len(rows) == 5


def test_best_model_is_saved_and_reloaded(tmp_path):
    x_val, y_val = make_data(80, seed=1)
    tuner = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", seed=3,
                  model_dir=tmp_path / "models", storage=str(tmp_path / "s.db"))
    tuner.search(X, Y, validation_data=(x_val, y_val), epochs=2, n_trials=4, verbose=0)
    files = sorted(os.listdir(tmp_path / "models"))
    best = tuner.best_trial
    assert f"nerve-trial-{best.number:04d}.nerve" in files
    assert len(files) <= 4 and len(files) == sum(t.value == best.value for t in tuner.study.trials)
    model = tuner.best_model()
    accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(tuner.best_value, abs=1e-9)
    # without model_dir the best trial is retrained with the trial's seed: the same model
    again = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", seed=3)
    again.search(X, Y, validation_data=(x_val, y_val), epochs=2, n_trials=4, verbose=0)
    retrained = again.best_model()
    assert retrained.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"] == pytest.approx(again.best_value)
    assert again.best_value == tuner.best_value


# --------------------------------------------------------------------------- results, importance, plot
def test_importance_ranks_the_parameter_that_matters():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: 10 * t.suggest_float("big", 0, 1) + 0.1 * t.suggest_float("small", 0, 1)
                   + 0.0 * (t.suggest_categorical("none", ["a", "b"]) == "a"), n_trials=30)
    pytest.importorskip("sklearn")  # fANOVA's random forest
    importance = param_importance(study, evaluator=optuna.importance.FanovaImportanceEvaluator(n_trees=16, seed=0))
    assert list(importance) == ["big", "small", "none"] and sum(importance.values()) == pytest.approx(1.0)
    assert importance["big"] > 0.9
    with pytest.raises(ValueError, match="must be one of"):
        param_importance(study, evaluator="shap")
    with pytest.raises(ValueError, match="at least 2 complete trials"):
        param_importance(optuna.create_study())


def test_results_table_orders_states_and_fills_inactive_params():
    study = optuna.create_study(direction="maximize")
    space = SearchSpace(n=Int(1, 2), u2=Int(1, 5, when="n >= 2"))
    study.enqueue_trial({"n": 1})
    study.enqueue_trial({"n": 2, "u2": 3})
    for value in (0.5, 0.9):
        trial = study.ask()
        space.sample(trial)
        study.tell(trial, value)
    trial = study.ask()
    trial.set_user_attr("error", "ValueError: bad")
    study.tell(trial, state=TrialState.FAIL)
    rows = results_table(study, param_names=space.names)
    assert [(r["number"], r["state"], r["value"]) for r in rows] == [(1, "complete", 0.9), (0, "complete", 0.5),
                                                                     (2, "failed", None)]
    assert rows[1]["u2"] is None and rows[0]["u2"] == 3
    text = format_leaderboard(rows, "acc", param_names=space.names)
    assert "trial 2 failed: ValueError: bad" in text


def test_plot_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    tuner = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random")
    tuner.search(X, Y, epochs=1, n_trials=3, verbose=0)
    path = tuner.plot(tmp_path / "search.png")
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- parallel workers
def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    tuner = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", seed=0,
                  storage=str(tmp_path / "shared.db"), study_name="parallel")
    rows = tuner.search(X, Y, epochs=1, n_trials=6, n_jobs=2, verbose=0)
    trials = tuner.study.trials
    assert len(trials) == 6 and sorted(t.number for t in trials) == list(range(6))
    assert all(t.state == TrialState.COMPLETE for t in trials) and len(rows) == 6
    assert all(t.user_attrs["worker"].split(":")[-1] != str(os.getpid()) for t in trials)  # ran in the workers
    # random values depend on the trial number only: the same configurations as one in-process worker
    serial = Tuner(build_small, small_space(), objective="val_accuracy", strategy="random", seed=0)
    serial.search(X, Y, epochs=1, n_trials=6, verbose=0)
    by_number = {t.number: t.params for t in trials}
    assert by_number == {t.number: t.params for t in serial.study.trials}


def test_parallel_search_rejects_what_workers_cannot_import():
    tuner = Tuner(lambda p: build_small(p), small_space(), storage=None)
    with pytest.raises(ValueError, match="must be picklable"):
        tuner.search(X, Y, n_trials=2, n_jobs=2, verbose=0)
    with pytest.raises(ValueError, match="n_jobs must be a positive integer"):
        tuner.search(X, Y, n_trials=2, n_jobs=0, verbose=0)


def test_importing_nerve_does_not_import_the_optional_extras():
    code = ("import sys, nerve, nerve.tuning; "
            "print(sorted(m for m in ('optuna', 'sklearn', 'matplotlib', 'pandas') if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(nerve.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]"


def test_missing_optuna_names_the_extra(monkeypatch):
    from nerve.tools.tuning.storage import optuna_module

    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r'pip install "nerve\[tune\]"'):
        optuna_module()


# --------------------------------------------------------------------------- CLI
def write_spec(folder, **study):
    (folder / "toy_data.py").write_text(textwrap.dedent("""
        import numpy
        def load():
            rng = numpy.random.default_rng(0)
            x = rng.normal(size=(200, 5)).astype("float32")
            y = (x[:, 0] > 0).astype("int64")
            return (x[:160], y[:160]), (x[160:], y[160:])
    """))
    spec = {
        "study": {"name": "toy", "strategy": "random", "n_trials": 2, "objective": "val_accuracy",
                  "model_dir": "models", **study},
        "data": {"loader": "toy_data:load", "validation_size": 0.25},
        "train": {"epochs": 1, "batch_size": 32},
        "model": {"build": "mlp"},
        "space": {"learning_rate": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
                  "n_layers": {"type": "int", "low": 1, "high": 2},
                  "units_2": {"type": "int", "low": 4, "high": 8, "when": "n_layers >= 2"},
                  "activation": ["relu", "tanh"], "units": 8},
    }
    path = folder / "toy.json"
    path.write_text(json.dumps(spec))
    return path


def test_cli_runs_prints_leaderboard_and_resumes(tmp_path, capsys, monkeypatch):
    from nerve.cli import main

    (tmp_path / "specs").mkdir()
    path = write_spec(tmp_path / "specs")
    monkeypatch.chdir(tmp_path)  # the study and model_dir go to the current folder; the loader module beside the spec
    assert main(["tune", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "rank  trial  state" in out and "best val_accuracy:" in out and "best model on the test set" in out
    assert (tmp_path / "toy.db").exists() and len(os.listdir(tmp_path / "models")) >= 1
    assert main(["tune", str(path), "--n-trials", "3", "--quiet"]) == 0  # resumes: one more trial
    out = capsys.readouterr().out
    study = optuna.load_study(study_name="toy", storage=f"sqlite:///{tmp_path / 'toy.db'}")
    assert len(study.trials) == 3 and "importance:" in out


def test_cli_spec_errors_come_before_training(tmp_path):
    from nerve.tuning import load_spec, main_tune

    path = write_spec(tmp_path)
    spec = json.loads(path.read_text())
    for change, message in [
        (lambda s: s.update(extra={}), "unknown sections ['extra']"),
        (lambda s: s["study"].update(n_trails=3), "unknown keys ['n_trails'] in [study]"),
        (lambda s: s.update(space={}), "the search space is empty"),
        (lambda s: s["space"].update(n_layers={"type": "int", "low": 3, "high": 1}), "low must be <= high"),
        (lambda s: s["space"].update(activation=[]), "choices is empty"),
        (lambda s: s["data"].update(loader="toy_data:nope"), "module 'toy_data' has no 'nope'"),
    ]:
        broken = json.loads(json.dumps(spec))
        change(broken)
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(broken))
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            main_tune([str(bad)])
    assert load_spec(path)["study"]["name"] == "toy"


def test_example_spec_is_valid():
    if sys.version_info < (3, 11):
        pytest.importorskip("tomli", reason="TOML specs need Python 3.11+ or tomli")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    from nerve.tuning import load_spec

    spec = load_spec(os.path.join(root, "examples", "tune_spec.toml"))
    space = SearchSpace.from_dict(spec["space"])
    assert "learning_rate" in space.names and space.params["learning_rate"].log

