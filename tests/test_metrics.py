"""Tests for nerve.metrics: hand-computed values, scikit-learn as an oracle, streaming, weights."""

import numpy as np
import pytest

import nerve
from nerve import metrics


def _rng(seed=0):
    return np.random.default_rng(seed)


def _binary_data(n=600, seed=0):
    r = _rng(seed)
    y = r.integers(0, 2, n)
    p = np.clip(0.35 * y + 0.65 * r.uniform(size=n), 0, 1)
    return y, p


def _multiclass_data(n=600, c=5, seed=0):
    r = _rng(seed)
    y = r.integers(0, c, n)
    scores = r.uniform(size=(n, c))
    scores[np.arange(n), y] += 0.4 * r.uniform(size=n)
    return y, scores / scores.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------- hand-computed values
def test_binary_accuracy_hand_values_and_threshold():
    y = np.array([[1], [0], [1], [0]])
    p = np.array([[0.9], [0.4], [0.3], [0.6]])
    assert metrics.BinaryAccuracy()(y, p) == 0.5
    assert metrics.BinaryAccuracy(threshold=0.2)(y, p) == 0.5  # 1,1,1,1 predicted -> two right
    assert metrics.BinaryAccuracy(threshold=0.35)(y, p) == 0.25  # 1,1,0,1 predicted -> only the first
    # labels (N,) against predictions (N, 1) are reshaped, not broadcast to (N, N)
    assert metrics.BinaryAccuracy()(y.ravel(), p) == 0.5


def test_categorical_and_sparse_accuracy_hand_values():
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.2, 0.7]])
    assert metrics.CategoricalAccuracy()(np.eye(3), p) == pytest.approx(2 / 3)
    assert metrics.SparseCategoricalAccuracy()(np.array([0, 1, 2]), p) == pytest.approx(2 / 3)
    assert metrics.SparseCategoricalAccuracy()(np.array([[0], [1], [2]]), p) == pytest.approx(2 / 3)


def test_top_k_hand_values():
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.2, 0.3], [0.1, 0.2, 0.7]])
    labels = np.array([1, 1, 0])
    assert metrics.SparseTopKCategoricalAccuracy(k=1)(labels, p) == 0.0
    assert metrics.SparseTopKCategoricalAccuracy(k=2)(labels, p) == pytest.approx(1 / 3)
    assert metrics.SparseTopKCategoricalAccuracy(k=3)(labels, p) == 1.0
    assert metrics.TopKCategoricalAccuracy(k=2)(np.eye(3)[labels], p) == pytest.approx(1 / 3)


def test_precision_recall_f1_hand_values():
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.6])  # TP=2, FP=2, FN=1
    assert metrics.Precision()(y, p) == pytest.approx(2 / 4)
    assert metrics.Recall()(y, p) == pytest.approx(2 / 3)
    assert metrics.F1Score()(y, p) == pytest.approx(2 * 2 / (2 * 2 + 2 + 1))
    assert metrics.Precision(threshold=0.75)(y, p) == pytest.approx(1 / 2)  # predicts 0.9, 0.8
    # nothing predicted positive / no positives: 0, not a division error
    assert metrics.Precision()(np.array([1, 0]), np.array([0.1, 0.2])) == 0.0
    assert metrics.Recall()(np.array([0, 0]), np.array([0.9, 0.2])) == 0.0


def test_f1_macro_hand_value():
    y = np.array([0, 1, 1, 2])
    p = np.eye(3)[[0, 1, 0, 1]]  # predictions 0, 1, 0, 1
    # class 0: tp1 fp1 fn0 -> 2/3; class 1: tp1 fp1 fn1 -> 1/2; class 2: tp0 fp0 fn1 -> 0
    expected = (2 / 3 + 1 / 2 + 0) / 3
    assert metrics.F1Score(average="macro")(y, p) == pytest.approx(expected)
    assert metrics.F1Score(average="macro")(np.eye(3)[y], p) == pytest.approx(expected)
    with pytest.raises(ValueError, match="binary.*macro"):
        metrics.F1Score(average="weighted")


def test_regression_hand_values():
    y = np.array([[1.0], [2.0], [3.0]])
    p = np.array([[2.0], [2.0], [5.0]])
    assert metrics.MeanSquaredError()(y, p) == pytest.approx(5 / 3)
    assert metrics.MeanAbsoluteError()(y, p) == pytest.approx(1.0)
    assert metrics.RootMeanSquaredError()(y, p) == pytest.approx(np.sqrt(5 / 3))


def test_auc_hand_values():
    # Exact ROC AUC: 3 of the 4 (positive, negative) pairs are ranked right.
    assert metrics.AUC()(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75, abs=1e-2)
    assert metrics.AUC()(np.array([0, 1]), np.array([0.2, 0.9])) == pytest.approx(1.0)
    assert metrics.AUC()(np.array([1, 0]), np.array([0.2, 0.9])) == pytest.approx(0.0)
    # scores at exactly 0 and 1 are inside the threshold range
    assert metrics.AUC()(np.array([0, 1]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    # a perfect ranking has PR AUC 1
    assert metrics.AUC(curve="PR")(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="ROC"):
        metrics.AUC(curve="area")


def test_mean_metric():
    m = metrics.Mean()
    m.update_state([1.0, 2.0])
    m.update_state(4.0, sample_weight=2)
    assert m.result() == pytest.approx((1 + 2 + 8) / 4)
    assert metrics.Mean().result() == 0.0


# ----------------------------------------------------------------- streaming, weights, reset
STREAMING_CASES = [
    (metrics.BinaryAccuracy, "binary"),
    (metrics.Precision, "binary"),
    (metrics.Recall, "binary"),
    (metrics.F1Score, "binary"),
    (metrics.AUC, "binary"),
    (lambda: metrics.AUC(curve="PR"), "binary"),
    (metrics.SparseCategoricalAccuracy, "sparse"),
    (lambda: metrics.SparseTopKCategoricalAccuracy(k=2), "sparse"),
    (lambda: metrics.F1Score(average="macro"), "sparse"),
    (metrics.CategoricalAccuracy, "onehot"),
    (lambda: metrics.TopKCategoricalAccuracy(k=2), "onehot"),
    (metrics.MeanSquaredError, "regression"),
    (metrics.MeanAbsoluteError, "regression"),
    (metrics.RootMeanSquaredError, "regression"),
]


def _data(kind, n=300, seed=1):
    if kind == "binary":
        return _binary_data(n, seed)
    if kind == "regression":
        r = _rng(seed)
        return r.normal(size=(n, 2)), r.normal(size=(n, 2))
    y, p = _multiclass_data(n, 4, seed)
    return (np.eye(4)[y] if kind == "onehot" else y), p


@pytest.mark.parametrize("make, kind", STREAMING_CASES)
def test_three_batches_equal_one_batch(make, kind):
    y, p = _data(kind)
    whole, streamed = make(), make()
    whole.update_state(y, p)
    for part in np.array_split(np.arange(len(y)), 3):
        streamed.update_state(y[part], p[part])
    assert streamed.result() == pytest.approx(whole.result(), rel=1e-12, abs=1e-12)
    streamed.reset_state()
    assert streamed.result() == 0.0
    streamed.update_state(y, p)  # usable again after reset
    assert streamed.result() == pytest.approx(whole.result(), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("make, kind", STREAMING_CASES)
def test_integer_sample_weights_equal_repeating_samples(make, kind):
    y, p = _data(kind, n=60, seed=2)
    weights = _rng(3).integers(0, 4, len(y))
    weighted, repeated = make(), make()
    weighted.update_state(y, p, sample_weight=weights)
    index = np.repeat(np.arange(len(y)), weights)
    repeated.update_state(y[index], p[index])
    assert weighted.result() == pytest.approx(repeated.result(), rel=1e-9, abs=1e-12)


def test_sample_weight_hand_value_and_bad_shape():
    y, p = np.array([1, 0, 1]), np.array([0.9, 0.9, 0.1])  # right, wrong, wrong
    assert metrics.BinaryAccuracy()(y, p, sample_weight=np.array([3.0, 1.0, 0.0])) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="sample_weight"):
        metrics.BinaryAccuracy()(y, p, sample_weight=np.ones(4))


def test_accepts_nerve_tensors_and_lists():
    y = nerve.tensor([0, 1, 1])
    p = nerve.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert metrics.SparseCategoricalAccuracy()(y, p) == pytest.approx(2 / 3)
    assert metrics.MeanSquaredError()([1.0, 2.0], [1.0, 4.0]) == pytest.approx(2.0)
    assert isinstance(metrics.MeanSquaredError()([1.0], [2.0]), float)


def test_shape_mismatch_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        metrics.MeanSquaredError()(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="sparse_categorical_accuracy"):
        metrics.CategoricalAccuracy()(np.array([0, 1]), np.eye(2))


# ----------------------------------------------------------------- get() and names
@pytest.mark.parametrize("loss, expected", [
    ("binary_crossentropy", metrics.BinaryAccuracy),
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalAccuracy),
    ("SparseCategoricalCrossentropy", metrics.SparseCategoricalAccuracy),
])
def test_get_accuracy_from_loss(loss, expected):
    m = metrics.get("accuracy", loss=loss)
    assert type(m) is expected
    assert m.name == "accuracy"
    assert metrics.get("ACC", loss=loss).name == "acc"


def test_get_accuracy_from_loss_object_and_output_shape():
    class BinaryCrossentropy:  # stands in for a loss object with a name
        name = "binary_crossentropy"

    assert type(metrics.get("accuracy", loss=BinaryCrossentropy())) is metrics.BinaryAccuracy
    assert type(metrics.get("accuracy", loss="mse", output_shape=(32, 1))) is metrics.BinaryAccuracy


def test_get_accuracy_decides_on_first_batch():
    p = np.array([[0.1, 0.9], [0.8, 0.2]])
    sparse = metrics.get("accuracy", output_shape=(None, 2))
    assert sparse.name == "accuracy"
    assert sparse(np.array([1, 1]), p) == 0.5
    assert type(sparse.metric) is metrics.SparseCategoricalAccuracy
    onehot = metrics.get("accuracy")
    assert onehot(np.eye(2)[[1, 1]], p) == 0.5
    assert type(onehot.metric) is metrics.CategoricalAccuracy
    binary = metrics.get("accuracy")
    assert binary(np.array([1, 0]), np.array([[0.7], [0.6]])) == 0.5
    assert type(binary.metric) is metrics.BinaryAccuracy


def test_get_names_aliases_and_errors():
    assert type(metrics.get("MSE")) is metrics.MeanSquaredError
    assert metrics.get("mean_squared_error").name == "mse"
    assert metrics.get("Mean_Absolute_Error").name == "mae"
    assert metrics.get("rmse").name == "rmse"
    assert metrics.get("auc").name == "auc"
    assert metrics.get("precision").name == "precision"
    assert metrics.get("sparse_top_k_categorical_accuracy").k == 5
    recall = metrics.Recall(threshold=0.3)
    assert metrics.get(recall) is recall
    assert type(metrics.get(metrics.Recall)) is metrics.Recall
    with pytest.raises(ValueError, match="unknown metric 'accurcy'.*binary_accuracy"):
        metrics.get("accurcy")
    with pytest.raises(TypeError):
        metrics.get(3)


def test_get_function_and_config_round_trip():
    m = metrics.get(lambda t, p: (t == p).astype(float))
    assert m(np.array([1, 2]), np.array([1, 3])) == 0.5
    for original in [metrics.AUC(num_thresholds=50, curve="PR"), metrics.F1Score(0.3, "macro"),
                     metrics.SparseTopKCategoricalAccuracy(k=3, name="top3"), metrics.BinaryAccuracy(0.2)]:
        rebuilt = metrics.get({"class_name": type(original).__name__, "config": original.get_config()})
        assert type(rebuilt) is type(original)
        assert rebuilt.get_config() == original.get_config()


# ----------------------------------------------------------------- scikit-learn as the oracle
def test_against_sklearn_classification():
    skm = pytest.importorskip("sklearn.metrics")
    y, p = _binary_data(900, seed=4)
    predicted = (p > 0.5).astype(int)
    w = _rng(5).uniform(0.1, 2.0, len(y))
    assert metrics.BinaryAccuracy()(y, p) == pytest.approx(skm.accuracy_score(y, predicted))
    assert metrics.Precision()(y, p) == pytest.approx(skm.precision_score(y, predicted))
    assert metrics.Recall()(y, p) == pytest.approx(skm.recall_score(y, predicted))
    assert metrics.F1Score()(y, p) == pytest.approx(skm.f1_score(y, predicted))
    assert metrics.F1Score()(y, p, sample_weight=w) == pytest.approx(skm.f1_score(y, predicted, sample_weight=w))
    assert metrics.AUC()(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-2)
    assert metrics.AUC()(y, p, sample_weight=w) == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), abs=1e-2)
    assert metrics.AUC(curve="PR")(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=2e-2)

    labels, scores = _multiclass_data(900, 6, seed=6)
    predicted = scores.argmax(axis=1)
    assert metrics.SparseCategoricalAccuracy()(labels, scores) == pytest.approx(skm.accuracy_score(labels, predicted))
    assert metrics.F1Score(average="macro")(labels, scores) == pytest.approx(
        skm.f1_score(labels, predicted, average="macro"))
    assert metrics.SparseTopKCategoricalAccuracy(k=3)(labels, scores) == pytest.approx(
        skm.top_k_accuracy_score(labels, scores, k=3))


def test_against_sklearn_regression():
    skm = pytest.importorskip("sklearn.metrics")
    r = _rng(7)
    y, p = r.normal(size=(200, 3)), r.normal(size=(200, 3))
    w = r.uniform(size=200)
    assert metrics.MeanSquaredError()(y, p) == pytest.approx(skm.mean_squared_error(y, p))
    assert metrics.MeanAbsoluteError()(y, p) == pytest.approx(skm.mean_absolute_error(y, p))
    assert metrics.RootMeanSquaredError()(y, p) == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)))
    assert metrics.MeanSquaredError()(y, p, sample_weight=w) == pytest.approx(
        skm.mean_squared_error(y, p, sample_weight=w))
