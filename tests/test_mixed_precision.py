"""Dtype policies and float16 training: mixed_float16 layers, loss scaling, float16 optimizer updates.

What a user relies on: a ``"mixed_float16"`` layer computes in float16 and keeps float32 weights that
get float32 gradients; the loss is computed in float32; ``compile`` adds dynamic loss scaling, which
skips a step on overflow and never lets inf/NaN reach the weights; every optimizer updates float16
parameters without NaN and without losing small steps to float16 rounding; models with a policy save,
load and train on a device; and a mixed model reaches the float32 model's accuracy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nerve
from nerve import layers, mixed_precision, optimizers


@pytest.fixture(autouse=True)
def _default_policy():
    """Every test starts and ends with the default float32 policy."""
    mixed_precision.set_global_policy(None)
    yield
    mixed_precision.set_global_policy(None)


def _data(n=96, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x[:, :classes].argmax(axis=1)).astype("int64")
    return x, y


# ------------------------------------------------------------------------- the policy
def test_policy_names_and_errors():
    policy = mixed_precision.DTypePolicy("mixed_float16")
    assert (policy.compute_dtype, policy.variable_dtype, policy.is_mixed) == ("float16", "float32", True)
    assert mixed_precision.DTypePolicy("float64").compute_dtype == "float64"
    assert mixed_precision.DTypePolicy(np.float16).name == "float16"
    assert mixed_precision.Policy is mixed_precision.DTypePolicy
    assert mixed_precision.DTypePolicy.from_config(policy.get_config()) == policy
    with pytest.raises(ValueError, match="unknown policy 'mixed_bfloat8'.*mixed_float16"):
        mixed_precision.DTypePolicy("mixed_bfloat8")
    with pytest.raises(ValueError, match="unknown policy"):
        layers.Dense(2, dtype="mixed_int8")


def test_global_policy_applies_to_new_layers_only():
    before = layers.Dense(2)
    mixed_precision.set_global_policy("mixed_float16")
    after = layers.Dense(2)
    assert before.compute_dtype == "float32" and after.compute_dtype == "float16"
    assert after.variable_dtype == "float32" and after.dtype_policy.name == "mixed_float16"
    mixed_precision.set_dtype_policy("float64")
    assert mixed_precision.dtype_policy().name == "float64" and layers.Dense(1).dtype == np.float64


def test_mixed_dense_computes_in_float16_with_float32_weights_and_gradients():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype("float32")
    mixed = layers.Dense(3, activation="tanh", dtype="mixed_float16")
    plain = layers.Dense(3, activation="tanh")
    out = mixed(x)
    assert out.dtype == np.float16
    assert mixed.kernel.dtype == np.float32 and mixed.bias.dtype == np.float32
    assert mixed.kernel is mixed.trainable_weights[0]  # the float16 casts exist only during the call
    plain.build((None, 4)); plain.built = True
    plain.set_weights(mixed.get_weights())
    reference = plain(x)
    np.testing.assert_allclose(out.numpy().astype("float32"), reference.numpy(), atol=2e-3)
    out.astype("float32").sum().backward()
    reference.sum().backward()
    assert mixed.kernel.grad.dtype == np.float32
    np.testing.assert_allclose(mixed.kernel.grad.numpy(), plain.kernel.grad.numpy(), rtol=1e-2, atol=5e-3)
    np.testing.assert_allclose(mixed.bias.grad.numpy(), plain.bias.grad.numpy(), rtol=1e-2, atol=5e-3)


def test_float32_tensor_input_is_cast_into_a_mixed_layer_and_gradients_flow_back():
    x = nerve.tensor(np.ones((2, 3), "float32"), requires_grad=True)
    layer = layers.Dense(2, dtype="mixed_float16", kernel_initializer="ones")
    y = layer(x)
    assert y.dtype == np.float16
    y.astype("float32").sum().backward()
    assert x.grad.dtype == np.float32 and np.allclose(x.grad.numpy(), 2.0)


def test_batch_normalization_keeps_float32_statistics_in_a_mixed_model():
    mixed_precision.set_global_policy("mixed_float16")
    bn = layers.BatchNormalization()
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 4)).astype("float32")
    out = bn(x, training=True)
    assert out.dtype == np.float16
    assert bn.moving_mean.dtype == np.float32
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)  # updated in place, not on a float16 copy
    np.testing.assert_allclose(out.numpy().astype("float32").mean(axis=0), 0.0, atol=2e-3)


def test_recurrent_and_convolution_layers_compute_in_float16():
    mixed_precision.set_global_policy("mixed_float16")
    rng = np.random.default_rng(0)
    conv = layers.Conv2D(4, 3, padding="same", activation="relu")
    lstm = layers.LSTM(5)
    image = conv(rng.normal(size=(2, 6, 6, 3)).astype("float32"))
    sequence = lstm(rng.normal(size=(2, 7, 3)).astype("float32"))
    assert image.dtype == np.float16 and sequence.dtype == np.float16
    assert conv.kernel.dtype == np.float32 and all(w.dtype == np.float32 for w in lstm.weights)
    image.astype("float32").sum().backward()
    assert conv.kernel.grad.dtype == np.float32 and np.isfinite(conv.kernel.grad.numpy()).all()


# -------------------------------------------------------------------- loss scaling
def test_loss_scale_optimizer_skips_overflow_halves_and_grows():
    w = nerve.tensor([1.0, 2.0], requires_grad=True)
    opt = optimizers.LossScaleOptimizer(optimizers.Adam(0.1), initial_scale=64.0, dynamic_growth_steps=2)
    opt.build([w])
    opt.scale_loss((w * w).sum()).backward()
    assert np.allclose(w.grad.numpy(), 64.0 * 2.0 * np.array([1.0, 2.0]))
    assert opt.step() is True
    after_one = w.numpy().copy()
    state = opt.state_dict()
    w.grad = nerve.tensor([np.inf, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow is expected: no warning
        assert opt.step() is False
    assert np.array_equal(w.numpy(), after_one) and opt.iterations == 1 and opt.overflow_steps == 1
    assert opt.dynamic_scale == 32.0
    np.testing.assert_array_equal(opt.state_dict()["slots"]["m"][0], state["slots"]["m"][0])
    for _ in range(2):
        w.grad = nerve.tensor([32.0, 32.0])
        assert opt.step()
    assert opt.dynamic_scale == 64.0  # doubled after 2 good steps in a row


def test_loss_scale_optimizer_unscales_exactly_like_the_plain_optimizer():
    a = nerve.tensor([1.0, -3.0], requires_grad=True)
    b = nerve.tensor([1.0, -3.0], requires_grad=True)
    plain = optimizers.Adam(0.05, params=[a])
    scaled = optimizers.LossScaleOptimizer(optimizers.Adam(0.05), initial_scale=1024.0)
    scaled.build([b])
    for _ in range(5):
        plain.zero_grad(); scaled.zero_grad()
        (a * a * a).sum().backward()
        scaled.scale_loss((b * b * b).sum()).backward()
        plain.step(); scaled.step()
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6)


def test_loss_scale_optimizer_config_state_and_delegation():
    opt = optimizers.LossScaleOptimizer("sgd", initial_scale=8.0, dynamic_growth_steps=3)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert type(again) is optimizers.LossScaleOptimizer and type(again.inner_optimizer) is optimizers.SGD
    assert (again.initial_scale, again.dynamic_growth_steps) == (8.0, 3)
    opt.learning_rate = 0.5
    assert opt.inner_optimizer.learning_rate == 0.5 and opt.current_learning_rate == 0.5
    with pytest.raises(ValueError, match="initial_scale must be a finite number > 0"):
        optimizers.LossScaleOptimizer("sgd", initial_scale=0)
    with pytest.raises(ValueError, match="dynamic_growth_steps must be a positive integer"):
        optimizers.LossScaleOptimizer("sgd", dynamic_growth_steps=1.5)
    with pytest.raises(TypeError, match="already a LossScaleOptimizer"):
        optimizers.LossScaleOptimizer(opt)


def test_compile_wraps_the_optimizer_only_for_float16_models():
    plain = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    plain.compile(optimizer="adam", loss="mse")
    assert type(plain.optimizer) is optimizers.Adam
    mixed_precision.set_global_policy("mixed_float16")
    mixed = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    mixed.compile(optimizer="adam", loss="mse")
    assert type(mixed.optimizer) is optimizers.LossScaleOptimizer
    mixed.compile(optimizer="adam", loss="mse", auto_scale_loss=False)
    assert type(mixed.optimizer) is optimizers.Adam


def test_fit_skips_overflowing_steps_and_keeps_weights_finite():
    mixed_precision.set_global_policy("mixed_float16")
    x, y = _data()
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(16, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    # a scale of 2**24 makes every float16 gradient overflow (> 65504) until it has come down
    model.compile(optimizer=optimizers.LossScaleOptimizer("adam", initial_scale=2.0**24),
                  loss="sparse_categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # overflows in float16 are handled, not warned about
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    skipped = model.optimizer.overflow_steps
    assert skipped >= 3 and model.optimizer.iterations == 3 * 6 - skipped
    assert model.optimizer.dynamic_scale <= 2.0**24 / 2**skipped * 2  # halved at each overflow
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(history.history["loss"]).all() and history.history["loss"][-1] < history.history["loss"][0]


# ----------------------------------------------------------- float16 optimizer updates
@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta"])
def test_every_optimizer_updates_float16_parameters_through_float32(name):
    """A float16 model: the update is computed in float32 (no NaN from epsilon underflow, as Adam gave) and
    agrees with the same optimizer on float32 parameters; small steps accumulate instead of rounding away."""
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype("float32")
    grads = [rng.normal(scale=0.5, size=(4, 3)).astype("float32") for _ in range(20)]
    kwargs = {"learning_rate": 1e-3} if name != "adadelta" else {"learning_rate": 1.0}
    w16 = nerve.tensor(start.astype("float16"), requires_grad=True)
    w32 = nerve.tensor(start.astype("float16").astype("float32"), requires_grad=True)
    opt16 = optimizers.get({"class_name": name, "config": kwargs})
    opt32 = optimizers.get({"class_name": name, "config": kwargs})
    opt16.build([w16]); opt32.build([w32])
    for g in grads:
        w16.grad = nerve.tensor(g.astype("float16"))
        w32.grad = nerve.tensor(g.astype("float16").astype("float32"))
        assert opt16.step() and opt32.step()
    assert w16.dtype == np.float16 and np.isfinite(w16.numpy()).all()
    assert all(a.dtype == np.float32 for arrays in opt16.state_dict()["slots"].values() for a in arrays)
    np.testing.assert_allclose(w16.numpy().astype("float32"), w32.numpy().astype("float16").astype("float32"),
                               atol=1e-3)
    moved = np.abs(w32.numpy() - start.astype("float16").astype("float32")).max()
    assert moved > 2e-3  # the float32 run moved by several float16 ulps; the float16 one followed it


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad"])
def test_tiny_float16_gradients_give_no_nan(name):
    """g**2 and epsilon underflow to 0 in float16 (1e-4**2 = 1e-8 < 6e-8): a float16 update would divide by 0."""
    w16 = nerve.tensor(np.ones(4, "float16"), requires_grad=True)
    w32 = nerve.tensor(np.ones(4, "float32"), requires_grad=True)
    opt16, opt32 = optimizers.get(name), optimizers.get(name)
    opt16.build([w16]); opt32.build([w32])
    for _ in range(3):
        w16.grad = nerve.tensor(np.full(4, 1e-4, "float16"))
        w32.grad = nerve.tensor(np.full(4, np.float16(1e-4), "float32"))
        opt16.step(); opt32.step()
    assert np.isfinite(w16.numpy()).all()
    np.testing.assert_allclose(w16.numpy().astype("float32"), w32.numpy(), atol=1e-3)


def test_float16_master_copy_follows_outside_changes():
    w = nerve.tensor(np.ones(3, "float16"), requires_grad=True)
    opt = optimizers.SGD(1e-4, params=[w])
    for _ in range(10):  # each step (1e-4) is below half a float16 ulp at 1.0 (4.9e-4)
        w.grad = nerve.tensor(np.ones(3, "float16"))
        opt.step()
    assert np.allclose(w.numpy(), np.float16(1.0 - 1e-3), atol=2e-4)  # the steps added up in the master copy
    w.data[...] = 5.0  # set_weights / loading: the master copy is made again from the parameter
    w.grad = nerve.tensor(np.ones(3, "float16"))
    opt.step()
    assert np.allclose(w.numpy(), 5.0, atol=5e-3)


def test_float16_optimizer_state_round_trips():
    w = nerve.tensor(np.ones(3, "float16"), requires_grad=True)
    opt = optimizers.Adam(0.01, params=[w])
    w.grad = nerve.tensor(np.full(3, 0.5, "float16"))
    opt.step()
    again = optimizers.Adam(0.01, params=[w])
    again.load_state_dict(opt.state_dict())
    assert again.state_dict()["slots"]["v"][0].dtype == np.float32
    np.testing.assert_array_equal(again.state_dict()["slots"]["m"][0], opt.state_dict()["slots"]["m"][0])


# ------------------------------------------------------------- saving, devices, accuracy
def test_mixed_model_saves_and_loads_with_its_policy_and_loss_scale(tmp_path):
    mixed_precision.set_global_policy("mixed_float16")
    x, y = _data()
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(8, activation="relu"),
                              layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "mixed.nerve")
    mixed_precision.set_global_policy(None)  # loading does not depend on the global policy
    loaded = nerve.load_model(tmp_path / "mixed.nerve")
    assert [layer.dtype_policy.name for layer in loaded.layers] == ["mixed_float16"] * 3
    assert type(loaded.optimizer) is optimizers.LossScaleOptimizer
    assert loaded.optimizer.dynamic_scale == model.optimizer.dynamic_scale
    assert loaded.optimizer.iterations == model.optimizer.iterations
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)  # resumed exactly: same scale, same moments


def test_mixed_model_trains_on_a_device_like_on_the_cpu(device):
    x, y = _data()
    results = []
    for where in ("cpu", "gpu"):
        mixed_precision.set_global_policy("mixed_float16")
        nerve.random.seed(0)
        layers.reset_names()
        model = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.to(where)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        results.append(model.get_weights())
        if where == "gpu":
            assert all(w.device == "gpu" for w in model.weights)
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-2, atol=1e-3)  # float16 rounding of a GPU's kernels


def test_mixed_precision_reaches_float32_accuracy_on_the_digits():
    (x, y), (xt, yt) = nerve.datasets.load_digits_5k(flatten=True)
    accuracy = {}
    for policy in ("float32", "mixed_float16"):
        mixed_precision.set_global_policy(policy)
        nerve.random.seed(0)
        model = nerve.Sequential([nerve.Input(shape=x.shape[1:]), layers.Dense(64, activation="relu"),
                                  layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=4, batch_size=64, verbose=0)
        accuracy[policy] = model.evaluate(xt, yt, verbose=0)[1]
    assert accuracy["float32"] > 0.9
    assert abs(accuracy["mixed_float16"] - accuracy["float32"]) <= 0.01, accuracy


def test_a_mixed_transformer_trains_with_float32_normalisation_statistics():
    mixed_precision.set_global_policy("mixed_float16")
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(32, 12))
    y = (x[:, :3].sum(axis=1) > 30).astype("int64")
    nerve.random.seed(0)
    inputs = nerve.Input(shape=(12,), dtype="int64")
    h = layers.TokenAndPositionEmbedding(20, 12, 16)(inputs)
    h = layers.TransformerEncoder(intermediate_dim=32, num_heads=2)(h)
    norm = layers.LayerNormalization()
    h = norm(layers.GlobalAveragePooling1D()(h))
    model = nerve.Model(inputs, layers.Dense(2, activation="softmax")(h))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert norm.compute_in_variable_dtype and norm.gamma.dtype == np.float32
    assert model.predict(x[:2], verbose=0).dtype == np.float16
    assert np.isfinite(history.history["loss"]).all() and all(np.isfinite(w).all() for w in model.get_weights())
