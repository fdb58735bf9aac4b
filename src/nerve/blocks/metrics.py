"""Streaming metrics: numbers that summarise predictions over many batches.

A metric keeps running totals. ``update_state(y_true, y_pred)`` adds one
batch, ``result()`` returns the value over everything seen since the last
``reset_state()``. Updating batch by batch gives the same result as one update
with all the data, so the training loop can report epoch-level accuracy
without keeping every prediction.

Metrics are not differentiable (use :mod:`nerve.losses` to train). They turn
their inputs into NumPy arrays (nerve Tensors through ``.numpy()``) and work
with vectorised NumPy, never a Python loop over samples.

Examples:
    >>> import numpy as np
    >>> from nerve import metrics
    >>> m = metrics.get("accuracy", loss="sparse_categorical_crossentropy")
    >>> m.update_state(np.array([0, 1]), np.array([[0.9, 0.1], [0.8, 0.2]]))
    >>> m.update_state(np.array([1]), np.array([[0.3, 0.7]]))
    >>> m.name, round(m.result(), 4)
    ('accuracy', 0.6667)
"""

from __future__ import annotations

import numpy

from nerve.blocks import losses as _losses
from nerve.engine import registry
from nerve.engine.backend import to_numpy
from nerve.engine.tensor import Tensor, no_grad

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "Precision", "Recall", "F1Score", "AUC", "MeanSquaredError", "MeanAbsoluteError",
    "RootMeanSquaredError", "get", "serialize", "deserialize",
]


# ----------------------------------------------------------------- helpers
def _as_array(x, name="array"):
    """``x`` (array, Tensor, list or number) as a NumPy array."""
    if x is None:
        raise ValueError(f"{name} is None; metrics need arrays of true values and predictions")
    if hasattr(x, "numpy") and not isinstance(x, numpy.ndarray):
        x = x.numpy()
    return numpy.asarray(to_numpy(x))


def _match_shapes(y_true, y_pred, metric):
    """Reshape ``y_true`` like ``y_pred`` when they hold the same number of values.

    Labels of shape (N,) against predictions of shape (N, 1) are a common,
    harmless mismatch; anything else is an error.
    """
    if y_true.shape == y_pred.shape:
        return y_true
    if y_true.size == y_pred.size:
        return y_true.reshape(y_pred.shape)
    raise ValueError(
        f"{metric}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
        "they must hold one true value per prediction"
    )


def _weights_like(sample_weight, shape, metric):
    """Broadcast ``sample_weight`` (per sample, or per value) to ``shape`` as float64."""
    if sample_weight is None:
        return None
    weight = _as_array(sample_weight, "sample_weight").astype(numpy.float64)
    if weight.shape == shape:
        return weight
    if weight.size == int(numpy.prod(shape)) and weight.ndim > 0:
        return weight.reshape(shape)
    while weight.ndim < len(shape):
        weight = weight[..., None]  # one weight per sample applies to all its values
    try:
        return numpy.broadcast_to(weight, shape)
    except ValueError:
        raise ValueError(
            f"{metric}: sample_weight of shape {numpy.shape(sample_weight)} cannot be broadcast to the "
            f"values of shape {shape}; pass one weight per sample"
        ) from None


def _sparse_labels(y_true, y_pred, metric):
    """Integer class labels of shape ``y_pred.shape[:-1]`` (drops a trailing axis of 1)."""
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{metric}: expected integer labels of shape {y_pred.shape[:-1]} for predictions of shape "
            f"{y_pred.shape}, got y_true of shape {y_true.shape}"
        )
    return y_true.astype(numpy.int64)


def _divide(a, b):
    """``a / b`` elementwise, 0 where ``b`` is 0."""
    a, b = numpy.asarray(a, dtype=numpy.float64), numpy.asarray(b, dtype=numpy.float64)
    return numpy.divide(a, b, out=numpy.zeros(numpy.broadcast(a, b).shape), where=b != 0)


# ----------------------------------------------------------------- base classes
class Metric:
    """Base class of streaming metrics.

    Subclasses implement ``update_state``, ``result`` and ``reset_state``; the
    running totals are plain attributes. ``get_config()`` returns the
    constructor arguments and ``from_config(config)`` rebuilds the metric.

    Calling a metric updates it with the batch and returns the running result.

    Examples:
        >>> import numpy as np
        >>> m = BinaryAccuracy()
        >>> m(np.array([1, 0]), np.array([0.8, 0.6]))
        0.5
        >>> m.reset_state(); m.result()
        0.0
    """

    def __init__(self, name=None):
        self.name = name or _default_name(type(self))
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError(f"{type(self).__name__} must implement update_state")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__} must implement result")

    def reset_state(self):
        raise NotImplementedError(f"{type(self).__name__} must implement reset_state")

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self):
        """The constructor arguments as a plain dict."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        """Build the metric from the dict returned by :meth:`get_config`."""
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r}, result={self.result():.4g})"


class Mean(Metric):
    """The running (weighted) mean of the values passed to ``update_state``.

    The training loop uses it for the loss: one update per batch, weighted by
    the batch size, gives the mean loss over the epoch.

    Examples:
        >>> m = Mean(name="loss")
        >>> m.update_state([1.0, 2.0]); m.update_state(4.0, sample_weight=2)
        >>> m.result()
        2.75
    """

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None):
        values = _as_array(values, "values").astype(numpy.float64)
        weight = _weights_like(sample_weight, values.shape, self.name)
        if weight is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            self.total += float((values * weight).sum())
            self.count += float(weight.sum())

    def result(self):
        return float(self.total / self.count) if self.count else 0.0


class MeanMetricWrapper(Mean):
    """The mean over all samples of ``fn(y_true, y_pred)``, a per-value score.

    Most metrics are one of these: accuracy is the mean of "prediction is
    right" (1.0 or 0.0), mean squared error the mean of squared differences.
    ``fn`` gets NumPy arrays and returns an array of per-value scores.

    Examples:
        >>> import numpy as np
        >>> m = MeanMetricWrapper(lambda t, p: np.abs(t - p) < 0.5, name="close")
        >>> m(np.array([1.0, 2.0]), np.array([1.2, 3.0]))
        0.5
    """

    def __init__(self, fn, name=None):
        self.fn = fn
        super().__init__(name=name or getattr(fn, "__name__", None))

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.fn(_as_array(y_true, "y_true"), _as_array(y_pred, "y_pred"))
        super().update_state(values, sample_weight)


# ----------------------------------------------------------------- per-value scores
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1.0 where ``y_pred > threshold`` agrees with the 0/1 label ``y_true``, else 0.0.

    Examples:
        >>> import numpy as np
        >>> binary_accuracy(np.array([1, 0, 1]), np.array([0.9, 0.2, 0.4])).tolist()
        [1.0, 1.0, 0.0]
    """
    y_true = _match_shapes(y_true, y_pred, "binary_accuracy")
    return ((y_pred > threshold) == (y_true > 0.5)).astype(numpy.float64)


def categorical_accuracy(y_true, y_pred):
    """1.0 where the arg-max of one-hot ``y_true`` equals the arg-max of ``y_pred``.

    Examples:
        >>> import numpy as np
        >>> categorical_accuracy(np.eye(2), np.array([[0.6, 0.4], [0.7, 0.3]])).tolist()
        [1.0, 0.0]
    """
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"categorical_accuracy: y_true must be one-hot with the shape of y_pred {y_pred.shape}, got "
            f"{y_true.shape}; for integer labels use 'sparse_categorical_accuracy'"
        )
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(numpy.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where the integer label ``y_true`` equals the arg-max of ``y_pred``.

    Examples:
        >>> import numpy as np
        >>> sparse_categorical_accuracy(np.array([1, 1]), np.array([[0.2, 0.8], [0.7, 0.3]])).tolist()
        [1.0, 0.0]
    """
    labels = _sparse_labels(y_true, y_pred, "sparse_categorical_accuracy")
    return (labels == y_pred.argmax(axis=-1)).astype(numpy.float64)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1.0 where the true class is among the ``k`` highest scores.

    The true class is in the top ``k`` when fewer than ``k`` classes score
    strictly higher (ties count in its favour).

    Examples:
        >>> import numpy as np
        >>> scores = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
        >>> sparse_top_k_categorical_accuracy(np.array([2, 2]), scores, k=2).tolist()
        [1.0, 0.0]
    """
    labels = _sparse_labels(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    true_score = numpy.take_along_axis(y_pred, labels[..., None], axis=-1)
    higher = (y_pred > true_score).sum(axis=-1)
    return (higher < k).astype(numpy.float64)


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Like :func:`sparse_top_k_categorical_accuracy` with one-hot ``y_true``.

    Examples:
        >>> import numpy as np
        >>> top_k_categorical_accuracy(np.eye(3)[[2]], np.array([[0.1, 0.5, 0.4]]), k=2).tolist()
        [1.0]
    """
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"top_k_categorical_accuracy: y_true must be one-hot with the shape of y_pred {y_pred.shape}, "
            f"got {y_true.shape}; for integer labels use 'sparse_top_k_categorical_accuracy'"
        )
    return sparse_top_k_categorical_accuracy(y_true.argmax(axis=-1), y_pred, k)


def squared_error(y_true, y_pred):
    """``(y_true - y_pred) ** 2`` per value.

    Examples:
        >>> import numpy as np
        >>> squared_error(np.array([1.0, 2.0]), np.array([3.0, 2.0])).tolist()
        [4.0, 0.0]
    """
    y_true = _match_shapes(y_true, y_pred, "mse")
    return (y_true.astype(numpy.float64) - y_pred) ** 2


def absolute_error(y_true, y_pred):
    """``|y_true - y_pred|`` per value.

    Examples:
        >>> import numpy as np
        >>> absolute_error(np.array([1.0, 2.0]), np.array([3.0, 2.5])).tolist()
        [2.0, 0.5]
    """
    y_true = _match_shapes(y_true, y_pred, "mae")
    return numpy.abs(y_true.astype(numpy.float64) - y_pred)


# ----------------------------------------------------------------- accuracy
class BinaryAccuracy(MeanMetricWrapper):
    """Fraction of 0/1 labels predicted right, a prediction being ``y_pred > threshold``.

    With a sigmoid output use the default threshold 0.5; with logits use 0.

    Examples:
        >>> import numpy as np
        >>> m = BinaryAccuracy()
        >>> m.update_state(np.array([[1], [0], [1], [0]]), np.array([[0.9], [0.4], [0.3], [0.6]]))
        >>> m.result()
        0.5
    """

    def __init__(self, threshold=0.5, name=None):
        self.threshold = float(threshold)
        super().__init__(lambda t, p: binary_accuracy(t, p, self.threshold), name=name or "binary_accuracy")

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose arg-max prediction matches the one-hot label.

    Examples:
        >>> import numpy as np
        >>> CategoricalAccuracy()(np.eye(3), np.array([[.8, .1, .1], [.1, .1, .8], [.1, .2, .7]]))
        0.6666666666666666
    """

    def __init__(self, name=None):
        super().__init__(categorical_accuracy, name=name or "categorical_accuracy")

    def get_config(self):
        return {"name": self.name}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose arg-max prediction matches the integer label.

    Examples:
        >>> import numpy as np
        >>> SparseCategoricalAccuracy()(np.array([0, 2]), np.array([[.8, .1, .1], [.5, .1, .4]]))
        0.5
    """

    def __init__(self, name=None):
        super().__init__(sparse_categorical_accuracy, name=name or "sparse_categorical_accuracy")

    def get_config(self):
        return {"name": self.name}


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose one-hot class is among the ``k`` highest scores.

    Examples:
        >>> import numpy as np
        >>> TopKCategoricalAccuracy(k=2)(np.eye(3)[[0, 1]], np.array([[.5, .3, .2], [.5, .2, .3]]))
        0.5
    """

    def __init__(self, k=5, name=None):
        self.k = int(k)
        super().__init__(lambda t, p: top_k_categorical_accuracy(t, p, self.k),
                         name=name or "top_k_categorical_accuracy")

    def get_config(self):
        return {"name": self.name, "k": self.k}


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """Fraction of samples whose integer label is among the ``k`` highest scores.

    Examples:
        >>> import numpy as np
        >>> SparseTopKCategoricalAccuracy(k=2)(np.array([0, 1]), np.array([[.5, .3, .2], [.5, .2, .3]]))
        0.5
    """

    def __init__(self, k=5, name=None):
        self.k = int(k)
        super().__init__(lambda t, p: sparse_top_k_categorical_accuracy(t, p, self.k),
                         name=name or "sparse_top_k_categorical_accuracy")

    def get_config(self):
        return {"name": self.name, "k": self.k}


class Accuracy(Metric):
    """Accuracy that picks binary, categorical or sparse categorical on its first batch.

    :func:`get` returns this for ``"accuracy"`` when neither the loss nor the
    output shape settles the question. On the first ``update_state`` it looks
    at the shapes: predictions with one value per sample (shape (N,) or
    (N, 1)) -> :class:`BinaryAccuracy`; labels shaped like the predictions ->
    :class:`CategoricalAccuracy` (one-hot); otherwise
    :class:`SparseCategoricalAccuracy` (integer labels).

    Examples:
        >>> import numpy as np
        >>> m = Accuracy()
        >>> m.update_state(np.array([2, 0]), np.array([[.1, .2, .7], [.1, .8, .1]]))
        >>> type(m.metric).__name__, m.result()
        ('SparseCategoricalAccuracy', 0.5)
    """

    def __init__(self, name="accuracy"):
        self.metric = None
        super().__init__(name=name)

    def reset_state(self):
        if self.metric is not None:
            self.metric.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.metric is None:
            y_true, y_pred = _as_array(y_true, "y_true"), _as_array(y_pred, "y_pred")
            if y_pred.ndim <= 1 or y_pred.shape[-1] == 1:
                self.metric = BinaryAccuracy(name=self.name)
            elif y_true.shape == y_pred.shape:
                self.metric = CategoricalAccuracy(name=self.name)
            else:
                self.metric = SparseCategoricalAccuracy(name=self.name)
        self.metric.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return self.metric.result() if self.metric is not None else 0.0


# ----------------------------------------------------------------- confusion-matrix metrics
class _ThresholdCounts(Metric):
    """Running weighted counts of true/false positives/negatives at one threshold.

    Every value of ``y_pred`` is one binary decision (``y_pred > threshold``),
    so multi-label outputs are counted value by value ("micro" averaging).
    """

    def __init__(self, threshold=0.5, name=None):
        self.threshold = float(threshold)
        super().__init__(name=name)

    def reset_state(self):
        self.true_positives = 0.0
        self.false_positives = 0.0
        self.false_negatives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_array(y_pred, "y_pred")
        y_true = _match_shapes(_as_array(y_true, "y_true"), y_pred, self.name) > 0.5
        predicted = y_pred > self.threshold
        weight = _weights_like(sample_weight, y_pred.shape, self.name)
        weight = numpy.ones(y_pred.shape) if weight is None else weight
        self.true_positives += float(weight[predicted & y_true].sum())
        self.false_positives += float(weight[predicted & ~y_true].sum())
        self.false_negatives += float(weight[~predicted & y_true].sum())

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class Precision(_ThresholdCounts):
    """Of the samples predicted positive (``y_pred > threshold``), the fraction truly positive.

    ``TP / (TP + FP)``; 0.0 while nothing was predicted positive.

    Examples:
        >>> import numpy as np
        >>> Precision()(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.3, 0.1]))
        0.5
    """

    def __init__(self, threshold=0.5, name=None):
        super().__init__(threshold, name=name or "precision")

    def result(self):
        return float(_divide(self.true_positives, self.true_positives + self.false_positives))


class Recall(_ThresholdCounts):
    """Of the truly positive samples, the fraction predicted positive.

    ``TP / (TP + FN)``; 0.0 while no positive sample was seen.

    Examples:
        >>> import numpy as np
        >>> Recall()(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.3, 0.7]))
        0.6666666666666666
    """

    def __init__(self, threshold=0.5, name=None):
        super().__init__(threshold, name=name or "recall")

    def result(self):
        return float(_divide(self.true_positives, self.true_positives + self.false_negatives))


class F1Score(Metric):
    """The harmonic mean of precision and recall, ``2 TP / (2 TP + FP + FN)``.

    ``average="binary"`` (default): 0/1 labels, a prediction is
    ``y_pred > threshold``. ``average="macro"``: multi-class scores of shape
    (N, C), the predicted class is the arg-max, labels are integers (N,) or
    one-hot (N, C); F1 is computed per class and averaged over the classes
    that appeared in the labels or the predictions (as scikit-learn does).

    Examples:
        >>> import numpy as np
        >>> F1Score()(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.3, 0.7]))
        0.6666666666666666
        >>> m = F1Score(average="macro")
        >>> m(np.array([0, 1, 1]), np.array([[.9, .1], [.2, .8], [.6, .4]]))
        0.6666666666666666
    """

    AVERAGES = ("binary", "macro")

    def __init__(self, threshold=0.5, average="binary", name=None):
        if average not in self.AVERAGES:
            raise ValueError(f"F1Score: unknown average {average!r}; valid values are {list(self.AVERAGES)}")
        self.threshold = float(threshold)
        self.average = average
        super().__init__(name=name or "f1_score")

    def reset_state(self):
        # Per-class counts (one entry for 'binary'); grown as new classes appear.
        self.true_positives = numpy.zeros(1)
        self.false_positives = numpy.zeros(1)
        self.false_negatives = numpy.zeros(1)

    def _grow(self, num_classes):
        extra = num_classes - self.true_positives.size
        if extra > 0:
            self.true_positives = numpy.concatenate([self.true_positives, numpy.zeros(extra)])
            self.false_positives = numpy.concatenate([self.false_positives, numpy.zeros(extra)])
            self.false_negatives = numpy.concatenate([self.false_negatives, numpy.zeros(extra)])

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _as_array(y_true, "y_true"), _as_array(y_pred, "y_pred")
        if self.average == "binary":
            y_true = _match_shapes(y_true, y_pred, self.name) > 0.5
            predicted = y_pred > self.threshold
            weight = _weights_like(sample_weight, y_pred.shape, self.name)
            weight = numpy.ones(y_pred.shape) if weight is None else weight
            self.true_positives[0] += weight[predicted & y_true].sum()
            self.false_positives[0] += weight[predicted & ~y_true].sum()
            self.false_negatives[0] += weight[~predicted & y_true].sum()
            return
        if y_pred.ndim < 2:
            raise ValueError(f"F1Score(average='macro') needs class scores of shape (N, C), got {y_pred.shape}")
        labels = y_true.argmax(axis=-1) if y_true.shape == y_pred.shape else _sparse_labels(y_true, y_pred, self.name)
        predicted = y_pred.argmax(axis=-1)
        labels, predicted = labels.reshape(-1), predicted.reshape(-1)
        weight = _weights_like(sample_weight, y_pred.shape[:-1], self.name)
        weight = numpy.ones(labels.shape) if weight is None else weight.reshape(-1)
        num_classes = max(y_pred.shape[-1], int(labels.max(initial=0)) + 1)
        self._grow(num_classes)
        n = self.true_positives.size
        right = labels == predicted
        self.true_positives += numpy.bincount(labels[right], weight[right], minlength=n)
        self.false_positives += numpy.bincount(predicted[~right], weight[~right], minlength=n)
        self.false_negatives += numpy.bincount(labels[~right], weight[~right], minlength=n)

    def result(self):
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        f1 = _divide(2 * tp, 2 * tp + fp + fn)
        if self.average == "binary":
            return float(f1[0])
        seen = (tp + fp + fn) > 0
        return float(f1[seen].mean()) if seen.any() else 0.0

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold, "average": self.average}


class AUC(Metric):
    """Area under the ROC or precision-recall curve, streamed over a fixed set of thresholds.

    Like Keras, it keeps weighted counts of true/false positives/negatives at
    ``num_thresholds`` thresholds evenly spaced in [0, 1] (the end points
    nudged just outside, so scores of exactly 0 and 1 are handled), and
    integrates the curve through those points: the trapezoid rule for
    ``curve="ROC"``, and for ``curve="PR"`` the interpolation of Davis &
    Goadrich (2006). ``y_pred`` are probabilities in [0, 1]; with 200
    thresholds the result is within about 1e-2 of the exact area.

    Examples:
        >>> import numpy as np
        >>> round(AUC()(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])), 3)
        0.75
    """

    CURVES = ("ROC", "PR")

    def __init__(self, num_thresholds=200, curve="ROC", name=None):
        if num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be at least 2, got {num_thresholds}")
        if str(curve).upper() not in self.CURVES:
            raise ValueError(f"AUC: unknown curve {curve!r}; valid values are {list(self.CURVES)}")
        self.num_thresholds = int(num_thresholds)
        self.curve = str(curve).upper()
        epsilon = 1e-7
        inner = numpy.arange(1, num_thresholds - 1) / (num_thresholds - 1)
        self.thresholds = numpy.concatenate([[-epsilon], inner, [1.0 + epsilon]])
        super().__init__(name=name or "auc")

    def reset_state(self):
        shape = (self.num_thresholds,)
        self.true_positives, self.false_positives = numpy.zeros(shape), numpy.zeros(shape)
        self.true_negatives, self.false_negatives = numpy.zeros(shape), numpy.zeros(shape)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_array(y_pred, "y_pred").astype(numpy.float64)
        y_true = _match_shapes(_as_array(y_true, "y_true"), y_pred, self.name) > 0.5
        weight = _weights_like(sample_weight, y_pred.shape, self.name)
        weight = numpy.ones(y_pred.shape) if weight is None else weight
        y_pred, y_true, weight = y_pred.reshape(-1), y_true.reshape(-1), weight.reshape(-1)
        # bucket[i] = number of thresholds strictly below y_pred[i]: the sample counts as
        # predicted positive at thresholds 0 .. bucket[i] - 1.
        bucket = numpy.searchsorted(self.thresholds, y_pred, side="left")
        n = self.num_thresholds
        positives = numpy.bincount(bucket, weight * y_true, minlength=n + 1)
        negatives = numpy.bincount(bucket, weight * ~y_true, minlength=n + 1)
        # Predicted positive at threshold j: every bucket above j (a reversed cumulative sum).
        tp = numpy.cumsum(positives[::-1])[::-1][1:]
        fp = numpy.cumsum(negatives[::-1])[::-1][1:]
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += positives.sum() - tp
        self.true_negatives += negatives.sum() - fp

    def result(self):
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        if self.curve == "ROC":
            tpr, fpr = _divide(tp, tp + fn), _divide(fp, fp + tn)
            return float(numpy.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))
        # Precision-recall: between two thresholds, precision is interpolated as a
        # function of the number of predicted positives (Davis & Goadrich 2006).
        dtp = tp[:-1] - tp[1:]
        predicted = tp + fp
        dp = predicted[:-1] - predicted[1:]
        slope = _divide(dtp, numpy.maximum(dp, 0))
        intercept = tp[1:] - slope * predicted[1:]
        both = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = numpy.where(both, _divide(predicted[:-1], numpy.maximum(predicted[1:], 0)), 1.0)
        ratio = numpy.where(ratio > 0, ratio, 1.0)
        increments = _divide(slope * (dtp + intercept * numpy.log(ratio)), numpy.maximum(tp[1:] + fn[1:], 0))
        return float(increments.sum())

    def get_config(self):
        return {"name": self.name, "num_thresholds": self.num_thresholds, "curve": self.curve}


# ----------------------------------------------------------------- regression
class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``(y_true - y_pred) ** 2`` over all values.

    Examples:
        >>> import numpy as np
        >>> MeanSquaredError()(np.array([1.0, 2.0]), np.array([2.0, 4.0]))
        2.5
    """

    def __init__(self, name=None):
        super().__init__(squared_error, name=name or "mse")

    def get_config(self):
        return {"name": self.name}


class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``|y_true - y_pred|`` over all values.

    Examples:
        >>> import numpy as np
        >>> MeanAbsoluteError()(np.array([1.0, 2.0]), np.array([2.0, 4.0]))
        1.5
    """

    def __init__(self, name=None):
        super().__init__(absolute_error, name=name or "mae")

    def get_config(self):
        return {"name": self.name}


class RootMeanSquaredError(MeanSquaredError):
    """Square root of the mean squared error (in the units of ``y``).

    Examples:
        >>> import numpy as np
        >>> RootMeanSquaredError()(np.array([1.0, 2.0]), np.array([4.0, 6.0]))
        3.5355339059327378
    """

    def __init__(self, name=None):
        super().__init__(name=name or "rmse")

    def result(self):
        return float(numpy.sqrt(super().result()))


# --------------------------------------------------------- more of Keras 3's metrics
def _loss_values(fn, **kwargs):
    """A NumPy per-sample score from the loss function ``fn`` of :mod:`nerve.losses` (same formula)."""

    def score(y_true, y_pred):
        with no_grad():
            y_pred = numpy.asarray(y_pred, dtype=numpy.float64)
            return _as_array(fn(y_true, Tensor(y_pred), **kwargs))

    score.__name__ = fn.__name__
    return score


class _LossMetric(MeanMetricWrapper):
    """The running mean of a loss function's per-sample values; its keyword arguments in the config."""

    _function = None
    _defaults = {}

    def __init__(self, name=None, **kwargs):
        unknown = set(kwargs) - set(self._defaults)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(unknown)}; it takes "
                            f"{sorted(self._defaults)}")
        self.kwargs = {**self._defaults, **kwargs}
        for key, value in self.kwargs.items():
            setattr(self, key, value)
        super().__init__(_loss_values(type(self)._function, **self.kwargs), name=name or self._default)

    def get_config(self):
        return {"name": self.name, **self.kwargs}


def _metric_class(class_name, function, default_name, doc, **defaults):
    return type(class_name, (_LossMetric,), {
        "_function": staticmethod(function), "_defaults": defaults, "_default": default_name, "__doc__": doc,
        "__module__": __name__, "__qualname__": class_name})


BinaryCrossentropy = _metric_class("BinaryCrossentropy", _losses.binary_crossentropy, "binary_crossentropy", """
    The mean binary cross-entropy of the predictions (a metric: it only watches).

    Examples:
        >>> import numpy as np
        >>> round(BinaryCrossentropy()(np.array([[1.0], [0.0]]), np.array([[0.9], [0.2]])), 4)
        0.1643
    """, from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _metric_class(
    "CategoricalCrossentropy", _losses.categorical_crossentropy, "categorical_crossentropy", """
    The mean categorical cross-entropy of one-hot targets.

    Examples:
        >>> import numpy as np
        >>> round(CategoricalCrossentropy()(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]])), 4)
        0.6931
    """, from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _metric_class(
    "SparseCategoricalCrossentropy", _losses.sparse_categorical_crossentropy, "sparse_categorical_crossentropy", """
    The mean categorical cross-entropy of integer class ids.

    Examples:
        >>> import numpy as np
        >>> round(SparseCategoricalCrossentropy()(np.array([1]), np.array([[0.5, 0.5]])), 4)
        0.6931
    """, from_logits=False)
Hinge = _metric_class("Hinge", _losses.hinge, "hinge", """
    The mean hinge loss.

    Examples:
        >>> import numpy as np
        >>> Hinge()(np.array([[1.0, 0.0]]), np.array([[0.5, -2.0]]))
        0.25
    """)
SquaredHinge = _metric_class("SquaredHinge", _losses.squared_hinge, "squared_hinge", """
    The mean squared hinge loss.

    Examples:
        >>> import numpy as np
        >>> SquaredHinge()(np.array([[1.0, 0.0]]), np.array([[0.5, 0.0]]))
        0.625
    """)
CategoricalHinge = _metric_class("CategoricalHinge", _losses.categorical_hinge, "categorical_hinge", """
    The mean categorical hinge loss.

    Examples:
        >>> import numpy as np
        >>> round(CategoricalHinge()(np.array([[0.0, 1.0]]), np.array([[0.3, 0.8]])), 4)
        0.5
    """)
KLDivergence = _metric_class("KLDivergence", _losses.kl_divergence, "kl_divergence", """
    The mean Kullback-Leibler divergence.

    Examples:
        >>> import numpy as np
        >>> round(KLDivergence()(np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])), 4)
        0.1438
    """)
Poisson = _metric_class("Poisson", _losses.poisson, "poisson", """
    The mean Poisson loss.

    Examples:
        >>> import numpy as np
        >>> round(Poisson()(np.array([[1.0]]), np.array([[2.0]])), 4)
        1.3069
    """)
LogCoshError = _metric_class("LogCoshError", _losses.log_cosh, "logcosh", """
    The mean ``log(cosh(error))``.

    Examples:
        >>> import numpy as np
        >>> round(LogCoshError()(np.array([[0.0]]), np.array([[1.0]])), 4)
        0.4338
    """)
MeanAbsolutePercentageError = _metric_class(
    "MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error, "mean_absolute_percentage_error", """
    The mean absolute percentage error.

    Examples:
        >>> import numpy as np
        >>> MeanAbsolutePercentageError()(np.array([[2.0, 4.0]]), np.array([[1.0, 5.0]]))
        37.5
    """)
MeanSquaredLogarithmicError = _metric_class(
    "MeanSquaredLogarithmicError", _losses.mean_squared_logarithmic_error, "mean_squared_logarithmic_error", """
    The mean squared logarithmic error.

    Examples:
        >>> import numpy as np, math
        >>> round(MeanSquaredLogarithmicError()(np.array([[0.0]]), np.array([[math.e - 1]])), 4)
        1.0
    """)


def _cosine(y_true, y_pred, axis=-1):
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


_cosine.__name__ = "cosine_similarity"
CosineSimilarity = _metric_class("CosineSimilarity", _cosine, "cosine_similarity", """
    The mean cosine similarity of targets and predictions along ``axis`` (1 is best).

    Examples:
        >>> import numpy as np
        >>> CosineSimilarity()(np.array([[1.0, 0.0]]), np.array([[2.0, 0.0]]))
        1.0
    """, axis=-1)

_KERAS_LOSS_METRICS = (BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Hinge,
                       SquaredHinge, CategoricalHinge, KLDivergence, Poisson, LogCoshError,
                       MeanAbsolutePercentageError, MeanSquaredLogarithmicError, CosineSimilarity)


class Sum(Metric):
    """The running (weighted) sum of the values passed to ``update_state``.

    Examples:
        >>> m = Sum()
        >>> m.update_state([1.0, 2.0]); m.update_state(4.0, sample_weight=0.5)
        >>> m.result()
        5.0
    """

    def reset_state(self):
        self.total = 0.0

    def update_state(self, values, sample_weight=None):
        values = _as_array(values, "values").astype(numpy.float64)
        weight = _weights_like(sample_weight, values.shape, self.name)
        self.total += float(values.sum() if weight is None else (values * weight).sum())

    def result(self):
        return self.total


class _Count(Metric):
    """Weighted count of one kind of decision at each threshold (a float, or a list: one count each)."""

    _kind = None

    def __init__(self, thresholds=None, name=None):
        values = [0.5] if thresholds is None else (
            [float(thresholds)] if isinstance(thresholds, (int, float)) else [float(t) for t in thresholds])
        if not values or any(not 0 <= t <= 1 for t in values):
            raise ValueError(f"{type(self).__name__}: thresholds must lie in [0, 1], got {thresholds!r}")
        self.thresholds = thresholds
        self._values = numpy.asarray(values)
        super().__init__(name=name)

    def reset_state(self):
        self.accumulator = numpy.zeros(len(self._values))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_array(y_pred, "y_pred").astype(numpy.float64)
        positive = _match_shapes(_as_array(y_true, "y_true"), y_pred, self.name).astype(bool).ravel()
        weight = _weights_like(sample_weight, y_pred.shape, self.name)
        weight = numpy.ones(y_pred.size) if weight is None else weight.ravel()
        predicted = y_pred.ravel()[None, :] > self._values[:, None]  # (thresholds, values)
        truth = positive[None, :]
        decided = {"tp": predicted & truth, "fp": predicted & ~truth, "tn": ~predicted & ~truth,
                   "fn": ~predicted & truth}[self._kind]
        self.accumulator += decided.astype(numpy.float64) @ weight

    def result(self):
        return float(self.accumulator[0]) if isinstance(self.thresholds, (int, float)) or self.thresholds is None \
            else self.accumulator.copy()

    def get_config(self):
        return {"name": self.name, "thresholds": self.thresholds}


class TruePositives(_Count):
    """Weighted number of positives predicted positive (``y_pred > threshold``).

    Examples:
        >>> TruePositives()([0, 1, 1, 1], [1, 0, 1, 1])
        2.0
    """

    _kind = "tp"


class FalsePositives(_Count):
    """Weighted number of negatives predicted positive.

    Examples:
        >>> FalsePositives()([0, 1, 0, 0], [0, 0, 1, 1])
        2.0
    """

    _kind = "fp"


class TrueNegatives(_Count):
    """Weighted number of negatives predicted negative.

    Examples:
        >>> TrueNegatives()([0, 1, 0, 0], [1, 1, 0, 0])
        2.0
    """

    _kind = "tn"


class FalseNegatives(_Count):
    """Weighted number of positives predicted negative.

    Examples:
        >>> FalseNegatives()([0, 1, 1, 1], [0, 1, 0, 0])
        2.0
    """

    _kind = "fn"


class R2Score(Metric):
    """Coefficient of determination ``1 - SS_res / SS_tot`` over everything seen (streamed exactly).

    Args:
        class_aggregation: ``"uniform_average"`` (mean over output columns), ``"variance_weighted_average"``
            or None (one score per column).
        num_regressors: for the adjusted R2 ``1 - (1 - R2) (n - 1) / (n - k - 1)``.

    Examples:
        >>> import numpy as np
        >>> round(R2Score()(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [4.0]])), 4)
        0.5
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score"):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError(f"R2Score: class_aggregation must be None, 'uniform_average' or "
                             f"'variance_weighted_average', got {class_aggregation!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, int(num_regressors)
        super().__init__(name=name)

    def reset_state(self):
        self.count = self.sum = self.squares = self.residuals = None

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = _as_array(y_pred, "y_pred").astype(numpy.float64)
        y_pred = y_pred.reshape(-1, 1) if y_pred.ndim < 2 else y_pred.reshape(y_pred.shape[0], -1)
        y_true = _match_shapes(_as_array(y_true, "y_true").astype(numpy.float64), y_pred, self.name)
        weight = _weights_like(sample_weight, y_pred.shape, self.name)
        weight = numpy.ones_like(y_pred) if weight is None else weight
        parts = (weight.sum(0), (weight * y_true).sum(0), (weight * y_true ** 2).sum(0),
                 (weight * (y_true - y_pred) ** 2).sum(0))
        if self.count is None:
            self.count, self.sum, self.squares, self.residuals = parts
        else:
            self.count, self.sum, self.squares, self.residuals = (
                a + b for a, b in zip((self.count, self.sum, self.squares, self.residuals), parts))

    def result(self):
        if self.count is None:
            return 0.0
        mean = self.sum / self.count
        total = self.squares - self.sum * mean
        raw = 1 - _divide(self.residuals, total)
        raw = numpy.where(total == 0, 0.0, raw)
        if self.class_aggregation == "uniform_average":
            r2 = float(raw.mean())
        elif self.class_aggregation == "variance_weighted_average":
            r2 = float((raw * total).sum() / total.sum()) if total.sum() else 0.0
        else:
            r2 = raw
        n = float(self.count[0])
        if self.num_regressors:
            if n - self.num_regressors - 1 <= 0:
                raise ValueError(f"R2Score: num_regressors={self.num_regressors} needs more than "
                                 f"{self.num_regressors + 1} samples, got {n:g}")
            r2 = 1 - (1 - r2) * (n - 1) / (n - self.num_regressors - 1)
        return r2

    def get_config(self):
        return {"name": self.name, "class_aggregation": self.class_aggregation, "num_regressors": self.num_regressors}


class IoU(Metric):
    """Intersection over union ``TP / (TP + FP + FN)`` per class, averaged over ``target_class_ids``
    (classes never seen in either targets or predictions are left out of the mean), from a streamed
    confusion matrix.

    Args:
        num_classes: number of classes.
        target_class_ids: the classes to average.
        ignore_class: a class id in the targets to leave out (e.g. the "void" label), or None.
        sparse_y_true: class ids (True) or one-hot / per-class scores (False, the argmax over ``axis``).
        sparse_y_pred: class ids (True) or one-hot / per-class scores (False, the argmax over ``axis``).

    Examples:
        >>> IoU(num_classes=2, target_class_ids=[0])([0, 0, 1, 1], [0, 1, 0, 1])
        0.3333333333333333
    """

    def __init__(self, num_classes, target_class_ids, name=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes must be a positive int, got {num_classes!r}")
        self.num_classes, self.target_class_ids = num_classes, [int(c) for c in target_class_ids]
        if any(not 0 <= c < num_classes for c in self.target_class_ids):
            raise ValueError(f"{type(self).__name__}: target_class_ids {self.target_class_ids} must be classes "
                             f"0..{num_classes - 1}")
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred, self.axis = (
            ignore_class, sparse_y_true, sparse_y_pred, axis)
        super().__init__(name=name)

    def reset_state(self):
        self.confusion = numpy.zeros((self.num_classes, self.num_classes))

    def _labels(self, y_true, y_pred):
        y_true = _as_array(y_true, "y_true")
        y_pred = _as_array(y_pred, "y_pred")
        if not self.sparse_y_true:
            y_true = y_true.argmax(axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = y_pred.argmax(axis=self.axis)
        return y_true.astype(numpy.int64).ravel(), y_pred.astype(numpy.int64).ravel()

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self._labels(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: {y_true.size} true labels for {y_pred.size} predicted labels")
        weight = numpy.ones(y_true.size) if sample_weight is None else _weights_like(
            sample_weight, y_true.shape, self.name).ravel()
        keep = numpy.ones(y_true.size, bool) if self.ignore_class is None else y_true != self.ignore_class
        y_true, y_pred, weight = y_true[keep], y_pred[keep], weight[keep]
        for labels, which in ((y_true, "y_true"), (y_pred, "y_pred")):
            if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(f"{self.name}: {which} holds classes from {labels.min()} to {labels.max()}, "
                                 f"outside 0..{self.num_classes - 1}")
        index = y_true * self.num_classes + y_pred
        self.confusion += numpy.bincount(index, weights=weight, minlength=self.num_classes ** 2).reshape(
            self.num_classes, self.num_classes)

    def result(self):
        tp = numpy.diag(self.confusion)
        denominator = self.confusion.sum(0) + self.confusion.sum(1) - tp
        ids = self.target_class_ids
        valid = denominator[ids] != 0
        if not valid.any():
            return 0.0
        return float((_divide(tp[ids], denominator[ids])[valid]).sum() / valid.sum())

    def get_config(self):
        return {"name": self.name, "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """IoU averaged over all ``num_classes`` classes (the segmentation metric).

    Examples:
        >>> round(MeanIoU(num_classes=2)([0, 0, 1, 1], [0, 1, 0, 1]), 4)
        0.3333
    """

    def __init__(self, num_classes, name=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        config.pop("target_class_ids")
        return config


class BinaryIoU(IoU):
    """IoU of binary predictions (``y_pred > threshold``) for ``target_class_ids`` among {0, 1}.

    Examples:
        >>> BinaryIoU(target_class_ids=[1])([0, 1, 1, 0], [0.2, 0.7, 0.4, 0.6])
        0.3333333333333333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None):
        self.threshold = float(threshold)
        super().__init__(2, list(target_class_ids), name=name)

    def _labels(self, y_true, y_pred):
        y_true = _as_array(y_true, "y_true").astype(numpy.int64).ravel()
        y_pred = (_as_array(y_pred, "y_pred").astype(numpy.float64) > self.threshold).astype(numpy.int64).ravel()
        return y_true, y_pred

    def get_config(self):
        return {"name": self.name, "target_class_ids": self.target_class_ids, "threshold": self.threshold}


class OneHotIoU(IoU):
    """IoU of one-hot targets and per-class scores (argmax over ``axis``) for ``target_class_ids``.

    Examples:
        >>> import numpy as np
        >>> OneHotIoU(num_classes=2, target_class_ids=[1])(np.eye(2)[[0, 1, 1]], np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
        0.5
    """

    def __init__(self, num_classes, target_class_ids, name=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        config.pop("sparse_y_true")
        return config


class OneHotMeanIoU(MeanIoU):
    """Mean IoU over all classes for one-hot targets and per-class scores.

    Examples:
        >>> import numpy as np
        >>> round(OneHotMeanIoU(num_classes=2)(np.eye(2)[[0, 1, 1]], np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])), 4)
        0.5
    """

    def __init__(self, num_classes, name=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        config = super().get_config()
        config.pop("sparse_y_true")
        return config


# the loss functions, under their Keras metric names too (keras.metrics.mean_squared_error...)
mean_squared_error, mean_absolute_error, huber = _losses.mean_squared_error, _losses.mean_absolute_error, _losses.huber
binary_crossentropy, categorical_crossentropy = _losses.binary_crossentropy, _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
hinge, squared_hinge, categorical_hinge = _losses.hinge, _losses.squared_hinge, _losses.categorical_hinge
kl_divergence, poisson, log_cosh = _losses.kl_divergence, _losses.poisson, _losses.log_cosh
mean_absolute_percentage_error = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = _losses.mean_squared_logarithmic_error
binary_focal_crossentropy = _losses.binary_focal_crossentropy
categorical_focal_crossentropy = _losses.categorical_focal_crossentropy

_KERAS_METRICS = _KERAS_LOSS_METRICS + (Sum, TruePositives, FalsePositives, TrueNegatives, FalseNegatives, R2Score,
                                         IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU)
__all__ += [cls.__name__ for cls in _KERAS_METRICS] + [
    "mean_squared_error", "mean_absolute_error", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson",
    "log_cosh", "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "binary_focal_crossentropy",
    "categorical_focal_crossentropy"]


# ----------------------------------------------------------------- lookup by name
_CLASSES = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "precision": Precision,
    "recall": Recall,
    "f1_score": F1Score,
    "auc": AUC,
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "rmse": RootMeanSquaredError,
    "mean": Mean,
}
_ALIASES = {
    "mean_squared_error": "mse",
    "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse",
    "f1": "f1_score",
    "top_k_accuracy": "top_k_categorical_accuracy",
    "sparse_top_k_accuracy": "sparse_top_k_categorical_accuracy",
}
_ACCURACY_NAMES = ("accuracy", "acc")


registry.register_builtins("metric", [*_CLASSES.values(), Accuracy], _CLASSES)
_KERAS_NAMES = {
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson,
    "logcosh": LogCoshError, "log_cosh_error": LogCoshError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError, "cosine_similarity": CosineSimilarity, "sum": Sum,
    "true_positives": TruePositives, "false_positives": FalsePositives, "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives, "r2_score": R2Score, "iou": IoU, "mean_iou": MeanIoU, "binary_iou": BinaryIoU,
    "one_hot_iou": OneHotIoU, "one_hot_mean_iou": OneHotMeanIoU,
}
_CLASSES.update(_KERAS_NAMES)
registry.register_builtins("metric", _KERAS_METRICS, _KERAS_NAMES)


def serialize(metric):
    """``{"class_name": ..., "config": ...}`` for a metric.

    Examples:
        >>> serialize(Precision(name="p"))["class_name"]
        'Precision'
    """
    return registry.serialize(metric, "metric")


def deserialize(config, custom_objects=None):
    """Rebuild a metric from :func:`serialize` output; only built-in or registered classes (nothing is imported).

    Examples:
        >>> deserialize({"class_name": "Recall", "config": {"name": "r"}}).name
        'r'
    """
    return registry.deserialize("metric", config, base=Metric, custom_objects=custom_objects)


def _default_name(cls):
    for name, known in _CLASSES.items():
        if known is cls:
            return name
    return cls.__name__.lower()


def _loss_name(loss):
    """A loss (string, class, instance or function) as a lowercase name without underscores."""
    if loss is None:
        return ""
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).lower().replace("_", "")


def _resolve_accuracy(name, loss, output_shape):
    loss_name = _loss_name(loss)
    if "sparsecategorical" in loss_name:
        return SparseCategoricalAccuracy(name=name)
    if "categorical" in loss_name:
        return CategoricalAccuracy(name=name)
    if "binary" in loss_name:
        return BinaryAccuracy(name=name)
    if output_shape is not None and len(output_shape) > 0 and output_shape[-1] == 1:
        return BinaryAccuracy(name=name)
    return Accuracy(name=name)  # decides on the first batch from the shapes


def get(identifier, loss=None, output_shape=None):
    """Return a metric from a name, a class, an instance, a config dict or a function.

    Names are case-insensitive. ``"accuracy"`` (or ``"acc"``) becomes the right
    accuracy for the loss, as in Keras: binary cross-entropy or a one-unit
    output -> :class:`BinaryAccuracy`, sparse categorical cross-entropy ->
    :class:`SparseCategoricalAccuracy`, categorical cross-entropy ->
    :class:`CategoricalAccuracy`; otherwise an :class:`Accuracy` that decides
    from the shapes of the first batch. Such a metric is named as asked
    (``"accuracy"``); the others get their canonical name (``"mse"`` for
    ``"mean_squared_error"``). A function ``fn(y_true, y_pred)`` returning
    per-sample scores is averaged by a :class:`MeanMetricWrapper`.

    Args:
        identifier: metric name, Metric class or instance, ``{"class_name", "config"}`` dict, or function.
        loss: the model's loss (name, class, instance or function), used for "accuracy".
        output_shape: the model's output shape, used for "accuracy" when the loss does not say.

    Examples:
        >>> type(get("accuracy", loss="binary_crossentropy")).__name__
        'BinaryAccuracy'
        >>> get("Mean_Squared_Error").name
        'mse'
        >>> get("accuracy", output_shape=(None, 1)).name
        'accuracy'
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _ACCURACY_NAMES:
            return _resolve_accuracy(key, loss, output_shape)
        key = _ALIASES.get(key, key)
        if key not in _CLASSES:
            found = registry.get_registered_object(identifier, kind="metric")
            if isinstance(found, type) and issubclass(found, Metric):
                return found()
            valid = sorted([*_ACCURACY_NAMES, *_CLASSES, *_ALIASES])
            raise registry.UnknownObjectError(
                f"unknown metric {identifier!r}; valid names are {valid}, or a class registered with "
                "@nerve.saving.register_serializable")
        return _CLASSES[key]()
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise TypeError(
        f"a metric must be a name, a Metric, a config dict or a function, got {type(identifier).__name__}"
    )
