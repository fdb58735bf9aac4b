"""callbacks.TensorBoard (event files read back) and callbacks.BackupAndRestore (a killed fit resumes) -- issue 18."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import nerve
from nerve import callbacks, layers
from nerve.training.event_file import EventFileWriter, crc32c, read_events


def _fit_with_tensorboard(log_dir, **kwargs):
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4, activation="relu", name="hidden"),
                              layers.Dense(1, name="out")])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).normal(size=(40, 3))
    history = model.fit(x, x.sum(axis=1, keepdims=True), epochs=3, batch_size=10, validation_split=0.25, verbose=0,
                        callbacks=[callbacks.TensorBoard(log_dir, **kwargs)])
    return history


def _scalars(folder):
    (name,) = [n for n in os.listdir(folder) if "tfevents" in n]
    out = {}
    for event in read_events(os.path.join(folder, name)):
        for tag, value in event["values"].items():
            out.setdefault(tag, []).append((event["step"], value))
    return out


def test_tensorboard_writes_epoch_batch_and_histogram_events(tmp_path):
    history = _fit_with_tensorboard(tmp_path, histogram_freq=1, update_freq=2, write_steps_per_second=True)
    train, val = _scalars(tmp_path / "train"), _scalars(tmp_path / "validation")
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], history.history["loss"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in val["epoch_mae"]], history.history["val_mae"], rtol=1e-6)
    assert [s for s, _ in train["epoch_loss"]] == [0, 1, 2] and "epoch_learning_rate" in train
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6, 8]  # 3 batches per epoch, every 2nd global batch
    assert len(train["epoch_steps_per_second"]) == 3
    kernel = train["hidden/kernel/histogram"][-1][1]
    assert kernel["num"] == 12 and sum(kernel["bucket"]) == 12 and kernel["min"] <= kernel["max"]


def test_tensorboard_files_read_back_by_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing import event_accumulator

    history = _fit_with_tensorboard(tmp_path, histogram_freq=1)
    accumulator = event_accumulator.EventAccumulator(os.fspath(tmp_path / "train"))
    accumulator.Reload()
    assert "epoch_loss" in accumulator.Tags()["scalars"]
    np.testing.assert_allclose([e.value for e in accumulator.Scalars("epoch_loss")], history.history["loss"], rtol=1e-6)
    assert accumulator.Histograms("out/kernel/histogram")[0].histogram_value.num == 4
    validation = event_accumulator.EventAccumulator(os.fspath(tmp_path / "validation"))
    validation.Reload()
    assert [e.step for e in validation.Scalars("epoch_loss")] == [0, 1, 2]


def test_event_records_have_valid_checksums_and_damage_is_detected(tmp_path):
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalar("a", 1.0, step=1)
    data = bytearray(open(writer.path, "rb").read())
    data[-6] ^= 0xFF
    open(writer.path, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="record 1"):
        read_events(writer.path)


def test_tensorboard_argument_errors():
    with pytest.raises(ValueError, match="update_freq"):
        callbacks.TensorBoard(update_freq=0)
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.BackupAndRestore("x", save_freq=10)


_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import nerve
    from nerve import callbacks, layers

    backup_dir, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3),
                              layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3))
    y = x @ np.array([[1.0], [-1.0], [0.5]])

    class Kill(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)   # no cleanup, no on_train_end: a killed process

    cbs = [callbacks.BackupAndRestore(backup_dir), callbacks.ReduceLROnPlateau(patience=1, factor=0.5), Kill()]
    model.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=cbs)
    np.savez(out, *model.get_weights(), lr=model.optimizer.learning_rate)
""")


def test_backup_and_restore_resumes_a_killed_fit_to_the_same_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run(backup, out, kill_at):
        return subprocess.run([sys.executable, os.fspath(script), os.fspath(backup), os.fspath(out), str(kill_at)],
                              env=env, capture_output=True, text=True, timeout=300)

    reference = run(tmp_path / "never_killed", tmp_path / "reference.npz", -1)
    assert reference.returncode == 0, reference.stderr
    killed = run(tmp_path / "backup", tmp_path / "unused.npz", 2)
    assert killed.returncode == -9 and os.path.exists(tmp_path / "backup" / "latest.nerve")
    assert not os.path.exists(tmp_path / "unused.npz")
    resumed = run(tmp_path / "backup", tmp_path / "resumed.npz", -1)
    assert resumed.returncode == 0, resumed.stderr
    expected, got = np.load(tmp_path / "reference.npz"), np.load(tmp_path / "resumed.npz")
    for key in expected.files:
        np.testing.assert_array_equal(got[key], expected[key])
    assert not os.path.exists(tmp_path / "backup" / "latest.nerve")  # deleted once training completed


def test_remote_monitor_posts_every_epoch_and_warns_when_unreachable():
    import http.server
    import json
    import threading
    import urllib.parse

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = f"http://127.0.0.1:{server.server_port}"
        model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
                            callbacks=[callbacks.RemoteMonitor(root=root, send_as_json=True),
                                       callbacks.RemoteMonitor(root=root, path="/form", field="logs")])
    finally:
        server.shutdown()
    as_json = [json.loads(body) for path, kind, body in received if kind == "application/json"]
    assert [m["epoch"] for m in as_json] == [0, 1]
    assert as_json[1]["loss"] == pytest.approx(history.history["loss"][1])
    forms = [urllib.parse.parse_qs(body) for path, kind, body in received if path == "/form"]
    assert json.loads(forms[0]["logs"][0])["epoch"] == 0
    with pytest.warns(RuntimeWarning, match="could not send"):
        callbacks.RemoteMonitor(root="http://127.0.0.1:9", timeout=2).on_epoch_end(0, {"loss": 1.0})
