"""Data-parallel training over MPI: the public namespace ``nerve.distributed``, which is the module
:mod:`nerve.training.distributed` itself (``initialize``, ``rank``, ``size``, ``DistributedOptimizer``, ``shard``...).
"""

import importlib as _importlib
import sys as _sys

_sys.modules[__name__] = _importlib.import_module("nerve.training.distributed")
