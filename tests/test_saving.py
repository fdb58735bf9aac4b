"""Saving and loading: round trips, no pickle, registration, corrupt files, atomic writes and exact resume."""

import json
import os
import pathlib
import zipfile

import numpy
import pytest

import nerve
from nerve import callbacks, layers, saving


@pytest.fixture(autouse=True)
def _seed():
    nerve.random.seed(0)


def _classification_data(n=120, features=5, classes=3, seed=1):
    g = numpy.random.default_rng(seed)
    x = g.normal(size=(n, features)).astype("float32")
    y = (x[:, :classes] + 0.3 * g.normal(size=(n, classes))).argmax(1)
    return x, y


def _sequential():
    model = nerve.Sequential([
        nerve.Input(shape=(5,)),
        layers.Dense(16, activation="relu", kernel_regularizer="l2"),
        layers.BatchNormalization(),
        layers.Dropout(0.3),
        layers.Dense(3),
    ], name="seq")
    model.compile(optimizer=nerve.optimizers.Adam(3e-3, clipnorm=1.0),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def _assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert u.dtype == v.dtype
        numpy.testing.assert_array_equal(u, v)


# ---------------------------------------------------------------- round trips
def test_sequential_round_trip(tmp_path):
    x, y = _classification_data()
    model = _sequential()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    path = tmp_path / "seq.nerve"
    model.save(path)
    loaded = nerve.load_model(path)
    assert type(loaded) is nerve.Sequential and loaded.name == "seq"
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    _assert_same_weights(model, loaded)
    numpy.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    # same compile settings
    assert type(loaded.optimizer) is nerve.optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8
    assert loaded._metric_spec == ["accuracy"]
    assert type(loaded._loss_spec) is nerve.losses.SparseCategoricalCrossentropy
    assert loaded._loss_spec.get_config() == model._loss_spec.get_config()
    assert loaded._loss_spec.from_logits
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    assert loaded.summary(print_fn=None) == model.summary(print_fn=None)
    # and the optimizer state: one more identical step on both gives identical weights
    nerve.random.seed(5)
    model.train_on_batch(x[:32], y[:32])
    nerve.random.seed(5)
    loaded.train_on_batch(x[:32], y[:32])
    _assert_same_weights(model, loaded)


def test_functional_multi_input_shared_layer_round_trip(tmp_path):
    g = numpy.random.default_rng(0)
    a, b = g.normal(size=(40, 4)).astype("float32"), g.normal(size=(40, 4)).astype("float32")
    y1 = (a - b).sum(1, keepdims=True).astype("float32")
    y2 = (a.sum(1) > 0).astype("int64")
    in_a, in_b = nerve.Input(shape=(4,), name="a"), nerve.Input(shape=(4,), name="b")
    shared = layers.Dense(8, activation="tanh", name="shared")
    ha, hb = shared(in_a), shared(in_b)
    diff = layers.Subtract(name="diff")([ha, hb])
    skip = layers.Concatenate(name="cat")([diff, layers.Multiply(name="mul")([ha, hb])])
    out1 = layers.Dense(1, name="reg")(skip)
    out2 = layers.Dense(2, name="cls")(layers.Add(name="add")([ha, hb]))
    model = nerve.Model([in_a, in_b], [out1, out2], name="siamese")
    model.compile(optimizer=nerve.optimizers.RMSprop(0.01),
                  loss=["mse", nerve.losses.SparseCategoricalCrossentropy(from_logits=True)],
                  loss_weights=[1.0, 0.5], metrics=[[], ["accuracy"]])
    model.fit([a, b], [y1, y2], epochs=2, batch_size=16, verbose=0)
    path = tmp_path / "siamese.nerve"
    model.save(path)
    loaded = nerve.load_model(path)
    assert loaded.count_params() == model.count_params() == (4 * 8 + 8) + (16 + 1) + (8 * 2 + 2)
    shared_again = loaded.get_layer("shared")
    assert sum(1 for l in loaded.layers if l is shared_again) == 1
    for u, v in zip(model.predict([a, b]), loaded.predict([a, b])):
        numpy.testing.assert_array_equal(u, v)
    assert loaded.evaluate([a, b], [y1, y2], verbose=0, return_dict=True) == \
        model.evaluate([a, b], [y1, y2], verbose=0, return_dict=True)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded._loss_weights == [1.0, 0.5]


def test_round_trip_in_a_fresh_process_name_counter(tmp_path):
    """Loading works even when layers with the same automatic names already exist."""
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
    path = tmp_path / "m.nerve"
    model.save(path)
    nerve.layers.reset_names()
    other = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
    loaded = nerve.load_model(path)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert other is not None
    x = numpy.ones((2, 3), "float32")
    numpy.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_uncompiled_model_round_trip(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    model.save(tmp_path / "m.nerve")
    loaded = nerve.load_model(tmp_path / "m.nerve")
    assert loaded.optimizer is None
    _assert_same_weights(model, loaded)


def test_save_weights_load_weights(tmp_path):
    x, y = _classification_data()
    model = _sequential()
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.safetensors")
    twin = _sequential()
    assert not numpy.array_equal(twin.get_weights()[0], model.get_weights()[0])
    twin.load_weights(tmp_path / "w.safetensors")  # other automatic names, same architecture
    _assert_same_weights(model, twin)
    numpy.testing.assert_array_equal(twin.predict(x), model.predict(x))
    # from a full model file too
    model.save(tmp_path / "full.nerve")
    third = _sequential()
    third.load_weights(tmp_path / "full.nerve")
    _assert_same_weights(model, third)


def test_load_weights_into_a_different_architecture_fails(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4)])
    model.save_weights(tmp_path / "w.safetensors")
    other = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(5)])
    with pytest.raises(ValueError, match=r"shape \(3, 4\).*\(3, 5\)"):
        other.load_weights(tmp_path / "w.safetensors")
    bigger = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
    with pytest.raises(ValueError, match="do not match"):
        bigger.load_weights(tmp_path / "w.safetensors")


def test_subclassed_model_save_weights(tmp_path):
    class Net(nerve.Model):
        def __init__(self):
            super().__init__()
            self.a = layers.Dense(4)
            self.b = layers.Dense(1)

        def call(self, x):
            return self.b(self.a(x))

    x = numpy.ones((2, 3), "float32")
    net = Net()
    net(x)
    net.save_weights(tmp_path / "net.safetensors")
    again = Net()
    again(x)
    again.load_weights(tmp_path / "net.safetensors")
    numpy.testing.assert_array_equal(again.predict(x), net.predict(x))


# ----------------------------------------------------------------- no pickle
def test_file_holds_only_json_and_safetensors(tmp_path):
    x, y = _classification_data()
    model = _sequential()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.nerve")
    with zipfile.ZipFile(tmp_path / "m.nerve") as archive:
        names = sorted(archive.namelist())
        assert names == ["config.json", "manifest.json", "model.safetensors", "optimizer.safetensors"]
        config = json.loads(archive.read("config.json"))
        assert sorted(json.loads(archive.read("manifest.json"))["entries"]) == [n for n in names if n != "manifest.json"]
        assert config["format"] == "nerve-model"
        assert config["model"]["class_name"] == "Sequential"
        from safetensors.numpy import load  # the weights are plain safetensors

        for name in ("model.safetensors", "optimizer.safetensors"):
            assert all(isinstance(a, numpy.ndarray) for a in load(archive.read(name)).values())
    source = pathlib.Path(saving.__file__).read_text()
    assert "import pickle" not in source and "allow_pickle=True" not in source


def _rewrite_config(path, change):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    if "manifest.json" in members:  # edited consistently (or crafted): the SHA-256 manifest follows the edit
        members["manifest.json"] = saving._manifest_bytes({k: v for k, v in members.items() if k != "manifest.json"})
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_unregistered_class_in_file_fails_clearly(tmp_path):
    path = tmp_path / "m.nerve"
    nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)]).save(path)

    def evil(config):
        config["model"]["config"]["layers"][0]["class_name"] = "os.system"

    _rewrite_config(path, evil)
    with pytest.raises(ValueError, match=r"'os\.system'.*not registered.*register_serializable"):
        nerve.load_model(path)


def test_custom_registered_layer_round_trip(tmp_path):
    @layers.register
    class ScaledTanh(layers.Layer):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def build(self, input_shape):
            self.gain = self.add_weight("gain", (input_shape[-1],), initializer="ones")

        def call(self, x):
            return nerve.ops.tanh(x * self.scale) * self.gain

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4), ScaledTanh(2.5, name="st")])
    model.get_layer("st").gain.data[...] = [1.0, 2.0, 3.0, 4.0]
    model.save(tmp_path / "custom.nerve")
    loaded = nerve.load_model(tmp_path / "custom.nerve")
    layer = loaded.get_layer("st")
    assert type(layer) is ScaledTanh and layer.scale == 2.5
    x = numpy.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    numpy.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_lambda_layer_cannot_be_saved(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Lambda(lambda t: t * 2)])
    with pytest.raises(ValueError, match="Lambda.*never"):
        model.save(tmp_path / "m.nerve")
    assert not (tmp_path / "m.nerve").exists()


# ------------------------------------------------------------ corrupt files
@pytest.fixture
def saved(tmp_path):
    model = _sequential()
    x, y = _classification_data()
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.nerve"
    model.save(path)
    return path


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(saving.CorruptFileError, match="truncated or corrupted"):
        nerve.load_model(saved)


@pytest.mark.parametrize("where", [0.3, 0.6, 0.95])
def test_corrupted_bytes(saved, where):
    data = bytearray(saved.read_bytes())
    i = int(len(data) * where)
    data[i:i + 16] = bytes(b ^ 0xFF for b in data[i:i + 16])
    saved.write_bytes(bytes(data))
    with pytest.raises(saving.CorruptFileError, match="truncated or corrupted"):
        nerve.load_model(saved)


def test_corrupt_weights_file_and_missing_file(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        model.load_weights(path)
    with pytest.raises(FileNotFoundError, match="no model file"):
        nerve.load_model(tmp_path / "missing.nerve")


def test_not_a_nerve_file(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"format": "something-else"}))
    with pytest.raises(saving.CorruptFileError, match="not a nerve model file"):
        nerve.load_model(path)


def test_newer_file_version(saved):
    _rewrite_config(saved, lambda c: c.update(version=99))
    with pytest.raises(ValueError, match="newer nerve"):
        nerve.load_model(saved)


# ------------------------------------------------------------- atomic writes
def test_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model = _sequential()
    path = tmp_path / "m.nerve"
    model.save(path)
    good = path.read_bytes()
    x, y = _classification_data()
    model.fit(x, y, epochs=1, verbose=0)

    def crash(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.nerve"]  # no temporary files left
    nerve.load_model(path)


def test_crash_while_writing_bytes(tmp_path, monkeypatch):
    model = _sequential()
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    good = path.read_bytes()
    real_fsync = os.fsync

    def crash(fd):
        real_fsync(fd)
        raise KeyboardInterrupt  # even an interrupt leaves no temp file and the old file intact

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save_weights(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_save_creates_folders(tmp_path):
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
    model.save(tmp_path / "a" / "b" / "m.nerve")
    assert nerve.load_model(tmp_path / "a" / "b" / "m.nerve").count_params() == 3


# ----------------------------------------------------------------- checkpoints
def _dropout_model():
    model = nerve.Sequential([
        nerve.Input(shape=(5,)),
        layers.Dense(32, activation="relu"),
        layers.Dropout(0.4),
        layers.BatchNormalization(),
        layers.Dense(3),
    ])
    model.compile(optimizer=nerve.optimizers.Adam(5e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


@pytest.mark.parametrize("use_loader", [False, True])
def test_exact_resume_is_bit_identical(tmp_path, use_loader):
    x, y = _classification_data(n=150)
    seed = 42

    def data():
        if use_loader:
            return {"x": nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=16, shuffle=True)}
        return {"x": x, "y": y, "batch_size": 16, "shuffle": True}

    nerve.random.seed(seed)
    straight = _dropout_model()
    straight.fit(**data(), epochs=4, validation_split=0.0, verbose=0)

    nerve.random.seed(seed)
    first = _dropout_model()
    path = tmp_path / "ckpt.nerve"
    first.fit(**data(), epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(path)])
    del first
    nerve.random.seed(999)  # whatever happens in between, the checkpoint restores the random state
    nerve.random.generator().normal(size=100)
    resumed = nerve.load_model(path)
    assert resumed.initial_epoch == 2
    assert resumed.optimizer.iterations == 2 * 10
    history = resumed.fit(**data(), epochs=4, initial_epoch=resumed.initial_epoch, verbose=0)
    assert history.epoch == [2, 3]
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 40
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        assert numpy.array_equal(a, b)


def test_resume_without_restoring_random_state_differs(tmp_path):
    """Shows the test above can fail: the random state is what makes the resume exact."""
    x, y = _classification_data(n=150)
    nerve.random.seed(42)
    straight = _dropout_model()
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0)
    nerve.random.seed(42)
    _dropout_model().fit(x, y, epochs=2, batch_size=16, verbose=0,
                         callbacks=[callbacks.ModelCheckpoint(tmp_path / "c.nerve")])
    nerve.random.seed(1)
    resumed = nerve.load_model(tmp_path / "c.nerve", restore_random_state=False)
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    assert not numpy.array_equal(straight.get_weights()[0], resumed.get_weights()[0])


def test_checkpoint_contents(tmp_path):
    x, y = _classification_data()
    model = _dropout_model()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[callbacks.ModelCheckpoint(tmp_path / "c-{epoch}.nerve")])
    with zipfile.ZipFile(tmp_path / "c-2.nerve") as archive:
        config = json.loads(archive.read("config.json"))
    assert config["training_state"]["epoch"] == 2
    assert config["training_state"]["random_state"]["bit_generator"] == "PCG64"
    assert config["optimizer_state"]["iterations"] == 2 * 4
    # a plain save is not a checkpoint
    model.save(tmp_path / "plain.nerve")
    assert nerve.load_model(tmp_path / "plain.nerve").initial_epoch == 0


def test_sequential_without_input_round_trip(tmp_path):
    x, y = _classification_data()
    model = nerve.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3)])
    model.compile(optimizer="adam", loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.nerve")
    loaded = nerve.load_model(tmp_path / "m.nerve")
    numpy.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    loaded.fit(x, y, epochs=1, verbose=0)


def test_float64_model_round_trip(tmp_path):
    model = nerve.Sequential([layers.Dense(4), layers.Dense(1)])
    x = numpy.random.default_rng(0).normal(size=(3, 2))
    model(nerve.tensor(x))  # a float64 Tensor as first input: float64 weights
    assert model.get_weights()[0].dtype == numpy.float64
    model.save(tmp_path / "m.nerve")
    loaded = nerve.load_model(tmp_path / "m.nerve")
    assert loaded.get_weights()[0].dtype == numpy.float64
    numpy.testing.assert_array_equal(loaded.predict(nerve.tensor(x)), model.predict(nerve.tensor(x)))
