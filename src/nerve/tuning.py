"""Hyperparameter search: the public namespace ``nerve.tuning``, which is the module :mod:`nerve.tools.tuning` itself.

``import nerve.tuning`` gives the very module object the code uses, so reading, setting or patching
``nerve.tuning.X`` acts where the code reads it.
The old paths of its submodules keep working (``nerve.tuning.builders`` is ``nerve.tools.tuning.builders``).
"""

import importlib as _importlib
import sys as _sys

for _old, _new in {'builders': 'nerve.tools.tuning.builders', 'callbacks': 'nerve.tools.tuning.callbacks', 'cli': 'nerve.tools.tuning.cli', 'results': 'nerve.tools.tuning.results', 'search': 'nerve.tools.tuning.search', 'space': 'nerve.tools.tuning.space', 'storage': 'nerve.tools.tuning.storage'}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _importlib.import_module(_new))
_sys.modules[__name__] = _importlib.import_module("nerve.tools.tuning")
