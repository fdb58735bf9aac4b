"""Weights are tracked when assigned; ``trainable`` freezes layers with Keras semantics.

``weights``, ``trainable_weights``, ``non_trainable_weights``, ``count_params()``, ``summary()``, the
optimizer and the saved file agree.
"""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve import layers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")


def _model():
    nerve.random.seed(0)
    return nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8, activation="relu", name="hidden"),
                             layers.BatchNormalization(name="bn"), layers.Dense(1, name="out")])


def test_requires_grad_off_keeps_the_weight_counted_and_saved(tmp_path):
    dense = layers.Dense(3)
    dense(np.ones((1, 2)))
    dense.kernel.requires_grad_(False)  # PyTorch-style freeze of one weight
    assert dense.count_params() == 9
    assert len(dense.weights) == 2
    assert dense.trainable_weights == [dense.bias] and dense.non_trainable_weights == [dense.kernel]
    model = nerve.Sequential([nerve.Input(shape=(2,)), dense])
    model.save(tmp_path / "m.nerve")
    again = nerve.load_model(tmp_path / "m.nerve")
    np.testing.assert_array_equal(again.layers[0].kernel.numpy(), dense.kernel.numpy())


def test_tensors_assigned_by_hand_in_lists_and_dicts_are_tracked():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.scales = [nerve.tensor(np.ones(2), requires_grad=True), nerve.tensor(np.ones(2), requires_grad=True)]
            self.table = {"shift": nerve.tensor(np.zeros(2), requires_grad=True)}
            self.cache = nerve.tensor(np.zeros(5))  # no gradient: not a weight

        def call(self, x):
            return x * self.scales[0] * self.scales[1] + self.table["shift"]

    block = Block()
    assert [p for p, _, _ in block.named_weights()] == ["block/scales/0", "block/scales/1", "block/table/shift"]
    block.scales = [nerve.tensor(np.ones(2), requires_grad=True)]  # reassignment replaces the old weights
    assert block.count_params() == 4


def test_add_weight_without_a_name_and_non_trainable_state():
    layer = layers.Layer(name="state")
    a = layer.add_weight(shape=(2, 3), initializer="ones")
    b = layer.add_weight(shape=(4,), initializer="zeros", trainable=False)
    assert layer.trainable_weights == [a] and layer.non_trainable_weights == [b]
    assert layer.count_params() == 10 and not b.requires_grad
    with pytest.raises(TypeError, match="shape"):
        layer.add_weight("c")


def test_freezing_a_layer_moves_its_weights_and_the_optimizer_skips_them():
    model = _model()
    x, y = _data()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    hidden = model.get_layer("hidden")
    hidden.trainable = False
    assert not any(w is hidden.kernel or w is hidden.bias for w in model.trainable_weights)
    assert model.count_params() == 4 * 8 + 8 + 4 * 8 + 8 + 1
    frozen = [w.numpy().copy() for w in hidden.weights]
    out_before = model.layers[2].kernel.numpy().copy()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for before, w in zip(frozen, hidden.weights):
        np.testing.assert_array_equal(before, w.numpy())
    assert not np.array_equal(out_before, model.layers[2].kernel.numpy())  # the rest still trains
    hidden.trainable = True
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert not np.array_equal(frozen[0], hidden.kernel.numpy())  # unfrozen: trains again


def test_freezing_a_nested_model_freezes_its_sub_layers():
    nerve.random.seed(0)
    inner = nerve.Sequential([layers.Dense(4, name="a"), layers.Dense(4, name="b")], name="inner")
    outer = nerve.Sequential([nerve.Input(shape=(3,)), inner, layers.Dense(1, name="head")])
    inner.trainable = False
    assert all(not layer.trainable for layer in inner.layers)
    assert len(outer.trainable_weights) == 2 and len(outer.non_trainable_weights) == 4
    assert outer.count_params() == (3 * 4 + 4) + (4 * 4 + 4) + (4 + 1)
    text = outer.summary(print_fn=None)
    assert "Trainable params: 5" in text and "Non-trainable params: 36" in text
    opt = nerve.optimizers.SGD(0.1, params=outer.parameters())
    before = [w.numpy().copy() for w in inner.weights]
    loss = (outer(np.ones((2, 3))) ** 2).mean()
    loss.backward()
    assert all(w.grad is None for w in inner.weights)  # frozen weights get no gradient at all
    opt.step()
    for b, w in zip(before, inner.weights):
        np.testing.assert_array_equal(b, w.numpy())


def test_frozen_batch_normalization_runs_in_inference_mode():
    bn = layers.BatchNormalization()
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(16, 3)).astype("float32")
    bn(x, training=True)
    mean, var = bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy()
    bn.trainable = False
    out = bn(x, training=True).numpy()
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)  # statistics not updated
    expected = (x - mean) / np.sqrt(var + bn.epsilon) * bn.gamma.numpy() + bn.beta.numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_non_trainable_weights_are_saved_and_restored(tmp_path):
    model = _model()
    x, y = _data()
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.layers[0].trainable = False
    model.save(tmp_path / "m.nerve")
    again = nerve.load_model(tmp_path / "m.nerve")
    bn, bn2 = model.layers[1], again.layers[1]
    np.testing.assert_array_equal(bn.moving_mean.numpy(), bn2.moving_mean.numpy())
    np.testing.assert_array_equal(bn.moving_variance.numpy(), bn2.moving_variance.numpy())
    assert again.layers[0].trainable is False  # the flag is in the config
    assert len(again.trainable_weights) == len(model.trainable_weights)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_optimizer_update_matches_hand_written_rule_for_the_trainable_part_only():
    model = _model()
    model.layers[0].trainable = False
    x, y = _data(16)
    model.compile(optimizer=nerve.optimizers.SGD(0.1), loss="mse")
    model(x)  # build
    before = {id(w): w.numpy().copy() for w in model.weights}
    with nerve.enable_grad():
        loss = ((model(x, training=True) - y) ** 2).mean()
    loss.backward()
    grads = {id(w): (None if w.grad is None else w.grad.numpy().copy()) for w in model.weights}
    for w in model.weights:
        w.grad = None
    model.train_on_batch(x, y)
    for w in model.trainable_weights:
        if w is model.layers[1].moving_mean or w is model.layers[1].moving_variance:
            continue
        np.testing.assert_allclose(w.numpy(), before[id(w)] - 0.1 * grads[id(w)], rtol=1e-5, atol=1e-6)
    for w in model.layers[0].weights:
        np.testing.assert_array_equal(w.numpy(), before[id(w)])
