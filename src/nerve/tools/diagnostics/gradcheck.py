"""Gradient check for any model, layer or function: autodiff against central differences, per parameter.

:func:`gradcheck` runs the check in float64 (models and layers are converted
for the duration of the check and put back as they were), samples a few
elements of large parameters to stay fast, and reports the worst parameter by
name. It is nerve's one gradient checker (:func:`nerve.gradcheck.gradcheck`) with a model or layer
adapter: the comparison, the error formula and the tolerances are the same.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> model = nerve.Sequential([layers.Dense(4, activation="tanh"), layers.Dense(2)])
    >>> result = gradcheck(model, np.random.default_rng(0).normal(size=(3, 5)))
    >>> result.passed, result.worst_error < 1e-5
    (True, True)
"""

from __future__ import annotations

import contextlib

import numpy

from nerve.blocks.layers.base import Layer
from nerve.engine import gradcheck as core_gradcheck
from nerve.engine.gradcheck import GradcheckResult  # noqa: F401  (nerve.diagnostics.GradcheckResult)
from nerve.engine.tensor import no_grad
from nerve.tools.diagnostics._model import walk_layers


@contextlib.contextmanager
def _float64(model):
    """Temporarily run ``model`` in float64: weights converted, layer dtypes switched; all put back on exit."""
    layers = [model] + [layer for _, layer in walk_layers(model)]
    dtypes = [(layer, layer.dtype) for layer in layers]
    weights = [(w, w.data) for _, w, _ in model.named_weights()]
    try:
        for layer in layers:
            if layer.dtype is None or layer.dtype.kind == "f":
                layer.dtype = numpy.dtype(numpy.float64)
        for w, data in weights:
            if data.dtype.kind == "f":
                w.data = data.astype(numpy.float64)
        yield
    finally:
        for w, data in weights:
            w.data = data
        for layer, dtype in dtypes:
            layer.dtype = dtype


def gradcheck(model_or_fn, inputs, eps=1e-6, rtol=1e-5, atol=1e-8, max_elements=32, check_inputs=True,
              training=False, seed=0):
    """Compare autodiff gradients with central differences for a model, a layer or a function.

    Args:
        model_or_fn: a nerve Model or Layer (called as ``model(x, training=training)``;
            checked for its inputs and every trainable weight) or a function
            ``fn(*inputs)`` returning a Tensor (checked for its inputs).
        inputs: one array/Tensor, or a list of them (several model inputs or
            function arguments). Floating inputs are converted to float64.
        max_elements: per parameter, compare at most this many elements
            (picked at random with ``seed``); ``None`` compares all.
        check_inputs: also check the gradient with respect to array inputs.

    Returns a :class:`GradcheckResult` naming the worst parameter. An unbuilt
    layer is built in float64 on the first call. Use random inputs: at a kink
    (``relu`` of exactly 0, e.g. a blank image region with zero biases) central
    differences see half the slope and the check reports a mismatch that is
    not a bug.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
        >>> gradcheck(lambda w: (w * w).sum(axis=0), [w]).passed
        True
    """
    options = dict(eps=eps, rtol=rtol, atol=atol, max_elements=max_elements, check_inputs=check_inputs, seed=seed)
    if not isinstance(model_or_fn, Layer):
        if not callable(model_or_fn):
            raise TypeError(f"gradcheck: expected a Model, a Layer or a function, got {type(model_or_fn).__name__}")
        return core_gradcheck.gradcheck(model_or_fn, inputs, **options)
    layer = model_or_fn
    single = not isinstance(inputs, (list, tuple))
    if not layer.built:
        float64 = [core_gradcheck.as_float64(v, False) for v in ([inputs] if single else inputs)]
        with no_grad():
            layer(float64[0] if single else float64, training=training)
    with _float64(layer):
        weights = [(path.split("/", 1)[-1] if path.count("/") >= 2 else path, w)  # "dense/kernel" in a model
                   for path, w, trainable in layer.named_weights() if trainable and w.dtype.kind == "f"]
        fn = lambda *xs: layer(xs[0] if single else list(xs), training=training)  # noqa: E731
        return core_gradcheck.gradcheck(fn, inputs, weights=weights, **options)
