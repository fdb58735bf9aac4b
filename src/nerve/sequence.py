"""Sequence data helpers: the public namespace ``nerve.sequence``, which is the module :mod:`nerve.training.sequence` itself.

``import nerve.sequence`` gives the very module object the code uses, so reading, setting or patching
``nerve.sequence.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.training.sequence")
