"""Layers: the public namespace ``nerve.layers``, which is the module :mod:`nerve.blocks.layers` itself.

``import nerve.layers`` gives the very module object the code uses, so reading, setting or patching
``nerve.layers.X`` acts where the code reads it.
The old paths of its submodules keep working (``nerve.layers.augmentation`` is ``nerve.blocks.layers.augmentation``).
"""

import importlib as _importlib
import sys as _sys

for _old, _new in {'augmentation': 'nerve.blocks.layers.augmentation', 'base': 'nerve.blocks.layers.base', 'convolutional': 'nerve.blocks.layers.convolutional', 'core': 'nerve.blocks.layers.core', 'recurrent': 'nerve.blocks.layers.recurrent', 'symbolic': 'nerve.blocks.layers.symbolic'}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _importlib.import_module(_new))
_sys.modules[__name__] = _importlib.import_module("nerve.blocks.layers")
