"""Layers: the public namespace ``nerve.layers``; the code lives in :mod:`nerve.blocks.layers`.

The submodules keep their old paths too (``nerve.layers.augmentation`` is ``nerve.blocks.layers.augmentation``).
"""

import importlib as _importlib
import sys as _sys

from nerve.blocks.layers import *  # noqa: F401,F403
from nerve.blocks.layers import __all__  # noqa: F401

for _name in ('augmentation', 'base', 'convolutional', 'core', 'recurrent', 'symbolic'):  # old import paths of the submodules
    _module = _sys.modules.setdefault(f"{__name__}.{_name}", _importlib.import_module(f"nerve.blocks.layers.{_name}"))
    globals().setdefault(_name, _module)  # a public name (diagnostics.gradcheck, the function) wins
