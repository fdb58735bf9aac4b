"""Image transforms for data augmentation: the public namespace ``nerve.transforms``, which is the module :mod:`nerve.blocks.transforms` itself.

``import nerve.transforms`` gives the very module object the code uses, so reading, setting or patching
``nerve.transforms.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.transforms")
