"""Keras's utilities: the public namespace ``nerve.utils``, which is the module :mod:`nerve.tools.utils` itself.

``import nerve.utils`` gives the very module object the code uses, so reading, setting or patching
``nerve.utils.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.tools.utils")
