"""Differentiable operations: the public namespace ``nerve.ops``, which is the module :mod:`nerve.engine.ops` itself.

``import nerve.ops`` gives the very module object the code uses, so reading, setting or patching
``nerve.ops.X`` acts where the code reads it.
The old paths of its submodules keep working (``nerve.ops.conv`` is ``nerve.engine.ops.conv``).
"""

import importlib as _importlib
import sys as _sys

for _old, _new in {'conv': 'nerve.engine.ops.conv', 'core': 'nerve.engine.ops.core', 'recurrent': 'nerve.engine.ops.recurrent'}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _importlib.import_module(_new))
_sys.modules[__name__] = _importlib.import_module("nerve.engine.ops")
