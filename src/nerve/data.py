"""Data loading, splits and scalers: the public namespace ``nerve.data``, which is the module :mod:`nerve.training.data` itself.

``import nerve.data`` gives the very module object the code uses, so reading, setting or patching
``nerve.data.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.training.data")
