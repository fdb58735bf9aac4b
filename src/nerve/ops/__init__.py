"""Differentiable operations, one module per family, all re-exported here.

* :mod:`nerve.ops.core`: arithmetic, reductions, shapes, indexing, activations, softmax, fused losses, batch norm;
* :mod:`nerve.ops.conv`: convolutions and pooling (when present);
* :mod:`nerve.ops.recurrent`: recurrent cells (when present).

Example:
    >>> import nerve
    >>> nerve.ops.relu(nerve.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
"""

from nerve.ops.core import *  # noqa: F401,F403
from nerve.ops.core import __all__ as _core_all
from nerve.ops.core import sum_to, _as_tensor, _pair  # noqa: F401  (helpers for other op modules)
from nerve.ops.conv import *  # noqa: F401,F403
from nerve.ops.recurrent import *  # noqa: F401,F403
