"""Tests for nerve.datasets: the bundled digits and the synthetic generators."""

import numpy as np
import pytest

import nerve.training.datasets
from nerve import datasets


def test_digits_default_split_shapes_dtypes_and_ranges():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits_5k()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert set(np.unique(y_train).tolist()) == set(range(10))
    # every digit keeps its 10%: 100 per class in the test set, 400 in training
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert x_train.mean() == pytest.approx(0.13, abs=0.03)  # MNIST: mostly black background


def test_digits_options():
    (x_train, y_train), (x_test, _) = datasets.load_digits_5k(test_size=500, normalize=False, flatten=True)
    assert x_train.shape == (4500, 784) and x_test.shape == (500, 784)
    assert x_train.dtype == np.uint8 and x_train.max() == 255
    assert np.bincount(datasets.load_digits_5k(test_size=0.2)[1][1]).tolist() == [100] * 10


def test_digits_no_overlap_between_train_and_test():
    (x_train, _), (x_test, _) = datasets.load_digits_5k(normalize=False, flatten=True)
    rows = {row.tobytes() for row in x_train}
    assert len(rows) > 3900  # (a few MNIST images may be duplicates)
    overlap = sum(row.tobytes() in rows for row in x_test)
    assert overlap <= 5


def test_digits_determinism_and_seed():
    (a, ya), _ = datasets.load_digits_5k(seed=0)
    (b, yb), _ = datasets.load_digits_5k(seed=0)
    (c, yc), _ = datasets.load_digits_5k(seed=1)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    a[0, 0, 0] = 123.0  # callers get their own copy, the cache stays intact
    assert datasets.load_digits_5k(seed=0)[0][0][0, 0, 0] != 123.0


def test_digits_file_is_loaded_without_pickle():
    with np.load(nerve.training.datasets._DIGITS_PATH, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["x", "y"]
        assert archive["x"].dtype == np.uint8


def test_xor():
    x, y = datasets.load_xor()
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert x.shape == (4, 2) and y.shape == (4, 1)
    np.testing.assert_array_equal(y[:, 0], np.logical_xor(x[:, 0], x[:, 1]))


def test_house_prices_shapes_ranges_and_formula():
    x, y = datasets.make_house_prices(n=2000, seed=0)
    assert x.shape == (2000, 4) and y.shape == (2000, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    area, rooms, location, wealth = x.T
    assert 30 <= area.min() and area.max() <= 250
    assert set(np.unique(rooms).tolist()) <= set(range(1, 9))
    assert 0 <= location.min() and location.max() <= 1 and 0 <= wealth.min() and wealth.max() <= 1
    expected = 50 + 2.0 * area + 10 * rooms + 150 * location + 100 * wealth + 80 * location * wealth
    residual = y[:, 0] - expected
    assert abs(residual.mean()) < 2.0 and residual.std() == pytest.approx(20.0, rel=0.1)  # the noise


def test_flight_delays_shapes_and_rule():
    x, y = datasets.make_flight_delays(n=4000, seed=0)
    assert x.shape == (4000, 2) and y.shape == (4000, 1)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert set(np.unique(y).tolist()) == {0.0, 1.0}
    temperature, wind = x.T
    assert -25 <= temperature.min() and temperature.max() <= 40 and 0 <= wind.min() and wind.max() <= 80
    mild = (temperature > 0) & (wind < 40)
    cold = temperature < -20
    windy = wind > 70
    assert y[mild].mean() < 0.1  # sigmoid(-3) is about 0.05
    assert y[cold].mean() > 0.8 and y[windy].mean() > 0.8


@pytest.mark.parametrize("make", [datasets.make_house_prices, datasets.make_flight_delays])
def test_generators_are_deterministic(make):
    x1, y1 = make(n=100, seed=3)
    x2, y2 = make(n=100, seed=3)
    x3, _ = make(n=100, seed=4)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
