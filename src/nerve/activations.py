"""Activation functions: the public namespace ``nerve.activations``, which is the module :mod:`nerve.blocks.activations` itself.

``import nerve.activations`` gives the very module object the code uses, so reading, setting or patching
``nerve.activations.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.activations")
