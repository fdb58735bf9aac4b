"""Training diagnostics: the public namespace ``nerve.diagnostics``; the code lives in :mod:`nerve.tools.diagnostics`.

The submodules keep their old paths too (``nerve.diagnostics._model`` is ``nerve.tools.diagnostics._model``).
"""

import importlib as _importlib
import sys as _sys

from nerve.tools.diagnostics import *  # noqa: F401,F403
from nerve.tools.diagnostics import __all__  # noqa: F401

for _name in ('_model', 'explain', 'findings', 'fit', 'gradcheck', 'graph', 'health', 'report'):  # old import paths of the submodules
    _module = _sys.modules.setdefault(f"{__name__}.{_name}", _importlib.import_module(f"nerve.tools.diagnostics.{_name}"))
    globals().setdefault(_name, _module)  # a public name (diagnostics.gradcheck, the function) wins
lr_finder_module = _sys.modules.setdefault(f"{__name__}.lr_finder", _importlib.import_module("nerve.training.lr_finder"))
