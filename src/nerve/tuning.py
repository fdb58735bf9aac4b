"""Hyperparameter search: the public namespace ``nerve.tuning``; the code lives in :mod:`nerve.tools.tuning`.

The submodules keep their old paths too (``nerve.tuning.builders`` is ``nerve.tools.tuning.builders``).
"""

import importlib as _importlib
import sys as _sys

from nerve.tools.tuning import *  # noqa: F401,F403
from nerve.tools.tuning import __all__  # noqa: F401

for _name in ('builders', 'callbacks', 'cli', 'results', 'search', 'space', 'storage'):  # old import paths of the submodules
    _module = _sys.modules.setdefault(f"{__name__}.{_name}", _importlib.import_module(f"nerve.tools.tuning.{_name}"))
    globals().setdefault(_name, _module)  # a public name (diagnostics.gradcheck, the function) wins
