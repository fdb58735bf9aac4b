"""The ``nerve`` command line: the public namespace ``nerve.cli``, which is the module :mod:`nerve.tools.cli` itself.

``import nerve.cli`` gives the very module object the code uses, so reading, setting or patching
``nerve.cli.X`` acts where the code reads it.
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.tools.cli")
