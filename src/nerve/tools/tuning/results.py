"""What a search found: a results table, a printed leaderboard, hyperparameter importance and a results plot.

All functions take an ``optuna.Study`` (``Tuner.study``), so they also work on a
study reloaded from its storage later.

Examples:
    >>> import optuna
    >>> study = optuna.create_study(direction="maximize")
    >>> study.optimize(lambda t: -(t.suggest_float("x", -2, 2) - 1) ** 2, n_trials=5)
    >>> rows = results_table(study)
    >>> sorted(rows[0])[:4]
    ['duration_s', 'epochs', 'error', 'number']
    >>> rows[0]["value"] == max(r["value"] for r in rows)
    True
"""

from __future__ import annotations

import math

from nerve.tools.tuning.storage import optuna_module

_STATE_NAMES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def counted_trials(study):
    """Trials that ran to an end: complete, pruned, or failed with a recorded error.

    A trial left RUNNING or FAILed by an interruption (Ctrl-C, a killed worker)
    does not count, so a resumed search runs it again.

    Examples:
        >>> import optuna
        >>> s = optuna.create_study(); s.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
        >>> len(counted_trials(s))
        2
    """
    optuna = optuna_module()
    state = optuna.trial.TrialState
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (state.COMPLETE, state.PRUNED) or (t.state == state.FAIL and "error" in t.user_attrs)]


def _maximize(study):
    return study.direction.name == "MAXIMIZE"


def results_table(study, param_names=None, include_waiting=False):
    """One dict per trial, best first: ``number, state, value, <params...>, epochs, duration_s, error, worker``.

    Complete trials come first, sorted by value (best first), then pruned
    (value: the last reported epoch value), failed and running trials. Every
    row has every parameter key (``None`` where a conditional parameter was
    inactive). :func:`to_dataframe` turns it into a pandas DataFrame.

    Examples:
        >>> import optuna
        >>> s = optuna.create_study(); s.optimize(lambda t: t.suggest_int("n", 1, 3), n_trials=3)
        >>> [r["value"] for r in results_table(s)] == sorted(r["value"] for r in results_table(s))
        True
    """
    optuna = optuna_module()
    state = optuna.trial.TrialState
    trials = study.get_trials(deepcopy=False)
    if not include_waiting:
        trials = [t for t in trials if t.state != state.WAITING]
    names = list(param_names) if param_names is not None else []
    for t in trials:
        for name in t.params:
            if name not in names:
                names.append(name)
    sign = -1.0 if _maximize(study) else 1.0
    order = {"COMPLETE": 0, "PRUNED": 1, "FAIL": 2, "RUNNING": 3, "WAITING": 4}

    def key(t):
        value = _trial_value(t)
        return (order.get(t.state.name, 5), sign * value if value is not None and math.isfinite(value) else math.inf, t.number)

    rows = []
    for t in sorted(trials, key=key):
        duration = t.duration.total_seconds() if t.duration is not None else None
        row = {"number": t.number, "state": _STATE_NAMES.get(t.state.name, t.state.name.lower()), "value": _trial_value(t)}
        row.update({name: t.params.get(name) for name in names})
        row.update({"epochs": t.user_attrs.get("epochs", t.user_attrs.get("pruned_at_epoch")),
                    "duration_s": None if duration is None else round(duration, 3),
                    "error": t.user_attrs.get("error", t.system_attrs.get("fail_reason") if t.state == state.FAIL else None),
                    "worker": t.user_attrs.get("worker")})
        rows.append(row)
    return rows


def _trial_value(trial):
    if trial.value is not None:
        return float(trial.value)
    if trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return None


def to_dataframe(rows):
    """The results table as a pandas DataFrame (pandas is optional: ``pip install pandas``).

    Examples:
        >>> to_dataframe([{"number": 0, "value": 0.9}]).shape  # doctest: +SKIP
        (1, 2)
    """
    try:
        import pandas
    except ImportError as error:
        raise ImportError("results as a DataFrame need pandas: pip install pandas (or use the list of dicts)") from error
    return pandas.DataFrame(rows)


def _format(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def format_leaderboard(rows, objective="value", top=10, param_names=None):
    """A plain-text table of the ``top`` rows of :func:`results_table` (all failed trials are listed with their error).

    Examples:
        >>> print(format_leaderboard([{"number": 3, "state": "complete", "value": 0.91, "lr": 0.01,
        ...                             "epochs": 5, "duration_s": 1.5, "error": None, "worker": "h:1"}],
        ...                          objective="val_accuracy", param_names=["lr"]))
        rank  trial  state     val_accuracy  lr    epochs  seconds
           1      3  complete  0.91          0.01  5       1.5
    """
    fixed = {"number", "state", "value", "epochs", "duration_s", "error", "worker"}
    names = list(param_names) if param_names is not None else [k for k in (rows[0] if rows else {}) if k not in fixed]
    ranked = [r for r in rows if r["state"] != "failed"][:top]
    failed = [r for r in rows if r["state"] == "failed"]
    header = ["rank", "trial", "state", objective, *names, "epochs", "seconds"]
    body = [[str(i + 1), str(r["number"]), r["state"], _format(r["value"]), *[_format(r.get(n)) for n in names],
             _format(r.get("epochs")), _format(r.get("duration_s"))] for i, r in enumerate(ranked)]
    widths = [max(len(row[c]) for row in [header] + body) for c in range(len(header))]
    numeric = {0, 1}

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [line(header)] + [line(row) for row in body]
    if len(rows) - len(failed) > top:
        lines.append(f"... {len(rows) - len(failed) - top} more")
    for r in failed:
        lines.append(f"trial {r['number']} failed: {r.get('error') or 'interrupted'}")
    return "\n".join(lines)


def param_importance(study, evaluator="auto", params=None):
    """Which hyperparameters mattered most: ``{name: share}``, most important first, shares summing to 1.

    ``evaluator``: ``"fanova"`` (Optuna's default; random forest, needs
    scikit-learn), ``"ped_anova"`` (no extra dependency), ``"auto"`` (fanova when
    scikit-learn is installed), or an Optuna importance evaluator. Only complete
    trials count, and only parameters present in all of them (conditional
    parameters such as ``units_3`` are left out unless ``params`` names them).
    Needs at least two complete trials.

    Examples:
        >>> import optuna
        >>> s = optuna.create_study()
        >>> s.optimize(lambda t: 10 * t.suggest_float("a", 0, 1) + 0.1 * t.suggest_float("b", 0, 1), n_trials=20)
        >>> list(param_importance(s))[0]
        'a'
    """
    optuna = optuna_module()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        raise ValueError(f"hyperparameter importance needs at least 2 complete trials, the study has {len(complete)}")
    if isinstance(evaluator, str):
        name = evaluator
        if name == "auto":
            try:
                import sklearn  # noqa: F401
                name = "fanova"
            except ImportError:
                name = "ped_anova"
        choices = {"fanova": "FanovaImportanceEvaluator", "ped_anova": "PedAnovaImportanceEvaluator",
                   "mean_decrease_impurity": "MeanDecreaseImpurityImportanceEvaluator"}
        if name not in choices:
            raise ValueError(f"importance evaluator must be one of {['auto', *choices]}, got {evaluator!r}")
        kwargs = {"seed": 0} if name != "ped_anova" else {}
        evaluator = getattr(optuna.importance, choices[name])(**kwargs)
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params)
    return {k: float(v) for k, v in importances.items()}


def plot_results(study, path, importance=None, objective="value", title=None):
    """Save a PNG: objective per trial (best-so-far line, pruned and failed marked) and parameter importance bars.

    ``importance`` is a dict from :func:`param_importance` (computed here when
    None and there are 2+ complete trials). Needs matplotlib
    (``pip install "nerve[plot]"``). Returns ``path``.

    Examples:
        >>> plot_results(study, "search.png")  # doctest: +SKIP
        'search.png'
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plots need matplotlib: pip install \"nerve[plot]\"") from error
    optuna = optuna_module()
    state = optuna.trial.TrialState
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != state.WAITING]
    if importance is None:
        try:
            importance = param_importance(study)
        except (ValueError, RuntimeError):
            importance = {}
    figure = Figure(figsize=(11, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2, width_ratios=[1.4, 1])
    maximize = _maximize(study)
    complete = [t for t in trials if t.state == state.COMPLETE]
    left.scatter([t.number for t in complete], [t.value for t in complete], s=22, label="complete", color="tab:blue")
    pruned = [t for t in trials if t.state == state.PRUNED and _trial_value(t) is not None]
    if pruned:
        left.scatter([t.number for t in pruned], [_trial_value(t) for t in pruned], marker="x", color="tab:gray",
                     label="pruned (last epoch reported)")
    failed = [t for t in trials if t.state == state.FAIL]
    if failed and complete:
        floor = min(t.value for t in complete) if maximize else max(t.value for t in complete)
        left.scatter([t.number for t in failed], [floor] * len(failed), marker="v", color="tab:red", label="failed")
    if complete:
        ordered = sorted(complete, key=lambda t: t.number)
        best, xs, ys = None, [], []
        for t in ordered:
            if best is None or (t.value > best if maximize else t.value < best):
                best = t.value
            xs.append(t.number)
            ys.append(best)
        left.step(xs, ys, where="post", color="tab:orange", label="best so far")
    left.set_xlabel("trial")
    left.set_ylabel(objective)
    left.set_title(title or f"{study.study_name}: {objective} per trial")
    left.legend(loc="best", fontsize=8)
    left.grid(alpha=0.3)
    if importance:
        names = list(importance)[::-1]
        right.barh(names, [importance[n] for n in names], color="tab:green")
        right.set_xlabel("importance (share)")
        right.set_title("hyperparameter importance")
    else:
        right.text(0.5, 0.5, "importance needs 2+ complete trials", ha="center", va="center")
        right.set_axis_off()
    figure.savefig(path, dpi=110)
    return path
