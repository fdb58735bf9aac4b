"""``nerve tune SPEC``: run a search described by a small TOML (or JSON) file and print the leaderboard.

The study lives in its storage (by default a SQLite file ``<spec name>.db`` in
the current folder), so running the same command again after an interruption
continues until the study holds ``n_trials`` finished trials. Relative paths in
the spec (storage, model_dir) are relative to the current folder; ``module:function``
references are imported from the spec's folder or the current one.

A spec (TOML; the same keys work as JSON)::

    [study]
    name = "digits_mlp"          # the study's name in the storage
    storage = "digits_mlp.db"    # a path (SQLite) or postgresql://user:pw@host/db
    strategy = "random"          # grid | random | tpe
    n_trials = 30
    n_jobs = 2                   # worker processes on this machine
    objective = "val_accuracy"
    pruner = "median"            # median | hyperband | successive_halving | none
    seed = 0
    model_dir = "digits_models"  # keep the best trial's model here

    [data]
    dataset = "digits_5k"        # built in; or loader = "module:function" returning (x, y) or ((x, y), (x_test, y_test))
    validation_size = 0.1

    [train]
    epochs = 5
    batch_size = 64

    [model]
    build = "mlp"                # nerve.tuning.build_mlp; or "module:function" taking params, returning a compiled model

    [space]
    learning_rate = { type = "float", low = 1e-4, high = 1e-1, log = true }
    n_layers = { type = "int", low = 1, high = 3 }
    units_2 = { type = "int", low = 16, high = 256, log = true, when = "n_layers >= 2" }
    activation = ["relu", "tanh"]     # a list: categorical
    batch_size = 64                   # a scalar: fixed

Examples:
    >>> spec = load_spec("examples/tune_spec.toml")  # doctest: +SKIP
    >>> sorted(spec)  # doctest: +SKIP
    ['data', 'model', 'space', 'study', 'train']
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys

from nerve.tools.tuning.builders import build_mlp
from nerve.tools.tuning.search import Tuner
from nerve.tools.tuning.space import SearchSpace
from nerve.training import data, datasets

SECTIONS = {
    "study": {"name", "storage", "strategy", "n_trials", "n_jobs", "objective", "direction", "pruner", "seed",
              "model_dir", "timeout"},
    "data": {"dataset", "loader", "validation_size", "limit", "seed"},
    "train": {"epochs", "batch_size"},
    "model": {"build"},
    "space": None,  # any parameter names
}
DATASETS = ("digits_5k",)


def load_spec(path):
    """Read a tuning spec (``.toml`` via tomllib, or ``.json``) and check its sections and keys.


    Examples:
        >>> import json, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "s.json")
        >>> _ = open(path, "w").write(json.dumps({"space": {"lr": [0.1, 0.01]}, "study": {"n_trials": 2}}))
        >>> load_spec(path)["study"]["n_trials"]
        2
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"nerve tune: no spec file at {path}")
    with open(path, "rb") as file:
        raw = file.read()
    if path.endswith(".toml"):
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib
            except ImportError:
                raise ImportError("reading .toml specs needs Python 3.11+ (tomllib) or pip install tomli; "
                                  "or write the spec as .json") from None
        try:
            spec = tomllib.loads(raw.decode("utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"nerve tune: {path} is not valid TOML: {error}") from None
    else:
        try:
            spec = json.loads(raw.decode("utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"nerve tune: {path} is not valid JSON: {error}") from None
    if not isinstance(spec, dict):
        raise ValueError(f"nerve tune: {path} must hold a table of sections {sorted(SECTIONS)}")
    unknown = sorted(set(spec) - set(SECTIONS))
    if unknown:
        raise ValueError(f"nerve tune: unknown sections {unknown} in {path}; valid sections are {sorted(SECTIONS)}")
    if "space" not in spec:
        raise ValueError(f"nerve tune: {path} has no [space] section: declare the hyperparameters to search")
    for section, keys in SECTIONS.items():
        if keys is None or section not in spec:
            continue
        if not isinstance(spec[section], dict):
            raise ValueError(f"nerve tune: [{section}] must be a table, got {spec[section]!r}")
        bad = sorted(set(spec[section]) - keys)
        if bad:
            raise ValueError(f"nerve tune: unknown keys {bad} in [{section}] of {path}; valid keys are {sorted(keys)}")
    return spec


def _import_object(reference, folder):
    if ":" not in reference:
        raise ValueError(f"nerve tune: expected 'module:function', got {reference!r}")
    module_name, _, attribute = reference.partition(":")
    for path in (os.getcwd(), folder):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"nerve tune: cannot import module '{module_name}' (searched {folder} and sys.path): {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"nerve tune: module '{module_name}' has no '{attribute}'") from None


def load_data(data_spec, folder):
    """``((x_train, y_train), (x_val, y_val), test)`` for a spec's ``[data]`` table; ``test`` may be None."""
    import numpy


    dataset, loader = data_spec.get("dataset"), data_spec.get("loader")
    if (dataset is None) == (loader is None):
        raise ValueError("nerve tune: [data] needs exactly one of dataset = 'digits_5k' or loader = 'module:function'")
    seed = int(data_spec.get("seed", 0))
    if dataset is not None:
        if dataset not in DATASETS:
            raise ValueError(f"nerve tune: unknown dataset {dataset!r}; built-in datasets are {list(DATASETS)}")
        loaded = datasets.load_digits_5k(flatten=True, seed=seed)
    else:
        loaded = _import_object(loader, folder)()
    if isinstance(loaded, tuple) and len(loaded) == 2 and all(isinstance(p, tuple) and len(p) == 2 for p in loaded):
        (x, y), test = loaded
    elif isinstance(loaded, tuple) and len(loaded) == 2:
        (x, y), test = loaded, None
    else:
        raise ValueError("nerve tune: the data loader must return (x, y) or ((x_train, y_train), (x_test, y_test))")
    x, y = numpy.asarray(x), numpy.asarray(y)
    limit = data_spec.get("limit")
    if limit:
        x, y = x[: int(limit)], y[: int(limit)]
    size = float(data_spec.get("validation_size", 0.1))
    stratify = y if y.dtype.kind in "iu" and y.ndim == 1 else None
    x_train, x_val, y_train, y_val = data.train_test_split(x, y, test_size=size, stratify=stratify, seed=seed)
    return (x_train, y_train), (x_val, y_val), test


def _builder(model_spec, folder, x, y):
    build = model_spec.get("build", "mlp")
    if build == "mlp":
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise ValueError("nerve tune: build = 'mlp' builds a classifier and needs integer class labels")
        return functools.partial(build_mlp, input_shape=tuple(x.shape[1:]), num_classes=int(y.max()) + 1)
    function = _import_object(build, folder)
    if not callable(function):
        raise ValueError(f"nerve tune: {build} is not a function")
    return function


def _resolve(path):
    if path is None or "://" in str(path):
        return path
    return os.path.abspath(os.path.expanduser(str(path)))


def build_tuner(spec, spec_path, storage=None, study_name=None):
    """The :class:`~nerve.tuning.Tuner`, data and run options for a loaded spec (used by :func:`main_tune`)."""
    folder = os.path.dirname(os.path.abspath(spec_path))
    study = dict(spec.get("study", {}))
    space = SearchSpace.from_dict(spec["space"])  # errors in the space come before loading any data
    stem = os.path.splitext(os.path.basename(spec_path))[0]
    storage = storage or _resolve(study.get("storage", f"{stem}.db"))
    train, validation, test = load_data(spec.get("data", {"dataset": "digits_5k"}), folder)
    build_fn = _builder(spec.get("model", {}), folder, *train)
    tuner = Tuner(build_fn, space, objective=study.get("objective", "val_loss"), direction=study.get("direction", "auto"),
                  strategy=study.get("strategy", "tpe"), storage=storage, study_name=study_name or study.get("name", stem),
                  pruner=study.get("pruner", "median"), seed=study.get("seed", 0),
                  model_dir=_resolve(study.get("model_dir")))
    options = {"n_trials": study.get("n_trials"), "n_jobs": int(study.get("n_jobs", 1)), "timeout": study.get("timeout"),
               "epochs": int(spec.get("train", {}).get("epochs", 10)),
               "batch_size": int(spec.get("train", {}).get("batch_size", 32))}
    return tuner, train, validation, test, options


def main_tune(argv=None):
    """The ``nerve tune`` command: parse arguments, run (or resume) the search, print the leaderboard. Returns 0.

    Examples:
        >>> main_tune(["examples/tune_spec.toml", "--n-trials", "4"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(prog="nerve tune", description="run a hyperparameter search from a TOML/JSON spec")
    parser.add_argument("spec", help="the spec file (.toml or .json)")
    parser.add_argument("--n-trials", type=int, help="total finished trials the study should reach (overrides the spec)")
    parser.add_argument("--n-jobs", type=int, help="worker processes on this machine (overrides the spec)")
    parser.add_argument("--storage", help="study storage: a SQLite path or a database URL (overrides the spec)")
    parser.add_argument("--study-name", help="the study's name in the storage (overrides the spec)")
    parser.add_argument("--top", type=int, default=10, help="rows of the leaderboard to print")
    parser.add_argument("--plot", help="save the results plot (PNG) here; needs matplotlib")
    parser.add_argument("--quiet", action="store_true", help="no line per trial")
    args = parser.parse_args(argv)
    spec = load_spec(args.spec)
    tuner, (x, y), validation, test, options = build_tuner(spec, args.spec, args.storage, args.study_name)
    if args.n_trials is not None:
        options["n_trials"] = args.n_trials
    if args.n_jobs is not None:
        options["n_jobs"] = args.n_jobs
    print(f"nerve tune: study '{tuner.study_name}' ({tuner.strategy}, objective {tuner.objective}, "
          f"{tuner.direction}) in {tuner.storage_url}", flush=True)
    tuner.search(x, y, validation_data=validation, verbose=0 if args.quiet else 1, **options)
    print()
    print(tuner.leaderboard(top=args.top))
    try:
        tuner._best_trial()
    except ValueError as error:
        print(f"\n{error}")
        return 1
    print(f"\nbest {tuner.objective}: {tuner.best_value:.4f} with {json.dumps(tuner.best_params, default=str)}")
    try:
        importance = tuner.importance()
        print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in importance.items()))
    except (ValueError, RuntimeError) as error:
        importance = {}
        print(f"importance: not available ({error})")
    if test is not None:
        model = tuner.best_model()
        values = model.evaluate(*test, verbose=0, return_dict=True)
        print("best model on the test set: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    if tuner.best_model_path:
        print(f"best model saved at {tuner.best_model_path} (nerve.load_model)")
    if args.plot:
        tuner.plot(args.plot, importance=importance or None)
        print(f"plot saved to {args.plot}")
    return 0
