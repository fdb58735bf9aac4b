"""Learning-rate schedules: the public namespace ``nerve.schedules``, which is the module :mod:`nerve.blocks.schedules` itself.

``import nerve.schedules`` gives the very module object the code uses, so reading, setting or patching
``nerve.schedules.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.schedules")
