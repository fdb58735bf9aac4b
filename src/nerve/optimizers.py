"""Optimizers: the public namespace ``nerve.optimizers``, which is the module :mod:`nerve.blocks.optimizers` itself.

``import nerve.optimizers`` gives the very module object the code uses, so reading, setting or patching
``nerve.optimizers.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.optimizers")
