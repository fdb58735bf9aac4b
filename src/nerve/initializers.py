"""Weight initializers: the public namespace ``nerve.initializers``, which is the module :mod:`nerve.blocks.initializers` itself.

``import nerve.initializers`` gives the very module object the code uses, so reading, setting or patching
``nerve.initializers.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.initializers")
