"""Numerical gradient checking: the public namespace ``nerve.gradcheck``, which is the module :mod:`nerve.engine.gradcheck` itself.

``import nerve.gradcheck`` gives the very module object the code uses, so reading, setting or patching
``nerve.gradcheck.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.engine.gradcheck")
