"""Keras 3 layers for preparing data inside the model and a few more shape layers: ``Normalization`` (learns
its statistics with ``adapt`` and saves them with the model), ``CenterCrop``, ``GroupNormalization``,
``UpSampling1D``, ``ZeroPadding1D``.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> norm = layers.Normalization()
    >>> norm.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
    >>> norm(np.array([[2.0, 20.0]])).tolist()
    [[0.0, 0.0]]
"""

from __future__ import annotations

import numpy

from nerve.blocks import constraints, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry
from nerve.engine import ops
from nerve.engine.backend import get_array_module, to_numpy
from nerve.engine.tensor import Tensor

__all__ = ["Normalization", "CenterCrop", "GroupNormalization", "UpSampling1D", "ZeroPadding1D"]


def _on_device(data):
    """True for an array of a device's module (CuPy...), which adapt copies to the host explicitly."""
    return hasattr(data, "dtype") and hasattr(data, "shape") and get_array_module(data) is not numpy


def _axes(axis):
    if axis is None:
        return ()
    return (axis,) if isinstance(axis, int) else tuple(axis)


@builtin_layer
class Normalization(Layer):
    """Standardise features: ``(x - mean) / sqrt(variance)`` with statistics given or learned by :meth:`adapt`
    (Keras semantics; ``invert=True`` undoes it: ``x * sqrt(variance) + mean``).

    Args:
        axis: the axis (or axes) that keep their own statistics, the last (features) by default; None for one
            mean and variance over everything.
        mean: known statistics (broadcastable to the kept axes); otherwise call ``adapt(data)``.
        variance: known statistics (broadcastable to the kept axes); otherwise call ``adapt(data)``.
        invert: map standardised values back.

    The statistics are non-trainable weights, so ``model.save`` keeps them.

    Examples:
        >>> import numpy as np
        >>> Normalization(mean=2.0, variance=4.0)(np.array([[4.0]])).tolist()
        [[1.0]]
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither (then call adapt(data))")
        self.axis = axis
        self.invert = bool(invert)
        self.input_mean = None if mean is None else numpy.asarray(mean, dtype=numpy.float64)
        self.input_variance = None if variance is None else numpy.asarray(variance, dtype=numpy.float64)
        self._adapted = None  # (mean, variance) learned before the layer was built

    def _records_input_spec(self):
        return False

    def _kept_shape(self, input_shape):
        rank = len(input_shape)
        kept = [a % rank for a in _axes(self.axis)]
        if any(a == 0 for a in kept):
            raise ValueError(f"layer '{self.name}' (Normalization): axis {self.axis} includes the batch axis")
        return tuple(input_shape[a] if a in kept else 1 for a in range(1, rank)), kept

    def build(self, input_shape):
        shape, kept = self._kept_shape(input_shape)
        if any(input_shape[a] is None for a in kept):
            raise ValueError(f"layer '{self.name}' (Normalization): the kept axes {self.axis} of inputs "
                             f"{tuple(input_shape)} need a known size")
        self.mean = self.add_weight("mean", shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight("variance", shape, initializer="ones", trainable=False)
        statistics = self._adapted or (
            (self.input_mean, self.input_variance) if self.input_mean is not None else None)
        if statistics is not None:
            self._store(*statistics)

    def _store(self, mean, variance):
        shape = tuple(self.mean.shape)
        self.mean.data[...] = self.mean.xp.asarray(numpy.broadcast_to(mean, shape))
        self.variance.data[...] = self.variance.xp.asarray(numpy.broadcast_to(variance, shape))

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the mean and variance of ``data`` (an array, or an iterable of batches) over all axes but the kept
        ones; batches are combined exactly (Chan's parallel formulas), in float64.

        Examples:
            >>> import numpy as np
            >>> layer = Normalization(axis=None); layer.adapt(np.array([1.0, 2.0, 3.0, 4.0]))
            >>> layer.mean.numpy().item(), layer.variance.numpy().item()
            (2.5, 1.25)
        """
        if isinstance(data, (Tensor, numpy.ndarray, list)) or hasattr(data, "__array__") or _on_device(data):
            batches = [data]  # one array
        else:
            batches = data  # an iterable of batches (x, or (x, y) pairs)
        count, mean, m2 = 0.0, None, None
        for index, batch in enumerate(batches):
            if steps is not None and index >= steps:
                break
            if isinstance(batch, tuple):
                batch = batch[0]
            # the statistics are taken on the host, in float64: device data is copied explicitly
            values = to_numpy(batch.data) if isinstance(batch, Tensor) else (
                to_numpy(batch) if _on_device(batch) else numpy.asarray(batch, dtype=numpy.float64))
            values = values.astype(numpy.float64, copy=False)
            if values.ndim == 1 and self.axis is not None:
                values = values[:, None]
            shape, kept = self._kept_shape(values.shape)
            reduce = tuple(a for a in range(values.ndim) if a not in kept)
            n = float(numpy.prod([values.shape[a] for a in reduce]))
            batch_mean = values.mean(axis=reduce, keepdims=True)
            batch_m2 = ((values - batch_mean) ** 2).sum(axis=reduce, keepdims=True)
            if mean is None:
                count, mean, m2 = n, batch_mean, batch_m2
            else:
                delta = batch_mean - mean
                total = count + n
                mean = mean + delta * (n / total)
                m2 = m2 + batch_m2 + delta ** 2 * (count * n / total)
                count = total
        if mean is None:
            raise ValueError(f"layer '{self.name}' (Normalization).adapt: no data")
        mean, variance = mean.reshape(mean.shape[1:]), (m2 / count).reshape(m2.shape[1:])
        if not self.built:  # adapt builds the layer for the data's shape, as in Keras
            self._adapted = (mean, variance)
            if self.dtype is None:
                self.dtype = numpy.dtype("float32")
            self.build((None,) + tuple(values.shape[1:]))
            self.built = True
            self.build_input_shape = (None,) + tuple(values.shape[1:])
        self._store(mean, variance)

    def call(self, inputs):
        std = ops.sqrt(ops.maximum(self.variance, 1e-7))
        if self.invert:
            return inputs * std + self.mean
        return (inputs - self.mean) / std

    def get_config(self):
        def plain(value):
            return None if value is None else value.tolist()

        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": plain(self.input_mean), "variance": plain(self.input_variance)}


@builtin_layer
class CenterCrop(Layer):
    """Crop the centre ``height x width`` of ``(batch, height, width, channels)`` images (images smaller than that
    are an error: nerve has no Resizing layer to enlarge them first, as Keras does).

    Examples:
        >>> import numpy as np
        >>> CenterCrop(2, 2)(np.arange(16.0).reshape(1, 4, 4, 1))[0, :, :, 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    def __init__(self, height, width, **kwargs):
        super().__init__(**kwargs)
        self.height, self.width = int(height), int(width)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        if inputs.ndim != 4 or inputs.shape[1] < self.height or inputs.shape[2] < self.width:
            raise ValueError(f"layer '{self.name}' (CenterCrop): cannot crop {self.height}x{self.width} from images "
                             f"of shape {tuple(inputs.shape)} (expected (batch, height, width, channels), at least "
                             "that large)")
        top = (inputs.shape[1] - self.height) // 2
        left = (inputs.shape[2] - self.width) // 2
        return inputs[:, top:top + self.height, left:left + self.width, :]

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


@builtin_layer
class GroupNormalization(Layer):
    """Normalise each sample over groups of channels (Wu and He): channels split into ``groups``, each group
    standardised over its channels and all other non-batch axes, then scaled and shifted per channel.

    ``groups=-1`` is one group per channel (instance normalisation), ``groups=1`` layer normalisation over
    everything.

    Examples:
        >>> import numpy as np
        >>> out = GroupNormalization(groups=2)(np.random.default_rng(0).normal(size=(2, 5, 4))).numpy()
        >>> bool(abs(out[0, :, :2].mean()) < 1e-6)
        True
    """

    compute_in_variable_dtype = True  # statistics in float32 inside a float16 model (as Keras does)

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = initializers.get(beta_initializer), initializers.get(
            gamma_initializer)
        self.beta_regularizer, self.gamma_regularizer = regularizers.get(beta_regularizer), regularizers.get(
            gamma_regularizer)
        self.beta_constraint, self.gamma_constraint = constraints.get(beta_constraint), constraints.get(
            gamma_constraint)

    def build(self, input_shape):
        if self.axis not in (-1, len(input_shape) - 1):
            raise ValueError(f"layer '{self.name}' (GroupNormalization): nerve normalises channels-last inputs "
                             f"(axis=-1), got axis={self.axis}")
        channels = input_shape[-1]
        groups = channels if self.groups == -1 else self.groups
        if channels % groups:
            raise ValueError(f"layer '{self.name}' (GroupNormalization): {channels} channels cannot be split into "
                             f"{groups} groups")
        self._groups = groups
        self.gamma = self.add_weight("gamma", (channels,), initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer, constraint=self.gamma_constraint) \
            if self.scale else None
        self.beta = self.add_weight("beta", (channels,), initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer, constraint=self.beta_constraint) \
            if self.center else None

    def call(self, inputs):
        shape = tuple(inputs.shape)
        grouped = ops.reshape(inputs, shape[:-1] + (self._groups, shape[-1] // self._groups))
        axes = tuple(range(1, len(shape) - 1)) + (len(shape),)  # every non-batch axis but the group axis
        mean = ops.mean(grouped, axis=axes, keepdims=True)
        centered = grouped - mean
        variance = ops.mean(centered * centered, axis=axes, keepdims=True)
        out = ops.reshape(centered / ops.sqrt(variance + self.epsilon), shape)
        if self.gamma is not None:
            out = out * self.gamma
        if self.beta is not None:
            out = out + self.beta
        return out

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": serialize_entry(self.beta_initializer),
                "gamma_initializer": serialize_entry(self.gamma_initializer),
                "beta_regularizer": serialize_entry(self.beta_regularizer),
                "gamma_regularizer": serialize_entry(self.gamma_regularizer),
                "beta_constraint": serialize_entry(self.beta_constraint),
                "gamma_constraint": serialize_entry(self.gamma_constraint)}


@builtin_layer
class UpSampling1D(Layer):
    """Repeat each time step ``size`` times: ``(batch, steps, features)`` to ``(batch, steps * size, features)``.

    Examples:
        >>> import numpy as np
        >>> UpSampling1D(2)(np.array([[[1.0], [2.0]]]))[0, :, 0].tolist()
        [1.0, 1.0, 2.0, 2.0]
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        batch, steps, features = inputs.shape
        ones = Tensor(inputs.xp.ones((1, 1, self.size, 1), dtype=inputs.dtype))
        return ops.reshape(ops.expand_dims(inputs, 2) * ones, (batch, steps * self.size, features))

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@builtin_layer
class ZeroPadding1D(Layer):
    """Add zeros at the start and end of the time axis: ``padding`` is an int or ``(start, end)``.

    Examples:
        >>> import numpy as np
        >>> ZeroPadding1D((1, 2))(np.ones((1, 2, 1)))[0, :, 0].tolist()
        [0.0, 1.0, 1.0, 0.0, 0.0]
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = (padding, padding) if isinstance(padding, int) else tuple(int(p) for p in padding)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        return ops.pad(inputs, ((0, 0), self.padding, (0, 0)))

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding)}
