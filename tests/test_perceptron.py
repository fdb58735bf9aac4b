"""Rosenblatt's perceptron: the step unit, the rule, convergence on separable data, cycling on XOR."""

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.applications import Perceptron

CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)


def test_step_activation():
    x = nerve.tensor([-1.5, -1e-7, 0.0, 3.0], dtype="float64")
    out = nerve.activations.step(x)
    assert out.dtype == np.float64 and out.tolist() == [0.0, 0.0, 1.0, 1.0]
    assert nerve.activations.get("step") is nerve.activations.step
    assert nerve.activations.serialize(nerve.activations.step) == "step"
    dense = layers.Dense(3, activation="step")
    values = dense(nerve.tensor(np.random.default_rng(0).normal(size=(5, 4)))).numpy()
    assert set(np.unique(values)) <= {0.0, 1.0}
    assert layers.Dense.from_config(dense.get_config()).activation is nerve.activations.step


@pytest.mark.parametrize("name, labels", [("AND", [0, 0, 0, 1]), ("OR", [0, 1, 1, 1]), ("NAND", [1, 1, 1, 0])])
def test_converges_on_linearly_separable_gates(name, labels):
    model = Perceptron().fit(CORNERS, labels)
    assert model.converged_ and not model.cycled_, name
    assert model.mistakes_[-1] == 0 and model.epochs_ == len(model.mistakes_) == len(model.history_) - 1
    assert model.predict(CORNERS).tolist() == labels and model.score(CORNERS, labels) == 1.0
    # the learned unit is the threshold unit: step(w.x + b) by hand
    by_hand = nerve.activations.step(nerve.tensor(CORNERS @ model.weights_ + model.bias_)).numpy()
    assert by_hand.tolist() == labels


def test_the_rule_by_hand_on_and():
    """AND in the order (0,0), (0,1), (1,0), (1,1), learning rate 1, zero start."""
    model = Perceptron(max_epochs=1).fit(CORNERS, [0, 0, 0, 1])
    # (0,0): fires (0 >= 0), wrong: b = -1. (0,1): -1 < 0, right. (1,0): right. (1,1): -1 < 0, wrong: w = (1,1), b = 0
    assert model.history_[1][0].tolist() == [1.0, 1.0] and model.history_[1][1] == 0.0
    assert model.mistakes_ == [2] and not model.converged_ and not model.cycled_


def test_cycles_on_xor():
    labels = [0, 1, 1, 0]
    model = Perceptron(max_epochs=1000).fit(CORNERS, labels)
    assert not model.converged_ and model.cycled_
    assert model.epochs_ < 20 and min(model.mistakes_) > 0  # found the loop quickly; every epoch errs
    assert model.score(CORNERS, labels) <= 0.75  # no line gets all four right
    shuffled = Perceptron(max_epochs=50, shuffle=True, seed=0).fit(CORNERS, labels)
    assert not shuffled.converged_ and not shuffled.cycled_ and shuffled.epochs_ == 50
    assert min(shuffled.mistakes_) > 0


def test_converges_within_novikoffs_bound_on_a_separable_cloud():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(400, 2))
    margin_of = x @ np.array([2.0, -1.0]) + 0.3
    keep = np.abs(margin_of) > 0.2  # a clear gap around the line 2 x1 - x2 + 0.3 = 0
    x, labels = x[keep], (margin_of[keep] > 0).astype(int)
    for shuffle in (False, True):
        model = Perceptron(max_epochs=1000, shuffle=shuffle, seed=1).fit(x, labels)
        assert model.converged_ and model.score(x, labels) == 1.0
        # Novikoff: at most (R / gamma)^2 mistakes, R and gamma measured on the inputs with a constant 1 appended
        augmented = np.hstack([x, np.ones((len(x), 1))])
        separator = np.array([2.0, -1.0, 0.3])
        gamma = np.min(np.abs(augmented @ separator)) / np.linalg.norm(separator)
        radius = np.max(np.linalg.norm(augmented, axis=1))
        assert sum(model.mistakes_) <= (radius / gamma) ** 2


def test_learning_rate_only_scales_the_weights_from_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    labels = (x @ np.array([1.0, -2.0, 0.5]) > 0.1).astype(int)
    slow, fast = Perceptron(learning_rate=0.1).fit(x, labels), Perceptron(learning_rate=1.0).fit(x, labels)
    np.testing.assert_allclose(slow.weights_ * 10, fast.weights_, rtol=1e-12)
    assert slow.mistakes_ == fast.mistakes_


def test_any_two_labels():
    model = Perceptron().fit(CORNERS, np.array(["no", "no", "no", "yes"]))
    assert model.predict(CORNERS).tolist() == ["no", "no", "no", "yes"]
    assert Perceptron().fit(CORNERS, [-1, 1, 1, 1]).predict(CORNERS).tolist() == [-1, 1, 1, 1]


def test_errors_say_what_was_expected():
    with pytest.raises(ValueError, match=r"expected exactly two classes in y, received 1"):
        Perceptron().fit(CORNERS, [1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"expected one label per sample, shape \(4,\), received \(3,\)"):
        Perceptron().fit(CORNERS, [0, 1, 1])
    with pytest.raises(ValueError, match=r"expected inputs of shape \(samples, features\), received shape \(4,\)"):
        Perceptron().fit([1, 2, 3, 4], [0, 1, 0, 1])
    with pytest.raises(RuntimeError, match="not fitted yet"):
        Perceptron().predict(CORNERS)
    with pytest.raises(ValueError, match="fitted on 2 features, received inputs with 3"):
        Perceptron().fit(CORNERS, [0, 0, 0, 1]).predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        Perceptron(learning_rate=0)


def test_two_layer_network_trained_by_backprop_solves_xor():
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(4, activation="tanh"),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=nerve.optimizers.Adam(0.05), loss="binary_crossentropy")
    labels = np.array([[0], [1], [1], [0]], dtype="float32")
    model.fit(CORNERS.astype("float32"), labels, epochs=500, batch_size=4, verbose=0)
    predictions = (model.predict(CORNERS.astype("float32"), verbose=0) > 0.5).astype(int)
    assert predictions.ravel().tolist() == [0, 1, 1, 0]
