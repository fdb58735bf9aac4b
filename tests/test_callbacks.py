"""Callbacks: progress lines, EarlyStopping, ModelCheckpoint, LR schedulers, TerminateOnNaN, CSVLogger, hooks.

Monitored values are scripted by a callback that writes into the epoch logs
before the callback under test reads them, so patience and min_delta are
checked against exact sequences.
"""

import csv
import re

import numpy
import pytest

import nerve
from nerve import callbacks, layers


@pytest.fixture(autouse=True)
def _seed():
    nerve.random.seed(0)


def _data(n=32, seed=0):
    g = numpy.random.default_rng(seed)
    x = g.normal(size=(n, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True).astype("float32")


def _model(lr=0.01, metrics=None, zeros=False):
    init = "zeros" if zeros else "glorot_uniform"
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(1, kernel_initializer=init)])
    model.compile(optimizer=nerve.optimizers.SGD(lr), loss="mse", metrics=metrics)
    return model


class Script(callbacks.Callback):
    """Overwrites ``logs[key]`` with ``values[epoch]`` so the callbacks after it see a scripted sequence."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightRecorder(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


# ------------------------------------------------------------------ progress
def test_progress_is_one_line_per_epoch_when_not_a_terminal(capsys):
    x, y = _data()
    model = _model(metrics=["mae"])
    model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"Epoch {epoch}/3")
        assert "3 steps" in line  # 24 training examples / 8
        for key in ("loss", "mae", "val_loss", "val_mae"):
            assert re.search(rf"(^| ){key}: \d+\.\d{{4}}", line), (key, line)


def test_verbose_auto_and_2_print_epoch_lines_and_0_prints_nothing(capsys):
    x, y = _data()
    _model().fit(x, y, epochs=2, verbose="auto")
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    _model().fit(x, y, epochs=2, verbose=2)
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    _model().fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_progress_bar_on_a_terminal():
    import io

    class FakeTerminal(io.StringIO):
        def isatty(self):
            return True

    stream = FakeTerminal()
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=8, verbose=1, callbacks=[callbacks.ProgbarLogger(verbose=1, stream=stream)])
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "4/4" in text and "loss" in text


# ------------------------------------------------------------ early stopping
def test_early_stopping_patience():
    x, y = _data()
    model = _model()
    values = [1.0, 0.5, 0.6, 0.55, 0.7, 0.4, 0.3]
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=3)
    history = model.fit(x, y, epochs=7, verbose=0, callbacks=[Script("val_loss", values), stop])
    assert history.epoch == [0, 1, 2, 3, 4]  # 3 epochs without beating 0.5
    assert stop.stopped_epoch == 4 and stop.best == 0.5 and stop.best_epoch == 1


def test_early_stopping_min_delta():
    x, y = _data()
    values = [1.0, 0.95, 0.92, 0.91, 0.5, 0.4]
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.1)
    history = _model().fit(x, y, epochs=6, verbose=0, callbacks=[Script("val_loss", values), stop])
    assert history.epoch == [0, 1, 2]  # improvements of < 0.1 do not count
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.01)
    history = _model().fit(x, y, epochs=6, verbose=0, callbacks=[Script("val_loss", values), stop])
    assert history.epoch == [0, 1, 2, 3, 4, 5]


def test_early_stopping_mode_max_for_accuracy():
    x, y = _data()
    stop = callbacks.EarlyStopping(monitor="val_accuracy", patience=1)
    script = Script("val_accuracy", [0.5, 0.7, 0.6, 0.9, 1.0])
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[script, stop])
    assert history.epoch == [0, 1, 2]


def test_early_stopping_restore_best_weights():
    # train y = x-sum from zero weights; validation wants half of it: val_loss is smallest mid-way
    x, y = _data(64)
    model = _model(lr=0.05, zeros=True)
    recorder = WeightRecorder()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(x, y, validation_data=(x, 0.5 * y), epochs=50, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[recorder, stop])
    val = history.history["val_loss"]
    best = int(numpy.argmin(val))
    assert 0 < best < len(val) - 1 < 49  # it did stop, after passing the best epoch
    assert len(val) == best + 3
    for got, want in zip(model.get_weights(), recorder.weights[best]):
        numpy.testing.assert_array_equal(got, want)
    assert not numpy.array_equal(recorder.weights[-1][0], recorder.weights[best][0])
    assert model.evaluate(x, 0.5 * y, verbose=0) == pytest.approx(val[best], rel=1e-5)


def test_early_stopping_missing_monitor_warns():
    x, y = _data()
    with pytest.warns(RuntimeWarning, match="val_loss.*available"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


# ---------------------------------------------------------------- checkpoint
def test_model_checkpoint_save_best_only(tmp_path):
    x, y = _data()
    values = [1.0, 0.8, 0.9, 0.7, 0.75]
    checkpoint = callbacks.ModelCheckpoint(tmp_path / "ck-{epoch:02d}.nerve", monitor="val_loss", save_best_only=True)
    _model().fit(x, y, epochs=5, verbose=0, callbacks=[Script("val_loss", values), checkpoint])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck-01.nerve", "ck-02.nerve", "ck-04.nerve"]


def test_model_checkpoint_best_file_holds_best_weights(tmp_path):
    x, y = _data()
    path = tmp_path / "best.nerve"
    recorder = WeightRecorder()
    values = [1.0, 0.8, 0.9, 0.95]
    _model().fit(x, y, epochs=4, verbose=0,
                 callbacks=[Script("val_loss", values), recorder, callbacks.ModelCheckpoint(path, save_best_only=True)])
    loaded = nerve.load_model(path)
    for got, want in zip(loaded.get_weights(), recorder.weights[1]):
        numpy.testing.assert_array_equal(got, want)
    assert loaded.initial_epoch == 2


def test_model_checkpoint_every_epoch_and_weights_only(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(tmp_path / "full-{epoch}.nerve"),
        callbacks.ModelCheckpoint(tmp_path / "w-{epoch}-{loss:.3f}.safetensors", save_weights_only=True)])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:2] == ["full-1.nerve", "full-2.nerve"]
    assert len(names) == 4 and all(n.startswith("w-") for n in names[2:])
    twin = _model()
    twin.load_weights(tmp_path / names[3])
    for a, b in zip(twin.get_weights(), model.get_weights()):
        numpy.testing.assert_array_equal(a, b)


# -------------------------------------------------------------- learning rate
def test_learning_rate_scheduler():
    x, y = _data()
    model = _model(lr=0.1)
    seen = []
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    spy = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[schedule, spy])
    assert seen == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)


def test_learning_rate_scheduler_changes_the_update():
    x, y = _data(8)
    a, b = _model(lr=0.1, zeros=True), _model(lr=0.1, zeros=True)
    a.fit(x, y, epochs=1, batch_size=8, verbose=0)
    b.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: 0.2)])
    numpy.testing.assert_allclose(b.get_weights()[0], 2 * a.get_weights()[0], rtol=1e-6)


def test_reduce_lr_on_plateau():
    x, y = _data()
    model = _model(lr=0.4)
    values = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85]
    plateau = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.06)
    history = model.fit(x, y, epochs=9, verbose=0, callbacks=[Script("val_loss", values), plateau])
    # epochs 2,3 without improvement -> 0.2 from epoch 4; epochs 4,5 -> 0.1 from 6; 7,8 -> max(0.05, 0.06)
    assert history.history["learning_rate"] == pytest.approx([0.4] * 4 + [0.2] * 2 + [0.1] * 3)
    assert model.optimizer.learning_rate == pytest.approx(0.06)


# ---------------------------------------------------------------- NaN guard
def test_terminate_on_nan_with_huge_learning_rate(capsys):
    x, y = _data(64)
    model = _model(lr=1e12)
    guard = callbacks.TerminateOnNaN()
    batches = []
    spy = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(logs["loss"]))
    with pytest.warns(RuntimeWarning):
        history = model.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[spy, guard])
    assert not numpy.isfinite(batches[-1]) and all(numpy.isfinite(batches[:-1]))
    assert len(history.epoch) == 1  # stopped in the first epoch
    message = guard.message
    assert f"epoch 1, batch {len(batches)}" in message
    assert message in capsys.readouterr().err


def test_terminate_on_nan_with_custom_loss():
    x, y = _data(32)

    def sometimes_nan(y_true, y_pred):
        err = (y_pred - nerve.tensor(y_true)) ** 2
        return nerve.ops.log(err - err) if y_pred.shape[0] == 4 else err  # log(0)=-inf on the short batch

    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer=nerve.optimizers.SGD(0.01), loss=sometimes_nan)
    guard = callbacks.TerminateOnNaN()
    with pytest.warns(RuntimeWarning):
        history = model.fit(x[:28], y[:28], epochs=3, batch_size=8, shuffle=False, verbose=0, callbacks=[guard])
    assert "epoch 1, batch 4" in guard.message
    assert len(history.epoch) == 1


# ------------------------------------------------------------------ CSVLogger
def test_csv_logger(tmp_path):
    x, y = _data()
    path = tmp_path / "log.csv"
    history = _model(metrics=["mae"]).fit(x, y, epochs=3, validation_split=0.25, verbose=0,
                                          callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert set(rows[0]) == {"epoch", "loss", "mae", "val_loss", "val_mae", "learning_rate"}
    for key in ("loss", "val_mae"):
        assert [float(r[key]) for r in rows] == pytest.approx(history.history[key])
    # append=True adds rows without a second header
    _model().fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[callbacks.CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        lines = f.read().strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("epoch")


# -------------------------------------------------------------- custom hooks
class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("train_begin")

    def on_train_end(self, logs=None):
        self.calls.append("train_end")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(f"epoch_begin {epoch}")

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(f"batch_begin {batch}")

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(f"batch_end {batch}")

    def on_test_begin(self, logs=None):
        self.calls.append("test_begin")

    def on_test_end(self, logs=None):
        self.calls.append("test_end")

    def on_test_batch_begin(self, batch, logs=None):
        self.calls.append(f"test_batch_begin {batch}")

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(f"test_batch_end {batch}")


def test_custom_callback_hooks_in_order():
    x, y = _data(10)
    recorder = Recorder()
    model = _model()
    model.fit(x, y, epochs=2, batch_size=4, validation_data=(x[:3], y[:3]), verbose=0, callbacks=[recorder])
    keys = "['learning_rate', 'loss', 'val_loss']"
    def epoch(e):
        batches = [f"{hook} {b}" for b in range(3) for hook in ("batch_begin", "batch_end")]
        validation = ["test_begin", "test_batch_begin 0", "test_batch_end 0", "test_end"]
        return [f"epoch_begin {e}"] + batches + validation + [f"epoch_end {e} {keys}"]

    assert recorder.calls == ["train_begin"] + epoch(0) + epoch(1) + ["train_end"]
    assert recorder.model is model and recorder.params["epochs"] == 2 and recorder.params["steps"] == 3
    recorder.calls.clear()
    model.evaluate(x, y, batch_size=5, verbose=0, callbacks=[recorder])
    assert recorder.calls == ["test_begin", "test_batch_begin 0", "test_batch_end 0", "test_batch_begin 1",
                              "test_batch_end 1", "test_end"]


def test_callback_can_stop_training():
    x, y = _data(10)

    class StopAfterTwoBatches(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    model = _model()
    history = model.fit(x, y, epochs=5, batch_size=2, verbose=0, callbacks=[StopAfterTwoBatches()])
    assert model.optimizer.iterations == 2
    assert history.epoch == [0]


def test_lambda_callback_rejects_unknown_hook():
    with pytest.raises(ValueError, match="on_epoch_ending"):
        callbacks.LambdaCallback(on_epoch_ending=lambda epoch, logs: None)


def test_early_stopping_restores_best_weights_when_epochs_run_out():
    x, y = _data()
    model = _model()
    recorder = WeightRecorder()
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[Script("val_loss", [1.0, 0.5, 0.7, 0.8]), recorder, stop])
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch is None
    for got, want in zip(model.get_weights(), recorder.weights[1]):
        numpy.testing.assert_array_equal(got, want)


def test_resume_continues_reduce_lr_on_plateau_and_early_stopping_exactly(tmp_path):
    """The checkpoint (listed first) still sees the learning rate the plateau callback lowers at that epoch."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([[1.0], [-1.0], [0.5]], "float32") + rng.normal(size=(64, 1)).astype("float32"))

    def build():
        nerve.random.seed(0)
        m = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
        m.compile(optimizer=nerve.optimizers.Adam(0.05), loss="mse")
        return m

    def plateau():
        return nerve.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)

    def stopper():
        return nerve.callbacks.EarlyStopping(monitor="loss", patience=50, min_delta=10.0)

    straight = build()
    straight_stop = stopper()
    history = straight.fit(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[plateau(), straight_stop])
    path = tmp_path / "ckpt.nerve"
    build().fit(x, y, epochs=3, batch_size=16, verbose=0,
                callbacks=[nerve.callbacks.ModelCheckpoint(str(path)), plateau(), stopper()])
    resumed = nerve.load_model(path)
    stop = stopper()
    rest = resumed.fit(x, y, epochs=6, initial_epoch=resumed.initial_epoch, batch_size=16, verbose=0,
                       callbacks=[plateau(), stop])
    assert rest.history["learning_rate"] == history.history["learning_rate"][3:]
    assert len(set(history.history["learning_rate"])) > 2  # the plateau callback did lower it, several times
    assert stop.wait == straight_stop.wait == 5 and stop.best == straight_stop.best
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_array_equal(a, b)
