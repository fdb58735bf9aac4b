"""Saving and loading models: JSON for the architecture, safetensors for the arrays, no pickle.

A model file (``model.save("digits.nerve")``) is a zip archive with:

* ``config.json``: the architecture (layer classes and their constructor
  arguments), the compile settings and, for checkpoints, the epoch and nerve's
  random-generator state;
* ``model.safetensors``: the weights, keyed by layer path (``dense/kernel``);
* ``optimizer.safetensors``: the optimizer's slots (momentum, Adam moments...).

Loading reads data only: layer classes are looked up by name in a registry
(``@nerve.layers.register``), never imported or executed from the file. Every
write goes to a temporary file first and is renamed over the target, so a
crash mid-save never leaves a half-written file in place of a good one.

Example:
    >>> import os, tempfile, numpy as np, nerve
    >>> from nerve import layers
    >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.nerve")
    >>> model.save(path)
    >>> again = nerve.load_model(path)
    >>> np.array_equal(again.predict(np.ones((1, 3))), model.predict(np.ones((1, 3))))
    True
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy

from nerve.blocks import losses, optimizers
from nerve.blocks.layers.base import deserialize as deserialize_layer
from nerve.blocks.layers.base import serialize as serialize_layer
from nerve.engine import random as nerve_random
from nerve.engine import registry
from nerve.engine.backend import to_numpy
from nerve.engine.registry import (
    UnknownObjectError,
    custom_object_scope,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    register_serializable,
)

__all__ = [
    "UnknownObjectError", "custom_object_scope", "get_registered_name", "get_registered_object",
    "register_keras_serializable", "register_serializable",
    "FORMAT", "VERSION",
    "CorruptFileError", "atomic_write", "save_weights", "load_weights", "save_model", "load_model",
]

FORMAT = "nerve-model"
VERSION = 1


class CorruptFileError(ValueError):
    """Raised when a model or weights file is truncated, corrupted or not a nerve file.

    Example:
        >>> import os, tempfile, nerve
        >>> path = os.path.join(tempfile.mkdtemp(), "broken.nerve")
        >>> _ = open(path, "wb").write(b"not a zip")
        >>> try:
        ...     nerve.load_model(path)
        ... except CorruptFileError as error:
        ...     print(type(error).__name__)
        CorruptFileError
    """


# ------------------------------------------------------------------ helpers
def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` atomically: temporary file in the same folder, fsync, rename.

    A crash or a kill mid-write leaves the previous file as it was. The file keeps the mode of the one it
    replaces (a new file gets the usual mode under the umask); writing through a symbolic link replaces
    the link's target, not the link. Temporary files left by a writer that was killed (their names carry
    the writer's process id) are removed by the next write to the same folder.

    Example:
        >>> import os, tempfile
        >>> p = os.path.join(tempfile.mkdtemp(), "x.bin")
        >>> atomic_write(p, b"abc"); open(p, "rb").read()
        b'abc'
    """
    path = os.path.realpath(os.fspath(path))  # through a symlink: the target is replaced, the link stays
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temporaries(folder, os.path.basename(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{os.getpid()}-", suffix="-" + os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask():
    """The process's umask, read without changing it where the system says it (Linux), else set and restored."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def _remove_stale_temporaries(folder, name):
    """Delete ``.tmp-<pid>-*-<name>`` files of writers that no longer run (killed mid-write)."""
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(".tmp-") and entry.endswith("-" + name)):
            continue
        pid = entry[len(".tmp-"):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)  # still running: its write is in progress
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(folder, entry))
            except OSError:
                pass
        except OSError:  # exists but not ours to signal: leave it
            continue


def _weights_by_key(model):
    """{relative path: weight tensor}, the keys of the weights file (``dense/kernel``), each path once."""
    out = {}
    prefix = model.name + "/"
    for path, weight, _ in model.named_weights():
        key = path[len(prefix):] if path.startswith(prefix) else path
        if key in out:
            raise ValueError(f"two weights share the path '{key}'; give the layers unique names")
        out[key] = weight
    return out


def _weight_dict(model):
    """{relative path: array} for every weight of the model."""
    return {key: numpy.ascontiguousarray(weight.numpy()) for key, weight in _weights_by_key(model).items()}


def _safetensors_bytes(arrays, metadata=None):
    from safetensors.numpy import save

    # the weights' order, so a rebuilt model whose layers got other automatic names can still load them by position
    return save(arrays, metadata={**(metadata or {}), "order": json.dumps(list(arrays))})


def _saved_order(data):
    """The weight keys in saving order, from the safetensors header's metadata (None if absent)."""
    try:
        size = int.from_bytes(data[:8], "little")
        return json.loads(json.loads(data[8:8 + size])["__metadata__"]["order"])
    except (ValueError, KeyError, TypeError):
        return None


def _safetensors_load(data, what):
    from safetensors.numpy import load

    try:
        return load(data)
    except Exception as error:  # safetensors raises its own error types
        raise CorruptFileError(f"{what}: the weights data is truncated or corrupted ({error})") from None


def _assign_weights(model, arrays, source, order=None, exact_dtype=False):
    expected = _weights_by_key(model)
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if (missing or unexpected) and order is not None and sorted(order) == sorted(arrays) and len(order) == len(expected):
        arrays = {key: arrays[saved] for key, saved in zip(expected, order)}  # same architecture, other layer names
        missing = unexpected = []
    if missing or unexpected:
        raise ValueError(
            f"{source}: the saved weights do not match model '{model.name}': missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for key, weight in expected.items():
        array = arrays[key]
        if array.shape != weight.shape:
            raise ValueError(f"{source}: weight '{key}' has shape {array.shape} in the file but {weight.shape} in the model")
        if array.dtype.kind != weight.dtype.kind or (exact_dtype and array.dtype != weight.dtype):
            # a model file builds its layers with the dtypes it was saved with: another dtype was put there by hand
            raise CorruptFileError(f"{source}: weight '{key}' is {array.dtype} in the file but {weight.dtype} in the model")
        if array.dtype.kind == "f" and not numpy.isfinite(array).all():
            raise CorruptFileError(f"{source}: weight '{key}' holds NaN or infinite values")
        weight.data[...] = weight.xp.asarray(array)  # copied to the weight's device


def _ensure_built(model, build_input_shape):
    if model.built and all(layer.built for layer in model.layers):
        return
    if build_input_shape is None:
        raise ValueError(
            f"model '{model.name}' is not built, so its weights do not exist yet: call it on a batch of data "
            "(or model.build(input_shape)) before loading weights"
        )
    model.build(tuple(build_input_shape))


# ------------------------------------------------------------------ weights
def save_weights(model, path):
    """Save the model's weights to a safetensors file (atomic).

    Example:
        >>> import os, tempfile, numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([layers.Dense(1)]); _ = m(np.ones((1, 2)))
        >>> save_weights(m, os.path.join(tempfile.mkdtemp(), "w.safetensors"))
    """
    atomic_write(path, _safetensors_bytes(_weight_dict(model), {"format": "nerve-weights"}))


def load_weights(model, path):
    """Load weights from a safetensors file written by :func:`save_weights` or from a full model file.

    Example:
        >>> import os, tempfile, numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors"); save_weights(m, path)
        >>> twin = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]); load_weights(twin, path)
        >>> np.array_equal(twin.get_weights()[0], m.get_weights()[0])
        True
    """
    path = os.fspath(path)
    data = _read(path)
    if data[:4] == b"PK\x03\x04":  # a model file (a zip); a weights file starts with its header size
        archive = _open_archive(path, data)
        config = _read_config(archive, path)
        _ensure_built(model, config.get("build_input_shape"))
        data = _member(archive, "model.safetensors", path)
    else:
        _ensure_built(model, None)
    arrays = _safetensors_load(data, path)
    _assign_weights(model, arrays, path, _saved_order(data))


# -------------------------------------------------------------------- model
def _compile_config(model):
    if not getattr(model, "_compiled", False):
        return None

    def loss_config(spec):
        if isinstance(spec, str):
            return spec
        if isinstance(spec, (list, tuple)):
            return [loss_config(s) for s in spec]
        if isinstance(spec, dict):
            return {k: loss_config(v) for k, v in spec.items()}
        if hasattr(spec, "get_config"):
            return losses.serialize(spec)
        return None

    loss = loss_config(model._loss_spec)
    metrics = model._metric_spec if _only_names(model._metric_spec) else None
    return {
        "optimizer": optimizers.serialize(model.optimizer),
        "loss": loss,
        "metrics": metrics,
        "loss_weights": model._loss_weights,
    } if loss is not None else None


def _only_names(spec):
    """True for metric names and lists/dicts of them (per-output metrics), which JSON holds as they are."""
    if isinstance(spec, str):
        return True
    if isinstance(spec, (list, tuple)):
        return all(_only_names(s) for s in spec)
    if isinstance(spec, dict):
        return all(_only_names(s) for s in spec.values())
    return False


def save_model(model, path, include_optimizer=True, epoch=None, callback_states=None):
    """Save architecture, weights, compile settings and (optionally) optimizer state to one zip file.

    ``epoch`` marks a checkpoint: the file then also records nerve's random
    state and ``callback_states`` (what ``ModelCheckpoint`` collects from callbacks
    such as ``ReduceLROnPlateau`` and ``EarlyStopping``), so a run resumed from it
    is bit-identical to an uninterrupted one.

    Example:
        >>> import os, tempfile, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> save_model(m, os.path.join(tempfile.mkdtemp(), "m.nerve"))
    """
    try:
        architecture = serialize_layer(model)
    except NotImplementedError as error:
        raise ValueError(str(error)) from None
    config = {
        "format": FORMAT,
        "version": VERSION,
        "model": architecture,
        "build_input_shape": model.build_input_shape if model.built else None,
        "compile": _compile_config(model),
    }
    files = {"model.safetensors": _safetensors_bytes(_weight_dict(model))}
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and optimizer.params:
        state = optimizer.state_dict()
        arrays = {}
        for slot, values in state["slots"].items():
            for i, value in enumerate(values):
                if value is not None:
                    arrays[f"{slot}/{i}"] = numpy.ascontiguousarray(to_numpy(value))  # device state copied to the host
        files["optimizer.safetensors"] = _safetensors_bytes(arrays)
        config["optimizer_state"] = {"iterations": int(state["iterations"]), "config": state.get("config"),
                                     "slots": {k: len(v) for k, v in state["slots"].items()}}
        paths = {id(weight): key for key, weight in _weights_by_key(model).items()}
        owners = [paths.get(id(param)) for param in optimizer.params]
        if all(owner is not None for owner in owners):  # which weight each slot entry belongs to
            config["optimizer_state"]["params"] = owners
    if epoch is not None:
        config["training_state"] = {"epoch": int(epoch), "random_state": nerve_random.get_state(),
                                    "callbacks": callback_states or {}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", json.dumps(config, indent=1))
        for name, payload in files.items():
            archive.writestr(name, payload)
    atomic_write(path, buffer.getvalue())


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at '{path}'") from None


#: The members a model file may hold, and the most bytes nerve reads from each (a file whose entries claim
#: more is refused before anything is decompressed).
_MEMBERS = {"config.json": 16 << 20, "model.safetensors": 1 << 40, "optimizer.safetensors": 1 << 40}


def _open_archive(path, data):
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as error:
        raise CorruptFileError(f"cannot load '{path}': the file is truncated or corrupted, or not a nerve model file ({error})") from None
    names = [info.filename for info in infos]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise CorruptFileError(f"cannot load '{path}': the archive holds {duplicates} more than once")
    for info in infos:
        if info.filename not in _MEMBERS:
            raise CorruptFileError(f"cannot load '{path}': unexpected member {info.filename[:80]!r} (a nerve model file "
                                   f"holds {', '.join(_MEMBERS)})")
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            raise CorruptFileError(f"cannot load '{path}': member '{info.filename}' is compressed or encrypted; nerve "
                                   "writes its members stored, and reads only those")
        if info.file_size > _MEMBERS[info.filename] or info.file_size > len(data):
            raise CorruptFileError(f"cannot load '{path}': member '{info.filename}' claims {info.file_size} bytes, more "
                                   "than the file holds")
    try:
        bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, RuntimeError) as error:
        raise CorruptFileError(f"cannot load '{path}': the file is truncated or corrupted ({error})") from None
    if bad is not None:
        raise CorruptFileError(f"cannot load '{path}': member '{bad}' is truncated or corrupted (checksum mismatch)")
    return archive


def _member(archive, name, path):
    try:
        return archive.read(name)
    except KeyError:
        raise CorruptFileError(f"cannot load '{path}': '{name}' is missing from the archive") from None
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise CorruptFileError(f"cannot load '{path}': '{name}' is truncated or corrupted ({error})") from None


def _read_config(archive, path):
    try:
        config = json.loads(_member(archive, "config.json", path).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise CorruptFileError(f"cannot load '{path}': config.json is not valid JSON ({type(error).__name__}: "
                               f"{str(error)[:200]})") from None
    if not isinstance(config, dict):
        raise CorruptFileError(f"cannot load '{path}': config.json holds a {type(config).__name__}, not an object")
    if config.get("format") != FORMAT:
        raise CorruptFileError(f"cannot load '{path}': not a nerve model file (format {str(config.get('format'))[:80]!r})")
    version = config.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise CorruptFileError(f"cannot load '{path}': the file version must be a non-negative integer, "
                               f"got {str(version)[:40]!r}")
    if version > VERSION:
        raise ValueError(f"cannot load '{path}': written by a newer nerve (file version {version}, this nerve reads {VERSION})")
    return config


def load_model(path, custom_objects=None, compile=True, restore_random_state=True, safe_mode=True):  # noqa: A002
    """Load a model saved with ``model.save``: architecture, weights, compile settings, optimizer state.

    The file is data: every class or function it names is looked up in nerve's registry (built-ins,
    classes registered with :func:`register_serializable`, and ``custom_objects``), never imported.
    An unknown name raises :class:`UnknownObjectError` saying how to register it.

    When the file is a checkpoint (written by ``ModelCheckpoint``) and
    ``restore_random_state`` is True, nerve's random generator is set back to
    its state at that epoch, so ``fit(..., initial_epoch=...)`` continues the
    run exactly. ``model.initial_epoch`` holds the checkpoint's epoch (0 otherwise).

    Args:
        path: the model file.
        custom_objects: ``{name: class or function}`` for your own layers, losses... not registered globally.
        compile: restore the compile settings and the optimizer state.
        restore_random_state: for checkpoints, set nerve's random generator back to the saved state.
        safe_mode: accepted for Keras compatibility; loading is always safe (nothing in a file runs).

    Example:
        >>> import os, tempfile, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> p = os.path.join(tempfile.mkdtemp(), "m.nerve"); m.save(p)
        >>> type(load_model(p)).__name__
        'Sequential'
    """
    path = os.fspath(path)
    archive = _open_archive(path, _read(path))
    config = _read_config(archive, path)
    with registry.custom_object_scope(custom_objects):
        try:
            return _build_from_config(archive, config, path, compile, restore_random_state)
        except (registry.UnknownObjectError, CorruptFileError):
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError) as error:
            raise CorruptFileError(f"cannot load '{path}': its configuration does not describe a valid model "
                                   f"({type(error).__name__}: {str(error)[:300]})") from error


def _build_from_config(archive, config, path, compile, restore_random_state):  # noqa: A002
    architecture = config.get("model")
    if not isinstance(architecture, dict):
        raise CorruptFileError(f"cannot load '{path}': config.json has no model architecture")
    model = deserialize_layer(architecture)
    _ensure_built(model, config.get("build_input_shape"))
    _assign_weights(model, _safetensors_load(_member(archive, "model.safetensors", path), path), path, exact_dtype=True)
    compile_config = config.get("compile")
    if compile and compile_config:
        loss = _rebuild_loss(compile_config["loss"])
        model.compile(optimizer=optimizers.deserialize(compile_config["optimizer"]), loss=loss,
                      metrics=compile_config.get("metrics"), loss_weights=compile_config.get("loss_weights"))
        if "optimizer_state" in config:
            info = config["optimizer_state"]
            arrays = _safetensors_load(_member(archive, "optimizer.safetensors", path), path)
            params = len(info["params"]) if isinstance(info.get("params"), list) else len(model.trainable_weights)
            if not isinstance(info.get("slots"), dict) or not all(
                    isinstance(count, int) and 0 <= count <= params for count in info["slots"].values()):
                raise CorruptFileError(f"cannot load '{path}': the optimizer state has slot counts that do not fit "
                                       f"its {params} parameters")
            for key, value in arrays.items():
                if value.dtype.kind == "f" and not numpy.isfinite(value).all():
                    raise CorruptFileError(f"cannot load '{path}': optimizer slot '{key}' holds NaN or infinite values")
            slots = {name: [arrays.get(f"{name}/{i}") for i in range(count)] for name, count in info["slots"].items()}
            owners = info.get("params")
            if owners is not None:
                by_key = _weights_by_key(model)
                unknown = [key for key in owners if key not in by_key]
                if unknown:
                    raise CorruptFileError(f"cannot load '{path}': the optimizer state names weights the model does "
                                           f"not have: {unknown[:5]}")
                model.optimizer.build([by_key[key] for key in owners])
            else:
                model.optimizer.build(model.trainable_weights)
            model.optimizer.load_state_dict({"iterations": info["iterations"], "config": info.get("config"), "slots": slots})
    state = config.get("training_state")
    model.initial_epoch = state["epoch"] if state else 0
    model.resumed_callback_states = dict(state.get("callbacks") or {}) if state else None
    if state and restore_random_state:
        nerve_random.set_state(state["random_state"])
    return model


def _rebuild_loss(spec):
    if isinstance(spec, list):
        return [_rebuild_loss(s) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _rebuild_loss(v) for k, v in spec.items()}
    if isinstance(spec, dict):
        return losses.deserialize(spec)
    return losses.get(spec)
