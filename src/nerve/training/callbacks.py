"""Callbacks: code that runs at the start and end of training, epochs and batches.

Subclass :class:`Callback` and override any ``on_*`` hook; ``self.model`` is
the model being trained and ``logs`` holds the current loss and metrics.
``fit`` always adds a :class:`History` and, unless ``verbose=0``, a progress
bar (:class:`ProgbarLogger`).

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers, callbacks
    >>> class PrintLoss(callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         print(f"epoch {epoch}: loss {logs['loss']:.3f}")
    >>> nerve.random.seed(0)
    >>> m = nerve.Sequential([layers.Dense(1, kernel_initializer="zeros")])
    >>> m.compile(optimizer="sgd", loss="mse")
    >>> _ = m.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=1, verbose=0, callbacks=[PrintLoss()])
    epoch 0: loss 1.000
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import sys
import time
import warnings

import numpy

from nerve.engine import comm
from nerve.engine import config as engine_config
from nerve.engine.backend import to_numpy
from nerve.training import saving

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger", "LambdaCallback",
    "TensorBoard", "BackupAndRestore", "RemoteMonitor",
]


def _json_number(value):
    """``inf``/``nan`` as strings JSON holds (``float()`` reads them back)."""
    value = float(value)
    return value if math.isfinite(value) else str(value)


class Callback:
    """Base class: every hook is a no-op; override the ones you need.

    Examples:
        >>> class Stop(Callback):
        ...     def on_train_batch_end(self, batch, logs=None):
        ...         self.model.stop_training = True
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def get_state(self):
        """What a checkpoint must hold to resume this callback exactly (JSON values), or None (stateless)."""
        return None

    def set_state(self, state):
        """Restore :meth:`get_state` output when training resumes from a checkpoint."""

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...
    def on_train_batch_begin(self, batch, logs=None): ...
    def on_train_batch_end(self, batch, logs=None): ...
    def on_test_begin(self, logs=None): ...
    def on_test_end(self, logs=None): ...
    def on_test_batch_begin(self, batch, logs=None): ...
    def on_test_batch_end(self, batch, logs=None): ...


class CallbackList:
    """Drives a list of callbacks; used by ``fit``/``evaluate``.

    Examples:
        >>> history = History()
        >>> cl = CallbackList([history], model=None, epochs=1, steps=1)
        >>> cl.on_train_begin(); cl.on_epoch_end(0, {"loss": 1.0})
        >>> history.history
        {'loss': [1.0]}
    """

    def __init__(self, callbacks=None, model=None, add_history=False, add_progbar=False, verbose=1,
                 epochs=1, steps=None, mode="train"):
        self.callbacks = list(callbacks or [])
        self.history = None
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.append(ProgbarLogger(verbose=verbose, mode=mode))
        if add_history:
            self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
            if self.history is None:
                self.history = History()
                self.callbacks.insert(0, self.history)
        if not comm.is_main():  # data-parallel: only rank 0 prints, logs and writes checkpoints
            self.callbacks = [c for c in self.callbacks if not getattr(c, "main_process_only", False)]
        params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        self.model = model
        for c in self.callbacks:
            if isinstance(c, ModelCheckpoint):
                c.callback_list = self
            c.set_model(model)
            c.set_params(params)
        # only call hooks that some callback overrides: per-batch calls are on the hot path
        self._batch_hooks = {
            name: [getattr(c, name) for c in self.callbacks
                   if name in vars(c) or getattr(type(c), name) is not getattr(Callback, name)]  # LambdaCallback sets hooks per instance
            for name in ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end")
        }

    def _call(self, name, *args):
        for c in self.callbacks:
            getattr(c, name)(*args)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs or {})
        states = getattr(self.model, "resumed_callback_states", None)
        if states:  # the first fit after loading a checkpoint continues where the callbacks stopped
            self.restore_states(states)
            self.model.resumed_callback_states = None

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs or {})

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        # checkpoints last: they must see the epoch's final state (a learning rate just reduced, counters)
        for c in sorted(self.callbacks, key=lambda c: isinstance(c, ModelCheckpoint)):
            c.on_epoch_end(epoch, logs)

    def states(self):
        """``{"ClassName/index": state}`` of the callbacks that have one, for a checkpoint."""
        out, seen = {}, {}
        for c in self.callbacks:
            name = type(c).__name__
            index = seen[name] = seen.get(name, -1) + 1
            state = c.get_state()
            if state is not None:
                out[f"{name}/{index}"] = state
        return out

    def restore_states(self, states):
        """Give each callback its state from a checkpoint (matched by class name and position)."""
        seen = {}
        for c in self.callbacks:
            name = type(c).__name__
            index = seen[name] = seen.get(name, -1) + 1
            if f"{name}/{index}" in states:
                c.set_state(states[f"{name}/{index}"])

    def on_train_batch_begin(self, batch, logs=None):
        for hook in self._batch_hooks["on_train_batch_begin"]:
            hook(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for hook in self._batch_hooks["on_train_batch_end"]:
            hook(batch, logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs or {})

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs or {})

    def on_test_batch_begin(self, batch, logs=None):
        for hook in self._batch_hooks["on_test_batch_begin"]:
            hook(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        for hook in self._batch_hooks["on_test_batch_end"]:
            hook(batch, logs)


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the list of per-epoch training losses.

    Examples:
        >>> h = History(); h.on_train_begin(); h.on_epoch_end(0, {"loss": 0.5})
        >>> h.history, h.epoch
        ({'loss': [0.5]}, [0])
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        # keep earlier epochs when fit is called again (resumed runs), like Keras does per call
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_logs(logs):
    parts = []
    for key, value in logs.items():
        if key == "learning_rate":
            parts.append(f"{key}: {value:.3g}")
        elif isinstance(value, float):
            parts.append(f"{key}: {value:.4f}")
    return " - ".join(parts)


def _terminal_width(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size((80, 24)).columns


def wrap_parts(parts, width):
    """Lines of at most ``width`` characters holding ``parts`` joined by ``" - "``, none of them cut.

    Examples:
        >>> wrap_parts(["4/10", "loss: 1.0352", "accuracy: 0.5000"], 30)
        ['4/10 - loss: 1.0352', '  accuracy: 0.5000']
    """
    lines, line = [], ""
    for part in parts:
        candidate = part if not line else f"{line} - {part}"
        if line and len(candidate) > width:
            lines.append(line)
            line = "  " + part
        else:
            line = candidate
    return lines + [line]


class ProgbarLogger(Callback):
    """Progress output: a per-batch bar with ETA, loss and metrics on a terminal; one line per epoch otherwise.

    ``verbose=1``/``"auto"``: the bar when stdout is a terminal, else epoch lines
    (so CI logs stay readable); ``verbose=2``: always one line per epoch.

    Examples:
        >>> ProgbarLogger(verbose=2).verbose
        2
    """

    main_process_only = True  # under data-parallel training only rank 0 runs it

    def __init__(self, verbose=1, mode="train", stream=None):
        super().__init__()
        self.verbose = 1 if verbose == "auto" else verbose
        self.mode = mode
        self.stream = stream
        self._bar = None

    def _out(self):
        return self.stream or sys.stdout

    def _interactive(self):
        out = self._out()
        return (self.verbose == 1 and hasattr(out, "isatty") and out.isatty()
                and engine_config.is_interactive_logging_enabled())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._start = time.perf_counter()
        if self._interactive():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.params.get("steps"), desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
                             unit="batch", file=self._out(), leave=True, dynamic_ncols=True)
            self._layout = None

    def _fit_bar(self, text):
        """Choose the bar's layout for the terminal width: with a bar, then without it, then (when even the
        metrics alone are too long) without them on the bar line; returns the text the bar shows."""
        width = _terminal_width(self._out()) - 1
        steps = self.params.get("steps") or 0
        counts = 2 * len(str(steps)) + 1
        desc = len(self._bar.desc)
        full = desc + 7 + 3 + counts + len(" [00:00<00:00, 99.99batch/s, ]") + len(text)
        if full + 10 <= width:  # room for the default layout with a bar of 10 columns or more
            layout, shown = None, text
        elif desc + 2 + counts + len(" [00:00<00:00, ]") + len(text) <= width:
            layout, shown = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]", text
        else:
            layout, shown = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}]", ""
        if layout != self._layout:
            self._bar.bar_format = layout
            self._layout = layout
        return shown

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(1)
            if batch % 5 == 0 or batch + 1 == self.params.get("steps"):
                self._bar.set_postfix_str(self._fit_bar(_format_logs(logs or {})), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        text = _format_logs(logs or {})
        if self._bar is not None:
            shown = self._fit_bar(text)
            self._bar.set_postfix_str(shown, refresh=True)
            self._bar.close()
            self._bar = None
            if shown != text:  # the metrics did not fit beside the counts: they go on their own lines, whole
                width = _terminal_width(self._out()) - 1
                print("\n".join(wrap_parts(text.split(" - "), width)), file=self._out(), flush=True)
        else:
            steps = self.params.get("steps")
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {steps} steps - {elapsed:.1f}s - {text}",
                  file=self._out(), flush=True)

    def on_test_end(self, logs=None):
        if self.mode == "test" and self.verbose:
            print(f"evaluate - {_format_logs(logs or {})}", file=self._out(), flush=True)


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    Args:
        monitor: log key, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy-like names).
        restore_best_weights: put back the weights of the best epoch when stopping.

    Examples:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0, verbose=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.mode = _resolve_mode(mode, monitor)
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = self.baseline
        self.best_weights = None
        self.best_epoch = None
        self.stopped_epoch = None

    def get_state(self):
        # the best weights are not saved: restore_best_weights after a resume restores the best since the resume
        return {"wait": self.wait, "best": _json_number(self.best), "best_epoch": self.best_epoch}

    def set_state(self, state):
        self.wait, self.best, self.best_epoch = int(state["wait"]), float(state["best"]), state["best_epoch"]

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = _get_monitored(logs, self.monitor, type(self).__name__)
        if value is None or epoch < self.start_from_epoch:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: {self.monitor} did not improve for {self.wait} epochs; best {self.best:.4f} at epoch {self.best_epoch + 1}")

    def on_train_end(self, logs=None):
        # like Keras: also when the epochs ran out before the patience did
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after each epoch, or only when the monitored value improves.

    Full checkpoints hold the optimizer state, the epoch and nerve's random
    state, so ``nerve.load_model(path)`` then ``fit(..., initial_epoch=k)``
    continues exactly where the run stopped. ``filepath`` may contain format
    fields such as ``{epoch:02d}`` or ``{val_loss:.3f}``.

    Examples:
        >>> checkpoint = ModelCheckpoint("best.nerve", monitor="val_loss", save_best_only=True)
    """

    main_process_only = True  # under data-parallel training only rank 0 runs it

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, save_weights_only=False, mode="auto", verbose=0):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _resolve_mode(mode, monitor)
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf

    def get_state(self):
        return {"best": _json_number(self.best)} if self.save_best_only else None

    def set_state(self, state):
        self.best = float(state["best"])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            value = _get_monitored(logs, self.monitor, type(self).__name__)
            if value is None:
                return
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
                states = self.callback_list.states() if getattr(self, "callback_list", None) else None
                saving.save_model(self.model, path, include_optimizer=True, epoch=epoch + 1, callback_states=states)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}")


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr) -> new_lr``.

    Examples:
        >>> decay = LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr = float(self.model.optimizer.current_learning_rate)
        new_lr = float(self.schedule(epoch, lr))
        if not math.isfinite(new_lr):
            raise ValueError(f"LearningRateScheduler: schedule returned {new_lr} at epoch {epoch}")
        self.model.optimizer.learning_rate = new_lr
        if self.verbose:
            print(f"LearningRateScheduler: epoch {epoch + 1}: learning rate {new_lr:.3g}")


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when the monitored value stops improving for ``patience`` epochs.

    Examples:
        >>> plateau = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-5)
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto", min_delta=1e-4, cooldown=0, min_lr=0.0, verbose=0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.monitor, self.factor, self.patience = monitor, factor, patience
        self.mode = _resolve_mode(mode, monitor)
        self.min_delta, self.cooldown, self.min_lr, self.verbose = min_delta, cooldown, min_lr, verbose

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter = 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def get_state(self):
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": _json_number(self.best)}

    def set_state(self, state):
        self.wait, self.cooldown_counter = int(state["wait"]), int(state["cooldown_counter"])
        self.best = float(state["best"])

    def on_epoch_end(self, epoch, logs=None):
        value = _get_monitored(logs, self.monitor, type(self).__name__)
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = value < self.best - self.min_delta if self.mode == "min" else value > self.best + self.min_delta
        if better:
            self.best, self.wait = value, 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            optimizer = self.model.optimizer
            old = float(optimizer.current_learning_rate)
            new = max(old * self.factor, self.min_lr)
            if new < old:
                optimizer.learning_rate = new
                if self.verbose:
                    print(f"ReduceLROnPlateau: epoch {epoch + 1}: learning rate {old:.3g} -> {new:.3g}")
            self.cooldown_counter, self.wait = self.cooldown, 0


class TerminateOnNaN(Callback):
    """Stop training as soon as the loss becomes NaN or infinite, and say where.

    Examples:
        >>> guard = TerminateOnNaN()
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.model.stop_training = True
            self.message = f"TerminateOnNaN: loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}; training stopped"
            print(self.message, file=sys.stderr)
            warnings.warn(self.message, RuntimeWarning, stacklevel=2)


class CSVLogger(Callback):
    """Append one row per epoch (epoch, loss, metrics...) to a CSV file.

    Examples:
        >>> logger = CSVLogger("training.csv", append=False)
    """

    main_process_only = True  # under data-parallel training only rank 0 runs it

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = append
        self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self._header_written = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._writer is None:
            self._keys = sorted(logs)
            self._writer = csv.writer(self._file, delimiter=self.separator)
            if not self._header_written:
                self._writer.writerow(["epoch"] + self._keys)
        self._writer.writerow([epoch] + [logs.get(k, "") for k in self._keys])
        self._file.flush()

    def on_train_end(self, logs=None):
        self._file.close()


class LambdaCallback(Callback):
    """Build a callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Examples:
        >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: None)
    """

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not hasattr(Callback, name):
                raise ValueError(f"LambdaCallback: unknown hook '{name}'")
            setattr(self, name, fn)


def _resolve_mode(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor.replace("val_", "")
    return "max" if any(k in name for k in ("acc", "auc", "precision", "recall", "f1")) else "min"


def _get_monitored(logs, monitor, who):
    logs = logs or {}
    if monitor not in logs:
        warnings.warn(f"{who}: '{monitor}' is not in the logs (available: {sorted(logs)}); skipping", RuntimeWarning, stacklevel=3)
        return None
    value = logs[monitor]
    return float(numpy.asarray(value))


class TensorBoard(Callback):
    """Write TensorBoard event files: losses and metrics per epoch (and per batch), weight histograms.

    Training values go to ``log_dir/train``, validation values to ``log_dir/validation``, under Keras's
    tags (``epoch_loss``, ``epoch_accuracy``, ``epoch_learning_rate``; ``batch_loss`` with
    ``update_freq``), so ``tensorboard --logdir log_dir`` shows train and validation curves together.
    The files are written by :mod:`nerve.training.event_file` (no TensorFlow needed).

    Args:
        log_dir: the folder of the run.
        histogram_freq: every this many epochs, a histogram of each weight (``<layer>/<weight>/histogram``);
            0 for none.
        write_steps_per_second: also write ``epoch_steps_per_second``.
        update_freq: ``"epoch"``, ``"batch"`` (every batch) or an int N (every N batches): how often the
            running training values are written as ``batch_*`` scalars (step: the global batch count).
        write_graph: accepted for Keras
            programs; nerve has no TensorFlow graph, images of weights, profiler or embeddings to write.
        write_images: accepted for Keras
            programs; nerve has no TensorFlow graph, images of weights, profiler or embeddings to write.
        profile_batch: accepted for Keras
            programs; nerve has no TensorFlow graph, images of weights, profiler or embeddings to write.
        embeddings_freq: accepted for Keras
            programs; nerve has no TensorFlow graph, images of weights, profiler or embeddings to write.
        embeddings_metadata: accepted for Keras
            programs; nerve has no TensorFlow graph, images of weights, profiler or embeddings to write.

    Examples:
        >>> import os, tempfile, numpy as np, nerve
        >>> from nerve import layers
        >>> model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> log_dir = tempfile.mkdtemp()
        >>> _ = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0,
        ...               callbacks=[TensorBoard(log_dir, histogram_freq=1)])
        >>> sorted(os.listdir(log_dir))
        ['train']
    """

    main_process_only = True

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        if update_freq not in ("epoch", "batch") and not (
                isinstance(update_freq, int) and not isinstance(update_freq, bool) and update_freq > 0):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, got {update_freq!r}")
        if not (isinstance(histogram_freq, int) and histogram_freq >= 0):
            raise ValueError(f"TensorBoard: histogram_freq must be an int >= 0, got {histogram_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph, self.write_images = write_graph, write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.profile_batch, self.embeddings_freq, self.embeddings_metadata = profile_batch, embeddings_freq, embeddings_metadata
        self._writers = {}

    def _writer(self, run):
        from nerve.training.event_file import EventFileWriter

        if run not in self._writers:
            self._writers[run] = EventFileWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._global_batch = int(getattr(getattr(self.model, "optimizer", None), "iterations", 0) or 0)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._global_batch += 1
        self._epoch_batches += 1
        if self.update_freq != "epoch" and self._global_batch % self.update_freq == 0:
            writer = self._writer("train")
            for key, value in (logs or {}).items():
                if isinstance(value, (int, float, numpy.floating)):
                    writer.add_scalar(f"batch_{key}", value, self._global_batch)

    def on_epoch_end(self, epoch, logs=None):
        train, validation = self._writer("train"), None
        for key, value in (logs or {}).items():
            if not isinstance(value, (int, float, numpy.floating, numpy.integer)):
                continue
            if key.startswith("val_"):
                validation = validation or self._writer("validation")
                validation.add_scalar(f"epoch_{key[4:]}", value, epoch)
            else:
                train.add_scalar(f"epoch_{key}", value, epoch)
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start
            train.add_scalar("epoch_steps_per_second", self._epoch_batches / max(elapsed, 1e-12), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            own = f"{self.model.name}/"
            for name, weight, _ in self.model.named_weights():
                name = name[len(own):] if name.startswith(own) else name  # <layer>/<weight>, as Keras tags them
                train.add_histogram(f"{name}/histogram", to_numpy(weight.data), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class BackupAndRestore(ModelCheckpoint):
    """Resume an interrupted ``fit``: a full checkpoint after every epoch, restored when ``fit`` starts again.

    The backup (``backup_dir/latest.nerve``) holds the weights, the optimizer state, the epoch, nerve's random
    state and the other callbacks' state, so a run killed after epoch k and started again with the same
    ``fit(...)`` call trains epochs k+1... and ends with the same weights as a run never interrupted. The
    backup is deleted when ``fit`` ends normally (``delete_checkpoint=False`` keeps it).

    Args:
        backup_dir: the folder of the backup (one per run).
        save_freq: ``"epoch"`` (nerve backs up at epoch ends only).
        double_checkpoint: also keep the previous backup (``previous.nerve``), used when the latest one
            cannot be read (the process died while writing it).
        delete_checkpoint: delete the backup when training completes.

    Examples:
        >>> import tempfile, numpy as np, nerve
        >>> from nerve import layers
        >>> model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> model.compile(optimizer="adam", loss="mse")
        >>> backup = BackupAndRestore(tempfile.mkdtemp())
        >>> len(model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=3, verbose=0, callbacks=[backup]).epoch)
        3
    """

    main_process_only = False  # every process restores; only the main one writes (see on_epoch_end)

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        if save_freq != "epoch":
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' (nerve backs up at the end of each epoch), "
                             f"got {save_freq!r}")
        super().__init__(os.path.join(os.fspath(backup_dir), "latest.nerve"), monitor="loss")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = bool(double_checkpoint)
        self.delete_checkpoint = bool(delete_checkpoint)
        self._previous = os.path.join(self.backup_dir, "previous.nerve")

    def on_train_begin(self, logs=None):
        self._completed = False
        for path in (self.filepath, self._previous) if self.double_checkpoint else (self.filepath,):
            if not os.path.exists(path):
                continue
            try:
                saved = saving.load_model(path, restore_random_state=True)
            except (saving.CorruptFileError, OSError, ValueError) as error:
                warnings.warn(f"BackupAndRestore: cannot read the backup {path} ({error})", RuntimeWarning, stacklevel=2)
                continue
            self._restore(saved)
            return

    def _restore(self, saved):
        model = self.model
        model.set_weights(saved.get_weights())
        if getattr(saved, "optimizer", None) is not None and getattr(model, "optimizer", None) is not None:
            model.optimizer.build(list(model.trainable_weights))
            model.optimizer.load_state_dict(saved.optimizer.state_dict())
        model.resumed_callback_states = getattr(saved, "resumed_callback_states", None)
        model._initial_epoch_from_backup = saved.initial_epoch  # fit starts there (read after on_train_begin)

    def on_epoch_end(self, epoch, logs=None):
        if not comm.is_main():
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self.filepath):
            os.replace(self.filepath, self._previous)
        states = self.callback_list.states() if getattr(self, "callback_list", None) else None
        saving.save_model(self.model, self.filepath, include_optimizer=True, epoch=epoch + 1, callback_states=states)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and comm.is_main():
            for path in (self.filepath, self._previous):
                if os.path.exists(path):
                    os.remove(path)


class RemoteMonitor(Callback):
    """POST each epoch's logs to a server (Keras semantics): ``{"epoch": ..., "loss": ..., ...}`` to
    ``root + path``, as a form field ``field`` holding the JSON text, or as a JSON body with ``send_as_json``.
    A server that cannot be reached gives a warning, never an error in ``fit``.

    Examples:
        >>> monitor = RemoteMonitor(root="http://localhost:9000", send_as_json=True)
        >>> monitor.root + monitor.path
        'http://localhost:9000/publish/epoch/end/'
    """

    main_process_only = True

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False, timeout=10):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json, self.timeout = dict(headers or {}), bool(send_as_json), timeout

    def on_epoch_end(self, epoch, logs=None):
        import json
        import urllib.error
        import urllib.parse
        import urllib.request

        payload = {"epoch": epoch}
        for key, value in (logs or {}).items():
            payload[key] = float(numpy.asarray(value))
        if self.send_as_json:
            body, kind = json.dumps(payload).encode(), "application/json"
        else:
            body, kind = urllib.parse.urlencode({self.field: json.dumps(payload)}).encode(), \
                "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.root + self.path, data=body, method="POST",
                                         headers={"Content-Type": kind, **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout):  # noqa: S310 - the user's own server
                pass
        except (urllib.error.URLError, OSError, ValueError) as error:
            warnings.warn(f"RemoteMonitor: could not send epoch {epoch} to {self.root + self.path} ({error})",
                          RuntimeWarning, stacklevel=2)
