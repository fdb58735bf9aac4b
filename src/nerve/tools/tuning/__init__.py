"""Hyperparameter tuning: grid, random and TPE search over nerve models, in parallel and across machines.

Optuna is the engine (``pip install "nerve[tune]"``); nerve provides the glue:

* :class:`SearchSpace` with :class:`Float` (log scale), :class:`Int`, :class:`Categorical`,
  fixed values and conditional parameters (``when="n_layers >= 3"``);
* :class:`Tuner`: runs the search (``strategy="grid" | "random" | "tpe"``), prunes bad
  trials per epoch (:class:`PruningCallback`), keeps the best model, runs worker
  processes on one machine (``n_jobs``) against one storage (a SQLite file, or
  PostgreSQL for many machines), and resumes from the storage;
* :func:`results_table`, :func:`format_leaderboard`, :func:`param_importance`, :func:`plot_results`;
* :func:`build_mlp`: a ready-made builder for MLP classifiers;
* ``nerve tune SPEC``: the same from a TOML/JSON file (:func:`main_tune`).

Importing this package does not import Optuna; that happens when a search starts.

Examples:
    >>> from nerve.tools.tuning import SearchSpace, Float, Int
    >>> SearchSpace(learning_rate=Float(1e-4, 1e-1, log=True), n_layers=Int(1, 3)).names
    ['learning_rate', 'n_layers']
"""

from nerve.tools.tuning.builders import build_mlp
from nerve.tools.tuning.callbacks import PruningCallback
from nerve.tools.tuning.results import (counted_trials, format_leaderboard, param_importance, plot_results, results_table,
                                  to_dataframe)
from nerve.tools.tuning.search import Tuner, default_direction
from nerve.tools.tuning.space import Categorical, Condition, Float, Int, SearchSpace
from nerve.tools.tuning.storage import StorageError, open_storage
from nerve.tools.tuning.cli import load_spec, main_tune

__all__ = [
    "SearchSpace", "Float", "Int", "Categorical", "Condition", "Tuner", "PruningCallback", "build_mlp",
    "results_table", "format_leaderboard", "param_importance", "plot_results", "to_dataframe", "counted_trials",
    "StorageError", "open_storage", "default_direction", "load_spec", "main_tune",
]
