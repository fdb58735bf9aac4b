"""Loss functions with Keras names and semantics.

Each loss comes as a class and a lowercase function, like in Keras:

- the function (``mean_squared_error(y_true, y_pred)``) returns one loss per
  sample: for an output of shape ``(batch, d)`` a tensor of shape ``(batch,)``,
  the mean over the last axis for MSE/MAE/Huber/binary cross-entropy, the sum
  over classes for the categorical cross-entropies;
- the class (``MeanSquaredError()``) is called as
  ``loss(y_true, y_pred, sample_weight=None)``, multiplies each per-sample loss
  by its weight and reduces: ``"mean"`` (Keras's ``sum_over_batch_size``: the
  sum of the weighted losses divided by their number), ``"sum"`` or ``"none"``
  (the weighted per-sample losses).

``y_pred`` is the model's output tensor; ``y_true`` may be a Tensor, a NumPy
array or a list and is always treated as a constant (no gradient flows into
it). A 1-D ``y_pred`` of shape ``(batch,)`` is read as one value per sample.
Cross-entropies on probabilities clip them to ``[1e-7, 1 - 1e-7]`` like Keras;
with ``from_logits=True`` they use the fused, overflow-free ops
:func:`nerve.ops.softmax_cross_entropy` and
:func:`nerve.ops.sigmoid_binary_cross_entropy` (prefer this for training).

Examples:
    >>> import nerve
    >>> from nerve import losses
    >>> y_pred = nerve.tensor([[0.0, 2.0], [1.0, 1.0]], requires_grad=True)
    >>> loss = losses.get("mse")(y_true=[[0.0, 0.0], [1.0, 0.0]], y_pred=y_pred)
    >>> loss.item()
    1.25
    >>> loss.backward()
    >>> y_pred.grad.tolist()
    [[0.0, 1.0], [0.0, 0.5]]
"""

from __future__ import annotations

from nerve.engine import ops, registry, validate
from nerve.engine.tensor import Tensor, tensor

__all__ = [
    "EPSILON", "REDUCTIONS",
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "mse", "mae", "Loss", "MeanSquaredError", "MeanAbsoluteError",
    "Huber", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "ctc", "CTC", "LossFunctionWrapper", "get", "serialize", "deserialize",
]

EPSILON = 1e-7
REDUCTIONS = ("mean", "sum", "none")


# ------------------------------------------------------------------ helpers
def _as_prediction(y_pred, where):
    """``y_pred`` as a floating-point Tensor (arrays are wrapped, without gradient)."""
    if not isinstance(y_pred, Tensor):
        y_pred = tensor(y_pred)
    if y_pred.dtype.kind != "f":
        raise TypeError(f"{where}: y_pred must be a floating-point tensor (the model's output), got dtype {y_pred.dtype}")
    return y_pred


def _as_target(y_true, y_pred, keep_integers=False):
    """``y_true`` as a constant Tensor on ``y_pred``'s array module, cast to ``y_pred``'s dtype.

    With ``keep_integers`` integer and boolean targets keep their dtype.
    """
    if (type(y_true) is Tensor and not y_true.requires_grad and y_true.data.dtype == y_pred.data.dtype
            and type(y_true.data) is type(y_pred.data)):
        return y_true  # already a constant of the right dtype (the common case in training loops)
    data = y_true.data if isinstance(y_true, Tensor) else y_true
    data = y_pred.xp.asarray(data)
    if not (keep_integers and data.dtype.kind in "iub"):
        data = data.astype(y_pred.dtype, copy=False)
    return Tensor(data)


def _elementwise_pair(y_true, y_pred, where):
    """Targets and predictions of the same shape, at least 2-D, for the elementwise losses.

    Like Keras, a trailing axis of size 1 may be missing from one of them:
    ``(N,)`` against ``(N, 1)`` is accepted; anything else that differs is refused.
    """
    y_pred = _as_prediction(y_pred, where)
    y_true = _as_target(y_true, y_pred)
    t, p = y_true.shape, y_pred.shape
    if t != p:
        trailing_one = (len(t) == len(p) + 1 and t[-1] == 1 and t[:-1] == p) or (
            len(p) == len(t) + 1 and p[-1] == 1 and p[:-1] == t
        )
        if not trailing_one:
            raise ValueError(
                f"{where}: y_true of shape {t} does not match y_pred of shape {p}; they must have the same shape "
                "(a trailing axis of size 1 may be missing from one of them)"
            )
        y_true = Tensor(y_true.data.reshape(p))
    if y_pred.ndim < 2:  # one value per sample
        y_pred = ops.reshape(y_pred, (-1, 1))
        y_true = Tensor(y_true.data.reshape(-1, 1))
    return y_true, y_pred


def _categorical_pair(y_true, y_pred, axis, where):
    """One-hot (or soft) targets and predictions of equal shape, with the class axis moved last."""
    y_pred = _as_prediction(y_pred, where)
    y_true = _as_target(y_true, y_pred)
    if y_pred.ndim == 0:
        raise ValueError(f"{where}: y_pred must have a class axis, got a scalar")
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(f"{where}: axis {axis} is out of range for y_pred of shape {y_pred.shape}")
    axis %= y_pred.ndim
    if y_true.shape != y_pred.shape:
        hint = ""
        without_classes = y_pred.shape[:axis] + y_pred.shape[axis + 1 :]
        if y_true.shape in (without_classes, without_classes + (1,)):
            hint = "; y_true looks like integer class ids: use SparseCategoricalCrossentropy for those"
        raise ValueError(
            f"{where}: one-hot y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}; "
            f"both need {y_pred.shape[axis]} classes on axis {axis}{hint}"
        )
    if axis != y_pred.ndim - 1:
        order = tuple(i for i in range(y_pred.ndim) if i != axis) + (axis,)
        y_pred = ops.transpose(y_pred, order)
        y_true = Tensor(y_true.xp.transpose(y_true.data, order))
    return y_true, y_pred


def _sparse_pair(y_true, y_pred, where):
    """Integer class ids (an array of shape ``y_pred.shape[:-1]``) and predictions with one column per class."""
    y_pred = _as_prediction(y_pred, where)
    xp = y_pred.xp
    labels = xp.asarray(y_true.data if isinstance(y_true, Tensor) else y_true)
    if y_pred.ndim == 0 or y_pred.shape[-1] < 2:
        raise ValueError(
            f"{where}: expects y_pred with one column per class, got shape {y_pred.shape} (y_true shape "
            f"{labels.shape}); for two classes with a single sigmoid output use BinaryCrossentropy"
        )
    num_classes = y_pred.shape[-1]
    sample_shape = y_pred.shape[:-1]
    if labels.shape == sample_shape + (1,):
        labels = labels.reshape(sample_shape)
    elif labels.shape != sample_shape:
        hint = "; y_true looks one-hot: use CategoricalCrossentropy for those" if labels.shape == y_pred.shape else ""
        raise ValueError(
            f"{where}: y_true of shape {labels.shape} should hold one integer class id per sample, shape "
            f"{sample_shape}, for y_pred of shape {y_pred.shape}{hint}"
        )
    if labels.dtype.kind == "f":
        if not bool(xp.all(labels == xp.round(labels))):
            raise TypeError(f"{where}: y_true must hold integer class ids, got non-integer values of dtype {labels.dtype}")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"{where}: y_true must hold integer class ids, got dtype {labels.dtype}")
    labels = labels.astype("int64", copy=False)
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{where}: class ids in y_true must lie in [0, {num_classes}) for y_pred of shape {y_pred.shape} "
            f"({num_classes} classes), got values from {int(labels.min())} to {int(labels.max())}"
        )
    return labels, y_pred


def _check_smoothing(label_smoothing, where):
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"{where}: label_smoothing must lie in [0, 1], got {label_smoothing}")


def _check_targets(y_true, where, high=None, hint=""):
    """Targets (probabilities, soft or one-hot labels) must be >= 0 (and <= ``high``): a cheap min/max on the host."""
    validate.values_in_range(y_true.data, "y_true", where, low=0, high=high, hint=hint)


def _check_probabilities(y_pred, where):
    """Predictions read as probabilities (``from_logits=False``) must be >= 0: a cheap min on the host."""
    validate.values_in_range(y_pred.data, "y_pred", where, low=0, hint=(
        " (probabilities, e.g. the output of a softmax); if y_pred holds logits, pass from_logits=True"))


def _log_clipped(probs):
    return ops.log(ops.clip(probs, EPSILON, 1 - EPSILON))


def _as_weight(sample_weight, values, where):
    """``sample_weight`` as an array that broadcasts against the per-sample ``values``."""
    data = sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight
    data = values.xp.asarray(data).astype(values.dtype, copy=False)
    shape, target = data.shape, values.shape
    if data.ndim == 0 or shape == target:
        return data
    if data.ndim > len(target) and shape[: len(target)] == target and data.size == values.size:
        return data.reshape(target)  # e.g. weights (N, 1) for losses (N,)
    if data.ndim < len(target) and target[: data.ndim] == shape:
        return data.reshape(shape + (1,) * (len(target) - data.ndim))  # weights (N,) for losses (N, T)
    expected = f"({target[0]},)" if target else "()"
    raise ValueError(
        f"{where}: sample_weight of shape {shape} does not match the per-sample losses of shape {target}; "
        f"give one weight per sample, shape {expected}"
    )


def _reduce(values, sample_weight, reduction, where):
    if sample_weight is not None:
        values = values * _as_weight(sample_weight, values, where)
    if reduction == "none":
        return values
    if reduction == "sum":
        return ops.sum(values)
    return ops.mean(values)


# ---------------------------------------------------- per-sample functions
def mean_squared_error(y_true, y_pred):
    """Per-sample mean of ``(y_pred - y_true) ** 2`` over the last axis.

    Examples:
        >>> import nerve
        >>> mean_squared_error([[1.0, 1.0], [0.0, 0.0]], nerve.tensor([[1.0, 3.0], [0.0, 1.0]])).tolist()
        [2.0, 0.5]
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "MeanSquaredError")
    return ops.squared_difference_mean(y_pred, y_true)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean of ``|y_pred - y_true|`` over the last axis.

    Examples:
        >>> import nerve
        >>> mean_absolute_error([[1.0, 1.0]], nerve.tensor([[1.0, 3.0]])).tolist()
        [1.0]
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "MeanAbsoluteError")
    return ops.mean(ops.abs(y_pred - y_true), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss: ``0.5 * e**2`` where ``|e| <= delta``, ``delta * (|e| - 0.5 * delta)`` beyond.

    ``e = y_pred - y_true``; the mean is taken over the last axis.

    Examples:
        >>> import nerve
        >>> huber([[0.0, 0.0]], nerve.tensor([[0.5, 3.0]])).tolist()
        [1.3125]
    """
    if delta <= 0:
        raise ValueError(f"Huber: delta must be positive, got {delta}")
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "Huber")
    abs_error = ops.abs(y_pred - y_true)
    quadratic = ops.minimum(abs_error, delta)
    linear = abs_error - quadratic
    return ops.mean(0.5 * quadratic**2 + delta * linear, axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample binary cross-entropy, the mean over the last axis.

    ``y_pred`` holds probabilities (clipped to ``[1e-7, 1 - 1e-7]``) or, with
    ``from_logits=True``, logits. ``label_smoothing`` moves targets towards 0.5:
    ``t * (1 - s) + 0.5 * s``.

    Examples:
        >>> import nerve
        >>> round(binary_crossentropy([[1.0]], nerve.tensor([[0.0]]), from_logits=True).item(), 4)
        0.6931
    """
    _check_smoothing(label_smoothing, "BinaryCrossentropy")
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "BinaryCrossentropy")
    _check_targets(y_true, "BinaryCrossentropy", high=1, hint=(
        " (0/1 labels or probabilities); for integer class ids 0..K-1 use sparse_categorical_crossentropy "
        "with K output units"))
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return ops.mean(ops.sigmoid_binary_cross_entropy(y_pred, y_true), axis=-1)
    log_p = _log_clipped(y_pred)
    log_not_p = _log_clipped(1 - y_pred)
    return -ops.mean(y_true * log_p + (1 - y_true) * log_not_p, axis=-1)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample cross-entropy ``-sum(t * log p)`` between one-hot (or soft) targets and predictions.

    On probabilities, ``y_pred`` is first normalised to sum to 1 along ``axis``
    and clipped to ``[1e-7, 1 - 1e-7]``; with ``from_logits=True`` it goes
    through a stable log-softmax. ``label_smoothing`` mixes the targets with the
    uniform distribution: ``t * (1 - s) + s / num_classes``.

    Examples:
        >>> import nerve
        >>> round(categorical_crossentropy([[0.0, 1.0]], nerve.tensor([[0.5, 0.5]])).item(), 4)
        0.6931
    """
    _check_smoothing(label_smoothing, "CategoricalCrossentropy")
    y_true, y_pred = _categorical_pair(y_true, y_pred, axis, "CategoricalCrossentropy")
    _check_targets(y_true, "CategoricalCrossentropy", hint=" (one-hot or soft labels)")
    if not from_logits:
        _check_probabilities(y_pred, "CategoricalCrossentropy")
    if label_smoothing:
        y_true = y_true * (1 - label_smoothing) + label_smoothing / y_pred.shape[-1]
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, targets=y_true)
    probs = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    return -ops.sum(y_true * _log_clipped(probs), axis=-1)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample cross-entropy between integer class ids ``y_true`` and per-class predictions.

    ``y_true`` has shape ``y_pred.shape[:-1]`` (or that with a trailing 1) and
    holds ids in ``[0, num_classes)``.

    Examples:
        >>> import nerve
        >>> round(sparse_categorical_crossentropy([1], nerve.tensor([[0.0, 0.0]]), from_logits=True).item(), 4)
        0.6931
    """
    labels, y_pred = _sparse_pair(y_true, y_pred, "SparseCategoricalCrossentropy")
    if not from_logits:
        _check_probabilities(y_pred, "SparseCategoricalCrossentropy")
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, labels=labels)
    probs = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    one_hot = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
    return -ops.sum(one_hot * _log_clipped(probs), axis=-1)


def ctc(y_true, y_pred):
    """Per-sample CTC loss (connectionist temporal classification) of label sequences read from frames.

    Keras 3's ``keras.losses.ctc``: ``y_pred`` holds logits ``(batch, frames, classes)`` (not softmaxed),
    ``y_true`` integer labels ``(batch, max_label_length)``; class 0 is the blank and must not be a label,
    and a label sequence ends at its first 0 (pad shorter ones with 0). See :func:`nerve.ops.ctc_loss`.

    Examples:
        >>> import numpy as np, nerve
        >>> logits = nerve.tensor(np.zeros((1, 2, 2)))      # 2 uniform frames: 3 of 4 alignments read "1"
        >>> round(ctc([[1, 0]], logits).item(), 4)
        0.2877
    """
    y_pred = _as_prediction(y_pred, "CTC")
    labels = y_true.numpy() if isinstance(y_true, Tensor) else y_true
    return ops.ctc_loss(labels, y_pred, mask_index=0)


mse = mean_squared_error
mae = mean_absolute_error


# ------------------------------------------------------------------ classes
class Loss:
    """Base class of losses: per-sample values from :meth:`call`, then weighting and reduction.

    Subclasses implement ``call(y_true, y_pred)`` returning per-sample losses
    and extend :meth:`get_config` with their own constructor arguments.

    Args:
        reduction: ``"mean"`` (sum of the weighted per-sample losses divided by
            their number; Keras's ``"sum_over_batch_size"`` is accepted as a
            synonym), ``"sum"`` or ``"none"``.
        name: a label for logs; defaults to the Keras function name.

    Examples:
        >>> import nerve
        >>> class MeanError(Loss):
        ...     def call(self, y_true, y_pred):
        ...         return (y_pred - y_true).mean(axis=-1)
        >>> MeanError(reduction="sum")(nerve.tensor([[1.0], [2.0]]), nerve.tensor([[2.0], [4.0]])).item()
        3.0
    """

    default_name = "loss"

    def __init__(self, reduction="mean", name=None):
        if reduction == "sum_over_batch_size":
            reduction = "mean"
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: unknown reduction {reduction!r}; valid reductions: {', '.join(REDUCTIONS)}"
            )
        self.reduction = reduction
        self.name = name or self.default_name

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Weighted, reduced loss: a scalar Tensor, or per-sample losses for ``reduction="none"``."""
        y_pred = _as_prediction(y_pred, type(self).__name__)
        if sample_weight is None and self.reduction != "none":
            fused = self._fused_reduction(y_true, y_pred)
            if fused is not None:
                return fused
        values = self.call(y_true, y_pred)
        return _reduce(values, sample_weight, self.reduction, type(self).__name__)

    def _fused_reduction(self, y_true, y_pred):
        """The reduced loss as one fused op, or None to take the general path (``call`` then reduce).

        Subclasses with a fused op override this; it must equal ``_reduce(self.call(...))`` exactly
        as defined and is only used without sample weights.
        """
        return None

    def call(self, y_true, y_pred):  # pragma: no cover - abstract
        """Per-sample losses (no weighting, no reduction)."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self):
        """Constructor arguments as a JSON-serialisable dict.

        Examples:
            >>> MeanSquaredError().get_config()
            {'name': 'mean_squared_error', 'reduction': 'mean'}
        """
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        """Rebuild a loss from :meth:`get_config`'s dict.

        Examples:
            >>> Huber.from_config(Huber(delta=2.0).get_config()).delta
            2.0
        """
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """Mean of squared errors (``'mse'``).

    Examples:
        >>> import nerve
        >>> MeanSquaredError()([[0.0], [0.0]], nerve.tensor([[1.0], [3.0]])).item()
        5.0
    """

    default_name = "mean_squared_error"

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)

    def _fused_reduction(self, y_true, y_pred):
        if type(self).call is not MeanSquaredError.call:  # a subclass changed the per-sample loss
            return None
        y_true, y_pred = _elementwise_pair(y_true, y_pred, "MeanSquaredError")
        return ops.squared_difference_mean(y_pred, y_true, reduction=self.reduction)


class MeanAbsoluteError(Loss):
    """Mean of absolute errors (``'mae'``).

    Examples:
        >>> import nerve
        >>> MeanAbsoluteError()([[0.0], [0.0]], nerve.tensor([[1.0], [-3.0]])).item()
        2.0
    """

    default_name = "mean_absolute_error"

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)


class Huber(Loss):
    """Huber loss: squared error for ``|e| <= delta``, linear beyond (``'huber'``).

    Examples:
        >>> import nerve
        >>> Huber(delta=1.0)([[0.0], [0.0]], nerve.tensor([[0.5], [3.0]])).item()
        1.3125
    """

    default_name = "huber_loss"

    def __init__(self, delta=1.0, reduction="mean", name=None):
        if delta <= 0:
            raise ValueError(f"Huber: delta must be positive, got {delta}")
        super().__init__(reduction=reduction, name=name)
        self.delta = float(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, delta=self.delta)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class BinaryCrossentropy(Loss):
    """Binary cross-entropy for 0/1 targets and one sigmoid output per target (``'bce'``).

    Examples:
        >>> import nerve
        >>> bce = BinaryCrossentropy(from_logits=True)
        >>> round(bce([[1.0], [0.0]], nerve.tensor([[0.0], [0.0]])).item(), 4)
        0.6931
    """

    default_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, reduction="mean", name=None):
        _check_smoothing(label_smoothing, "BinaryCrossentropy")
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    """Cross-entropy for one-hot (or soft) targets against per-class outputs.

    Examples:
        >>> import nerve
        >>> cce = CategoricalCrossentropy(from_logits=True)
        >>> round(cce([[0.0, 1.0]], nerve.tensor([[0.0, 0.0]])).item(), 4)
        0.6931
    """

    default_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="mean", name=None):
        _check_smoothing(label_smoothing, "CategoricalCrossentropy")
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = int(axis)

    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def get_config(self):
        config = {"from_logits": self.from_logits, "label_smoothing": self.label_smoothing, "axis": self.axis}
        return {**super().get_config(), **config}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy for integer class ids against per-class outputs.

    Examples:
        >>> import nerve
        >>> scce = SparseCategoricalCrossentropy(from_logits=True)
        >>> round(scce([1, 0], nerve.tensor([[0.0, 0.0], [0.0, 0.0]])).item(), 4)
        0.6931
    """

    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, reduction="mean", name=None):
        super().__init__(reduction=reduction, name=name)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class CTC(Loss):
    """Connectionist temporal classification loss (``'ctc'``): reads label sequences out of per-frame logits.

    For speech and handwriting, where the frames outnumber the labels and nobody marked which frame says
    which label. ``y_true``: integer labels ``(batch, max_label_length)``, each sequence ended by 0 (the
    blank) if shorter; ``y_pred``: logits ``(batch, frames, classes)``, class 0 the blank. Decode the
    predictions with :func:`nerve.ops.ctc_decode` (best class per frame, repeats merged, blanks
    dropped).

    Examples:
        >>> import numpy as np, nerve
        >>> logits = nerve.tensor(np.zeros((2, 4, 3)), requires_grad=True)
        >>> loss = CTC()([[1, 2], [2, 0]], logits)
        >>> loss.backward(); round(loss.item(), 4), logits.grad.shape
        (1.8891, (2, 4, 3))
    """

    default_name = "ctc"

    def call(self, y_true, y_pred):
        return ctc(y_true, y_pred)


class LossFunctionWrapper(Loss):
    """Turn a plain function ``fn(y_true, y_pred, **kwargs)`` into a :class:`Loss`.

    ``fn`` gets ``y_true`` as a Tensor (floats in ``y_pred``'s dtype, integers
    kept) and returns per-sample losses (or a scalar); weighting and reduction
    are added. Only module-level functions can be saved with :meth:`get_config`.

    Examples:
        >>> import nerve
        >>> def l4(y_true, y_pred):
        ...     return ((y_pred - y_true) ** 4).mean(axis=-1)
        >>> LossFunctionWrapper(l4)([[0.0], [0.0]], nerve.tensor([[1.0], [2.0]])).item()
        8.5
    """

    def __init__(self, fn, reduction="mean", name=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper needs a callable fn(y_true, y_pred), got {type(fn).__name__}")
        super().__init__(reduction=reduction, name=name or getattr(fn, "__name__", "loss"))
        self.fn = fn
        self.kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true = _as_target(y_true, y_pred, keep_integers=True)
        values = self.fn(y_true, y_pred, **self.kwargs)
        if not isinstance(values, Tensor):
            raise TypeError(f"loss function {self.name} must return a nerve Tensor, got {type(values).__name__}")
        return values

    def get_config(self):
        qualname = getattr(self.fn, "__qualname__", "")
        if "<" in qualname:
            raise ValueError(
                f"cannot serialize the loss function {qualname or self.fn!r}: a lambda or a nested function has no "
                "name to save; define it at module level and register it with "
                "@nerve.saving.register_serializable(package=...), or subclass nerve.losses.Loss"
            )
        return {**super().get_config(), "fn": registry.get_registered_name(self.fn), **self.kwargs}

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config`: ``fn`` names a built-in loss function or a registered one.

        Nothing is imported: a name that is neither raises ``UnknownObjectError`` (register the function with
        ``@nerve.saving.register_serializable`` or pass it in ``custom_objects``).
        """
        config = dict(config)
        name = config.pop("fn", None)
        fn = _FUNCTIONS.get(name) if isinstance(name, str) else None
        if fn is None:
            fn = registry.get_registered_object(name, kind="loss")
        if fn is None or isinstance(fn, type) or not callable(fn):
            shown = repr(name)[:80]
            raise registry.UnknownObjectError(
                f"the saved LossFunctionWrapper names the loss function {shown}, which is not one of nerve's loss "
                "functions and not registered: decorate it with @nerve.saving.register_serializable(package=...) "
                f"before loading, or pass custom_objects={{{shown}: your_function}} to load_model"
            )
        return cls(fn, **config)


# ------------------------------------------------------------------- lookup
_CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    Huber,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    CTC,
)
_BY_NAME = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "bce": BinaryCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "ctc": CTC,
    **{cls.__name__: cls for cls in _CLASSES},
}
_CLASS_OF_FUNCTION = {
    id(mean_squared_error): MeanSquaredError,
    id(mean_absolute_error): MeanAbsoluteError,
    id(huber): Huber,
    id(binary_crossentropy): BinaryCrossentropy,
    id(categorical_crossentropy): CategoricalCrossentropy,
    id(sparse_categorical_crossentropy): SparseCategoricalCrossentropy,
    id(ctc): CTC,
}


registry.register_builtins("loss", _CLASSES + (LossFunctionWrapper,), _BY_NAME)

# The loss functions a LossFunctionWrapper config can name without registration.
_FUNCTIONS = {fn.__name__: fn for fn in (mean_squared_error, mean_absolute_error, huber, binary_crossentropy,
                                         categorical_crossentropy, sparse_categorical_crossentropy, ctc)}


# ------------------------------------------------- more of Keras 3's losses
def _pair_same_shape(y_true, y_pred, where):
    y_pred = _as_prediction(y_pred, where)
    y_true = _as_target(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: y_true of shape {y_true.shape} does not match y_pred of shape {y_pred.shape}")
    return y_true, y_pred


def kl_divergence(y_true, y_pred):
    """Per-sample Kullback-Leibler divergence ``sum(t * log(t / p))`` over the last axis, both clipped to
    ``[1e-7, 1]``.

    Examples:
        >>> import nerve
        >>> round(kl_divergence([[0.5, 0.5]], nerve.tensor([[0.25, 0.75]])).item(), 4)
        0.1438
    """
    y_true, y_pred = _pair_same_shape(y_true, y_pred, "KLDivergence")
    t, p = ops.clip(y_true, EPSILON, 1.0), ops.clip(y_pred, EPSILON, 1.0)
    return ops.sum(t * ops.log(t / p), axis=-1)


def poisson(y_true, y_pred):
    """Per-sample Poisson loss ``mean(p - t * log(p + 1e-7))`` over the last axis (``p`` a rate).

    Examples:
        >>> import nerve
        >>> round(poisson([[1.0]], nerve.tensor([[2.0]])).item(), 4)
        1.3069
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "Poisson")
    return ops.mean(y_pred - y_true * ops.log(y_pred + EPSILON), axis=-1)


def log_cosh(y_true, y_pred):
    """Per-sample mean of ``log(cosh(p - t))``, computed stably as ``e + softplus(-2e) - log 2``.

    Examples:
        >>> import nerve
        >>> round(log_cosh([[0.0]], nerve.tensor([[1.0]])).item(), 4)
        0.4338
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "LogCosh")
    error = y_pred - y_true
    return ops.mean(error + ops.softplus(error * -2.0) - 0.6931471805599453, axis=-1)


def _hinge_labels(y_true):
    """Keras's convention: labels that are all 0 or 1 become -1 and 1."""
    data, xp = y_true.data, y_true.xp
    binary = xp.all((data == 0) | (data == 1))  # a 0-d array: chosen elementwise, no host round trip on a GPU
    return Tensor(xp.where(binary, data * 2 - 1, data))


def hinge(y_true, y_pred):
    """Per-sample ``mean(max(1 - t * p, 0))``; labels in {0, 1} are taken as {-1, 1}.

    Examples:
        >>> import nerve
        >>> hinge([[1.0, 0.0]], nerve.tensor([[0.5, -2.0]])).tolist()
        [0.25]
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "Hinge")
    return ops.mean(ops.relu(1.0 - _hinge_labels(y_true) * y_pred), axis=-1)


def squared_hinge(y_true, y_pred):
    """Per-sample ``mean(max(1 - t * p, 0) ** 2)``; labels in {0, 1} are taken as {-1, 1}.

    Examples:
        >>> import nerve
        >>> squared_hinge([[1.0, 0.0]], nerve.tensor([[0.5, 0.0]])).tolist()
        [0.625]
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "SquaredHinge")
    margin = ops.relu(1.0 - _hinge_labels(y_true) * y_pred)
    return ops.mean(margin * margin, axis=-1)


def categorical_hinge(y_true, y_pred):
    """Per-sample ``max(max((1 - t) * p) - sum(t * p) + 1, 0)`` for one-hot ``t``.

    Examples:
        >>> import nerve
        >>> categorical_hinge([[0.0, 1.0]], nerve.tensor([[0.3, 0.8]])).tolist()
        [0.5]
    """
    y_true, y_pred = _pair_same_shape(y_true, y_pred, "CategoricalHinge")
    positive = ops.sum(y_true * y_pred, axis=-1)
    negative = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.relu(negative - positive + 1.0)


def _l2_normalize(x, axis):
    return x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=axis, keepdims=True), 1e-12))


def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample negative cosine similarity ``-sum(normalize(t) * normalize(p))`` along ``axis`` (-1 is best).

    Examples:
        >>> import nerve
        >>> cosine_similarity([[1.0, 0.0]], nerve.tensor([[2.0, 0.0]])).tolist()
        [-1.0]
    """
    y_true, y_pred = _pair_same_shape(y_true, y_pred, "CosineSimilarity")
    return -ops.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def mean_absolute_percentage_error(y_true, y_pred):
    """Per-sample ``100 * mean(|t - p| / max(|t|, 1e-7))``.

    Examples:
        >>> import nerve
        >>> mean_absolute_percentage_error([[2.0, 4.0]], nerve.tensor([[1.0, 5.0]])).tolist()
        [37.5]
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "MeanAbsolutePercentageError")
    scale = ops.maximum(ops.abs(y_true), EPSILON)
    return ops.mean(ops.abs(y_true - y_pred) / scale, axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-sample ``mean((log(max(p, 1e-7) + 1) - log(max(t, 1e-7) + 1)) ** 2)``.

    Examples:
        >>> import nerve, math
        >>> round(mean_squared_logarithmic_error([[0.0]], nerve.tensor([[math.e - 1]])).item(), 4)
        1.0
    """
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "MeanSquaredLogarithmicError")
    difference = ops.log(ops.maximum(y_pred, EPSILON) + 1.0) - ops.log(ops.maximum(y_true, EPSILON) + 1.0)
    return ops.mean(difference * difference, axis=-1)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    """Per-sample focal binary cross-entropy (Lin et al.): ``mean((1 - p_t) ** gamma * bce)`` along ``axis``,
    weighted by ``alpha`` / ``1 - alpha`` with ``apply_class_balancing``.

    Examples:
        >>> import nerve
        >>> round(binary_focal_crossentropy([[1.0]], nerve.tensor([[0.9]])).item(), 6)
        0.001054
    """
    _check_smoothing(label_smoothing, "BinaryFocalCrossentropy")
    y_true, y_pred = _elementwise_pair(y_true, y_pred, "BinaryFocalCrossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    bce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Per-sample focal categorical cross-entropy: ``sum(alpha * (1 - p) ** gamma * -t * log(p))`` along ``axis``
    (``p`` renormalised to sum to 1, then clipped to ``[1e-7, 1 - 1e-7]``).

    Examples:
        >>> import nerve
        >>> round(categorical_focal_crossentropy([[0.0, 1.0]], nerve.tensor([[0.2, 0.8]])).item(), 6)
        0.002231
    """
    _check_smoothing(label_smoothing, "CategoricalFocalCrossentropy")
    y_true, y_pred = _pair_same_shape(y_true, y_pred, "CategoricalFocalCrossentropy")
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    output = ops.clip(y_pred / ops.sum(y_pred, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    return ops.sum((1.0 - output) ** gamma * alpha * -(y_true * ops.log(output)), axis=axis)


def dice(y_true, y_pred, axis=None):
    """Dice loss ``1 - 2 * sum(t * p) / (sum(t) + sum(p) + 1e-7)`` over ``axis`` (None: all elements), the
    segmentation loss.

    Examples:
        >>> import nerve
        >>> round(dice([[1.0, 0.0]], nerve.tensor([[0.5, 0.5]])).item(), 4)
        0.5
    """
    y_true, y_pred = _pair_same_shape(y_true, y_pred, "Dice")
    intersection = ops.sum(y_true * y_pred, axis=axis)
    return 1.0 - intersection * 2.0 / (ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Tversky loss ``1 - TP / (TP + alpha * FP + beta * FN + 1e-7)`` over ``axis`` (None: all elements); with
    ``alpha = beta = 0.5`` it is the Dice loss.

    Examples:
        >>> import nerve
        >>> round(tversky([[1.0, 0.0]], nerve.tensor([[0.5, 0.5]]), alpha=0.7, beta=0.3).item(), 4)
        0.5
    """
    y_true, y_pred = _pair_same_shape(y_true, y_pred, "Tversky")
    tp = ops.sum(y_true * y_pred, axis=axis)
    fp = ops.sum((1.0 - y_true) * y_pred, axis=axis)
    fn = ops.sum(y_true * (1.0 - y_pred), axis=axis)
    return 1.0 - tp / (tp + fp * alpha + fn * beta + EPSILON)


class _FunctionLoss(Loss):
    """A loss class over one of the functions above, its keyword arguments in the config."""

    _function = None
    _defaults = {}

    def __init__(self, reduction="mean", name=None, **kwargs):
        super().__init__(reduction=reduction, name=name)
        unknown = set(kwargs) - set(self._defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(unknown)}; it takes "
                            f"{sorted(self._defaults)}")
        self.kwargs = {**self._defaults, **kwargs}
        for key, value in self.kwargs.items():
            setattr(self, key, value)

    def call(self, y_true, y_pred):
        return type(self)._function(y_true, y_pred, **self.kwargs)

    def get_config(self):
        return {**super().get_config(), **self.kwargs}


def _loss_class(class_name, function, doc, **defaults):
    cls = type(class_name, (_FunctionLoss,), {
        "_function": staticmethod(function), "_defaults": defaults, "default_name": function.__name__,
        "__doc__": doc, "__module__": __name__, "__qualname__": class_name})
    return cls


KLDivergence = _loss_class("KLDivergence", kl_divergence, """Kullback-Leibler divergence ``sum(t * log(t / p))``.

    Examples:
        >>> import nerve
        >>> round(KLDivergence()([[0.5, 0.5]], nerve.tensor([[0.25, 0.75]])).item(), 4)
        0.1438
    """)
Poisson = _loss_class("Poisson", poisson, """Poisson loss ``mean(p - t * log(p))`` for count targets.

    Examples:
        >>> import nerve
        >>> round(Poisson()([[1.0]], nerve.tensor([[2.0]])).item(), 4)
        1.3069
    """)
LogCosh = _loss_class("LogCosh", log_cosh, """Mean of ``log(cosh(error))``: squared-like near 0, linear far out.

    Examples:
        >>> import nerve
        >>> round(LogCosh()([[0.0]], nerve.tensor([[1.0]])).item(), 4)
        0.4338
    """)
Hinge = _loss_class("Hinge", hinge, """Hinge loss ``mean(max(1 - t * p, 0))`` for labels in {-1, 1} (or {0, 1}).

    Examples:
        >>> import nerve
        >>> Hinge()([[1.0, 0.0]], nerve.tensor([[0.5, -2.0]])).item()
        0.25
    """)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge, """Squared hinge loss ``mean(max(1 - t * p, 0) ** 2)``.

    Examples:
        >>> import nerve
        >>> SquaredHinge()([[1.0, 0.0]], nerve.tensor([[0.5, 0.0]])).item()
        0.625
    """)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge, """Multi-class hinge loss for one-hot targets.

    Examples:
        >>> import nerve
        >>> CategoricalHinge()([[0.0, 1.0]], nerve.tensor([[0.3, 0.8]])).item()
        0.5
    """)
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, """Negative cosine similarity along ``axis``.

    Examples:
        >>> import nerve
        >>> CosineSimilarity(axis=-1)([[1.0, 0.0]], nerve.tensor([[2.0, 0.0]])).item()
        -1.0
    """, axis=-1)
MeanAbsolutePercentageError = _loss_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error, """``100 * mean(|t - p| / |t|)`` (``'mape'``).

    Examples:
        >>> import nerve
        >>> MeanAbsolutePercentageError()([[2.0, 4.0]], nerve.tensor([[1.0, 5.0]])).item()
        37.5
    """)
MeanSquaredLogarithmicError = _loss_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error, """Mean squared error of ``log(1 + x)`` (``'msle'``).

    Examples:
        >>> import nerve, math
        >>> round(MeanSquaredLogarithmicError()([[0.0]], nerve.tensor([[math.e - 1]])).item(), 4)
        1.0
    """)
BinaryFocalCrossentropy = _loss_class(
    "BinaryFocalCrossentropy", binary_focal_crossentropy, """Focal binary cross-entropy: easy examples weigh less.

    Examples:
        >>> import nerve
        >>> round(BinaryFocalCrossentropy(gamma=2.0)([[1.0]], nerve.tensor([[0.9]])).item(), 6)
        0.001054
    """, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)
CategoricalFocalCrossentropy = _loss_class(
    "CategoricalFocalCrossentropy", categorical_focal_crossentropy, """Focal categorical cross-entropy for one-hot targets.

    Examples:
        >>> import nerve
        >>> round(CategoricalFocalCrossentropy()([[0.0, 1.0]], nerve.tensor([[0.2, 0.8]])).item(), 6)
        0.002231
    """, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)
Dice = _loss_class("Dice", dice, """Dice loss (``1 - 2|T∩P| / (|T| + |P|)``) over ``axis`` (None: everything).

    Examples:
        >>> import nerve
        >>> Dice()([[1.0, 0.0]], nerve.tensor([[0.5, 0.5]])).item()
        0.5
    """, axis=None)
Tversky = _loss_class("Tversky", tversky, """Tversky loss: Dice with separate weights of false positives and negatives.

    Examples:
        >>> import nerve
        >>> round(Tversky(alpha=0.7, beta=0.3)([[1.0, 0.0]], nerve.tensor([[0.5, 0.5]])).item(), 4)
        0.5
    """, alpha=0.5, beta=0.5, axis=None)

_KERAS_LOSSES = (KLDivergence, Poisson, LogCosh, Hinge, SquaredHinge, CategoricalHinge, CosineSimilarity,
                 MeanAbsolutePercentageError, MeanSquaredLogarithmicError, BinaryFocalCrossentropy,
                 CategoricalFocalCrossentropy, Dice, Tversky)
registry.register_builtins("loss", _KERAS_LOSSES, {
    **{cls._function.__name__: cls for cls in _KERAS_LOSSES}, "kld": KLDivergence, "logcosh": LogCosh,
    "mape": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError})
_CLASS_OF_FUNCTION.update({id(cls._function): cls for cls in _KERAS_LOSSES})
_FUNCTIONS.update({cls._function.__name__: cls._function for cls in _KERAS_LOSSES})
__all__ += [cls.__name__ for cls in _KERAS_LOSSES] + [cls._function.__name__ for cls in _KERAS_LOSSES]


def _class_named(name):
    cls = registry.lookup("loss", name)
    if not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise registry.UnknownObjectError(f"{name!r} does not name a loss class")
    return cls


def get(identifier):
    """Return a :class:`Loss` for ``identifier``.

    Accepts a name (``"mse"``, ``"sparse_categorical_crossentropy"``, a class
    name...), a dict ``{"class_name": ..., "config": {...}}`` as written by
    :func:`serialize`, a Loss instance (returned as is) or class, one of this
    module's functions (its class), or any plain ``fn(y_true, y_pred)``
    (wrapped in :class:`LossFunctionWrapper`). ``None`` gives ``None``.

    Examples:
        >>> get("mse")
        MeanSquaredError(name='mean_squared_error', reduction='mean')
        >>> get({"class_name": "Huber", "config": {"delta": 2.0}}).delta
        2.0
        >>> get("msee")
        Traceback (most recent call last):
        ...
        nerve.engine.registry.UnknownObjectError: unknown loss 'msee': it is not one of nerve's built-in losses and not registered. ...
    """
    if identifier is None or isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        return _class_named(identifier)()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"a loss given as a dict needs 'class_name' (and optionally 'config'), got keys {sorted(identifier)}")
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        cls = _CLASS_OF_FUNCTION.get(id(identifier))
        return cls() if cls is not None else LossFunctionWrapper(identifier)
    raise TypeError(f"a loss must be a name, a dict, a Loss or a callable, got {type(identifier).__name__}: {identifier!r}")


def serialize(loss):
    """Return ``{"class_name": ..., "config": ...}`` for ``loss``; :func:`get` turns it back into a loss.

    Examples:
        >>> serialize(BinaryCrossentropy(from_logits=True))["config"]["from_logits"]
        True
    """
    return registry.serialize(get(loss), "loss")


def deserialize(config, custom_objects=None):
    """Rebuild a loss from :func:`serialize` output; only built-in or registered classes (nothing is imported).

    Examples:
        >>> deserialize({"class_name": "Huber", "config": {"delta": 2.0}}).delta
        2.0
    """
    return registry.deserialize("loss", config, base=Loss, custom_objects=custom_objects)
