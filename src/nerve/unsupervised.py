"""Unsupervised learning: the public namespace ``nerve.unsupervised``, which is the module :mod:`nerve.applications.unsupervised` itself.

``import nerve.unsupervised`` gives the very module object the code uses, so reading, setting or patching
``nerve.unsupervised.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.applications.unsupervised")
