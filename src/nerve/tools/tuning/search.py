"""The Tuner: run a hyperparameter search over nerve models with Optuna as the engine.

One trial = draw values from the :class:`~nerve.tuning.SearchSpace`, call your
``build_fn(params)`` for a compiled model, ``fit`` it with a
:class:`~nerve.tuning.PruningCallback` on the objective (a key of the epoch
logs such as ``"val_accuracy"``), and report the last epoch's value.

* strategies: ``"grid"`` (every distinct combination, conditional ones included
  once), ``"random"`` (each trial's values depend only on ``seed`` and the trial
  number, so 1 or 4 workers try the same configurations), ``"tpe"`` (Optuna's
  model-based sampler), or any Optuna sampler object;
* pruning: ``"median"`` (default), ``"hyperband"``, ``"successive_halving"``, ``None``;
* ``n_jobs > 1``: worker processes (spawned, one BLAS thread each) sharing one
  storage; a SQLite file by default, PostgreSQL URLs for many machines;
* a model-building function that raises fails only its trial (the error is kept
  in the results table) and the search goes on;
* resumable: with a storage, ``search(n_trials=30)`` runs until the study holds
  30 finished trials, whatever earlier runs did.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve.tools.tuning import Tuner, SearchSpace, Float, Categorical, build_mlp
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int64")
    >>> space = SearchSpace(learning_rate=Float(1e-3, 1e-1, log=True), units=Categorical([8, 16]), n_layers=1)
    >>> def build(params):
    ...     return build_mlp(params, input_shape=(4,), num_classes=2)
    >>> tuner = Tuner(build, space, objective="val_accuracy", strategy="random", seed=0)
    >>> rows = tuner.search(x, y, epochs=2, batch_size=32, n_trials=3, verbose=0)
    >>> len(rows), rows[0]["state"]
    (3, 'complete')
    >>> sorted(tuner.best_params)
    ['learning_rate', 'n_layers', 'units']
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import pickle
import re
import socket
import sys
import tempfile
import time
import traceback

from nerve.engine import random as nerve_random
from nerve.tools.tuning import results as results_module
from nerve.tools.tuning.callbacks import PruningCallback
from nerve.tools.tuning.space import SearchSpace
from nerve.tools.tuning.storage import mask_password, open_storage, optuna_module, storage_url
from nerve.training.models import Model
from nerve.training.saving import load_model

STRATEGIES = ("grid", "random", "tpe")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                          "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _derive_seed(*parts):
    """A 31-bit seed from integers (stable across processes and runs)."""
    value = 0x9E3779B9
    for part in parts:
        value = (value * 1_000_003 + int(part) + 0x7F4A7C15) % (2 ** 61 - 1)
    return value % (2 ** 31 - 1)


def _describe_error(error):
    text = f"{type(error).__name__}: {error}".strip()
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    return text[:2000]


def default_direction(objective):
    """``"maximize"`` for accuracy-like log keys (acc, auc, precision, recall, f1), else ``"minimize"``.

    Examples:
        >>> default_direction("val_accuracy"), default_direction("val_loss")
        ('maximize', 'minimize')
    """
    name = objective.replace("val_", "")
    return "maximize" if any(k in name for k in ("acc", "auc", "precision", "recall", "f1")) else "minimize"


class Tuner:
    """A hyperparameter search: a search space, a model-building function and an objective.

    Args:
        build_fn: ``build_fn(params) -> compiled nerve model`` (``params`` is a dict
            of one trial's values plus the space's fixed values). ``batch_size`` and
            ``epochs`` in ``params`` override :meth:`search`'s arguments.
            For ``n_jobs > 1`` it must be importable by the worker processes
            (a module-level function or a ``functools.partial`` of one).
        space: a :class:`SearchSpace` (or a dict accepted by it).
        objective: the epoch-log key to optimise (``"val_loss"``, ``"val_accuracy"``...).
        direction: ``"minimize"``, ``"maximize"`` or ``"auto"`` (from the objective's name).
        strategy: ``"grid"``, ``"random"``, ``"tpe"`` or an Optuna sampler.
        storage: None (in memory; a temporary SQLite file when ``n_jobs > 1``), a
            file path (SQLite), or a database URL (``postgresql://...``).
        study_name: the study's name in the storage (resume by reusing it).
        pruner: ``"median"``, ``"hyperband"``, ``"successive_halving"``, ``None``/``"none"`` or an Optuna pruner.
        seed: seeds the sampler and each trial's ``nerve.random`` (trial ``n`` gets
            a seed derived from ``seed`` and ``n``); None for fresh randomness.
        model_dir: folder where each complete trial's model is saved (``model.save``);
            only the best trial's file is kept. ``best_model()`` loads it.
        callbacks: extra nerve callbacks for every trial's ``fit`` (copied per trial).

    Examples:
        >>> from nerve.tools.tuning import Tuner, SearchSpace, Int
        >>> Tuner(lambda p: None, SearchSpace(n=Int(1, 2)), objective="val_accuracy").direction
        'maximize'
        >>> Tuner(lambda p: None, SearchSpace(n=Int(1, 2)), strategy="bayes")
        Traceback (most recent call last):
        ...
        ValueError: Tuner: strategy must be one of ('grid', 'random', 'tpe') or an Optuna sampler, got 'bayes'
    """

    def __init__(self, build_fn, space, objective="val_loss", direction="auto", strategy="tpe", storage=None,
                 study_name="nerve", pruner="median", seed=0, model_dir=None, callbacks=None):
        if not callable(build_fn):
            raise ValueError(f"Tuner: build_fn must be a function params -> compiled model, got {build_fn!r}")
        self.build_fn = build_fn
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        if not isinstance(objective, str) or not objective:
            raise ValueError(f"Tuner: objective must be an epoch-log key such as 'val_loss', got {objective!r}")
        self.objective = objective
        if direction == "auto":
            direction = default_direction(objective)
        if direction not in ("minimize", "maximize"):
            raise ValueError(f"Tuner: direction must be 'minimize', 'maximize' or 'auto', got {direction!r}")
        self.direction = direction
        if isinstance(strategy, str) and strategy not in STRATEGIES:
            raise ValueError(f"Tuner: strategy must be one of {STRATEGIES} or an Optuna sampler, got {strategy!r}")
        if not isinstance(strategy, str) and not hasattr(strategy, "sample_independent"):
            raise ValueError(f"Tuner: strategy must be one of {STRATEGIES} or an Optuna sampler, got {strategy!r}")
        self.strategy = strategy
        self._grid = self.space.grid() if strategy == "grid" else None  # a continuous Float fails here
        pruner_name = "none" if pruner is None else pruner
        if isinstance(pruner_name, str) and pruner_name not in PRUNERS:
            raise ValueError(f"Tuner: pruner must be one of {PRUNERS}, None or an Optuna pruner, got {pruner!r}")
        self.pruner = pruner_name
        if not isinstance(study_name, str) or not study_name:
            raise ValueError(f"Tuner: study_name must be a non-empty string, got {study_name!r}")
        self.study_name = study_name
        self.storage = storage
        self.storage_url = storage_url(storage) if isinstance(storage, (str, os.PathLike)) or storage is None else None
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"Tuner: seed must be an integer or None, got {seed!r}")
        self.seed = seed
        self.model_dir = None if model_dir is None else os.path.abspath(os.fspath(model_dir))
        self.callbacks = list(callbacks or [])
        self.study = None
        self._data = None
        self._fit_kwargs = None
        self._epochs = None

    # ------------------------------------------------------------ pickling
    def __getstate__(self):
        state = dict(self.__dict__)
        state["study"] = None  # workers open their own connection to the storage
        state["_data"] = None
        return state

    # ------------------------------------------------------------ optuna objects
    def _sampler(self, worker=0, existing=0):
        optuna = optuna_module()
        if not isinstance(self.strategy, str):
            return self.strategy
        seed = None if self.seed is None else _derive_seed(self.seed, worker, existing)
        if self.strategy == "tpe":
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
        return optuna.samplers.RandomSampler(seed=seed)  # random; grid runs its enqueued trials

    def _pruner(self):
        optuna = optuna_module()
        if not isinstance(self.pruner, str):
            return self.pruner
        if self.pruner == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        if self.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, self._epochs or 1))
        if self.pruner == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner()
        return optuna.pruners.NopPruner()

    def _open_study(self, worker=0, existing=0):
        """Create the study (first run) or load it (resume, other workers), checking it matches this Tuner."""
        optuna = optuna_module()
        if self.storage is None and self.study is not None:
            return self.study  # in memory: keep the trials of earlier search() calls
        storage = open_storage(self.storage if self.storage_url is None and self.storage is not None else self.storage_url)
        sampler, pruner = self._sampler(worker, existing), self._pruner()
        description = json.loads(json.dumps({"space": self.space.describe(), "objective": self.objective}))
        try:
            study = optuna.create_study(storage=storage, study_name=self.study_name, direction=self.direction,
                                        sampler=sampler, pruner=pruner)
            created = True
        except optuna.exceptions.DuplicatedStudyError:
            study = optuna.load_study(study_name=self.study_name, storage=storage, sampler=sampler, pruner=pruner)
            created = False
        where = f"study '{self.study_name}' in {mask_password(self.storage_url or 'memory')}"
        if not created:
            if study.direction.name.lower() != self.direction:
                raise ValueError(f"{where} was created to {study.direction.name.lower()} its objective, this Tuner "
                                 f"wants to {self.direction}; use another study_name")
            stored = study.user_attrs.get("nerve")
            if stored is not None and stored != description:
                raise ValueError(f"{where} was created with another search space or objective:\n  stored: {stored}\n"
                                 f"  now:    {description}\nuse another study_name (or storage) for a different search")
        else:
            study.set_user_attr("nerve", description)
        if self._grid is not None and (created or not study.user_attrs.get("nerve_grid_enqueued")):
            seen = [t.params for t in study.get_trials(deepcopy=False)]
            for combo in self._grid:
                if combo not in seen:
                    study.enqueue_trial(combo)
            study.set_user_attr("nerve_grid_enqueued", True)
        return study

    # ------------------------------------------------------------ one trial
    def _objective(self, trial, data, fit_kwargs):
        optuna = optuna_module()
        if self.strategy == "random":
            # each trial's values depend on (seed, trial number) only: the same configurations whatever the workers
            trial.study.sampler = optuna.samplers.RandomSampler(
                seed=None if self.seed is None else _derive_seed(self.seed, trial.number, 7))
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            params = self.space.sample(trial)
            return self._train(trial, params, data, fit_kwargs)
        except optuna.TrialPruned:
            raise
        except Exception as error:
            trial.set_user_attr("error", _describe_error(error))
            raise

    def _build(self, params):

        model = self.build_fn(dict(params))
        if not isinstance(model, Model):
            raise TypeError(f"build_fn must return a nerve model (nerve.Sequential / nerve.Model), got {type(model).__name__}")
        if not getattr(model, "_compiled", False):
            raise ValueError("build_fn must return a compiled model: call model.compile(optimizer=..., loss=..., "
                             "metrics=[...]) inside it (the optimizer's learning rate is usually a hyperparameter)")
        return model

    def _fit(self, model, params, data, fit_kwargs, callbacks):
        x, y, validation_data = data
        kwargs = dict(fit_kwargs)
        kwargs["epochs"] = int(params.get("epochs", kwargs["epochs"]))
        kwargs["batch_size"] = int(params.get("batch_size", kwargs["batch_size"]))
        if validation_data is not None:
            kwargs.pop("validation_split", None)
            kwargs["validation_data"] = validation_data
        return model.fit(x, y, verbose=0, callbacks=callbacks, **kwargs)

    def _train(self, trial, params, data, fit_kwargs):

        if self.seed is not None:
            nerve_random.seed(_derive_seed(self.seed, trial.number))
        model = self._build(params)
        callbacks = [PruningCallback(trial, self.objective)] + copy.deepcopy(self.callbacks)
        history = self._fit(model, params, data, fit_kwargs, callbacks)
        values = history.history.get(self.objective)
        if not values:
            raise ValueError(f"the objective '{self.objective}' is not in the training logs {sorted(history.history)}")
        value = float(values[-1])
        if not math.isfinite(value):
            raise ValueError(f"the objective {self.objective} is {value} after epoch {len(values)} (training diverged)")
        trial.set_user_attr("epochs", len(history.epoch))
        if self.model_dir is not None:
            os.makedirs(self.model_dir, exist_ok=True)
            path = os.path.join(self.model_dir, f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.study_name)}-trial-{trial.number:04d}.nerve")
            model.save(path)
            trial.set_user_attr("model_path", path)
        return value

    def _keep_best_model_file(self, study, _trial=None):
        """Delete saved models of finished trials that are not (tied for) the best; running ones are never touched."""
        optuna = optuna_module()
        state = optuna.trial.TrialState
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == state.COMPLETE]
        if not complete:
            return
        best = (max if self.direction == "maximize" else min)(t.value for t in complete)
        for t in trials:
            path = t.user_attrs.get("model_path")
            if not path or t.state in (state.RUNNING, state.WAITING):
                continue
            if not (t.state == state.COMPLETE and t.value == best) and os.path.exists(path):
                try:
                    os.remove(path)
                except OSError:
                    pass

    # ------------------------------------------------------------ the loop
    def _study_full(self, study, target, session_start):
        optuna = optuna_module()
        done = len(results_module.counted_trials(study))
        running = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
                   if t.datetime_start is not None and t.datetime_start >= session_start]
        return done + len(running) >= target

    def _run_trials(self, study, data, fit_kwargs, claim, target, deadline, session_start, verbose):
        """Run trials while ``claim()`` grants one, the study is short of ``target`` and time is left."""
        optuna = optuna_module()
        callbacks = [self._keep_best_model_file] if self.model_dir is not None else []
        if verbose:
            callbacks.append(self._report)
        while claim():
            if deadline is not None and time.time() >= deadline:
                break
            if self._study_full(study, target, session_start):
                break
            study.optimize(lambda trial: self._objective(trial, data, fit_kwargs), n_trials=1, catch=(Exception,),
                           callbacks=callbacks)

    def _report(self, study, trial):
        state = trial.state.name.lower()
        value = "" if trial.value is None else f" {self.objective}={trial.value:.4f}"
        extra = f" ({trial.user_attrs['error']})" if "error" in trial.user_attrs else ""
        print(f"[{trial.user_attrs.get('worker', '?')}] trial {trial.number} {state}{value} "
              f"{json.dumps(trial.params, default=str)}{extra}", flush=True)

    def search(self, x, y=None, validation_data=None, validation_split=0.2, epochs=10, batch_size=32, n_trials=None,
               n_jobs=1, timeout=None, verbose=1):
        """Run trials until the study holds ``n_trials`` finished ones; returns :meth:`results`.

        Args:
            x: training data (as for ``fit``).
            y: training data (as for ``fit``).
            validation_data: ``(x_val, y_val)``; else the last ``validation_split`` of ``x`` is held out.
            epochs: ``fit`` arguments (``params["epochs"]``/``["batch_size"]`` override them).
            batch_size: ``fit`` arguments (``params["epochs"]``/``["batch_size"]`` override them).
            n_trials: the total the study should reach, counting finished trials of earlier
                runs (complete, pruned, failed with an error); default: the grid size for
                ``"grid"``, else 20.
            n_jobs: worker processes on this machine (one BLAS thread each). 1 runs in this process.
            timeout: seconds after which no new trial starts.
            verbose: 1 prints a line per finished trial, 0 is silent.

        Examples:
            >>> tuner.search(x, y, epochs=5, n_trials=30, n_jobs=2)  # doctest: +SKIP
        """
        if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1:
            raise ValueError(f"search: n_jobs must be a positive integer, got {n_jobs!r}")
        if n_trials is None:
            n_trials = len(self._grid) if self._grid is not None else 20
        if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 0:
            raise ValueError(f"search: n_trials must be a non-negative integer, got {n_trials!r}")
        if self._grid is not None and n_trials > len(self._grid):
            if verbose:
                print(f"the grid has {len(self._grid)} combinations; running those instead of n_trials={n_trials}")
            n_trials = len(self._grid)
        if x is None:
            raise ValueError("search: x (the training inputs) is required")
        if validation_data is None and not validation_split:
            raise ValueError("search: pass validation_data=(x_val, y_val) or a validation_split in (0, 1); "
                             f"the objective '{self.objective}' is measured on held-out data")
        self._epochs = epochs
        fit_kwargs = {"epochs": int(epochs), "batch_size": int(batch_size), "validation_split": validation_split}
        data = (x, y, validation_data)
        self._data, self._fit_kwargs = data, fit_kwargs
        if n_jobs > 1 and self.storage is None:
            folder = tempfile.mkdtemp(prefix="nerve-tuning-")
            self.storage = os.path.join(folder, "study.db")
            self.storage_url = storage_url(self.storage)
            if verbose:
                print(f"n_jobs={n_jobs}: the workers share the SQLite study {self.storage}")
        if n_jobs > 1 and self.storage_url is None:
            raise ValueError("search: n_jobs > 1 needs a storage given as a path or URL that worker processes can open")
        # storage errors, a changed space or direction: all raised here, before any training
        study = self._open_study(existing=0)
        self.study = study
        session_start = datetime.datetime.now() - datetime.timedelta(seconds=1)
        remaining = max(0, n_trials - len(results_module.counted_trials(study)))
        deadline = None if timeout is None else time.time() + float(timeout)
        if remaining == 0:
            if verbose:
                print(f"study '{self.study_name}' already has {n_trials} finished trials; nothing to run")
            return self.results()
        if n_jobs == 1:
            budget = [remaining]

            def claim():
                budget[0] -= 1
                return budget[0] >= 0

            existing = len(study.get_trials(deepcopy=False))
            study.sampler = self._sampler(0, existing)
            self._run_trials(study, data, fit_kwargs, claim, n_trials, deadline, session_start, verbose)
        else:
            self._run_workers(data, fit_kwargs, remaining, n_trials, min(n_jobs, remaining), deadline, session_start,
                              len(study.get_trials(deepcopy=False)), verbose)
        if self.model_dir is not None:
            self._keep_best_model_file(study)
        return self.results()

    def _check_picklable(self, data):
        main = sys.modules.get("__main__")
        if getattr(self.build_fn, "__module__", None) == "__main__" and not hasattr(main, "__file__"):
            raise ValueError("search: n_jobs > 1 runs trials in new processes, which cannot import a build_fn defined "
                             "interactively (in __main__ without a file); put it in a module or a script, or use n_jobs=1")
        try:
            pickle.dumps(self)
        except Exception as error:  # noqa: BLE001 - pickling errors vary
            raise ValueError(
                "search: n_jobs > 1 runs trials in new processes, so build_fn, the search space's conditions and the "
                f"callbacks must be picklable (module-level functions, not lambdas or local functions): {error}"
            ) from None
        try:
            pickle.dumps(data)
        except Exception as error:  # noqa: BLE001
            raise ValueError(f"search: n_jobs > 1 sends the data to the workers, but it cannot be pickled: {error}") from None

    def _run_workers(self, data, fit_kwargs, remaining, target, n_jobs, deadline, session_start, existing, verbose):
        import multiprocessing

        self._check_picklable(data)
        context = multiprocessing.get_context("spawn")
        tickets = context.Value("i", remaining)
        ready = context.Barrier(n_jobs)  # start trials together, once every worker has imported and connected
        errors = context.Queue()
        saved = {name: os.environ.get(name) for name in _BLAS_THREAD_VARIABLES}
        workers = []
        try:
            # the children read these when they start, before NumPy loads its BLAS: one thread per worker
            for name in _BLAS_THREAD_VARIABLES:
                os.environ[name] = "1"
            for index in range(n_jobs):
                process = context.Process(
                    target=_worker_main, name=f"nerve-tuning-worker-{index}",
                    args=(self, data, fit_kwargs, tickets, ready, target, deadline, session_start, index, existing, verbose,
                          errors))
                process.start()
                workers.append(process)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        try:
            for process in workers:
                process.join()
        except BaseException:
            for process in workers:
                if process.is_alive():
                    process.terminate()
            for process in workers:
                process.join()
            raise
        messages = []
        while True:
            try:
                messages.append(errors.get(timeout=0.2))
            except Exception:  # noqa: BLE001 - queue.Empty
                break
        bad = [p for p in workers if p.exitcode != 0]
        if bad or messages:
            details = "\n".join(messages) or ", ".join(f"{p.name} exit code {p.exitcode}" for p in bad)
            raise RuntimeError(f"tuning worker failed (finished trials are kept in the storage):\n{details}")

    # ------------------------------------------------------------ results
    def _require_study(self):
        if self.study is None:
            self.study = self._open_study()
        return self.study

    def results(self, as_dataframe=False):
        """The results table (see :func:`nerve.tuning.results_table`): a list of dicts, best first, or a DataFrame.

        Examples:
            >>> rows = tuner.results()  # doctest: +SKIP
        """
        rows = results_module.results_table(self._require_study(), param_names=self.space.names)
        return results_module.to_dataframe(rows) if as_dataframe else rows

    def leaderboard(self, top=10):
        """The results as printable text (the top ``top`` trials, then failed trials with their errors)."""
        return results_module.format_leaderboard(self.results(), self.objective, top, self.space.names)

    def _best_trial(self):
        optuna = optuna_module()
        study = self._require_study()
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            errors = [t.user_attrs["error"] for t in study.get_trials(deepcopy=False) if "error" in t.user_attrs]
            first = f"; first error: {errors[0]}" if errors else ""
            raise ValueError(f"study '{self.study_name}' has no complete trial yet{first}")
        pick = max if self.direction == "maximize" else min
        return pick(complete, key=lambda t: (t.value, -t.number) if self.direction == "maximize" else (t.value, t.number))

    @property
    def best_params(self):
        """The best complete trial's searched values plus the space's fixed values."""
        return {**self.space.fixed, **self._best_trial().params}

    @property
    def best_value(self):
        """The best complete trial's objective value."""
        return float(self._best_trial().value)

    @property
    def best_trial(self):
        """The best complete trial (an ``optuna.trial.FrozenTrial``)."""
        return self._best_trial()

    @property
    def best_model_path(self):
        """Where the best trial's model was saved (None without ``model_dir``)."""
        return self._best_trial().user_attrs.get("model_path")

    def best_model(self):
        """The best trial's model: loaded with ``nerve.load_model`` from ``model_dir``, or else retrained.

        Retraining (no ``model_dir``) uses the same seed as the trial, so it gives
        the same model, and needs the data of this process's last :meth:`search`.
        """

        trial = self._best_trial()
        path = trial.user_attrs.get("model_path")
        if path and os.path.exists(path):
            return load_model(path)
        if self._data is None:
            raise ValueError("best_model(): no saved model (give the Tuner a model_dir) and no data to retrain on "
                             "(call search() in this process first)")
        if self.seed is not None:
            nerve_random.seed(_derive_seed(self.seed, trial.number))
        params = {**self.space.fixed, **trial.params}
        model = self._build(params)
        self._fit(model, params, self._data, self._fit_kwargs, copy.deepcopy(self.callbacks))
        return model

    def importance(self, evaluator="auto", params=None):
        """Hyperparameter importance, most important first (see :func:`nerve.tuning.param_importance`)."""
        return results_module.param_importance(self._require_study(), evaluator=evaluator, params=params)

    def plot(self, path, importance=None):
        """Save the results plot (objective per trial, parameter importance) as a PNG; returns ``path``."""
        return results_module.plot_results(self._require_study(), path, importance=importance, objective=self.objective)


def _worker_main(tuner, data, fit_kwargs, tickets, ready, target, deadline, session_start, index, existing, verbose,
                 errors):
    """Entry point of one spawned worker: open the shared study and run trials while tickets remain."""
    import threading

    try:
        study = tuner._open_study(worker=index + 1, existing=existing)
        try:
            ready.wait(timeout=120)
        except threading.BrokenBarrierError:
            pass  # a sibling failed to start: run anyway
        tuner.study = study
        tuner._data = data
        tuner._fit_kwargs = fit_kwargs

        def claim():
            with tickets.get_lock():
                if tickets.value <= 0:
                    return False
                tickets.value -= 1
                return True

        tuner._run_trials(study, data, fit_kwargs, claim, target, deadline, session_start, verbose)
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, then exit non-zero
        errors.put(f"worker {index} (pid {os.getpid()}): {type(error).__name__}: {error}\n"
                   + "".join(traceback.format_exc())[-3000:])
        sys.exit(1)
