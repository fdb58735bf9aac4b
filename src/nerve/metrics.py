"""Streaming metrics: the public namespace ``nerve.metrics``, which is the module :mod:`nerve.blocks.metrics` itself.

``import nerve.metrics`` gives the very module object the code uses, so reading, setting or patching
``nerve.metrics.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.blocks.metrics")
