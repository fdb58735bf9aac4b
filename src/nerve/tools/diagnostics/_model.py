"""Helpers shared by the diagnostics: layers in order, weights per layer, a loss on a batch, probing outputs."""

from __future__ import annotations

import contextlib

import numpy

from nerve.blocks import activations
from nerve.blocks import losses as losses_module
from nerve.blocks.layers.base import Layer
from nerve.engine.tensor import Tensor, no_grad
from nerve.training.lr_finder import as_array, num_samples, take  # noqa: F401  (shared with the diagnostics)


def check_model(model, who):
    if not isinstance(model, Layer):
        raise TypeError(f"{who}: expected a nerve Model or Layer, got {type(model).__name__}")


def layer_weights(model, trainable_only=True):
    """``{layer path: [(weight name, Tensor), ...]}`` in the model's order (input side first).

    The path leaves out the model's own name: ``"dense_1"``, or ``"block/dense"`` in a nested model.
    """
    groups = {}
    for path, weight, trainable in model.named_weights():
        if trainable_only and not trainable:
            continue
        parts = path.split("/")
        layer = "/".join(parts[1:-1]) or parts[0]
        groups.setdefault(layer, []).append((parts[-1], weight))
    return groups


def walk_layers(model):
    """``(path, layer)`` for every layer inside ``model`` (not the model itself), parents before children."""
    out, seen = [], {id(model)}
    stack = [(child, child.name) for child in model.layers]
    while stack:
        layer, path = stack.pop(0)
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append((path, layer))
        stack.extend((child, f"{path}/{child.name}") for child in layer.layers)
    return out


def activation_kind(layer):
    """``"relu"``, ``"sigmoid"``, ``"tanh"``... for a layer with a built-in activation, else None."""
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    try:
        return activations.serialize(fn)
    except ValueError:
        return None


def loss_function(model, loss, who):
    """The loss to differentiate: ``loss`` if given, else the compiled one (single-output models)."""
    if loss is not None:
        return losses_module.get(loss)
    if not getattr(model, "_compiled", False):
        raise RuntimeError(
            f"{who}: the model is not compiled, so there is no loss to differentiate: call "
            "model.compile(optimizer=..., loss=...) first, or pass loss='mse' (or another loss name)"
        )
    return None


def loss_on_batch(model, x, y, loss=None, training=False):
    """The scalar loss Tensor of ``model`` on ``(x, y)`` (graph recorded; weights untouched)."""
    if loss is not None:
        return losses_module.get(loss)(y, model(x, training=training))
    model._ensure_ready(x)
    outputs = model(x, training=training)
    total, _, _, _ = model._compute_loss(outputs, y, None)
    return total


@contextlib.contextmanager
def saved_grads(weights):
    """Clear the weights' ``.grad`` for a diagnostic backward pass, and put the old ones back afterwards."""
    previous = [w.grad for w in weights]
    for w in weights:
        w.grad = None
    try:
        yield
    finally:
        for w, g in zip(weights, previous):
            w.grad = g


def first_tensor(value):
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (list, tuple)):
        for v in value:
            found = first_tensor(v)
            if found is not None:
                return found
    if isinstance(value, dict):
        return first_tensor(list(value.values()))
    return None


def ensure_built(model, x):
    """Run ``model`` once on ``x`` if it (or a layer inside) is not built yet, so that probes see one call only."""
    if not model.built or any(not layer.built for _, layer in walk_layers(model)):
        with no_grad():
            model(x, training=False)


@contextlib.contextmanager
def recording_outputs(model, layers=None):
    """Record every inner layer's output while the block runs: yields ``{path: [array, ...]}``.

    Works by temporarily replacing each layer's ``call`` on the instance; the
    original methods are restored on exit, whatever happens. Dict order is the
    order in which the layers finished (a container finishes after its children).
    """
    recorded = {}
    patched = []
    wanted = None if layers is None else set(layers)
    for path, layer in walk_layers(model):
        if wanted is not None and path not in wanted and layer.name not in wanted:
            continue
        had_own = "call" in vars(layer)
        original = layer.call

        def wrapper(*args, _original=original, _path=path, **kwargs):
            out = _original(*args, **kwargs)
            tensor = first_tensor(out)
            if tensor is not None:
                recorded.setdefault(_path, []).append(tensor.numpy())
            return out

        layer.call = wrapper
        patched.append((layer, had_own, original))
    try:
        yield recorded
    finally:
        for layer, had_own, original in patched:
            if had_own:
                layer.call = original
            else:
                del layer.call


def layer_outputs(model, x, layers=None, training=False):
    """Outputs of the inner layers of ``model`` for the input batch ``x``, as NumPy arrays.

    A layer called several times (shared weights) has its outputs
    concatenated along the batch axis when their shapes allow it.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([layers.Dense(3, activation="relu", name="h"), layers.Dense(1, name="out")])
        >>> {name: a.shape for name, a in layer_outputs(m, np.ones((4, 2))).items()}
        {'h': (4, 3), 'out': (4, 1)}
    """
    check_model(model, "layer_outputs")
    x = as_array(x)
    ensure_built(model, x)
    with recording_outputs(model, layers) as recorded, no_grad():
        model(x, training=training)
    out = {}
    for path, arrays in recorded.items():
        if len(arrays) == 1:
            out[path] = arrays[0]
        elif all(a.shape[1:] == arrays[0].shape[1:] for a in arrays):
            out[path] = numpy.concatenate(arrays)
        else:
            out[path] = arrays[0]
    return out


def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts ``matrix[true, predicted]``; ``y_pred`` may be class ids, scores (arg-max) or probabilities (>0.5).

    Examples:
        >>> confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2]).tolist()
        [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    y_true = _labels(y_true)
    y_pred = _labels(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: {y_true.shape[0]} true labels but {y_pred.shape[0]} predictions")
    k = int(num_classes or max(int(y_true.max(initial=0)), int(y_pred.max(initial=0))) + 1)
    matrix = numpy.zeros((k, k), dtype=numpy.int64)
    numpy.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def _labels(values):
    values = numpy.asarray(values)
    if values.ndim == 2 and values.shape[1] > 1:
        return values.argmax(axis=1).astype(numpy.int64)
    values = values.reshape(-1)
    if values.dtype.kind == "f" and not numpy.all(values == numpy.round(values)):
        return (values > 0.5).astype(numpy.int64)
    return values.astype(numpy.int64)
