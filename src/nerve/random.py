"""nerve's seeded random generator: the public namespace ``nerve.random``, which is the module :mod:`nerve.engine.random` itself.

``import nerve.random`` gives the very module object the code uses, so reading, setting or patching
``nerve.random.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.engine.random")
