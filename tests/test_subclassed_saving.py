"""Subclassed models save and load the Keras way, in the process that wrote them and in a fresh one.

``get_config`` may call ``super().get_config()``; the default ``from_config`` passes the config to
``__init__``; ``custom_objects=`` and ``@nerve.saving.register_serializable`` both work; weight paths follow
the attributes that hold the sub-layers, so automatic layer names (``dense_7``) do not matter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nerve
from nerve import layers

MODULE = textwrap.dedent('''
    import nerve
    from nerve import layers


    @nerve.saving.register_serializable(package="roundtrip")
    class ResidualMLP(nerve.Model):
        def __init__(self, hidden=8, outputs=1, **kwargs):
            super().__init__(**kwargs)
            self.hidden, self.outputs_count = hidden, outputs
            self.stem = layers.Dense(hidden, activation="relu")
            self.blocks = [layers.Dense(hidden, activation="tanh"), layers.BatchNormalization()]
            self.head = layers.Dense(outputs)

        def call(self, x, training=None):
            h = self.stem(x)
            r = self.blocks[1](self.blocks[0](h), training=training)
            return self.head(h + r)

        def get_config(self):
            return {**super().get_config(), "hidden": self.hidden, "outputs": self.outputs_count}


    class Plain(nerve.Model):  # neither registered nor with a get_config: its __init__ arguments are captured
        def __init__(self, units=4, activation="relu"):
            super().__init__()
            self.units = units
            self.inner = layers.Dense(units, activation=activation)
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(self.inner(x))
''')

FRESH = textwrap.dedent('''
    import json, sys
    import numpy as np, nerve
    import roundtrip_models
    x = np.load(sys.argv[2])
    custom = {"Plain": roundtrip_models.Plain} if sys.argv[3] == "custom" else None
    model = nerve.load_model(sys.argv[1], custom_objects=custom)
    print("RESULT " + json.dumps({"class": type(model).__name__, "prediction": model.predict(x).tolist(),
                                  "iterations": model.optimizer.iterations if model.optimizer else None}))
''')


@pytest.fixture()
def models_module(tmp_path, monkeypatch):
    (tmp_path / "roundtrip_models.py").write_text(MODULE)
    (tmp_path / "fresh.py").write_text(FRESH)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("roundtrip_models", None)
    import roundtrip_models

    yield roundtrip_models
    sys.modules.pop("roundtrip_models", None)


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 5)).astype("float32")
    return x, (x[:, :1] * 2 - x[:, 1:2]).astype("float32")


def _fresh(tmp_path, path, x, mode):
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run([sys.executable, str(tmp_path / "fresh.py"), str(path), str(tmp_path / "x.npy"), mode],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout + result.stderr
    return json.loads(lines[-1][len("RESULT "):])


def _trained(model, x, y):
    nerve.random.seed(0)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    return model


def test_registered_subclass_round_trip_same_and_fresh_process(models_module, tmp_path):
    x, y = _data()
    for _ in range(5):
        layers.Dense(2)  # automatic names in this process now differ from a fresh one's
    model = _trained(models_module.ResidualMLP(hidden=6, name="res"), x, y)
    path = tmp_path / "res.nerve"
    model.save(path)
    expected = model.predict(x)

    again = nerve.load_model(path)
    assert type(again) is models_module.ResidualMLP and again.hidden == 6 and again.name == "res"
    np.testing.assert_array_equal(again.predict(x), expected)
    assert again.optimizer.iterations == model.optimizer.iterations
    again.fit(x, y, epochs=1, verbose=0)  # training continues from the restored optimizer state

    fresh = _fresh(tmp_path, path, x, "registered")
    assert fresh["class"] == "ResidualMLP" and fresh["iterations"] == model.optimizer.iterations
    np.testing.assert_array_equal(np.asarray(fresh["prediction"], dtype=np.float32), expected)


def test_unregistered_subclass_loads_with_custom_objects(models_module, tmp_path):
    x, y = _data()
    model = _trained(models_module.Plain(units=7, activation="tanh"), x, y)
    path = tmp_path / "plain.nerve"
    model.save(path)
    with pytest.raises(nerve.saving.UnknownObjectError, match=r"'Plain'.*register_serializable.*custom_objects"):
        nerve.load_model(path)
    again = nerve.load_model(path, custom_objects={"Plain": models_module.Plain})
    assert again.units == 7 and again.inner.activation is nerve.activations.tanh
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    fresh = _fresh(tmp_path, path, x, "custom")
    np.testing.assert_array_equal(np.asarray(fresh["prediction"], dtype=np.float32), model.predict(x))


def test_custom_layer_inside_a_sequential_model_by_registration_or_custom_objects(tmp_path):
    class Scale(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.gain = self.add_weight("gain", (input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.gain * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    model = nerve.Sequential([nerve.Input(shape=(3,)), Scale(3.0, name="scale"), layers.Dense(1)])
    path = tmp_path / "scale.nerve"
    model.save(path)
    x = np.ones((2, 3), "float32")
    again = nerve.load_model(path, custom_objects={"Scale": Scale})
    assert again.layers[0].factor == 3.0
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    nerve.saving.register_serializable(package="tests_subclassed")(Scale)
    model.save(path)  # now saved under its registered name
    with zipfile_config(path) as config:
        assert config["model"]["config"]["layers"][0]["class_name"] == "tests_subclassed>Scale"
    np.testing.assert_array_equal(nerve.load_model(path).predict(x), model.predict(x))


class zipfile_config:  # noqa: N801 - a tiny context manager reading config.json
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        import zipfile

        with zipfile.ZipFile(self.path) as archive:
            return json.loads(archive.read("config.json"))

    def __exit__(self, *exc):
        return False
