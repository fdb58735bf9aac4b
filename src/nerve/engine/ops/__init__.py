"""Differentiable operations, one module per family, all re-exported here.

* :mod:`nerve.engine.ops.core`: arithmetic, reductions, shapes, indexing, activations, softmax, fused losses, batch norm;
* :mod:`nerve.engine.ops.conv`: convolutions and pooling (when present);
* :mod:`nerve.engine.ops.recurrent`: recurrent cells (when present);
* :mod:`nerve.engine.ops.attention`: scaled dot-product attention, layer and RMS normalisation;
* :mod:`nerve.engine.ops.audio`: short-time Fourier transform, mel filters, DCT (spectrograms, MFCCs);
* :mod:`nerve.engine.ops.ctc`: the connectionist temporal classification loss.

Examples:
    >>> import nerve
    >>> nerve.ops.relu(nerve.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
"""

from nerve.engine.ops import attention, audio, conv, core, ctc, keras_ops, recurrent, special
from nerve.engine.ops.core import *  # noqa: F401,F403
from nerve.engine.ops.conv import *  # noqa: F401,F403
from nerve.engine.ops.recurrent import *  # noqa: F401,F403
from nerve.engine.ops.attention import *  # noqa: F401,F403
from nerve.engine.ops.audio import *  # noqa: F401,F403
from nerve.engine.ops.ctc import *  # noqa: F401,F403
from nerve.engine.ops.special import *  # noqa: F401,F403
from nerve.engine.ops.keras_ops import *  # noqa: F401,F403

__all__ = (core.__all__ + conv.__all__ + recurrent.__all__ + attention.__all__ + audio.__all__ + ctc.__all__
           + special.__all__ + keras_ops.__all__)

#: set by :mod:`nerve.blocks.layers.operations`: ``handler(name, args, kwargs)`` records an op called on
#: functional-API tensors as a node of the graph (Keras 3 behaviour); None until the layers are imported
_symbolic_call = None

import builtins  # noqa: E402  (after the star imports: nerve.ops has its own all/any/round/slice)


def _has_symbolic(value):
    if getattr(type(value), "_nerve_symbolic", False):
        return True
    if isinstance(value, (list, tuple)):
        return builtins.any(_has_symbolic(v) for v in value)  # nerve.ops.any is an op
    if isinstance(value, dict):
        return builtins.any(_has_symbolic(v) for v in value.values())
    return False


def _graph_aware(name, fn):
    """``fn`` as it is for tensors; on functional-API tensors (which it cannot compute) a recorded graph node."""

    def op(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception:  # the fast path pays nothing: symbolic inputs are looked for only when fn failed
            if _symbolic_call is not None and (_has_symbolic(args) or _has_symbolic(kwargs)):
                return _symbolic_call(name, args, kwargs)
            raise

    op.__name__, op.__qualname__, op.__doc__, op.__wrapped__ = fn.__name__, fn.__qualname__, fn.__doc__, fn
    op.__module__ = fn.__module__
    return op


def _install_graph_aware():
    import inspect

    made = {}  # aliases (subtract = sub) share one wrapper, so they stay the same function
    for name in __all__:
        fn = globals()[name]
        if inspect.isfunction(fn) and not hasattr(fn, "__wrapped__"):
            if id(fn) not in made:
                made[id(fn)] = _graph_aware(name, fn)
            globals()[name] = made[id(fn)]


_install_graph_aware()
