"""Tests for nerve.initializers: determinism, variances, orthogonality, fans, dtypes, lookup and config."""

import numpy as np
import pytest

import nerve
from nerve import initializers

TRUNCATED_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]

ALL_NAMES = [
    "zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal", "glorot_uniform",
    "glorot_normal", "xavier_uniform", "xavier_normal", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "orthogonal", "variance_scaling",
]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_seeded_draws_are_bit_identical(name):
    init = initializers.get(name)
    nerve.random.seed(0)
    first = init((7, 5))
    nerve.random.seed(0)
    second = init((7, 5))
    assert first.dtype == np.float32 and first.shape == (7, 5)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ["random_normal", "random_uniform", "truncated_normal", "glorot_uniform", "he_normal", "orthogonal"])
def test_draws_come_from_nerve_generator(name):
    init = initializers.get(name)
    nerve.random.seed(0)
    first, second = init((6, 6)), init((6, 6))
    assert not np.array_equal(first, second)  # the generator advances
    nerve.random.seed(1)
    assert not np.array_equal(first, init((6, 6)))  # another seed, other values


@pytest.mark.parametrize("name", ALL_NAMES)
def test_dtypes(name):
    init = initializers.get(name)
    nerve.random.seed(0)
    assert init((4, 3)).dtype == np.float32
    assert init((4, 3), dtype="float64").dtype == np.float64
    assert init((4, 3), dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("name", ["random_normal", "random_uniform", "truncated_normal", "he_normal", "orthogonal"])
def test_random_initializers_refuse_integer_dtypes(name):
    with pytest.raises(TypeError, match="floating-point.*int32"):
        initializers.get(name)((2, 2), dtype="int32")


def test_constant_values():
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.Ones()(4), np.ones(4))
    np.testing.assert_array_equal(initializers.Constant(2.5)((2, 2), dtype="float64"), np.full((2, 2), 2.5))
    assert initializers.Zeros()((2,), dtype="int64").dtype == np.int64


def test_compute_fans():
    assert initializers.compute_fans(()) == (1, 1)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans((784, 10)) == (784, 10)
    assert initializers.compute_fans((3, 3, 16, 32)) == (3 * 3 * 16, 3 * 3 * 32)
    assert initializers.compute_fans((5, 8, 4)) == (5 * 8, 5 * 4)  # Conv1D kernel (width, in, out)


FAN_IN, FAN_OUT = 400, 600
CONV = (5, 5, 64, 32)  # fan_in 1600, fan_out 800
CONV_IN, CONV_OUT = 5 * 5 * 64, 5 * 5 * 32

# (initializer, shape, expected variance)
VARIANCES = {
    "random_normal": (initializers.RandomNormal(0.0, 0.05), (FAN_IN, FAN_OUT), 0.05**2),
    "random_uniform": (initializers.RandomUniform(-0.05, 0.05), (FAN_IN, FAN_OUT), 0.1**2 / 12),
    "truncated_normal": (initializers.TruncatedNormal(0.0, 0.05), (FAN_IN, FAN_OUT), (0.05 * TRUNCATED_STD) ** 2),
    "glorot_uniform": (initializers.GlorotUniform(), (FAN_IN, FAN_OUT), 2 / (FAN_IN + FAN_OUT)),
    "glorot_normal": (initializers.GlorotNormal(), (FAN_IN, FAN_OUT), 2 / (FAN_IN + FAN_OUT)),
    "he_normal": (initializers.HeNormal(), (FAN_IN, FAN_OUT), 2 / FAN_IN),
    "he_uniform": (initializers.HeUniform(), (FAN_IN, FAN_OUT), 2 / FAN_IN),
    "lecun_normal": (initializers.LeCunNormal(), (FAN_IN, FAN_OUT), 1 / FAN_IN),
    "lecun_uniform": (initializers.LeCunUniform(), (FAN_IN, FAN_OUT), 1 / FAN_IN),
    "he_normal_conv": (initializers.HeNormal(), CONV, 2 / CONV_IN),
    "glorot_uniform_conv": (initializers.GlorotUniform(), CONV, 2 / (CONV_IN + CONV_OUT)),
    "fan_out_untruncated": (
        initializers.VarianceScaling(3.0, "fan_out", "untruncated_normal"),
        (FAN_IN, FAN_OUT),
        3.0 / FAN_OUT,
    ),
    "fan_out_conv_uniform": (initializers.VarianceScaling(0.5, "fan_out", "uniform"), CONV, 0.5 / CONV_OUT),
}


@pytest.mark.parametrize("case", sorted(VARIANCES))
def test_sample_variance_matches_theory(case):
    init, shape, variance = VARIANCES[case]
    nerve.random.seed(0)
    w = init(shape, dtype="float64")
    assert w.shape == shape
    assert abs(w.var() / variance - 1) < 0.03, (w.var(), variance)
    assert abs(w.mean()) < 4 * np.sqrt(variance / w.size)


def test_truncated_and_uniform_bounds():
    nerve.random.seed(0)
    w = initializers.HeNormal()((FAN_IN, FAN_OUT), dtype="float64")
    bound = 2 * np.sqrt(2 / FAN_IN) / TRUNCATED_STD
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    w = initializers.TruncatedNormal(mean=1.0, stddev=0.1)((1000,), dtype="float64")
    assert np.abs(w - 1.0).max() <= 0.2
    limit = np.sqrt(6 / (FAN_IN + FAN_OUT))
    w = initializers.GlorotUniform()((FAN_IN, FAN_OUT), dtype="float64")
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    w = initializers.RandomUniform(2.0, 3.0)((1000,))
    assert w.min() >= 2.0 and w.max() < 3.0


@pytest.mark.parametrize("shape", [(50, 30), (30, 30), (3, 3, 4, 8)])
def test_orthogonal_columns(shape):
    nerve.random.seed(0)
    w = initializers.Orthogonal()(shape, dtype="float64")
    flat = w.reshape(-1, shape[-1])
    np.testing.assert_allclose(flat.T @ flat, np.eye(shape[-1]), atol=1e-12)


def test_orthogonal_wide_matrix_has_orthonormal_rows_and_gain():
    nerve.random.seed(0)
    w = initializers.Orthogonal()((20, 50), dtype="float64")
    np.testing.assert_allclose(w @ w.T, np.eye(20), atol=1e-12)
    w = initializers.Orthogonal(gain=2.0)((16, 16))
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(16), atol=1e-5)
    with pytest.raises(ValueError, match=r"Orthogonal.*\(5,\)"):
        initializers.Orthogonal()((5,))


def test_shapes():
    nerve.random.seed(0)
    assert initializers.HeNormal()(5).shape == (5,)
    assert initializers.GlorotUniform()(()).shape == ()
    assert initializers.RandomNormal()([2, 3]).shape == (2, 3)
    with pytest.raises(ValueError, match="negative"):
        initializers.Zeros()((2, -1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode.*fan_in, fan_out, fan_avg"):
        initializers.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match="distribution.*truncated_normal, untruncated_normal, uniform"):
        initializers.VarianceScaling(distribution="gauss")
    with pytest.raises(ValueError, match="scale"):
        initializers.VarianceScaling(scale=0)
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    with pytest.raises(ValueError, match="stddev"):
        initializers.RandomNormal(stddev=-1)
    with pytest.raises(ValueError, match="maxval"):
        initializers.RandomUniform(1.0, 0.0)


def test_get_names_and_classes():
    expected = {
        "zeros": initializers.Zeros, "ones": initializers.Ones, "constant": initializers.Constant,
        "random_normal": initializers.RandomNormal, "random_uniform": initializers.RandomUniform,
        "truncated_normal": initializers.TruncatedNormal, "glorot_uniform": initializers.GlorotUniform,
        "glorot_normal": initializers.GlorotNormal, "xavier_uniform": initializers.GlorotUniform,
        "xavier_normal": initializers.GlorotNormal, "he_normal": initializers.HeNormal,
        "he_uniform": initializers.HeUniform, "lecun_normal": initializers.LeCunNormal,
        "lecun_uniform": initializers.LeCunUniform, "orthogonal": initializers.Orthogonal,
        "Glorot_Uniform": initializers.GlorotUniform, "HeNormal": initializers.HeNormal,
    }
    for name, cls in expected.items():
        assert type(initializers.get(name)) is cls


def test_get_other_identifiers():
    init = initializers.Constant(3.0)
    assert initializers.get(init) is init
    assert initializers.get(None) is None
    assert type(initializers.get(initializers.Ones)) is initializers.Ones

    def custom(shape, dtype="float32"):
        return np.full(shape, 7.0, dtype=dtype)

    assert initializers.get(custom) is custom
    vs = initializers.get({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out"}})
    assert (vs.scale, vs.mode, vs.distribution) == (2.0, "fan_out", "truncated_normal")
    with pytest.raises(TypeError):
        initializers.get(1.5)
    with pytest.raises(ValueError, match="class_name"):
        initializers.get({"config": {}})
    with pytest.raises(ValueError, match="custom initializer"):
        initializers.serialize(custom)


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        initializers.get("kaiming_normal")
    message = str(info.value)
    assert "'kaiming_normal'" in message
    for name in ALL_NAMES:
        assert name in message


@pytest.mark.parametrize(
    "init",
    [
        initializers.Zeros(), initializers.Ones(), initializers.Constant(1.5), initializers.RandomNormal(0.5, 0.2),
        initializers.RandomUniform(-1.0, 2.0), initializers.TruncatedNormal(0.1, 0.3), initializers.GlorotUniform(),
        initializers.GlorotNormal(), initializers.HeNormal(), initializers.HeUniform(), initializers.LeCunNormal(),
        initializers.LeCunUniform(), initializers.Orthogonal(gain=0.5),
        initializers.VarianceScaling(2.0, "fan_avg", "uniform"),
    ],
    ids=lambda i: type(i).__name__,
)
def test_config_round_trip_draws_the_same(init):
    saved = initializers.serialize(init)
    restored = initializers.get(saved)
    assert type(restored) is type(init) and restored.get_config() == init.get_config()
    assert type(init).from_config(init.get_config()).get_config() == init.get_config()
    nerve.random.seed(3)
    a = init((5, 4))
    nerve.random.seed(3)
    np.testing.assert_array_equal(a, restored((5, 4)))
