"""Model files: the public namespace ``nerve.saving``, which is the module :mod:`nerve.training.saving` itself.

``import nerve.saving`` gives the very module object the code uses, so reading, setting or patching
``nerve.saving.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.training.saving")
