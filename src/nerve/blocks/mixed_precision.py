"""Dtype policies: which dtype a layer computes in and which dtype its weights are kept in (Keras 3's names).

A policy has a ``compute_dtype`` (the dtype of the layer's inputs, outputs and arithmetic) and a
``variable_dtype`` (the dtype of its weights). ``"float32"`` (the default), ``"float64"`` or
``"float16"`` use one dtype for both. ``"mixed_float16"`` computes in float16 and keeps float32
weights: each call casts the weights to float16 (the cast is part of the graph, so gradients arrive
in float32), the loss is computed in float32, and ``compile`` wraps the optimizer in a
:class:`~nerve.optimizers.LossScaleOptimizer` so that small float16 gradients do not round to zero.
Batch normalisation computes its statistics in float32 inside a float16 model, as in Keras.

float16 arithmetic pays on GPUs (tensor cores); on a CPU NumPy emulates it and it is several times
slower than float32: use it there to check that a model trains in float16 before moving it to a GPU.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers, mixed_precision
    >>> mixed_precision.set_global_policy("mixed_float16")
    >>> dense = layers.Dense(2)
    >>> dense.compute_dtype, dense.variable_dtype
    ('float16', 'float32')
    >>> y = dense(np.ones((3, 4), "float32"))
    >>> y.dtype, dense.kernel.dtype
    (dtype('float16'), dtype('float32'))
    >>> mixed_precision.set_global_policy("float32")      # back to the default
"""

from __future__ import annotations

import numpy

from nerve.blocks.optimizers import LossScaleOptimizer

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "set_global_policy", "global_policy",
           "set_dtype_policy", "dtype_policy"]

_FLOATS = ("float16", "float32", "float64")


class DTypePolicy:
    """A named pair of dtypes: ``compute_dtype`` for the arithmetic, ``variable_dtype`` for the weights.

    Args:
        name: ``"float32"``, ``"float64"``, ``"float16"`` (one dtype for both) or ``"mixed_float16"``
            (float16 compute, float32 weights).

    Examples:
        >>> policy = DTypePolicy("mixed_float16")
        >>> policy.name, policy.compute_dtype, policy.variable_dtype
        ('mixed_float16', 'float16', 'float32')
        >>> DTypePolicy("float64").compute_dtype
        'float64'
    """

    def __init__(self, name=None):
        if name is None:
            name = "float32"
        if isinstance(name, DTypePolicy):
            name = name.name
        if not isinstance(name, str):
            try:
                name = numpy.dtype(name).name
            except TypeError:
                raise TypeError(f"DTypePolicy: expected a policy name such as 'mixed_float16' or a float dtype, "
                                f"got {type(name).__name__}") from None
        if name == "mixed_float16":
            self._compute, self._variable = "float16", "float32"
        elif name in _FLOATS:
            self._compute = self._variable = name
        else:
            raise ValueError(f"DTypePolicy: unknown policy {name!r}; expected one of "
                             f"{', '.join(repr(n) for n in _FLOATS + ('mixed_float16',))}")
        self._name = name

    @property
    def name(self):
        """The policy's name (``"mixed_float16"``, ``"float32"``...)."""
        return self._name

    @property
    def compute_dtype(self):
        """The dtype of the layer's arithmetic, inputs and outputs, as a string."""
        return self._compute

    @property
    def variable_dtype(self):
        """The dtype of the layer's weights, as a string."""
        return self._variable

    @property
    def is_mixed(self):
        """True when the weights are kept in another dtype than the arithmetic."""
        return self._compute != self._variable

    def get_config(self):
        """``{"name": ...}``.

        Examples:
            >>> DTypePolicy("mixed_float16").get_config()
            {'name': 'mixed_float16'}
        """
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        """The policy ``get_config()`` describes."""
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


#: Keras 2's name of :class:`DTypePolicy`.
Policy = DTypePolicy

_GLOBAL = [DTypePolicy("float32")]


def set_global_policy(policy):
    """Set the dtype policy of the layers created from now on (those given no ``dtype``).

    Args:
        policy: a name (``"mixed_float16"``, ``"float32"``, ``"float64"``, ``"float16"``), a
            :class:`DTypePolicy`, or None for the default (``"float32"``).

    Layers that exist keep their policy. Set it before building the model.

    Examples:
        >>> from nerve import layers
        >>> set_global_policy("mixed_float16")
        >>> global_policy().name, layers.Dense(1).compute_dtype
        ('mixed_float16', 'float16')
        >>> set_global_policy(None); global_policy().name
        'float32'
    """
    _GLOBAL[0] = DTypePolicy(policy)


def global_policy():
    """The policy that new layers take when given no ``dtype`` (``"float32"`` unless set).

    Examples:
        >>> global_policy()
        <DTypePolicy "float32">
    """
    return _GLOBAL[0]


#: Keras 3's ``keras.config.set_dtype_policy``: the same as :func:`set_global_policy`.
set_dtype_policy = set_global_policy
#: Keras 3's ``keras.config.dtype_policy``: the same as :func:`global_policy`.
dtype_policy = global_policy
