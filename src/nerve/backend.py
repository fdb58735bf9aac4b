"""The array-module seam: the public namespace ``nerve.backend``, which is the module :mod:`nerve.engine.backend` itself.

``import nerve.backend`` gives the very module object the code uses, so reading, setting or patching
``nerve.backend.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.engine.backend")
