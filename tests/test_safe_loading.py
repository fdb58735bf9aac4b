"""Loading a model file never runs code from it: hostile files raise nerve's own error and import nothing.

Each hostile file is loaded in a fresh Python process with an audit hook (``sys.addaudithook``) installed
after nerve has been imported and a benign file loaded once. The hook records every import of a module
outside nerve and its dependencies, every ``exec``/``compile`` and every process start; the test asserts
that loading raised a nerve error and that the hook recorded nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import model_files as files
import numpy as np
import pytest

import nerve
from nerve import layers

EVIL_MODULE = textwrap.dedent("""
    import pathlib
    pathlib.Path(__file__).with_name("PWNED").write_text("the file ran code")
    def run(*args, **kwargs):
        pathlib.Path(__file__).with_name("PWNED").write_text("the file called code")
        return 0
""")

LOADER = textwrap.dedent("""
    import json, sys
    import nerve
    good_path, hostile_path = sys.argv[1], sys.argv[2]
    nerve.load_model(good_path)  # warm-up: what a benign load imports is imported now
    events = []
    ALLOWED = ("nerve", "numpy", "safetensors", "tqdm")

    def hook(event, args):
        if event == "import":
            name = str(args[0])
            if name.split(".")[0] not in ALLOWED:
                events.append(f"import {name}")
        elif event in ("exec", "compile"):
            events.append(event)
        elif event.startswith(("subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork")):
            events.append(event)

    sys.addaudithook(hook)
    try:
        nerve.load_model(hostile_path)
        outcome = {"error": None}
    except BaseException as error:  # SystemExit included: a file must not be able to raise it
        outcome = {"error": type(error).__name__, "module": type(error).__module__, "message": str(error)[:300]}
    outcome["events"] = events
    print("RESULT " + json.dumps(outcome))
""")


def _model_file(path):
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4, activation="relu", name="hidden"),
                              layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(np.ones((8, 3), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
    model.save(path)
    return path


def _rewrite_config(source, target, change):
    """Copy the model file ``source`` to ``target`` with ``change(config)`` applied to its config.json."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    target.write_bytes(files.rebuild(members))  # a crafted file: its SHA-256 manifest matches the edit
    return target


def _set(path_in_config, value):
    def change(config):
        node = config
        for key in path_in_config[:-1]:
            node = node[key]
        node[path_in_config[-1]] = value
    return change


def _layer_entry(index, key, value):
    def change(config):
        config["model"]["config"]["layers"][index]["config"][key] = value
    return change


HOSTILE = {
    "loss_fn_this_s": _set(["compile", "loss"], {"class_name": "LossFunctionWrapper", "config": {"fn": "this:s"}}),
    "loss_fn_unittest_main": _set(["compile", "loss"], {"class_name": "LossFunctionWrapper",
                                                         "config": {"fn": "unittest.__main__:main"}}),
    "loss_fn_module_beside_file": _set(["compile", "loss"], {"class_name": "LossFunctionWrapper",
                                                              "config": {"fn": "evil_beside:run"}}),
    "loss_fn_os_system": _set(["compile", "loss"], {"class_name": "LossFunctionWrapper", "config": {"fn": "os:system"}}),
    "loss_class_os_system": _set(["compile", "loss"], {"class_name": "os.system", "config": {}}),
    "model_class_os_system": _set(["model", "class_name"], "os.system"),
    "model_class_subprocess_popen": _set(["model", "class_name"], "subprocess.Popen"),
    "model_class_builtins_eval": _set(["model", "class_name"], "builtins.eval"),
    "model_class_module_beside_file": _set(["model", "class_name"], "evil_beside.run"),
    "layer_class_builtins_eval": lambda c: c["model"]["config"]["layers"][0].__setitem__("class_name", "builtins.eval"),
    "layer_class_eval_plain": lambda c: c["model"]["config"]["layers"][0].__setitem__("class_name", "eval"),
    "activation_os_system": _layer_entry(0, "activation", "os.system"),
    "activation_module_beside_file": _layer_entry(0, "activation", "evil_beside:run"),
    "initializer_builtins_eval": _layer_entry(0, "kernel_initializer", {"class_name": "builtins.eval", "config": {}}),
    "regularizer_subprocess": _layer_entry(0, "kernel_regularizer", {"class_name": "subprocess.Popen",
                                                                     "config": {"args": ["true"]}}),
    "optimizer_subprocess_popen": _set(["compile", "optimizer"], {"class_name": "subprocess.Popen",
                                                                  "config": {"args": ["true"]}}),
    "optimizer_schedule_os_system": _set(["compile", "optimizer", "config", "learning_rate"],
                                         {"class_name": "os.system", "config": {"command": "true"}}),
    "metric_builtins_exec": _set(["compile", "metrics"], ["builtins.exec"]),
    "model_class_is_a_loss": _set(["model", "class_name"], "MeanSquaredError"),
    "loss_class_is_a_layer": _set(["compile", "loss"], {"class_name": "Dense", "config": {"units": 1}}),
}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    good = _model_file(folder / "good.nerve")
    (folder / "evil_beside.py").write_text(EVIL_MODULE)
    (folder / "loader.py").write_text(LOADER)
    return folder, good


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_raises_a_nerve_error_and_runs_nothing(model_files, case):
    folder, good = model_files
    hostile = _rewrite_config(good, folder / f"{case}.nerve", HOSTILE[case])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder)] + sys.path)}
    result = subprocess.run([sys.executable, str(folder / "loader.py"), str(good), str(hostile)], cwd=folder,
                            capture_output=True, text=True, timeout=120, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the loader crashed:\n{result.stdout}\n{result.stderr}"
    outcome = json.loads(lines[-1][len("RESULT "):])
    assert outcome["error"] is not None, f"{case}: the hostile file loaded without an error"
    assert outcome["module"].startswith("nerve."), f"{case}: {outcome['error']} is not nerve's own error: {outcome}"
    assert outcome["events"] == [], f"{case}: loading did more than read data: {outcome['events']}"
    assert not (folder / "PWNED").exists(), f"{case}: code next to the model file ran"


def test_unknown_name_error_says_how_to_register(model_files, tmp_path):
    _, good = model_files
    hostile = _rewrite_config(good, tmp_path / "m.nerve", _set(["model", "class_name"], "MyNet"))
    with pytest.raises(nerve.saving.UnknownObjectError, match=r"'MyNet'.*register_serializable.*custom_objects"):
        nerve.load_model(hostile)


def test_the_benign_file_loads_in_the_audited_loader(model_files):
    folder, good = model_files
    result = subprocess.run([sys.executable, str(folder / "loader.py"), str(good), str(good)], cwd=folder,
                            capture_output=True, text=True, timeout=120)
    outcome = json.loads([line for line in result.stdout.splitlines() if line.startswith("RESULT ")][-1][7:])
    assert outcome == {"error": None, "events": []}


def test_a_registered_class_does_not_take_over_a_built_in_name():
    @nerve.saving.register_serializable(package="takeover")
    class Dense(layers.Layer):  # noqa: F811 - same bare name as the built-in on purpose
        def call(self, x):
            return x

    assert nerve.layers.get_registered("Dense") is layers.Dense
    assert nerve.layers.get_registered("takeover>Dense") is Dense
