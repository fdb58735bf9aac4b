"""Core layers: Dense, Activation, Dropout, BatchNormalization, Flatten, Reshape, Maxout, and merges.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> layer = layers.Dense(3, activation="relu")
    >>> layer(np.ones((2, 4))).shape
    (2, 3)
"""

from __future__ import annotations

import math

import numpy

from nerve.blocks import activations, constraints, initializers, regularizers
from nerve.blocks.layers.base import Layer, builtin_layer, serialize_entry, unique_name
from nerve.blocks.layers.symbolic import Node, SymbolicTensor
from nerve.engine import ops, random, registry, validate
from nerve.engine.backend import get_device, to_device
from nerve.engine.tensor import Tensor, is_grad_enabled


@builtin_layer
class Dense(Layer):
    """Fully connected layer: ``activation(inputs @ kernel + bias)`` over the last axis.

    The input size is inferred on the first call.

    Args:
        units: number of output units.
        activation: name or function (``"relu"``, ``"sigmoid"``, ``None``...).
        use_bias: add a bias vector.
        kernel_initializer: names or initializer objects
            (Glorot uniform and zeros by default, like Keras).
        bias_initializer: names or initializer objects
            (Glorot uniform and zeros by default, like Keras).
        kernel_regularizer: e.g. ``nerve.regularizers.L2(1e-4)``;
            their penalty is added to the training loss.
        bias_regularizer: e.g. ``nerve.regularizers.L2(1e-4)``;
            their penalty is added to the training loss.
        kernel_constraint: e.g. ``nerve.constraints.MaxNorm(3)``, applied after each
            optimizer step in ``fit``.
        bias_constraint: e.g. ``nerve.constraints.MaxNorm(3)``, applied after each
            optimizer step in ``fit``.

    Examples:
        >>> import numpy as np
        >>> layer = Dense(200)
        >>> layer(np.zeros((32, 4))).shape
        (32, 200)
        >>> layer.kernel.shape
        (4, 200)
    """

    min_ndim = 2

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = validate.positive_int(units, "units", "Dense")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight("kernel", (features, self.units), self.kernel_initializer, self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                        constraint=self.bias_constraint)

    def call(self, inputs):
        if self.activation is activations.relu:  # fused: one graph node instead of two
            return ops.linear(inputs, self.kernel, self.bias, activation="relu")
        return self.activation(ops.linear(inputs, self.kernel, self.bias))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
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
class Activation(Layer):
    """Apply an activation function by name or callable.

    Examples:
        >>> import numpy as np
        >>> Activation("relu")(np.array([[-1.0, 2.0]])).tolist()
        [[0.0, 2.0]]
    """

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


@builtin_layer
class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the rest by 1/(1-rate).

    At inference it is the identity, so no rescaling is needed there.

    Examples:
        >>> import numpy as np
        >>> d = Dropout(0.5)
        >>> d(np.ones((2, 2)), training=False).tolist()
        [[1.0, 1.0], [1.0, 1.0]]
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = validate.probability(rate, "rate", type(self).__name__, include_one=False)
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = numpy.random.default_rng(seed) if seed is not None else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        rng = self._rng or random.generator()
        shape = inputs.shape if self.noise_shape is None else tuple(
            n if n is not None else inputs.shape[i] for i, n in enumerate(self.noise_shape))
        keep = 1.0 - self.rate
        mask = (rng.random(shape, dtype=numpy.float32 if inputs.dtype == numpy.float32 else numpy.float64) < keep)
        xp = inputs.xp
        scale = xp.asarray(mask, dtype=inputs.dtype) * inputs.dtype.type(1.0 / keep)
        return inputs * Tensor(scale)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


@builtin_layer
class BatchNormalization(Layer):
    """Batch normalisation over the last axis (features of a Dense layer or channels of an image).

    In training it normalises with the batch's mean and variance and updates
    running statistics: ``running = momentum * running + (1 - momentum) * batch``.
    At inference it uses the running statistics. ``gamma`` (scale) and ``beta``
    (shift) are learned. ``synchronized=True`` (Keras's name) computes the batch
    statistics over every process of a data-parallel job (``nerve.distributed``), so
    that each process normalises with the statistics of the whole global batch.

    Examples:
        >>> import numpy as np
        >>> bn = BatchNormalization()
        >>> y = bn(np.array([[1.0], [3.0]]), training=True)
        >>> [round(v, 2) for v in y.numpy().ravel().tolist()]
        [-1.0, 1.0]
    """

    compute_in_variable_dtype = True  # statistics in float32 inside a float16 model (as Keras does)

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", synchronized=False, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise ValueError("BatchNormalization: only axis=-1 (features/channels last) is supported")
        self.axis = axis
        self.momentum = validate.probability(momentum, "momentum", "BatchNormalization")
        self.epsilon = validate.finite_float(epsilon, "epsilon", "BatchNormalization", low=0.0, strict=True)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.synchronized = bool(synchronized)

    def build(self, input_shape):
        n = input_shape[-1]
        self.gamma = self.add_weight("gamma", (n,), self.gamma_initializer, trainable=self.scale)
        self.beta = self.add_weight("beta", (n,), self.beta_initializer, trainable=self.center)
        self.moving_mean = self.add_weight("moving_mean", (n,), "zeros", trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (n,), "ones", trainable=False)

    def call(self, inputs, training=None):
        if training and self.trainable:  # a frozen BatchNormalization normalises with its moving statistics
            if self.synchronized:
                out, mean, var, n = ops.sync_batch_norm(inputs, self.gamma, self.beta, self.epsilon)
            else:
                out, mean, var = ops.batch_norm(inputs, self.gamma, self.beta, self.epsilon)
                n = inputs.size // inputs.shape[-1]
            m = self.momentum
            unbiased = var * (n / max(n - 1, 1))
            self.moving_mean.data[...] = m * self.moving_mean.data + (1 - m) * mean
            self.moving_variance.data[...] = m * self.moving_variance.data + (1 - m) * unbiased
            return out
        xp = inputs.xp
        inv = self.gamma.data / xp.sqrt(self.moving_variance.data + self.epsilon)
        shift = self.beta.data - self.moving_mean.data * inv
        if not is_grad_enabled():
            return Tensor(inputs.data * inv + shift)
        scale_t = self.gamma / ops.sqrt(Tensor(self.moving_variance.data + self.epsilon))
        return (inputs - Tensor(self.moving_mean.data)) * scale_t + self.beta

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "synchronized": self.synchronized,
        }


@builtin_layer
class Flatten(Layer):
    """Flatten every axis but the batch axis.

    Examples:
        >>> import numpy as np
        >>> Flatten()(np.zeros((2, 3, 4))).shape
        (2, 12)
    """

    def call(self, inputs):
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def _fixes_last_axis(self):
        return False


@builtin_layer
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (the batch axis is kept; -1 allowed once).

    Examples:
        >>> import numpy as np
        >>> Reshape((3, 4))(np.zeros((2, 12))).shape
        (2, 3, 4)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(n) for n in target_shape)

    def call(self, inputs):
        sample = math.prod(inputs.shape[1:])
        known = math.prod(n for n in self.target_shape if n != -1)
        if (-1 not in self.target_shape and known != sample) or (-1 in self.target_shape and sample % known):
            raise ValueError(
                f"layer '{self.name}' (Reshape): cannot reshape samples of shape {tuple(inputs.shape[1:])} "
                f"({sample} values) into {self.target_shape}"
            )
        return ops.reshape(inputs, (inputs.shape[0],) + self.target_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@builtin_layer
class Maxout(Layer):
    """Maxout unit: ``units`` outputs, each the maximum of ``pieces`` linear functions of the input.

    Examples:
        >>> import numpy as np
        >>> Maxout(3, pieces=4)(np.zeros((2, 5))).shape
        (2, 3)
    """

    min_ndim = 2

    def __init__(self, units, pieces=2, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.units = validate.positive_int(units, "units", "Maxout")
        self.pieces = validate.positive_int(pieces, "pieces", "Maxout")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        n = self.units * self.pieces
        self.kernel = self.add_weight("kernel", (input_shape[-1], n), self.kernel_initializer, self.kernel_regularizer)
        self.bias = self.add_weight("bias", (n,), self.bias_initializer)

    def call(self, inputs):
        z = ops.linear(inputs, self.kernel, self.bias)
        z = ops.reshape(z, tuple(z.shape[:-1]) + (self.units, self.pieces))
        return ops.max(z, axis=-1)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pieces": self.pieces,
                "kernel_initializer": serialize_entry(self.kernel_initializer),
                "bias_initializer": serialize_entry(self.bias_initializer),
                "kernel_regularizer": serialize_entry(self.kernel_regularizer)}


class _Merge(Layer):
    """Base of layers that combine a list of tensors of compatible shapes."""

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}) expects a list of at least 2 tensors")

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        self._check_inputs(inputs)
        shapes = [tuple(t.shape) for t in inputs]
        try:
            numpy.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"layer '{self.name}' ({type(self).__name__}): input shapes {shapes} are not compatible") from None
        out = inputs[0]
        for t in inputs[1:]:
            out = self._combine(out, t)
        return self._finish(out, len(inputs))

    def _finish(self, out, n):
        return out


@builtin_layer
class Add(_Merge):
    """Elementwise sum of a list of tensors (skip connections).

    Examples:
        >>> import numpy as np
        >>> Add()([np.ones((1, 2)), np.ones((1, 2))]).tolist()
        [[2.0, 2.0]]
    """

    def _combine(self, a, b):
        return a + b


@builtin_layer
class Subtract(_Merge):
    """Difference of exactly two tensors.

    Examples:
        >>> import numpy as np
        >>> Subtract()([np.ones((1, 2)), np.ones((1, 2))]).tolist()
        [[0.0, 0.0]]
    """

    def _combine(self, a, b):
        return a - b


@builtin_layer
class Multiply(_Merge):
    """Elementwise product of a list of tensors.

    Examples:
        >>> import numpy as np
        >>> Multiply()([np.full((1, 2), 2.0), np.full((1, 2), 3.0)]).tolist()
        [[6.0, 6.0]]
    """

    def _combine(self, a, b):
        return a * b


@builtin_layer
class Average(_Merge):
    """Elementwise mean of a list of tensors.

    Examples:
        >>> import numpy as np
        >>> Average()([np.zeros((1, 2)), np.full((1, 2), 2.0)]).tolist()
        [[1.0, 1.0]]
    """

    def _combine(self, a, b):
        return a + b

    def _finish(self, out, n):
        return out / n


@builtin_layer
class Maximum(_Merge):
    """Elementwise maximum of a list of tensors.

    Examples:
        >>> import numpy as np
        >>> Maximum()([np.zeros((1, 2)), np.ones((1, 2))]).tolist()
        [[1.0, 1.0]]
    """

    def _combine(self, a, b):
        return ops.maximum(a, b)


@builtin_layer
class Concatenate(Layer):
    """Concatenate a list of tensors along ``axis`` (the last by default).

    Examples:
        >>> import numpy as np
        >>> Concatenate()([np.zeros((2, 3)), np.zeros((2, 1))]).shape
        (2, 4)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def _records_input_spec(self):
        return False

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"layer '{self.name}' (Concatenate) expects a list of at least 2 tensors")
        try:
            return ops.concatenate(list(inputs), axis=self.axis)
        except ValueError as error:
            raise ValueError(f"layer '{self.name}' (Concatenate): {error}") from None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


@builtin_layer
class Lambda(Layer):
    """Wrap a function of tensors as a layer; ``arguments`` are extra keyword arguments of the function.

    A model with a Lambda saves when the function is registered (``@nerve.saving.register_serializable``):
    the file holds its registered name, and loading looks the name up (never code: a lambda cannot be saved).

    Examples:
        >>> import numpy as np, nerve
        >>> Lambda(lambda x: x * 2)(np.ones((1, 2))).tolist()
        [[2.0, 2.0]]
        >>> @nerve.saving.register_serializable(package="docs")
        ... def scale(x, factor=1.0):
        ...     return x * factor
        >>> Lambda(scale, arguments={"factor": 3.0}).get_config()["function"]
        'docs>scale'
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(function, str):  # a registered function's name, from a config
            name = function
            function = registry.get_registered_object(name)
            if function is None or not callable(function) or isinstance(function, type):
                raise registry.UnknownObjectError(
                    f"Lambda: the function '{name}' is not registered; register it with "
                    "@nerve.saving.register_serializable(package=...) or pass it in custom_objects")
        self.function = function
        self.output_shape_hint, self.mask = output_shape, mask
        self.arguments = dict(arguments or {})

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def get_config(self):
        name = registry.get_registered_name(self.function)
        if registry.get_registered_object(name) is not self.function:
            raise ValueError(
                f"layer '{self.name}' (Lambda) cannot be saved: its function is code, and nerve model files never "
                "contain code. Register the function with @nerve.saving.register_serializable(package=...) to save "
                "it by name, or write a small registered Layer subclass (see nerve.layers.register)."
            )
        return {**super().get_config(), "function": name, "arguments": self.arguments}


@builtin_layer
class InputLayer(Layer):
    """The layer behind :func:`Input`: passes its input through.

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(3,), name="features")
        >>> type(x.node.layer).__name__, x.node.layer.shape
        ('InputLayer', (3,))
    """

    accepts_integer_input = True

    def __init__(self, shape, input_dtype="float32", **kwargs):
        super().__init__(**kwargs)
        self.shape = validate.shape(shape, "shape", f"InputLayer '{self.name}'", allow_none=False)
        self.input_dtype = numpy.dtype(input_dtype)

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {**super().get_config(), "shape": list(self.shape), "input_dtype": str(self.input_dtype)}


def Input(shape, dtype="float32", name=None):  # noqa: N802 - Keras name
    """Declare a model input of per-sample ``shape`` for the functional API.

    Examples:
        >>> import nerve
        >>> from nerve import layers
        >>> x = nerve.Input(shape=(4,))
        >>> y = layers.Dense(2)(x)
        >>> y.shape
        (None, 2)
    """
    shape = validate.shape(shape, "shape", "Input" if name is None else f"Input '{name}'", allow_none=False)
    layer = InputLayer(shape, input_dtype=dtype, name=name or unique_name("input_layer"))
    node = Node(layer, None, {})
    example = Tensor(to_device(numpy.zeros((1,) + shape, dtype=numpy.dtype(dtype)), get_device()))
    tensor = SymbolicTensor(example, node, 0, name=layer.name)
    node.outputs = [tensor]
    return tensor
