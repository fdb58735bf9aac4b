"""Bundled and downloadable datasets: the public namespace ``nerve.datasets``, which is the module :mod:`nerve.training.datasets` itself.

``import nerve.datasets`` gives the very module object the code uses, so reading, setting or patching
``nerve.datasets.X`` acts where the code reads it.
The old paths of its submodules keep working (``nerve.datasets.images`` is ``nerve.training.datasets.images``).
"""

import importlib as _importlib
import sys as _sys

for _old, _new in {'images': 'nerve.training.datasets.images', 'audio': 'nerve.training.datasets.audio'}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _importlib.import_module(_new))
_sys.modules[__name__] = _importlib.import_module("nerve.training.datasets")
