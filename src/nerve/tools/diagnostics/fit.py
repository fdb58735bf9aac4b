"""Fit diagnosis: the lectures' table of training error against validation error, made executable.

=====================  ======================  =========================================
training error         validation error        verdict
=====================  ======================  =========================================
low                    low                     the model is learning
low                    high                    overfitting (high variance)
high                   high (or low)           not learning: underfitting (high bias)
high                   much lower              suspicious: check the data split
=====================  ======================  =========================================

"Low" means at most ``target_error``, the error you would accept (by default
a tenth of the error of guessing: for 10 balanced classes 9%, for two
classes 5%; for losses a tenth of the first epoch's loss). The gap between the
two errors counts as large when it exceeds ``target_error``.

Examples:
    >>> d = diagnose_fit(train_error=0.01, val_error=0.30, baseline_error=0.9)
    >>> d.verdict
    'overfitting'
    >>> print(d.message)
    overfitting: training error 1.0% but validation error 30.0% (gap 29.0 points, more than the 9.0 points tolerated)
"""

from __future__ import annotations

import dataclasses
import math

from nerve.tools.diagnostics.findings import jsonable

VERDICTS = ("learning", "overfitting", "underfitting", "suspicious")

SUGGESTIONS = {
    "learning": [
        "keep going: train longer while the validation error still falls",
        "for a lower error, try a somewhat larger model and watch the gap",
    ],
    "overfitting": [
        "more training data, or data augmentation (random shifts, flips, noise)",
        "regularisation: dropout, L2 weight decay (kernel_regularizer=nerve.regularizers.L2(1e-4))",
        "early stopping (nerve.callbacks.EarlyStopping(monitor='val_loss', restore_best_weights=True))",
        "a smaller model (fewer units or layers)",
    ],
    "underfitting": [
        "a larger model (more units or layers) or better features",
        "train longer, and check the learning rate (nerve.diagnostics.lr_finder): too low learns slowly, too high stalls",
        "less regularisation (lower dropout rate or L2 factor)",
        "check the training health (nerve.diagnostics.HealthMonitor): vanishing gradients or dead ReLUs stop learning",
    ],
    "suspicious": [
        "check the data split: are validation examples also in the training set, or is the validation set easier?",
        "validation_split takes the *last* fraction of the data before shuffling: shuffle sorted data first",
        "strong dropout or augmentation make training error higher than validation error; compare with evaluate()",
    ],
}


@dataclasses.dataclass
class FitDiagnosis:
    """The verdict of :func:`diagnose_fit`, with the numbers behind it and what to try.

    Attributes:
        verdict: ``"learning"``, ``"overfitting"``, ``"underfitting"`` or ``"suspicious"``.
        message: the verdict in plain words with the numbers.
        suggestions: what to try next.
        numbers: ``train_error``, ``val_error``, ``gap``, ``target_error``, ``baseline_error``, ``measure``.

    Examples:
        >>> d = diagnose_fit(0.40, 0.42, baseline_error=0.9)
        >>> d.verdict, d.suggestions[0]
        ('underfitting', 'a larger model (more units or layers) or better features')
    """

    verdict: str
    message: str
    suggestions: list
    numbers: dict

    def __str__(self):
        lines = [self.message, "what to try:"] + [f"  - {s}" for s in self.suggestions]
        return "\n".join(lines)

    def to_dict(self):
        return {"verdict": self.verdict, "message": self.message, "suggestions": list(self.suggestions),
                "numbers": jsonable(self.numbers)}


def _fmt(value, rate):
    return f"{value:.1%}" if rate else f"{value:.4g}"


def diagnose_fit(train_error, val_error, baseline_error=None, target_error=None, measure="error"):
    """Say whether a model is learning, overfitting, underfitting, or whether the numbers look suspicious.

    Args:
        train_error: errors on the training and validation data:
            error rates in [0, 1] (``1 - accuracy``) when ``measure="error"``,
            or losses when ``measure="loss"``.
        val_error: errors on the training and validation data:
            error rates in [0, 1] (``1 - accuracy``) when ``measure="error"``,
            or losses when ``measure="loss"``.
        baseline_error: the error of guessing: ``1 - 1/classes`` for balanced
            classes, or the loss before training. Default: 0.5 for error
            rates; required for losses unless ``target_error`` is given.
        target_error: the error you would accept; default
            ``baseline_error / 10``.
        measure: ``"error"`` or ``"loss"`` (only changes how numbers print).

    Examples:
        >>> diagnose_fit(0.02, 0.05, baseline_error=0.9).verdict
        'learning'
        >>> diagnose_fit(0.30, 0.05, baseline_error=0.9).verdict
        'suspicious'
    """
    if measure not in ("error", "loss"):
        raise ValueError(f"diagnose_fit: measure must be 'error' or 'loss', got {measure!r}")
    rate = measure == "error"
    train_error, val_error = float(train_error), float(val_error)
    if target_error is None:
        if baseline_error is None:
            if not rate:
                raise ValueError("diagnose_fit: for measure='loss' give baseline_error (the loss before training) "
                                 "or target_error (the loss you would accept)")
            baseline_error = 0.5
        target_error = float(baseline_error) / 10.0
    target_error = float(target_error)
    gap = val_error - train_error
    numbers = {"measure": measure, "train_error": train_error, "val_error": val_error, "gap": gap,
               "target_error": target_error, "baseline_error": baseline_error}
    t, v = _fmt(train_error, rate), _fmt(val_error, rate)
    points = (lambda d: f"{d * 100:.1f} points") if rate else (lambda d: f"{d:.4g}")
    if not (math.isfinite(train_error) and math.isfinite(val_error)):
        verdict = "underfitting"
        message = (f"not learning (underfitting): the {measure}s are not finite (training {t}, validation {v}); "
                   "training diverged")
    elif train_error > target_error and -gap > target_error:
        verdict = "suspicious"
        message = (f"suspicious: validation much better than training (training {measure} {t}, validation {v}, "
                   f"{points(-gap)} better); check the data split")
    elif train_error > target_error:
        verdict = "underfitting"
        message = (f"not learning (underfitting): training {measure} {t} is above the acceptable {_fmt(target_error, rate)}"
                   f" (validation {v})")
        if baseline_error is not None:
            message += f"; guessing gives {_fmt(float(baseline_error), rate)}"
    elif gap > target_error:
        verdict = "overfitting"
        message = (f"overfitting: training {measure} {t} but validation {measure} {v} "
                   f"(gap {points(gap)}, more than the {points(target_error)} tolerated)")
    else:
        verdict = "learning"
        message = (f"the model is learning: training {measure} {t}, validation {measure} {v} "
                   f"(gap {points(gap)}, within the {points(target_error)} tolerated)")
    return FitDiagnosis(verdict, message, list(SUGGESTIONS[verdict]), numbers)


_ACCURACY_NAMES = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


def _classes_of(model):
    shape = getattr(model, "output_shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return max(2, shape[-1])
    return None


def diagnose_history(history, num_classes=None, target_error=None, window=1):
    """Diagnose a finished ``fit`` from its History (it needs validation metrics: ``validation_data`` or ``validation_split``).

    Uses the accuracy when it was recorded (error = 1 - accuracy, guessing =
    ``1 - 1/num_classes``; the number of classes is read from the model's
    output when not given), else the loss (guessing = the first epoch's
    training loss). The last ``window`` epochs are averaged.

    Examples:
        >>> class H: history = {"loss": [2.0, 0.1], "val_loss": [2.1, 1.9]}; model = None
        >>> diagnose_history(H).verdict
        'overfitting'
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"diagnose_history: expected a History or its .history dict, got {type(history).__name__}")
    accuracy = next((name for name in _ACCURACY_NAMES if name in logs and f"val_{name}" in logs), None)
    if accuracy is None and "val_loss" not in logs:
        raise ValueError(
            "diagnose_history: the history has no validation results (keys: " + ", ".join(sorted(logs)) + "); "
            "train with validation_data=(x_val, y_val) or validation_split=0.2"
        )
    window = max(1, int(window))

    def last(key):
        values = [float(v) for v in logs[key][-window:]]
        return sum(values) / len(values)

    if accuracy is not None:
        classes = num_classes or _classes_of(getattr(history, "model", None)) or 2
        baseline = 1.0 - 1.0 / classes
        return diagnose_fit(1.0 - last(accuracy), 1.0 - last(f"val_{accuracy}"), baseline_error=baseline,
                            target_error=target_error, measure="error")
    baseline = float(logs["loss"][0])
    return diagnose_fit(last("loss"), last("val_loss"), baseline_error=baseline, target_error=target_error,
                        measure="loss")
