"""Loss functions: the public namespace ``nerve.losses``, which is the module :mod:`nerve.blocks.losses` itself.

``import nerve.losses`` gives the very module object the code uses, so reading, setting or patching
``nerve.losses.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.losses")
