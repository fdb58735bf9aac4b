"""Training callbacks: the public namespace ``nerve.callbacks``, which is the module :mod:`nerve.training.callbacks` itself.

``import nerve.callbacks`` gives the very module object the code uses, so reading, setting or patching
``nerve.callbacks.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.training.callbacks")
