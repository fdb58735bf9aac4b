"""Pictures of training and of models, with matplotlib (an optional extra: ``pip install nerve[plot]``).

Every function returns a matplotlib ``Figure`` drawn with the Agg backend
(no window, no global pyplot state: safe in scripts, tests and servers; in
Jupyter the figure displays when it is the cell's value). Pass ``ax=`` to
draw into an existing axes instead. Save with ``fig.savefig("name.png")``.

* :func:`plot_history`: learning curves (loss and metrics, training and validation).
* :func:`plot_lr_finder`: loss against learning rate from :func:`nerve.diagnostics.lr_finder`.
* :func:`plot_activations`: activation functions and their derivatives (computed by nerve's autodiff).
* :func:`plot_weight_histograms`, :func:`plot_activation_histograms`: per layer.
* :func:`plot_gradient_norms`: per-layer gradient norms from a :class:`~nerve.diagnostics.HealthMonitor`.
* :func:`plot_conv_filters`, :func:`plot_feature_maps`: what a convolution layer looks for and finds.
* :func:`plot_confusion_matrix`, :func:`plot_decision_boundary` (2-D problems), :func:`plot_saliency` (overlay).

Examples:
    >>> from nerve import plotting
    >>> fig = plotting.plot_activations(["relu", "sigmoid"])
    >>> len(fig.axes)
    2
"""

from __future__ import annotations

import io
import math

import numpy

from nerve.blocks import activations
from nerve.engine.tensor import Tensor
from nerve.tools.diagnostics._model import activation_kind, confusion_matrix, layer_outputs, walk_layers
from nerve.training.lr_finder import plot_lr_finder

__all__ = [
    "EXTRA_HINT", "available",
    "new_figure", "figure_to_png", "plot_history", "plot_lr_finder", "plot_activations",
    "plot_weight_histograms", "plot_activation_histograms", "plot_gradient_norms", "plot_conv_filters",
    "plot_feature_maps", "plot_confusion_matrix", "plot_decision_boundary", "plot_saliency",
]

EXTRA_HINT = "pip install 'nerve[plot]'  (or: pip install matplotlib)"


def _matplotlib():
    """Import matplotlib lazily: a clear error naming the ``plot`` extra when it is missing."""
    try:
        import matplotlib
        import matplotlib.ticker  # noqa: F401 - used as matplotlib.ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(f"nerve.plotting needs matplotlib, which is not installed: {EXTRA_HINT}") from error
    return matplotlib, Figure, FigureCanvasAgg


def available():
    """True when matplotlib is installed; otherwise an ImportError naming the ``plot`` extra.

    Examples:
        >>> available()
        True
    """
    _matplotlib()
    return True


def new_figure(nrows=1, ncols=1, figsize=None, squeeze=False):
    """A matplotlib Figure on the Agg canvas and its grid of axes (``squeeze=False``: always a 2-D array).

    Examples:
        >>> fig, axes = new_figure(1, 2)
        >>> axes.shape
        (1, 2)
    """
    _, Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=figsize or (4.2 * ncols, 3.2 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze)
    return fig, axes


def _single(ax, figsize=None):
    if ax is not None:
        return ax.figure, ax
    fig, axes = new_figure(1, 1, figsize)
    return fig, axes[0, 0]


def _grid(count, ncols=None, size=2.2):
    ncols = ncols or min(count, 4)
    nrows = max(1, math.ceil(count / ncols))
    fig, axes = new_figure(nrows, ncols, figsize=(size * ncols + 0.4, size * nrows + 0.4))
    flat = list(axes.ravel())
    for extra in flat[count:]:
        extra.set_axis_off()
    return fig, flat[:count]


def figure_to_png(fig, dpi=100):
    """PNG bytes of a figure (used to embed pictures in the HTML report).

    Examples:
        >>> fig, _ = new_figure()
        >>> figure_to_png(fig)[:4]
        b'\\x89PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _array(x):
    return x.numpy() if isinstance(x, Tensor) else numpy.asarray(x)


# ------------------------------------------------------------ learning curves
def plot_history(history, metrics=None, figsize=None):
    """Learning curves: one panel per quantity (loss, accuracy...), training and validation together.

    ``history`` is the History returned by ``fit`` (or its ``.history`` dict).
    ``metrics``: the quantities to draw (default: all but ``learning_rate``).

    Examples:
        >>> fig = plot_history({"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]})
        >>> [ax.get_title() for ax in fig.axes]
        ['loss']
    """
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or not logs:
        raise ValueError("plot_history: expected a History (from fit) or a non-empty dict of per-epoch lists")
    names = metrics or [k for k in logs if not k.startswith("val_") and k != "learning_rate"]
    names = [n for n in names if n in logs or f"val_{n}" in logs]
    if not names:
        raise ValueError(f"plot_history: none of {metrics} is in the history (keys: {sorted(logs)})")
    fig, axes = new_figure(1, len(names), figsize)
    for ax, name in zip(axes[0], names):
        for key, label, style in ((name, "training", "-"), (f"val_{name}", "validation", "--")):
            if key in logs:
                values = [float(v) for v in logs[key]]
                ax.plot(range(1, len(values) + 1), values, style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(_matplotlib()[0].ticker.MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_activations(names=("sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"), x_range=(-5.0, 5.0), ncols=3):
    """Activation functions (solid) and their derivatives (dashed), the derivatives computed by nerve's autodiff.

    Examples:
        >>> fig = plot_activations(["sigmoid"])
        >>> [line.get_label() for line in fig.axes[0].get_lines()][:2]
        ['sigmoid(x)', "sigmoid'(x)"]
    """
    fig, axes = _grid(len(names), ncols=min(ncols, len(names)), size=2.8)
    grid = numpy.linspace(x_range[0], x_range[1], 401)
    for ax, name in zip(axes, names):
        fn = activations.get(name)
        x = Tensor(grid.copy(), requires_grad=True)
        y = fn(x)
        y.sum().backward()
        ax.plot(grid, y.numpy(), lw=2, label=f"{name}(x)")
        ax.plot(grid, x.grad.numpy(), "--", lw=1.5, label=f"{name}'(x)")
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    return fig


# --------------------------------------------------------------- histograms
def plot_weight_histograms(model, bins=50, include_bias=False):
    """A histogram of each layer's weights (kernels; biases too with ``include_bias=True``).

    Examples:
        >>> import nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8, name="h"), layers.Dense(1, name="out")])
        >>> [ax.get_title() for ax in plot_weight_histograms(m).axes]
        ['h/kernel', 'out/kernel']
    """
    items = []
    for path, weight, _ in model.named_weights():
        if weight.ndim >= 2 or include_bias:
            items.append((path.split("/", 1)[-1], weight.numpy().ravel()))
    if not items:
        raise ValueError(f"plot_weight_histograms: model '{model.name}' has no weights (build it first)")
    fig, axes = _grid(len(items))
    for ax, (name, values) in zip(axes, items):
        ax.hist(values, bins=bins, color="tab:blue", alpha=0.8)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.text(0.98, 0.95, f"std {values.std():.3g}", transform=ax.transAxes, ha="right", va="top", fontsize=7)
    return fig


def plot_activation_histograms(model, x, bins=50, layers=None):
    """A histogram of each layer's outputs on the batch ``x``: spot dead ReLUs (a spike at 0) and saturation.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(8, activation="tanh", name="h")])
        >>> [ax.get_title() for ax in plot_activation_histograms(m, np.ones((10, 3))).axes]
        ['h (tanh)']
    """
    kinds = {path: activation_kind(layer) for path, layer in walk_layers(model)}
    outputs = layer_outputs(model, x, layers=layers)
    if not outputs:
        raise ValueError(f"plot_activation_histograms: model '{model.name}' has no inner layers to look at")
    fig, axes = _grid(len(outputs))
    for ax, (name, values) in zip(axes, outputs.items()):
        values = values.ravel()
        values = values[numpy.isfinite(values)]
        ax.hist(values, bins=bins, color="tab:orange", alpha=0.85)
        kind = kinds.get(name)
        ax.set_title(f"{name} ({kind})" if kind and kind != "linear" else name, fontsize=9)
        ax.tick_params(labelsize=7)
    return fig


def plot_gradient_norms(monitor, ax=None):
    """Per-layer mean gradient norm (log scale) after each epoch, from a HealthMonitor (or its ``epochs`` list).

    Layers are drawn input side first: curves fanning out over orders of
    magnitude are vanishing (or exploding) gradients.

    Examples:
        >>> records = [{"grad_norms": {"dense": 1e-6, "dense_1": 0.1}}, {"grad_norms": {"dense": 2e-6, "dense_1": 0.08}}]
        >>> plot_gradient_norms(records).axes[0].get_yscale()
        'log'
    """
    records = getattr(monitor, "epochs", monitor)
    if not records:
        raise ValueError("plot_gradient_norms: no epochs recorded yet")
    fig, ax = _single(ax, (6, 4))
    names = list(records[0]["grad_norms"])
    cmap = _matplotlib()[0].colormaps["viridis"]
    for i, name in enumerate(names):
        values = [max(float(r["grad_norms"].get(name, float("nan"))), 1e-30) for r in records]
        ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                color=cmap(i / max(len(names) - 1, 1)), label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(_matplotlib()[0].ticker.MaxNLocator(integer=True))
    ax.set_ylabel("mean gradient norm")
    ax.set_title("gradient norm per layer (dark: input side)")
    ax.grid(alpha=0.3, which="both")
    if len(names) <= 12:
        ax.legend(fontsize=7, ncol=2)
    return fig


# ------------------------------------------------------------------ conv nets
def plot_conv_filters(layer_or_kernel, max_filters=32, channel=None):
    """The filters of a Conv2D layer (kernel ``(kh, kw, in_channels, filters)``) as small images.

    Filters on RGB input are drawn in colour; otherwise ``channel`` (default:
    the mean over input channels) is drawn in grey.

    Examples:
        >>> import numpy as np
        >>> fig = plot_conv_filters(np.random.default_rng(0).normal(size=(3, 3, 1, 6)))
        >>> len([ax for ax in fig.axes if ax.images])
        6
    """
    kernel = _array(getattr(layer_or_kernel, "kernel", layer_or_kernel))
    if kernel.ndim != 4:
        raise ValueError(f"plot_conv_filters: expected a Conv2D layer or a kernel of shape (kh, kw, in, filters), "
                         f"got shape {kernel.shape}")
    count = min(kernel.shape[-1], max_filters)
    fig, axes = _grid(count, ncols=min(8, count), size=1.2)
    for i, ax in enumerate(axes):
        f = kernel[..., i]
        if kernel.shape[2] == 3 and channel is None:
            image = (f - f.min()) / (f.max() - f.min() + 1e-12)
            ax.imshow(image, interpolation="nearest")
        else:
            image = f.mean(axis=-1) if channel is None else f[..., channel]
            ax.imshow(image, cmap="gray", interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
        ax.set_axis_off()
    return fig


def plot_feature_maps(model, x, layer, max_maps=16):
    """The feature maps (output channels) of ``layer`` (a name or a Layer) for one input example ``x``.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, name="conv")])
        >>> len(plot_feature_maps(m, np.ones((8, 8, 1)), "conv").axes)
        4
    """
    name = layer if isinstance(layer, str) else layer.name
    x = _array(x)
    if x.ndim == len(getattr(model, "build_input_shape", None) or (None,) * (x.ndim + 1)) - 1:
        x = x[None]
    outputs = layer_outputs(model, x[:1], layers=[name])
    if not outputs:
        raise ValueError(f"plot_feature_maps: no layer named '{name}' in model '{model.name}'")
    maps = next(iter(outputs.values()))[0]
    if maps.ndim != 3:
        raise ValueError(f"plot_feature_maps: layer '{name}' outputs shape {maps.shape} per example; expected "
                         "(height, width, channels)")
    count = min(maps.shape[-1], max_maps)
    fig, axes = _grid(count, ncols=min(8, count), size=1.4)
    for i, ax in enumerate(axes):
        ax.imshow(maps[..., i], cmap="viridis", interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
        ax.set_axis_off()
    return fig


# ------------------------------------------------------------ classification
def plot_confusion_matrix(y_true, y_pred, class_names=None, normalize=False, ax=None):
    """The confusion matrix: rows are true classes, columns predicted ones, counts (or row fractions) written in.

    ``y_pred`` may be class ids or scores (the arg-max is taken).

    Examples:
        >>> fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2])
        >>> fig.axes[0].get_xlabel()
        'predicted class'
    """
    matrix = confusion_matrix(y_true, y_pred)
    k = matrix.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    values = matrix / numpy.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalize else matrix
    fig, ax = _single(ax, (0.45 * k + 2.5, 0.45 * k + 2))
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(k), names, fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    top = values.max() if values.size else 1
    for i in range(k):
        for j in range(k):
            text = f"{values[i, j]:.2f}" if normalize else str(int(values[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] > 0.6 * top else "black")
    accuracy = numpy.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.1%})")
    return fig


def plot_decision_boundary(model, x, y, feature_names=None, resolution=150, ax=None, class_index=None):
    """For a 2-feature classifier: the predicted probability over the plane, the 0.5 boundary, and the data.

    Binary models (one sigmoid output) show P(class 1); multi-class models the
    predicted class (or the probability of ``class_index``).

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")])
        >>> x = np.random.default_rng(0).normal(size=(20, 2)); y = (x[:, 0] > 0).astype(float)
        >>> plot_decision_boundary(m, x, y, ["temperature", "wind"]).axes[0].get_xlabel()
        'temperature'
    """
    x = _array(x).astype(numpy.float32)
    y = _array(y).reshape(len(x), -1)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: needs inputs with exactly 2 features, got shape {x.shape}")
    labels = y[:, 0] if y.shape[1] == 1 else y.argmax(axis=1)
    pad = 0.05 * (x.max(axis=0) - x.min(axis=0) + 1e-9)
    g0 = numpy.linspace(x[:, 0].min() - pad[0], x[:, 0].max() + pad[0], resolution)
    g1 = numpy.linspace(x[:, 1].min() - pad[1], x[:, 1].max() + pad[1], resolution)
    mesh0, mesh1 = numpy.meshgrid(g0, g1)
    grid = numpy.stack([mesh0.ravel(), mesh1.ravel()], axis=1).astype(numpy.float32)
    scores = model.predict(grid, batch_size=4096) if hasattr(model, "predict") else _array(model(Tensor(grid)))
    scores = scores.reshape(len(grid), -1)
    fig, ax = _single(ax, (6, 4.5))
    if scores.shape[1] == 1 or class_index is not None:
        column = scores[:, class_index or 0]
        if column.min() < 0 or column.max() > 1:  # logits
            column = 1.0 / (1.0 + numpy.exp(-column))
        surface = column.reshape(mesh0.shape)
        filled = ax.contourf(mesh0, mesh1, surface, levels=20, cmap="RdBu_r", alpha=0.6, vmin=0, vmax=1)
        ax.contour(mesh0, mesh1, surface, levels=[0.5], colors="k", linewidths=1.5)
        fig.colorbar(filled, ax=ax, label="predicted probability")
    else:
        surface = scores.argmax(axis=1).reshape(mesh0.shape)
        ax.contourf(mesh0, mesh1, surface, levels=numpy.arange(scores.shape[1] + 1) - 0.5, cmap="tab10", alpha=0.35)
    ax.scatter(x[:, 0], x[:, 1], c=labels, cmap="RdBu_r" if scores.shape[1] == 1 else "tab10", s=10,
               edgecolors="k", linewidths=0.3)
    names = list(feature_names) if feature_names is not None else ["feature 0", "feature 1"]
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title("decision boundary")
    return fig


def _is_square(n):
    side = int(round(math.sqrt(n)))
    return side * side == n


def plot_saliency(images, maps, titles=None, alpha=0.55, cmap="hot", ncols=None):
    """Overlay saliency (or attribution) maps on their images: one panel per example.

    ``images`` and ``maps``: one example ``(h, w)`` / ``(h, w, 3)``, or a batch
    ``(n, h, w)``, ``(n, h, w, c)`` or ``(n, h * w)`` (flattened square images,
    as fed to an MLP). Maps are drawn as ``|map|`` (summed over channels),
    scaled per example.

    Examples:
        >>> import numpy as np
        >>> fig = plot_saliency(np.zeros((2, 8, 8)), np.ones((2, 8, 8)), titles=["a", "b"])
        >>> [ax.get_title() for ax in fig.axes]
        ['a', 'b']
    """
    images, maps = _array(images), _array(maps)
    flattened_batch = images.ndim == 2 and images.shape[0] != images.shape[1] and _is_square(images.shape[1])
    if (images.ndim == 2 and not flattened_batch) or (images.ndim == 3 and images.shape[-1] == 3):
        images, maps = images[None], maps[None]  # one grey or one RGB image
    if images.shape[:1] != maps.shape[:1]:
        raise ValueError(f"plot_saliency: {len(images)} images but {len(maps)} maps")
    fig, axes = _grid(len(images), ncols=ncols, size=2.2)
    for i, ax in enumerate(axes):
        image, heat = images[i], numpy.abs(maps[i])
        if image.ndim == 1:  # flattened square image (digits MLP)
            side = int(round(math.sqrt(image.size)))
            image, heat = image.reshape(side, side), heat.reshape(side, side)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if heat.ndim == 3:
            heat = heat.sum(axis=-1)
        heat = heat / (heat.max() + 1e-12)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        ax.imshow(numpy.ma.masked_less(heat, 0.15), cmap=cmap, alpha=alpha, vmin=0, vmax=1, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
        ax.set_axis_off()
    return fig
