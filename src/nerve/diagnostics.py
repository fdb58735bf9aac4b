"""Training diagnostics: the public namespace ``nerve.diagnostics``, which is the module :mod:`nerve.tools.diagnostics` itself.

``import nerve.diagnostics`` gives the very module object the code uses, so reading, setting or patching
``nerve.diagnostics.X`` acts where the code reads it.
The old paths of its submodules keep working (``nerve.diagnostics._model`` is ``nerve.tools.diagnostics._model``).
"""

import importlib as _importlib
import sys as _sys

for _old, _new in {'_model': 'nerve.tools.diagnostics._model', 'explain': 'nerve.tools.diagnostics.explain', 'findings': 'nerve.tools.diagnostics.findings', 'fit': 'nerve.tools.diagnostics.fit', 'gradcheck': 'nerve.tools.diagnostics.gradcheck', 'graph': 'nerve.tools.diagnostics.graph', 'health': 'nerve.tools.diagnostics.health', 'report': 'nerve.tools.diagnostics.report', 'lr_finder': 'nerve.training.lr_finder'}.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _importlib.import_module(_new))
_sys.modules[__name__] = _importlib.import_module("nerve.tools.diagnostics")
