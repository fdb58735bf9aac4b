"""Differentiable operations, one module per family, all re-exported here.

* :mod:`nerve.engine.ops.core`: arithmetic, reductions, shapes, indexing, activations, softmax, fused losses, batch norm;
* :mod:`nerve.engine.ops.conv`: convolutions and pooling (when present);
* :mod:`nerve.engine.ops.recurrent`: recurrent cells (when present);
* :mod:`nerve.engine.ops.attention`: scaled dot-product attention, layer and RMS normalisation.

Example:
    >>> import nerve
    >>> nerve.ops.relu(nerve.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
"""

from nerve.engine.ops import attention, conv, core, recurrent
from nerve.engine.ops.core import *  # noqa: F401,F403
from nerve.engine.ops.conv import *  # noqa: F401,F403
from nerve.engine.ops.recurrent import *  # noqa: F401,F403
from nerve.engine.ops.attention import *  # noqa: F401,F403

__all__ = core.__all__ + conv.__all__ + recurrent.__all__ + attention.__all__
