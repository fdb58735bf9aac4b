"""Numerical gradient checking: compare autodiff with central differences.

Used by nerve's own tests and available to users for custom ops and layers
(``nerve.gradcheck.check_gradients``). Run it in float64: float32 round-off
is too large for central differences.

Example:
    >>> import numpy as np, nerve
    >>> x = nerve.tensor(np.random.default_rng(0).normal(size=(3, 2)), requires_grad=True)
    >>> check_gradients(lambda x: (x * x).sum(), [x])
    True
"""

from __future__ import annotations

import numpy

from nerve.engine.tensor import Tensor, no_grad

__all__ = [
    "numerical_gradient", "check_gradients",
]


def numerical_gradient(fn, inputs, index, eps=1e-6, upstream=None):
    """Central-difference gradient of ``sum(fn(*inputs) * upstream)`` with respect to ``inputs[index]``.

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.array([1.0, 2.0]))
        >>> np.round(numerical_gradient(lambda x: x * x, [x], 0), 6).tolist()
        [2.0, 4.0]
    """
    target = inputs[index]
    data = target.data
    grad = numpy.zeros(data.shape, dtype=numpy.float64)
    flat = data.reshape(-1)  # a view: writes go to the tensor
    with no_grad():
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = _scalar(fn(*inputs), upstream)
            flat[i] = original - eps
            minus = _scalar(fn(*inputs), upstream)
            flat[i] = original
            grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def _scalar(out, upstream):
    data = out.data if isinstance(out, Tensor) else numpy.asarray(out)
    if upstream is None:
        return float(numpy.sum(data))
    return float(numpy.sum(data * upstream))


def check_gradients(fn, inputs, eps=1e-6, rtol=1e-6, atol=1e-8, raise_on_failure=True, seed=0):
    """Check the autodiff gradient of ``fn`` against central differences for every input requiring grad.

    ``fn(*inputs)`` may return any shape; it is reduced with random upstream
    weights so that every output element matters. Returns True when all
    gradients agree within ``|a - n| <= atol + rtol * max(|a|, |n|)`` elementwise
    (a relative error of ``rtol``); otherwise raises ``AssertionError`` naming
    the worst input (or returns False when ``raise_on_failure=False``).

    Example:
        >>> import numpy as np, nerve
        >>> w = nerve.tensor(np.ones((2, 2)), requires_grad=True)
        >>> check_gradients(lambda w: w.exp().sum(axis=0), [w])
        True
    """
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != numpy.float64:
            raise TypeError(f"check_gradients needs float64 inputs for precision, got {t.dtype}")
    out = fn(*inputs)
    upstream = numpy.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    for t in inputs:
        if isinstance(t, Tensor):
            t.grad = None
    out.backward(upstream.astype(out.dtype))
    worst = (0.0, None)
    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = numpy.zeros(t.shape) if t.grad is None else t.grad.numpy().astype(numpy.float64)
        numeric = numerical_gradient(fn, inputs, i, eps, upstream)
        scale = numpy.maximum(numpy.abs(analytic), numpy.abs(numeric))
        error = numpy.abs(analytic - numeric) - atol
        relative = float(numpy.max(error / numpy.maximum(scale, 1e-300), initial=0.0))
        if relative > worst[0]:
            worst = (relative, i)
        if numpy.any(error > rtol * scale):
            if raise_on_failure:
                raise AssertionError(
                    f"gradient mismatch for input {i} (shape {t.shape}): worst relative error {relative:.3g} > {rtol}\n"
                    f"autodiff:\n{analytic}\nnumerical:\n{numeric}"
                )
            return False
    return True
