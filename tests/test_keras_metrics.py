"""Keras 3 metrics added for issue 18: streamed results against formulas (and scikit-learn when installed)."""

import numpy as np
import pytest

import nerve
from nerve import losses, metrics

rng = np.random.default_rng(0)


@pytest.mark.parametrize("cls, fn, make", [
    (metrics.BinaryCrossentropy, losses.binary_crossentropy,
     lambda: ((rng.random((6, 3)) > 0.5) * 1.0, rng.uniform(0.05, 0.95, (6, 3)))),
    (metrics.CategoricalCrossentropy, losses.categorical_crossentropy,
     lambda: (np.eye(4)[rng.integers(0, 4, 6)], rng.dirichlet(np.ones(4), 6))),
    (metrics.SparseCategoricalCrossentropy, losses.sparse_categorical_crossentropy,
     lambda: (rng.integers(0, 4, 6), rng.dirichlet(np.ones(4), 6))),
    (metrics.KLDivergence, losses.kl_divergence, lambda: (rng.dirichlet(np.ones(4), 6), rng.dirichlet(np.ones(4), 6))),
    (metrics.Poisson, losses.poisson, lambda: (rng.uniform(0, 3, (6, 2)), rng.uniform(0.1, 3, (6, 2)))),
    (metrics.LogCoshError, losses.log_cosh, lambda: (rng.normal(size=(6, 2)), rng.normal(size=(6, 2)))),
    (metrics.Hinge, losses.hinge, lambda: (np.sign(rng.normal(size=(6, 2))), rng.normal(size=(6, 2)))),
    (metrics.MeanAbsolutePercentageError, losses.mean_absolute_percentage_error,
     lambda: (rng.normal(size=(6, 2)), rng.normal(size=(6, 2)))),
])
def test_loss_metrics_stream_the_weighted_mean_of_the_loss(cls, fn, make):
    (t1, p1), (t2, p2) = make(), make()
    w1, w2 = rng.random(6), rng.random(6)
    metric = cls()
    metric.update_state(t1, p1, sample_weight=w1)
    metric.update_state(t2, p2, sample_weight=w2)
    values = np.concatenate([fn(t1, nerve.tensor(p1)).numpy(), fn(t2, nerve.tensor(p2)).numpy()])
    weights = np.concatenate([w1, w2])
    assert metric.result() == pytest.approx((values * weights).sum() / weights.sum(), rel=1e-12)
    assert metrics.deserialize(metrics.serialize(metric)).get_config() == metric.get_config()


def test_cosine_similarity_metric_is_positive_cosine():
    t, p = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    expected = (t * p).sum(1) / np.linalg.norm(t, axis=1) / np.linalg.norm(p, axis=1)
    assert metrics.CosineSimilarity()(t, p) == pytest.approx(expected.mean(), rel=1e-12)


def test_confusion_counts_with_one_and_several_thresholds():
    t, p = (rng.random(50) > 0.5) * 1, rng.random(50)
    w = rng.random(50)
    for cls, mask in ((metrics.TruePositives, lambda d: d & (t == 1)), (metrics.FalsePositives, lambda d: d & (t == 0)),
                      (metrics.TrueNegatives, lambda d: ~d & (t == 0)), (metrics.FalseNegatives, lambda d: ~d & (t == 1))):
        assert cls()(t, p, sample_weight=w) == pytest.approx(w[mask(p > 0.5)].sum())
        several = cls(thresholds=[0.2, 0.7])(t, p)
        np.testing.assert_allclose(several, [mask(p > 0.2).sum(), mask(p > 0.7).sum()])
    with pytest.raises(ValueError, match="thresholds"):
        metrics.TruePositives(thresholds=1.5)


def test_r2_score_streams_and_matches_sklearn():
    t, p = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    metric = metrics.R2Score()
    metric.update_state(t[:15], p[:15])
    metric.update_state(t[15:], p[15:])
    per_column = 1 - ((t - p) ** 2).sum(0) / ((t - t.mean(0)) ** 2).sum(0)
    assert metric.result() == pytest.approx(per_column.mean(), rel=1e-10)
    raw = metrics.R2Score(class_aggregation=None)(t, p)
    np.testing.assert_allclose(raw, per_column, rtol=1e-10)
    adjusted = metrics.R2Score(num_regressors=2)(t[:, :1], p[:, :1])
    assert adjusted == pytest.approx(1 - (1 - per_column[0]) * 39 / 37, rel=1e-10)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert metric.result() == pytest.approx(sklearn_metrics.r2_score(t, p), rel=1e-10)


def test_iou_family_from_the_confusion_matrix():
    t, p = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (t, p), 1)
    tp = np.diag(confusion)
    iou = tp / (confusion.sum(0) + confusion.sum(1) - tp)
    assert metrics.MeanIoU(num_classes=3)(t, p) == pytest.approx(iou.mean())
    assert metrics.IoU(num_classes=3, target_class_ids=[0, 2])(t, p) == pytest.approx(iou[[0, 2]].mean())
    scores = np.eye(3)[p] * 0.8 + 0.05
    assert metrics.OneHotMeanIoU(num_classes=3)(np.eye(3)[t], scores) == pytest.approx(iou.mean())
    assert metrics.OneHotIoU(num_classes=3, target_class_ids=[1])(np.eye(3)[t], scores) == pytest.approx(iou[1])
    ignored = metrics.MeanIoU(num_classes=3, ignore_class=0)(t, p)
    keep = t != 0
    confusion = np.zeros((3, 3))
    np.add.at(confusion, (t[keep], p[keep]), 1)
    tp = np.diag(confusion)
    assert ignored == pytest.approx((tp / (confusion.sum(0) + confusion.sum(1) - tp)).mean())
    binary = metrics.BinaryIoU(target_class_ids=[1], threshold=0.3)([0, 1, 1, 0], [0.2, 0.7, 0.25, 0.6])
    assert binary == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="outside 0..2"):
        metrics.MeanIoU(num_classes=3)([0, 3], [0, 1])
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    assert metrics.MeanIoU(num_classes=3)(t, p) == pytest.approx(sklearn_metrics.jaccard_score(t, p, average="macro"))


def test_metric_names_in_compile():
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["binary_crossentropy", "true_positives", metrics.R2Score(), "kl_divergence"])
    history = model.fit(rng.normal(size=(32, 3)), (rng.random((32, 1)) > 0.5) * 1.0, epochs=1, verbose=0)
    assert {"binary_crossentropy", "true_positives", "r2_score", "kl_divergence"} <= set(history.history)
    assert history.history["binary_crossentropy"][0] == pytest.approx(history.history["loss"][0], rel=1e-5)
