"""Gradient check for any model, layer or function: autodiff against central differences, per parameter.

:func:`gradcheck` runs the check in float64 (models and layers are converted
for the duration of the check and put back as they were), samples a few
elements of large parameters to stay fast, and reports the worst parameter by
name. The central differences come from :func:`nerve.gradcheck.numerical_gradient`
(small parameters) or the same formula on sampled elements (large ones).

Example:
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

from nerve.engine import gradcheck as core_gradcheck
from nerve.tools.diagnostics._model import walk_layers
from nerve.blocks.layers.base import Layer
from nerve.engine.tensor import Tensor, no_grad


class GradcheckResult:
    """Per-parameter comparison of autodiff and numerical gradients.

    Attributes:
        passed: True when every checked element agrees within tolerance.
        errors: ``{name: worst relative error}`` for every input and parameter.
        worst: the name with the largest error; ``worst_error`` its error.
        checked: ``{name: number of elements compared}``.

    ``bool(result)`` is ``result.passed``.

    Example:
        >>> r = GradcheckResult({"dense/kernel": 2e-9, "dense/bias": 0.3}, {"dense/kernel": 6, "dense/bias": 2}, 1e-5)
        >>> bool(r), r.worst
        (False, 'dense/bias')
    """

    def __init__(self, errors, checked, rtol):
        self.errors = dict(errors)
        self.checked = dict(checked)
        self.rtol = rtol
        self.worst = max(self.errors, key=self.errors.get) if self.errors else None
        self.worst_error = self.errors[self.worst] if self.worst is not None else 0.0
        self.passed = all(e <= rtol for e in self.errors.values())

    def __bool__(self):
        return self.passed

    def __str__(self):
        lines = [f"gradient check {'passed' if self.passed else 'FAILED'} (relative tolerance {self.rtol:g}"
                 + ("" if self.passed else "; with ReLU/max ops, rule out inputs sitting exactly on a kink") + ")",
                 f"{'parameter':<34}{'elements':>9}  {'worst rel. error':>16}"]
        for name, error in self.errors.items():
            mark = "  <- worst" if name == self.worst and not self.passed else ""
            lines.append(f"{name[:34]:<34}{self.checked[name]:>9}  {error:>16.2e}{mark}")
        return "\n".join(lines)

    __repr__ = __str__


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


def _to_float64(value, requires_grad):
    data = value.data if isinstance(value, Tensor) else numpy.asarray(value)
    if data.dtype.kind != "f":
        return value if isinstance(value, Tensor) else Tensor(data)
    return Tensor(numpy.array(data, dtype=numpy.float64), requires_grad=requires_grad)


def _outputs(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        return list(out.values())
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, Tensor)]
    raise TypeError(f"gradcheck: the function must return a Tensor (or a list/dict of them), got {type(out).__name__}")


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
        check_inputs: also check the gradient with respect to the inputs.

    Returns a :class:`GradcheckResult` naming the worst parameter. An unbuilt
    layer is built in float64 on the first call. Use random inputs: at a kink
    (``relu`` of exactly 0, e.g. a blank image region with zero biases) central
    differences see half the slope and the check reports a mismatch that is
    not a bug.

    Example:
        >>> import nerve
        >>> w = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
        >>> gradcheck(lambda w: (w * w).sum(axis=0), [w]).passed
        True
    """
    single = not isinstance(inputs, (list, tuple))
    raw_inputs = [inputs] if single else list(inputs)
    is_layer = isinstance(model_or_fn, Layer)
    if not is_layer and not callable(model_or_fn):
        raise TypeError(f"gradcheck: expected a Model, a Layer or a function, got {type(model_or_fn).__name__}")
    tensors = [_to_float64(v, requires_grad=check_inputs) for v in raw_inputs]
    names = ["input" if single else f"input {i}" for i in range(len(tensors))]
    rng = numpy.random.default_rng(seed)

    if is_layer:
        layer = model_or_fn
        if not layer.built:
            with no_grad():
                layer(tensors[0] if single else tensors, training=training)
        context = _float64(layer)
        fn = lambda *xs: layer(xs[0] if single else list(xs), training=training)  # noqa: E731
    else:
        context = contextlib.nullcontext()
        fn = model_or_fn

    with context:
        params = [(n, t) for n, t in zip(names, tensors) if t.requires_grad]
        if is_layer:
            params += [(path.split("/", 1)[-1] if path.count("/") >= 2 else path, w)  # "dense/kernel" in a model
                       for path, w, trainable in layer.named_weights() if trainable and w.dtype.kind == "f"]
        previous_flags = [(w, w.requires_grad) for _, w in params]
        previous_grads = [(w, w.grad) for _, w in params]
        for _, w in params:
            w.requires_grad = True
            w.grad = None
        try:
            outs = _outputs(fn(*tensors))
            upstream = [rng.uniform(0.5, 1.5, size=o.shape) for o in outs]

            def objective(*_):
                return sum(float(numpy.sum(o.numpy() * u)) for o, u in zip(_outputs(fn(*tensors)), upstream))

            total = None
            for o, u in zip(outs, upstream):
                term = (o * Tensor(u.astype(o.dtype))).sum()
                total = term if total is None else total + term
            total.backward()
            errors, checked = {}, {}
            for name, w in params:
                analytic = numpy.zeros(w.shape) if w.grad is None else w.grad.numpy().astype(numpy.float64)
                if max_elements is None or w.size <= max_elements:
                    numeric = core_gradcheck.numerical_gradient(lambda *_: Tensor(numpy.asarray(objective())),
                                                                [w], 0, eps)
                    picked = numpy.arange(w.size)
                else:
                    picked = rng.choice(w.size, size=max_elements, replace=False)
                    numeric = numpy.zeros(w.size)
                    flat = w.data.reshape(-1)
                    with no_grad():
                        for i in picked:
                            original = flat[i]
                            flat[i] = original + eps
                            plus = objective()
                            flat[i] = original - eps
                            minus = objective()
                            flat[i] = original
                            numeric[i] = (plus - minus) / (2 * eps)
                a = analytic.reshape(-1)[picked]
                n = numeric.reshape(-1)[picked]
                # relative error, measured against at least atol / rtol: passes when |a - n| <= max(rtol * scale, atol)
                scale = numpy.maximum(numpy.maximum(numpy.abs(a), numpy.abs(n)), atol / rtol)
                error = numpy.abs(a - n) / scale
                errors[name] = float(error.max(initial=0.0))
                checked[name] = int(len(picked))
        finally:
            for w, flag in previous_flags:
                w.requires_grad = flag
            for w, grad in previous_grads:
                w.grad = grad
    return GradcheckResult(errors, checked, rtol)
