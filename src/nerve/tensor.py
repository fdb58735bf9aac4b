"""Tensors and autodiff: the public namespace ``nerve.tensor``, which is the module :mod:`nerve.engine.tensor` itself.

``import nerve.tensor`` gives the very module object the code uses, so reading, setting or patching
``nerve.tensor.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.engine.tensor")
