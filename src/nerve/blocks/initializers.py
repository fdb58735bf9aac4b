"""Weight initializers with Keras names, defaults and fan rules.

An initializer is called as ``init(shape, dtype="float32")`` and returns a new
NumPy array (the layer turns it into a Tensor on its device). Every random
draw goes through :func:`nerve.random.generator`, so ``nerve.random.seed(n)``
makes weights reproducible.

Fans follow Keras: for a dense kernel ``(in, out)``, ``fan_in = in`` and
``fan_out = out``; for a convolution kernel ``(kh, kw, in, out)`` both are
multiplied by the receptive field ``kh * kw`` (see :func:`compute_fans`).
The "normal" members of the Glorot, He and LeCun families draw from a normal
truncated at two standard deviations and rescaled so that the variance is
exactly ``scale / fan`` (Keras's ``truncated_normal`` distribution).

Examples:
    >>> import nerve
    >>> from nerve import initializers
    >>> nerve.random.seed(0)
    >>> w = initializers.get("he_normal")((256, 128))
    >>> w.shape, w.dtype
    ((256, 128), dtype('float32'))
"""

from __future__ import annotations

import math

import numpy

from nerve.engine import random, registry

__all__ = [
    "compute_fans", "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform",
    "TruncatedNormal", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform",
    "LeCunNormal", "LeCunUniform", "Orthogonal", "Identity", "get", "serialize", "deserialize",
    "LecunNormal", "LecunUniform", "OrthogonalInitializer", "IdentityInitializer", "zeros", "ones", "constant",
    "identity", "orthogonal", "random_normal", "random_uniform", "truncated_normal", "variance_scaling",
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
]

# Standard deviation of a standard normal truncated to [-2, 2]: dividing by it
# restores the requested variance after truncation (as Keras does).
_TRUNCATED_STDDEV = 0.87962566103423978


def compute_fans(shape):
    """Return ``(fan_in, fan_out)`` for a weight of ``shape``, as Keras computes them.

    Examples:
        >>> compute_fans((784, 10))
        (784, 10)
        >>> compute_fans((3, 3, 16, 32))  # conv kernel: receptive field 3 * 3
        (144, 288)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _shape(shape, where):
    if isinstance(shape, (int, numpy.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(n) for n in shape)
    except TypeError:
        raise TypeError(f"{where}: shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"{where}: shape must not have negative sizes, got {shape}")
    return shape


def _float_dtype(dtype, where):
    dtype = numpy.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{where}: random initial values need a floating-point dtype, got {dtype}")
    return dtype


def _truncated_standard_normal(shape):
    """Standard normal samples of ``shape``; those beyond two standard deviations are drawn again."""
    generator = random.generator()
    values = generator.standard_normal(shape)
    flat = values.reshape(-1)
    outside = numpy.flatnonzero(numpy.abs(flat) > 2)
    while outside.size:  # redraw only the entries still outside, in the same order as a full rescan
        flat[outside] = generator.standard_normal(outside.size)
        outside = outside[numpy.abs(flat[outside]) > 2]
    return values


class Initializer:
    """Base class: ``__call__(shape, dtype)`` returns an array; ``get_config`` returns the constructor arguments.

    Examples:
        >>> class Twos(Initializer):
        ...     def __call__(self, shape, dtype="float32"):
        ...         return numpy.full(shape, 2.0, dtype=dtype)
        >>> Twos()((2,)).tolist()
        [2.0, 2.0]
    """

    def __call__(self, shape, dtype="float32"):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype)")

    def get_config(self):
        """Constructor arguments as a JSON-serialisable dict.

        Examples:
            >>> RandomNormal(stddev=0.1).get_config()
            {'mean': 0.0, 'stddev': 0.1}
        """
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuild an initializer from :meth:`get_config`'s dict.

        Examples:
            >>> Constant.from_config({"value": 3.0}).value
            3.0
        """
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros (the default for biases).

    Examples:
        >>> Zeros()((2, 2)).tolist()
        [[0.0, 0.0], [0.0, 0.0]]
    """

    def __call__(self, shape, dtype="float32"):
        return numpy.zeros(_shape(shape, "Zeros"), dtype=dtype)


class Ones(Initializer):
    """All ones (the default for normalisation scales).

    Examples:
        >>> Ones()(3).tolist()
        [1.0, 1.0, 1.0]
    """

    def __call__(self, shape, dtype="float32"):
        return numpy.ones(_shape(shape, "Ones"), dtype=dtype)


class Constant(Initializer):
    """Every entry equal to ``value``.

    Examples:
        >>> Constant(0.5)((2,)).tolist()
        [0.5, 0.5]
    """

    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype="float32"):
        return numpy.full(_shape(shape, "Constant"), self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    """Normal samples with ``mean`` and ``stddev``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> RandomNormal(stddev=0.05)((3, 4)).shape
        (3, 4)
    """

    def __init__(self, mean=0.0, stddev=0.05):
        if stddev < 0:
            raise ValueError(f"RandomNormal: stddev must be non-negative, got {stddev}")
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype, "RandomNormal")
        values = random.generator().normal(self.mean, self.stddev, size=_shape(shape, "RandomNormal"))
        return values.astype(dtype, copy=False)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class RandomUniform(Initializer):
    """Uniform samples in ``[minval, maxval)``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> w = RandomUniform(-1.0, 1.0)((100,))
        >>> bool((w >= -1).all() and (w < 1).all())
        True
    """

    def __init__(self, minval=-0.05, maxval=0.05):
        if maxval < minval:
            raise ValueError(f"RandomUniform: maxval must be >= minval, got minval={minval}, maxval={maxval}")
        self.minval, self.maxval = float(minval), float(maxval)

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype, "RandomUniform")
        values = random.generator().uniform(self.minval, self.maxval, size=_shape(shape, "RandomUniform"))
        return values.astype(dtype, copy=False)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class TruncatedNormal(Initializer):
    """Normal samples with ``mean`` and ``stddev``, redrawn when more than two ``stddev`` from the mean.

    As in Keras, ``stddev`` is that of the normal before truncation; the
    samples' own standard deviation is about ``0.88 * stddev``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> w = TruncatedNormal(stddev=1.0)((1000,))
        >>> bool(abs(w).max() <= 2)
        True
    """

    def __init__(self, mean=0.0, stddev=0.05):
        if stddev < 0:
            raise ValueError(f"TruncatedNormal: stddev must be non-negative, got {stddev}")
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype="float32"):
        dtype = _float_dtype(dtype, "TruncatedNormal")
        values = _truncated_standard_normal(_shape(shape, "TruncatedNormal")) * self.stddev + self.mean
        return values.astype(dtype, copy=False)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class VarianceScaling(Initializer):
    """Samples with variance ``scale / n``, where ``n`` is a fan of the weight's shape.

    Args:
        scale: positive variance multiplier (2.0 for ReLU networks, 1.0 otherwise).
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"`` (their mean).
        distribution: ``"truncated_normal"`` (normal truncated at two standard
            deviations, rescaled to the exact variance), ``"untruncated_normal"``
            or ``"uniform"`` (in ``[-limit, limit]``, ``limit = sqrt(3 * scale / n)``).

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> init = VarianceScaling(scale=2.0, mode="fan_in", distribution="uniform")
        >>> bool(abs(init((50, 10))).max() <= (6 / 50) ** 0.5)
        True
    """

    MODES = ("fan_in", "fan_out", "fan_avg")
    DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        name = type(self).__name__
        if scale <= 0:
            raise ValueError(f"{name}: scale must be positive, got {scale}")
        if mode not in self.MODES:
            raise ValueError(f"{name}: unknown mode {mode!r}; valid modes: {', '.join(self.MODES)}")
        if distribution == "normal":  # Keras 2 spelling
            distribution = "truncated_normal"
        if distribution not in self.DISTRIBUTIONS:
            raise ValueError(
                f"{name}: unknown distribution {distribution!r}; valid distributions: {', '.join(self.DISTRIBUTIONS)}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, shape, dtype="float32"):
        name = type(self).__name__
        shape = _shape(shape, name)
        dtype = _float_dtype(dtype, name)
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "truncated_normal":
            values = _truncated_standard_normal(shape) * (math.sqrt(variance) / _TRUNCATED_STDDEV)
        elif self.distribution == "untruncated_normal":
            values = random.generator().normal(0.0, math.sqrt(variance), size=shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = random.generator().uniform(-limit, limit, size=shape)
        return values.astype(dtype, copy=False)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class _NamedVarianceScaling(VarianceScaling):
    """A :class:`VarianceScaling` with fixed arguments: its config is empty."""

    ARGS = ()

    def __init__(self):
        super().__init__(*self.ARGS)

    def get_config(self):
        return {}


class GlorotUniform(_NamedVarianceScaling):
    """Glorot/Xavier uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))`` (Dense's default kernel).

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> bool(abs(GlorotUniform()((30, 20))).max() <= (6 / 50) ** 0.5)
        True
    """

    ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_NamedVarianceScaling):
    """Glorot/Xavier normal: truncated normal with variance ``2 / (fan_in + fan_out)``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> GlorotNormal()((30, 20)).dtype
        dtype('float32')
    """

    ARGS = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_NamedVarianceScaling):
    """He normal: truncated normal with variance ``2 / fan_in`` (for ReLU layers).

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> HeNormal()((3, 3, 8, 16)).shape
        (3, 3, 8, 16)
    """

    ARGS = (2.0, "fan_in", "truncated_normal")


class HeUniform(_NamedVarianceScaling):
    """He uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> bool(abs(HeUniform()((24, 5))).max() <= 0.5)
        True
    """

    ARGS = (2.0, "fan_in", "uniform")


class LeCunNormal(_NamedVarianceScaling):
    """LeCun normal: truncated normal with variance ``1 / fan_in`` (for SELU networks).

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> LeCunNormal()((4, 4)).shape
        (4, 4)
    """

    ARGS = (1.0, "fan_in", "truncated_normal")


class LeCunUniform(_NamedVarianceScaling):
    """LeCun uniform: ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> bool(abs(LeCunUniform()((12, 4))).max() <= 0.5)
        True
    """

    ARGS = (1.0, "fan_in", "uniform")


class Orthogonal(Initializer):
    """A random orthogonal matrix times ``gain`` (the default for recurrent kernels).

    The weight is viewed as a matrix ``(prod(shape[:-1]), shape[-1])``; its
    columns are orthonormal when it has at least as many rows as columns, its
    rows otherwise.

    Examples:
        >>> import nerve
        >>> nerve.random.seed(0)
        >>> w = Orthogonal()((4, 4), dtype="float64")
        >>> bool(numpy.allclose(w.T @ w, numpy.eye(4)))
        True
    """

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape, "Orthogonal")
        dtype = _float_dtype(dtype, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: needs a weight of at least 2 dimensions, got shape {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = random.generator().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = numpy.linalg.qr(flat)
        q = q * numpy.sign(numpy.diag(r))  # make the decomposition unique, the distribution uniform
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype, copy=False)

    def get_config(self):
        return {"gain": self.gain}


class Identity(Initializer):
    """The identity matrix times ``gain`` (2-D weights; a rectangular one gets ones on its main diagonal).

    Examples:
        >>> Identity(gain=2.0)((2, 3)).tolist()
        [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]
    """

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype="float32"):
        shape = _shape(shape, "Identity")
        if len(shape) != 2:
            raise ValueError(f"Identity: needs a 2-D weight, got shape {shape}")
        return (self.gain * numpy.eye(*shape)).astype(_float_dtype(dtype, "Identity"), copy=False)

    def get_config(self):
        return {"gain": self.gain}


# Keras's other spellings of the same classes (keras.initializers.glorot_uniform, LecunNormal...)
LecunNormal, LecunUniform, OrthogonalInitializer, IdentityInitializer = LeCunNormal, LeCunUniform, Orthogonal, Identity
zeros, ones, constant, identity, orthogonal = Zeros, Ones, Constant, Identity, Orthogonal
random_normal, random_uniform, truncated_normal, variance_scaling = (
    RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling)
glorot_normal, glorot_uniform, he_normal, he_uniform = GlorotNormal, GlorotUniform, HeNormal, HeUniform
lecun_normal, lecun_uniform = LeCunNormal, LeCunUniform


_CLASSES = (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeNormal, HeUniform, LeCunNormal, LeCunUniform, Orthogonal, Identity,
)
_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "xavier_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LeCunNormal,
    "lecun_uniform": LeCunUniform,
    "orthogonal": Orthogonal,
    "identity": Identity,
    "LecunNormal": LeCunNormal,
    "LecunUniform": LeCunUniform,
    "OrthogonalInitializer": Orthogonal,
    "IdentityInitializer": Identity,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES}


registry.register_builtins("initializer", _CLASSES, _BY_NAME)


def _class_named(name):
    cls = registry.lookup("initializer", name)
    if not (isinstance(cls, type) and issubclass(cls, Initializer)):
        raise registry.UnknownObjectError(f"{name!r} does not name an initializer class")
    return cls


def get(identifier):
    """Return an initializer for ``identifier``.

    Accepts a name (``"glorot_uniform"``, ``"he_normal"``... or a class name),
    a dict ``{"class_name": ..., "config": {...}}`` as written by
    :func:`serialize`, an Initializer (returned as is) or class, or any callable
    ``fn(shape, dtype)`` (returned as is). ``None`` gives ``None``.

    Examples:
        >>> get("he_normal")
        HeNormal()
        >>> get({"class_name": "Constant", "config": {"value": 2.0}}).value
        2.0
        >>> get("he")
        Traceback (most recent call last):
        ...
        nerve.engine.registry.UnknownObjectError: unknown initializer 'he': it is not one of nerve's built-in initializers and not registered. ...
    """
    if identifier is None or isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _class_named(identifier)()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(
                f"an initializer given as a dict needs 'class_name' (and optionally 'config'), got keys {sorted(identifier)}"
            )
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(
        f"an initializer must be a name, a dict, an Initializer or a callable, got {type(identifier).__name__}: {identifier!r}"
    )


def serialize(initializer):
    """Return ``{"class_name": ..., "config": ...}`` for ``initializer``; :func:`get` turns it back.

    Examples:
        >>> serialize("glorot_uniform")
        {'class_name': 'GlorotUniform', 'config': {}}
    """
    initializer = get(initializer)
    if not isinstance(initializer, Initializer):
        raise ValueError(
            f"cannot serialize the custom initializer {initializer!r}: subclass nerve.initializers.Initializer "
            "and implement get_config"
        )
    return registry.serialize(initializer, "initializer")


def deserialize(config, custom_objects=None):
    """Rebuild an initializer from :func:`serialize` output; only built-in or registered classes (nothing is imported).

    Examples:
        >>> deserialize({"class_name": "Constant", "config": {"value": 3.0}}).value
        3.0
    """
    return registry.deserialize("initializer", config, base=Initializer, custom_objects=custom_objects)
