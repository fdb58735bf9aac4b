"""Global settings: the public namespace ``nerve.config``, which is the module :mod:`nerve.blocks.keras_config` itself.

``import nerve.config`` gives the very module object the code uses, so reading, setting or patching
``nerve.config.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.keras_config")
