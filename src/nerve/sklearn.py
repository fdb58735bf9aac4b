"""scikit-learn wrappers: the public namespace ``nerve.sklearn``, which is the module :mod:`nerve.applications.sklearn` itself.

``import nerve.sklearn`` gives the very module object the code uses, so reading, setting or patching
``nerve.sklearn.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.applications.sklearn")
