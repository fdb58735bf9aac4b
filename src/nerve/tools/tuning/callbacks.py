"""The pruning callback: report a validation metric to Optuna after every epoch and stop bad trials early.

Examples:
    >>> import optuna, numpy as np, nerve
    >>> from nerve import layers
    >>> from nerve.tools.tuning import PruningCallback
    >>> def objective(trial):
    ...     model = nerve.Sequential([layers.Dense(1)])
    ...     model.compile(optimizer=nerve.optimizers.SGD(trial.suggest_float("lr", 1e-3, 1e-1, log=True)), loss="mse")
    ...     x = np.linspace(-1, 1, 32).reshape(-1, 1)
    ...     history = model.fit(x, 2 * x, validation_split=0.25, epochs=3, verbose=0,
    ...                         callbacks=[PruningCallback(trial, monitor="val_loss")])
    ...     return history.history["val_loss"][-1]
    >>> study = optuna.create_study(pruner=optuna.pruners.MedianPruner())
    >>> study.optimize(objective, n_trials=3)
    >>> len(study.trials)
    3
"""

from __future__ import annotations

import math

from nerve.tools.tuning.storage import optuna_module
from nerve.training.callbacks import Callback


class PruningCallback(Callback):
    """After each epoch, ``trial.report(logs[monitor], epoch)``; if the pruner says so, stop with ``optuna.TrialPruned``.

    The pruner (e.g. Optuna's MedianPruner) compares the trial's curve with the
    other trials' at the same epoch, so a trial that is clearly worse stops
    early and frees its worker for the next one. The epoch at which a trial
    was pruned is kept in its ``pruned_at_epoch`` user attribute (1-based).

    Args:
        trial: the ``optuna.Trial`` being trained.
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.

    Examples:
        >>> PruningCallback(trial=None, monitor="val_accuracy").monitor
        'val_accuracy'
    """

    def __init__(self, trial, monitor="val_loss"):
        super().__init__()
        self.trial = trial
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            hint = " (pass validation data to fit, or validation_split)" if self.monitor.startswith("val_") else ""
            raise ValueError(f"PruningCallback: '{self.monitor}' is not in the epoch logs {sorted(logs)}{hint}; "
                             "compile the model with the metric, e.g. metrics=['accuracy'] for 'val_accuracy'")
        value = float(logs[self.monitor])
        if not math.isfinite(value):
            return  # a NaN/inf epoch is reported as the trial's error by the Tuner, not as a pruning step
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            optuna = optuna_module()
            self.model.stop_training = True
            self.trial.set_user_attr("pruned_at_epoch", epoch + 1)
            raise optuna.TrialPruned(f"trial {self.trial.number} pruned after epoch {epoch + 1}: "
                                     f"{self.monitor}={value:.4g}")
