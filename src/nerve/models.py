"""Models: the public namespace ``nerve.models``, which is the module :mod:`nerve.training.models` itself.

``import nerve.models`` gives the very module object the code uses, so reading, setting or patching
``nerve.models.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.training.models")
