"""Plotting helpers: the public namespace ``nerve.plotting``, which is the module :mod:`nerve.tools.plotting` itself.

``import nerve.plotting`` gives the very module object the code uses, so reading, setting or patching
``nerve.plotting.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.tools.plotting")
