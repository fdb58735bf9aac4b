"""Autoencoders: the public namespace ``nerve.autoencoders``, which is the module :mod:`nerve.applications.autoencoders` itself.

``import nerve.autoencoders`` gives the very module object the code uses, so reading, setting or patching
``nerve.autoencoders.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.applications.autoencoders")
