"""Image augmentation on batches: flips, shifts, rotations, zooms, crops, noise, brightness, contrast.

Every transform works on a whole batch at once, channels last: ``(N, H, W, C)``
(or ``(N, H, W)`` for grey images without a channel axis). Each call draws new
random parameters for every image, so a transform applied to the training
batches shows the network a different variation of each image every epoch.

The geometric transforms (shift, rotation, zoom, crop) are one operation,
:func:`affine_transform`: each image gets a 2x3 matrix that maps output pixel
coordinates to input coordinates, and the whole batch is sampled with one
vectorised bilinear (or nearest) gather, with no Python loop over images or
pixels; a crop is a translation with a smaller output. Flips are array
reversals; noise, brightness and contrast are elementwise.
:class:`Compose` multiplies the matrices of consecutive geometric transforms,
so they cost one resampling.

Use them in two ways, sharing this code:

* as DataLoader transforms, on NumPy batches: ``Compose([...])`` and
  :class:`TransformedDataset` (this module);
* as layers inside a model (``nerve.layers.RandomFlip``...), active only when
  ``training=True`` (:mod:`nerve.layers.augmentation`, which calls this code).

Randomness comes from :func:`nerve.random.generator` (so ``nerve.random.seed``
makes runs reproducible), or from a private generator when ``seed`` is given.
Arguments follow Keras: factors are fractions (of the height, of a full turn...),
a single number ``f`` means the range ``[-f, f]``, a pair ``(low, high)`` a range.

Examples:
    >>> import numpy as np
    >>> from nerve import transforms
    >>> augment = transforms.Compose([
    ...     transforms.RandomTranslation(0.1, 0.1, seed=0),
    ...     transforms.RandomRotation(0.05, seed=1),
    ... ])
    >>> augment(np.zeros((8, 28, 28, 1), dtype=np.float32)).shape
    (8, 28, 28, 1)
"""

from __future__ import annotations

import math

import numpy

from nerve.engine import random
from nerve.engine.backend import get_array_module
from nerve.engine.nest import default_collate

__all__ = [
    "FILL_MODES", "INTERPOLATIONS", "affine_transform", "flip", "crop", "adjust_brightness", "adjust_contrast",
    "Transform", "Compose", "TransformedDataset",
    "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomCrop", "GaussianNoise",
    "RandomBrightness", "RandomContrast",
]

#: How pixels outside the input are filled (Keras names): ``reflect`` mirrors
#: about the edge (d c b a | a b c d | d c b a), ``wrap`` tiles, ``nearest``
#: repeats the edge pixel, ``constant`` uses ``fill_value``.
FILL_MODES = ("reflect", "wrap", "nearest", "constant")
#: Pixel interpolation: ``bilinear`` (4 neighbours) or ``nearest``.
INTERPOLATIONS = ("bilinear", "nearest")


# ----------------------------------------------------------------- checking
def _as_batch(images, where):
    """``images`` as an (N, H, W, C) array of a float dtype, plus whether a channel axis was added."""
    if not (hasattr(images, "shape") and hasattr(images, "dtype")):
        images = numpy.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{where}: expected a batch of images of shape (N, H, W, C) or (N, H, W), got shape {tuple(images.shape)}"
        )
    if images.dtype.kind not in "f":
        images = images.astype(numpy.float32)  # integer pixels become float32
    squeeze = images.ndim == 3
    return (images[..., None] if squeeze else images), squeeze


def _check_choice(value, choices, what, where):
    if value not in choices:
        raise ValueError(f"{where}: unknown {what} {value!r}; valid values: {', '.join(choices)}")
    return value


def _factor_range(factor, where, name, low_bound=-1.0, high_bound=1.0):
    """Keras factor convention: a number f means (-f, f), a pair (low, high) is used as is."""
    if isinstance(factor, (int, float)):
        low, high = -abs(float(factor)), abs(float(factor))
    else:
        try:
            low, high = (float(v) for v in factor)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {name} must be a number or a pair (low, high), got {factor!r}") from None
    if low > high:
        raise ValueError(f"{where}: {name} range must have low <= high, got ({low}, {high})")
    if low < low_bound or high > high_bound:
        raise ValueError(f"{where}: {name} must lie in [{low_bound}, {high_bound}], got ({low}, {high})")
    return low, high


def _value_range(value_range, where):
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: value_range must be a pair (low, high), got {value_range!r}") from None
    if not low < high:
        raise ValueError(f"{where}: value_range must have low < high, got ({low}, {high})")
    return low, high


# --------------------------------------------------------- the affine gather
# Every fill mode becomes a one-pixel border around the image plus a map of
# the (continuous) coordinates into the bordered image, so that interpolation
# never reads outside it and needs no masks:
#   constant: border = fill_value, coordinates clipped to [-1, size];
#   nearest:  border = edge pixels, coordinates clipped to [-1, size];
#   reflect:  border = edge pixels, coordinates reflected into [-0.5, size - 0.5];
#   wrap:     border = pixels of the opposite edge, coordinates wrapped into [-0.5, size - 0.5).
_BORDER = {"constant": "constant", "nearest": "edge", "reflect": "edge", "wrap": "wrap"}


def _pad(batch, fill_mode, fill_value):
    xp = get_array_module(batch)
    width = ((0, 0), (1, 1), (1, 1), (0, 0))
    if fill_mode == "constant":
        return xp.pad(batch, width, mode="constant", constant_values=fill_value)
    return xp.pad(batch, width, mode=_BORDER[fill_mode])


def _unpad_adjoint(grad, fill_mode):
    """Transpose of :func:`_pad`: fold the gradient of the border back onto the pixels it copies."""
    if fill_mode != "constant":
        grad = grad.copy()
        first, last = (1, -2) if _BORDER[fill_mode] == "edge" else (-2, 1)  # where rows 0 and -1 came from
        grad[:, first] += grad[:, 0]
        grad[:, last] += grad[:, -1]
        grad[:, :, first] += grad[:, :, 0]
        grad[:, :, last] += grad[:, :, -1]
    return grad[:, 1:-1, 1:-1]


def _map_coordinates(coordinate, size, fill_mode, xp):
    if fill_mode == "reflect":
        coordinate = xp.mod(coordinate + 0.5, 2 * size) - 0.5
        return xp.where(coordinate > size - 0.5, 2 * size - 1 - coordinate, coordinate)
    if fill_mode == "wrap":
        return xp.mod(coordinate + 0.5, size) - 0.5
    return xp.clip(coordinate, -1, size)


def _sampling_plan(matrices, in_size, out_size, interpolation, fill_mode, dtype, xp):
    """Where each output pixel reads the padded input: flat indices and weights of its neighbours.

    Returns ``(index, weight)`` of shape (K, N, Ho, Wo): K = 4 bilinear
    neighbours (or 1 for nearest, with ``weight`` None); ``index`` counts pixels
    of the whole padded batch, flattened to (N * (H + 2) * (W + 2), C).
    """
    (height, width), (out_h, out_w) = in_size, out_size
    n = matrices.shape[0]
    m = xp.asarray(matrices).astype(dtype)[:, :, :, None, None]  # (N, 2, 3, 1, 1)
    ys = xp.arange(out_h, dtype=dtype)[:, None]
    xs = xp.arange(out_w, dtype=dtype)[None, :]
    src_x = _map_coordinates(m[:, 0, 0] * xs + m[:, 0, 1] * ys + m[:, 0, 2], width, fill_mode, xp)
    src_y = _map_coordinates(m[:, 1, 0] * xs + m[:, 1, 1] * ys + m[:, 1, 2], height, fill_mode, xp)
    row_stride = width + 2
    offset = (xp.arange(n) * ((height + 2) * row_stride))[:, None, None]
    if interpolation == "nearest":
        row = xp.clip(xp.floor(src_y + 0.5), -1, height).astype(numpy.intp)
        col = xp.clip(xp.floor(src_x + 0.5), -1, width).astype(numpy.intp)
        return (offset + (row + 1) * row_stride + (col + 1))[None], None
    y0 = xp.clip(xp.floor(src_y), -1, height - 1)
    x0 = xp.clip(xp.floor(src_x), -1, width - 1)
    dy, dx = src_y - y0, src_x - x0
    base = offset + (y0.astype(numpy.intp) + 1) * row_stride + (x0.astype(numpy.intp) + 1)
    index = xp.stack([base, base + 1, base + row_stride, base + row_stride + 1])
    ry, rx = 1 - dy, 1 - dx
    weight = xp.stack([ry * rx, ry * dx, dy * rx, dy * dx])
    return index, weight


def _gather(padded, plan):
    """Read a padded (N, H + 2, W + 2, C) batch through a sampling plan: (N, Ho, Wo, C)."""
    index, weight = plan
    xp = get_array_module(padded)
    flat = padded.reshape(-1, padded.shape[-1])
    if weight is None:
        return xp.take(flat, index[0], axis=0)
    out = weight[0][..., None] * xp.take(flat, index[0], axis=0)
    for k in range(1, len(index)):
        out += weight[k][..., None] * xp.take(flat, index[k], axis=0)
    return out


def _gather_adjoint(grad, plan, padded_shape):
    """The transpose of :func:`_gather`: scatter-add ``grad`` back onto the padded batch."""
    index, weight = plan
    xp = get_array_module(grad)
    channels = grad.shape[-1]
    total = int(numpy.prod(padded_shape))
    target = (index[..., None] * channels + xp.arange(channels)).reshape(-1)  # (pixel, channel) pairs
    contributions = grad[None] if weight is None else weight[..., None] * grad[None]
    out = xp.bincount(target, weights=contributions.reshape(-1), minlength=total)
    return out.astype(grad.dtype).reshape(padded_shape)


def _resample(batch, matrices, out_size, interpolation, fill_mode, fill_value):
    xp = get_array_module(batch)
    plan = _sampling_plan(matrices, batch.shape[1:3], out_size, interpolation, fill_mode, batch.dtype, xp)
    return _gather(_pad(batch, fill_mode, fill_value), plan)


def _resample_adjoint(grad, batch_shape, matrices, interpolation, fill_mode):
    xp = get_array_module(grad)
    n, height, width, channels = batch_shape
    plan = _sampling_plan(matrices, (height, width), grad.shape[1:3], interpolation, fill_mode, grad.dtype, xp)
    padded = _gather_adjoint(grad, plan, (n, height + 2, width + 2, channels))
    return _unpad_adjoint(padded, fill_mode)


def affine_transform(images, matrices, output_size=None, interpolation="bilinear", fill_mode="reflect",
                     fill_value=0.0):
    """Resample every image of a batch through its own affine map.

    ``matrices`` has shape (N, 2, 3) (or (2, 3) for all images): row 0 gives the
    input column ``x_in = a x + b y + c`` and row 1 the input row
    ``y_in = d x + e y + f`` read by the output pixel at column ``x``, row ``y``.

    Args:
        images: (N, H, W, C) or (N, H, W) array; integer pixels become float32.
        matrices: output-to-input maps, as above.
        output_size: ``(height, width)`` of the result (default: the input's).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: ``"reflect"``, ``"wrap"``, ``"nearest"`` or ``"constant"`` (see :data:`FILL_MODES`).
        fill_value: the value outside the image in ``"constant"`` mode.

    Examples:
        >>> import numpy as np
        >>> image = np.arange(6.0).reshape(1, 2, 3)
        >>> mirror = np.array([[-1.0, 0.0, 2.0], [0.0, 1.0, 0.0]])  # x_in = 2 - x
        >>> affine_transform(image, mirror).tolist()
        [[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]]
    """
    where = "affine_transform"
    _check_choice(interpolation, INTERPOLATIONS, "interpolation", where)
    _check_choice(fill_mode, FILL_MODES, "fill_mode", where)
    batch, squeeze = _as_batch(images, where)
    n, height, width, _ = batch.shape
    xp = get_array_module(batch)
    matrices = xp.asarray(matrices, dtype=numpy.float64)
    if matrices.shape == (2, 3):
        matrices = xp.broadcast_to(matrices, (n, 2, 3))
    if matrices.shape != (n, 2, 3):
        raise ValueError(f"{where}: matrices must have shape ({n}, 2, 3) for {n} images, got {tuple(matrices.shape)}")
    out_size = (height, width) if output_size is None else tuple(int(s) for s in output_size)
    if len(out_size) != 2 or min(out_size) < 1:
        raise ValueError(f"{where}: output_size must be (height, width) of positive sizes, got {output_size!r}")
    out = _resample(batch, matrices, out_size, interpolation, fill_mode, fill_value)
    return out[..., 0] if squeeze else out


def flip(images, horizontal=True, vertical=False):
    """Mirror images left-right (``horizontal``) and/or upside down (``vertical``).

    ``horizontal`` and ``vertical`` are booleans for the whole batch or
    boolean arrays with one entry per image.

    Examples:
        >>> import numpy as np
        >>> images = np.arange(4.0).reshape(2, 1, 2)
        >>> flip(images, horizontal=np.array([True, False])).tolist()
        [[[1.0, 0.0]], [[2.0, 3.0]]]
    """
    batch, squeeze = _as_batch(images, "flip")
    out = _flip(batch, horizontal, vertical)
    return out[..., 0] if squeeze else out


def _flip(batch, horizontal, vertical):
    """Mirror the images where the per-image (or global) flags are set; its own transpose."""
    xp = get_array_module(batch)
    n = batch.shape[0]
    for flags, axis in ((horizontal, 2), (vertical, 1)):
        flags = numpy.broadcast_to(numpy.asarray(flags, dtype=bool), (n,))
        if flags.any():
            mirrored = xp.flip(batch, axis=axis)
            batch = xp.where(xp.asarray(flags)[:, None, None, None], mirrored, batch)
    return batch


def crop(images, top, left, height, width, fill_value=0.0):
    """Cut an ``height`` x ``width`` window from each image, at per-image offsets ``top``, ``left``.

    Offsets may be negative or reach past the border (padding): those pixels are ``fill_value``.

    Examples:
        >>> import numpy as np
        >>> images = np.arange(9.0).reshape(1, 3, 3)
        >>> crop(images, top=1, left=1, height=2, width=2).tolist()
        [[[4.0, 5.0], [7.0, 8.0]]]
    """
    batch, _ = _as_batch(images, "crop")
    n = batch.shape[0]
    top = numpy.broadcast_to(numpy.asarray(top, dtype=numpy.float64), (n,))
    left = numpy.broadcast_to(numpy.asarray(left, dtype=numpy.float64), (n,))
    return affine_transform(images, _translation_matrices(-top, -left), output_size=(height, width),
                            interpolation="nearest", fill_mode="constant", fill_value=fill_value)


def adjust_brightness(images, delta, value_range=(0.0, 255.0)):
    """Add ``delta`` (a number or one per image) to every pixel, then clip to ``value_range``.

    Examples:
        >>> import numpy as np
        >>> adjust_brightness(np.array([[[0.2, 0.9]]]), 0.3, value_range=(0, 1)).round(2).tolist()
        [[[0.5, 1.0]]]
    """
    batch, squeeze = _as_batch(images, "adjust_brightness")
    out = _brightness(batch, _per_image(delta, batch), _value_range(value_range, "adjust_brightness"))
    return out[..., 0] if squeeze else out


def adjust_contrast(images, factor, value_range=(0.0, 255.0)):
    """Scale each channel's deviation from its mean by ``factor`` (one per image), then clip.

    ``(x - mean) * factor + mean`` with the mean over height and width, per image and channel.

    Examples:
        >>> import numpy as np
        >>> adjust_contrast(np.array([[[0.4, 0.6]]]), 2.0, value_range=(0, 1)).round(2).tolist()
        [[[0.3, 0.7]]]
    """
    batch, squeeze = _as_batch(images, "adjust_contrast")
    out = _contrast(batch, _per_image(factor, batch), _value_range(value_range, "adjust_contrast"))
    return out[..., 0] if squeeze else out


def _per_image(value, batch):
    xp = get_array_module(batch)
    value = xp.asarray(value, dtype=batch.dtype)
    return xp.broadcast_to(value, (batch.shape[0],)).reshape(-1, 1, 1, 1)


def _brightness(batch, delta, value_range):
    xp = get_array_module(batch)
    return xp.clip(batch + delta, value_range[0], value_range[1])


def _contrast(batch, factor, value_range):
    xp = get_array_module(batch)
    mean = batch.mean(axis=(1, 2), keepdims=True)
    return xp.clip((batch - mean) * factor + mean, value_range[0], value_range[1])


# ------------------------------------------------------------------ matrices
def _translation_matrices(dy, dx):
    """Output (x, y) reads input (x - dx, y - dy): the image moves by dx right and dy down."""
    n = len(dy)
    m = numpy.zeros((n, 2, 3))
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    m[:, 0, 2] = -numpy.asarray(dx, dtype=numpy.float64)
    m[:, 1, 2] = -numpy.asarray(dy, dtype=numpy.float64)
    return m


def _rotation_matrices(angles, height, width):
    """Counter-clockwise rotation by ``angles`` (radians) about the image centre."""
    cos, sin = numpy.cos(angles), numpy.sin(angles)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    m = numpy.zeros((len(angles), 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = cos, -sin, cx - cos * cx + sin * cy
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = sin, cos, cy - sin * cx - cos * cy
    return m


def _zoom_matrices(zoom_y, zoom_x, height, width):
    """Output (x, y) reads input centre + zoom * (output - centre): zoom > 1 zooms out."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    m = numpy.zeros((len(zoom_y), 2, 3))
    m[:, 0, 0], m[:, 0, 2] = zoom_x, cx * (1 - zoom_x)
    m[:, 1, 1], m[:, 1, 2] = zoom_y, cy * (1 - zoom_y)
    return m


# ---------------------------------------------------------------- transforms
class Transform:
    """Base class of random batch transforms.

    A transform draws random parameters for a batch with :meth:`sample`,
    applies them with :meth:`apply`, and knows the gradient of ``apply`` with
    respect to the images (:meth:`vjp`, used by the augmentation layers).
    Calling it does all of this on a batch: ``transform(images)``.

    Args:
        seed: seed of a private generator; by default draws come from
            :func:`nerve.random.generator` (reproducible with ``nerve.random.seed``).

    Examples:
        >>> import numpy as np
        >>> t = RandomFlip("horizontal", seed=0)
        >>> params = t.sample((4, 5, 5, 1))
        >>> t.apply(np.zeros((4, 5, 5, 1)), params).shape
        (4, 5, 5, 1)
    """

    def __init__(self, seed=None):
        self.seed = seed
        self._rng = numpy.random.default_rng(seed) if seed is not None else None

    def generator(self):
        """The generator this transform draws from."""
        if self._rng is not None:
            return self._rng
        return random.generator()

    def __call__(self, images):
        batch, squeeze = _as_batch(images, type(self).__name__)
        out = self.apply(batch, self.sample(batch.shape))
        return out[..., 0] if squeeze else out

    def sample(self, shape, generator=None):
        """Random parameters for a batch of ``shape`` (N, H, W, C), as a dict of arrays."""
        return {}

    def apply(self, batch, params):  # pragma: no cover - abstract
        """Transform an (N, H, W, C) float batch with the parameters from :meth:`sample`."""
        raise NotImplementedError

    def vjp(self, grad, params, batch):  # pragma: no cover - abstract
        """Gradient with respect to ``batch`` given the gradient ``grad`` of the output."""
        raise NotImplementedError

    def inference_params(self, shape):
        """Parameters of the layer form outside training, or None for the identity (RandomCrop: the centre)."""
        return None

    def output_size(self, height, width):
        """(height, width) of the output for inputs of (height, width)."""
        return height, width

    def get_config(self):
        """Constructor arguments as JSON-serialisable values."""
        return {"seed": self.seed}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _AffineTransform(Transform):
    """A transform that resamples each image through a random affine map."""

    def __init__(self, interpolation="bilinear", fill_mode="reflect", fill_value=0.0, seed=None):
        super().__init__(seed)
        where = type(self).__name__
        self.interpolation = _check_choice(interpolation, INTERPOLATIONS, "interpolation", where)
        self.fill_mode = _check_choice(fill_mode, FILL_MODES, "fill_mode", where)
        self.fill_value = float(fill_value)

    def matrices(self, shape, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(self, shape, generator=None):
        return {"matrices": self.matrices(tuple(shape), generator or self.generator())}

    def apply(self, batch, params):
        size = self.output_size(*batch.shape[1:3])
        return _resample(batch, params["matrices"], size, self.interpolation, self.fill_mode, self.fill_value)

    def vjp(self, grad, params, batch):
        return _resample_adjoint(grad, batch.shape, params["matrices"], self.interpolation, self.fill_mode)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value}


class RandomFlip(Transform):
    """Flip each image left-right and/or upside down, each with probability 1/2.

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> out = RandomFlip("horizontal", seed=0)(np.arange(6.0).reshape(2, 1, 3))
        >>> out[:, 0].tolist()  # this draw kept the first image and mirrored the second
        [[0.0, 1.0, 2.0], [5.0, 4.0, 3.0]]
    """

    MODES = ("horizontal", "vertical", "horizontal_and_vertical")

    def __init__(self, mode="horizontal_and_vertical", seed=None):
        super().__init__(seed)
        self.mode = _check_choice(mode, self.MODES, "mode", "RandomFlip")

    def sample(self, shape, generator=None):
        generator = generator or self.generator()
        n = shape[0]
        return {"horizontal": generator.random(n) < 0.5 if "horizontal" in self.mode else numpy.zeros(n, bool),
                "vertical": generator.random(n) < 0.5 if "vertical" in self.mode else numpy.zeros(n, bool)}

    def apply(self, batch, params):
        return _flip(batch, params["horizontal"], params["vertical"])

    def vjp(self, grad, params, batch):
        return _flip(grad, params["horizontal"], params["vertical"])

    def get_config(self):
        return {"mode": self.mode, "seed": self.seed}


class RandomTranslation(_AffineTransform):
    """Shift each image by a random fraction of its height and width.

    Args:
        height_factor: a fraction ``f`` (shift in ``[-f, f] * H``) or a range
            ``(low, high)``; negative moves the image up, positive down.
        width_factor: the same for the width; negative moves left, positive right.
        fill_mode: see :func:`affine_transform`.
        interpolation: see :func:`affine_transform`.
        fill_value: see :func:`affine_transform`.
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> shift_down = RandomTranslation((0.25, 0.25), 0.0, fill_mode="constant")
        >>> shift_down(np.arange(4.0).reshape(1, 4, 1))[0, :, 0].tolist()
        [0.0, 0.0, 1.0, 2.0]
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0):
        super().__init__(interpolation, fill_mode, fill_value, seed)
        self.height_factor = _factor_range(height_factor, "RandomTranslation", "height_factor")
        self.width_factor = _factor_range(width_factor, "RandomTranslation", "width_factor")

    def matrices(self, shape, generator):
        n, height, width = shape[:3]
        dy = generator.uniform(*self.height_factor, size=n) * height
        dx = generator.uniform(*self.width_factor, size=n) * width
        return _translation_matrices(dy, dx)

    def get_config(self):
        return {"height_factor": list(self.height_factor), "width_factor": list(self.width_factor),
                **super().get_config()}


class RandomRotation(_AffineTransform):
    """Rotate each image about its centre by a random fraction of a full turn.

    Args:
        factor: a fraction ``f`` (angle in ``[-f, f] * 2 pi``) or a range
            ``(low, high)``; positive angles rotate counter-clockwise.
            ``0.25`` is a quarter turn, like ``np.rot90``.
        fill_mode: see :func:`affine_transform`.
        interpolation: see :func:`affine_transform`.
        fill_value: see :func:`affine_transform`.
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> quarter_turn = RandomRotation((0.25, 0.25), interpolation="nearest")
        >>> quarter_turn(np.array([[[1.0, 2.0], [3.0, 4.0]]])).tolist()
        [[[2.0, 4.0], [1.0, 3.0]]]
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0):
        super().__init__(interpolation, fill_mode, fill_value, seed)
        self.factor = _factor_range(factor, "RandomRotation", "factor", -math.inf, math.inf)

    def matrices(self, shape, generator):
        n, height, width = shape[:3]
        angles = generator.uniform(*self.factor, size=n) * 2 * math.pi
        return _rotation_matrices(angles, height, width)

    def get_config(self):
        return {"factor": list(self.factor), **super().get_config()}


class RandomZoom(_AffineTransform):
    """Zoom each image in or out about its centre by a random amount.

    Args:
        height_factor: a fraction ``f`` or a range ``(low, high)``: the
            vertical scale of the sampled area is ``1 + U(low, high)``;
            positive zooms out (the image looks smaller), negative zooms in.
        width_factor: the same horizontally; ``None`` (default) uses the
            vertical value, which keeps the aspect ratio.
        fill_mode: see :func:`affine_transform`.
        interpolation: see :func:`affine_transform`.
        fill_value: see :func:`affine_transform`.
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> zoom_in = RandomZoom((-0.5, -0.5), interpolation="nearest")
        >>> zoom_in(np.arange(16.0).reshape(1, 4, 4))[0, 1].tolist()  # the centre, twice as large
        [5.0, 5.0, 6.0, 6.0]
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0):
        super().__init__(interpolation, fill_mode, fill_value, seed)
        self.height_factor = _factor_range(height_factor, "RandomZoom", "height_factor", -1.0, math.inf)
        self.width_factor = (None if width_factor is None
                             else _factor_range(width_factor, "RandomZoom", "width_factor", -1.0, math.inf))

    def matrices(self, shape, generator):
        n, height, width = shape[:3]
        zoom_y = 1.0 + generator.uniform(*self.height_factor, size=n)
        zoom_x = zoom_y if self.width_factor is None else 1.0 + generator.uniform(*self.width_factor, size=n)
        return _zoom_matrices(zoom_y, zoom_x, height, width)

    def get_config(self):
        width = None if self.width_factor is None else list(self.width_factor)
        return {"height_factor": list(self.height_factor), "width_factor": width, **super().get_config()}


class RandomCrop(_AffineTransform):
    """Cut a random ``height`` x ``width`` window out of each image.

    With ``padding``, the image is first padded with zeros on every side (the
    usual CIFAR augmentation: ``RandomCrop(32, 32, padding=4)``). In its layer
    form, outside training, it cuts the centre window instead (the identity
    when the window is the image size); Keras resizes there instead.

    Args:
        height: size of the window.
        width: size of the window.
        padding: zeros added on each side first: a number or ``(pad_h, pad_w)``.
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> out = RandomCrop(2, 2, seed=0)(np.zeros((5, 4, 4, 3)))
        >>> out.shape
        (5, 2, 2, 3)
    """

    def __init__(self, height, width, seed=None, padding=0):
        super().__init__(interpolation="nearest", fill_mode="constant", seed=seed)
        self.height, self.width = int(height), int(width)
        if self.height < 1 or self.width < 1:
            raise ValueError(f"RandomCrop: height and width must be positive, got ({height}, {width})")
        pad = (padding, padding) if isinstance(padding, int) else tuple(int(p) for p in padding)
        if len(pad) != 2 or min(pad) < 0:
            raise ValueError(f"RandomCrop: padding must be a non-negative int or (pad_h, pad_w), got {padding!r}")
        self.padding = pad

    def output_size(self, height, width):
        return self.height, self.width

    def _room(self, shape):
        height, width = shape[1] + 2 * self.padding[0], shape[2] + 2 * self.padding[1]
        if height < self.height or width < self.width:
            raise ValueError(
                f"RandomCrop: cannot cut a {self.height}x{self.width} window out of images of size "
                f"{shape[1]}x{shape[2]} (padded by {self.padding} to {height}x{width})"
            )
        return height - self.height, width - self.width

    def matrices(self, shape, generator):
        room_y, room_x = self._room(shape)
        n = shape[0]
        top = generator.integers(0, room_y + 1, size=n) - self.padding[0]
        left = generator.integers(0, room_x + 1, size=n) - self.padding[1]
        return _translation_matrices(-top, -left)

    def inference_params(self, shape):
        room_y, room_x = self._room(shape)
        n = shape[0]
        top = numpy.full(n, room_y // 2 - self.padding[0])
        left = numpy.full(n, room_x // 2 - self.padding[1])
        return {"matrices": _translation_matrices(-top, -left)}

    def get_config(self):
        return {"height": self.height, "width": self.width, "padding": list(self.padding), "seed": self.seed}


class GaussianNoise(Transform):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` to every pixel.

    Examples:
        >>> import numpy as np
        >>> out = GaussianNoise(0.1, seed=0)(np.zeros((100, 10, 10)))
        >>> round(float(out.std()), 2)
        0.1
    """

    def __init__(self, stddev, seed=None):
        super().__init__(seed)
        if not float(stddev) >= 0:
            raise ValueError(f"GaussianNoise: stddev must be >= 0, got {stddev}")
        self.stddev = float(stddev)

    def sample(self, shape, generator=None):
        generator = generator or self.generator()
        return {"noise": generator.standard_normal(size=tuple(shape), dtype=numpy.float32) * numpy.float32(self.stddev)}

    def apply(self, batch, params):
        xp = get_array_module(batch)
        return batch + xp.asarray(params["noise"], dtype=batch.dtype)

    def vjp(self, grad, params, batch):
        return grad

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}


class RandomBrightness(Transform):
    """Add a random offset to each image, then clip to ``value_range``.

    Args:
        factor: a number ``f`` or a range ``(low, high)`` within [-1, 1]; the
            offset is ``U(low, high) * (value_range[1] - value_range[0])``:
            -1 gives a black image, 1 a white one.
        value_range: the range of pixel values (Keras' default ``(0, 255)``;
            pass ``(0, 1)`` for images scaled to [0, 1] like nerve's digits).
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> brighter = RandomBrightness((0.5, 0.5), value_range=(0, 1))
        >>> brighter(np.array([[[0.0, 0.8]]])).tolist()
        [[[0.5, 1.0]]]
    """

    def __init__(self, factor, value_range=(0, 255), seed=None):
        super().__init__(seed)
        self.factor = _factor_range(factor, "RandomBrightness", "factor")
        self.value_range = _value_range(value_range, "RandomBrightness")

    def sample(self, shape, generator=None):
        generator = generator or self.generator()
        span = self.value_range[1] - self.value_range[0]
        return {"delta": generator.uniform(*self.factor, size=shape[0]) * span}

    def apply(self, batch, params):
        return _brightness(batch, _per_image(params["delta"], batch), self.value_range)

    def vjp(self, grad, params, batch):
        shifted = batch + _per_image(params["delta"], batch)
        return grad * ((shifted >= self.value_range[0]) & (shifted <= self.value_range[1]))

    def get_config(self):
        return {"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed}


class RandomContrast(Transform):
    """Scale each image's contrast by a random factor in ``[1 - lower, 1 + upper]``, then clip.

    Each channel moves away from (factor > 1) or towards (factor < 1) its mean
    over the image: ``(x - mean) * factor + mean``.

    Args:
        factor: a number ``f`` (range ``[1 - f, 1 + f]``) or a pair ``(lower, upper)``, each in [0, 1].
        value_range: the range of pixel values (Keras' default ``(0, 255)``; pass ``(0, 1)`` for [0, 1] images).
        seed: private generator seed (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> out = RandomContrast(0.5, value_range=(0, 1), seed=0)(np.full((2, 3, 3), 0.5))
        >>> float(out.min()), float(out.max())  # a flat image stays flat
        (0.5, 0.5)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None):
        super().__init__(seed)
        if isinstance(factor, (int, float)):
            factor = (factor, factor)
        try:
            lower, upper = (float(v) for v in factor)
        except (TypeError, ValueError):
            raise ValueError(f"RandomContrast: factor must be a number or a pair (lower, upper), got {factor!r}") from None
        if not (0 <= lower <= 1 and upper >= 0):
            raise ValueError(f"RandomContrast: factor must satisfy 0 <= lower <= 1 and upper >= 0, got ({lower}, {upper})")
        self.factor = (lower, upper)
        self.value_range = _value_range(value_range, "RandomContrast")

    def sample(self, shape, generator=None):
        generator = generator or self.generator()
        return {"factor": generator.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], size=shape[0])}

    def apply(self, batch, params):
        return _contrast(batch, _per_image(params["factor"], batch), self.value_range)

    def vjp(self, grad, params, batch):
        factor = _per_image(params["factor"], batch)
        mean = batch.mean(axis=(1, 2), keepdims=True)
        scaled = (batch - mean) * factor + mean
        grad = grad * ((scaled >= self.value_range[0]) & (scaled <= self.value_range[1]))
        return factor * grad + (1 - factor) * grad.mean(axis=(1, 2), keepdims=True)

    def get_config(self):
        return {"factor": list(self.factor), "value_range": list(self.value_range), "seed": self.seed}


# ------------------------------------------------------------- composition
class Compose:
    """Apply transforms (or any functions of a batch) one after the other.

    Consecutive geometric transforms with the same ``interpolation``,
    ``fill_mode`` and ``fill_value`` (RandomTranslation, RandomRotation,
    RandomZoom) are merged: their random matrices are multiplied and the batch
    is resampled once. That is faster and interpolates only once; the random
    draws are the same as when applying them one by one.

    Examples:
        >>> import numpy as np
        >>> augment = Compose([RandomFlip("horizontal", seed=0), GaussianNoise(0.01, seed=1)])
        >>> augment(np.zeros((4, 8, 8, 3))).shape
        (4, 8, 8, 3)
    """

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable on a batch, got {type(t).__name__}")
        self._steps = []
        for t in self.transforms:
            previous = self._steps[-1] if self._steps else None
            if _mergeable(t) and previous is not None and _mergeable(previous) and _same_sampling(previous, t):
                chain = previous.transforms if isinstance(previous, _AffineChain) else [previous]
                self._steps[-1] = _AffineChain(chain + [t])
            else:
                self._steps.append(t)

    def __call__(self, images):
        for t in self._steps:
            images = t(images)
        return images

    def __repr__(self):
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


def _mergeable(t):
    return isinstance(t, _AffineTransform) and not isinstance(t, RandomCrop)


def _same_sampling(a, b):
    return (a.interpolation, a.fill_mode, a.fill_value) == (b.interpolation, b.fill_mode, b.fill_value)


class _AffineChain(_AffineTransform):
    """Several geometric transforms as one: the product of their matrices, one resampling."""

    def __init__(self, transforms):
        first = transforms[0]
        super().__init__(first.interpolation, first.fill_mode, first.fill_value)
        self.transforms = transforms

    def matrices(self, shape, generator):
        total = None
        for t in self.transforms:  # output -> input maps compose as M_first @ ... @ M_last
            m = numpy.concatenate([t.matrices(shape, t.generator()), numpy.zeros((shape[0], 1, 3))], axis=1)
            m[:, 2, 2] = 1.0
            total = m if total is None else total @ m
        return total[:, :2]

    def get_config(self):
        return {"transforms": [repr(t) for t in self.transforms]}


class TransformedDataset:
    """A dataset whose inputs go through ``transform`` each time a batch is read.

    Wrap a :class:`nerve.data.TensorDataset` (or any dataset of ``(x, y, ...)``
    samples) and hand it to a :class:`nerve.data.DataLoader`: the loader reads
    whole batches (``get_batch``), so the transform runs once per batch,
    vectorised, with fresh random parameters every epoch.

    Args:
        dataset: the dataset; its samples are tuples whose first item is the image.
        transform: a function of a batch of images, e.g. a :class:`Compose`.

    Examples:
        >>> import numpy as np, nerve
        >>> data = nerve.data.TensorDataset(np.zeros((10, 8, 8, 1), np.float32), np.arange(10))
        >>> augmented = TransformedDataset(data, RandomFlip("horizontal"))
        >>> loader = nerve.data.DataLoader(augmented, batch_size=4, shuffle=True)
        >>> [x.shape for x, y in loader][0]
        (4, 8, 8, 1)
    """

    def __init__(self, dataset, transform):
        if not callable(transform):
            raise TypeError(f"TransformedDataset: transform must be callable, got {type(transform).__name__}")
        self.dataset = dataset
        self.transform = transform

    def __len__(self):
        return len(self.dataset)

    def _transform_first(self, items, single):
        items = tuple(items) if isinstance(items, (tuple, list)) else (items,)
        x = items[0][None] if single else items[0]
        x = self.transform(x)
        return (x[0] if single else x,) + items[1:]

    def __getitem__(self, index):
        return self._transform_first(self.dataset[index], single=True)

    def get_batch(self, indices):
        """The samples at ``indices`` as a tuple of arrays, the images transformed."""
        if hasattr(self.dataset, "get_batch"):
            batch = self.dataset.get_batch(indices)
        else:
            batch = default_collate([self.dataset[int(i)] for i in indices])
        return self._transform_first(batch, single=False)
