"""Explainability: which parts of an input made the model decide as it did.

All three methods differentiate a class score with respect to the input, so
they work for any differentiable nerve model (or any function of a Tensor):

* :func:`saliency`: the gradient of the score with respect to each input
  value (Simonyan et al., 2014): how much a small change there moves the score.
* :func:`gradient_x_input`: gradient times input, a first-order estimate of
  each value's contribution.
* :func:`integrated_gradients`: the gradient averaged along the straight path
  from a baseline (e.g. a black image) to the input, times (input - baseline)
  (Sundararajan et al., 2017). Its attributions add up to
  ``score(input) - score(baseline)`` (completeness).

:func:`feature_attributions` turns them into a per-feature table for tabular
models. Use a model's logits (no softmax) as the score where you can: the
softmax flattens gradients of confident predictions.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
    >>> model.get_layer(index=0).set_weights([np.array([[1., 0.], [2., 0.], [3., 1.]]), np.zeros(2)])
    >>> saliency(model, np.ones((1, 3)), target=0).tolist()   # the gradient of a linear score is its weights
    [[1.0, 2.0, 3.0]]
"""

from __future__ import annotations

import numpy

from nerve.blocks.layers.base import Layer
from nerve.engine.tensor import Tensor, no_grad
from nerve.tools.diagnostics._model import saved_grads
from nerve.tools.diagnostics.findings import jsonable

BASELINES = ("zeros", "mean")


def _call(model, x):
    if isinstance(model, Layer):
        return model(x, training=False)
    if callable(model):
        return model(x)
    raise TypeError(f"expected a nerve Model/Layer or a function of a Tensor, got {type(model).__name__}")


def _float_dtype(model, x):
    dtype = getattr(model, "dtype", None)
    if dtype is not None and numpy.dtype(dtype).kind == "f":
        return numpy.dtype(dtype)
    return x.dtype if x.dtype.kind == "f" and x.dtype.itemsize >= 4 else numpy.dtype(numpy.float32)


def _scores(out, target, who):
    """``(scores Tensor (n,), targets array (n,))`` picking each example's class ``target`` from ``out``."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}: the model must return one Tensor (a single output), got {type(out).__name__}")
    n = out.shape[0]
    flat = out.reshape(n, -1)
    classes = flat.shape[1]
    if target is None:
        targets = numpy.zeros(n, dtype=numpy.int64) if classes == 1 else numpy.argmax(flat.numpy(), axis=1)
    else:
        targets = numpy.broadcast_to(numpy.asarray(target, dtype=numpy.int64), (n,)).copy()
    if targets.min(initial=0) < 0 or targets.max(initial=0) >= classes:
        raise ValueError(f"{who}: target classes must be in [0, {classes - 1}] for an output of shape {tuple(out.shape)}, "
                         f"got {sorted(set(targets.tolist()))[:10]}")
    mask = numpy.zeros((n, classes), dtype=flat.dtype)
    mask[numpy.arange(n), targets] = 1
    return (flat * Tensor(mask)).sum(axis=1), targets


def _input_gradients(model, x, target, who, batch_size=128):
    """Gradient of each example's score with respect to its input; also the targets and scores."""
    x = numpy.asarray(x.numpy() if isinstance(x, Tensor) else x)
    dtype = _float_dtype(model, x)
    grads, targets, scores = [], [], []
    weights = model.trainable_weights if isinstance(model, Layer) else []
    with saved_grads(weights):  # the model's own .grad stay as they were
        for lo in range(0, len(x), batch_size):
            batch = Tensor(numpy.array(x[lo:lo + batch_size], dtype=dtype), requires_grad=True)
            chosen_target = None if target is None else _slice_target(target, lo, batch_size, len(x))
            score, chosen = _scores(_call(model, batch), chosen_target, who)
            score.sum().backward()
            grads.append(batch.grad.numpy())
            targets.append(chosen)
            scores.append(score.numpy())
    return numpy.concatenate(grads), numpy.concatenate(targets), numpy.concatenate(scores)


def _slice_target(target, lo, size, n):
    target = numpy.asarray(target)
    if target.ndim == 0:
        return target
    if len(target) != n:
        raise ValueError(f"target has {len(target)} entries for {n} examples; give one class or one per example")
    return target[lo:lo + size]


def saliency(model, x, target=None, absolute=False, batch_size=128):
    """Saliency map: the gradient of the class score with respect to the input, for each example.

    Args:
        model: a nerve Model/Layer, or a function of a Tensor.
        x: a batch of inputs (the first axis is the batch).
        target: the class to explain: None (each example's predicted class,
            or the only output), an int, or one int per example.
        absolute: return ``|gradient|`` (the usual picture).

    Returns an array shaped like ``x``.

    Examples:
        >>> import nerve
        >>> f = lambda x: (x * x).sum(axis=1, keepdims=True)   # score = x1^2 + x2^2
        >>> saliency(f, [[1.0, -2.0]]).tolist()
        [[2.0, -4.0]]
    """
    grads, _, _ = _input_gradients(model, x, target, "saliency", batch_size)
    return numpy.abs(grads) if absolute else grads


def gradient_x_input(model, x, target=None, batch_size=128):
    """Gradient times input: each value's first-order contribution to the class score.

    Examples:
        >>> f = lambda x: (x * x).sum(axis=1, keepdims=True)
        >>> gradient_x_input(f, [[1.0, -2.0]]).tolist()
        [[2.0, 8.0]]
    """
    x_array = numpy.asarray(x.numpy() if isinstance(x, Tensor) else x)
    grads, _, _ = _input_gradients(model, x_array, target, "gradient_x_input", batch_size)
    return grads * x_array


def _baseline_for(baseline, x):
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return numpy.zeros_like(x)
    if isinstance(baseline, str):
        if baseline == "mean":
            return numpy.broadcast_to(x.mean(axis=0, keepdims=True), x.shape).astype(x.dtype)
        raise ValueError(f"unknown baseline {baseline!r}; valid names: {', '.join(BASELINES)}, or an array")
    base = numpy.asarray(baseline.numpy() if isinstance(baseline, Tensor) else baseline, dtype=x.dtype)
    try:
        return numpy.broadcast_to(base, x.shape)
    except ValueError:
        raise ValueError(f"baseline of shape {base.shape} does not fit inputs of shape {x.shape}") from None


def integrated_gradients(model, x, target=None, baseline=None, steps=50, batch_size=256, return_delta=False):
    """Integrated gradients: attributions that add up to ``score(x) - score(baseline)``.

    The gradient is averaged over ``steps + 1`` points on the straight line
    from ``baseline`` to ``x`` (trapezoidal rule) and multiplied by
    ``x - baseline``. ``baseline``: None or ``"zeros"`` (a black image),
    ``"mean"`` (the batch's mean example: good for tabular data) or an array.
    The class explained is the one predicted at ``x`` unless ``target`` is
    given. With ``return_delta=True`` also returns the completeness error per
    example, ``sum(attributions) - (score(x) - score(baseline))``, which
    shrinks as ``steps`` grows.

    Examples:
        >>> f = lambda x: (x * x).sum(axis=1, keepdims=True)
        >>> attributions, delta = integrated_gradients(f, [[1.0, -2.0]], steps=20, return_delta=True)
        >>> attributions.round(3).tolist(), bool(abs(delta[0]) < 1e-6)   # score(x) - score(0) = 1 + 4
        ([[1.0, 4.0]], True)
    """
    if int(steps) < 1:
        raise ValueError(f"integrated_gradients: steps must be >= 1, got {steps}")
    steps = int(steps)
    x = numpy.asarray(x.numpy() if isinstance(x, Tensor) else x)
    x = x.astype(_float_dtype(model, x), copy=False)
    base = _baseline_for(baseline, x)
    with no_grad():
        _, targets = _scores(_call(model, Tensor(x)), target, "integrated_gradients")
    alphas = numpy.linspace(0.0, 1.0, steps + 1)
    weights = numpy.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps
    total = numpy.zeros(x.shape, dtype=numpy.float64)
    per_call = max(1, batch_size // len(alphas))
    for lo in range(0, len(x), per_call):
        xs, bs = x[lo:lo + per_call], base[lo:lo + per_call]
        m = len(xs)
        shape = (len(alphas),) + (1,) * xs.ndim
        path = bs[None] + alphas.reshape(shape).astype(x.dtype) * (xs - bs)[None]  # (steps+1, m, ...)
        path = path.reshape((len(alphas) * m,) + xs.shape[1:])
        grads, _, _ = _input_gradients(model, path, numpy.tile(targets[lo:lo + m], len(alphas)),
                                       "integrated_gradients", batch_size)
        grads = grads.reshape((len(alphas), m) + xs.shape[1:]).astype(numpy.float64)
        total[lo:lo + m] = numpy.tensordot(weights, grads, axes=1)
    attributions = (total * (x - base)).astype(x.dtype)
    if not return_delta:
        return attributions
    with no_grad():
        s_x, _ = _scores(_call(model, Tensor(x)), targets, "integrated_gradients")
        s_b, _ = _scores(_call(model, Tensor(numpy.ascontiguousarray(base))), targets, "integrated_gradients")
    delta = attributions.reshape(len(x), -1).sum(axis=1, dtype=numpy.float64) - (s_x.numpy() - s_b.numpy())
    return attributions, delta


METHODS = {"integrated_gradients": integrated_gradients, "gradient_x_input": gradient_x_input, "saliency": saliency}


class AttributionTable:
    """Per-feature attributions of a tabular model, most important feature first.

    Attributes:
        features: feature names; ``mean_abs``: mean |attribution| per feature;
        mean: mean signed attribution (positive: pushes the score up);
        share: each feature's share of the total mean |attribution|;
        method: the attribution method; ``attributions``: the raw (n, features) array.

    Examples:
        >>> import numpy as np
        >>> t = AttributionTable(["a", "b"], np.array([[1.0, -3.0], [1.0, -1.0]]), "saliency")
        >>> t.features, t.mean_abs.tolist(), t.mean.tolist()
        (['b', 'a'], [2.0, 1.0], [-2.0, 1.0])
    """

    def __init__(self, feature_names, attributions, method):
        attributions = numpy.asarray(attributions, dtype=numpy.float64)
        mean_abs = numpy.abs(attributions).mean(axis=0)
        order = numpy.argsort(-mean_abs, kind="stable")
        self.attributions = attributions[:, order]
        self.features = [feature_names[i] for i in order]
        self.mean_abs = mean_abs[order]
        self.mean = attributions.mean(axis=0)[order]
        total = float(self.mean_abs.sum())
        self.share = self.mean_abs / total if total > 0 else numpy.zeros_like(self.mean_abs)
        self.method = method

    def rows(self):
        """``[(feature, mean |attribution|, mean attribution, share), ...]``."""
        return [(f, float(a), float(m), float(s)) for f, a, m, s in zip(self.features, self.mean_abs, self.mean, self.share)]

    def to_dict(self):
        return jsonable({"method": self.method, "features": self.features, "mean_abs": self.mean_abs,
                         "mean": self.mean, "share": self.share})

    def __str__(self):
        width = max([7] + [len(f) for f in self.features])
        lines = [f"feature attributions ({self.method}), most important first",
                 f"{'feature':<{width}}  {'mean |attr|':>11}  {'mean attr':>10}  share"]
        for feature, mean_abs, mean, share in self.rows():
            bar = "#" * int(round(share * 30))
            lines.append(f"{feature:<{width}}  {mean_abs:>11.4g}  {mean:>+10.4g}  {share:5.1%} {bar}")
        return "\n".join(lines)

    __repr__ = __str__


def feature_attributions(model, x, feature_names=None, method="integrated_gradients", target=None,
                         baseline="mean", steps=50):
    """A per-feature attribution table for a tabular model (inputs of shape (n, features)).

    ``method``: ``"integrated_gradients"`` (default; ``baseline="mean"``
    compares each example with the average example), ``"gradient_x_input"``
    or ``"saliency"``.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> m.get_layer(index=0).set_weights([np.array([[0.1], [2.0]]), np.zeros(1)])
        >>> x = np.random.default_rng(0).normal(size=(100, 2))
        >>> feature_attributions(m, x, ["temperature", "wind"]).features
        ['wind', 'temperature']
    """
    if method not in METHODS:
        raise ValueError(f"feature_attributions: unknown method {method!r}; valid names: {', '.join(METHODS)}")
    x = numpy.asarray(x.numpy() if isinstance(x, Tensor) else x)
    if x.ndim != 2:
        raise ValueError(f"feature_attributions: expected tabular inputs of shape (n, features), got {x.shape}")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(x.shape[1])]
    if len(names) != x.shape[1]:
        raise ValueError(f"feature_attributions: {len(names)} feature names for {x.shape[1]} features")
    if method == "integrated_gradients":
        values = integrated_gradients(model, x, target=target, baseline=baseline, steps=steps)
    else:
        values = METHODS[method](model, x, target=target)
    return AttributionTable(names, values, method)
