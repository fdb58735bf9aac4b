"""Keras 3's keras.random functions in nerve.random (issue 18): seeds, shapes, dtypes and distribution moments."""

import math

import numpy as np
import pytest

import nerve
from nerve import random as nrandom

N = 200_000


def test_int_seeds_repeat_and_seed_generators_advance_reproducibly():
    for draw in (lambda s: nrandom.truncated_normal((3, 4), seed=s), lambda s: nrandom.randint((5,), 0, 100, seed=s),
                 lambda s: nrandom.gamma((4,), 2.0, seed=s), lambda s: nrandom.beta((4,), 2.0, 3.0, seed=s),
                 lambda s: nrandom.binomial((4,), 20, 0.5, seed=s),
                 lambda s: nrandom.categorical(np.zeros((2, 10)), 6, seed=s)):
        np.testing.assert_array_equal(draw(7).numpy(), draw(7).numpy())
        assert not np.array_equal(draw(7).numpy(), draw(8).numpy())
        gen, again = nrandom.SeedGenerator(42), nrandom.SeedGenerator(42)
        first, second = draw(gen).numpy(), draw(gen).numpy()
        assert not np.array_equal(first, second)
        np.testing.assert_array_equal(first, draw(again).numpy())
        np.testing.assert_array_equal(second, draw(again).numpy())
    assert nrandom.SeedGenerator(42).state.tolist() == [42, 0] and gen.state.tolist() == [42, 2]


def test_no_seed_uses_nerves_global_generator():
    nrandom.seed(5)
    a = nrandom.truncated_normal((6,)).numpy(), nrandom.SeedGenerator().get_config()
    nrandom.seed(5)
    b = nrandom.truncated_normal((6,)).numpy(), nrandom.SeedGenerator().get_config()
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1] == {"seed": None, "name": "seed_generator"}
    assert not np.array_equal(a[0], nrandom.truncated_normal((6,)).numpy())


def test_results_are_tensors_of_floatx_on_the_default_device():
    for out in (nrandom.truncated_normal((2, 3), seed=0), nrandom.gamma((2, 3), 1.0, seed=0),
                nrandom.beta((2, 3), 1.0, 1.0, seed=0), nrandom.binomial((2, 3), 3, 0.5, seed=0)):
        assert isinstance(out, nerve.Tensor) and out.shape == (2, 3) and out.dtype == np.float32
        assert out.device == nerve.backend.get_device() and not out.requires_grad
    assert nrandom.truncated_normal((2,), dtype="float64", seed=0).dtype == np.float64
    assert nrandom.randint((2,), 0, 3, seed=0).dtype == np.int32
    assert nrandom.categorical(np.zeros((1, 3)), 2, dtype="int64", seed=0).dtype == np.int64


def test_normal_and_uniform_keep_their_array_api_and_take_keras_arguments():
    nrandom.seed(0)
    a = nrandom.normal((2, 3))
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(nrandom.normal((5,), 1.0, 2.0, seed=3), nrandom.normal((5,), 1.0, 2.0, seed=3))
    x = nrandom.uniform((N,), minval=-2.0, maxval=4.0, seed=1)
    assert x.min() >= -2.0 and x.max() < 4.0 and abs(x.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(nrandom.uniform((4,), -2.0, 4.0, seed=1), x[:4])
    assert nrandom.normal((2,), dtype=None).dtype == nrandom.uniform((2,), dtype=None).dtype == np.float32


def test_truncated_normal_bounds_and_moments():
    x = nrandom.truncated_normal((N,), mean=3.0, stddev=2.0, dtype="float64", seed=0).numpy()
    assert x.min() >= -1.0 and x.max() <= 7.0
    # a standard normal cut at +-2 has variance 1 - 4 phi(2) / (Phi(2) - Phi(-2))
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    sd = 2.0 * math.sqrt(1 - 4 * phi2 / math.erf(2 / math.sqrt(2)))
    assert abs(x.mean() - 3.0) < 0.02 and abs(x.std() - sd) < 0.01
    assert x.min() < -0.9 and x.max() > 6.9  # the whole interval is reached


def test_randint_bounds_and_uniform_counts():
    x = nrandom.randint((N,), -3, 5, seed=2).numpy()
    counts = np.bincount(x + 3, minlength=8)
    assert x.min() == -3 and x.max() == 4 and len(counts) == 8
    np.testing.assert_allclose(counts / N, 1 / 8, atol=0.005)


@pytest.mark.parametrize("alpha", [0.5, 4.0])
def test_gamma_moments(alpha):
    x = nrandom.gamma((N,), alpha, dtype="float64", seed=3).numpy()
    assert x.min() > 0
    assert abs(x.mean() - alpha) < 0.02 * alpha + 0.01 and abs(x.var() - alpha) < 0.05 * alpha


def test_beta_moments():
    a, b = 2.0, 5.0
    x = nrandom.beta((N,), a, b, dtype="float64", seed=4).numpy()
    assert 0 < x.min() and x.max() < 1
    assert abs(x.mean() - a / (a + b)) < 0.003
    assert abs(x.var() - a * b / ((a + b) ** 2 * (a + b + 1))) < 0.001


def test_binomial_moments_and_broadcast_parameters():
    x = nrandom.binomial((N,), counts=12, probabilities=0.25, seed=5).numpy()
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 12 and (x == np.round(x)).all()
    assert abs(x.mean() - 3.0) < 0.02 and abs(x.var() - 12 * 0.25 * 0.75) < 0.05
    y = nrandom.binomial((N, 2), counts=np.array([5, 10]), probabilities=np.array([0.0, 1.0]), seed=5).numpy()
    assert (y[:, 0] == 0).all() and (y[:, 1] == 10).all()


def test_dropout_scales_the_kept_values_and_passes_their_gradient():
    x = nerve.tensor(np.full((400, 500), 3.0), requires_grad=True, dtype="float64")
    out = nrandom.dropout(x, 0.3, seed=0)
    values = out.numpy()
    kept = values != 0
    np.testing.assert_allclose(values[kept], 3.0 / 0.7, rtol=1e-12)
    assert abs(1 - kept.mean() - 0.3) < 0.005 and abs(values.mean() - 3.0) < 0.03
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-12)
    np.testing.assert_array_equal(nrandom.dropout(x, 0.3, seed=0).numpy(), values)


def test_dropout_noise_shape_and_edge_rates():
    x = np.ones((6, 1000), "float32")
    out = nrandom.dropout(x, 0.5, noise_shape=(1, None), seed=1).numpy()
    assert (out == out[:1]).all() and set(np.unique(out).tolist()) == {0.0, 2.0}  # whole columns dropped
    assert (nrandom.dropout(x, 0.0).numpy() == 1).all() and (nrandom.dropout(x, 1.0).numpy() == 0).all()
    with pytest.raises(ValueError, match="rate"):
        nrandom.dropout(x, 1.5)
    with pytest.raises(ValueError, match=r"noise_shape \(2, 1000\) does not broadcast"):
        nrandom.dropout(x, 0.5, noise_shape=(2, None))


def test_categorical_follows_the_softmax_of_each_row():
    probabilities = np.array([[0.1, 0.2, 0.7, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0]])
    with np.errstate(divide="ignore"):
        logits = np.log(probabilities) + 3.0  # unnormalised; -inf where the probability is 0
    samples = nrandom.categorical(nerve.tensor(logits), 50_000, seed=6).numpy()
    assert samples.shape == (3, 50_000)
    for row, p in zip(samples, probabilities):
        np.testing.assert_allclose(np.bincount(row, minlength=4) / row.size, p, atol=0.007)
    assert (samples[0] != 3).all() and (samples[2] == 3).all()
    with pytest.raises(ValueError, match="2-D"):
        nrandom.categorical(np.zeros(3), 2)


def test_shuffle_permutes_whole_slices_along_an_axis():
    x = np.arange(40).reshape(10, 4)
    out = nrandom.shuffle(x, seed=0).numpy()
    assert isinstance(nrandom.shuffle(x, seed=0), nerve.Tensor) and out.shape == (10, 4)
    assert sorted(out[:, 0].tolist()) == list(range(0, 40, 4)) and (out == out[:, :1] + np.arange(4)).all()
    assert not np.array_equal(out, x)
    cols = nrandom.shuffle(nerve.tensor(x), axis=-1, seed=1).numpy()
    assert sorted(cols[0].tolist()) == [0, 1, 2, 3] and (cols == cols[:1] + np.arange(0, 40, 4)[:, None]).all()
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        nrandom.shuffle(x, axis=2)


def test_bad_arguments_say_what_was_received():
    with pytest.raises(TypeError, match="seed must be a non-negative int, a nerve.random.SeedGenerator or None"):
        nrandom.truncated_normal((2,), seed=1.5)
    with pytest.raises(ValueError, match="dtype must be an integer dtype, got float32"):
        nrandom.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(ValueError, match="dtype must be a floating-point dtype, got int32"):
        nrandom.gamma((2,), 1.0, dtype="int32")
    with pytest.raises(ValueError, match="maxval must be greater than minval"):
        nrandom.randint((2,), 3, 3)
    with pytest.raises(ValueError, match="SeedGenerator: seed must be a non-negative int"):
        nrandom.SeedGenerator(-1)
