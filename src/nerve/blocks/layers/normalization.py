"""Per-sample normalisation layers: LayerNormalization and RMSNormalization (Keras 3 names and arguments).

Unlike :class:`~nerve.layers.BatchNormalization`, these normalise each sample over its own feature
axes, so training and inference compute the same thing and the batch size does not matter: the
normalisation of Transformers. Both run one fused op (:func:`nerve.ops.layer_norm`,
:func:`nerve.ops.rms_norm`) and pass a padding mask (``Embedding(mask_zero=True)``) on to the next layer.

Examples:
    >>> import numpy as np
    >>> from nerve import layers
    >>> y = layers.LayerNormalization()(np.array([[1.0, 2.0, 3.0]]))
    >>> [round(v, 3) for v in y.tolist()[0]]
    [-1.224, 0.0, 1.224]
"""

from __future__ import annotations

from nerve.blocks import constraints, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry
from nerve.blocks.layers.recurrent import attach_mask, get_mask
from nerve.engine import ops, validate

__all__ = ["LayerNormalization", "RMSNormalization"]


def _axes(axis, ndim, where):
    axes = [axis] if isinstance(axis, int) else list(axis)
    if not axes:
        raise ValueError(f"{where}: axis must name at least one axis, got {axis!r}")
    normal = []
    for a in axes:
        if not -ndim <= int(a) < ndim or int(a) % ndim == 0:
            raise ValueError(f"{where}: axis {a} is out of range for inputs of rank {ndim} (the batch axis 0 "
                             "cannot be normalised)")
        normal.append(int(a) % ndim)
    return sorted(set(normal))


class _PerSampleNorm(Layer):
    """Shared machinery: the normalised axes go last (transposed there if they are not), one fused op."""

    compute_in_variable_dtype = True  # statistics in float32 inside a float16 model (as Keras does)

    def _prepare_axes(self, input_shape):
        ndim = len(input_shape)
        self._norm_axes = _axes(self.axis, ndim, f"layer '{self.name}' ({type(self).__name__})")
        rest = [a for a in range(ndim) if a not in self._norm_axes]
        self._perm = None
        if self._norm_axes != list(range(ndim - len(self._norm_axes), ndim)):
            self._perm = rest + self._norm_axes
            self._inverse = [self._perm.index(a) for a in range(ndim)]
        return tuple(input_shape[a] for a in self._norm_axes)

    def _fixes_last_axis(self):
        return (self._rank - 1) in self._norm_axes

    def _normalise(self, inputs, fn):
        x = inputs if self._perm is None else ops.permute(inputs, self._perm)
        out = fn(x)
        if self._perm is not None:
            out = ops.permute(out, self._inverse)
        return attach_mask(out, get_mask(inputs))

    def compute_mask(self, inputs, mask=None):
        """The input's mask, passed on unchanged."""
        return mask


@builtin_layer
class LayerNormalization(_PerSampleNorm):
    """Normalise each sample over ``axis`` to mean 0 and variance 1, then scale by ``gamma`` and shift by ``beta``.

    ``y = (x - mean) / sqrt(var + epsilon) * gamma + beta`` with the mean and the (biased) variance
    taken over ``axis`` for each sample separately. Keras 3's arguments: ``axis`` (an int or a list,
    default the last axis), ``epsilon`` (1e-3, Keras's default; PyTorch uses 1e-5), ``center``
    (learn ``beta``), ``scale`` (learn ``gamma``), ``rms_scaling`` (RMS normalisation instead:
    ``x / sqrt(mean(x**2) + epsilon) * gamma``, no centring and no ``beta``, as in Keras 3.9+),
    initializers, regularizers and constraints of ``beta`` and ``gamma``.

    PyTorch: ``torch.nn.LayerNorm(shape, eps)``'s ``weight`` is ``gamma``, ``bias`` is ``beta``.

    Examples:
        >>> import numpy as np
        >>> layer = LayerNormalization(axis=[1, 2], epsilon=1e-5)
        >>> y = layer(np.arange(12.0).reshape(2, 3, 2))
        >>> y.shape, layer.gamma.shape, round(float(y.numpy()[0].mean()), 6)
        ((2, 3, 2), (3, 2), 0.0)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        self.epsilon = validate.finite_float(epsilon, "epsilon", "LayerNormalization", low=0.0, strict=True)
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def build(self, input_shape):
        self._rank = len(input_shape)
        shape = self._prepare_axes(input_shape)
        self.gamma = self.beta = None
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def call(self, inputs):
        n = len(self._norm_axes)
        if self.rms_scaling:
            return self._normalise(inputs, lambda x: ops.rms_norm(x, self.gamma, self.epsilon, n_axes=n))
        return self._normalise(inputs, lambda x: ops.layer_norm(x, self.gamma, self.beta, self.epsilon, n_axes=n))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": serialize_entry(self.beta_initializer),
                "gamma_initializer": serialize_entry(self.gamma_initializer),
                "beta_regularizer": serialize_entry(self.beta_regularizer),
                "gamma_regularizer": serialize_entry(self.gamma_regularizer),
                "beta_constraint": serialize_entry(self.beta_constraint),
                "gamma_constraint": serialize_entry(self.gamma_constraint)}


@builtin_layer
class RMSNormalization(_PerSampleNorm):
    """Root-mean-square normalisation: ``x / sqrt(mean(x**2) + epsilon) * scale`` over ``axis`` (Keras 3.9+).

    No centring and no shift: cheaper than LayerNormalization and used by many recent language
    models. The learned weight is called ``scale`` (ones at first); PyTorch's ``torch.nn.RMSNorm``
    calls it ``weight``.

    Examples:
        >>> import numpy as np
        >>> y = RMSNormalization()(np.array([[3.0, -3.0]]))
        >>> [round(v, 3) for v in y.tolist()[0]]
        [1.0, -1.0]
    """

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        self.epsilon = validate.finite_float(epsilon, "epsilon", "RMSNormalization", low=0.0, strict=True)

    def build(self, input_shape):
        self._rank = len(input_shape)
        self.scale = self.add_weight("scale", self._prepare_axes(input_shape), "ones")

    def call(self, inputs):
        n = len(self._norm_axes)
        return self._normalise(inputs, lambda x: ops.rms_norm(x, self.scale, self.epsilon, n_axes=n))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
