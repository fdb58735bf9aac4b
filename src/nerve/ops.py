"""Differentiable operations: the public namespace ``nerve.ops``; the code lives in :mod:`nerve.engine.ops`.

The submodules keep their old paths too (``nerve.ops.conv`` is ``nerve.engine.ops.conv``).
"""

import importlib as _importlib
import sys as _sys

from nerve.engine.ops import *  # noqa: F401,F403
from nerve.engine.ops import __all__  # noqa: F401

for _name in ('conv', 'core', 'recurrent'):  # old import paths of the submodules
    _module = _sys.modules.setdefault(f"{__name__}.{_name}", _importlib.import_module(f"nerve.engine.ops.{_name}"))
    globals().setdefault(_name, _module)  # a public name (diagnostics.gradcheck, the function) wins
