"""Rosenblatt's perceptron: a threshold unit learned by the perceptron rule, with no gradients.

The unit of McCulloch and Pitts (1943) fires when its weighted input reaches a threshold:
``y_hat = step(w . x + b)``, with ``step(z) = 1`` for ``z >= 0`` and 0 otherwise
(:func:`nerve.activations.step`). Rosenblatt (1958) gave it a learning rule: show the samples one at a
time and, after each, move the weights by the error times the input,

    ``w <- w + learning_rate * (y - y_hat) * x``,   ``b <- b + learning_rate * (y - y_hat)``.

A correct answer changes nothing; a missed 1 adds the input to the weights, a false 1 subtracts it.
The rule is online by definition (each update depends on the previous one), so an epoch is one pass
over the samples in order; everything inside a step is vectorised over the features.

The convergence theorem (Novikoff, 1962): if some ``(w*, b*)`` separates the two classes with margin
``gamma`` and every input lies within radius ``R``, the rule makes at most ``(R / gamma)^2`` mistakes,
whatever the order, and then stops changing. When no line separates the classes (XOR), the rule never
stops: with a fixed order and integer inputs the weights come back to an earlier state and the
updates repeat forever. :class:`Perceptron` detects that repetition and reports it (``cycled_``).

Examples:
    >>> import numpy as np
    >>> from nerve.applications import Perceptron
    >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> Perceptron().fit(x, [0, 0, 0, 1]).predict(x).tolist()    # AND
    [0, 0, 0, 1]
    >>> xor = Perceptron().fit(x, [0, 1, 1, 0])
    >>> xor.converged_, xor.cycled_
    (False, True)
"""

from __future__ import annotations

import numpy

__all__ = ["Perceptron"]


class Perceptron:
    """A threshold unit ``step(w . x + b)`` trained by Rosenblatt's rule (binary classification).

    Args:
        learning_rate: the step of the rule (with zero initial weights the decisions do not depend on it).
        max_epochs: the most passes over the data.
        shuffle: visit the samples in a new random order every epoch (seeded by ``seed``); ``False`` keeps
            the given order, which makes the cycling on non-separable data exact and detectable.
        seed: seed of the shuffling order.

    Attributes after :meth:`fit`:
        weights_ (``(n_features,)``), bias_: the learned unit; classes_: the two labels (``classes_[1]``
        is the class the unit fires for); converged_: an epoch went by without a mistake; cycled_: the
        weights at the start of an epoch repeated an earlier epoch's (without shuffling), so the rule
        would loop forever: the data are not linearly separable; epochs_: the epochs run;
        mistakes_: the mistakes (updates) of every epoch; history_: ``(weights, bias)`` after every
        epoch, the first entry being the initial state (for pictures of the decision boundary).

    Examples:
        >>> import numpy as np
        >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
        >>> model = Perceptron().fit(x, [0, 1, 1, 1])               # OR
        >>> model.converged_, model.epochs_, model.mistakes_
        (True, 4, [2, 2, 1, 0])
        >>> model.weights_.tolist(), model.bias_, model.score(x, [0, 1, 1, 1])
        ([1.0, 1.0], -1.0, 1.0)
    """

    def __init__(self, learning_rate=1.0, max_epochs=100, shuffle=False, seed=None):
        if not learning_rate > 0:
            raise ValueError(f"Perceptron: learning_rate must be > 0, received {learning_rate!r}")
        if int(max_epochs) < 1:
            raise ValueError(f"Perceptron: max_epochs must be >= 1, received {max_epochs!r}")
        self.learning_rate = float(learning_rate)
        self.max_epochs = int(max_epochs)
        self.shuffle = bool(shuffle)
        self.seed = seed

    # --------------------------------------------------------------------------------------------- checks
    def _check_x(self, x, where):
        x = numpy.asarray(x, dtype=numpy.float64)
        if x.ndim != 2:
            raise ValueError(f"Perceptron.{where}: expected inputs of shape (samples, features), "
                             f"received shape {x.shape}")
        if where != "fit" and x.shape[1] != self.weights_.shape[0]:
            raise ValueError(f"Perceptron.{where}: the perceptron was fitted on {self.weights_.shape[0]} features, "
                             f"received inputs with {x.shape[1]}")
        return x

    def _targets(self, y, n, where):
        y = numpy.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"Perceptron.{where}: expected one label per sample, shape ({n},), received {y.shape}")
        return y

    # ---------------------------------------------------------------------------------------- training
    def fit(self, x, y):
        """Run the perceptron rule until an epoch makes no mistake, the weights cycle, or ``max_epochs``.

        ``y`` holds two distinct labels (``0``/``1``, ``-1``/``1``, strings...); a single label is an error.
        Returns the perceptron.

        Examples:
            >>> import numpy as np
            >>> model = Perceptron(max_epochs=5).fit([[-1.0], [1.0]], ["off", "on"])
            >>> model.predict([[-0.5], [2.0]]).tolist(), model.converged_
            (['off', 'on'], True)
        """
        x = self._check_x(x, "fit")
        y = self._targets(y, len(x), "fit")
        classes = numpy.unique(y)
        if len(classes) != 2:
            raise ValueError(f"Perceptron.fit: expected exactly two classes in y, received {len(classes)} "
                             f"({classes.tolist()[:5]})")
        target = (y == classes[1]).astype(numpy.float64)
        self.classes_ = classes
        weights, bias = numpy.zeros(x.shape[1]), 0.0
        self.history_ = [(weights.copy(), bias)]
        self.mistakes_, self.converged_, self.cycled_ = [], False, False
        seen = {self._state_key(weights, bias)}
        order = numpy.arange(len(x))
        rng = numpy.random.default_rng(self.seed)
        for _ in range(self.max_epochs):
            if self.shuffle:
                order = rng.permutation(len(x))
            weights, bias, mistakes = self._epoch(x[order], target[order], weights, bias)
            self.history_.append((weights.copy(), bias))
            self.mistakes_.append(mistakes)
            if mistakes == 0:
                self.converged_ = True
                break
            key = self._state_key(weights, bias)
            if not self.shuffle and key in seen:
                self.cycled_ = True  # the same state starts the next epoch: the same updates come back forever
                break
            seen.add(key)
        self.weights_, self.bias_ = weights, float(bias)
        self.epochs_ = len(self.mistakes_)
        return self

    def _epoch(self, x, target, weights, bias):
        """One pass of the rule; each sample's update depends on the previous ones, so the pass is sequential."""
        mistakes = 0
        for sample, wanted in zip(x, target):
            error = wanted - float(sample @ weights + bias >= 0.0)
            if error:
                weights = weights + self.learning_rate * error * sample
                bias += self.learning_rate * error
                mistakes += 1
        return weights, bias, mistakes

    @staticmethod
    def _state_key(weights, bias):
        return numpy.append(weights, bias).tobytes()

    # -------------------------------------------------------------------------------------- prediction
    def _check_fitted(self, where):
        if not hasattr(self, "weights_"):
            raise RuntimeError(f"Perceptron.{where}: the perceptron is not fitted yet; call fit(x, y) first")

    def decision_function(self, x):
        """``w . x + b`` for every sample: the unit fires where it is ``>= 0``.

        Examples:
            >>> model = Perceptron().fit([[0.0], [1.0]], [0, 1])
            >>> model.decision_function([[0.0], [1.0]]).tolist()
            [-1.0, 0.0]
        """
        self._check_fitted("decision_function")
        return self._check_x(x, "decision_function") @ self.weights_ + self.bias_

    def predict(self, x):
        """The label for every sample: ``classes_[1]`` where the unit fires, ``classes_[0]`` elsewhere.

        Examples:
            >>> Perceptron().fit([[0.0], [1.0]], [0, 1]).predict([[-3.0], [4.0]]).tolist()
            [0, 1]
        """
        self._check_fitted("predict")
        return self.classes_[(self.decision_function(x) >= 0.0).astype(int)]

    def score(self, x, y):
        """Accuracy of :meth:`predict` on ``(x, y)``, between 0 and 1.

        Examples:
            >>> Perceptron().fit([[0.0], [1.0]], [0, 1]).score([[0.0], [2.0], [-1.0]], [0, 1, 1])
            0.6666666666666666
        """
        predictions = self.predict(x)
        return float(numpy.mean(predictions == self._targets(y, len(predictions), "score")))

    def __repr__(self):
        return (f"Perceptron(learning_rate={self.learning_rate}, max_epochs={self.max_epochs}, "
                f"shuffle={self.shuffle}, seed={self.seed})")
