"""Dtype policies: the public namespace ``nerve.mixed_precision``, which is the module
:mod:`nerve.blocks.mixed_precision` itself.

``import nerve.mixed_precision`` gives the very module object the code uses, so reading, setting or patching
``nerve.mixed_precision.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.mixed_precision")
