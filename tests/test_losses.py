"""Tests for nerve.losses: values vs NumPy formulas, reductions and sample weights, gradients,
shape errors, lookup and config, and agreement with torch.nn.functional."""

import warnings

import numpy as np
import pytest

import nerve
from nerve import losses
from nerve.gradcheck import check_gradients

EPS = 1e-7
N, D, C = 6, 3, 4


# --------------------------------------------------------- NumPy references
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def np_mse(t, p):
    return ((p - t) ** 2).mean(axis=-1)


def np_mae(t, p):
    return np.abs(p - t).mean(axis=-1)


def np_huber(t, p, delta=1.0):
    e = p - t
    a = np.abs(e)
    return np.where(a <= delta, 0.5 * e**2, delta * a - 0.5 * delta**2).mean(axis=-1)


def np_bce(t, p, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=-1)


def np_bce_logits(t, z, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + 0.5 * label_smoothing
    p = _sigmoid(z)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(axis=-1)


def np_cce(t, p, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -(t * np.log(p)).sum(axis=-1)


def np_cce_logits(t, z, label_smoothing=0.0):
    t = t * (1 - label_smoothing) + label_smoothing / t.shape[-1]
    return -(t * _log_softmax(z)).sum(axis=-1)


def np_scce(labels, p):
    p = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -np.log(np.take_along_axis(p, labels[..., None], axis=-1)[..., 0])


def np_scce_logits(labels, z):
    return -np.take_along_axis(_log_softmax(z), labels[..., None], axis=-1)[..., 0]


def np_reduce(per_sample, weights, reduction):
    if weights is not None:
        per_sample = per_sample * weights.reshape(weights.shape + (1,) * (per_sample.ndim - weights.ndim))
    if reduction == "none":
        return per_sample
    if reduction == "sum":
        return per_sample.sum()
    return per_sample.sum() / per_sample.size


# ------------------------------------------------------------------ data
def _rng(seed=0):
    return np.random.default_rng(seed)


def _regression(seed=0, shape=(N, D)):
    rng = _rng(seed)
    return rng.normal(size=shape), rng.normal(size=shape)


def _binary(seed=0, shape=(N, D)):
    rng = _rng(seed)
    return rng.integers(0, 2, size=shape).astype(np.float64), rng.uniform(0.05, 0.95, size=shape)


def _binary_logits(seed=0, shape=(N, D)):
    rng = _rng(seed)
    return rng.integers(0, 2, size=shape).astype(np.float64), rng.normal(scale=2.0, size=shape)


def _onehot(seed=0, shape=(N, C)):
    rng = _rng(seed)
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    return np.eye(shape[-1])[labels], rng.normal(size=shape)


def _probabilities(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _onehot_probs(seed=0):
    t, z = _onehot(seed)
    return t, _probabilities(z) * 1.5  # not normalised: the loss must normalise


def _sparse(seed=0):
    rng = _rng(seed)
    return rng.integers(0, C, size=N), rng.normal(size=(N, C))


def _sparse_probs(seed=0):
    labels, z = _sparse(seed)
    return labels, _probabilities(z)


# name -> (loss factory, NumPy per-sample reference, data factory)
CASES = {
    "mse": (lambda: losses.MeanSquaredError, np_mse, _regression),
    "mae": (lambda: losses.MeanAbsoluteError, np_mae, _regression),
    "huber": (lambda: losses.Huber, np_huber, _regression),
    "huber_delta": (lambda: lambda **k: losses.Huber(delta=0.7, **k), lambda t, p: np_huber(t, p, 0.7), _regression),
    "bce": (lambda: losses.BinaryCrossentropy, np_bce, _binary),
    "bce_smooth": (
        lambda: lambda **k: losses.BinaryCrossentropy(label_smoothing=0.2, **k),
        lambda t, p: np_bce(t, p, 0.2),
        _binary,
    ),
    "bce_logits": (
        lambda: lambda **k: losses.BinaryCrossentropy(from_logits=True, **k),
        np_bce_logits,
        _binary_logits,
    ),
    "bce_logits_smooth": (
        lambda: lambda **k: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **k),
        lambda t, z: np_bce_logits(t, z, 0.1),
        _binary_logits,
    ),
    "cce": (lambda: losses.CategoricalCrossentropy, np_cce, _onehot_probs),
    "cce_smooth": (
        lambda: lambda **k: losses.CategoricalCrossentropy(label_smoothing=0.1, **k),
        lambda t, p: np_cce(t, p, 0.1),
        _onehot_probs,
    ),
    "cce_logits": (
        lambda: lambda **k: losses.CategoricalCrossentropy(from_logits=True, **k),
        np_cce_logits,
        _onehot,
    ),
    "cce_logits_smooth": (
        lambda: lambda **k: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, **k),
        lambda t, z: np_cce_logits(t, z, 0.2),
        _onehot,
    ),
    "scce": (lambda: losses.SparseCategoricalCrossentropy, np_scce, _sparse_probs),
    "scce_logits": (
        lambda: lambda **k: losses.SparseCategoricalCrossentropy(from_logits=True, **k),
        np_scce_logits,
        _sparse,
    ),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_match_numpy(case, reduction, weighted):
    factory, reference, data = CASES[case]
    y_true, y_pred = data(seed=1)
    weights = _rng(7).uniform(0.0, 2.0, size=N) if weighted else None
    loss = factory()(reduction=reduction)
    out = loss(y_true, nerve.tensor(y_pred), sample_weight=weights)
    expected = np_reduce(reference(y_true, y_pred), weights, reduction)
    assert out.shape == np.shape(expected)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_predictions_give_float32_loss(case):
    factory, reference, data = CASES[case]
    y_true, y_pred = data(seed=2)
    out = factory()()(y_true, nerve.tensor(y_pred.astype(np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), reference(y_true, y_pred.astype(np.float32).astype(np.float64)).mean(), rtol=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_central_differences(case, reduction):
    factory, _, data = CASES[case]
    y_true, y_pred = data(seed=3)
    weights = _rng(4).uniform(0.5, 2.0, size=N)
    loss = factory()(reduction=reduction)
    p = nerve.tensor(y_pred, requires_grad=True)
    assert check_gradients(lambda p: loss(y_true, p, sample_weight=weights), [p])


def test_function_forms_return_per_sample_losses():
    t, p = _regression()
    for fn, ref in [(losses.mean_squared_error, np_mse), (losses.mean_absolute_error, np_mae), (losses.huber, np_huber)]:
        out = fn(t, nerve.tensor(p))
        assert out.shape == (N,)
        np.testing.assert_allclose(out.numpy(), ref(t, p), rtol=1e-12)
    t, p = _binary()
    np.testing.assert_allclose(losses.binary_crossentropy(t, nerve.tensor(p)).numpy(), np_bce(t, p), rtol=1e-12)
    t, z = _onehot()
    np.testing.assert_allclose(
        losses.categorical_crossentropy(t, nerve.tensor(z), from_logits=True).numpy(), np_cce_logits(t, z), rtol=1e-12
    )
    labels, z = _sparse()
    out = losses.sparse_categorical_crossentropy(labels, nerve.tensor(z), from_logits=True)
    np.testing.assert_allclose(out.numpy(), np_scce_logits(labels, z), rtol=1e-12)
    assert losses.mse is losses.mean_squared_error and losses.mae is losses.mean_absolute_error


def test_sequence_outputs_weights_per_sample_and_mean_over_all_values():
    # (batch, time, features): per-sample losses (batch, time); sample_weight (batch,) broadcasts over time
    t, p = _regression(shape=(4, 5, 3))
    w = np.array([1.0, 0.0, 2.0, 0.5])
    per = np_mse(t, p)
    out = losses.MeanSquaredError(reduction="none")(t, nerve.tensor(p), sample_weight=w)
    assert out.shape == (4, 5)
    np.testing.assert_allclose(out.numpy(), per * w[:, None])
    out = losses.MeanSquaredError()(t, nerve.tensor(p), sample_weight=w)
    np.testing.assert_allclose(out.item(), (per * w[:, None]).sum() / per.size)


def test_sample_weight_shapes():
    t, p = _regression()
    per = np_mse(t, p)
    w = _rng(1).uniform(size=N)
    loss = losses.MeanSquaredError(reduction="sum")
    np.testing.assert_allclose(loss(t, nerve.tensor(p), sample_weight=w[:, None]).item(), (per * w).sum())
    np.testing.assert_allclose(loss(t, nerve.tensor(p), sample_weight=nerve.tensor(w)).item(), (per * w).sum())
    np.testing.assert_allclose(loss(t, nerve.tensor(p), sample_weight=2.0).item(), 2 * per.sum())
    with pytest.raises(ValueError, match=r"sample_weight of shape \(5,\).*\(6,\)"):
        loss(t, nerve.tensor(p), sample_weight=np.ones(5))


def test_rank_one_predictions_are_one_value_per_sample():
    rng = _rng(5)
    t, p = rng.normal(size=N), rng.normal(size=N)
    out = losses.MeanSquaredError(reduction="none")(t, nerve.tensor(p))
    np.testing.assert_allclose(out.numpy(), (p - t) ** 2)


def test_column_targets_are_reshaped_like_keras():
    t, p = _regression(shape=(N, 1))
    expected = np_mse(t, p).mean()
    for y_true, y_pred in [(t[:, 0], p), (t, p[:, 0]), (t[:, 0].tolist(), p)]:
        np.testing.assert_allclose(losses.MeanSquaredError()(y_true, nerve.tensor(y_pred)).item(), expected)
    tb, pb = _binary(shape=(N, 1))
    np.testing.assert_allclose(losses.BinaryCrossentropy()(tb[:, 0], nerve.tensor(pb)).item(), np_bce(tb, pb).mean())


def test_y_true_forms_and_no_gradient_to_targets():
    t, p = _regression()
    expected = np_mse(t, p).mean()
    y_true_tensor = nerve.tensor(t, requires_grad=True)
    for y_true in [t, t.tolist(), nerve.tensor(t), y_true_tensor]:
        y_pred = nerve.tensor(p, requires_grad=True)
        loss = losses.MeanSquaredError()(y_true, y_pred)
        loss.backward()
        np.testing.assert_allclose(loss.item(), expected)
        np.testing.assert_allclose(y_pred.grad.numpy(), 2 * (p - t) / t.size)
    assert y_true_tensor.grad is None
    # float64 targets do not promote a float32 model output
    out = losses.MeanSquaredError()(t, nerve.tensor(p.astype(np.float32)))
    assert out.dtype == np.float32
    # integer/bool targets work for the binary loss
    tb, pb = _binary()
    np.testing.assert_allclose(losses.BinaryCrossentropy()(tb.astype(bool), nerve.tensor(pb)).item(), np_bce(tb, pb).mean())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_on_huge_logits_is_finite(dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = nerve.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=dtype, requires_grad=True)
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)([1, 0], z)
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad.numpy()))
        np.testing.assert_allclose(loss.item(), 2e4, rtol=1e-6)

        z.grad = None
        loss = losses.CategoricalCrossentropy(from_logits=True)([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], z)
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad.numpy()))
        np.testing.assert_allclose(loss.item(), 2e4, rtol=1e-6)

        zb = nerve.tensor([[1e4], [-1e4], [1e4]], dtype=dtype, requires_grad=True)
        loss = losses.BinaryCrossentropy(from_logits=True)([[0.0], [1.0], [1.0]], zb)
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(zb.grad.numpy()))
        np.testing.assert_allclose(loss.item(), 2e4 / 3, rtol=1e-6)
        np.testing.assert_allclose(zb.grad.numpy()[:, 0], [1 / 3, -1 / 3, 0.0], atol=1e-7)


def test_probabilities_are_clipped_at_zero_and_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = nerve.tensor([[0.0], [1.0]], dtype="float64", requires_grad=True)
        loss = losses.BinaryCrossentropy()([[1.0], [0.0]], p)
        np.testing.assert_allclose(loss.item(), -np.log(EPS), rtol=1e-6)
        loss.backward()
        assert np.all(np.isfinite(p.grad.numpy()))
        q = nerve.tensor([[0.0, 1.0]], dtype="float64")
        np.testing.assert_allclose(losses.SparseCategoricalCrossentropy()([0], q).item(), -np.log(EPS), rtol=1e-6)


def test_categorical_axis_argument():
    rng = _rng(9)
    labels = rng.integers(0, C, size=(N, 2))
    t = np.moveaxis(np.eye(C)[labels], -1, 1)  # (N, C, 2): classes on axis 1
    z = rng.normal(size=(N, C, 2))
    out = losses.CategoricalCrossentropy(from_logits=True, axis=1, reduction="none")(t, nerve.tensor(z))
    assert out.shape == (N, 2)
    np.testing.assert_allclose(out.numpy(), np_cce_logits(np.moveaxis(t, 1, -1), np.moveaxis(z, 1, -1)), rtol=1e-12)
    p = nerve.tensor(z, requires_grad=True)
    assert check_gradients(lambda p: losses.CategoricalCrossentropy(axis=1, from_logits=True)(t, p), [p])


# ------------------------------------------------------------------ errors
def test_sparse_with_single_sigmoid_column_explains_the_fix():
    with pytest.raises(ValueError) as info:
        losses.SparseCategoricalCrossentropy()(np.zeros(32, dtype=int), nerve.tensor(np.full((32, 1), 0.5)))
    message = str(info.value)
    assert "SparseCategoricalCrossentropy" in message
    assert "one column per class" in message and "(32, 1)" in message and "(32,)" in message
    assert "BinaryCrossentropy" in message


def test_sparse_labels_out_of_range():
    z = nerve.tensor(np.zeros((3, 4)))
    for labels in ([0, 4, 1], [-1, 0, 1]):
        with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*\[0, 4\).*\(3, 4\)"):
            losses.SparseCategoricalCrossentropy(from_logits=True)(labels, z)
    with pytest.raises(TypeError, match="integer"):
        losses.SparseCategoricalCrossentropy(from_logits=True)([0.5, 1.0, 2.0], z)


def test_sparse_label_shapes():
    labels, z = _sparse()
    expected = np_scce_logits(labels, z).mean()
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(loss(labels[:, None], nerve.tensor(z)).item(), expected)
    np.testing.assert_allclose(loss(labels.astype(np.float32), nerve.tensor(z)).item(), expected)
    with pytest.raises(ValueError, match="CategoricalCrossentropy for those"):
        loss(np.eye(C)[labels], nerve.tensor(z))
    with pytest.raises(ValueError, match=r"\(5,\).*\(6, 4\)"):
        loss(labels[:5], nerve.tensor(z))


def test_elementwise_shape_mismatch_is_refused():
    with pytest.raises(ValueError) as info:
        losses.MeanSquaredError()(np.zeros((8, 3)), nerve.tensor(np.zeros((8, 2))))
    message = str(info.value)
    assert "MeanSquaredError" in message and "(8, 3)" in message and "(8, 2)" in message
    with pytest.raises(ValueError, match="BinaryCrossentropy"):
        losses.BinaryCrossentropy()(np.zeros(8), nerve.tensor(np.full((8, 2), 0.5)))
    with pytest.raises(ValueError, match="MeanAbsoluteError"):
        losses.mean_absolute_error(np.zeros((4, 1)), nerve.tensor(np.zeros((8, 1))))


def test_onehot_class_count_mismatch():
    with pytest.raises(ValueError) as info:
        losses.CategoricalCrossentropy()(np.eye(3)[[0, 1]], nerve.tensor(np.full((2, 4), 0.25)))
    message = str(info.value)
    assert "CategoricalCrossentropy" in message and "(2, 3)" in message and "(2, 4)" in message
    with pytest.raises(ValueError, match="SparseCategoricalCrossentropy"):
        losses.CategoricalCrossentropy()([0, 1], nerve.tensor(np.full((2, 4), 0.25)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction.*mean, sum, none"):
        losses.MeanSquaredError(reduction="avg")
    assert losses.MeanSquaredError(reduction="sum_over_batch_size").reduction == "mean"
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=0)
    with pytest.raises(TypeError, match="floating-point"):
        losses.MeanSquaredError()([1, 2], nerve.tensor([1, 2]))


# ------------------------------------------------------------- get & config
ALL_CLASSES = [
    losses.MeanSquaredError,
    losses.MeanAbsoluteError,
    losses.Huber,
    losses.BinaryCrossentropy,
    losses.CategoricalCrossentropy,
    losses.SparseCategoricalCrossentropy,
]


def test_get_by_name():
    names = {
        "mse": losses.MeanSquaredError,
        "mean_squared_error": losses.MeanSquaredError,
        "MSE": losses.MeanSquaredError,
        "mae": losses.MeanAbsoluteError,
        "huber": losses.Huber,
        "binary_crossentropy": losses.BinaryCrossentropy,
        "bce": losses.BinaryCrossentropy,
        "categorical_crossentropy": losses.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
        "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy,
    }
    for name, cls in names.items():
        assert type(losses.get(name)) is cls


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        losses.get("cross_entropy")
    message = str(info.value)
    assert "'cross_entropy'" in message
    for name in ("mse", "mae", "huber", "bce", "categorical_crossentropy", "sparse_categorical_crossentropy"):
        assert name in message


def test_get_other_identifiers():
    loss = losses.Huber(delta=3.0)
    assert losses.get(loss) is loss
    assert losses.get(None) is None
    assert type(losses.get(losses.MeanAbsoluteError)) is losses.MeanAbsoluteError
    assert type(losses.get(losses.mean_squared_error)) is losses.MeanSquaredError
    config = {"class_name": "CategoricalCrossentropy", "config": {"from_logits": True, "label_smoothing": 0.1}}
    cce = losses.get(config)
    assert cce.from_logits and cce.label_smoothing == 0.1
    with pytest.raises(TypeError):
        losses.get(3)
    with pytest.raises(ValueError, match="class_name"):
        losses.get({"config": {}})


def test_plain_callable_is_wrapped_with_weights_and_reduction():
    def cubic(y_true, y_pred):
        return ((y_pred - y_true) ** 3).sum(axis=-1)

    t, p = _regression()
    w = _rng(2).uniform(size=N)
    loss = losses.get(cubic)
    assert isinstance(loss, losses.Loss) and loss.name == "cubic"
    np.testing.assert_allclose(loss(t, nerve.tensor(p), sample_weight=w).item(), (((p - t) ** 3).sum(-1) * w).mean())
    with pytest.raises(ValueError, match="cubic"):
        loss.get_config()
    # integer targets reach a custom function unchanged
    seen = {}

    def spy(y_true, y_pred):
        seen["dtype"] = y_true.dtype
        return y_pred.sum(axis=-1)

    losses.get(spy)([0, 1], nerve.tensor(np.zeros((2, 3))))
    assert seen["dtype"].kind == "i"


def test_wrapper_of_module_function_round_trips():
    wrapped = losses.LossFunctionWrapper(losses.huber, delta=2.0, reduction="sum")
    restored = losses.get(losses.serialize(wrapped))
    t, p = _regression()
    assert restored.fn is losses.huber and restored.reduction == "sum"
    np.testing.assert_allclose(restored(t, nerve.tensor(p)).item(), np_huber(t, p, 2.0).sum())


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_config_round_trip(cls):
    loss = cls(reduction="sum", name="custom")
    config = loss.get_config()
    assert config["reduction"] == "sum" and config["name"] == "custom"
    again = cls.from_config(config)
    assert again.get_config() == config
    saved = losses.serialize(loss)
    assert saved["class_name"] == cls.__name__
    assert losses.get(saved).get_config() == config


def test_config_keeps_arguments():
    assert losses.Huber(delta=2.5).get_config()["delta"] == 2.5
    config = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, axis=1).get_config()
    assert (config["from_logits"], config["label_smoothing"], config["axis"]) == (True, 0.2, 1)
    assert losses.BinaryCrossentropy(from_logits=True).get_config()["from_logits"] is True
    assert losses.SparseCategoricalCrossentropy(from_logits=True).get_config()["from_logits"] is True
    assert losses.MeanSquaredError().name == "mean_squared_error"


# ----------------------------------------------------------------- PyTorch
def _compare_with_torch(torch, nerve_loss, torch_loss, y_true, y_pred, torch_target=None):
    ours = nerve.tensor(y_pred, requires_grad=True)
    value = nerve_loss(y_true, ours)
    value.backward()
    theirs = torch.tensor(y_pred, requires_grad=True)
    target = torch.tensor(y_true) if torch_target is None else torch_target
    expected = torch_loss(theirs, target)
    expected.backward()
    np.testing.assert_allclose(value.item(), expected.item(), rtol=1e-10)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_regression_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t, p = _regression(seed=11)
    _compare_with_torch(torch, losses.MeanSquaredError(), F.mse_loss, t, p)
    _compare_with_torch(torch, losses.MeanAbsoluteError(), F.l1_loss, t, p)
    _compare_with_torch(torch, losses.Huber(), F.huber_loss, t, p)
    _compare_with_torch(torch, losses.Huber(delta=0.5), lambda a, b: F.huber_loss(a, b, delta=0.5), t, p)
    # Keras's per-sample loss is a mean over the last axis, so its "sum" is torch's sum / D
    _compare_with_torch(
        torch, losses.MeanSquaredError(reduction="sum"), lambda a, b: F.mse_loss(a, b, reduction="sum") / D, t, p
    )


def test_binary_losses_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    t, p = _binary(seed=12)
    _compare_with_torch(torch, losses.BinaryCrossentropy(), F.binary_cross_entropy, t, p)
    t, z = _binary_logits(seed=13)
    _compare_with_torch(torch, losses.BinaryCrossentropy(from_logits=True), F.binary_cross_entropy_with_logits, t, z)
    soft = _rng(14).uniform(size=t.shape)  # soft targets
    _compare_with_torch(torch, losses.BinaryCrossentropy(from_logits=True), F.binary_cross_entropy_with_logits, soft, z)


def test_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    labels, z = _sparse(seed=15)
    target = torch.tensor(labels)
    _compare_with_torch(torch, losses.SparseCategoricalCrossentropy(from_logits=True), F.cross_entropy, labels, z, target)
    _compare_with_torch(
        torch,
        losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum"),
        lambda a, b: F.cross_entropy(a, b, reduction="sum"),
        labels,
        z,
        target,
    )
    # probabilities: nll of log p, with p renormalised to sum to 1 as Keras does (this changes the gradient)
    _compare_with_torch(
        torch,
        losses.SparseCategoricalCrossentropy(),
        lambda a, b: F.nll_loss(torch.log(a / a.sum(dim=-1, keepdim=True)), b),
        labels,
        _probabilities(z),
        target,
    )
    # one-hot and soft targets (cross_entropy with class probabilities)
    onehot = np.eye(C)[labels]
    _compare_with_torch(torch, losses.CategoricalCrossentropy(from_logits=True), F.cross_entropy, onehot, z)
    soft = _probabilities(_rng(16).normal(size=(N, C)))
    _compare_with_torch(torch, losses.CategoricalCrossentropy(from_logits=True), F.cross_entropy, soft, z)
    _compare_with_torch(
        torch,
        losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1),
        onehot,
        z,
        target,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("shapes", [((N, 3), (N, 3)), ((N,), (N, 1)), ((N, 1), (N,)), ((4, 5, 2), (4, 5, 2))])
def test_fused_mse_reduction_matches_the_general_path_and_central_differences(reduction, shapes):
    # without sample weights MeanSquaredError reduces inside one fused op; it must equal
    # "per-sample losses, then reduce" exactly as the weighted (general) path computes it
    rng = _rng(11)
    y_true, y_pred = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    loss = losses.MeanSquaredError(reduction=reduction)
    fused = loss(y_true, nerve.tensor(y_pred))
    general = loss(y_true, nerve.tensor(y_pred), sample_weight=np.ones(shapes[1][0]))
    np.testing.assert_allclose(fused.item(), general.item(), rtol=1e-12)
    p = nerve.tensor(y_pred, requires_grad=True)
    assert check_gradients(lambda p: loss(y_true, p), [p])
    t = nerve.tensor(y_true, requires_grad=True)  # a target that requires grad is still a constant for the loss
    loss(t, nerve.tensor(y_pred, requires_grad=True)).backward()
    assert t.grad is None
