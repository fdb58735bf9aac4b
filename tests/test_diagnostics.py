"""nerve.diagnostics: each diagnosis is provoked and its verdict asserted, with a healthy control beside it.

Small data and few epochs keep the file fast; the examples in examples/diagnose_*.py show the same at full size.
"""

import math

import numpy
import pytest

import nerve
from nerve import diagnostics, layers

CE = nerve.losses.SparseCategoricalCrossentropy


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    return x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]


def mlp(hidden, activation="relu", inputs=784, outputs=10, optimizer=None, seed=0, **dense_kwargs):
    nerve.random.seed(seed)
    model = nerve.Sequential([nerve.Input(shape=(inputs,))]
                             + [layers.Dense(units, activation=activation, **dense_kwargs) for units in hidden]
                             + [layers.Dense(outputs)])
    model.compile(optimizer=optimizer or nerve.optimizers.Adam(1e-3), loss=CE(from_logits=True), metrics=["accuracy"])
    return model


# ------------------------------------------------------------------- gradients
def test_twenty_layer_sigmoid_net_flags_vanishing_gradients(digits):
    x, y, _, _ = digits
    deep = mlp([32] * 20, activation="sigmoid", optimizer=nerve.optimizers.SGD(0.1))
    report = diagnostics.check_health(deep, x[:128], y[:128])
    assert "vanishing_gradients" in report.kinds()
    finding = next(f for f in report.findings if f.kind == "vanishing_gradients")
    first, last = deep.layers[0].name, deep.layers[-1].name
    assert finding.layer == first
    norms = report.gradient_norms
    assert list(norms) == [layer.name for layer in deep.layers]  # input side first
    assert norms[first] / norms[last] == pytest.approx(finding.numbers["ratio"])
    assert finding.numbers["ratio"] < 1e-6  # sigmoid' <= 1/4 per layer: about 0.25 ** 20
    assert finding.numbers["factor_per_layer"] < 0.5


def test_shallow_relu_net_is_healthy(digits):
    x, y, _, _ = digits
    report = diagnostics.check_health(mlp([64, 32]), x[:128], y[:128])
    assert report.ok, str(report)
    assert report.findings == []


def test_gradient_norms_match_a_hand_computed_gradient():
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1, name="d")])
    model.get_layer("d").set_weights([numpy.array([[1.0], [2.0]]), numpy.array([0.5])])
    x = numpy.array([[1.0, 1.0], [2.0, 0.0]], dtype="float32")
    y = numpy.array([[0.0], [1.0]], dtype="float32")
    residual = x @ numpy.array([[1.0], [2.0]]) + 0.5 - y  # mse gradient: 2/n * x^T r
    grad_w = 2 / 2 * x.T @ residual
    grad_b = 2 / 2 * residual.sum()
    expected = math.sqrt(float((grad_w ** 2).sum() + grad_b ** 2))
    model.get_layer("d").kernel.grad = nerve.tensor([[7.0], [7.0]])  # an existing gradient survives the diagnostic
    norms = diagnostics.gradient_norms(model, x, y, loss="mse")
    assert norms["d"] == pytest.approx(expected, rel=1e-5)
    assert model.get_layer("d").kernel.grad.tolist() == [[7.0], [7.0]]


def test_exploding_gradients_are_flagged():
    norms = {"a": 5e4, "b": 30.0, "c": 1.0}
    kinds = [f.kind for f in diagnostics.gradient_findings(norms)]
    assert kinds == ["exploding_gradients"]
    assert diagnostics.gradient_findings({"a": 0.5, "b": 1.0}) == []


# ----------------------------------------------------------------- monitoring
def test_monitor_flags_vanishing_during_training(digits):
    x, y, _, _ = digits
    deep = mlp([16] * 20, activation="sigmoid", optimizer=nerve.optimizers.SGD(0.1))
    monitor = diagnostics.HealthMonitor(verbose=0)
    deep.fit(x[:256], y[:256], epochs=1, batch_size=64, verbose=0, callbacks=[monitor])
    assert "vanishing_gradients" in monitor.kinds()
    record = monitor.epochs[0]
    assert set(record["grad_norms"]) == {layer.name for layer in deep.layers}
    assert record["update_ratios"][deep.layers[0].name] < 1e-6  # SGD: the first layers hardly move


def test_too_high_learning_rate_flags_divergence(digits):
    x, y, _, _ = digits
    model = mlp([64], optimizer=nerve.optimizers.SGD(5.0))
    monitor = diagnostics.HealthMonitor(probe=x[:128], verbose=0)
    history = model.fit(x[:512], y[:512], epochs=2, batch_size=64, verbose=0, callbacks=[monitor])
    assert "divergence" in monitor.kinds(), monitor.summary()
    divergence = next(f for f in monitor.findings if f.kind == "divergence")
    assert divergence.severity == "error" and divergence.epoch == 0
    assert divergence.numbers["loss"] > 1.1 * divergence.numbers["initial_loss"]
    assert history.history["loss"][0] == pytest.approx(divergence.numbers["loss"])
    assert "large_updates" in monitor.kinds()


def test_reasonable_learning_rate_does_not_flag_divergence(digits):
    x, y, _, _ = digits
    model = mlp([64], optimizer=nerve.optimizers.SGD(0.1))
    monitor = diagnostics.HealthMonitor(probe=x[:128], verbose=0)
    model.fit(x[:512], y[:512], epochs=2, batch_size=64, verbose=0, callbacks=[monitor])
    assert not monitor.kinds() & {"divergence", "loss_not_decreasing", "nonfinite", "vanishing_gradients"}
    ratios = monitor.epochs[-1]["update_ratios"]
    assert all(1e-5 < r < 0.1 for r in ratios.values()), ratios


def test_loss_not_decreasing_is_flagged(digits):
    x, y, _, _ = digits
    model = mlp([16], optimizer=nerve.optimizers.SGD(0.0))
    monitor = diagnostics.HealthMonitor(verbose=0)
    model.fit(x[:256], y[:256], epochs=2, batch_size=64, verbose=0, callbacks=[monitor])
    assert monitor.kinds() >= {"loss_not_decreasing"}
    assert "divergence" not in monitor.kinds()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_loss_names_the_first_layer_and_stops_training():
    nerve.random.seed(0)
    x = numpy.abs(nerve.random.normal((64, 4))) + 0.1

    @layers.register
    class ShiftedLog(layers.Layer):
        def call(self, inputs):
            return (inputs - 1.0).log()  # NaN for inputs below 1

    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(4, name="first"), ShiftedLog(name="shifted_log"),
                              layers.Dense(1, name="last")])
    model.compile(optimizer="sgd", loss="mse")
    found = diagnostics.find_nonfinite(model, x)
    assert found.kind == "nonfinite" and found.layer == "shifted_log"
    monitor = diagnostics.HealthMonitor(probe=x, verbose=0)
    with pytest.warns(RuntimeWarning):  # the optimizer skips NaN updates and says so
        history = model.fit(x, numpy.ones((64, 1)), epochs=5, batch_size=16, verbose=0, callbacks=[monitor])
    assert len(history.history["loss"]) == 1  # stopped after the first epoch
    nonfinite = next(f for f in monitor.findings if f.kind == "nonfinite")
    assert nonfinite.layer == "shifted_log" and "shifted_log" in nonfinite.message


def test_nan_weights_are_named():
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(3, name="a"), layers.Dense(2, name="b")])
    assert diagnostics.find_nonfinite(model, numpy.ones((2, 3))) is None
    model.get_layer("b").bias.data[1] = numpy.inf
    found = diagnostics.find_nonfinite(model, numpy.ones((2, 3)))
    assert found.layer == "b" and found.numbers["weights"] == ["bias"]


def test_dead_relus_and_saturation_are_measured():
    nerve.random.seed(0)
    x = nerve.random.normal((200, 5))
    dead = layers.Dense(8, activation="relu", name="dead")
    saturated = layers.Dense(6, activation="sigmoid", name="saturated")
    model = nerve.Sequential([nerve.Input(shape=(5,)), dead, saturated, layers.Dense(1, name="out")])
    kernel = numpy.asarray(nerve.random.normal((5, 8)))
    bias = numpy.zeros(8)
    bias[:6] = -100.0  # 6 of 8 units can never be positive for these inputs
    dead.set_weights([kernel, bias])
    saturated.set_weights([numpy.full((8, 6), 50.0), numpy.full(6, 30.0)])  # pre-activations >= 30: sigmoid ~ 1
    stats = diagnostics.activation_statistics(model, x)
    assert stats["dead"]["dead_fraction"] == pytest.approx(6 / 8)
    assert stats["saturated"]["saturated_fraction"] == pytest.approx(1.0)
    assert list(stats) == ["dead", "saturated", "out"]
    kinds = {(f.kind, f.layer) for f in diagnostics.activation_findings(stats)}
    assert kinds == {("dead_relu", "dead"), ("saturation", "saturated")}
    # a fresh network has neither
    fresh = nerve.Sequential([nerve.Input(shape=(5,)), layers.Dense(8, activation="relu"), layers.Dense(6, activation="tanh")])
    assert diagnostics.activation_findings(diagnostics.activation_statistics(fresh, x)) == []


def test_activation_probe_restores_layers_and_works_on_functional_models():
    inputs = nerve.Input(shape=(3,))
    hidden = layers.Dense(4, activation="relu", name="hidden")(inputs)
    model = nerve.Model(inputs, layers.Dense(1, name="out")(layers.Add(name="skip")([hidden, hidden])))
    outputs = diagnostics.layer_outputs(model, numpy.ones((2, 3)))
    assert {name: a.shape for name, a in outputs.items()} == {"hidden": (2, 4), "skip": (2, 4), "out": (2, 1)}
    numpy.testing.assert_allclose(outputs["skip"], 2 * outputs["hidden"])
    assert all("call" not in vars(layer) for layer in model.layers)  # the wrappers are gone


# ---------------------------------------------------------------- fit diagnosis
@pytest.mark.parametrize("train, val, verdict", [
    (0.02, 0.05, "learning"),
    (0.00, 0.25, "overfitting"),
    (0.60, 0.62, "underfitting"),
    (0.60, 0.90, "underfitting"),  # fix the training error first
    (0.30, 0.05, "suspicious"),
])
def test_fit_table(train, val, verdict):
    diagnosis = diagnostics.diagnose_fit(train, val, baseline_error=0.9)
    assert diagnosis.verdict == verdict
    assert diagnosis.numbers["target_error"] == pytest.approx(0.09)
    assert diagnosis.numbers["gap"] == pytest.approx(val - train)
    assert diagnosis.suggestions and f"{train:.1%}" in diagnosis.message


def test_fit_diagnosis_with_losses_needs_a_reference():
    with pytest.raises(ValueError, match="baseline_error"):
        diagnostics.diagnose_fit(0.1, 0.2, measure="loss")
    assert diagnostics.diagnose_fit(0.1, 0.9, baseline_error=2.3, measure="loss").verdict == "overfitting"


def test_huge_model_on_200_samples_is_overfitting(digits):
    x, y, x_val, y_val = digits
    model = mlp([256, 256])
    history = model.fit(x[:200], y[:200], epochs=20, batch_size=32, verbose=0, validation_data=(x_val, y_val))
    diagnosis = diagnostics.diagnose_history(history)
    assert diagnosis.verdict == "overfitting", diagnosis.message
    assert diagnosis.numbers["train_error"] < 0.02
    assert diagnosis.numbers["gap"] > 0.09
    assert diagnosis.numbers["baseline_error"] == pytest.approx(0.9)  # 10 classes, read from the model


def test_too_small_model_is_underfitting(digits):
    x, y, x_val, y_val = digits
    model = mlp([1], optimizer=nerve.optimizers.Adam(1e-2))  # everything squeezed through one unit
    history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, validation_data=(x_val, y_val))
    diagnosis = diagnostics.diagnose_history(history)
    assert diagnosis.verdict == "underfitting", diagnosis.message
    assert diagnosis.numbers["train_error"] > 0.3


def test_diagnose_history_needs_validation():
    with pytest.raises(ValueError, match="validation"):
        diagnostics.diagnose_history({"loss": [1.0, 0.5]})


# ------------------------------------------------------------------- LR finder
def test_lr_finder_restores_weights_and_optimizer_state(digits):
    x, y, _, _ = digits
    model = mlp([32])
    model.fit(x[:128], y[:128], epochs=1, batch_size=32, verbose=0)  # Adam now has moments and iterations
    weights = model.get_weights()
    state = model.optimizer.state_dict()
    random_state = nerve.random.get_state()
    result = model.find_lr(x, y, num_steps=40, batch_size=32)
    assert len(result.lrs) == len(result.raw_losses) <= 40
    assert result.lrs[0] == pytest.approx(1e-7) and result.lrs[1] / result.lrs[0] == pytest.approx(10 ** (8 / 39))
    for before, after in zip(weights, model.get_weights()):
        numpy.testing.assert_array_equal(before, after)
    after_state = model.optimizer.state_dict()
    assert after_state["iterations"] == state["iterations"] == 4
    assert model.optimizer.learning_rate == 1e-3
    for name in state["slots"]:
        for a, b in zip(state["slots"][name], after_state["slots"][name]):
            numpy.testing.assert_array_equal(a, b)
    assert nerve.random.get_state() == random_state


def test_lr_finder_suggestion_is_within_10x_of_the_best_swept_rate(digits):
    x, y, x_val, y_val = digits
    result = diagnostics.lr_finder(mlp([64]), x, y, num_steps=100, batch_size=64)
    assert result.min_loss_lr > result.suggestion > 0
    accuracy = {}
    for lr in [1e-4, 1e-3, 1e-2, 1e-1, 1.0]:
        model = mlp([64], optimizer=nerve.optimizers.Adam(lr))
        model.fit(x, y, epochs=1, batch_size=64, verbose=0)
        accuracy[lr] = model.evaluate(x_val, y_val, verbose=0)[1]
    best = max(accuracy, key=accuracy.get)
    assert best / 10 <= result.suggestion <= best * 10, (result, accuracy)


def test_lr_finder_suggestions_from_a_known_curve():
    lrs = numpy.logspace(-5, 0, 11)
    losses = [2.3, 2.3, 2.29, 2.2, 1.8, 1.0, 0.6, 0.5, 0.9, 3.0, 9.0]
    result = diagnostics.LRFinderResult(lrs, losses, losses)
    assert result.min_loss_lr == pytest.approx(lrs[7])
    assert result.suggestion == pytest.approx(lrs[7] / 10)
    assert result.steepest_lr == pytest.approx(lrs[4]) or result.steepest_lr == pytest.approx(lrs[5])
    assert diagnostics.LRFinderResult(lrs, losses, losses, method="steepest").suggestion == result.steepest_lr


def test_lr_finder_needs_a_compiled_model():
    with pytest.raises(RuntimeError, match="compile"):
        diagnostics.lr_finder(nerve.Sequential([layers.Dense(1)]), numpy.ones((4, 1)), numpy.ones((4, 1)))


# -------------------------------------------------------------------- gradcheck
def test_gradcheck_passes_for_a_model_and_restores_float32():
    model = mlp([6], activation="tanh", inputs=5, outputs=3)
    model.add(layers.Activation("sigmoid", name="squash"))
    x = numpy.asarray(nerve.random.normal((4, 5)))
    result = diagnostics.gradcheck(model, x)
    assert result.passed, str(result)
    names = set(result.errors)
    assert "input" in names and any(n.endswith("/kernel") for n in names) and len(names) == 5
    assert all(w.dtype == numpy.float32 for w in model.weights)
    assert all(layer.dtype == numpy.float32 for layer in model.layers)


def test_gradcheck_names_the_broken_parameter():
    class BadScale(nerve.Function):
        def forward(self, x, w):
            self.x, self.w = x, w
            return x * w

        def backward(self, grad):
            return grad * self.w, 0.5 * (grad * self.x).sum(axis=0)  # the weight gradient is off by 2x

    @layers.register
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.factor = self.add_weight("factor", (input_shape[-1],), initializer="ones")

        def call(self, x):
            return BadScale.apply(x, self.factor)

    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(3, name="d"), Scale(name="scale")])
    result = diagnostics.gradcheck(model, numpy.asarray(nerve.random.normal((2, 3))))
    assert not result
    assert result.worst == "scale/factor"
    assert result.worst_error == pytest.approx(0.5, rel=1e-2)  # a = n / 2: |a - n| / (max(|a|, |n|) + atol/rtol) ~ 1/2
    assert result.errors["d/kernel"] < 1e-6 and "scale/factor" in str(result)


def test_gradcheck_for_a_function_and_large_parameters_sampled():
    w = nerve.tensor(numpy.asarray(nerve.random.normal((40, 30)), dtype="float64"), requires_grad=True)
    result = diagnostics.gradcheck(lambda w: (w.tanh() * w).sum(axis=1), [w], max_elements=10)
    assert result.passed and result.checked == {"input 0": 10}


# --------------------------------------------------------------- explainability
def test_saliency_of_a_linear_model_is_its_weights():
    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3, name="linear")])
    kernel = numpy.asarray(nerve.random.normal((4, 3)), dtype="float32")
    model.get_layer("linear").set_weights([kernel, numpy.array([0.1, -0.2, 0.3])])
    x = numpy.asarray(nerve.random.normal((5, 4)), dtype="float32")
    numpy.testing.assert_allclose(diagnostics.saliency(model, x, target=2), numpy.tile(kernel[:, 2], (5, 1)), rtol=1e-6)
    predicted = (x @ kernel + [0.1, -0.2, 0.3]).argmax(axis=1)
    numpy.testing.assert_allclose(diagnostics.saliency(model, x), kernel[:, predicted].T, rtol=1e-6)
    numpy.testing.assert_allclose(diagnostics.saliency(model, x, target=2, absolute=True), numpy.abs(numpy.tile(kernel[:, 2], (5, 1))))
    numpy.testing.assert_allclose(diagnostics.gradient_x_input(model, x, target=1), x * kernel[:, 1], rtol=1e-6)
    # integrated gradients of a linear score are exact: (x - baseline) * w
    numpy.testing.assert_allclose(diagnostics.integrated_gradients(model, x, target=0, steps=4), x * kernel[:, 0],
                                  rtol=1e-5, atol=1e-6)


def test_saliency_matches_central_differences_for_a_nonlinear_model():
    model = mlp([8], activation="tanh", inputs=3, outputs=2)
    x = numpy.asarray(nerve.random.normal((2, 3)), dtype="float64")
    grads = diagnostics.saliency(lambda t: model(t, training=False), x.astype("float32"), target=1)
    eps = 1e-3
    for i in range(3):
        plus, minus = x.copy(), x.copy()
        plus[:, i] += eps
        minus[:, i] -= eps
        numeric = (model.predict(plus.astype("float32"))[:, 1].astype("float64")
                   - model.predict(minus.astype("float32"))[:, 1]) / (2 * eps)
        numpy.testing.assert_allclose(grads[:, i], numeric, rtol=2e-2, atol=1e-3)


def test_integrated_gradients_completeness():
    model = mlp([16, 16], activation="tanh", inputs=6, outputs=4)
    x = numpy.asarray(nerve.random.normal((3, 6)), dtype="float32")
    baseline = numpy.full((6,), 0.5, dtype="float32")
    attributions, delta = diagnostics.integrated_gradients(model, x, baseline=baseline, steps=64, return_delta=True)
    scores = model.predict(x)
    targets = scores.argmax(axis=1)
    difference = scores[numpy.arange(3), targets] - model.predict(numpy.tile(baseline, (3, 1)))[numpy.arange(3), targets]
    numpy.testing.assert_allclose(attributions.sum(axis=1), difference, rtol=1e-2, atol=1e-3)
    numpy.testing.assert_allclose(delta, attributions.sum(axis=1) - difference, atol=1e-4)
    coarse = diagnostics.integrated_gradients(model, x, baseline=baseline, steps=2, return_delta=True)[1]
    assert numpy.abs(delta).max() < numpy.abs(coarse).max()  # more steps, closer to completeness


def test_feature_attribution_table_ranks_the_features_that_matter():
    nerve.random.seed(0)
    x = numpy.asarray(nerve.random.normal((300, 3)), dtype="float32")
    y = (2.0 * x[:, 1] - 0.5 * x[:, 2] > 0).astype("float32").reshape(-1, 1)  # feature 0 is noise
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(8, activation="tanh"), layers.Dense(1)])
    model.compile(optimizer=nerve.optimizers.Adam(0.05), loss=nerve.losses.BinaryCrossentropy(from_logits=True))
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    table = diagnostics.feature_attributions(model, x[:100], ["noise", "strong", "weak"])
    assert table.features == ["strong", "weak", "noise"]
    assert table.mean_abs[0] > 2 * table.mean_abs[1] > 0
    assert table.share.sum() == pytest.approx(1.0)
    assert "strong" in str(table).splitlines()[2]
    with pytest.raises(ValueError, match="valid names"):
        diagnostics.feature_attributions(model, x, method="shap")


# ------------------------------------------------------------------------ graphs
def test_to_dot_of_a_tensor_graph():
    w = nerve.tensor([[1.0, 2.0]], requires_grad=True, name="w")
    x = nerve.tensor([[3.0], [4.0]], name="x")
    loss = (w @ x).tanh().sum()
    dot = diagnostics.to_dot(loss)
    assert dot.startswith("digraph nerve {") and dot.rstrip().endswith("}")
    for label in ("MatMul", "Tanh", "Sum", '"w\\n(1, 2)"', "x\\n(2, 1)"):
        assert label in dot, label
    assert dot.count("->") == 4  # w, x -> matmul -> tanh -> sum
    loss.backward()
    with pytest.raises(RuntimeError, match="released"):
        diagnostics.to_dot(loss)


def test_to_dot_of_models():
    seq = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3, name="hidden"), layers.Dense(1, name="out")])
    dot = diagnostics.to_dot(seq)
    assert "input -> l0" in dot and "l0 -> l1" in dot and "15 params" in dot
    inputs = nerve.Input(shape=(4,), name="features")
    h = layers.Dense(4, name="h")(inputs)
    functional = nerve.Model(inputs, layers.Dense(1, name="y")(layers.Add(name="add")([inputs, h])))
    dot = diagnostics.to_dot(functional)
    assert dot.count("->") == 4 and "features" in dot and "Add" in dot  # the skip connection is an edge
    ops = diagnostics.to_dot(seq, detail="ops")
    assert "hidden/kernel" in ops and "Linear" in ops


def test_graph_rendering(tmp_path):
    seq = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1, name="d")])
    path = diagnostics.draw_graph(seq, tmp_path / "model.dot")
    assert open(path).read().startswith("digraph")
    if not diagnostics.dot_available():
        with pytest.raises(RuntimeError, match="Graphviz"):
            diagnostics.draw_graph(seq, tmp_path / "model.svg")
        pytest.skip("Graphviz 'dot' is not installed: SVG/PNG rendering not tested")
    svg = diagnostics.draw_graph(seq, tmp_path / "model.svg")
    assert "<svg" in open(svg).read()
    png = diagnostics.draw_graph(seq, tmp_path / "model.png")
    assert open(png, "rb").read(4) == b"\x89PNG"
