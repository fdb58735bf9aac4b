"""nerve.sklearn: NerveClassifier / NerveRegressor pass scikit-learn's estimator checks and work in its tools."""

import pickle

import numpy
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, make_regression  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nerve  # noqa: E402
from nerve.sklearn import NerveClassifier, NerveRegressor  # noqa: E402

# Checks we deliberately do not pass (also listed in docs/tuning.md):
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch training visits a repeated sample twice per epoch in different batches, which is not the same "
        "as one sample with weight 2 in one batch; the weighted loss itself is exact (see test_sample_weight_is_used)"
    ),
}


def expected_failed_checks(estimator):
    return EXPECTED_FAILED


# Small fast settings that still learn scikit-learn's check datasets (blobs, regressions) well enough.
FAST = dict(hidden_layer_sizes=(32,), learning_rate=0.01, epochs=20, batch_size=64, random_state=0)


@parametrize_with_checks([NerveClassifier(**FAST), NerveRegressor(**FAST)], expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return x, y


def test_pipeline_scores_well_on_iris(iris):
    x, y = iris
    model = Pipeline([("scale", StandardScaler()), ("net", NerveClassifier(**{**FAST, "epochs": 40}))])
    model.fit(x, y)
    assert model.score(x, y) > 0.95
    proba = model.predict_proba(x)
    assert proba.shape == (150, 3) and numpy.allclose(proba.sum(axis=1), 1.0)
    assert (model.classes_ == [0, 1, 2]).all()
    assert (proba.argmax(axis=1) == model.predict(x)).all()


def test_cross_val_score(iris):
    x, y = iris
    model = Pipeline([("scale", StandardScaler()), ("net", NerveClassifier(**{**FAST, "epochs": 30}))])
    scores = cross_val_score(model, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85


def test_grid_search_tunes_wrapper_params(iris):
    x, y = iris
    pipe = Pipeline([("scale", StandardScaler()), ("net", NerveClassifier(**FAST))])
    grid = GridSearchCV(pipe, {"net__learning_rate": [1e-4, 0.03], "net__hidden_layer_sizes": [(8,), (32,)]}, cv=2)
    grid.fit(x, y)
    assert grid.best_params_["net__learning_rate"] == 0.03  # 20 epochs at 1e-4 barely moves
    assert len(grid.cv_results_["params"]) == 4 and grid.best_score_ > 0.85
    assert grid.best_estimator_.named_steps["net"].model_ is not None


def test_randomized_search(iris):
    from scipy.stats import loguniform

    x, y = iris
    search = RandomizedSearchCV(NerveClassifier(**FAST), {"learning_rate": loguniform(1e-3, 1e-1), "epochs": [5, 10]},
                                n_iter=3, cv=2, random_state=0)
    search.fit(StandardScaler().fit_transform(x), y)
    assert 1e-3 <= search.best_params_["learning_rate"] <= 1e-1 and search.best_params_["epochs"] in (5, 10)


def test_params_clone_and_set_params():
    model = NerveClassifier(hidden_layer_sizes=(16, 8), epochs=3, random_state=1)
    params = model.get_params()
    assert params["hidden_layer_sizes"] == (16, 8) and params["epochs"] == 3 and params["random_state"] == 1
    assert set(params) == {"build_fn", "hidden_layer_sizes", "activation", "optimizer", "learning_rate", "epochs",
                           "batch_size", "validation_split", "callbacks", "verbose", "random_state"}
    copy = clone(model.set_params(learning_rate=0.5))
    assert copy.get_params() == model.get_params() and copy is not model
    assert not hasattr(copy, "model_")
    with pytest.raises(ValueError, match="Invalid parameter 'units'"):
        model.set_params(units=3)


def test_random_state_makes_fits_repeatable_and_pickle_keeps_the_model(iris):
    x, y = iris
    x = StandardScaler().fit_transform(x)
    a = NerveClassifier(**FAST).fit(x, y).predict_proba(x)
    model = NerveClassifier(**FAST).fit(x, y)
    assert numpy.array_equal(a, model.predict_proba(x))
    restored = pickle.loads(pickle.dumps(model))
    assert numpy.array_equal(restored.predict_proba(x), a)
    different = NerveClassifier(**{**FAST, "random_state": 1}).fit(x, y).predict_proba(x)
    assert not numpy.array_equal(a, different)


def test_string_labels_and_binary_problem():
    rng = numpy.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    y = numpy.where(x[:, 0] + x[:, 1] > 0, "spam", "ham")
    model = NerveClassifier(**{**FAST, "epochs": 30}).fit(x, y)
    assert model.classes_.tolist() == ["ham", "spam"]
    assert model.predict_proba(x).shape == (100, 2) and model.score(x, y) > 0.9
    assert set(model.predict(x)) <= {"ham", "spam"}


def test_regressor_matches_linear_regression_on_a_linear_problem():
    x, y = make_regression(n_samples=200, n_features=4, noise=1.0, random_state=0)
    y = (y - y.mean()) / y.std()
    linear = LinearRegression().fit(x, y).score(x, y)
    net = NerveRegressor(hidden_layer_sizes=(), learning_rate=0.05, epochs=60, batch_size=32, random_state=0)
    assert net.fit(x, y).score(x, y) == pytest.approx(linear, abs=0.01)
    assert net.predict(x).shape == (200,)
    two = NerveRegressor(**FAST).fit(x, numpy.stack([y, -y], axis=1))
    assert two.predict(x).shape == (200, 2)


def test_build_fn_and_optimizer_object_are_used():
    built = []

    def build_fn(n_features, n_outputs):
        built.append((n_features, n_outputs))
        return nerve.Sequential([nerve.Input(shape=(n_features,)), nerve.layers.Dense(n_outputs)])

    optimizer = nerve.optimizers.SGD(0.1, momentum=0.9)
    x, y = load_iris(return_X_y=True)
    model = NerveClassifier(build_fn=build_fn, optimizer=optimizer, epochs=10, random_state=0)
    model.fit(x, y).fit(x, y)  # refitting starts from a fresh copy of the optimizer
    assert built == [(4, 3), (4, 3)] and optimizer.iterations == 0
    assert isinstance(model.model_.optimizer, nerve.optimizers.SGD) and model.model_.optimizer.iterations == 50
    assert len(model.history_["loss"]) == 10


def test_sample_weight_is_used():
    x = numpy.array([[0.0], [0.0]])
    y = numpy.array([0, 1])
    favour_one = NerveClassifier(hidden_layer_sizes=(), learning_rate=0.1, epochs=200, random_state=0)
    proba = favour_one.fit(x, y, sample_weight=[1.0, 3.0]).predict_proba(x[:1])[0]
    assert proba[1] == pytest.approx(0.75, abs=0.02)  # the weighted cross-entropy optimum


@pytest.mark.parametrize("params, message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"learning_rate": -1}, "learning_rate must be a positive number"),
    ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes must be positive integers"),
])
def test_bad_parameters_fail_at_fit(params, message):
    with pytest.raises(ValueError, match=message):
        NerveClassifier(**params).fit([[0.0], [1.0]], [0, 1])


def test_one_class_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 classes"):
        NerveClassifier().fit([[0.0], [1.0]], [1, 1])
