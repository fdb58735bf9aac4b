"""Keras's ``keras.utils`` on nerve: the everyday helpers under the names Keras programs use.

Most are nerve's own functions under their Keras names (``to_categorical`` is
:func:`nerve.data.to_categorical`, ``pad_sequences`` is :func:`nerve.sequence.pad_sequences`,
``plot_model`` draws with :mod:`nerve.diagnostics`); the rest are here: ``normalize``,
``set_random_seed``, ``split_dataset``, ``Progbar``, ``get_file`` (download once into a cache folder,
checked against a SHA-256 or MD5 hash, archives extracted safely), ``pack_x_y_sample_weight``...

Examples:
    >>> import numpy as np
    >>> from nerve import utils
    >>> utils.to_categorical([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    >>> utils.normalize(np.array([[3.0, 4.0]])).tolist()
    [[0.6, 0.8]]
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import random as _python_random
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import numpy

from nerve.blocks.layers.base import Layer
from nerve.engine import random as nerve_random
from nerve.engine.backend import to_numpy
from nerve.engine.config import clear_session, is_keras_tensor, standardize_dtype
from nerve.engine.nest import flatten
from nerve.blocks import activations, constraints, initializers, losses, metrics, optimizers, regularizers, schedules
from nerve.blocks.layers import base as layer_base
from nerve.engine.registry import custom_object_scope, get_custom_objects, get_registered_name, get_registered_object
from nerve.engine.registry import register_keras_serializable
from nerve.engine.tensor import Tensor
from nerve.tools.diagnostics.graph import draw_graph, to_dot
from nerve.training.data import to_categorical
from nerve.training.sequence import pad_sequences
from nerve.training import callbacks

__all__ = [
    "to_categorical", "normalize", "set_random_seed", "pad_sequences", "split_dataset", "plot_model", "Progbar",
    "get_file", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "timeseries_dataset_from_array",
    "custom_object_scope", "CustomObjectScope", "get_registered_name", "get_registered_object",
    "register_keras_serializable", "clear_session", "is_keras_tensor", "standardize_dtype",
    "get_source_inputs", "format_line", "get_custom_objects", "serialize_keras_object", "deserialize_keras_object",
    "model_to_dot", "PyDataset", "Sequence",
]

#: Keras's class-style name of :func:`custom_object_scope`
CustomObjectScope = custom_object_scope


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero vectors stay zero), as a NumPy array.

    Examples:
        >>> normalize(numpy.array([[1.0, -3.0]]), order=1).tolist()
        [[0.25, -0.75]]
    """
    values = to_numpy(x.data) if isinstance(x, Tensor) else numpy.asarray(x)
    values = values if values.dtype.kind == "f" else values.astype("float32")
    norm = numpy.atleast_1d(numpy.linalg.norm(values, ord=order, axis=axis))
    norm[norm == 0] = 1
    return values / numpy.expand_dims(norm, axis)


def set_random_seed(seed):
    """Seed every generator a program uses: nerve's (weights, dropout, shuffling), NumPy's global one and Python's.

    Examples:
        >>> import nerve
        >>> set_random_seed(3); a = nerve.layers.Dense(2)(numpy.ones((1, 2))).tolist()
        >>> set_random_seed(3); b = nerve.layers.Dense(2)(numpy.ones((1, 2))).tolist()
        >>> a == b
        True
    """
    if not isinstance(seed, (int, numpy.integer)) or isinstance(seed, bool):
        raise ValueError(f"set_random_seed: expected an integer seed, got {seed!r}")
    nerve_random.seed(int(seed))
    numpy.random.seed(int(seed) % (2 ** 32))
    _python_random.seed(int(seed))


def _size(value, total, name):
    if value is None:
        return None
    if isinstance(value, float):
        if not 0 < value < 1:
            raise ValueError(f"split_dataset: {name} as a fraction must be between 0 and 1, got {value}")
        return int(round(value * total))
    if isinstance(value, (int, numpy.integer)) and not isinstance(value, bool):
        if not 0 < value <= total:
            raise ValueError(f"split_dataset: {name}={value} is not between 1 and the {total} samples")
        return int(value)
    raise TypeError(f"split_dataset: {name} must be a float fraction or an int count, got {value!r}")


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split arrays (one, or a tuple/list/dict of them with the same first axis) in two along the samples.

    Args:
        left_size: a fraction (float in (0, 1)) or a count (int); one may be None (the rest).
        right_size: a fraction (float in (0, 1)) or a count (int); one may be None (the rest).
        shuffle: shuffle the samples first (with ``seed``), the same permutation for every array.

    Returns ``(left, right)``, each of the same structure as ``dataset``.

    Examples:
        >>> x, y = numpy.arange(10).reshape(5, 2), numpy.arange(5)
        >>> (x_train, y_train), (x_test, y_test) = split_dataset((x, y), left_size=0.8)
        >>> x_train.shape, y_test.tolist()
        ((4, 2), [4])
    """
    if isinstance(dataset, dict):
        keys, arrays = list(dataset), [numpy.asarray(v) for v in dataset.values()]
    elif isinstance(dataset, (tuple, list)):
        keys, arrays = None, [numpy.asarray(v) for v in dataset]
    else:
        keys, arrays = None, [numpy.asarray(dataset)]
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise ValueError(f"split_dataset: the arrays hold different numbers of samples {sorted(lengths)}")
    total = lengths.pop()
    left, right = _size(left_size, total, "left_size"), _size(right_size, total, "right_size")
    if left is None and right is None:
        raise ValueError("split_dataset: give left_size or right_size (a fraction or a count)")
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total or left <= 0 or right <= 0:
        raise ValueError(f"split_dataset: sizes {left} + {right} do not fit the {total} samples with both sides "
                         "non-empty")
    order = numpy.random.default_rng(seed).permutation(total) if shuffle else numpy.arange(total)
    parts = ([a[order[:left]] for a in arrays], [a[order[left:left + right]] for a in arrays])

    def rebuild(part):
        if keys is not None:
            return dict(zip(keys, part))
        if isinstance(dataset, (tuple, list)):
            return type(dataset)(part)
        return part[0]

    return rebuild(parts[0]), rebuild(parts[1])


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=True,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               **kwargs):
    """Draw a model's layer graph to ``to_file`` (``.png``, ``.svg``, ``.pdf`` with Graphviz's ``dot``; ``.dot`` always).

    nerve's drawing shows each layer's name, type, output shape and parameter count; the ``show_*``,
    ``expand_nested`` and ``dpi`` arguments are accepted for Keras programs. Returns the path written.

    Examples:
        >>> import os, tempfile, nerve
        >>> model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(2, name="out")])
        >>> path = plot_model(model, to_file=os.path.join(tempfile.mkdtemp(), "model.dot"))
        >>> "out" in open(path).read()
        True
    """
    if not isinstance(model, Layer):
        raise TypeError(f"plot_model expects a nerve Model, got {type(model).__name__}")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"plot_model: rankdir must be 'TB' or 'LR', got {rankdir!r}")
    return draw_graph(model, to_file, detail="layers", rankdir=rankdir)


def format_line(parts, width):
    """Join ``parts`` with ``" - "`` into lines of at most ``width`` characters, never cutting a part
    (the progress bar's layout: ``fit``'s ``ProgbarLogger`` wraps its metrics the same way).

    Examples:
        >>> format_line(["4/10", "loss: 1.0352", "accuracy: 0.5000"], 30)
        ['4/10 - loss: 1.0352', '  accuracy: 0.5000']
    """
    return callbacks.wrap_parts(parts, width)


def _terminal_width(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size((80, 24)).columns


class Progbar:
    """Keras's progress bar: ``update(current, values)`` shows ``current/target``, a bar, ETA and running means.

    Args:
        target: total number of steps (None when unknown).
        width: the bar's width in characters; on a narrow terminal the bar shrinks, then goes, before any
            metric is cut off (metrics wrap onto a second line if they still do not fit).
        verbose: 1 for a live bar on a terminal (elsewhere only the final line), 2 for one line at the
            end, 0 for nothing.
        stateful_metrics: names whose values are shown as given, not averaged over the steps.
        unit_name: what one step is called (``"step"``).

    Values given as ``(name, value)`` pairs are averaged over the steps, weighted by how many steps
    each update covers, as Keras does.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = Progbar(4, verbose=2, stream=out)
        >>> bar.update(2, [("loss", 1.0)]); bar.update(4, [("loss", 2.0)])
        >>> out.getvalue().split(" - ")[0], round(bar.mean("loss"), 3)
        ('4/4 [====================]', 1.5)
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step",
                 stream=None):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self.stream = stream
        self._totals = {}  # name -> [weighted sum, steps] (or [value, 1] for stateful metrics)
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._lines = 0
        self._finished = False

    def _out(self):
        return self.stream or sys.stdout

    def mean(self, name):
        """The value shown for ``name``: the step-weighted mean, or the last value of a stateful metric."""
        total, count = self._totals[name]
        return total / max(count, 1)

    def update(self, current, values=None, finalize=None):
        """Record progress up to step ``current`` with ``(name, value)`` pairs; redraw if due.

        Examples:
            >>> import io
            >>> bar = Progbar(2, verbose=2, stream=io.StringIO())
            >>> bar.update(1, [("acc", 0.5)], finalize=False)
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        steps = max(current - self._seen, 1)
        for name, value in values or ():
            value = float(to_numpy(value.data) if isinstance(value, Tensor) else value)
            if name in self.stateful_metrics:
                self._totals[name] = [value, 1]
            else:
                total = self._totals.setdefault(name, [0.0, 0])
                total[0] += value * steps
                total[1] += steps
        self._seen = current
        now = time.time()
        if self.verbose == 0 or self._finished:
            return
        interactive = self.verbose == 1 and hasattr(self._out(), "isatty") and self._out().isatty()
        if not finalize and (not interactive or now - self._last_update < self.interval):
            return
        self._last_update = now
        self._draw(current, now, finalize, interactive)
        self._finished = finalize

    def add(self, n, values=None):
        """Advance by ``n`` steps.

        Examples:
            >>> import io
            >>> bar = Progbar(None, verbose=0); bar.add(3); bar.add(2); bar._seen
            5
        """
        self.update(self._seen + n, values)

    def _draw(self, current, now, finalize, interactive):
        out = self._out()
        width = _terminal_width(out) - 1
        elapsed = now - self._start
        if self.target is not None:
            count = f"{current}/{self.target}"
        else:
            count = f"{current}"
        if finalize:
            per_step = elapsed / max(current, 1)
            timing = f"{elapsed:.0f}s {per_step * 1000:.0f}ms/{self.unit_name}" if per_step < 1 else \
                f"{elapsed:.0f}s {per_step:.1f}s/{self.unit_name}"
        elif self.target is not None and current:
            timing = f"ETA: {(self.target - current) * elapsed / current:.0f}s"
        else:
            timing = f"{elapsed:.0f}s"
        metrics = []
        for name in self._totals:
            value = self.mean(name)
            metrics.append(f"{name}: {value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{name}: {value:.4e}")
        text = self._fit(count, timing, metrics, width)
        if interactive:
            clear = "\x1b[F\x1b[K" * (self._lines - 1) + "\r\x1b[K" if self._lines else "\r"
            out.write(clear + text + ("\n" if finalize else ""))
            self._lines = text.count("\n") + 1
        else:
            out.write(text + "\n")
        out.flush()

    def _fit(self, count, timing, metrics, width):
        """The progress line for ``width`` columns: the bar shrinks and goes before any metric is cut."""
        rest = " - ".join([timing] + metrics)
        bar_room = width - len(count) - len(rest) - 6  # " [" "] " " - "
        if self.target is not None and bar_room >= 5:
            bar_width = min(self.width, bar_room)
            done = int(bar_width * min(self._seen / self.target, 1)) if self.target else bar_width
            arrow = ">" if done < bar_width else ""
            bar = "=" * max(done - len(arrow), 0) + arrow + "." * (bar_width - done)
            return f"{count} [{bar}] - {rest}"
        return "\n".join(format_line([count, timing] + metrics, width))


def _hasher(file_hash, algorithm):
    if algorithm == "auto":
        algorithm = "sha256" if file_hash is not None and len(file_hash) == 64 else "md5"
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got {algorithm!r}")
    return algorithm


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(archive, destination, archive_format):
    """Extract a tar or zip archive, refusing members that would land outside ``destination``."""
    formats = ("tar", "zip") if archive_format in ("auto", None) else (
        (archive_format,) if isinstance(archive_format, str) else tuple(archive_format))
    destination = os.path.realpath(destination)
    for kind in formats:
        if kind == "tar" and tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tar:
                for member in tar.getmembers():
                    target = os.path.realpath(os.path.join(destination, member.name))
                    if not (target == destination or target.startswith(destination + os.sep)) or \
                            member.issym() or member.islnk() or member.isdev():
                        raise ValueError(f"get_file: archive member {member.name!r} of {archive} is a link, a "
                                         "device or points outside the extraction folder; nothing extracted")
                tar.extractall(destination)  # noqa: S202 - every member was checked above
            return True
        if kind == "zip" and zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                for name in handle.namelist():
                    target = os.path.realpath(os.path.join(destination, name))
                    if not (target == destination or target.startswith(destination + os.sep)):
                        raise ValueError(f"get_file: archive member {name!r} of {archive} points outside the "
                                         "extraction folder; nothing extracted")
                handle.extractall(destination)
            return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Download ``origin`` once into a cache folder and return the local path (Keras's ``get_file``).

    The file goes to ``cache_dir/cache_subdir/fname``; ``cache_dir`` defaults to ``$NERVE_HOME`` or
    ``~/.cache/nerve`` (nerve's datasets live in its ``datasets`` folder too). A cached file is used as
    it is, unless ``file_hash`` (SHA-256 or MD5 hex digest; ``hash_algorithm="auto"`` tells them apart
    by length) does not match it: then it is downloaded again. A download whose hash does not match
    is deleted and raises ``ValueError``. ``extract=True`` unpacks a tar or zip archive (members that
    would land outside the folder are refused) and returns the folder.

    Examples:
        >>> import hashlib, os, pathlib, tempfile
        >>> source = pathlib.Path(tempfile.mkdtemp(), "data.txt"); _ = source.write_text("hello")
        >>> digest = hashlib.sha256(b"hello").hexdigest()
        >>> path = get_file(origin=source.as_uri(), file_hash=digest, cache_dir=tempfile.mkdtemp())
        >>> os.path.basename(path), open(path).read()
        ('data.txt', 'hello')
    """
    if origin is None:
        raise ValueError('get_file: give the URL to download, e.g. get_file(origin="https://.../data.zip")')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = _hasher(file_hash, hash_algorithm) if file_hash is not None else None
    if cache_dir is None:
        cache_dir = os.environ.get("NERVE_HOME") or pathlib.Path.home() / ".cache" / "nerve"
    folder = pathlib.Path(cache_dir).expanduser() / cache_subdir
    folder.mkdir(parents=True, exist_ok=True)
    provided = fname is not None
    if fname is None:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname or fname in (os.curdir, os.pardir):
            raise ValueError(f"get_file: cannot take a file name from the origin {origin!r}; give fname=")
    elif os.sep in os.fspath(fname) or (os.altsep and os.altsep in os.fspath(fname)):
        raise ValueError(f"get_file: fname must be a file name, not a path (got {fname!r}); "
                         "choose the folder with cache_dir=")
    fname = os.fspath(fname)
    if extract or untar:
        if provided and "." not in fname or not provided:
            extraction_dir, target = folder / fname, folder / f"{fname}_archive"
        else:
            extraction_dir, target = folder / f"{fname[:fname.find('.')]}_extracted", folder / fname
    else:
        target = folder / fname
    download = force_download or not target.exists()
    if not download and file_hash is not None and _file_digest(target, algorithm) != file_hash.lower():
        print(f"get_file: the cached {target} does not match its {algorithm} hash; downloading it again",
              file=sys.stderr)
        download = True
    if download:
        partial = target.with_name(target.name + ".part")
        try:
            with urllib.request.urlopen(origin, timeout=60) as response, open(partial, "wb") as handle:  # noqa: S310
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    handle.write(chunk)
        except (urllib.error.URLError, OSError, ValueError) as error:
            partial.unlink(missing_ok=True)
            raise OSError(f"get_file: could not download {origin}: {error}") from error
        if file_hash is not None and _file_digest(partial, algorithm) != file_hash.lower():
            actual = _file_digest(partial, algorithm)
            partial.unlink()
            raise ValueError(f"get_file: incomplete or corrupted download of {origin}: its {algorithm} is {actual}, "
                             f"expected {file_hash}")
        partial.replace(target)
    if extract or untar:
        if not _extract(os.fspath(target), os.fspath(extraction_dir), "tar" if untar else archive_format):
            raise ValueError(f"get_file: {target} is not a {archive_format if not untar else 'tar'} archive")
        return os.fspath(extraction_dir)
    return os.fspath(target)


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, leaving out the trailing Nones (Keras).

    Examples:
        >>> pack_x_y_sample_weight(1, 2)
        (1, 2)
    """
    if y is None:
        return (x,) if not isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch of 1 to 3 items (missing ones are None).

    Examples:
        >>> unpack_x_y_sample_weight((1, 2))
        (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"unpack_x_y_sample_weight: expected 1 to 3 items (x, y, sample_weight), got {len(data)}")


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None):
    """Sliding windows over a time series, as a list of ``(windows, targets)`` batches (Keras's semantics).

    Window ``i`` holds ``data[s, s + sampling_rate, ..., s + (sequence_length - 1) * sampling_rate]`` with
    ``s = start_index + i * sequence_stride``; its target is ``targets[s]`` (pass ``targets=None`` for
    windows only). Windows are gathered with one fancy index, not a Python loop.

    Examples:
        >>> batches = timeseries_dataset_from_array(numpy.arange(10), numpy.arange(10) * 10, sequence_length=3,
        ...                                          batch_size=4)
        >>> windows, target = batches[0]
        >>> windows[1].tolist(), target.tolist(), len(batches)
        ([1, 2, 3], [0, 10, 20, 30], 2)
    """
    data = numpy.asarray(data)
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    span = (sequence_length - 1) * sampling_rate
    count = (end - start - span - 1) // sequence_stride + 1
    if count <= 0:
        return []
    starts = start + numpy.arange(count) * sequence_stride
    if shuffle:
        starts = numpy.random.default_rng(seed).permutation(starts)
    windows = data[starts[:, None] + numpy.arange(sequence_length) * sampling_rate]
    labels = numpy.asarray(targets)[starts] if targets is not None else None
    step = len(starts) if batch_size is None else batch_size
    batches = []
    for begin in range(0, len(starts), step):
        chunk = windows[begin:begin + step]
        batches.append(chunk if labels is None else (chunk, labels[begin:begin + step]))
    return batches


def get_source_inputs(tensor):
    """The :func:`nerve.Input` tensors a functional-API tensor is computed from.

    Examples:
        >>> import nerve
        >>> a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(2,))
        >>> get_source_inputs(nerve.layers.add([a, b])) == [a, b]
        True
    """
    found, seen, stack = [], set(), [tensor]
    while stack:
        s = stack.pop()
        if id(s.node) in seen:
            continue
        seen.add(id(s.node))
        if s.node.inputs is None:
            found.append(s)
        else:
            stack.extend(reversed(flatten(s.node.inputs)))
    return found


# what serialize_keras_object records as "module": the namespace whose deserialize rebuilds the object
_KINDS = (
    ("nerve.layers", layer_base.Layer, layer_base.serialize, layer_base.deserialize),
    ("nerve.losses", losses.Loss, losses.serialize, losses.deserialize),
    ("nerve.metrics", metrics.Metric, metrics.serialize, metrics.deserialize),
    ("nerve.optimizers", optimizers.Optimizer, optimizers.serialize, optimizers.deserialize),
    ("nerve.schedules", schedules.LearningRateSchedule, schedules.serialize, schedules.deserialize),
    ("nerve.initializers", initializers.Initializer, initializers.serialize, initializers.deserialize),
    ("nerve.regularizers", regularizers.Regularizer, regularizers.serialize, regularizers.deserialize),
    ("nerve.constraints", constraints.Constraint, constraints.serialize, constraints.deserialize),
)


def serialize_keras_object(obj):
    """A JSON-ready ``{"module", "class_name", "config"}`` of a layer, model, loss, metric, optimizer, schedule,
    initializer, regularizer or constraint; a built-in or registered activation function gives its name.

    Examples:
        >>> import nerve
        >>> serialize_keras_object(nerve.optimizers.SGD(0.1))["class_name"]
        'SGD'
        >>> serialize_keras_object(nerve.activations.relu)
        'relu'
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    for module, base, serialize, _ in _KINDS:
        if isinstance(obj, base):
            return {"module": module, **serialize(obj)}
    if callable(obj):
        return activations.serialize(obj)
    raise TypeError(f"serialize_keras_object: cannot serialize a {type(obj).__name__}; nerve serializes layers, "
                    "models, losses, metrics, optimizers, schedules, initializers, regularizers, constraints and "
                    "activations")


def deserialize_keras_object(config, custom_objects=None, **kwargs):
    """Rebuild what :func:`serialize_keras_object` wrote (by its ``module``; without one, the first kind that
    knows the class name, layers first). Nothing is imported: only built-in or registered names load.

    Examples:
        >>> import nerve
        >>> config = serialize_keras_object(nerve.layers.Dense(3, name="d"))
        >>> deserialize_keras_object(config).units
        3
    """
    if isinstance(config, str):
        return activations.get(config)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize_keras_object: expected a dict with 'class_name', got {config!r:.100}")
    entry = {k: v for k, v in config.items() if k in ("class_name", "config")}
    kinds = [k for k in _KINDS if k[0] == config.get("module")] or list(_KINDS)
    last_error = None
    for _, _, _, deserialize in kinds:
        try:
            return deserialize(entry, custom_objects=custom_objects)
        except (ValueError, TypeError, KeyError) as error:  # UnknownObjectError is a ValueError/KeyError kind
            last_error = error
    raise ValueError(f"deserialize_keras_object: no kind of object is named {config['class_name']!r} "
                     f"({last_error})")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True, rankdir="TB",
                 expand_nested=False, dpi=200, subgraph=False, show_layer_activations=False, show_trainable=False,
                 **kwargs):
    """The Graphviz DOT text of a model's layer graph (:func:`plot_model` renders it); Keras returns a pydot
    graph, nerve the text (``pydot.graph_from_dot_data(text)`` makes one).

    Examples:
        >>> import nerve
        >>> model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(2, name="out")])
        >>> model_to_dot(model).startswith("digraph")
        True
    """
    return to_dot(model, detail="layers", rankdir=rankdir)


class PyDataset:
    """Keras's base class of batch generators: define ``__len__`` (the number of batches) and ``__getitem__``
    (batch ``index`` as ``(x, y)`` or ``(x, y, sample_weight)``); ``fit``, ``evaluate`` and ``predict`` take it as
    ``x``. ``on_epoch_end`` runs after each full pass (shuffle there).

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted for Keras programs; batches are read
    in the training thread (use :class:`nerve.data.DataLoader` for worker processes).

    Examples:
        >>> import numpy as np, nerve
        >>> class Squares(PyDataset):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.x = np.arange(8.0).reshape(8, 1)
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, index):
        ...         x = self.x[2 * index:2 * index + 2]
        ...         return x, x ** 2
        >>> model = nerve.Sequential([nerve.Input(shape=(1,)), nerve.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> len(model.fit(Squares(), epochs=2, verbose=0).history["loss"])
        2
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning one batch")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__() returning the number of batches")

    @property
    def num_batches(self):
        """``len(self)``, Keras's name."""
        return len(self)

    def on_epoch_begin(self):
        """Called before each pass over the batches."""

    def on_epoch_end(self):
        """Called after each full pass over the batches."""

    def __iter__(self):
        self.on_epoch_begin()
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()


#: Keras 2's name of :class:`PyDataset`
Sequence = PyDataset
