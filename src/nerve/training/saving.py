"""Saving and loading models: JSON for the architecture, safetensors for the arrays, no pickle.

A model file (``model.save("digits.nerve")``) is a zip archive with:

* ``config.json``: the architecture (layer classes and their constructor
  arguments), the compile settings and, for checkpoints, the epoch and nerve's
  random-generator state;
* ``model.safetensors``: the weights, keyed by layer path (``dense/kernel``);
* ``optimizer.safetensors``: the optimizer's slots (momentum, Adam moments...);
* ``manifest.json``: the size and SHA-256 of each other entry (format version 2), checked on load, so
  damage that the zip CRC misses is caught. Files of version 1 (no manifest) still load.

Loading reads data only: layer classes are looked up by name in a registry
(``@nerve.layers.register``), never imported or executed from the file. Every
write goes to a temporary file first and is renamed over the target, so a
crash mid-save never leaves a half-written file in place of a good one.

A file is checked before it is used: its zip structure (no duplicate, compressed, encrypted or
unexpected entries), the size of each entry and of all of them, the depth and length of its JSON,
the number of tensors and each tensor's dtype, shape and byte range, compared with the model's
weights before any tensor is read. The limits are :class:`LoadLimits`, overridable with
``load_model(path, limits=LoadLimits(...))``; every failure is a :class:`CorruptFileError`
(:class:`LimitExceededError` and :class:`IntegrityError` are kinds of it).

Examples:
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

import dataclasses
import hashlib
import io
import json
import math
import os
import struct
import tempfile
import zipfile

import numpy

from nerve.blocks import losses, optimizers
from nerve.blocks.layers.base import WeightBudgetError, weight_budget
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
    "FORMAT", "VERSION", "LoadLimits",
    "CorruptFileError", "LimitExceededError", "IntegrityError", "atomic_write", "save_weights", "load_weights", "save_model", "load_model",
]

FORMAT = "nerve-model"
#: The format version nerve writes. Version 2 added ``manifest.json`` (SHA-256 of every entry); files of
#: version 1, which have none, still load, checked by the zip CRCs only.
VERSION = 2
_MANIFEST = "manifest.json"


class CorruptFileError(ValueError):
    """Raised when a model or weights file is truncated, corrupted or not a nerve file.

    Examples:
        >>> import os, tempfile, nerve
        >>> path = os.path.join(tempfile.mkdtemp(), "broken.nerve")
        >>> _ = open(path, "wb").write(b"not a zip")
        >>> try:
        ...     nerve.load_model(path)
        ... except CorruptFileError as error:
        ...     print(type(error).__name__)
        CorruptFileError
    """


class LimitExceededError(CorruptFileError):
    """Raised when a file goes past one of the :class:`LoadLimits`; ``entry`` and ``limit`` say where and which.

    Examples:
        >>> import os, tempfile, nerve
        >>> from nerve import layers
        >>> path = os.path.join(tempfile.mkdtemp(), "m.nerve")
        >>> nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]).save(path)
        >>> try:
        ...     nerve.load_model(path, limits=LoadLimits(max_json_bytes=64))
        ... except LimitExceededError as error:
        ...     print(error.entry, error.limit)
        config.json max_json_bytes
    """

    def __init__(self, message, entry=None, limit=None):
        super().__init__(message)
        self.entry = entry
        self.limit = limit


class IntegrityError(CorruptFileError):
    """Raised when an entry of a model file differs from the size and SHA-256 that its ``manifest.json`` records.

    The zip CRC catches most damage; the manifest also catches an entry changed and stored again with a
    valid CRC (a faulty copy tool, a hand edit).

    Examples:
        >>> import io, os, tempfile, zipfile, nerve
        >>> from nerve import layers
        >>> path = os.path.join(tempfile.mkdtemp(), "m.nerve")
        >>> nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]).save(path)
        >>> with zipfile.ZipFile(path) as archive:
        ...     entries = {name: archive.read(name) for name in archive.namelist()}
        >>> entries["model.safetensors"] = entries["model.safetensors"][:-1] + b"\\x7f"   # one byte of a weight
        >>> with zipfile.ZipFile(path, "w") as archive:                                # stored again: valid CRCs
        ...     for name, data in entries.items():
        ...         archive.writestr(name, data)
        >>> try:
        ...     nerve.load_model(path)
        ... except IntegrityError as error:
        ...     print(type(error).__name__)
        IntegrityError
    """


@dataclasses.dataclass(frozen=True)
class LoadLimits:
    """The most a model or weights file may hold; a file past a limit is refused with :class:`LimitExceededError`.

    Each size is checked before the bytes concerned are read or allocated: entry sizes from the zip
    directory, tensor sizes from the safetensors header (whose dtypes, shapes and byte ranges must
    also match the model's weights before any tensor is read). Pass your own to
    :func:`load_model` or :func:`load_weights` to load larger files, or to refuse smaller ones.

    Attributes:
        max_entry_bytes: each weights entry (``model.safetensors``, ``optimizer.safetensors``) and a
            weights file: 64 GiB.
        max_total_bytes: all entries of a model file together: 128 GiB.
        max_json_bytes: ``config.json``, ``manifest.json`` and each safetensors header: 16 MiB.
        max_json_depth: nesting of lists and objects in any of those JSON texts: 100 (checked
            before parsing).
        max_tensors: tensors in one safetensors entry or file: 100,000.
        max_build_elements: values in one sample of ``build_input_shape`` (the model is built by calling it
            on one such sample): 2**28 (1 GiB of float32). The weights the architecture creates are bounded
            too, by the size of the file's ``model.safetensors``, before they are allocated.

    Examples:
        >>> limits = LoadLimits(max_entry_bytes=1 << 30)   # refuse weights over 1 GiB
        >>> limits.max_entry_bytes, limits.max_json_depth
        (1073741824, 100)
    """

    max_entry_bytes: int = 64 << 30
    max_total_bytes: int = 128 << 30
    max_json_bytes: int = 16 << 20
    max_json_depth: int = 100
    max_tensors: int = 100_000
    max_build_elements: int = 1 << 28

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"LoadLimits: {field.name} must be a positive integer, got {value!r}")


def _limits(limits):
    if limits is None:
        return LoadLimits()
    if not isinstance(limits, LoadLimits):
        raise TypeError(f"limits must be a nerve.saving.LoadLimits (or None for the defaults), got {type(limits).__name__}")
    return limits


# ------------------------------------------------------------------ helpers
def atomic_write(path, data):
    """Write ``data`` (bytes) to ``path`` atomically: temporary file in the same folder, fsync, rename.

    A crash or a kill mid-write leaves the previous file as it was. The file keeps the mode of the one it
    replaces (a new file gets the usual mode under the umask); writing through a symbolic link replaces
    the link's target, not the link. Temporary files left by a writer that was killed (their names carry
    the writer's process id) are removed by the next write to the same folder.

    Examples:
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


def _safetensors_bytes(arrays, metadata=None, digest=False):
    """safetensors bytes of ``arrays``; ``digest``: with the SHA-256 of its own contents in the metadata."""
    from safetensors.numpy import save

    # the weights' order, so a rebuilt model whose layers got other automatic names can still load them by position
    metadata = {**(metadata or {}), "order": json.dumps(list(arrays))}
    data = save(arrays, metadata=metadata)
    if digest:  # the layout of the data does not depend on the metadata: the digest holds for the second save
        unlimited = LoadLimits(max_json_bytes=1 << 62, max_json_depth=1 << 62, max_tensors=1 << 62)  # our own bytes
        stored, table = _tensor_table(data, "weights", "(memory)", unlimited)
        metadata["sha256"] = _weights_digest(data, stored, table)
        data = save(arrays, metadata=metadata)
    return data


def _weights_digest(data, metadata, table):
    """SHA-256 of a weights file's contents: every tensor's name, dtype, shape and place, the metadata, the data.

    Everything the header says, written canonically (the header itself changes when the digest is added), so that
    a change to any of it, or to the data, is caught.
    """
    body = len(data) - sum(stop - start for _, _, start, stop in table.values())  # tensors tile the data exactly
    listing = sorted((name, dtype.str, list(shape), start - body) for name, (dtype, shape, start, _) in table.items())
    described = {"tensors": listing, "metadata": {k: v for k, v in metadata.items() if k != "sha256"}}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    digest.update(memoryview(data)[body:])
    return digest.hexdigest()


def _saved_order(metadata, source, limits):
    """The weight keys in saving order, from the safetensors header's metadata (None if the file has none)."""
    if "order" not in metadata:
        return None
    order = _parse_json(metadata["order"].encode(), "the weights' order metadata", source, limits)
    if not isinstance(order, list) or not all(isinstance(key, str) for key in order) or len(set(order)) != len(order):
        raise CorruptFileError(f"cannot load '{source}': the weights' order metadata must list distinct names, got "
                               f"{str(order)[:80]}")
    return order


# ---------------------------------------------------------- reading, checked
#: safetensors dtype names and the (little-endian) NumPy dtypes they hold
_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "I8": "|i1", "I16": "<i2", "I32": "<i4", "I64": "<i8",
           "U8": "|u1", "U16": "<u2", "U32": "<u4", "U64": "<u8", "BOOL": "|b1"}
_DTYPES = {name: numpy.dtype(code) for name, code in _DTYPES.items()}

#: errors the standard zipfile module raises on damaged archives
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError,
               RuntimeError, OverflowError, struct.error)


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _json_depth(raw, chunk=1 << 20):
    """The deepest nesting of lists and objects in the JSON text ``raw`` (bytes), brackets inside strings not counted.

    Vectorised over chunks, without parsing (so without recursion): a quote opens or closes a string unless an
    odd number of backslashes precedes it.
    """
    inside, depth, deepest, run_before = 0, 0, 0, 0
    for start in range(0, len(raw), chunk):
        b = numpy.frombuffer(raw, numpy.uint8, count=min(chunk, len(raw) - start), offset=start)
        index = numpy.arange(b.size, dtype=numpy.int64)
        backslash = b == 92
        last_other = numpy.maximum.accumulate(numpy.where(backslash, -1, index))
        run = index - last_other + numpy.where(last_other < 0, run_before, 0)  # backslashes ending at each byte
        previous = numpy.empty_like(run)
        previous[0], previous[1:] = run_before, run[:-1]
        quotes = numpy.cumsum((b == 34) & (previous % 2 == 0))
        in_string = (quotes + inside) % 2 == 1
        step = (b == 91).astype(numpy.int64) + (b == 123) - (b == 93) - (b == 125)
        step[in_string] = 0
        levels = numpy.cumsum(step) + depth
        deepest = max(deepest, int(levels.max()))
        depth, inside, run_before = int(levels[-1]), int(inside + quotes[-1]) % 2, int(run[-1])
    return deepest


def _parse_json(raw, entry, path, limits):
    """Parse the JSON entry ``raw`` after checking its length and depth against ``limits``."""
    if len(raw) > limits.max_json_bytes:
        raise LimitExceededError(f"cannot load '{path}': {entry} holds {len(raw)} bytes, more than "
                                 f"max_json_bytes={limits.max_json_bytes}", entry, "max_json_bytes")
    depth = _json_depth(raw)
    if depth > limits.max_json_depth:
        raise LimitExceededError(f"cannot load '{path}': {entry} nests lists and objects {depth} deep, more than "
                                 f"max_json_depth={limits.max_json_depth}", entry, "max_json_depth")
    try:
        return json.loads(bytes(raw).decode("utf-8"))
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise CorruptFileError(f"cannot load '{path}': {entry} is not valid JSON ({type(error).__name__}: "
                               f"{str(error)[:200]})") from None


def _tensor_table(data, entry, path, limits):
    """Check a safetensors entry's header and layout without reading a tensor.

    Returns ``(metadata, {name: (dtype, shape, start, stop)})``, the byte range of each tensor in ``data``.
    The tensors must tile the data exactly, as the safetensors format requires.
    """
    where = f"cannot load '{path}': {entry}"
    if len(data) < 8:
        raise CorruptFileError(f"{where} is truncated or corrupted: {len(data)} bytes, fewer than its 8-byte header size")
    size = int.from_bytes(data[:8], "little")
    if size > limits.max_json_bytes:
        raise LimitExceededError(f"{where}: its header claims {size} bytes, more than max_json_bytes="
                                 f"{limits.max_json_bytes}", entry, "max_json_bytes")
    if 8 + size > len(data):
        raise CorruptFileError(f"{where} is truncated or corrupted: its header claims {size} bytes, the entry holds "
                               f"{len(data) - 8}")
    raw = data[8:8 + size]
    listed = raw.count(b'"data_offsets"')  # an upper bound on the tensors, before parsing
    if listed > limits.max_tensors:
        raise LimitExceededError(f"{where}: its header lists {listed} tensors, more than "
                                 f"max_tensors={limits.max_tensors}", entry, "max_tensors")
    header = _parse_json(raw, f"{entry} (header)", path, limits)
    if not isinstance(header, dict):
        raise CorruptFileError(f"{where}: its header is a JSON {type(header).__name__}, expected an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptFileError(f"{where}: its header's __metadata__ must map strings to strings")
    if len(header) > limits.max_tensors:
        raise LimitExceededError(f"{where}: its header lists {len(header)} tensors, more than max_tensors="
                                 f"{limits.max_tensors}", entry, "max_tensors")
    body = 8 + size
    table, spans = {}, []
    for name, spec in header.items():
        shown = f"tensor {name[:80]!r}"
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
            raise CorruptFileError(f"{where}: {shown} needs exactly dtype, shape and data_offsets, got {str(spec)[:120]}")
        dtype = _DTYPES.get(spec["dtype"]) if isinstance(spec["dtype"], str) else None
        if dtype is None:
            raise CorruptFileError(f"{where}: {shown} has dtype {str(spec['dtype'])[:40]!r}, expected one of "
                                   f"{', '.join(_DTYPES)}")
        shape, offsets = spec["shape"], spec["data_offsets"]
        if not isinstance(shape, list) or len(shape) > 64 or not all(_is_count(n) for n in shape):
            raise CorruptFileError(f"{where}: {shown} has shape {str(shape)[:80]}, expected a list of at most 64 "
                                   "non-negative integers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_count(n) for n in offsets) \
                or offsets[0] > offsets[1]:
            raise CorruptFileError(f"{where}: {shown} has data_offsets {str(offsets)[:80]}, expected [begin, end] "
                                   "with 0 <= begin <= end")
        nbytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise CorruptFileError(f"{where}: {shown} of shape {tuple(shape)} and dtype {spec['dtype']} needs {nbytes} "
                                   f"bytes, its data_offsets span {offsets[1] - offsets[0]}")
        table[name] = (dtype, tuple(shape), body + offsets[0], body + offsets[1])
        spans.append((offsets[0], offsets[1], name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise CorruptFileError(f"{where}: tensor {name[:80]!r} starts at byte {begin} of the data, expected "
                                   f"{position} (tensors follow each other without gaps or overlaps)")
        position = end
    if body + position != len(data):
        raise CorruptFileError(f"{where} is truncated or corrupted: its tensors end at byte {position} of the data, "
                               f"the entry holds {len(data) - body}")
    return metadata, table


def _tensor(data, spec):
    """The tensor at ``spec = (dtype, shape, start, stop)`` of ``data``, a read-only view (checked by _tensor_table)."""
    dtype, shape, start, _ = spec
    return numpy.frombuffer(data, dtype, count=math.prod(shape), offset=start).reshape(shape)


def _check_finite(arrays, what, source, allow_nonfinite):
    if allow_nonfinite:
        return
    for key, array in arrays.items():
        if array.dtype.kind in "fc" and not numpy.isfinite(array).all():
            raise CorruptFileError(f"{source}: {what} '{key}' holds NaN or infinite values (pass "
                                   "allow_nonfinite=True to load them anyway)")


def _assign_weights(model, data, table, metadata, path, limits, model_file=False, allow_nonfinite=False):
    """Check every stored tensor against the model's weights (names, shapes, dtypes), then read and assign them.

    ``model_file``: the model was built from the same file, so a mismatch means the file is corrupt, and each
    dtype must be the layer's own (``load_weights`` into a model of another float width casts).
    """
    source = f"cannot load '{path}'"
    mismatch = CorruptFileError if model_file else ValueError
    expected = _weights_by_key(model)
    names = {key: key for key in expected}  # model key -> tensor name in the file
    missing = sorted(set(expected) - set(table))
    unexpected = sorted(set(table) - set(expected))
    order = _saved_order(metadata, path, limits)
    if (missing or unexpected) and order is not None and sorted(order) == sorted(table) and len(order) == len(expected):
        names = dict(zip(expected, order))  # same architecture, other layer names
        missing = unexpected = []
    if missing or unexpected:
        raise mismatch(
            f"{source}: the saved weights do not match model '{model.name}': missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    for key, weight in expected.items():
        dtype, shape, _, _ = table[names[key]]
        if shape != tuple(weight.shape):
            raise mismatch(f"{source}: weight '{key}' has shape {shape} in the file but {weight.shape} in the model")
        if dtype.kind != weight.dtype.kind or (model_file and dtype != weight.dtype):
            # a model file builds its layers with the dtypes it was saved with: another dtype was put there by hand
            raise CorruptFileError(f"{source}: weight '{key}' is {dtype} in the file but {weight.dtype} in the model")
    arrays = {key: _tensor(data, table[names[key]]) for key in expected}
    _check_finite(arrays, "weight", source, allow_nonfinite)
    for key, weight in expected.items():
        weight.data[...] = weight.xp.asarray(arrays[key])  # copied (and cast for load_weights) to the weight's device


def _ensure_built(model, build_input_shape):
    if model.built and all(layer.built for layer in model.layers):
        return
    if build_input_shape is None:
        raise ValueError(
            f"model '{model.name}' is not built, so its weights do not exist yet: call it on a batch of data "
            "(or model.build(input_shape)) before loading weights"
        )
    shape = tuple(build_input_shape)
    if shape and not isinstance(shape[0], (list, tuple)):
        shape = (None,) + shape[1:]  # built on one sample, whatever batch size the file names
    model.build(shape)


# ------------------------------------------------------------------ weights
def save_weights(model, path):
    """Save the model's weights to a safetensors file (atomic).

    Examples:
        >>> import os, tempfile, numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([layers.Dense(1)]); _ = m(np.ones((1, 2)))
        >>> save_weights(m, os.path.join(tempfile.mkdtemp(), "w.safetensors"))
    """
    atomic_write(path, _safetensors_bytes(_weight_dict(model), {"format": "nerve-weights", "version": str(VERSION)},
                                          digest=True))


def load_weights(model, path, *, limits=None, allow_nonfinite=False):
    """Load weights from a safetensors file written by :func:`save_weights` or from a full model file.

    The file's tensors must match the model's weights by name (or, for the same architecture with other
    layer names, by position), shape and kind; a float tensor of another width is cast to the weight's
    dtype (so float32 weights load into a float64 copy of the model for a gradient check).

    Args:
        model: the model to load into (built, or built from the model file's recorded input shape).
        path: a weights file or a model file.
        limits: a :class:`LoadLimits`; None uses the defaults.
        allow_nonfinite: load NaN or infinite values instead of raising :class:`CorruptFileError`.

    Examples:
        >>> import os, tempfile, numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors"); save_weights(m, path)
        >>> twin = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]); load_weights(twin, path)
        >>> np.array_equal(twin.get_weights()[0], m.get_weights()[0])
        True
    """
    limits = _limits(limits)
    path = os.fspath(path)
    with _open_file(path) as f:
        size = os.fstat(f.fileno()).st_size
        if f.read(4) == b"PK\x03\x04":  # a model file (a zip); a weights file starts with its header size
            f.seek(0)
            model_file = _ModelFile(f, size, path, limits)
            config = model_file.config()
            entry = "model.safetensors"
            data = model_file.read(entry)
            metadata, table = _tensor_table(data, entry, path, limits)
            _ensure_built(model, _build_input_shape(config, path))
        else:
            entry = "the weights file"
            if size > limits.max_entry_bytes:
                raise LimitExceededError(f"cannot load '{path}': the weights file holds {size} bytes, more than "
                                         f"max_entry_bytes={limits.max_entry_bytes}", entry, "max_entry_bytes")
            f.seek(0)
            data = f.read()
            metadata, table = _tensor_table(data, entry, path, limits)
            _verify_weights_file(data, metadata, table, path)
            _ensure_built(model, None)
    _assign_weights(model, data, table, metadata, path, limits, allow_nonfinite=allow_nonfinite)


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

    Examples:
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
    entries = {"config.json": json.dumps(config, indent=1).encode(), **files}
    entries[_MANIFEST] = _manifest_bytes(entries)  # last: it covers the others
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, payload in entries.items():
            archive.writestr(name, payload)
    atomic_write(path, buffer.getvalue())


def _verify_weights_file(data, metadata, table, path):
    """Check a weights file against the SHA-256 in its metadata (written by nerve since format version 2)."""
    if "sha256" not in metadata:
        if metadata.get("format") == "nerve-weights" and metadata.get("version", "1") != "1":
            raise CorruptFileError(f"cannot load '{path}': a nerve weights file of version {metadata['version'][:8]} "
                                   "records its SHA-256, and this one has none: the file is corrupted")
        return  # written by an older nerve or another program
    if _weights_digest(data, metadata, table) != metadata["sha256"]:
        raise IntegrityError(f"cannot load '{path}': the weights file is corrupted: its contents differ from the "
                             "SHA-256 recorded in its metadata (it was changed after saving)")


def _open_file(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"no model file at '{path}'") from None


#: The entries a model file may hold, and the limit that bounds each one's size.
_MEMBERS = {"config.json": "max_json_bytes", "model.safetensors": "max_entry_bytes",
            "optimizer.safetensors": "max_entry_bytes", _MANIFEST: "max_json_bytes"}


def _manifest_bytes(entries):
    """``manifest.json`` for ``{name: bytes}``: each entry's size and SHA-256."""
    listing = {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in entries.items()}
    return json.dumps({"format": "nerve-manifest", "entries": listing}, indent=1).encode()


class _ModelFile:
    """A model file open for reading.

    The zip directory is checked against the limits before any entry is read (names, methods, sizes,
    overlaps); each entry is then read once and checked against the manifest's size and SHA-256.
    """

    def __init__(self, f, size, path, limits):
        self.path, self.limits, self.manifest = path, limits, None
        cannot = f"cannot load '{path}'"
        _check_entry_count(f, size, cannot)
        try:
            self.archive = zipfile.ZipFile(f)
            infos = self.archive.infolist()
        except _ZIP_ERRORS as error:
            raise CorruptFileError(f"{cannot}: the file is truncated or corrupted, or not a nerve model file "
                                   f"({type(error).__name__}: {str(error)[:200]})") from None
        names = [info.filename for info in infos]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise CorruptFileError(f"{cannot}: the archive holds {duplicates} more than once")
        total = 0
        for info in infos:
            name = info.filename
            if name not in _MEMBERS:
                raise CorruptFileError(f"{cannot}: unexpected member {name[:80]!r} (a nerve model file holds "
                                       f"{', '.join(_MEMBERS)})")
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x41:
                raise CorruptFileError(f"{cannot}: member '{name}' is compressed or encrypted; nerve writes its members "
                                       "stored, and reads only those")
            if info.compress_size != info.file_size or info.file_size > size:
                raise CorruptFileError(f"{cannot}: member '{name}' claims {info.file_size} bytes ({info.compress_size} "
                                       f"stored), but the file holds {size}: it is truncated or corrupted")
            limit = _MEMBERS[name]
            if info.file_size > getattr(limits, limit):
                raise LimitExceededError(f"{cannot}: {name} holds {info.file_size} bytes, more than {limit}="
                                         f"{getattr(limits, limit)}", name, limit)
            total += info.file_size
        if total > limits.max_total_bytes:
            raise LimitExceededError(f"{cannot}: its entries hold {total} bytes together, more than max_total_bytes="
                                     f"{limits.max_total_bytes}", "the archive", "max_total_bytes")
        end = 0  # entries' local headers and data may not overlap one another or the directory
        for info in sorted(infos, key=lambda i: i.header_offset):
            if info.header_offset < end:
                raise CorruptFileError(f"{cannot}: member '{info.filename}' overlaps the one before it: the file is "
                                       "corrupted or crafted")
            end = info.header_offset + 30 + len(info.filename) + info.compress_size
        if end > self.archive.start_dir:
            raise CorruptFileError(f"{cannot}: the last member runs into the zip directory: the file is truncated or "
                                   "corrupted")
        self.infos = {info.filename: info for info in infos}

    def read(self, name, verify=True):
        """The bytes of entry ``name``, checked against the manifest (read by :meth:`config`, when the file has one)."""
        info = self.infos.get(name)
        if info is None:
            raise CorruptFileError(f"cannot load '{self.path}': '{name}' is missing from the archive")
        try:
            data = self.archive.read(info)
        except _ZIP_ERRORS as error:
            raise CorruptFileError(f"cannot load '{self.path}': '{name}' is truncated or corrupted "
                                   f"({type(error).__name__}: {str(error)[:200]})") from None
        if verify:
            self._verify(name, data)
        return data

    def _verify(self, name, data):
        if self.manifest is None:
            return
        listed = self.manifest[name]
        if len(data) != listed["bytes"] or hashlib.sha256(data).hexdigest() != listed["sha256"]:
            raise IntegrityError(f"cannot load '{self.path}': '{name}' is corrupted: its size or SHA-256 differs from "
                                 f"what {_MANIFEST} records (it was changed after saving)")

    def _read_manifest(self):
        manifest = _parse_json(self.read(_MANIFEST, verify=False), _MANIFEST, self.path, self.limits)
        listing = manifest.get("entries") if isinstance(manifest, dict) else None
        others = sorted(set(self.infos) - {_MANIFEST})
        if not isinstance(listing, dict) or sorted(listing) != others or not all(
                isinstance(item, dict) and _is_count(item.get("bytes")) and isinstance(item.get("sha256"), str)
                and len(item["sha256"]) == 64 for item in listing.values()):
            raise CorruptFileError(f"cannot load '{self.path}': {_MANIFEST} must list each other entry ({others}) with "
                                   f"its bytes and sha256, got {str(listing)[:200]}")
        return listing

    def config(self):
        """``config.json``, parsed under the limits, with its format and version checked, then the manifest.

        The version comes first, so that a file of a newer format says so (its manifest may differ); nothing
        else in config.json is used before its bytes are checked against the manifest.
        """
        path = self.path
        raw = self.read("config.json", verify=False)
        config = _parse_json(raw, "config.json", path, self.limits)
        if not isinstance(config, dict):
            raise CorruptFileError(f"cannot load '{path}': config.json holds a {type(config).__name__}, not an object")
        if config.get("format") != FORMAT:
            raise CorruptFileError(f"cannot load '{path}': not a nerve model file (format {str(config.get('format'))[:80]!r})")
        version = config.get("version", 0)
        if not _is_count(version):
            raise CorruptFileError(f"cannot load '{path}': the file version must be a non-negative integer, "
                                   f"got {str(version)[:40]!r}")
        if version > VERSION:
            raise CorruptFileError(f"cannot load '{path}': written by a newer nerve (file version {version}, this nerve "
                                   f"reads up to {VERSION})")
        if _MANIFEST in self.infos:
            self.manifest = self._read_manifest()
            self._verify("config.json", raw)
        elif version >= 2:
            raise CorruptFileError(f"cannot load '{path}': a version {version} file has {_MANIFEST}, and this one has "
                                   "none: the file is corrupted")
        return config


def _check_entry_count(f, size, cannot):
    """Refuse an archive whose end record lists many more entries than a model file has, before zipfile reads them."""
    tail = min(size, 22 + 0xFFFF)
    f.seek(size - tail)
    end = f.read(tail)
    at = end.rfind(b"PK\x05\x06")
    if at >= 0 and at + 22 <= len(end):
        count = int.from_bytes(end[at + 10:at + 12], "little")
        if count != 0xFFFF and count > 64:  # a huge directory; a few extra entries are named by the checks after
            raise CorruptFileError(f"{cannot}: the archive lists {count} entries; a nerve model file holds at most "
                                   f"{len(_MEMBERS)} ({', '.join(_MEMBERS)})")
    f.seek(0)


def _check_build_size(shape, path, limits):
    """Refuse a ``build_input_shape`` whose one-sample batch (built to create the weights) passes the limit."""
    if shape is None:
        return
    shapes = [shape] if not shape or not isinstance(shape[0], list) else shape
    for one in shapes:
        if not isinstance(one, list):
            continue
        elements = 1
        for n in one[1:]:
            elements *= 1 if n is None or isinstance(n, list) else int(n)
        if elements > limits.max_build_elements:
            raise LimitExceededError(
                f"cannot load '{path}': config.json's build_input_shape {str(one)[:80]} makes one sample of "
                f"{elements:,} values, over LoadLimits.max_build_elements ({limits.max_build_elements:,})",
                "config.json", "max_build_elements")


def _build_input_shape(config, path):
    """config.json's ``build_input_shape``: None, or (nested lists of) None or non-negative integers."""
    shape = config.get("build_input_shape")

    def valid(value, depth):
        if value is None or _is_count(value):
            return True
        return isinstance(value, list) and depth < 4 and len(value) <= 64 and all(valid(v, depth + 1) for v in value)

    if not valid(shape, 0) or _is_count(shape):
        raise CorruptFileError(f"cannot load '{path}': config.json's build_input_shape must be a list of sizes "
                               f"(integers or null), got {str(shape)[:80]}")
    return shape


def load_model(path, custom_objects=None, compile=True, restore_random_state=True, safe_mode=True,  # noqa: A002
               *, limits=None, allow_nonfinite=False):
    """Load a model saved with ``model.save``: architecture, weights, compile settings, optimizer state.

    The file is data: every class or function it names is looked up in nerve's registry (built-ins,
    classes registered with :func:`register_serializable`, and ``custom_objects``), never imported.
    An unknown name raises :class:`UnknownObjectError` saying how to register it.

    The file is checked before it is used (see :class:`LoadLimits`): every entry against the limits and
    against the SHA-256 its manifest records, every stored tensor's name, dtype and shape against the
    weights the architecture defines (the dtype must be the layer's own), before any tensor is read.
    Any failure raises :class:`CorruptFileError` (or one of its kinds), naming the entry and the limit.

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
        limits: a :class:`LoadLimits` (sizes, JSON depth, tensor count); None uses the defaults.
        allow_nonfinite: load NaN or infinite weights and optimizer slots instead of raising
            :class:`CorruptFileError` (to inspect a run that diverged).

    Examples:
        >>> import os, tempfile, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> p = os.path.join(tempfile.mkdtemp(), "m.nerve"); m.save(p)
        >>> type(load_model(p)).__name__
        'Sequential'
        >>> load_model(p, limits=nerve.saving.LoadLimits(max_entry_bytes=1 << 20)).count_params()
        3
    """
    limits = _limits(limits)
    path = os.fspath(path)
    with _open_file(path) as f:
        model_file = _ModelFile(f, os.fstat(f.fileno()).st_size, path, limits)
        config = model_file.config()
        with registry.custom_object_scope(custom_objects):
            try:
                return _build_from_config(model_file, config, compile, restore_random_state, allow_nonfinite)
            except registry.MalformedConfigError as error:
                raise CorruptFileError(f"cannot load '{path}': its configuration does not describe a valid model "
                                       f"({error})") from None
            except (registry.UnknownObjectError, CorruptFileError):
                raise
            except WeightBudgetError as error:
                raise LimitExceededError(f"cannot load '{path}': config.json describes larger weights than "
                                         f"model.safetensors holds ({error})", "config.json", "weights size") from None
            except MemoryError as error:
                raise LimitExceededError(f"cannot load '{path}': the model config.json describes does not fit in memory "
                                         f"({str(error)[:200]})", "config.json", "available memory") from None
            except (KeyError, TypeError, AttributeError, IndexError, ValueError, RecursionError, ArithmeticError,
                    NotImplementedError) as error:
                raise CorruptFileError(f"cannot load '{path}': its configuration does not describe a valid model "
                                       f"({type(error).__name__}: {str(error)[:300]})") from error


def _build_from_config(model_file, config, compile, restore_random_state, allow_nonfinite):  # noqa: A002
    path, limits = model_file.path, model_file.limits
    architecture = config.get("model")
    if not isinstance(architecture, dict):
        raise CorruptFileError(f"cannot load '{path}': config.json has no model architecture")
    data = model_file.read("model.safetensors")
    metadata, table = _tensor_table(data, "model.safetensors", path, limits)  # checked before the model is built
    build_input_shape = _build_input_shape(config, path)
    _check_build_size(build_input_shape, path, limits)
    with weight_budget(len(data)):  # the weights the config describes must fit in the file that holds them
        model = deserialize_layer(architecture)
        _ensure_built(model, build_input_shape)
    _assign_weights(model, data, table, metadata, path, limits, model_file=True, allow_nonfinite=allow_nonfinite)
    del data
    compile_config = config.get("compile")
    if compile and compile_config:
        loss = _rebuild_loss(compile_config["loss"])
        model.compile(optimizer=optimizers.deserialize(compile_config["optimizer"]), loss=loss,
                      metrics=compile_config.get("metrics"), loss_weights=compile_config.get("loss_weights"))
        if "optimizer_state" in config:
            _load_optimizer_state(model, model_file, config["optimizer_state"], allow_nonfinite)
    state = config.get("training_state")
    if state is not None and not (isinstance(state, dict) and _is_count(state.get("epoch"))
                                  and isinstance(state.get("callbacks") or {}, dict)):
        raise CorruptFileError(f"cannot load '{path}': config.json's training_state must hold a non-negative integer "
                               f"epoch and a callbacks object, got {str(state)[:120]}")
    model.initial_epoch = state["epoch"] if state else 0
    model.resumed_callback_states = dict(state.get("callbacks") or {}) if state else None
    if state and restore_random_state:
        nerve_random.set_state(state["random_state"])
    return model


def _load_optimizer_state(model, model_file, info, allow_nonfinite):
    """Restore the optimizer's slots, each checked against the weight it belongs to before it is read."""
    path = model_file.path
    where = f"cannot load '{path}': config.json's optimizer_state"
    if not isinstance(info, dict):
        raise CorruptFileError(f"{where} must be an object, got {type(info).__name__}")
    by_key = _weights_by_key(model)
    owners = info.get("params")
    if owners is None:
        params, owners = list(model.trainable_weights), None
    else:
        if not isinstance(owners, list) or not all(isinstance(k, str) for k in owners) or len(set(owners)) != len(owners):
            raise CorruptFileError(f"{where}: params must list distinct weight paths, got {str(owners)[:120]}")
        unknown = [key for key in owners if key not in by_key]
        if unknown:
            raise CorruptFileError(f"cannot load '{path}': the optimizer state names weights the model does not have: "
                                   f"{unknown[:5]}")
        params = [by_key[key] for key in owners]
    slots, iterations = info.get("slots"), info.get("iterations")
    if not _is_count(iterations):
        raise CorruptFileError(f"{where}: iterations must be a non-negative integer, got {str(iterations)[:40]}")
    if not isinstance(slots, dict) or not all(_is_count(count) and count <= len(params) for count in slots.values()):
        raise CorruptFileError(f"cannot load '{path}': the optimizer state has slot counts that do not fit its "
                               f"{len(params)} parameters")
    unknown = sorted(set(slots) - set(model.optimizer.slot_names))
    if unknown:
        raise CorruptFileError(f"{where} holds slots {unknown[:5]}, which {type(model.optimizer).__name__} does not "
                               f"have (it has {sorted(model.optimizer.slot_names)})")
    data = model_file.read("optimizer.safetensors")
    _, table = _tensor_table(data, "optimizer.safetensors", path, model_file.limits)
    for name, (dtype, shape, _, _) in table.items():
        slot, _, index = name.rpartition("/")
        if slot not in slots or not (index.isascii() and index.isdigit() and str(int(index)) == index) \
                or int(index) >= slots[slot]:
            raise CorruptFileError(f"cannot load '{path}': optimizer.safetensors holds tensor {name[:80]!r}, which is no "
                                   f"entry of the slots {sorted(slots)}")
        param = params[int(index)]
        if shape != tuple(param.shape) or dtype.kind != "f":
            raise CorruptFileError(f"cannot load '{path}': optimizer slot '{name}' is {dtype} of shape {shape}, but the "
                                   f"weight it belongs to is {param.dtype} of shape {tuple(param.shape)}")
    arrays = {name: _tensor(data, spec) for name, spec in table.items()}
    _check_finite(arrays, "optimizer slot", f"cannot load '{path}'", allow_nonfinite)
    model.optimizer.build(params)
    model.optimizer.load_state_dict({"iterations": iterations, "config": info.get("config"), "slots": {
        name: [arrays.get(f"{name}/{i}") for i in range(count)] for name, count in slots.items()}})


def _rebuild_loss(spec):
    if isinstance(spec, list):
        return [_rebuild_loss(s) for s in spec]
    if isinstance(spec, dict) and "class_name" not in spec:
        return {k: _rebuild_loss(v) for k, v in spec.items()}
    if isinstance(spec, dict):
        return losses.deserialize(spec)
    return losses.get(spec)
