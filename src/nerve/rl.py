"""Reinforcement learning: the public namespace ``nerve.rl``, which is the module :mod:`nerve.applications.rl` itself.

``import nerve.rl`` gives the very module object the code uses, so reading, setting or patching
``nerve.rl.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.applications.rl")
