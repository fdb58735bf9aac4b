"""nerve.plotting: every picture draws on the Agg canvas, has the expected panels, and saves as a PNG."""

import sys

import numpy
import pytest

import nerve
from nerve import diagnostics, layers

matplotlib = pytest.importorskip("matplotlib")
from nerve import plotting  # noqa: E402


def is_png(fig):
    data = plotting.figure_to_png(fig)
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"nerve\[plot\]"):
        plotting.plot_activations(["relu"])


def test_no_pyplot_state():
    fig = plotting.plot_activations(["relu"])
    assert type(fig.canvas).__name__ == "FigureCanvasAgg"
    assert "matplotlib.pyplot" not in sys.modules or not matplotlib.pyplot.get_fignums()


def test_learning_curves():
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.9], "accuracy": [0.5, 0.7, 0.8],
               "val_accuracy": [0.4, 0.6, 0.6], "learning_rate": [0.1] * 3}
    fig = plotting.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    train, val = fig.axes[0].get_lines()
    assert list(train.get_ydata()) == [1.0, 0.6, 0.4] and list(val.get_ydata()) == [1.1, 0.8, 0.9]
    assert is_png(fig)
    with pytest.raises(ValueError, match="none of"):
        plotting.plot_history(history, metrics=["auc"])


def test_activation_derivatives_come_from_autodiff():
    fig = plotting.plot_activations(["sigmoid", "relu", "tanh"])
    assert len(fig.axes) == 3
    x, y = fig.axes[0].get_lines()[1].get_data()
    s = 1 / (1 + numpy.exp(-x))
    numpy.testing.assert_allclose(y, s * (1 - s), atol=1e-6)  # sigmoid' = s (1 - s), max 1/4
    x, y = fig.axes[2].get_lines()[1].get_data()
    numpy.testing.assert_allclose(y, 1 - numpy.tanh(x) ** 2, atol=1e-6)
    assert is_png(fig)


def test_lr_finder_curve():
    lrs = numpy.logspace(-5, 0, 30)
    losses = list(2.3 - numpy.sin(numpy.linspace(0, 2.5, 30)))
    result = diagnostics.LRFinderResult(lrs, losses, losses)
    fig = result.plot()
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert any(line.get_xdata()[0] == pytest.approx(result.suggestion) for line in ax.get_lines()[2:])
    assert is_png(fig)


def test_histograms_and_gradient_norms():
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(8, activation="relu", name="h"),
                              layers.Dense(3, name="out")])
    model.compile(optimizer="sgd", loss="mse")
    x = numpy.asarray(nerve.random.normal((64, 6)), dtype="float32")
    monitor = diagnostics.HealthMonitor(verbose=0)
    model.fit(x, x[:, :3], epochs=2, batch_size=32, verbose=0, callbacks=[monitor])
    weights = plotting.plot_weight_histograms(model, include_bias=True)
    assert [ax.get_title() for ax in weights.axes if ax.patches] == ["h/kernel", "h/bias", "out/kernel", "out/bias"]
    activations = plotting.plot_activation_histograms(model, x)
    assert [ax.get_title() for ax in activations.axes if ax.patches] == ["h (relu)", "out"]
    norms = plotting.plot_gradient_norms(monitor)
    assert [line.get_label() for line in norms.axes[0].get_lines()] == ["h", "out"]
    assert all(is_png(fig) for fig in (weights, activations, norms))


def test_conv_filters_and_feature_maps():
    conv = layers.Conv2D(5, 3, activation="relu", name="conv")
    model = nerve.Sequential([nerve.Input(shape=(10, 10, 1)), conv, layers.Flatten(), layers.Dense(2)])
    filters = plotting.plot_conv_filters(conv)
    images = [ax for ax in filters.axes if ax.images]
    assert len(images) == 5
    numpy.testing.assert_allclose(images[2].images[0].get_array(), conv.kernel.numpy()[:, :, 0, 2])
    image = numpy.asarray(nerve.random.uniform((10, 10, 1)), dtype="float32")
    maps = plotting.plot_feature_maps(model, image, "conv")
    shown = [ax for ax in maps.axes if ax.images]
    assert len(shown) == 5
    expected = diagnostics.layer_outputs(model, image[None], layers=["conv"])["conv"][0]
    numpy.testing.assert_allclose(shown[1].images[0].get_array(), expected[..., 1])
    assert is_png(filters) and is_png(maps)


def test_confusion_matrix():
    fig = plotting.plot_confusion_matrix([0, 1, 1, 2, 2, 2], [0, 1, 2, 2, 2, 0], class_names=["a", "b", "c"])
    ax = fig.axes[0]
    numpy.testing.assert_array_equal(ax.images[0].get_array(), [[1, 0, 0], [0, 1, 1], [1, 0, 2]])
    assert "66.7%" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert is_png(fig)


def test_decision_boundary_on_flight_delays():
    x, y = nerve.datasets.make_flight_delays(n=300)
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")])
    fig = plotting.plot_decision_boundary(model, x, y, ["temperature", "wind"], resolution=40)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("temperature", "wind")
    assert len(ax.collections) >= 3  # filled contours, the 0.5 line, the data
    assert is_png(fig)
    with pytest.raises(ValueError, match="2 features"):
        plotting.plot_decision_boundary(model, numpy.ones((3, 3)), numpy.ones(3))


def test_saliency_overlay():
    images = numpy.zeros((3, 28 * 28), dtype="float32")
    maps = numpy.zeros_like(images)
    maps[:, 100] = 2.0
    fig = plotting.plot_saliency(images, maps, titles=["a", "b", "c"])
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["a", "b", "c"]
    heat = panels[0].images[1].get_array()
    assert heat.shape == (28, 28) and heat.max() == pytest.approx(1.0) and heat[3, 16] == pytest.approx(1.0)
    assert is_png(fig)
