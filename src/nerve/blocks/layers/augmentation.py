"""Augmentation layers: random flips, shifts, rotations, zooms, crops, noise, brightness and contrast.

Put them at the start of a model: while training (``fit``, or ``training=True``)
each batch gets a fresh random variation of every image; at inference
(``evaluate``, ``predict``) they do nothing (RandomCrop cuts the centre).
Images are channels last, ``(N, H, W, C)``; ``(N, H, W)`` works too.

They are thin wrappers around :mod:`nerve.transforms`, which does the work on
the whole batch at once, so the same augmentation can run in a DataLoader
instead. Gradients flow through them: each one is linear in its input for the
random parameters drawn on that call (brightness and contrast up to clipping),
and its backward pass is the transpose of that map.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> augment = nerve.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    >>> images = np.ones((4, 28, 28, 1), dtype=np.float32)
    >>> augment(images, training=True).shape
    (4, 28, 28, 1)
    >>> bool((augment(images, training=False).numpy() == images).all())
    True
"""

from __future__ import annotations

from nerve.blocks import transforms
from nerve.blocks.layers.base import Layer, builtin_layer
from nerve.engine import ops
from nerve.engine.tensor import Function

__all__ = [
    "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomCrop", "GaussianNoise",
    "RandomBrightness", "RandomContrast",
]


class Augment(Function):
    """Apply a :class:`nerve.transforms.Transform` with fixed random parameters; backward is its ``vjp``.

    Examples:
        >>> import numpy as np, nerve
        >>> flip = transforms.RandomFlip("horizontal")
        >>> x = nerve.tensor(np.arange(3.0).reshape(1, 1, 3, 1), requires_grad=True)
        >>> params = {"horizontal": np.array([True]), "vertical": np.array([False])}
        >>> Augment.apply(x, transform=flip, params=params).numpy().ravel().tolist()
        [2.0, 1.0, 0.0]
    """

    def forward(self, x):
        self.x = x
        return self.transform.apply(x, self.params)

    def backward(self, grad):
        return (self.transform.vjp(grad, self.params, self.x),)


def augment(inputs, transform, params=None):
    """Differentiable ``transform`` of an (N, H, W, C) or (N, H, W) tensor; draws ``params`` when not given.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.ones((2, 3, 3, 1)), requires_grad=True)
        >>> y = augment(x, transforms.RandomRotation(0.1, seed=0))
        >>> y.sum().backward(); x.grad.shape
        (2, 3, 3, 1)
    """
    squeeze = inputs.ndim == 3
    if squeeze:
        inputs = ops.reshape(inputs, inputs.shape + (1,))
    if params is None:
        params = transform.sample(inputs.shape)
    out = Augment.apply(inputs, transform=transform, params=params)
    return ops.reshape(out, out.shape[:-1]) if squeeze else out


class _Augmentation(Layer):
    """Base of the augmentation layers: ``self.transform`` in training, its inference form (the identity) otherwise."""

    min_ndim = 3

    def __init__(self, transform, **kwargs):
        super().__init__(**kwargs)
        self.transform = transform

    def build(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ValueError(
                f"layer '{self.name}' ({type(self).__name__}) expects images of shape (N, H, W, C) or (N, H, W), "
                f"got shape {input_shape}"
            )
        self.transform.inference_params(_image_shape(input_shape))  # RandomCrop: a clear error now if it cannot fit

    def call(self, inputs, training=None):
        if training:
            return augment(inputs, self.transform)
        params = self.transform.inference_params(_image_shape(inputs.shape))
        return inputs if params is None else augment(inputs, self.transform, params)

    def get_config(self):
        return {**super().get_config(), **self.transform.get_config()}


def _image_shape(shape):
    return tuple(shape) + (1,) if len(shape) == 3 else tuple(shape)


@builtin_layer
class RandomFlip(_Augmentation):
    """Flip each image left-right and/or upside down with probability 1/2 (training only).

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
        seed: seed of a private generator (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> layer = RandomFlip("horizontal", seed=0)
        >>> layer(np.arange(6.0).reshape(2, 1, 3), training=True).numpy()[:, 0].tolist()
        [[0.0, 1.0, 2.0], [5.0, 4.0, 3.0]]
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(transforms.RandomFlip(mode=mode, seed=seed), **kwargs)


@builtin_layer
class RandomTranslation(_Augmentation):
    """Shift each image by a random fraction of its height and width (training only).

    Args:
        height_factor: ``f`` for shifts in ``[-f, f] * H`` or ``(low, high)``; positive moves down.
        width_factor: the same for the width; positive moves right.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"nearest"`` or ``"constant"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: seed of a private generator (default: :func:`nerve.random.generator`).
        fill_value: the value outside the image when ``fill_mode="constant"``.

    Examples:
        >>> import numpy as np
        >>> layer = RandomTranslation(0.1, 0.1)
        >>> layer(np.zeros((2, 28, 28, 1)), training=True).shape
        (2, 28, 28, 1)
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(transforms.RandomTranslation(height_factor, width_factor, fill_mode=fill_mode,
                                                      interpolation=interpolation, seed=seed,
                                                      fill_value=fill_value), **kwargs)


@builtin_layer
class RandomRotation(_Augmentation):
    """Rotate each image about its centre by a random fraction of a full turn (training only).

    Args:
        factor: ``f`` for angles in ``[-f, f] * 2 pi`` or ``(low, high)``; positive is counter-clockwise.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"nearest"`` or ``"constant"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: seed of a private generator (default: :func:`nerve.random.generator`).
        fill_value: the value outside the image when ``fill_mode="constant"``.

    Examples:
        >>> import numpy as np
        >>> layer = RandomRotation((0.25, 0.25), interpolation="nearest")  # always a quarter turn
        >>> layer(np.array([[[1.0, 2.0], [3.0, 4.0]]]), training=True).tolist()
        [[[2.0, 4.0], [1.0, 3.0]]]
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(transforms.RandomRotation(factor, fill_mode=fill_mode, interpolation=interpolation,
                                                   seed=seed, fill_value=fill_value), **kwargs)


@builtin_layer
class RandomZoom(_Augmentation):
    """Zoom each image in or out about its centre by a random amount (training only).

    Args:
        height_factor: ``f`` or ``(low, high)``; the sampled area is ``1 + U(low, high)`` times
            the image height: positive zooms out, negative zooms in.
        width_factor: the same horizontally; ``None`` keeps the aspect ratio.
        fill_mode: ``"reflect"`` (default), ``"wrap"``, ``"nearest"`` or ``"constant"``.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: seed of a private generator (default: :func:`nerve.random.generator`).
        fill_value: the value outside the image when ``fill_mode="constant"``.

    Examples:
        >>> import numpy as np
        >>> RandomZoom(0.2)(np.zeros((2, 32, 32, 3)), training=True).shape
        (2, 32, 32, 3)
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs):
        super().__init__(transforms.RandomZoom(height_factor, width_factor, fill_mode=fill_mode,
                                               interpolation=interpolation, seed=seed, fill_value=fill_value),
                         **kwargs)


@builtin_layer
class RandomCrop(_Augmentation):
    """Cut a random ``height`` x ``width`` window out of each image in training, the centre one otherwise.

    Args:
        height: size of the window.
        width: size of the window.
        padding: zeros added on each side before cropping: a number or ``(pad_h, pad_w)``.
            ``RandomCrop(32, 32, padding=4)`` on 32x32 images is the classic CIFAR
            augmentation and is the identity at inference.
        seed: seed of a private generator (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> layer = RandomCrop(24, 24)
        >>> layer(np.zeros((2, 28, 28, 1)), training=True).shape, layer(np.zeros((2, 28, 28, 1))).shape
        ((2, 24, 24, 1), (2, 24, 24, 1))
    """

    def __init__(self, height, width, seed=None, padding=0, **kwargs):
        super().__init__(transforms.RandomCrop(height, width, padding=padding, seed=seed), **kwargs)


@builtin_layer
class GaussianNoise(_Augmentation):
    """Add zero-mean Gaussian noise of standard deviation ``stddev`` (training only), a regulariser.

    Examples:
        >>> import numpy as np
        >>> layer = GaussianNoise(0.1, seed=0)
        >>> round(float(layer(np.zeros((100, 10, 10, 1)), training=True).numpy().std()), 2)
        0.1
    """

    min_ndim = 2  # any shape: also used on hidden features

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(transforms.GaussianNoise(stddev, seed=seed), **kwargs)

    def build(self, input_shape):
        pass

    def call(self, inputs, training=None):
        if not training:
            return inputs
        return Augment.apply(inputs, transform=self.transform, params=self.transform.sample(inputs.shape))


@builtin_layer
class RandomBrightness(_Augmentation):
    """Add a random offset to each image, then clip to ``value_range`` (training only).

    Args:
        factor: ``f`` or ``(low, high)`` within [-1, 1]; the offset is ``U(low, high)`` times the
            width of ``value_range`` (-1: black, 1: white).
        value_range: range of the pixel values, Keras' default ``(0, 255)``; use ``(0, 1)`` for
            images scaled to [0, 1].
        seed: seed of a private generator (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> layer = RandomBrightness((0.5, 0.5), value_range=(0, 1))
        >>> layer(np.array([[[0.0, 0.8]]]), training=True).tolist()
        [[[0.5, 1.0]]]
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(transforms.RandomBrightness(factor, value_range=value_range, seed=seed), **kwargs)


@builtin_layer
class RandomContrast(_Augmentation):
    """Scale each image's contrast by a random factor in ``[1 - lower, 1 + upper]``, then clip (training only).

    Args:
        factor: ``f`` for ``[1 - f, 1 + f]`` or ``(lower, upper)``.
        value_range: range of the pixel values, Keras' default ``(0, 255)``; use ``(0, 1)`` for
            images scaled to [0, 1].
        seed: seed of a private generator (default: :func:`nerve.random.generator`).

    Examples:
        >>> import numpy as np
        >>> layer = RandomContrast(0.5, value_range=(0, 1))
        >>> layer(np.zeros((2, 8, 8, 1)), training=True).shape
        (2, 8, 8, 1)
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(transforms.RandomContrast(factor, value_range=value_range, seed=seed), **kwargs)
