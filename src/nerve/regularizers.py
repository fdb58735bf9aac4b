"""Weight regularizers: the public namespace ``nerve.regularizers``, which is the module :mod:`nerve.blocks.regularizers` itself.

``import nerve.regularizers`` gives the very module object the code uses, so reading, setting or patching
``nerve.regularizers.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.regularizers")
