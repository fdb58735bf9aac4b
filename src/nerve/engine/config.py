"""Keras's global settings and dtype helpers (``keras.backend`` / ``keras.config``), exported by ``nerve.backend``.

``floatx`` is the dtype new layers compute and keep their weights in (``set_floatx("float64")`` for a
float64 model; it sets the global dtype policy of :mod:`nerve.mixed_precision`); ``epsilon`` is the
fuzz factor your own code reads (nerve's losses and metrics keep their documented constants);
``image_data_format`` is always ``"channels_last"`` (nerve's images are ``(batch, height, width,
channels)``); ``clear_session`` forgets automatic layer names and frees cached memory.

Examples:
    >>> from nerve import backend
    >>> backend.floatx(), backend.epsilon(), backend.image_data_format()
    ('float32', 1e-07, 'channels_last')
"""

from __future__ import annotations

import gc
import itertools

import numpy

__all__ = [
    "backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
    "clear_session", "get_uid", "is_float_dtype", "is_int_dtype", "standardize_dtype", "result_type",
    "is_keras_tensor", "enable_interactive_logging", "disable_interactive_logging", "is_interactive_logging_enabled",
]

_SETTINGS = {"floatx": "float32", "epsilon": 1e-7, "interactive_logging": True}
_FLOATS = ("float16", "float32", "float64")
_UIDS = {}
#: functions the higher tiers register: ``floatx_hooks`` get the new floatx name (the layers' dtype policy
#: follows it), ``clear_session_hooks`` run on :func:`clear_session` (automatic layer names restart)
floatx_hooks = []
clear_session_hooks = []


def backend():
    """The name of the backend running the ops: ``"nerve"`` (NumPy, or CuPy on a GPU).

    Examples:
        >>> backend()
        'nerve'
    """
    return "nerve"


def floatx():
    """The default float dtype as a string: ``"float32"`` unless :func:`set_floatx` changed it.

    Examples:
        >>> floatx()
        'float32'
    """
    return _SETTINGS["floatx"]


def set_floatx(value):
    """Set the default float dtype of the layers created from now on: ``"float16"``, ``"float32"`` or ``"float64"``.

    It sets the global dtype policy (:func:`nerve.mixed_precision.set_global_policy`), so a layer given no
    ``dtype`` computes in and keeps its weights in ``value``. Layers that exist keep their dtype.

    Examples:
        >>> import numpy as np
        >>> from nerve import layers
        >>> set_floatx("float64")
        >>> layers.Dense(2)(np.ones((1, 3))).dtype
        dtype('float64')
        >>> set_floatx("float32")
    """
    name = standardize_dtype(value)
    if name not in _FLOATS:
        raise ValueError(f"set_floatx: expected one of {list(_FLOATS)}, got {value!r}")
    for hook in floatx_hooks:
        hook(name)
    _SETTINGS["floatx"] = name


def epsilon():
    """The fuzz factor of numeric expressions (Keras's ``backend.epsilon()``), ``1e-7`` by default.

    Examples:
        >>> epsilon()
        1e-07
    """
    return _SETTINGS["epsilon"]


def set_epsilon(value):
    """Set the value :func:`epsilon` returns (read by your own code; nerve's built-in losses keep ``1e-7``).

    Examples:
        >>> set_epsilon(1e-5); epsilon()
        1e-05
        >>> set_epsilon(1e-7)
    """
    value = float(value)
    if not value > 0:
        raise ValueError(f"set_epsilon: expected a positive number, got {value!r}")
    _SETTINGS["epsilon"] = value


def image_data_format():
    """``"channels_last"``: nerve's images and feature maps are ``(batch, height, width, channels)``.

    Examples:
        >>> image_data_format()
        'channels_last'
    """
    return "channels_last"


def set_image_data_format(data_format):
    """Accepts ``"channels_last"`` (the only layout nerve's layers use); ``"channels_first"`` is an error.

    Examples:
        >>> set_image_data_format("channels_last")
    """
    if data_format != "channels_last":
        raise ValueError(f"set_image_data_format: nerve's layers use 'channels_last' (batch, height, width, "
                         f"channels) only, got {data_format!r}; transpose channels-first arrays with "
                         "numpy.moveaxis(x, 1, -1)")


def clear_session(free_memory=True):
    """Start afresh: automatic layer names restart (``dense``, ``dense_1``...) and unused memory is freed.

    Examples:
        >>> from nerve import layers
        >>> clear_session()
        >>> layers.Dense(1).name
        'dense'
    """
    for hook in clear_session_hooks:
        hook()
    _UIDS.clear()
    if free_memory:
        gc.collect()


def enable_interactive_logging():
    """Let ``fit`` draw its live progress bar on terminals (the default).

    Examples:
        >>> enable_interactive_logging(); is_interactive_logging_enabled()
        True
    """
    _SETTINGS["interactive_logging"] = True


def disable_interactive_logging():
    """Make ``fit`` write one plain line per epoch even on a terminal (no live bar), as in logs.

    Examples:
        >>> disable_interactive_logging(); is_interactive_logging_enabled()
        False
        >>> enable_interactive_logging()
    """
    _SETTINGS["interactive_logging"] = False


def is_interactive_logging_enabled():
    """Whether ``fit`` may draw a live progress bar.

    Examples:
        >>> is_interactive_logging_enabled()
        True
    """
    return _SETTINGS["interactive_logging"]


def get_uid(prefix=""):
    """A counter per ``prefix``: 1 on the first call, then 2, 3... (until :func:`clear_session`).

    Examples:
        >>> get_uid("block"), get_uid("block")
        (1, 2)
    """
    counter = _UIDS.setdefault(prefix, itertools.count(1))
    return next(counter)


def standardize_dtype(dtype):
    """A dtype (NumPy dtype, type, string, None for floatx) as its standard name: ``"float32"``, ``"int64"``...

    Examples:
        >>> import numpy as np
        >>> standardize_dtype(np.float64), standardize_dtype("float"), standardize_dtype(None)
        ('float64', 'float32', 'float32')
    """
    if dtype is None:
        return floatx()
    if dtype in ("float", float):
        return floatx()
    if dtype in ("int", int):
        return "int64"
    if dtype in ("bool", bool):
        return "bool"
    if hasattr(dtype, "dtype") and not isinstance(dtype, type):
        dtype = dtype.dtype
    try:
        return numpy.dtype(dtype).name
    except TypeError:
        raise ValueError(f"standardize_dtype: {dtype!r} is not a dtype") from None


def is_float_dtype(dtype):
    """True for floating-point dtypes.

    Examples:
        >>> is_float_dtype("float16"), is_float_dtype("int32")
        (True, False)
    """
    return numpy.dtype(standardize_dtype(dtype)).kind == "f"


def is_int_dtype(dtype):
    """True for integer dtypes (signed or unsigned).

    Examples:
        >>> is_int_dtype("uint8"), is_int_dtype("float32")
        (True, False)
    """
    return numpy.dtype(standardize_dtype(dtype)).kind in "iu"


def result_type(*dtypes):
    """The dtype an op on these dtypes gives, with Keras's promotion: a float with integers stays that float
    (``int32`` with ``float32`` is ``float32``), floats widen to the widest, integers promote as in NumPy.

    Examples:
        >>> result_type("float32", "int32"), result_type("float16", float), result_type("int8", "int32")
        ('float32', 'float16', 'int32')
    """
    if not dtypes:
        return floatx()
    named = [standardize_dtype(d) for d in dtypes if d not in (float, int, bool)]
    if not named:
        return standardize_dtype(dtypes[0])
    floats = [numpy.dtype(d) for d in named if numpy.dtype(d).kind == "f"]
    if floats:
        return max(floats, key=lambda d: d.itemsize).name
    return numpy.result_type(*named).name


def is_keras_tensor(x):
    """True for the symbolic tensors of the functional API (:func:`nerve.Input` and what layers make of it).

    Examples:
        >>> import nerve
        >>> is_keras_tensor(nerve.Input(shape=(2,))), is_keras_tensor(nerve.tensor([1.0]))
        (True, False)
    """
    return bool(getattr(type(x), "_nerve_symbolic", False))
