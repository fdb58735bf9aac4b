"""Keras's ``activity_regularizer`` argument of every layer (issue 18): the penalty of the layer's output, divided by
the batch size, joins the training objective through ``add_loss``."""

import numpy as np
import pytest

import nerve
from nerve import layers, regularizers
from nerve.blocks.layers.base import take_added_losses


def test_a_call_records_the_penalty_of_the_output_over_the_batch_size():
    take_added_losses()
    dense = layers.Dense(3, activation="relu", activity_regularizer="l2")
    out = dense(np.random.default_rng(0).normal(size=(4, 2))).numpy()
    (penalty,) = take_added_losses()
    np.testing.assert_allclose(penalty.item(), 0.01 * (out**2).sum() / 4, rtol=1e-6)
    conv = layers.Conv2D(2, 3, activity_regularizer=regularizers.L1(0.1))
    out = conv(np.random.default_rng(1).normal(size=(5, 6, 6, 1))).numpy()
    (penalty,) = take_added_losses()
    np.testing.assert_allclose(penalty.item(), 0.1 * np.abs(out).sum() / 5, rtol=1e-6)
    conv(np.ones((5, 6, 6, 1)), training=False)  # inference: nothing to record
    assert take_added_losses() == []


def test_the_training_step_minimises_the_loss_plus_the_activity_penalty():
    nerve.random.seed(2)  # the kernel's initial values, whatever ran before
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    model = nerve.Sequential([nerve.Input(shape=(3,), dtype="float64"),
                              layers.Dense(2, activity_regularizer=regularizers.L2(0.5), dtype="float64")])
    model.compile(optimizer=nerve.optimizers.SGD(0.1), loss="mse")
    kernel, bias = (w.copy() for w in model.get_weights())
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # by hand: objective = mean((out - y)^2) + 0.5 * sum(out^2) / batch
    out = x @ kernel + bias
    d_out = 2 * (out - y) / out.size + 2 * 0.5 * out / len(x)
    # (fit feeds the batches in float32: agreement to float32 rounding, while the penalty moves the weights by ~1e-2)
    np.testing.assert_allclose(model.get_weights()[0], kernel - 0.1 * x.T @ d_out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.get_weights()[1], bias - 0.1 * d_out.sum(0), rtol=1e-6, atol=1e-7)
    assert np.abs(0.1 * x.T @ (2 * 0.5 * out / len(x))).max() > 1e-2  # the penalty's share of the step: far above 1e-7


def test_a_strong_activity_penalty_shrinks_the_activations_of_a_functional_model():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 6, 6, 1)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def build(reg):
        nerve.random.seed(0)
        inputs = nerve.Input(shape=(6, 6, 1))
        hidden = layers.Conv2D(4, 3, activation="relu", activity_regularizer=reg, name="conv")(inputs)
        outputs = layers.Dense(1)(layers.Flatten()(hidden))
        model = nerve.Model(inputs, outputs)
        model.compile(optimizer=nerve.optimizers.Adam(0.01), loss="mse")
        model.fit(x, y, batch_size=8, epochs=20, verbose=0)
        return np.abs(nerve.Model(inputs, hidden).predict(x, verbose=0)).mean()

    assert build(regularizers.L1(1.0)) < 0.5 * build(None)
    assert take_added_losses() == []  # predict recorded nothing


def test_the_argument_is_saved_with_the_model(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2, activity_regularizer=regularizers.L1L2(0.1, 0.2)),
                              layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    assert model.layers[0].get_config()["activity_regularizer"] == {"class_name": "L1L2",
                                                                    "config": {"l1": 0.1, "l2": 0.2}}
    assert "activity_regularizer" not in model.layers[1].get_config()
    model.save(tmp_path / "m.nerve")
    reloaded = nerve.load_model(tmp_path / "m.nerve")
    reg = reloaded.layers[0].activity_regularizer
    assert type(reg).__name__ == "L1L2" and reg.get_config() == {"l1": 0.1, "l2": 0.2}
    assert reloaded.layers[1].activity_regularizer is None


def test_an_unknown_regularizer_name_fails_with_the_name():
    with pytest.raises(Exception, match="l3"):
        layers.Dense(2, activity_regularizer="l3")
