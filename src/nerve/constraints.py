"""Weight constraints: the public namespace ``nerve.constraints``, which is the module :mod:`nerve.blocks.constraints` itself.

``import nerve.constraints`` gives the very module object the code uses, so reading, setting or patching
``nerve.constraints.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.constraints")
