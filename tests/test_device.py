"""Models and data on a device ("gpu"): placement, training, saving, and no silent trips to the host.

The ``device`` fixture (tests/conftest.py) registers the strict stand-in of tests/device_standin.py as
``"gpu"`` (CuPy on a real GPU with ``NERVE_TEST_DEVICE=gpu``). The stand-in refuses every implicit
conversion between host and device arrays, so a test that trains on it shows that the code path keeps
its arrays on the device; its results match the CPU's (bit for bit on the stand-in, within float32
rounding on a GPU).
"""

from __future__ import annotations

import numpy as np
import pytest

import nerve
from nerve import backend, layers, optimizers

TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # a GPU's float32 rounding; the stand-in matches exactly


def _data(seed=0, shape=(64, 4), classes=3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape).astype("float32"), rng.integers(0, classes, shape[0])


def _train(build, x, y, device_name, optimizer="adam", epochs=2, batch_size=16, **fit):
    """Build (seeded), compile, place on ``device_name`` and fit; returns the model."""
    nerve.random.seed(0)
    layers.reset_names()
    model = build()
    model.compile(optimizer=optimizer() if callable(optimizer) else optimizer,
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.to(device_name)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, **fit)
    return model


def _assert_same_weights(cpu_model, gpu_model, device):
    assert all(w.device == "gpu" and isinstance(w.data, device.ndarray) for w in gpu_model.weights)
    for a, b in zip(cpu_model.get_weights(), gpu_model.get_weights()):
        np.testing.assert_allclose(b, a, **TOLERANCE)


def _mlp():
    return nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(16, activation="relu"), layers.Dropout(0.2),
                             layers.Dense(3)])


def _cnn():
    return nerve.Sequential([nerve.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu", padding="same"),
                             layers.MaxPooling2D(2), layers.Conv2D(6, 3, strides=2), layers.Flatten(), layers.Dense(3)])


def _lstm():
    return nerve.Sequential([nerve.Input(shape=(6, 3)), layers.LSTM(8, return_sequences=True), layers.GRU(4),
                             layers.Dense(3)])


# ------------------------------------------------------------------- the stand-in itself
def test_device_arrays_refuse_implicit_host_conversion(device):
    dev = device.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    with pytest.raises(TypeError, match="Unsupported type"):
        dev + np.ones(3, dtype=np.float32)
    with pytest.raises(TypeError):
        np.asarray(dev)
    with pytest.raises(TypeError):
        float(dev)
    assert not hasattr(dev.flags, "writeable")
    host = dev.get()
    assert type(host) is np.ndarray and type(device.asnumpy(dev)) is np.ndarray
    assert host.tolist() == [[0, 1, 2], [3, 4, 5]] and float(dev.sum()) == 15.0


# ------------------------------------------------------------------------------ placement
def test_tensor_to_and_device(device):
    host = nerve.tensor([1.0, 2.0], requires_grad=True)
    moved = host.to("gpu")
    assert host.device == "cpu" and moved.device == "gpu" and isinstance(moved.data, device.ndarray)
    assert moved.to("gpu") is moved
    (moved * moved).sum().backward()  # the copy is an op: the gradient comes back to the host tensor
    assert host.grad.device == "cpu" and host.grad.tolist() == [2.0, 4.0]
    assert nerve.tensor([1.0], device="gpu").device == "gpu"
    assert moved.to("cpu").numpy().tolist() == [1.0, 2.0]
    assert backend.gpu_available()


def test_default_device_context_and_set_device(device):
    assert nerve.backend.get_device() == "cpu"
    with nerve.device("gpu"):
        assert nerve.tensor([1.0]).device == "gpu"
        model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])  # built inside: weights on the device
    assert nerve.tensor([1.0]).device == "cpu"
    assert model.device == "gpu" and all(w.device == "gpu" for w in model.weights)
    assert type(model.predict(np.ones((5, 3), dtype="float32"))) is np.ndarray
    nerve.set_device("gpu")
    try:
        assert nerve.tensor(np.zeros(2)).device == "gpu"
        unbuilt = nerve.Sequential([layers.Dense(2)])
        unbuilt(np.ones((1, 3), dtype="float32"))  # built on first call, on the default device
        assert unbuilt.device == "gpu" and unbuilt.weights[0].device == "gpu"
    finally:
        nerve.set_device("cpu")
    assert nerve.tensor([1.0]).device == "cpu"


def test_unknown_device_is_refused(device):
    with pytest.raises(ValueError, match="unknown device"):
        nerve.set_device("tpu")
    with pytest.raises(ValueError, match="unknown device"):
        nerve.tensor([1.0]).to("tpu")


def test_no_gpu_gives_a_clear_error(monkeypatch):
    if backend.gpu_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no GPU"):
        nerve.set_device("gpu")
    with pytest.raises(RuntimeError, match="no GPU"):
        nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]).to("gpu")


def test_mixing_host_data_into_a_device_op_raises(device):
    on_device = nerve.tensor([1.0, 2.0], device="gpu")
    with pytest.raises(TypeError, match="Unsupported type"):
        on_device + nerve.tensor([1.0, 2.0])
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]).to("gpu")
    with pytest.raises(TypeError, match="Unsupported type"):
        model(nerve.tensor(np.ones((1, 2), dtype="float32")))  # a host Tensor is not copied behind the user's back
    assert model(np.ones((1, 2), dtype="float32")).device == "gpu"  # host arrays are: the model's input


# ------------------------------------------------------------------------------ training
def test_dense_mlp_trains_on_device_like_on_cpu(device):
    x, y = _data()
    cpu = _train(_mlp, x, y, "cpu", validation_split=0.25)
    gpu = _train(_mlp, x, y, "gpu", validation_split=0.25)
    _assert_same_weights(cpu, gpu, device)
    np.testing.assert_allclose(gpu.history.history["val_loss"], cpu.history.history["val_loss"], **TOLERANCE)
    prediction = gpu.predict(x)
    assert type(prediction) is np.ndarray
    np.testing.assert_allclose(prediction, cpu.predict(x), **TOLERANCE)
    np.testing.assert_allclose(gpu.evaluate(x, y, verbose=0), cpu.evaluate(x, y, verbose=0), **TOLERANCE)
    slots = gpu.optimizer.state_dict()["slots"]
    assert all(isinstance(a, device.ndarray) for arrays in slots.values() for a in arrays)


def test_conv_and_pooling_model_trains_on_device_like_on_cpu(device):
    x, y = _data(1, shape=(32, 8, 8, 1))
    _assert_same_weights(_train(_cnn, x, y, "cpu"), _train(_cnn, x, y, "gpu"), device)


def test_recurrent_model_trains_on_device_like_on_cpu(device):
    x, y = _data(2, shape=(32, 6, 3))
    _assert_same_weights(_train(_lstm, x, y, "cpu"), _train(_lstm, x, y, "gpu"), device)


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    lambda: optimizers.Adam(0.01),
    lambda: optimizers.RMSprop(0.01),
    lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    lambda: optimizers.SGD(0.1, weight_decay=0.01, clipvalue=0.5),
], ids=["sgd-nesterov", "adam", "rmsprop", "adamw", "sgd-decay-clip"])
def test_optimizers_update_packed_on_device(device, optimizer):
    x, y = _data(3)
    cpu = _train(_mlp, x, y, "cpu", optimizer=optimizer)
    gpu = _train(_mlp, x, y, "gpu", optimizer=optimizer)
    _assert_same_weights(cpu, gpu, device)
    packing = gpu.optimizer._packing  # the packed update ran on the device
    assert packing is not None and isinstance(packing.grads, device.ndarray)


def test_batch_normalization_on_device(device):
    def build():
        return nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8), layers.BatchNormalization(),
                                 layers.Activation("relu"), layers.Dense(3)])

    x, y = _data(4)
    cpu, gpu = _train(build, x, y, "cpu"), _train(build, x, y, "gpu")
    _assert_same_weights(cpu, gpu, device)
    moving_mean = gpu.layers[1].moving_mean
    assert moving_mean.device == "gpu" and not np.allclose(moving_mean.numpy(), 0)
    np.testing.assert_allclose(gpu.predict(x), cpu.predict(x), **TOLERANCE)


def test_device_data_and_single_batches(device):
    x, y = _data(5)
    cpu = _train(_mlp, x, y, "cpu")
    gpu = _train(_mlp, device.asarray(x), device.asarray(y), "gpu")  # data already on the device
    _assert_same_weights(cpu, gpu, device)
    assert type(gpu.predict(device.asarray(x))) is np.ndarray
    nerve.random.seed(1)  # the same dropout masks for both
    loss_cpu = cpu.train_on_batch(x[:8], y[:8])
    nerve.random.seed(1)
    loss_gpu = gpu.train_on_batch(device.asarray(x[:8]), y[:8])
    np.testing.assert_allclose(loss_gpu, loss_cpu, **TOLERANCE)
    np.testing.assert_allclose(gpu.test_on_batch(x, y), cpu.test_on_batch(x, y), **TOLERANCE)
    assert type(gpu.predict_on_batch(x[:2])) is np.ndarray


def test_model_moves_back_and_forth_with_its_optimizer_state(device):
    x, y = _data(6)
    cpu = _train(_mlp, x, y, "cpu")
    moved = _train(_mlp, x, y, "gpu").to("cpu")
    assert moved.device == "cpu" and all(type(w.data) is np.ndarray for w in moved.weights)
    for model in (cpu, moved):  # Adam's moments came along: the same next steps
        nerve.random.seed(1)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(cpu.get_weights(), moved.get_weights()):
        np.testing.assert_allclose(b, a, **TOLERANCE)


def test_unbuilt_model_placed_before_its_first_batch(device):
    def build():
        return nerve.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(3)])

    x, y = _data(7)
    cpu, gpu = _train(build, x, y, "cpu"), _train(build, x, y, "gpu")
    _assert_same_weights(cpu, gpu, device)


# ------------------------------------------------------------------------------- saving
def test_saved_on_device_loads_on_cpu_and_on_device(device, tmp_path):
    x, y = _data(8)
    gpu = _train(_mlp, x, y, "gpu")
    path = tmp_path / "model.nerve"
    gpu.save(path)
    expected = gpu.predict(x)
    on_cpu = nerve.load_model(path)
    assert on_cpu.device == "cpu" and all(type(w.data) is np.ndarray for w in on_cpu.weights)
    np.testing.assert_allclose(on_cpu.predict(x), expected, **TOLERANCE)
    with nerve.device("gpu"):
        on_gpu = nerve.load_model(path)  # built on the default device
    assert on_gpu.device == "gpu"
    np.testing.assert_allclose(on_gpu.predict(x), expected, **TOLERANCE)
    # the optimizer state came along: one more epoch gives the same weights everywhere
    for model in (gpu, on_cpu, on_gpu):
        nerve.random.seed(1)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b, c in zip(gpu.get_weights(), on_cpu.get_weights(), on_gpu.get_weights()):
        np.testing.assert_allclose(b, a, **TOLERANCE)
        np.testing.assert_allclose(c, a, **TOLERANCE)
    on_cpu.to("gpu").set_weights(gpu.get_weights())  # host arrays are copied to the weights' device
    assert all(w.device == "gpu" for w in on_cpu.weights)


def test_fit_copies_the_next_batch_while_the_current_one_computes(device, monkeypatch):
    """Batches of in-memory data are copied to the device by a worker thread, one batch ahead, so the copy of
    batch k+1 runs while batch k computes; the results are those of copying each batch when it is needed
    (the order of batches and random draws is unchanged)."""
    import threading
    import time

    from nerve.training import trainer as trainer_module

    x, y = _data(3, shape=(64, 4))
    reference = _train(_mlp, x, y, "gpu", batch_size=16)
    copies, steps = [], []
    real_to_device, real_step = trainer_module.to_device, nerve.Sequential.train_step

    def slow_copy(array, where):
        if array.ndim == 2:  # the x part of a batch
            copies.append((time.perf_counter(), threading.current_thread().name))
        return real_to_device(array, where)

    def slow_step(self, *args, **kwargs):
        start = time.perf_counter()
        time.sleep(0.05)
        result = real_step(self, *args, **kwargs)
        steps.append((start, time.perf_counter(), threading.current_thread().name))
        return result

    monkeypatch.setattr(trainer_module, "to_device", slow_copy)
    monkeypatch.setattr(nerve.Sequential, "train_step", slow_step)
    prefetched = _train(_mlp, x, y, "gpu", batch_size=16)
    assert len(copies) == len(steps) == 8  # 4 batches, 2 epochs
    assert all(name.startswith("nerve-prefetch") for _, name in copies)
    assert all(name == threading.main_thread().name for _, _, name in steps)
    for epoch in range(2):
        for k in range(3):  # batch k+1's copy started before batch k's step ended
            assert copies[4 * epoch + k + 1][0] < steps[4 * epoch + k][1]
    for a, b in zip(prefetched.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
