"""scikit-learn wrappers: :class:`NerveClassifier` and :class:`NerveRegressor`.

They follow scikit-learn's estimator conventions (constructor arguments stored
as given, ``get_params``/``set_params``, ``fit`` returns self, fitted attributes
end with ``_``, ``clone``-able), so ``GridSearchCV``, ``RandomizedSearchCV``,
``cross_val_score`` and ``Pipeline`` work with nerve models. scikit-learn is an
optional dependency (``pip install scikit-learn``); ``import nerve`` does not load it.

The network is an MLP (``hidden_layer_sizes``, ``activation``) or whatever
``build_fn(n_features, n_outputs)`` returns; it is compiled with ``optimizer`` and
``learning_rate`` unless ``build_fn`` compiled it already. ``random_state``
seeds ``nerve.random`` at the start of ``fit`` (so fits are repeatable).

Examples:
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from nerve.applications.sklearn import NerveClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 3)); y = np.where(X[:, 0] > 0, "yes", "no")
    >>> clf = make_pipeline(StandardScaler(), NerveClassifier(hidden_layer_sizes=(16,), learning_rate=0.01,
    ...                                                       epochs=20, random_state=0))
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf[-1].classes_.tolist()
    ['no', 'yes']
"""

from __future__ import annotations

import copy
import numbers

import numpy

from nerve.blocks import layers, losses, optimizers
from nerve.engine import random as nerve_random
from nerve.training.models import Input, Model, Sequential

__all__ = [
    "NerveClassifier", "NerveRegressor",
]

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted
except ImportError as error:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("nerve.sklearn needs scikit-learn: pip install scikit-learn (or pip install \"nerve[test]\")") from error

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    _sk_validate_data = None


def _validate_data(estimator, X, y="no_validation", **kwargs):
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, **kwargs)
    return estimator._validate_data(X, y, **kwargs)  # pragma: no cover


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class _NerveEstimator(BaseEstimator):
    """Shared parameters, model building and training of the two wrappers."""

    _loss = None

    def __init__(self, build_fn=None, hidden_layer_sizes=(64,), activation="relu", optimizer="adam",
                 learning_rate=1e-3, epochs=20, batch_size=32, validation_split=0.0, callbacks=None, verbose=0,
                 random_state=None):
        self.build_fn = build_fn
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.callbacks = callbacks
        self.verbose = verbose
        self.random_state = random_state

    def _check_params(self):
        name = type(self).__name__
        for key in ("epochs", "batch_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")
        if isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate, numbers.Real) or not self.learning_rate > 0:
            raise ValueError(f"{name}: learning_rate must be a positive number, got {self.learning_rate!r}")
        sizes = (self.hidden_layer_sizes,) if isinstance(self.hidden_layer_sizes, numbers.Integral) else self.hidden_layer_sizes
        try:
            sizes = tuple(int(s) for s in sizes)
        except TypeError:
            raise ValueError(f"{name}: hidden_layer_sizes must be a tuple of positive integers, got "
                             f"{self.hidden_layer_sizes!r}") from None
        if any(s < 1 for s in sizes):
            raise ValueError(f"{name}: hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        return sizes

    def _seed(self):
        if self.random_state is None:
            return

        if isinstance(self.random_state, numbers.Integral):
            nerve_random.seed(int(self.random_state))
        else:
            nerve_random.seed(int(check_random_state(self.random_state).randint(2 ** 31 - 1)))

    def _build(self, n_features, n_outputs, sizes, dtype):
        if self.build_fn is not None:
            model = self.build_fn(n_features, n_outputs)
            if not isinstance(model, Model):
                raise TypeError(f"{type(self).__name__}: build_fn(n_features, n_outputs) must return a nerve model, "
                                f"got {type(model).__name__}")
        else:
            stack = [Input(shape=(n_features,), dtype=dtype)]
            stack += [layers.Dense(units, activation=self.activation) for units in sizes]
            stack.append(layers.Dense(n_outputs))
            model = Sequential(stack)
        if not getattr(model, "_compiled", False):
            if isinstance(self.optimizer, str):
                optimizer = optimizers.get(self.optimizer)
                optimizer.learning_rate = float(self.learning_rate)
            else:  # an optimizer object: a fresh copy per fit, so refits start from clean state
                optimizer = optimizers.get(copy.deepcopy(self.optimizer))
            model.compile(optimizer=optimizer, loss=self._make_loss())
        return model

    def _train(self, X, targets, n_outputs, sample_weight):
        sizes = self._check_params()
        self._seed()
        self._dtype = X.dtype  # float64 data trains a float64 network (like scikit-learn's MLP); float32 stays float32
        self.model_ = self._build(X.shape[1], n_outputs, sizes, X.dtype)
        callbacks = copy.deepcopy(self.callbacks) if self.callbacks else None
        history = self.model_.fit(X, targets, epochs=int(self.epochs), batch_size=int(self.batch_size),
                                  validation_split=self.validation_split or 0.0, sample_weight=sample_weight,
                                  callbacks=callbacks, verbose=self.verbose)
        self.history_ = {k: list(v) for k, v in history.history.items()}
        return self

    def _outputs(self, X):
        check_is_fitted(self, "model_")
        X = _validate_data(self, X, reset=False, dtype=[numpy.float64, numpy.float32])
        return numpy.asarray(self.model_.predict(X.astype(self._dtype, copy=False), batch_size=256), dtype=numpy.float64)


class NerveClassifier(ClassifierMixin, _NerveEstimator):
    """A nerve network as a scikit-learn classifier (softmax over the classes; any label type).

    Args:
        build_fn: optional ``build_fn(n_features, n_outputs) -> nerve model`` whose
            last layer gives ``n_outputs`` logits; replaces the default MLP.
        hidden_layer_sizes: units of the hidden Dense layers of the default MLP.
        activation: hidden activation name.
        optimizer: optimizer name (``"adam"``, ``"sgd"``, ...) or object.
        learning_rate: its learning rate (when ``optimizer`` is a name).
        epochs: passed to ``fit``.
        batch_size: passed to ``fit``.
        validation_split: passed to ``fit``.
        callbacks: passed to ``fit``.
        verbose: passed to ``fit``.
        random_state: int (or RandomState) seeding ``nerve.random`` at each ``fit``; None: not reseeded.

    Fitted attributes: ``classes_``, ``n_features_in_``, ``model_`` (the nerve model), ``history_``.

    Examples:
        >>> import numpy as np
        >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = [0, 0, 1, 1]
        >>> clf = NerveClassifier(hidden_layer_sizes=(8,), learning_rate=0.05, epochs=50, random_state=0).fit(X, y)
        >>> clf.predict(X).tolist(), clf.predict_proba(X).shape
        ([0, 0, 1, 1], (4, 2))
    """

    def _make_loss(self):

        return losses.SparseCategoricalCrossentropy(from_logits=True)

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n_samples, n_features) and labels ``y``; returns self."""
        X, y = _validate_data(self, X, y, dtype=[numpy.float64, numpy.float32])
        check_classification_targets(y)
        self.classes_, encoded = numpy.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes in y, but y contains only "
                             f"one class: {self.classes_[0]!r}")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=numpy.float32)
        return self._train(X, encoded.astype(numpy.int64), len(self.classes_), sample_weight)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        return _softmax(self._outputs(X))

    def predict(self, X):
        """The most probable class of each sample (labels from ``classes_``)."""
        outputs = self._outputs(X)  # checks the fit first
        return self.classes_[numpy.argmax(outputs, axis=1)]


class NerveRegressor(RegressorMixin, _NerveEstimator):
    """A nerve network as a scikit-learn regressor (mean squared error; one or several targets).

    Same parameters as :class:`NerveClassifier`; ``build_fn``'s last layer gives
    ``n_outputs`` values. ``predict`` returns shape (n_samples,) for a 1-D ``y``,
    else (n_samples, n_outputs). Fitted attributes: ``n_features_in_``, ``model_``, ``history_``.

    Examples:
        >>> import numpy as np
        >>> X = np.linspace(-1, 1, 64).reshape(-1, 1); y = 2 * X[:, 0] + 1
        >>> reg = NerveRegressor(hidden_layer_sizes=(), learning_rate=0.05, epochs=60, random_state=0).fit(X, y)
        >>> round(reg.score(X, y), 2)
        1.0
    """

    def _make_loss(self):
        return "mse"

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X, y, sample_weight=None):
        """Train on ``X`` (n_samples, n_features) and targets ``y`` (n_samples,) or (n_samples, n_outputs); returns self."""
        X, y = _validate_data(self, X, y, dtype=[numpy.float64, numpy.float32], multi_output=True, y_numeric=True)
        self._y_ndim = y.ndim
        targets = numpy.asarray(y, dtype=X.dtype).reshape(len(y), -1)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=numpy.float32)
        return self._train(X, targets, targets.shape[1], sample_weight)

    def predict(self, X):
        """Predicted targets: shape (n_samples,) when fitted on a 1-D ``y``."""
        out = self._outputs(X)
        return out[:, 0] if self._y_ndim == 1 else out
