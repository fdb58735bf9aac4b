"""Convolution, pooling, upsampling and padding layers for channels-last data (Keras API).

Images are ``(batch, height, width, channels)`` and sequences
``(batch, steps, channels)``. A convolution shares one small kernel across
every position of the image (weight sharing); pooling summarises each window.
The arithmetic lives in :mod:`nerve.ops.conv`; these layers hold the weights,
check shapes at build time and save their configuration.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> model = nerve.Sequential([
    ...     nerve.Input(shape=(28, 28, 1)),
    ...     layers.Conv2D(6, 5, padding="same", activation="relu"),
    ...     layers.MaxPooling2D(2),
    ...     layers.Flatten(),
    ...     layers.Dense(10),
    ... ])
    >>> model(np.zeros((2, 28, 28, 1), dtype=np.float32)).shape
    (2, 10)
"""

from __future__ import annotations

from nerve.blocks import activations, constraints, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry
from nerve.engine import ops, validate
from nerve.engine.ops import conv as conv_ops

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "UpSampling2D",
    "ZeroPadding2D",
]


def _describe(rank):
    return "(batch, height, width, channels)" if rank == 2 else "(batch, steps, channels)"


def _check_rank(layer, input_shape, rank):
    """Raise a ValueError naming ``layer`` unless ``input_shape`` has ``rank`` spatial axes plus batch and channels."""
    if len(input_shape) != rank + 2:
        hint = ""
        if len(input_shape) == rank + 1:
            hint = " It looks like the channel axis is missing: add one, e.g. x[..., None] (or x.reshape(*x.shape, 1))."
        raise ValueError(
            f"layer '{layer.name}' ({type(layer).__name__}) expects input of shape {_describe(rank)}, "
            f"got shape {tuple(input_shape)}.{hint}"
        )


def _check_fits(layer, input_shape, window, strides, dilation, padding, what):
    """Raise a ValueError naming ``layer`` when the window does not fit the (padded) input."""
    rank = len(window)
    spatial = tuple(input_shape[1 : rank + 1])
    out = tuple(conv_ops.conv_output_length(n, k, s, padding, d) for n, k, s, d in zip(spatial, window, strides, dilation))
    if min(out) < 1:
        pads = [conv_ops.conv_padding(n, k, s, padding, d) for n, k, s, d in zip(spatial, window, strides, dilation)]
        padded = tuple(n + a + b for n, (a, b) in zip(spatial, pads))
        span = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
        raise ValueError(
            f"layer '{layer.name}' ({type(layer).__name__}): the {what} {tuple(window)} (spanning {span}) is larger than "
            f"its padded input: input shape {tuple(input_shape)}, spatial size {spatial} padded to {padded} with "
            f"padding={padding!r}, so the output would have spatial size {out}. Use a smaller {what} or strides, "
            f"padding='same', or fewer downsampling layers before this one."
        )
    return out


# ----------------------------------------------------------- convolutions
class _Conv(Layer):
    """Shared code of Conv1D and Conv2D (``rank`` spatial axes)."""

    rank = 2
    paddings = ("valid", "same")

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.filters = validate.positive_int(filters, "filters", cls)
        self.kernel_size = conv_ops.normalize_tuple(cls, kernel_size, self.rank, "kernel_size")
        self.strides = conv_ops.normalize_tuple(cls, strides, self.rank, "strides")
        self.dilation_rate = conv_ops.normalize_tuple(cls, dilation_rate, self.rank, "dilation_rate")
        self.padding = conv_ops.check_padding(cls, padding, self.paddings)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _kernel_shape(self, channels):
        return self.kernel_size + (channels, self.filters)

    def build(self, input_shape):
        _check_rank(self, input_shape, self.rank)
        _check_fits(self, input_shape, self.kernel_size, self.strides, self.dilation_rate, self.padding, "kernel")
        shape = self._kernel_shape(input_shape[-1])
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_entry(self.kernel_initializer),
            "bias_initializer": serialize_entry(self.bias_initializer),
            "kernel_regularizer": serialize_entry(self.kernel_regularizer),
            "bias_regularizer": serialize_entry(self.bias_regularizer),
            "kernel_constraint": serialize_entry(self.kernel_constraint),
            "bias_constraint": serialize_entry(self.bias_constraint),
        }


@builtin_layer
class Conv2D(_Conv):
    """2-D convolution over ``(batch, height, width, channels)`` images.

    Args:
        filters: number of output channels.
        kernel_size: int or ``(height, width)``.
        strides: int or pair (default 1).
        padding: ``"valid"`` (no padding: the output shrinks by ``kernel - 1``)
            or ``"same"`` (output ``ceil(size / stride)``, TensorFlow/Keras rule).
        dilation_rate: int or pair; spacing between kernel taps.
        activation: as in :class:`~nerve.layers.Dense`.
        use_bias: as in :class:`~nerve.layers.Dense`.
        kernel_initializer: as in :class:`~nerve.layers.Dense`.
        bias_initializer: as in :class:`~nerve.layers.Dense`.
        kernel_regularizer: as in :class:`~nerve.layers.Dense`.
        bias_regularizer: as in :class:`~nerve.layers.Dense`.

    The kernel has shape ``(kh, kw, in_channels, filters)``.

    Examples:
        >>> import numpy as np
        >>> layer = Conv2D(8, 3, padding="same")
        >>> layer(np.zeros((2, 28, 28, 1))).shape
        (2, 28, 28, 8)
        >>> layer.kernel.shape
        (3, 3, 1, 8)
    """

    rank = 2

    def call(self, inputs):
        if self.activation is activations.relu:  # fused: one graph node instead of two
            return ops.conv2d(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate,
                              activation="relu")
        out = ops.conv2d(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)
        return self.activation(out)


@builtin_layer
class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)`` sequences; ``padding`` may also be ``"causal"``.

    The kernel has shape ``(kernel_size, in_channels, filters)``.

    Examples:
        >>> import numpy as np
        >>> Conv1D(4, 3, padding="causal")(np.zeros((2, 10, 3))).shape
        (2, 10, 4)
    """

    rank = 1
    paddings = ("valid", "same", "causal")

    def call(self, inputs):
        out = ops.conv1d(inputs, self.kernel, self.bias, self.strides[0], self.padding, self.dilation_rate[0])
        return self.activation(out)


@builtin_layer
class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution (sometimes called deconvolution): learnable upsampling for decoders.

    Output size per axis: ``size * stride`` with ``"same"``, ``size * stride +
    max(kernel - stride, 0)`` with ``"valid"`` (as in Keras). The kernel has
    shape ``(kh, kw, filters, in_channels)``, Keras's layout.

    Examples:
        >>> import numpy as np
        >>> Conv2DTranspose(3, 3, strides=2, padding="same")(np.zeros((1, 7, 7, 8))).shape
        (1, 14, 14, 3)
    """

    rank = 2

    def _kernel_shape(self, channels):
        return self.kernel_size + (self.filters, channels)

    def build(self, input_shape):
        _check_rank(self, input_shape, self.rank)
        shape = self._kernel_shape(input_shape[-1])
        self.kernel = self.add_weight("kernel", shape, self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def call(self, inputs):
        out = ops.conv2d_transpose(inputs, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)
        return self.activation(out)


# ---------------------------------------------------------------- pooling
class _Pool(Layer):
    """Shared code of the max and average pooling layers."""

    rank = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.pool_size = conv_ops.normalize_tuple(cls, pool_size, self.rank, "pool_size")
        self.strides = self.pool_size if strides is None else conv_ops.normalize_tuple(cls, strides, self.rank, "strides")
        self.padding = conv_ops.check_padding(cls, padding)

    def build(self, input_shape):
        _check_rank(self, input_shape, self.rank)
        _check_fits(self, input_shape, self.pool_size, self.strides, (1,) * self.rank, self.padding, "pool window")

    def call(self, inputs):
        return self.pool(inputs, self.pool_size, self.strides, self.padding)

    def get_config(self):
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding}


@builtin_layer
class MaxPooling2D(_Pool):
    """Maximum over ``pool_size`` windows of ``(batch, height, width, channels)`` images.

    ``strides`` defaults to ``pool_size`` (non-overlapping windows).

    Examples:
        >>> import numpy as np
        >>> MaxPooling2D(2)(np.zeros((2, 28, 28, 6))).shape
        (2, 14, 14, 6)
    """

    rank = 2
    pool = staticmethod(ops.max_pool2d)


@builtin_layer
class AveragePooling2D(_Pool):
    """Mean over ``pool_size`` windows of images (``"same"`` padding averages only real pixels).

    Examples:
        >>> import numpy as np
        >>> AveragePooling2D(2, padding="same")(np.zeros((2, 5, 5, 3))).shape
        (2, 3, 3, 3)
    """

    rank = 2
    pool = staticmethod(ops.avg_pool2d)


@builtin_layer
class MaxPooling1D(_Pool):
    """Maximum over windows of ``(batch, steps, channels)`` sequences.

    Examples:
        >>> import numpy as np
        >>> MaxPooling1D(2)(np.zeros((2, 10, 3))).shape
        (2, 5, 3)
    """

    rank = 1
    pool = staticmethod(ops.max_pool1d)


@builtin_layer
class AveragePooling1D(_Pool):
    """Mean over windows of ``(batch, steps, channels)`` sequences.

    Examples:
        >>> import numpy as np
        >>> AveragePooling1D(3, strides=1)(np.zeros((2, 10, 3))).shape
        (2, 8, 3)
    """

    rank = 1
    pool = staticmethod(ops.avg_pool1d)


class _GlobalPool(Layer):
    rank = 2

    def __init__(self, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        _check_rank(self, input_shape, self.rank)

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


@builtin_layer
class GlobalAveragePooling2D(_GlobalPool):
    """Mean over height and width: ``(batch, h, w, c)`` -> ``(batch, c)`` (ResNet's head).

    Examples:
        >>> import numpy as np
        >>> GlobalAveragePooling2D()(np.ones((2, 7, 7, 64))).shape
        (2, 64)
    """

    def call(self, inputs):
        return ops.global_avg_pool(inputs, self.keepdims)


@builtin_layer
class GlobalMaxPooling2D(_GlobalPool):
    """Maximum over height and width: ``(batch, h, w, c)`` -> ``(batch, c)``.

    Examples:
        >>> import numpy as np
        >>> GlobalMaxPooling2D()(np.ones((2, 7, 7, 64))).shape
        (2, 64)
    """

    def call(self, inputs):
        return ops.global_max_pool(inputs, self.keepdims)


@builtin_layer
class GlobalAveragePooling1D(_GlobalPool):
    """Mean over steps: ``(batch, steps, c)`` -> ``(batch, c)``.

    Examples:
        >>> import numpy as np
        >>> GlobalAveragePooling1D()(np.ones((2, 10, 3))).shape
        (2, 3)
    """

    rank = 1

    def call(self, inputs):
        return ops.global_avg_pool(inputs, self.keepdims)


@builtin_layer
class GlobalMaxPooling1D(_GlobalPool):
    """Maximum over steps: ``(batch, steps, c)`` -> ``(batch, c)``.

    Examples:
        >>> import numpy as np
        >>> GlobalMaxPooling1D()(np.ones((2, 10, 3))).shape
        (2, 3)
    """

    rank = 1

    def call(self, inputs):
        return ops.global_max_pool(inputs, self.keepdims)


# --------------------------------------------------- resizing and padding
@builtin_layer
class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times (nearest neighbour), e.g. in a decoder.

    Examples:
        >>> import numpy as np
        >>> UpSampling2D(2)(np.zeros((1, 7, 7, 3))).shape
        (1, 14, 14, 3)
    """

    def __init__(self, size=2, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if interpolation != "nearest":
            raise ValueError(f"UpSampling2D: unknown interpolation {interpolation!r}; valid: 'nearest'")
        self.size = conv_ops.normalize_tuple("UpSampling2D", size, 2, "size")
        self.interpolation = interpolation

    def build(self, input_shape):
        _check_rank(self, input_shape, 2)

    def call(self, inputs):
        return ops.upsample2d(inputs, self.size)

    def get_config(self):
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


@builtin_layer
class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around images.

    ``padding``: an int (all sides), ``(rows, columns)`` (symmetric), or
    ``((top, bottom), (left, right))``.

    Examples:
        >>> import numpy as np
        >>> ZeroPadding2D(((1, 0), (2, 1)))(np.zeros((1, 4, 4, 3))).shape
        (1, 5, 7, 3)
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = conv_ops.pad_pairs("ZeroPadding2D", padding)

    def build(self, input_shape):
        _check_rank(self, input_shape, 2)

    def call(self, inputs):
        return ops.zero_pad2d(inputs, self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}
