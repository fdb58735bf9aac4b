"""Bundled and downloadable datasets: the public namespace ``nerve.datasets``; the code lives in :mod:`nerve.training.datasets`.

The submodules keep their old paths too (``nerve.datasets.images`` is ``nerve.training.datasets.images``).
"""

import importlib as _importlib
import sys as _sys

from nerve.training.datasets import *  # noqa: F401,F403
from nerve.training.datasets import __all__  # noqa: F401

for _name in ('images',):  # old import paths of the submodules
    _module = _sys.modules.setdefault(f"{__name__}.{_name}", _importlib.import_module(f"nerve.training.datasets.{_name}"))
    globals().setdefault(_name, _module)  # a public name (diagnostics.gradcheck, the function) wins
