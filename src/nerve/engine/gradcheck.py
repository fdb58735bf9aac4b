"""Numerical gradient checking: compare autodiff with central differences.

One checker, :func:`gradcheck`, used by nerve's own tests and available to users for custom ops, layers
and models (``nerve.diagnostics.gradcheck`` adds the conversion of a model or layer to float64 and checks
its weights by name). It returns a :class:`GradcheckResult` with the worst relative error per input and
weight. ``check_gradients`` is the same check returning True or raising, for one-line asserts.

The error of one element is ``|a - n| / (max(|a|, |n|) + atol / rtol)`` for the autodiff value ``a``
and the numerical value ``n``: a relative error, its denominator raised by ``atol / rtol`` so that
gradients near zero on both sides pass. A check passes when every error is at most ``rtol``, that is
when ``|a - n| <= atol + rtol * max(|a|, |n|)``.
Run it in float64: float32 round-off is too large for central differences.

Examples:
    >>> import numpy as np, nerve
    >>> x = nerve.tensor(np.random.default_rng(0).normal(size=(3, 2)), requires_grad=True)
    >>> gradcheck(lambda x: (x * x).sum(), [x]).passed
    True
    >>> check_gradients(lambda x: x.exp(), [x])
    True
"""

from __future__ import annotations

import numpy

from nerve.engine.tensor import Tensor, no_grad

__all__ = ["numerical_gradient", "GradcheckResult", "gradcheck", "check_gradients", "as_float64"]


def numerical_gradient(fn, inputs, index, eps=1e-6, upstream=None):
    """Central-difference gradient of ``sum(fn(*inputs) * upstream)`` with respect to ``inputs[index]``.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.array([1.0, 2.0]))
        >>> np.round(numerical_gradient(lambda x: x * x, [x], 0), 6).tolist()
        [2.0, 4.0]
    """
    target = inputs[index]

    def objective():
        out = fn(*inputs)
        data = out.data if isinstance(out, Tensor) else numpy.asarray(out)
        return float(numpy.sum(data if upstream is None else data * upstream))

    return _central_differences(target, objective, numpy.arange(target.size), eps).reshape(target.shape)


def _central_differences(target, objective, picked, eps):
    """``d objective / d target`` at the flat positions ``picked`` (zeros elsewhere), by central differences."""
    grad = numpy.zeros(target.size, dtype=numpy.float64)
    flat = target.data.reshape(-1)  # a view: writes go to the tensor
    with no_grad():
        for i in picked:
            original = flat[i]
            flat[i] = original + eps
            plus = objective()
            flat[i] = original - eps
            minus = objective()
            flat[i] = original
            grad[i] = (plus - minus) / (2 * eps)
    return grad


class GradcheckResult:
    """Per-input and per-weight comparison of autodiff and numerical gradients.

    Attributes:
        passed: True when every checked element agrees within tolerance.
        errors: ``{name: worst relative error}`` for every input and weight.
        worst: the name with the largest error; ``worst_error`` its error.
        checked: ``{name: number of elements compared}``.

    ``bool(result)`` is ``result.passed``.

    Examples:
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


def _outputs(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, dict):
        return list(out.values())
    if isinstance(out, (list, tuple)):
        return [o for o in out if isinstance(o, Tensor)]
    raise TypeError(f"gradcheck: the function must return a Tensor (or a list/dict of them), got {type(out).__name__}")


def as_float64(value, check):
    """A float64 Tensor input: a float64 Tensor as it is (``fn`` may hold on to it), other floating inputs as
    float64 copies (checked when ``check``); non-floating inputs as Tensors, unchecked.

    Examples:
        >>> as_float64([1, 2], True).dtype, as_float64([1.0, 2.0], True).dtype
        (dtype('int64'), dtype('float64'))
    """
    if isinstance(value, Tensor) and value.dtype == numpy.float64:
        return value
    data = value.data if isinstance(value, Tensor) else numpy.asarray(value)
    if data.dtype.kind != "f":
        return value if isinstance(value, Tensor) else Tensor(data)
    return Tensor(numpy.array(data, dtype=numpy.float64), requires_grad=check)


def gradcheck(fn, inputs, eps=1e-6, rtol=1e-5, atol=1e-8, max_elements=32, check_inputs=True, seed=0,
              weights=None, keep_grads=False):
    """Compare the autodiff gradients of ``fn(*inputs)`` with central differences.

    Args:
        fn: a function of the inputs returning a Tensor (or a list/dict of Tensors, each weighted by
            random upstream values so that every output element matters).
        inputs: one array/Tensor or a list of them. Floating inputs are copied to float64; a Tensor
            input is checked when it requires gradients, an array input when ``check_inputs`` is True.
        max_elements: compare at most this many elements per input or weight (picked at random with
            ``seed``); ``None`` compares all.
        weights: ``(name, Tensor)`` pairs (or a dict) of float64 tensors ``fn`` uses besides its inputs,
            e.g. a layer's weights, also checked.
        keep_grads: leave the autodiff gradients in the checked tensors' ``.grad`` (otherwise their
            gradients are put back as they were).

    Returns a :class:`GradcheckResult`.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], dtype="float64", requires_grad=True)
        >>> print(gradcheck(lambda w: (w * w).sum(axis=0), [w]))
        gradient check passed (relative tolerance 1e-05)
        parameter                          elements  worst rel. error
        input 0                                   4          ...
    """
    single = not isinstance(inputs, (list, tuple))
    raw = [inputs] if single else list(inputs)
    tensors = [as_float64(v, v.requires_grad if isinstance(v, Tensor) else check_inputs) for v in raw]
    names = ["input" if single else f"input {i}" for i in range(len(tensors))]
    named = [(n, t) for n, t in zip(names, tensors) if t.requires_grad]
    extra = list(weights.items()) if isinstance(weights, dict) else list(weights or [])
    for name, w in extra:
        if w.dtype != numpy.float64:
            raise TypeError(f"gradcheck: weight '{name}' is {w.dtype}; check in float64")
    named += extra
    rng = numpy.random.default_rng(seed)
    previous = [(w, w.requires_grad, w.grad) for _, w in named]
    for _, w in named:
        w.requires_grad = True
        w.grad = None
    try:
        outs = _outputs(fn(*tensors))
        upstream = [rng.uniform(0.5, 1.5, size=o.shape) for o in outs]

        def objective():
            return sum(float(numpy.sum(o.numpy() * u)) for o, u in zip(_outputs(fn(*tensors)), upstream))

        total = None
        for o, u in zip(outs, upstream):
            term = (o * Tensor(u.astype(o.dtype))).sum()
            total = term if total is None else total + term
        total.backward()
        errors, checked = {}, {}
        for name, w in named:
            analytic = numpy.zeros(w.size) if w.grad is None else w.grad.numpy().astype(numpy.float64).reshape(-1)
            if max_elements is None or w.size <= max_elements:
                picked = numpy.arange(w.size)
            else:
                picked = rng.choice(w.size, size=max_elements, replace=False)
            numeric = _central_differences(w, objective, picked, eps)
            a, n = analytic[picked], numeric[picked]
            scale = numpy.maximum(numpy.abs(a), numpy.abs(n)) + atol / rtol
            errors[name] = float((numpy.abs(a - n) / scale).max(initial=0.0))
            checked[name] = int(len(picked))
    finally:
        for w, flag, grad in previous:
            w.requires_grad = flag
            if not keep_grads:
                w.grad = grad
    return GradcheckResult(errors, checked, rtol)


def check_gradients(fn, inputs, eps=1e-6, rtol=1e-6, atol=1e-8, raise_on_failure=True, seed=0):
    """:func:`gradcheck` over every element of the float64 inputs that require gradients; True or an error.

    Raises ``AssertionError`` with the per-input table when a gradient disagrees (or returns False
    with ``raise_on_failure=False``).

    Examples:
        >>> import numpy as np, nerve
        >>> w = nerve.tensor(np.ones((2, 2)), requires_grad=True)
        >>> check_gradients(lambda w: w.exp().sum(axis=0), [w])
        True
    """
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != numpy.float64:
            raise TypeError(f"check_gradients needs float64 inputs for precision, got {t.dtype}")
    result = gradcheck(fn, list(inputs), eps=eps, rtol=rtol, atol=atol, max_elements=None, check_inputs=False,
                       seed=seed, keep_grads=True)
    if not result.passed and raise_on_failure:
        raise AssertionError(f"gradient mismatch:\n{result}")
    return result.passed
