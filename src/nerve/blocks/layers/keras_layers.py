"""Keras 3 layers nerve lacked: activation layers, reshaping, cropping, rescaling, noise and dropout variants,
plus Keras's alternative class names (``MaxPool2D`` for ``MaxPooling2D``...).

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4), layers.LeakyReLU(negative_slope=0.1),
    ...                           layers.RepeatVector(2)])
    >>> model(np.ones((5, 3))).shape
    (5, 2, 4)
"""

from __future__ import annotations

from builtins import slice as builtins_slice

import numpy

from nerve.blocks import constraints, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry
from nerve.blocks.layers.base import deserialize as layer_deserialize
from nerve.blocks.layers.base import serialize as layer_serialize
from nerve.blocks.layers.convolutional import (
    AveragePooling1D, AveragePooling2D, Conv1D, Conv2D, Conv2DTranspose, GlobalAveragePooling1D,
    GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D,
)
from nerve.engine import ops
from nerve.engine import random as nerve_random
from nerve.engine.backend import to_numpy
from nerve.engine.tensor import Tensor

__all__ = [
    "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Identity", "RepeatVector", "Permute", "Cropping1D", "Cropping2D",
    "Rescaling", "UnitNormalization", "GaussianDropout", "AlphaDropout", "SpatialDropout1D", "SpatialDropout2D",
    "ActivityRegularization",
    "Convolution1D", "Convolution2D", "Convolution2DTranspose", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D",
    "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalMaxPool1D", "GlobalMaxPool2D",
    "Conv1DTranspose", "Convolution1DTranspose", "GlobalAveragePooling3D", "GlobalMaxPooling3D", "GlobalAvgPool3D",
    "GlobalMaxPool3D", "ZeroPadding3D", "Cropping3D", "UpSampling3D", "SpatialDropout3D", "Wrapper", "Pipeline",
    "CategoryEncoding", "Discretization", "MaxPooling3D", "AveragePooling3D", "MaxPool3D", "AvgPool3D", "Resizing",
    "RandomInvert", "RandomGrayscale",
]

# Keras's other names of the same classes
Convolution1D, Convolution2D, Convolution2DTranspose = Conv1D, Conv2D, Conv2DTranspose
MaxPool1D, MaxPool2D, AvgPool1D, AvgPool2D = MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D


class _Elementwise(Layer):
    def _records_input_spec(self):
        return False


@builtin_layer
class ReLU(_Elementwise):
    """Rectified linear unit with Keras's options: ``x`` above ``threshold`` (capped at ``max_value``),
    ``negative_slope * (x - threshold)`` below it.

    Examples:
        >>> import numpy as np
        >>> ReLU(max_value=6.0)(np.array([[-1.0, 3.0, 9.0]])).tolist()
        [[0.0, 3.0, 6.0]]
        >>> ReLU(negative_slope=0.5, threshold=1.0)(np.array([[-1.0, 2.0]])).tolist()
        [[-1.0, 2.0]]
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU: max_value must be >= 0, got {max_value}")
        if negative_slope < 0:
            raise ValueError(f"ReLU: negative_slope must be >= 0, got {negative_slope}")
        self.max_value, self.negative_slope, self.threshold = max_value, float(negative_slope), float(threshold)

    def call(self, inputs):
        x = inputs
        if self.negative_slope == 0 and self.threshold == 0:
            out = ops.relu(x)
        else:
            out = ops.where(ops.greater_equal(x, self.threshold), x, (x - self.threshold) * self.negative_slope)
        return out if self.max_value is None else ops.minimum(out, float(self.max_value))

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


@builtin_layer
class LeakyReLU(_Elementwise):
    """``x`` for ``x >= 0``, ``negative_slope * x`` otherwise (Keras's default slope is 0.3).

    Examples:
        >>> import numpy as np
        >>> [round(v, 2) for v in LeakyReLU()(np.array([[-1.0, 2.0]])).numpy()[0].tolist()]
        [-0.3, 2.0]
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        super().__init__(**kwargs)
        if negative_slope < 0:
            raise ValueError(f"LeakyReLU: negative_slope must be >= 0, got {negative_slope}")
        self.negative_slope = float(negative_slope)

    def call(self, inputs):
        return ops.where(ops.greater_equal(inputs, 0.0), inputs, inputs * self.negative_slope)

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


@builtin_layer
class PReLU(Layer):
    """Leaky ReLU whose slopes are learned: ``x`` for ``x >= 0``, ``alpha * x`` otherwise.

    Args:
        alpha_initializer: of the slopes (zeros at first).
        alpha_regularizer: of the slopes (zeros at first).
        alpha_constraint: of the slopes (zeros at first).
        shared_axes: axes (1-based, batch excluded) along which one slope is shared, e.g. ``[1, 2]`` for one
            slope per channel of images.

    Examples:
        >>> import numpy as np
        >>> layer = PReLU(shared_axes=[1, 2])
        >>> _ = layer(np.ones((2, 4, 4, 3)))
        >>> layer.alpha.shape
        (1, 1, 3)
    """

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        self.shared_axes = None if shared_axes is None else (
            [shared_axes] if isinstance(shared_axes, int) else list(shared_axes))

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis <= len(shape):
                raise ValueError(f"layer '{self.name}' (PReLU): shared axis {axis} is not an axis of inputs of shape "
                                 f"{tuple(input_shape)} (axes 1..{len(shape)})")
            shape[axis - 1] = 1
        self.alpha = self.add_weight("alpha", tuple(shape), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self):
        return {**super().get_config(), "alpha_initializer": serialize_entry(self.alpha_initializer),
                "alpha_regularizer": serialize_entry(self.alpha_regularizer),
                "alpha_constraint": serialize_entry(self.alpha_constraint), "shared_axes": self.shared_axes}


@builtin_layer
class ELU(_Elementwise):
    """Exponential linear unit: ``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` otherwise.

    Examples:
        >>> import numpy as np
        >>> ELU(alpha=2.0)(np.array([[0.0, 1.0]])).tolist()
        [[0.0, 1.0]]
    """

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs):
        return ops.elu(inputs, alpha=self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@builtin_layer
class Softmax(_Elementwise):
    """Softmax along ``axis``; ``mask`` (True/1 = keep) gives the masked positions probability 0.

    Examples:
        >>> import numpy as np
        >>> Softmax()(np.array([[0.0, 0.0]])).tolist()
        [[0.5, 0.5]]
        >>> Softmax()(np.array([[1.0, 5.0]]), mask=np.array([[1, 0]])).tolist()
        [[1.0, 0.0]]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = inputs.xp.asarray(mask.data if isinstance(mask, Tensor) else mask)  # host masks copied over
            inputs = inputs + Tensor(((keep == 0) * -1e9).astype(inputs.dtype))
        return ops.softmax(inputs, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@builtin_layer
class Identity(_Elementwise):
    """Returns its input unchanged (a placeholder in architectures).

    Examples:
        >>> import numpy as np
        >>> Identity()(np.ones((1, 2))).tolist()
        [[1.0, 1.0]]
    """

    def call(self, inputs):
        return inputs


@builtin_layer
class RepeatVector(Layer):
    """Repeat a ``(batch, features)`` input ``n`` times: ``(batch, n, features)``.

    Examples:
        >>> import numpy as np
        >>> RepeatVector(3)(np.array([[1.0, 2.0]])).tolist()
        [[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]]
    """

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"RepeatVector: n must be a positive int, got {n!r}")
        self.n = n

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        if inputs.ndim != 2:
            raise ValueError(f"layer '{self.name}' (RepeatVector) expects inputs of shape (batch, features), "
                             f"got {tuple(inputs.shape)}")
        ones = Tensor(inputs.xp.ones((1, self.n, 1), dtype=inputs.dtype))
        return ops.expand_dims(inputs, 1) * ones

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@builtin_layer
class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of ``1..rank-1`` (``(2, 1)`` swaps the two).

    Examples:
        >>> import numpy as np
        >>> Permute((2, 1))(np.zeros((4, 3, 5))).shape
        (4, 5, 3)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)}, got {self.dims}")

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        if inputs.ndim != len(self.dims) + 1:
            raise ValueError(f"layer '{self.name}' (Permute) with dims {self.dims} expects inputs of rank "
                             f"{len(self.dims) + 1}, got shape {tuple(inputs.shape)}")
        return ops.transpose(inputs, (0,) + self.dims)

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


def _pair(value, name):
    if isinstance(value, int):
        return (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, int) and v >= 0 for v in value):
        raise ValueError(f"{name}: expected an int or a pair of non-negative ints, got {value!r}")
    return value


@builtin_layer
class Cropping1D(Layer):
    """Cut ``cropping = (start, end)`` steps off the time axis of ``(batch, steps, features)``.

    Examples:
        >>> import numpy as np
        >>> Cropping1D((1, 2))(np.zeros((2, 10, 3))).shape
        (2, 7, 3)
    """

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(cropping, "Cropping1D")

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        start, end = self.cropping
        steps = inputs.shape[1]
        if inputs.ndim != 3 or start + end >= steps:
            raise ValueError(f"layer '{self.name}' (Cropping1D): cannot crop {self.cropping} from inputs of shape "
                             f"{tuple(inputs.shape)} (expected (batch, steps, features) with steps > {start + end})")
        return inputs[:, start:steps - end, :]

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


@builtin_layer
class Cropping2D(Layer):
    """Cut rows and columns off ``(batch, height, width, channels)`` images: ``cropping`` is an int, a pair
    ``(rows, cols)`` (both sides) or ``((top, bottom), (left, right))``.

    Examples:
        >>> import numpy as np
        >>> Cropping2D(((2, 2), (4, 4)))(np.zeros((1, 28, 28, 3))).shape
        (1, 24, 20, 3)
    """

    def __init__(self, cropping=((0, 0), (0, 0)), **kwargs):
        super().__init__(**kwargs)
        if isinstance(cropping, int):
            cropping = ((cropping, cropping), (cropping, cropping))
        cropping = tuple(cropping)
        if len(cropping) == 2 and all(isinstance(c, int) for c in cropping):
            cropping = ((cropping[0], cropping[0]), (cropping[1], cropping[1]))
        self.cropping = tuple(_pair(c, "Cropping2D") for c in cropping)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        (top, bottom), (left, right) = self.cropping
        if inputs.ndim != 4 or top + bottom >= inputs.shape[1] or left + right >= inputs.shape[2]:
            raise ValueError(f"layer '{self.name}' (Cropping2D): cannot crop {self.cropping} from inputs of shape "
                             f"{tuple(inputs.shape)} (expected (batch, height, width, channels))")
        return inputs[:, top:inputs.shape[1] - bottom, left:inputs.shape[2] - right, :]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


@builtin_layer
class Rescaling(_Elementwise):
    """``inputs * scale + offset`` (``Rescaling(1/255)`` maps pixels to [0, 1]).

    Examples:
        >>> import numpy as np
        >>> Rescaling(1 / 127.5, offset=-1)(np.array([[0.0, 255.0]])).tolist()
        [[-1.0, 1.0]]
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs):
        return inputs * self.scale + self.offset

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


@builtin_layer
class UnitNormalization(_Elementwise):
    """Scale each sample to unit L2 norm along ``axis``: ``x / sqrt(max(sum(x^2), 1e-12))``.

    Examples:
        >>> import numpy as np
        >>> [round(v, 6) for v in UnitNormalization()(np.array([[3.0, 4.0]])).numpy()[0].tolist()]
        [0.6, 0.8]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        squares = ops.sum(inputs * inputs, axis=self.axis, keepdims=True)
        return inputs / ops.sqrt(ops.maximum(squares, 1e-12))

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class _NoiseLayer(_Elementwise):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"{type(self).__name__}: rate must be in [0, 1), got {rate}")
        self.rate, self.seed = float(rate), seed
        self._rng = numpy.random.default_rng(seed) if seed is not None else None

    def _draw(self, kind, shape, dtype, xp):
        rng = self._rng or nerve_random.generator()
        values = rng.standard_normal(shape) if kind == "normal" else rng.random(shape)
        return Tensor(xp.asarray(values.astype(dtype, copy=False)))

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@builtin_layer
class GaussianDropout(_NoiseLayer):
    """Multiply by noise from ``N(1, rate / (1 - rate))`` in training (mean-preserving); identity otherwise.

    Examples:
        >>> import numpy as np
        >>> out = GaussianDropout(0.5, seed=0)(np.ones((1000, 100)), training=True).numpy()
        >>> round(float(out.mean()), 1), round(float(out.std()), 1)
        (1.0, 1.0)
    """

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        stddev = (self.rate / (1 - self.rate)) ** 0.5
        noise = self._draw("normal", inputs.shape, inputs.dtype, inputs.xp)
        return inputs * (noise * stddev + 1.0)


@builtin_layer
class AlphaDropout(_NoiseLayer):
    """Dropout that keeps SELU activations' mean and variance: dropped units go to SELU's negative saturation
    ``-1.7581``, then an affine map restores the statistics (Klambauer et al.).

    Examples:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).normal(size=(2000, 500))
        >>> out = AlphaDropout(0.2, seed=1)(x, training=True).numpy()
        >>> round(float(out.mean()), 1), round(float(out.std()), 1)
        (0.0, 1.0)
    """

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        alpha_p = -1.6732632423543772 * 1.0507009873554805
        keep = 1 - self.rate
        a = (keep + alpha_p ** 2 * keep * self.rate) ** -0.5
        b = -a * alpha_p * self.rate
        kept = ops.cast(ops.greater_equal(self._draw("uniform", inputs.shape, inputs.dtype, inputs.xp), self.rate),
                        inputs.dtype)
        return (inputs * kept + (kept * -1.0 + 1.0) * alpha_p) * a + b


class _SpatialDropout(_NoiseLayer):
    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if inputs.ndim != self.rank:
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}) expects inputs of rank {self.rank}, got "
                             f"shape {tuple(inputs.shape)}")
        shape = (inputs.shape[0],) + (1,) * (self.rank - 2) + (inputs.shape[-1],)  # whole feature maps
        kept = ops.cast(ops.greater_equal(self._draw("uniform", shape, inputs.dtype, inputs.xp), self.rate),
                        inputs.dtype)
        return inputs * kept * (1.0 / (1.0 - self.rate))


@builtin_layer
class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole feature channels of ``(batch, steps, channels)`` inputs (training only).

    Examples:
        >>> import numpy as np
        >>> out = SpatialDropout1D(0.5, seed=0)(np.ones((2, 5, 4)), training=True).numpy()
        >>> bool(((out == 0) | (out == 2)).all() and (out.std(axis=1) == 0).all())
        True
    """

    rank = 3


@builtin_layer
class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps of ``(batch, height, width, channels)`` inputs (training only).

    Examples:
        >>> import numpy as np
        >>> out = SpatialDropout2D(0.5, seed=0)(np.ones((2, 3, 3, 4)), training=True).numpy()
        >>> bool((out.reshape(2, 9, 4).std(axis=1) == 0).all())
        True
    """

    rank = 4


@builtin_layer
class ActivityRegularization(_Elementwise):
    """Pass the input through and add ``(l1 * sum(|x|) + l2 * sum(x^2)) / batch_size`` to the training objective
    (Keras semantics, through :meth:`Layer.add_loss`).

    Examples:
        >>> import numpy as np
        >>> from nerve.blocks.layers.base import take_added_losses
        >>> _ = take_added_losses()
        >>> ActivityRegularization(l1=0.1)(np.ones((2, 3))).shape
        (2, 3)
        >>> [round(v.item(), 4) for v in take_added_losses()]
        [0.3]
    """

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        super().__init__(**kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def call(self, inputs):
        penalty = None
        if self.l1:
            penalty = ops.sum(ops.abs(inputs)) * self.l1
        if self.l2:
            term = ops.sum(inputs * inputs) * self.l2
            penalty = term if penalty is None else penalty + term
        if penalty is not None:
            self.add_loss(penalty / inputs.shape[0])
        return inputs

    def get_config(self):
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}


@builtin_layer
class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution of ``(batch, steps, channels)`` sequences (learned upsampling), computed by the
    2-D transposed convolution on a width-1 image; the kernel has Keras's shape ``(kernel_size, filters, channels)``.

    Examples:
        >>> import numpy as np
        >>> Conv1DTranspose(4, 3, strides=2, padding="same")(np.zeros((2, 5, 3))).shape
        (2, 10, 4)
    """

    rank = 1

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"layer '{self.name}' (Conv1DTranspose) expects inputs of shape (batch, steps, channels), "
                             f"got {tuple(input_shape)}")
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, input_shape[-1]),
                                      self.kernel_initializer, self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def call(self, inputs):
        batch, steps, channels = inputs.shape
        kernel = ops.reshape(self.kernel, (self.kernel_size[0], 1, self.filters, channels))
        out = ops.conv2d_transpose(ops.reshape(inputs, (batch, steps, 1, channels)), kernel, self.bias,
                                   (self.strides[0], 1), self.padding, (self.dilation_rate[0], 1))
        return self.activation(ops.reshape(out, (batch, out.shape[1], self.filters)))


Convolution1DTranspose = Conv1DTranspose


class _Global3D(Layer):
    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        if inputs.ndim != 5:
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}) expects (batch, depth, height, width, "
                             f"channels) inputs, got shape {tuple(inputs.shape)}")
        return self._reduce(inputs, axis=(1, 2, 3), keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


@builtin_layer
class GlobalAveragePooling3D(_Global3D):
    """Mean over the three spatial axes of ``(batch, depth, height, width, channels)`` volumes.

    Examples:
        >>> import numpy as np
        >>> GlobalAveragePooling3D()(np.ones((2, 3, 4, 5, 6))).shape
        (2, 6)
    """

    _reduce = staticmethod(ops.mean)


@builtin_layer
class GlobalMaxPooling3D(_Global3D):
    """Maximum over the three spatial axes of ``(batch, depth, height, width, channels)`` volumes.

    Examples:
        >>> import numpy as np
        >>> GlobalMaxPooling3D(keepdims=True)(np.ones((2, 3, 4, 5, 6))).shape
        (2, 1, 1, 1, 6)
    """

    _reduce = staticmethod(ops.max)


GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D


def _triple_pairs(value, name):
    if isinstance(value, int):
        return ((value, value),) * 3
    value = tuple(value)
    if len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple((v, v) for v in value)
    if len(value) == 3 and all(len(tuple(v)) == 2 for v in value):
        return tuple(tuple(int(a) for a in v) for v in value)
    raise ValueError(f"{name}: expected an int, three ints or three (before, after) pairs, got {value!r}")


def _check_volume(layer, inputs):
    if inputs.ndim != 5:
        raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) expects (batch, depth, height, width, "
                         f"channels) inputs, got shape {tuple(inputs.shape)}")


@builtin_layer
class ZeroPadding3D(Layer):
    """Zeros around the three spatial axes of volumes: an int, three ints, or three ``(before, after)`` pairs.

    Examples:
        >>> import numpy as np
        >>> ZeroPadding3D(1)(np.ones((1, 2, 2, 2, 1))).shape
        (1, 4, 4, 4, 1)
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _triple_pairs(padding, "ZeroPadding3D")

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        _check_volume(self, inputs)
        return ops.pad(inputs, ((0, 0),) + self.padding + ((0, 0),))

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


@builtin_layer
class Cropping3D(Layer):
    """Cut the three spatial axes of volumes: an int, three ints, or three ``(before, after)`` pairs.

    Examples:
        >>> import numpy as np
        >>> Cropping3D(((1, 1), (0, 2), (1, 0)))(np.ones((1, 4, 4, 4, 1))).shape
        (1, 2, 2, 3, 1)
    """

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _triple_pairs(cropping, "Cropping3D")

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        _check_volume(self, inputs)
        index = [builtins_slice(None)]
        for (before, after), size in zip(self.cropping, inputs.shape[1:4]):
            if before + after >= size:
                raise ValueError(f"layer '{self.name}' (Cropping3D): cannot crop {self.cropping} from inputs of shape "
                                 f"{tuple(inputs.shape)}")
            index.append(builtins_slice(before, size - after))
        return inputs[tuple(index) + (builtins_slice(None),)]

    def get_config(self):
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


@builtin_layer
class UpSampling3D(Layer):
    """Repeat each voxel ``size`` times along each spatial axis (nearest neighbour).

    Examples:
        >>> import numpy as np
        >>> UpSampling3D(2)(np.ones((1, 2, 3, 4, 5))).shape
        (1, 4, 6, 8, 5)
    """

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = (size,) * 3 if isinstance(size, int) else tuple(int(s) for s in size)

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        _check_volume(self, inputs)
        b, d, h, w, c = inputs.shape
        a, p, q = self.size
        ones = Tensor(inputs.xp.ones((1, 1, a, 1, p, 1, q, 1), dtype=inputs.dtype))
        grown = ops.reshape(inputs, (b, d, 1, h, 1, w, 1, c)) * ones
        return ops.reshape(grown, (b, d * a, h * p, w * q, c))

    def get_config(self):
        return {**super().get_config(), "size": list(self.size)}


@builtin_layer
class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole feature maps of ``(batch, depth, height, width, channels)`` volumes (training only).

    Examples:
        >>> import numpy as np
        >>> out = SpatialDropout3D(0.5, seed=0)(np.ones((2, 2, 2, 2, 3)), training=True).numpy()
        >>> bool((out.reshape(2, 8, 3).std(axis=1) == 0).all())
        True
    """

    rank = 5


class Wrapper(Layer):
    """Base class of layers that wrap another layer (``self.layer``), as ``TimeDistributed`` and ``Bidirectional``.

    Examples:
        >>> import numpy as np
        >>> from nerve import layers
        >>> class Twice(Wrapper):
        ...     def call(self, x):
        ...         return self.layer(self.layer(x))
        >>> Twice(layers.Dense(2))(np.ones((1, 2))).shape
        (1, 2)
    """

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise TypeError(f"{type(self).__name__} wraps a Layer, got {type(layer).__name__}")
        self.layer = layer

    def call(self, inputs):
        return self.layer(inputs)

    def get_config(self):
        return {**super().get_config(), "layer": layer_serialize(self.layer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = layer_deserialize(config["layer"])
        return cls(**config)


@builtin_layer
class Pipeline(Layer):
    """Apply ``layers`` one after the other, like a Sequential model that is only a layer (Keras's preprocessing
    pipelines); saved with their configs.

    Examples:
        >>> import numpy as np
        >>> from nerve import layers
        >>> Pipeline([layers.Rescaling(0.5), layers.ReLU()])(np.array([[-2.0, 4.0]])).tolist()
        [[0.0, 2.0]]
    """

    def __init__(self, layers, **kwargs):
        super().__init__(**kwargs)
        self.stages = list(layers)

    def _records_input_spec(self):
        return False

    @property
    def layers(self):
        return list(self.stages)

    def call(self, inputs, training=None):
        for stage in self.stages:
            inputs = stage(inputs, training=training)
        return inputs

    def get_config(self):
        return {**super().get_config(), "layers": [layer_serialize(stage) for stage in self.stages]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layers"] = [layer_deserialize(entry) for entry in config["layers"]]
        return cls(**config)


@builtin_layer
class CategoryEncoding(Layer):
    """Integer category ids to vectors of ``num_tokens``: ``"multi_hot"`` (1 where an id occurs in the sample),
    ``"one_hot"`` (one id per sample) or ``"count"`` (occurrences, optionally weighted by ``count_weights``).

    Examples:
        >>> import numpy as np
        >>> CategoryEncoding(4, output_mode="count")(np.array([[0, 1, 1, 3]])).tolist()
        [[1.0, 2.0, 0.0, 1.0]]
    """

    accepts_integer_input = True

    def __init__(self, num_tokens, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode not in ("multi_hot", "one_hot", "count"):
            raise ValueError(f"CategoryEncoding: output_mode must be 'multi_hot', 'one_hot' or 'count', got "
                             f"{output_mode!r}")
        self.num_tokens, self.output_mode, self.sparse = int(num_tokens), output_mode, bool(sparse)

    def _records_input_spec(self):
        return False

    def call(self, inputs, count_weights=None):
        xp = inputs.xp
        ids = inputs.data.astype("int64")
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_tokens):
            raise ValueError(f"layer '{self.name}' (CategoryEncoding): ids from {ids.min()} to {ids.max()} are "
                             f"outside 0..{self.num_tokens - 1}")
        dtype = self.dtype if self.dtype is not None and self.dtype.kind == "f" else numpy.dtype("float32")
        if self.output_mode == "one_hot":
            if ids.ndim > 1 and ids.shape[-1] == 1:
                ids = ids[..., 0]
            return Tensor(xp.eye(self.num_tokens, dtype=dtype)[ids])
        rows = ids.reshape(1, -1) if ids.ndim == 1 else ids.reshape(ids.shape[0], -1)
        weights = xp.ones(rows.shape, dtype=dtype) if count_weights is None else xp.asarray(
            count_weights.data if isinstance(count_weights, Tensor) else count_weights, dtype=dtype).reshape(rows.shape)
        flat = (xp.arange(rows.shape[0])[:, None] * self.num_tokens + rows).ravel()
        counts = xp.bincount(flat, weights=weights.ravel(), minlength=rows.shape[0] * self.num_tokens)
        counts = counts.reshape(rows.shape[0], self.num_tokens).astype(dtype)
        if self.output_mode == "multi_hot":
            counts = (counts > 0).astype(dtype)
        return Tensor(counts[0] if ids.ndim == 1 else counts)

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": self.sparse}


@builtin_layer
class Discretization(Layer):
    """Bucket values by ``bin_boundaries`` (bucket ``i`` holds ``boundaries[i-1] <= x < boundaries[i]``), or learn
    ``num_bins`` quantile boundaries with :meth:`adapt`; ``output_mode="int"`` gives bucket ids, ``"one_hot"``,
    ``"multi_hot"`` or ``"count"`` encode them.

    Examples:
        >>> import numpy as np
        >>> Discretization(bin_boundaries=[0.0, 1.0])(np.array([[-0.5, 0.5, 1.5]])).tolist()
        [[0, 1, 2]]
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError("Discretization: give bin_boundaries or num_bins (then call adapt), not both")
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        self.num_bins, self.epsilon, self.output_mode, self.sparse = num_bins, epsilon, output_mode, bool(sparse)
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"Discretization: unknown output_mode {output_mode!r}")

    def _records_input_spec(self):
        return False

    def adapt(self, data, batch_size=None, steps=None):
        """Set ``num_bins - 1`` boundaries at the quantiles of ``data`` (equal-count buckets).

        Examples:
            >>> import numpy as np
            >>> layer = Discretization(num_bins=4); layer.adapt(np.arange(100.0))
            >>> layer.bin_boundaries
            [24.75, 49.5, 74.25]
        """
        values = to_numpy(data.data if isinstance(data, Tensor) else data).astype(numpy.float64)  # device: copied
        quantiles = numpy.linspace(0, 1, self.num_bins + 1)[1:-1]
        self.bin_boundaries = [float(q) for q in numpy.quantile(values.ravel(), quantiles)]

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"layer '{self.name}' (Discretization): call adapt(data) first, or give bin_boundaries")
        xp = inputs.xp
        ids = xp.searchsorted(xp.asarray(self.bin_boundaries, dtype=inputs.data.dtype), inputs.data, side="right")
        if self.output_mode == "int":
            return Tensor(ids.astype("int64"))
        return CategoryEncoding(len(self.bin_boundaries) + 1, output_mode=self.output_mode)(Tensor(ids))

    def get_config(self):
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries,
                "num_bins": None if self.bin_boundaries is not None else self.num_bins, "epsilon": self.epsilon,
                "output_mode": self.output_mode, "sparse": self.sparse}


class _Pooling3D(Layer):
    """3-D pooling over non-overlapping windows (``strides`` equal to ``pool_size``, Keras's default)."""

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = (pool_size,) * 3 if isinstance(pool_size, int) else tuple(int(p) for p in pool_size)
        strides = self.pool_size if strides is None else (
            (strides,) * 3 if isinstance(strides, int) else tuple(int(s) for s in strides))
        if strides != self.pool_size or padding != "valid":
            raise ValueError(f"{type(self).__name__}: nerve pools volumes over non-overlapping windows only "
                             f"(strides equal to pool_size {self.pool_size}, padding='valid'); got strides={strides}, "
                             f"padding={padding!r}")
        self.strides, self.padding = strides, padding

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        _check_volume(self, inputs)
        b, d, h, w, c = inputs.shape
        p, q, r = self.pool_size
        if d < p or h < q or w < r:
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}): pool_size {self.pool_size} is larger than "
                             f"the volume {tuple(inputs.shape[1:4])}")
        cropped = inputs[:, :d // p * p, :h // q * q, :w // r * r, :]
        blocks = ops.reshape(cropped, (b, d // p, p, h // q, q, w // r, r, c))
        return self._reduce(blocks, axis=(2, 4, 6))

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


@builtin_layer
class MaxPooling3D(_Pooling3D):
    """Maximum over ``pool_size`` windows of ``(batch, depth, height, width, channels)`` volumes.

    Examples:
        >>> import numpy as np
        >>> MaxPooling3D(2)(np.arange(8.0).reshape(1, 2, 2, 2, 1)).numpy().ravel().tolist()
        [7.0]
    """

    _reduce = staticmethod(ops.max)


@builtin_layer
class AveragePooling3D(_Pooling3D):
    """Mean over ``pool_size`` windows of ``(batch, depth, height, width, channels)`` volumes.

    Examples:
        >>> import numpy as np
        >>> AveragePooling3D(2)(np.arange(8.0).reshape(1, 2, 2, 2, 1)).numpy().ravel().tolist()
        [3.5]
    """

    _reduce = staticmethod(ops.mean)


MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D


def _check_images(layer, inputs):
    if inputs.ndim != 4:
        raise ValueError(f"layer '{layer.name}' ({type(layer).__name__}) expects (batch, height, width, channels) "
                         f"images, got shape {tuple(inputs.shape)}")


@builtin_layer
class Resizing(Layer):
    """Resize ``(batch, height, width, channels)`` images to ``height x width``: ``"bilinear"`` (half-pixel centres,
    as Keras and PyTorch's ``align_corners=False``; differentiable) or ``"nearest"``. ``crop_to_aspect_ratio``
    first crops the centre to the target's aspect ratio.

    Examples:
        >>> import numpy as np
        >>> Resizing(4, 4)(np.ones((1, 2, 2, 3))).shape
        (1, 4, 4, 3)
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, **kwargs):
        super().__init__(**kwargs)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"Resizing: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.height, self.width = int(height), int(width)
        self.interpolation, self.crop_to_aspect_ratio = interpolation, bool(crop_to_aspect_ratio)

    def _records_input_spec(self):
        return False

    @staticmethod
    def _sources(size_in, size_out, xp):
        """Per output position: the two source indices and the weight of the second (half-pixel centres)."""
        scale = size_in / size_out
        centres = xp.maximum((xp.arange(size_out) + 0.5) * scale - 0.5, 0.0)
        low = xp.minimum(xp.floor(centres).astype("int64"), size_in - 1)
        high = xp.minimum(low + 1, size_in - 1)
        return low, high, centres - low

    def call(self, inputs):
        _check_images(self, inputs)
        if self.crop_to_aspect_ratio:
            h, w = inputs.shape[1:3]
            target = self.height / self.width
            crop_h, crop_w = (h, int(round(h / target))) if h / w < target else (int(round(w * target)), w)
            crop_h, crop_w = min(crop_h, h), min(crop_w, w)
            top, left = (h - crop_h) // 2, (w - crop_w) // 2
            inputs = inputs[:, top:top + crop_h, left:left + crop_w, :]
        xp = inputs.xp
        h, w = inputs.shape[1:3]
        if self.interpolation == "nearest":
            rows = xp.minimum(xp.floor((xp.arange(self.height) + 0.5) * h / self.height).astype("int64"), h - 1)
            cols = xp.minimum(xp.floor((xp.arange(self.width) + 0.5) * w / self.width).astype("int64"), w - 1)
            return inputs[:, rows][:, :, cols]
        r0, r1, fr = self._sources(h, self.height, xp)
        c0, c1, fc = self._sources(w, self.width, xp)
        fr = Tensor(fr.astype(inputs.dtype).reshape(1, -1, 1, 1))
        fc = Tensor(fc.astype(inputs.dtype).reshape(1, 1, -1, 1))
        top, bottom = inputs[:, r0], inputs[:, r1]
        rows = top + (bottom - top) * fr
        left, right = rows[:, :, c0], rows[:, :, c1]
        return left + (right - left) * fc

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio}


class _RandomImageLayer(_Elementwise):
    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= factor <= 1:
            raise ValueError(f"{type(self).__name__}: factor (a probability) must be in [0, 1], got {factor}")
        self.factor, self.value_range, self.seed = float(factor), tuple(float(v) for v in value_range), seed
        self._rng = numpy.random.default_rng(seed) if seed is not None else None

    def _chosen(self, inputs):
        """A (batch, 1, 1, 1) 0/1 mask: which images are transformed."""
        rng = self._rng or nerve_random.generator()
        picked = (rng.random(inputs.shape[0]) < self.factor).astype(inputs.dtype).reshape(-1, 1, 1, 1)
        return Tensor(inputs.xp.asarray(picked))

    def call(self, inputs, training=None):
        if not training or self.factor == 0:
            return inputs
        _check_images(self, inputs)
        mask = self._chosen(inputs)
        return inputs + (self._transform(inputs) - inputs) * mask

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range),
                "seed": self.seed}


@builtin_layer
class RandomInvert(_RandomImageLayer):
    """In training, invert each image with probability ``factor``: ``low + high - x`` for ``value_range=(low, high)``.

    Examples:
        >>> import numpy as np
        >>> RandomInvert(factor=1.0)(np.array([[[[0.0, 200.0, 255.0]]]]), training=True).tolist()
        [[[[255.0, 55.0, 0.0]]]]
    """

    def __init__(self, factor=0.5, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(factor, value_range, seed, **kwargs)

    def _transform(self, inputs):
        low, high = self.value_range
        return (inputs * -1.0) + (low + high)


@builtin_layer
class RandomGrayscale(_RandomImageLayer):
    """In training, turn each RGB image grey with probability ``factor`` (``0.2989 R + 0.587 G + 0.114 B`` in all
    three channels).

    Examples:
        >>> import numpy as np
        >>> [round(v, 4) for v in RandomGrayscale(factor=1.0)(np.array([[[[1.0, 0.0, 0.0]]]]), training=True)
        ...  .numpy().ravel().tolist()]
        [0.2989, 0.2989, 0.2989]
    """

    def __init__(self, factor=0.5, seed=None, **kwargs):
        super().__init__(factor, (0, 255), seed, **kwargs)

    def _transform(self, inputs):
        if inputs.shape[-1] != 3:
            raise ValueError(f"layer '{self.name}' (RandomGrayscale) expects RGB images (3 channels), got shape "
                             f"{tuple(inputs.shape)}")
        weights = Tensor(inputs.xp.asarray([0.2989, 0.587, 0.114], dtype=inputs.dtype))
        grey = ops.sum(inputs * weights, axis=-1, keepdims=True)
        return grey * Tensor(inputs.xp.ones((1, 1, 1, 3), dtype=inputs.dtype))

    def get_config(self):
        config = super().get_config()
        config.pop("value_range")
        return config
