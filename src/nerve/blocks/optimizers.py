"""Optimizers: update parameters in place from their gradients.

An optimizer holds an explicit list of parameters (tensors with
``requires_grad=True``), like PyTorch, and uses Keras names for everything
else (``learning_rate``, ``beta_1``, ``clipnorm``...). One training step::

    optimizer.zero_grad()      # grads accumulate across backward() calls until reset
    loss = loss_fn(model(x), y)
    loss.backward()            # fills p.grad for every parameter
    optimizer.step()           # p.data updated in place

Gradients accumulate: every ``backward()`` *adds* into ``p.grad``, so call
``zero_grad()`` (which sets each ``p.grad`` to None) once per step.
``step()`` skips parameters whose ``grad`` is None and never writes into
``p.grad.data`` (it may alias other arrays); it writes ``p.data`` in place,
so layers holding a reference to the array see the new values.

Each update step, in order: the non-finite check (``check_finite``), gradient
clipping (``clipvalue``, ``clipnorm`` or ``global_clipnorm``), L2 weight
decay (``g + weight_decay * p``; AdamW decays the weights instead), then the
update rule of the optimizer, which is PyTorch's (see each class).

Examples:
    >>> import nerve
    >>> from nerve import optimizers
    >>> w = nerve.tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optimizers.SGD(0.1, params=[w])
    >>> (w * w).sum().backward()      # grad = 2 * w
    >>> opt.step()
    True
    >>> w.tolist()
    [0.800000011920929, -1.600000023841858]
    >>> opt.zero_grad(); w.grad is None
    True
"""

from __future__ import annotations

import math
import re
import warnings

import numpy

from nerve.blocks import schedules
from nerve.engine import registry, validate
from nerve.engine.backend import get_array_module, to_device, to_numpy
from nerve.engine.kernels.packing import PACKED, Packing
from nerve.engine.tensor import Tensor

__all__ = [
    "FLUSH_EVERY", "ALL_OPTIMIZERS",
    "NonFiniteGradientWarning", "Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta",
    "Nadam", "Adamax", "Lion", "Ftrl", "Lamb", "Adafactor", "Muon", "ScheduleFreeAdamW",
    "LossScaleOptimizer", "serialize", "deserialize", "get",
]

#: how often (in steps) optimizer slots are cleared of subnormal values, see Optimizer._flush_subnormals
FLUSH_EVERY = 50


class NonFiniteGradientWarning(RuntimeWarning):
    """Warned when ``step()`` skips an update because a gradient holds NaN or inf.

    Examples:
        >>> import warnings, numpy as np, nerve
        >>> w = nerve.tensor([1.0], requires_grad=True, name="w")
        >>> opt = SGD(0.1, params=[w])
        >>> w.grad = nerve.tensor([float("nan")])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     opt.step()
        False
        >>> caught[0].category.__name__, w.tolist(), opt.skipped_steps
        ('NonFiniteGradientWarning', [1.0], 1)
    """


def _optional_number(owner, name, value, low=0.0, strict=False):
    if value is None:
        return None
    value = float(value)
    if not (value > low if strict else value >= low) or math.isnan(value):
        raise ValueError(f"{owner}: {name} must be {'>' if strict else '>='} {low}, got {value!r}")
    return value


def _unit_interval(owner, name, value):
    return validate.probability(value, name, owner, include_one=False)


def _squared_norm(grad):
    """Sum of squares as a Python float: cheap (one BLAS dot), non-finite iff some entry is (or it overflowed)."""
    return float(get_array_module(grad).vdot(grad, grad).real)


def _squared_norms(grads):
    """``[_squared_norm(g) for g in grads]``; arrays on a device come to the host in one copy, not one per array."""
    xp = get_array_module(grads[0]) if grads else numpy
    if xp is numpy or len(grads) < 2:
        return [_squared_norm(g) for g in grads]
    return [float(v) for v in to_numpy(xp.stack([xp.vdot(g, g).real for g in grads]))]


def _low_precision(dtype):
    """True for floating dtypes narrower than float32 (float16): they are updated through a float32 master copy."""
    return dtype.kind == "f" and dtype.itemsize < 4


def _state_dtype(dtype):
    """The dtype of an optimizer's state for a parameter of ``dtype``: float32 for float16 parameters."""
    return numpy.dtype(numpy.float32) if _low_precision(dtype) else dtype


def _describe(index, param):
    shape = tuple(param.shape)
    return f"{param.name!r} (shape {shape})" if param.name else f"params[{index}] (shape {shape})"


class Optimizer:
    """Base class of the optimizers: bookkeeping, clipping, NaN safety, state and config.

    Args:
        learning_rate: a float, or a schedule (any callable ``step -> float``,
            usually a :class:`nerve.schedules.LearningRateSchedule`) called with
            ``iterations`` before every update. Settable later
            (``optimizer.learning_rate = 0.01``).
        params: the parameters to train (a list or any iterable such as
            ``model.parameters()``); may also be given later with ``build``.
        weight_decay: L2 penalty added to the gradient, ``g + weight_decay * p``
            (PyTorch semantics; AdamW decays the weights instead).
        clipnorm: rescale each gradient whose L2 norm exceeds this to that norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: rescale all gradients together when the L2 norm of all
            of them concatenated exceeds this. Only one of the three clipping
            options may be set.
        check_finite: skip the whole update when any gradient holds NaN or inf,
            warn with :class:`NonFiniteGradientWarning`, count it in
            ``skipped_steps`` and call ``optimizer.on_nonfinite(info)`` if set
            (``info``: a dict with ``iteration``, ``skipped_steps``, ``indices``,
            ``names`` and ``params`` of the bad gradients). A skipped update
            leaves weights, state and ``iterations`` unchanged. The check is one
            BLAS dot product per gradient.
        name: a label (defaults to the lower-case class name).

    Subclasses define ``slot_names`` (per-parameter state arrays, created
    lazily on a parameter's first update) and ``update_step(index, param,
    grad, learning_rate)`` that updates the array ``param`` in place; the
    optional ``_prepare_step(learning_rate)`` returns a tuple of per-step
    scalars that ``update_step`` reads, converted to the parameter's dtype,
    with ``self._constants(param.dtype)``.
    ``iterations`` is the number of updates applied so far (step 1 of the bias
    corrections is the first update); it is shared by all parameters, as in
    Keras.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([3.0], requires_grad=True)
        >>> opt = Adam(0.1, params=[w])
        >>> for _ in range(3):
        ...     opt.zero_grad()
        ...     (w * w).sum().backward()
        ...     _ = opt.step()
        >>> opt.iterations, round(w.item(), 2)
        (3, 2.7)
    """

    decoupled_weight_decay = False
    slot_names = ()

    def __init__(
        self,
        learning_rate=0.01,
        *,
        params=None,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        check_finite=True,
        name=None,
    ):
        owner = type(self).__name__
        self.learning_rate = learning_rate
        self.weight_decay = _optional_number(owner, "weight_decay", weight_decay)
        self.clipnorm = _optional_number(owner, "clipnorm", clipnorm, strict=True)
        self.clipvalue = _optional_number(owner, "clipvalue", clipvalue, strict=True)
        self.global_clipnorm = _optional_number(owner, "global_clipnorm", global_clipnorm, strict=True)
        chosen = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, k) is not None]
        if len(chosen) > 1:
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {chosen}")
        self.check_finite = bool(check_finite)
        self.name = name if name is not None else owner.lower()
        self.iterations = 0
        self.skipped_steps = 0
        self.on_nonfinite = None
        self.build(() if params is None else params)

    # ------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The learning rate as given: a float or a schedule.

        Settable: ``optimizer.learning_rate = 0.01`` (a float replaces a
        schedule); a dict ``{"class_name", "config"}`` is read as a schedule.
        """
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        owner = type(self).__name__
        if isinstance(value, dict):
            value = schedules.get(value)
        if not callable(value):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{owner}: learning_rate must be a float or a schedule, got {type(value).__name__}; "
                    f"pass the parameters as params=..., e.g. {owner}(0.001, params=model.parameters())"
                ) from None
            if not value >= 0 or math.isinf(value):
                raise ValueError(f"{owner}: learning_rate must be a finite number >= 0, got {value!r}")
        self._learning_rate = value

    @property
    def current_learning_rate(self):
        """The learning rate the next update uses (the schedule evaluated at ``iterations``).

        Examples:
            >>> from nerve.blocks.schedules import StepDecay
            >>> opt = SGD(StepDecay(1.0, step_size=2, gamma=0.5))
            >>> opt.current_learning_rate
            1.0
            >>> opt.iterations = 2; opt.current_learning_rate
            0.5
        """
        lr = self._learning_rate
        if not callable(lr):
            return lr
        value = lr(self.iterations)
        if getattr(value, "ndim", None) == 0:  # a NumPy scalar array
            value = value.item()
        where = f"{type(self).__name__} (schedule {getattr(lr, '__name__', type(lr).__name__)} at step {self.iterations})"
        return validate.finite_float(value, "learning_rate", where, low=0.0)

    # ---------------------------------------------------------------- params
    def build(self, params):
        """Set (or reset) the parameter list; per-parameter state starts empty and is created lazily.

        Examples:
            >>> import nerve
            >>> opt = Adam()
            >>> opt.build([nerve.tensor([1.0], requires_grad=True)])
            >>> len(opt.params)
            1
        """
        owner = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{owner}: params must be a list of tensors, got a single Tensor; pass params=[tensor]")
        params = list(params)
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{owner}: params[{i}] is a {type(p).__name__}, expected a nerve Tensor")
            if p.data.dtype.kind not in "fc":
                raise TypeError(f"{owner}: params[{i}] has dtype {p.data.dtype}; only floating-point tensors train")
            if id(p) in seen:
                raise ValueError(f"{owner}: params[{i}] {_describe(i, p)} appears twice in the parameter list")
            seen.add(id(p))
        self._params = params
        self._slots = {}
        self._scratch = [None] * len(params)
        self._scratch_flat = {}
        self._packing = None
        self._masters = {}

    @property
    def params(self):
        """The parameters being trained, as a tuple."""
        return tuple(self._params)

    def zero_grad(self):
        """Set every parameter's ``grad`` to None (gradients accumulate across ``backward()`` until this).

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> opt = SGD(params=[w])
            >>> (w * 2).sum().backward(); (w * 2).sum().backward()
            >>> w.grad.tolist()   # accumulated
            [4.0]
            >>> opt.zero_grad(); print(w.grad)
            None
        """
        for p in self._params:
            p.grad = None

    def to(self, device):
        """Move the optimizer's state (slots such as Adam's moments) to ``device``; returns the optimizer.

        ``model.to(device)`` calls it for the model's optimizer; the
        parameters themselves are moved by their owner.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> opt = Adam(params=[w]); w.grad = nerve.tensor([1.0]); _ = opt.step()
            >>> opt.to("cpu").state_dict()["slots"]["m"][0].tolist()
            [0.10000000149011612]
        """
        self._slots = {name: [None if a is None else to_device(a, device) for a in arrays]
                       for name, arrays in self._slots.items()}
        self._scratch = [None] * len(self._params)
        self._scratch_flat = {}
        self._packing = None  # packed again, on the device, at the next step
        self._masters = {}  # float32 copies of float16 parameters: made again from the moved parameters
        return self

    def _slot(self, name, index, param, fill=0.0):
        """The state array ``name`` of parameter ``index``, created (filled with ``fill``) on first use."""
        arrays = self._slots.get(name)
        if arrays is None:
            arrays = self._slots[name] = [None] * len(self._params)
        if index is PACKED:
            return self._packing.slot(name, arrays, fill)
        array = arrays[index]
        if array is None:
            xp = get_array_module(param)
            array = arrays[index] = xp.full_like(param, fill) if fill else xp.zeros_like(param)
        return array

    def _scratch_for(self, index, param):
        """A work array shaped like ``param``: views into one flat buffer per dtype, reused every step."""
        if index is PACKED:
            return self._packing.scratch
        view = self._scratch[index]
        if view is None or view.dtype != param.dtype or view.shape != param.shape:
            key = (type(param), param.dtype)
            flat = self._scratch_flat.get(key)
            if flat is None or flat.size < param.size:
                size = max((p.data.size for p in self._params if _state_dtype(p.data.dtype) == param.dtype),
                           default=0)
                flat = self._scratch_flat[key] = get_array_module(param).empty(max(size, param.size), param.dtype)
            view = self._scratch[index] = flat[: param.size].reshape(param.shape)
        return view

    # ------------------------------------------------------------------ step
    def step(self):
        """Apply one update to every parameter that has a gradient; return False if it was skipped.

        Returns True when the update was applied, False when there was no
        gradient at all or when a non-finite gradient made it skip.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> opt = SGD(0.5, params=[w])
            >>> w.grad = nerve.tensor([1.0])
            >>> opt.step(), w.tolist(), opt.iterations
            (True, [0.5], 1)
        """
        owner = type(self).__name__
        params = self._params
        if not params:
            raise RuntimeError(
                f"{owner}.step(): the optimizer has no parameters; pass params=model.parameters() or call "
                "build(params). If the model builds its weights on first call, run it once before creating "
                "the optimizer."
            )
        items = []
        for i, p in enumerate(params):
            grad = p.grad
            if grad is not None:
                g = grad.data
                if g.shape != p.data.shape:
                    raise ValueError(f"{owner}.step(): gradient of {_describe(i, p)} has shape {g.shape}")
                items.append((i, p, g))
        if not items:
            return False
        packing = self._packing if len(items) == len(params) and self._can_pack(params) else None
        lowered = []
        if packing is not None:  # one update over all parameters at once (same bits, far fewer array calls)
            updates = [(PACKED, packing.targets, packing.gather([g for _, _, g in items]))]
        else:
            updates = []
            for i, p, g in items:
                if _low_precision(p.data.dtype):
                    # float16: the update runs in float32 on a master copy (small steps would round away in
                    # float16, and epsilon or g**2 underflow to 0); the parameter gets the rounded result
                    master = self._master(i, p)
                    updates.append((i, master, g.astype(master.dtype)))
                    lowered.append((p, master))
                else:
                    updates.append((i, p.data, g))
        grads = self._checked_and_clipped(items, [g for _, _, g in updates])
        if grads is None:
            return False
        lr = self.current_learning_rate
        self.iterations += 1
        self._step_constants = self._prepare_step(lr)
        self._typed_constants = {}
        decay = None if self.decoupled_weight_decay else self.weight_decay
        for (index, target, _), g in zip(updates, grads):
            if decay:  # L2 weight decay folded into the gradient (a new array: p.grad.data stays untouched)
                values = packing.gather_params(params) if index is PACKED else target
                g = g + g.dtype.type(decay) * values
            self.update_step(index, target, g, lr)
        for p, master in lowered:
            p.data[...] = master
            self._masters[id(p)] = (master, p.data.copy())
        if self.iterations % FLUSH_EVERY == 0:
            self._flush_subnormals()
        return True

    def _master(self, index, param):
        """The float32 master copy of the float16 parameter ``param``; made again when the parameter was changed
        from outside (``set_weights``, loading) since the last update."""
        kept = self._masters.get(id(param))
        data = param.data
        if kept is not None:
            master, written = kept
            if written.shape == data.shape and get_array_module(data).array_equal(written, data):
                return master
        return data.astype(numpy.float32)

    def apply_gradients(self, grads_and_vars):
        """Keras's update call: apply ``(gradient, variable)`` pairs, e.g. ``zip(grads, model.trainable_variables)``.

        Same as :meth:`apply`; returns ``iterations``.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0, 2.0], requires_grad=True)
            >>> opt = SGD(0.5)
            >>> opt.apply_gradients(zip([nerve.tensor([1.0, -2.0])], [w]))
            1
            >>> w.tolist()
            [0.5, 3.0]
        """
        pairs = list(grads_and_vars)
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise TypeError(f"{type(self).__name__}.apply_gradients expects (gradient, variable) pairs, e.g. "
                                f"zip(grads, model.trainable_variables); item {i} is a {type(pair).__name__}")
        return self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads, trainable_variables=None):
        """Update ``trainable_variables`` (default: the optimizer's params) with ``grads`` (Tensors or arrays).

        The first call builds the optimizer on the variables it is given (as Keras does); later calls may
        update any subset of them. A ``None`` gradient leaves its variable as it is. After the update the
        variables' ``.grad`` are cleared, so the next ``backward()`` starts from zero as in a Keras loop.
        Clipping, the NaN check and the learning-rate schedule apply as in :meth:`step`. Returns ``iterations``.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([3.0], requires_grad=True)
            >>> opt = Adam(0.1)
            >>> (w * w).sum().backward()
            >>> opt.apply([w.grad], [w])
            1
            >>> round(w.item(), 2), w.grad
            (2.9, None)
        """
        owner = type(self).__name__
        grads = list(grads)
        variables = list(self._params) if trainable_variables is None else list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"{owner}.apply: got {len(grads)} gradients for {len(variables)} variables")
        if not self._params:
            self.build(variables)
        known = {id(p) for p in self._params}
        unknown = [_describe(i, v) for i, v in enumerate(variables) if id(v) not in known]
        if unknown:
            raise ValueError(f"{owner}.apply: variables {unknown} are not among the {len(self._params)} this optimizer "
                             "was built for (on its first update); use one optimizer per set of variables")
        given = {}
        for i, (g, v) in enumerate(zip(grads, variables)):
            if g is None:
                continue
            data = g.data if isinstance(g, Tensor) else g
            if tuple(getattr(data, "shape", ())) != tuple(v.shape):
                raise ValueError(f"{owner}.apply: gradient {i} has shape {tuple(getattr(data, 'shape', ()))}, its "
                                 f"variable {_describe(i, v)} has shape {tuple(v.shape)}")
            given[id(v)] = g if isinstance(g, Tensor) else Tensor(v.xp.asarray(g, dtype=v.dtype))
        for p in self._params:
            p.grad = given.get(id(p))
        try:
            self.step()
        finally:
            for p in self._params:
                p.grad = None
        return self.iterations

    def _checked_and_clipped(self, items, grads):
        """The gradients to apply after the NaN/inf check and clipping, or None when the step is skipped.

        ``items`` are ``(index, param, gradient)`` of the parameters; ``grads`` the arrays the update runs
        on (the same gradients, or their packed concatenation). The originals are never written.
        """
        squared = None
        if self.check_finite or self.clipnorm is not None or self.global_clipnorm is not None:
            squared = _squared_norms(grads)
            if not math.isfinite(sum(squared)):  # NaN/inf somewhere, or only an overflow of the float32 sum
                per_param = squared if len(grads) == len(items) else _squared_norms([g for _, _, g in items])
                bad = self._find_nonfinite(items, per_param)  # also recomputes overflowed norms in float64
                if bad and self.check_finite:
                    self._skip(bad)
                    return None
                squared = per_param if len(grads) == len(items) else [math.fsum(per_param)]
        return self._clip(grads, squared)

    def _can_pack(self, params):
        """True when one elementwise update over all parameters at once gives the same result as one per parameter."""
        if self.clipnorm is not None or type(self).update_step not in _ELEMENTWISE_UPDATES:
            return False
        packing = self._packing
        if packing is not None and packing.valid(params, self._slots):
            return True
        first = params[0].data
        kind, dtype = type(first), first.dtype
        if _low_precision(dtype):
            return False
        for p in params:
            data = p.data
            if type(data) is not kind or data.dtype != dtype:
                return False
        self._packing = Packing(params)
        return True

    def _flush_subnormals(self):
        """Set slot values too small to be normal floats to zero.

        A slot that decays without new gradient (momentum of a dead ReLU unit
        shrinks by beta_1 every step) reaches subnormal floats after a few
        hundred steps, and CPU arithmetic on subnormals is ~40x slower. Their
        effect on the weights is below 1e-30, so zeroing them changes nothing
        measurable; doing it every FLUSH_EVERY steps keeps the cost negligible
        and runs deterministic (resumed runs flush at the same iterations).
        """
        for arrays in self._slots.values():
            for array in arrays:
                if array is not None and array.dtype.kind == "f":
                    xp = get_array_module(array)
                    xp.putmask(array, xp.abs(array) < xp.finfo(array.dtype).tiny, 0)

    def _find_nonfinite(self, items, squared):
        """Indices and params whose gradient has NaN/inf; fixes up norms that merely overflowed."""
        bad = []
        for k, (i, p, g) in enumerate(items):
            if math.isfinite(squared[k]):
                continue
            xp = get_array_module(g)
            if bool(xp.isfinite(g).all()):  # huge but finite: recompute the norm in float64
                g64 = g.astype(numpy.float64)
                squared[k] = float(xp.vdot(g64, g64).real)
            else:
                bad.append((i, p))
        return bad

    def _skip(self, bad):
        self.skipped_steps += 1
        names = [_describe(i, p) for i, p in bad]
        warnings.warn(
            f"{self.name}: non-finite gradient (NaN or inf) in {', '.join(names)}; the update was skipped and "
            "the weights are unchanged. Try a lower learning rate, gradient clipping (clipnorm=...), or look "
            "for log(0) or a division by zero in the loss.",
            NonFiniteGradientWarning,
            stacklevel=3,
        )
        if callable(self.on_nonfinite):
            self.on_nonfinite(
                {
                    "iteration": self.iterations,
                    "skipped_steps": self.skipped_steps,
                    "indices": [i for i, _ in bad],
                    "names": names,
                    "params": [p for _, p in bad],
                }
            )

    def _clip(self, grads, squared):
        """Clipped gradients (new arrays where changed; the originals are never written)."""
        if self.clipvalue is not None:
            c = self.clipvalue
            return [get_array_module(g).clip(g, -c, c) for g in grads]
        if self.clipnorm is not None:
            c = self.clipnorm
            return [g * (c / math.sqrt(sq)) if sq > c * c else g for g, sq in zip(grads, squared)]
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(squared))
            if norm > self.global_clipnorm:
                scale = self.global_clipnorm / norm
                return [g * scale for g in grads]
        return grads

    def _prepare_step(self, learning_rate):
        """Per-step scalars, computed once per step (``self.iterations`` already counts this step)."""
        return ()

    def _constants(self, dtype):
        """This step's scalars as NumPy scalars of ``dtype``: saves a conversion in every array call."""
        typed = self._typed_constants.get(dtype)
        if typed is None:
            typed = self._typed_constants[dtype] = tuple(dtype.type(x) for x in self._step_constants)
        return typed

    def update_step(self, index, param, grad, learning_rate):  # pragma: no cover - abstract
        """Update the array ``param`` in place from the (clipped, decayed) gradient array ``grad``."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step")

    # ----------------------------------------------------------- state/config
    def get_config(self):
        """The constructor arguments as a JSON-serialisable dict (schedules as {"class_name", "config"}).

        Examples:
            >>> SGD(0.1, momentum=0.9).get_config()["momentum"]
            0.9
        """
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": lr if not callable(lr) else schedules.serialize(lr),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "check_finite": self.check_finite,
        }

    @classmethod
    def from_config(cls, config):
        """Build an optimizer (without parameters) from ``get_config()``.

        Examples:
            >>> Adam.from_config(Adam(0.01).get_config()).learning_rate
            0.01
        """
        return cls(**config)

    def state_dict(self):
        """Everything needed to resume: ``{"iterations", "config", "slots": {name: [array or None per param]}}``.

        Arrays are copies. A learning rate that is a plain function (not a
        LearningRateSchedule) is stored as None and left as is on load.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> opt = Adam(params=[w]); w.grad = nerve.tensor([1.0]); _ = opt.step()
            >>> state = opt.state_dict()
            >>> state["iterations"], sorted(state["slots"])
            (1, ['m', 'v'])
        """
        config = self._state_config()
        n = len(self._params)
        slots = {}
        for name in self.slot_names:
            arrays = self._slots.get(name) or [None] * n
            slots[name] = [None if a is None else a.copy() for a in arrays]
        return {"iterations": int(self.iterations), "config": config, "slots": slots}

    def _state_config(self):
        """``get_config()``, with None for a learning rate that is a plain function (it cannot be saved)."""
        lr = self._learning_rate
        if not callable(lr) or isinstance(lr, schedules.LearningRateSchedule):
            return self.get_config()
        self._learning_rate = 0.0
        try:
            return {**self.get_config(), "learning_rate": None}
        finally:
            self._learning_rate = lr

    def load_state_dict(self, state):
        """Restore ``state_dict()`` output exactly: iterations, hyperparameters and every slot array.

        The optimizer must already hold parameters of the same shapes, in the same order.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> a = Adam(params=[w]); w.grad = nerve.tensor([1.0]); _ = a.step()
            >>> b = Adam(params=[w]); b.load_state_dict(a.state_dict())
            >>> b.iterations, b.state_dict()["slots"]["m"][0].tolist()
            (1, [0.10000000149011612])
        """
        owner = type(self).__name__
        missing = {"iterations", "config", "slots"} - set(state)
        if missing:
            raise ValueError(f"{owner}.load_state_dict(): the state has no {sorted(missing)}")
        config = dict(state["config"])
        if config.get("learning_rate") is None:
            config["learning_rate"] = 0.0
        unknown = set(config) - set(self._state_config())
        if unknown:
            raise ValueError(f"{owner}.load_state_dict(): config keys {sorted(unknown)} do not belong to {owner}")
        expected = type(self).from_config(config).slot_names
        if set(state["slots"]) != set(expected):
            raise ValueError(
                f"{owner}.load_state_dict(): expected slots {sorted(expected)}, got {sorted(state['slots'])}"
            )
        n = len(self._params)
        for name, arrays in state["slots"].items():
            if len(arrays) != n:
                raise ValueError(
                    f"{owner}.load_state_dict(): slot {name!r} has {len(arrays)} entries but the optimizer has {n} params"
                )
            for i, (a, p) in enumerate(zip(arrays, self._params)):
                shape = None if a is None else tuple(a.shape) if hasattr(a, "shape") else numpy.shape(a)
                if a is not None and shape != p.data.shape:
                    raise ValueError(
                        f"{owner}.load_state_dict(): slot {name!r} of {_describe(i, p)} has shape {shape}"
                    )
        # Everything checked: now apply.
        for key, value in state["config"].items():
            if key == "learning_rate":
                if value is not None:
                    self.learning_rate = value
            else:
                setattr(self, key, value)
        self.iterations = int(state["iterations"])
        self._slots = {
            name: [
                None if a is None else get_array_module(p.data).array(a, dtype=_state_dtype(p.data.dtype), copy=True)
                for a, p in zip(arrays, self._params)
            ]
            for name, arrays in state["slots"].items()
        }

    def __repr__(self):
        lr = self._learning_rate
        return f"{type(self).__name__}(learning_rate={lr!r}, params={len(self._params)})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, PyTorch's update rule.

    Without momentum: ``p -= lr * g``. With momentum ``mu`` the buffer is
    ``b = mu * b + g`` (``b = g`` on the first step) and ``p -= lr * b``, or
    with ``nesterov=True`` ``p -= lr * (g + mu * b)``. (Keras's SGD keeps
    ``-lr`` inside the buffer; the two agree while the learning rate is constant.)

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = SGD(0.1, momentum=0.9, params=[w])
        >>> for _ in range(2):
        ...     w.grad = nerve.tensor([1.0]); _ = opt.step()
        >>> round(w.item(), 6)   # 1 - 0.1 * 1 - 0.1 * 1.9
        0.71
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        self.momentum = _unit_interval("SGD", "momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and not self.momentum > 0:
            raise ValueError(f"SGD: nesterov=True needs momentum > 0, got momentum={momentum!r}")
        super().__init__(learning_rate, **kwargs)

    @property
    def slot_names(self):
        return ("momentum",) if self.momentum else ()

    def _prepare_step(self, learning_rate):
        return learning_rate, self.momentum

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        lr, mu = self._constants(param.dtype)
        if self.momentum:
            buf = self._slot("momentum", index, param)
            buf *= mu
            buf += grad
            if self.nesterov:
                xp.multiply(buf, mu, out=tmp)
                tmp += grad
                tmp *= lr
            else:
                xp.multiply(buf, lr, out=tmp)
        else:
            xp.multiply(grad, lr, out=tmp)
        param -= tmp

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, PyTorch's update rule (``rho`` is PyTorch's ``alpha``).

    ``v = rho * v + (1 - rho) * g**2``; the denominator is ``d = sqrt(v) + eps``,
    or with ``centered=True`` ``d = sqrt(v - gbar**2) + eps`` where
    ``gbar = rho * gbar + (1 - rho) * g``. Then ``p -= lr * g / d``, or with
    momentum ``b = momentum * b + g / d; p -= lr * b``. Note ``eps`` is added
    after the square root (Keras adds it inside).

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = RMSprop(0.01, params=[w])
        >>> w.grad = nerve.tensor([2.0]); _ = opt.step()
        >>> round(w.item(), 5)   # 1 - 0.01 * 2 / sqrt(0.1 * 4)
        0.96838
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        self.rho = _unit_interval("RMSprop", "rho", rho)
        self.momentum = _unit_interval("RMSprop", "momentum", momentum)
        self.epsilon = _optional_number("RMSprop", "epsilon", epsilon)
        self.centered = bool(centered)
        super().__init__(learning_rate, **kwargs)

    @property
    def slot_names(self):
        return ("v",) + (("mean_grad",) if self.centered else ()) + (("momentum",) if self.momentum else ())

    def _prepare_step(self, learning_rate):
        return self.rho, 1.0 - self.rho, self.epsilon, self.momentum, learning_rate

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        rho, one_minus_rho, epsilon, momentum, lr = self._constants(param.dtype)
        v = self._slot("v", index, param)
        v *= rho
        xp.multiply(grad, grad, out=tmp)
        tmp *= one_minus_rho
        v += tmp
        if self.centered:
            mean_grad = self._slot("mean_grad", index, param)
            xp.subtract(grad, mean_grad, out=tmp)
            tmp *= one_minus_rho
            mean_grad += tmp
            xp.multiply(mean_grad, mean_grad, out=tmp)
            xp.subtract(v, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(v, out=tmp)
        tmp += epsilon
        xp.divide(grad, tmp, out=tmp)
        if self.momentum:
            buf = self._slot("momentum", index, param)
            buf *= momentum
            buf += tmp
            xp.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        param -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adam(Optimizer):
    """Adam, PyTorch's update rule (``eps`` added after the square root of the bias-corrected ``v``).

    ``m = beta_1 * m + (1 - beta_1) * g``, ``v = beta_2 * v + (1 - beta_2) * g**2``,
    ``p -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - beta_1**t)``
    and ``v_hat = v / (1 - beta_2**t)`` (``t`` = ``iterations``, 1 on the
    first update). With ``amsgrad=True`` ``v_hat`` uses the running maximum of
    ``v``. Computed as ``p -= a * m / (sqrt(v) + e)`` with
    ``a = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` and
    ``e = eps * sqrt(1 - beta_2**t)`` (the same value, fewer array passes).

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = Adam(0.1, params=[w])
        >>> w.grad = nerve.tensor([5.0]); _ = opt.step()
        >>> round(w.item(), 5)   # the first Adam step moves by about lr
        0.9
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        owner = type(self).__name__
        self.beta_1 = _unit_interval(owner, "beta_1", beta_1)
        self.beta_2 = _unit_interval(owner, "beta_2", beta_2)
        self.epsilon = _optional_number(owner, "epsilon", epsilon)
        self.amsgrad = bool(amsgrad)
        super().__init__(learning_rate, **kwargs)

    @property
    def slot_names(self):
        return ("m", "v", "v_max") if self.amsgrad else ("m", "v")

    def _prepare_step(self, learning_rate):
        t = self.iterations
        correction2 = math.sqrt(1.0 - self.beta_2**t)
        step_size = learning_rate * correction2 / (1.0 - self.beta_1**t)
        return 1.0 - self.beta_1, self.beta_2, 1.0 - self.beta_2, self.epsilon * correction2, step_size

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        one_minus_beta_1, beta_2, one_minus_beta_2, epsilon_hat, step_size = self._constants(param.dtype)[:5]
        m = self._slot("m", index, param)
        v = self._slot("v", index, param)
        xp.subtract(grad, m, out=tmp)  # m += (1 - beta_1) * (g - m): torch's lerp
        tmp *= one_minus_beta_1
        m += tmp
        v *= beta_2
        xp.multiply(grad, grad, out=tmp)
        tmp *= one_minus_beta_2
        v += tmp
        if self.amsgrad:
            v_max = self._slot("v_max", index, param)
            xp.maximum(v_max, v, out=v_max)
            v = v_max
        xp.sqrt(v, out=tmp)
        tmp += epsilon_hat
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        param -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay, PyTorch's AdamW: ``p -= lr * weight_decay * p``, then the Adam update.

    ``weight_decay`` defaults to 0.01 like PyTorch (Keras uses 0.004); it is
    not added to the gradient, so it does not pass through Adam's scaling.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = AdamW(0.1, weight_decay=0.5, params=[w])
        >>> w.grad = nerve.tensor([0.0]); _ = opt.step()
        >>> round(w.item(), 6)   # 1 * (1 - 0.1 * 0.5), then a zero Adam step
        0.95
    """

    decoupled_weight_decay = True

    def __init__(self, learning_rate=0.001, weight_decay=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)

    def _prepare_step(self, learning_rate):
        return super()._prepare_step(learning_rate) + (1.0 - learning_rate * (self.weight_decay or 0.0),)

    def update_step(self, index, param, grad, learning_rate):
        if self.weight_decay:
            param *= self._constants(param.dtype)[5]
        super().update_step(index, param, grad, learning_rate)


class Adagrad(Optimizer):
    """Adagrad, PyTorch's update rule: ``s += g**2; p -= lr * g / (sqrt(s) + eps)``.

    ``s`` starts at ``initial_accumulator_value`` (Keras's default 0.1;
    PyTorch's is 0).

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = Adagrad(0.1, initial_accumulator_value=0.0, params=[w])
        >>> w.grad = nerve.tensor([3.0]); _ = opt.step()
        >>> round(w.item(), 5)   # 1 - 0.1 * 3 / 3
        0.9
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        self.initial_accumulator_value = _optional_number("Adagrad", "initial_accumulator_value",
                                                          initial_accumulator_value)
        self.epsilon = _optional_number("Adagrad", "epsilon", epsilon)
        super().__init__(learning_rate, **kwargs)

    def _prepare_step(self, learning_rate):
        return self.epsilon, learning_rate

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        epsilon, lr = self._constants(param.dtype)
        accumulator = self._slot("accumulator", index, param, fill=self.initial_accumulator_value)
        xp.multiply(grad, grad, out=tmp)
        accumulator += tmp
        xp.sqrt(accumulator, out=tmp)
        tmp += epsilon
        xp.divide(grad, tmp, out=tmp)
        tmp *= lr
        param -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adadelta(Optimizer):
    """Adadelta, PyTorch's update rule.

    ``v = rho * v + (1 - rho) * g**2``,
    ``delta = sqrt(u + eps) / sqrt(v + eps) * g``,
    ``u = rho * u + (1 - rho) * delta**2``, ``p -= lr * delta``
    (``v``: slot ``accumulated_grad``, ``u``: slot ``accumulated_delta``).
    PyTorch's default learning rate is 1.0; Keras's (used here) is 0.001.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True, dtype="float64")
        >>> opt = Adadelta(1.0, rho=0.5, epsilon=1e-2, params=[w])
        >>> w.grad = nerve.tensor([1.0], dtype="float64"); _ = opt.step()
        >>> round(w.item(), 5)   # 1 - sqrt(0.01) / sqrt(0.5 + 0.01)
        0.85997
    """

    slot_names = ("accumulated_grad", "accumulated_delta")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        self.rho = _unit_interval("Adadelta", "rho", rho)
        self.epsilon = _optional_number("Adadelta", "epsilon", epsilon)
        super().__init__(learning_rate, **kwargs)

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        rho, eps = self.rho, self.epsilon
        v = self._slot("accumulated_grad", index, param)
        u = self._slot("accumulated_delta", index, param)
        v *= rho
        v += (1.0 - rho) * (grad * grad)
        delta = xp.sqrt(u + eps)
        delta /= xp.sqrt(v + eps)
        delta *= grad
        u *= rho
        u += (1.0 - rho) * (delta * delta)
        delta *= learning_rate
        param -= delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around another optimizer, for float16 training (Keras 3's name and arguments).

    float16 gradients below about 6e-8 round to zero. Scaling the loss by ``dynamic_scale`` before
    ``backward()`` scales every gradient by the same factor and keeps small ones representable;
    ``step()`` divides the gradients by the scale again before the inner optimizer sees them. When a
    scaled gradient overflows (inf or NaN), the step is skipped, the weights and the optimizer state
    stay as they were, and the scale is halved; after ``dynamic_growth_steps`` good steps in a row it
    is doubled. ``model.compile`` wraps the optimizer in one automatically when the model computes in
    float16 (the ``"mixed_float16"`` policy), as Keras does.

    In a hand-written loop, scale the loss yourself::

        loss = loss_fn(y, model(x))
        optimizer.zero_grad()
        optimizer.scale_loss(loss).backward()
        optimizer.step()            # unscales, skips on overflow, updates the scale

    Args:
        inner_optimizer: the optimizer that applies the updates (any nerve optimizer, or its name).
        initial_scale: the starting scale (2**15).
        dynamic_growth_steps: good steps in a row before the scale doubles (2000).

    Everything else (``learning_rate``, ``params``, ``iterations``, ``state_dict``...) is the inner
    optimizer's. ``overflow_steps`` counts the skipped steps.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = LossScaleOptimizer(SGD(0.5), initial_scale=1024.0)
        >>> opt.build([w])
        >>> opt.scale_loss((w * w).sum()).backward()       # gradient 2 * 1024
        >>> opt.step(), w.tolist(), opt.dynamic_scale
        (True, [0.0], 1024.0)
        >>> w.grad = nerve.tensor([float("inf")])           # an overflow: skipped, scale halved
        >>> opt.step(), w.tolist(), opt.dynamic_scale, opt.overflow_steps
        (False, [0.0], 512.0, 1)
    """

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None, **kwargs):
        if kwargs:
            raise TypeError(f"LossScaleOptimizer: unexpected keyword arguments {sorted(kwargs)}")
        if isinstance(inner_optimizer, LossScaleOptimizer):
            raise TypeError("LossScaleOptimizer: the inner optimizer is already a LossScaleOptimizer")
        inner = get(inner_optimizer)
        scale = float(initial_scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"LossScaleOptimizer: initial_scale must be a finite number > 0, got {initial_scale!r}")
        if isinstance(dynamic_growth_steps, bool) or int(dynamic_growth_steps) != dynamic_growth_steps \
                or dynamic_growth_steps < 1:
            raise ValueError(
                f"LossScaleOptimizer: dynamic_growth_steps must be a positive integer, got {dynamic_growth_steps!r}"
            )
        object.__setattr__(self, "inner_optimizer", inner)
        self.initial_scale = scale
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.dynamic_scale = scale
        self.overflow_steps = 0
        self._good_steps = 0
        self.name = name if name is not None else "loss_scale_optimizer"

    # everything that is not about scaling is the inner optimizer's
    def __getattr__(self, attr):
        if attr.startswith("__") or attr == "inner_optimizer":
            raise AttributeError(attr)
        return getattr(self.__dict__["inner_optimizer"], attr)

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value):
        self.inner_optimizer.iterations = value

    @property
    def current_learning_rate(self):
        return self.inner_optimizer.current_learning_rate

    @property
    def params(self):
        return self.inner_optimizer.params

    @property
    def slot_names(self):
        return self.inner_optimizer.slot_names

    def build(self, params):
        self.inner_optimizer.build(params)

    def zero_grad(self):
        self.inner_optimizer.zero_grad()

    def to(self, device):
        self.inner_optimizer.to(device)
        return self

    def scale_loss(self, loss):
        """``loss * dynamic_scale``: call ``backward()`` on this instead of on the loss.

        Examples:
            >>> import nerve
            >>> LossScaleOptimizer(SGD(), initial_scale=8.0).scale_loss(nerve.tensor(0.5)).item()
            4.0
        """
        return loss * self.dynamic_scale

    def step(self):
        """Unscale the gradients, then skip (overflow: scale halved) or apply the inner optimizer's update.

        Examples:
            >>> import nerve
            >>> w = nerve.tensor([1.0], requires_grad=True)
            >>> opt = LossScaleOptimizer(SGD(0.1, params=[w]), initial_scale=4.0, dynamic_growth_steps=1)
            >>> w.grad = nerve.tensor([4.0]); opt.step(), opt.dynamic_scale   # grows after 1 good step
            (True, 8.0)
        """
        inverse = 1.0 / self.dynamic_scale
        unscaled = []
        for p in self.inner_optimizer.params:
            grad = p.grad
            if grad is None:
                continue
            g = grad.data
            g = g.astype(numpy.float32) if _low_precision(g.dtype) else g
            g = g * g.dtype.type(inverse)  # a new array: the scaled gradient is never written
            unscaled.append((p, g))
        if not unscaled:
            return False
        # one host round trip per step (a GPU's arrays): the squared norms are summed on the device, in float64
        xp = get_array_module(unscaled[0][1])
        total = sum(xp.vdot(g, g).real.astype(numpy.float64) for _, g in unscaled)
        if not math.isfinite(float(total)):
            self.dynamic_scale = max(self.dynamic_scale / 2.0, 1.0)
            self.overflow_steps += 1
            self._good_steps = 0
            return False
        for p, g in unscaled:
            p.grad = Tensor(g)
        applied = self.inner_optimizer.step()
        if applied:
            self._good_steps += 1
            if self._good_steps >= self.dynamic_growth_steps:
                self.dynamic_scale *= 2.0
                self._good_steps = 0
        return applied

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["inner_optimizer"] = deserialize(config["inner_optimizer"], custom_objects=custom_objects)
        return cls(**config)

    def state_dict(self):
        """The inner optimizer's state, with the current scale and the count of good steps in its config."""
        state = self.inner_optimizer.state_dict()
        state["config"] = {"inner": state["config"], "dynamic_scale": self.dynamic_scale,
                           "good_steps": self._good_steps, "overflow_steps": self.overflow_steps}
        return state

    def load_state_dict(self, state):
        config = state.get("config")
        if not isinstance(config, dict) or "inner" not in config:
            raise ValueError("LossScaleOptimizer.load_state_dict(): expected the state of a LossScaleOptimizer "
                             f"(config with 'inner', 'dynamic_scale'), got config {config!r:.200}")
        scale = float(config.get("dynamic_scale", self.initial_scale))
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"LossScaleOptimizer.load_state_dict(): dynamic_scale must be finite and > 0, got {scale}")
        self.inner_optimizer.load_state_dict({**state, "config": config["inner"]})
        self.dynamic_scale = scale
        self._good_steps = int(config.get("good_steps", 0))
        self.overflow_steps = int(config.get("overflow_steps", 0))

    def __repr__(self):
        return f"LossScaleOptimizer({self.inner_optimizer!r}, dynamic_scale={self.dynamic_scale})"


class Nadam(Adam):
    """Adam with Nesterov momentum (Dozat), Keras's and PyTorch's ``NAdam`` rule with momentum decay 0.004.

    ``mu_t = beta_1 * (1 - 0.5 * 0.96 ** (0.004 t))``; the update mixes the bias-corrected momentum of the next
    step and the current gradient: ``p -= lr * (mu_{t+1} m / (1 - prod_{i<=t+1} mu_i) + (1 - mu_t) g /
    (1 - prod_{i<=t} mu_i)) / (sqrt(v / (1 - beta_2^t)) + eps)``.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True, dtype="float64")
        >>> opt = Nadam(0.1, params=[w])
        >>> w.grad = nerve.tensor([2.0], dtype="float64"); _ = opt.step()
        >>> round(w.item(), 4)   # the current gradient weighs more than in Adam: a step a little over lr
        0.8944
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)
        self._mu_products = [1.0]  # prod_{i<=t} mu_i for t = 0, 1, ... (recomputed from iterations when resumed)

    @property
    def slot_names(self):
        return ("m", "v")

    def _mu(self, t):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** (0.004 * t))

    def _mu_product(self, t):
        products = self._mu_products
        while len(products) <= t:
            products.append(products[-1] * self._mu(len(products)))
        return products[t]

    def _prepare_step(self, learning_rate):
        t = self.iterations
        mu, mu_next = self._mu(t), self._mu(t + 1)
        product, product_next = self._mu_product(t), self._mu_product(t + 1)
        correction2 = 1.0 - self.beta_2**t
        return (1.0 - self.beta_1, self.beta_2, 1.0 - self.beta_2, learning_rate * mu_next / (1.0 - product_next),
                learning_rate * (1.0 - mu) / (1.0 - product), correction2, self.epsilon)

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        one_minus_beta_1, beta_2, one_minus_beta_2, m_rate, g_rate, correction2, epsilon = self._constants(param.dtype)
        m = self._slot("m", index, param)
        v = self._slot("v", index, param)
        xp.subtract(grad, m, out=tmp)
        tmp *= one_minus_beta_1
        m += tmp
        v *= beta_2
        xp.multiply(grad, grad, out=tmp)
        tmp *= one_minus_beta_2
        v += tmp
        xp.divide(v, correction2, out=tmp)
        xp.sqrt(tmp, out=tmp)
        tmp += epsilon
        param -= m_rate * m / tmp + g_rate * grad / tmp

    def get_config(self):
        config = super().get_config()
        config.pop("amsgrad")
        return config


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm (Keras's rule): ``m = beta_1 m + (1 - beta_1) g``,
    ``u = max(beta_2 u, |g|)``, ``p -= lr / (1 - beta_1^t) * m / (u + eps)``.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True, dtype="float64")
        >>> opt = Adamax(0.1, params=[w])
        >>> w.grad = nerve.tensor([4.0], dtype="float64"); _ = opt.step()
        >>> round(w.item(), 4)
        0.9
    """

    slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        self.beta_1 = _unit_interval("Adamax", "beta_1", beta_1)
        self.beta_2 = _unit_interval("Adamax", "beta_2", beta_2)
        self.epsilon = _optional_number("Adamax", "epsilon", epsilon)
        super().__init__(learning_rate, **kwargs)

    def _prepare_step(self, learning_rate):
        return 1.0 - self.beta_1, self.beta_2, learning_rate / (1.0 - self.beta_1**self.iterations), self.epsilon

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        one_minus_beta_1, beta_2, step_size, epsilon = self._constants(param.dtype)
        m = self._slot("m", index, param)
        u = self._slot("u", index, param)
        xp.subtract(grad, m, out=tmp)
        tmp *= one_minus_beta_1
        m += tmp
        u *= beta_2
        xp.maximum(u, xp.abs(grad), out=u)
        xp.add(u, epsilon, out=tmp)
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        param -= tmp

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (Chen et al., 2023), Keras's rule: ``p -= lr * sign(beta_1 m + (1 - beta_1) g)``, then
    ``m = beta_2 m + (1 - beta_2) g``. Use a learning rate 3-10x smaller than Adam's.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0, 1.0], requires_grad=True)
        >>> opt = Lion(0.1, params=[w])
        >>> w.grad = nerve.tensor([3.0, -0.5]); _ = opt.step()
        >>> w.tolist()
        [0.8999999761581421, 1.100000023841858]
    """

    slot_names = ("m",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        self.beta_1 = _unit_interval("Lion", "beta_1", beta_1)
        self.beta_2 = _unit_interval("Lion", "beta_2", beta_2)
        if self.beta_1 <= 0:
            raise ValueError(f"Lion: beta_1 must be > 0, got {beta_1}")
        super().__init__(learning_rate, **kwargs)

    def _prepare_step(self, learning_rate):
        return self.beta_1, 1.0 - self.beta_1, self.beta_2, 1.0 - self.beta_2, learning_rate

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        tmp = self._scratch_for(index, param)
        beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, step_size = self._constants(param.dtype)
        m = self._slot("m", index, param)
        xp.multiply(m, beta_1, out=tmp)
        tmp += one_minus_beta_1 * grad
        xp.sign(tmp, out=tmp)
        tmp *= step_size
        param -= tmp
        m *= beta_2
        m += one_minus_beta_2 * grad

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """FTRL-proximal (McMahan et al.), Keras's rule with its arguments: per-coordinate learning rates from the
    accumulated squared gradients (``learning_rate_power`` -0.5: AdaGrad-like), L1 that sets weights to exactly 0,
    L2, L2 shrinkage and ``beta``.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0, -1.0], requires_grad=True, dtype="float64")
        >>> opt = Ftrl(0.5, l1_regularization_strength=0.01, params=[w])
        >>> w.grad = nerve.tensor([0.5, -0.5], dtype="float64"); _ = opt.step()
        >>> [round(v, 4) for v in w.tolist()]
        [0.0344, -0.0344]
    """

    slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, **kwargs):
        owner = "Ftrl"
        if learning_rate_power > 0:
            raise ValueError(f"Ftrl: learning_rate_power must be <= 0, got {learning_rate_power}")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = _optional_number(owner, "initial_accumulator_value", initial_accumulator_value)
        self.l1_regularization_strength = _optional_number(owner, "l1_regularization_strength",
                                                           l1_regularization_strength)
        self.l2_regularization_strength = _optional_number(owner, "l2_regularization_strength",
                                                           l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = _optional_number(owner, "l2_shrinkage_regularization_strength",
                                                                     l2_shrinkage_regularization_strength)
        self.beta = _optional_number(owner, "beta", beta)
        super().__init__(learning_rate, **kwargs)

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        power = -self.learning_rate_power
        accumulator = self._slot("accumulator", index, param, fill=self.initial_accumulator_value)
        linear = self._slot("linear", index, param)
        l2 = self.l2_regularization_strength + self.beta / (2.0 * learning_rate)
        grad_to_use = grad + (2.0 * self.l2_shrinkage_regularization_strength) * param
        new_accumulator = accumulator + grad * grad
        linear += grad_to_use - (new_accumulator ** power - accumulator ** power) / learning_rate * param
        quadratic = new_accumulator ** power / learning_rate + 2.0 * l2
        l1 = self.l1_regularization_strength
        param[...] = (xp.clip(linear, -l1, l1) - linear) / quadratic
        accumulator[...] = new_accumulator

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Lamb(Adam):
    """LAMB (You et al.), Keras's rule: the Adam step of each parameter rescaled by the trust ratio
    ``||w|| / ||step||`` (1 when either norm is 0), for large-batch training.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([3.0, 4.0], requires_grad=True, dtype="float64")
        >>> opt = Lamb(0.1, params=[w])
        >>> w.grad = nerve.tensor([1.0, 1.0], dtype="float64"); _ = opt.step()
        >>> [round(v, 4) for v in w.tolist()]   # the step, of norm sqrt(2), is scaled to lr * ||w|| = 0.5
        [2.6464, 3.6464]
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, **kwargs)

    @property
    def slot_names(self):
        return ("m", "v")

    def _prepare_step(self, learning_rate):
        t = self.iterations
        return 1.0 - self.beta_1, self.beta_2, 1.0 - self.beta_2, 1.0 - self.beta_1**t, 1.0 - self.beta_2**t

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        one_minus_beta_1, beta_2, one_minus_beta_2, correction1, correction2 = self._constants(param.dtype)
        m = self._slot("m", index, param)
        v = self._slot("v", index, param)
        m += one_minus_beta_1 * (grad - m)
        v *= beta_2
        v += one_minus_beta_2 * (grad * grad)
        step = (m / correction1) / (xp.sqrt(v / correction2) + param.dtype.type(self.epsilon))
        # the trust ratio stays a 0-d array of the weight's module (no host round trip per weight on a GPU),
        # computed in float64 from the norms as before
        w_norm = xp.sqrt(xp.sum(param * param)).astype(numpy.float64)
        s_norm = xp.sqrt(xp.sum(step * step)).astype(numpy.float64)
        ratio = xp.where((w_norm > 0) & (s_norm > 0), w_norm / xp.where(s_norm > 0, s_norm, 1.0), 1.0)
        param -= (learning_rate * ratio).astype(param.dtype) * step

    def get_config(self):
        config = super().get_config()
        config.pop("amsgrad")
        return config


class Adafactor(Optimizer):
    """Adafactor (Shazeer and Stern), Keras's rule: second moments of matrices from row and column means of the
    squared gradients, a relative step ``min(lr, 1/sqrt(t)) * max(epsilon_2, rms(w))``, and updates clipped to an
    RMS of ``clip_threshold``. (nerve keeps the row and column statistics broadcast to the weight's shape, so a
    checkpoint holds them like any optimizer slot: the update is Keras's, the memory saving is not.)

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, dtype="float64")
        >>> opt = Adafactor(0.1, params=[w])
        >>> w.grad = nerve.tensor([[1.0, 1.0], [1.0, 1.0]], dtype="float64"); _ = opt.step()
        >>> [round(v, 4) for v in w.numpy().ravel().tolist()]
        [0.7261, 1.7261, 2.7261, 3.7261]
    """

    slot_names = ("r", "c", "v")

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, **kwargs):
        self.beta_2_decay = float(beta_2_decay)
        self.epsilon_1, self.epsilon_2 = float(epsilon_1), float(epsilon_2)
        self.clip_threshold = float(clip_threshold)
        self.relative_step = bool(relative_step)
        super().__init__(learning_rate, **kwargs)

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        step = self.iterations  # already counts this update: Keras's iterations + 1
        lr = learning_rate
        if self.relative_step and not callable(self.learning_rate):
            lr = min(lr, 1.0 / math.sqrt(step))
        rho = min(lr, 1.0 / math.sqrt(step))
        # 0-d arrays of the weight's module, not Python floats: no host round trip per weight on a GPU
        alpha = xp.maximum(xp.sqrt(xp.mean(param * param)).astype(numpy.float64), self.epsilon_2) * rho
        squares = grad * grad + self.epsilon_1
        beta = 1.0 - step ** self.beta_2_decay
        v = self._slot("v", index, param)
        if param.ndim >= 2:
            r = self._slot("r", index, param)  # row statistic, repeated along the last axis
            c = self._slot("c", index, param)  # column statistic, repeated along the second-to-last axis
            r[...] = beta * r + (1.0 - beta) * xp.mean(squares, axis=-1, keepdims=True)
            c[...] = beta * c + (1.0 - beta) * xp.mean(squares, axis=-2, keepdims=True)
            v[...] = r / xp.mean(r, axis=-2, keepdims=True) * c
        else:
            v[...] = beta * v + (1.0 - beta) * squares
        update = grad / xp.sqrt(v)
        update /= xp.maximum(xp.sqrt(xp.mean(update * update)).astype(numpy.float64) / self.clip_threshold,
                             1.0).astype(update.dtype)
        param -= alpha.astype(param.dtype) * update

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


class Muon(Optimizer):
    """Muon, Keras's rule: momentum SGD whose update of a 2-D weight is orthogonalised by Newton-Schulz iterations;
    every other weight gets an AdamW step.

    A matrix (2-D weight) ``w`` with gradient ``g``: ``m = momentum * m + g``; with ``nesterov`` the direction is
    ``g + momentum * m`` (else ``m``); it is scaled to Frobenius norm 1 and run through ``ns_steps`` iterations
    ``x = a * x + (b * A + c * A @ A) @ x`` with ``A = x @ x.T`` (``muon_a``, ``muon_b``, ``muon_c``; the
    transposed matrix when it has more rows than columns), which push its singular values towards 1; then
    ``w -= lr * sqrt(max(rows, cols)) * rms_rate * x`` (``rms_rate=None``: ``w -= lr * x``).
    Weights that are not 2-D, those whose name contains ``"embedding"`` (with ``exclude_embeddings``) and those whose
    name matches a regular expression of ``exclude_layers`` (e.g. ``["output_dense"]``, the last layer) get Keras's
    Adam step with learning rate ``lr * adam_lr_ratio``: ``m += (1 - adam_beta_1) * (g - m)``,
    ``v += (1 - adam_beta_2) * (g**2 - v)``, ``w -= lr * sqrt(1 - adam_beta_2**t) / (1 - adam_beta_1**t) * m /
    (sqrt(v) + epsilon)``. Before the update each weight is decayed, ``w -= lr * decay * w``, with
    ``weight_decay`` for Muon weights and ``adam_weight_decay`` for Adam weights (None: no decay).

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([[3.0, 0.0], [0.0, 1.0]], requires_grad=True, dtype="float64")
        >>> opt = Muon(0.1, weight_decay=None, rms_rate=None, params=[w])
        >>> w.grad = nerve.tensor([[3.0, 0.0], [0.0, 1.0]], dtype="float64"); _ = opt.step()
        >>> [round(v, 2) for v in w.numpy().ravel().tolist()]   # both directions move by about lr
        [2.92, 0.0, 0.0, 0.89]
    """

    decoupled_weight_decay = True
    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445,
                 muon_b=-4.7750, muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True,
                 rms_rate=0.2, **kwargs):
        owner = "Muon"
        self.adam_beta_1 = _unit_interval(owner, "adam_beta_1", adam_beta_1)
        self.adam_beta_2 = _unit_interval(owner, "adam_beta_2", adam_beta_2)
        self.adam_weight_decay = _optional_number(owner, "adam_weight_decay", adam_weight_decay)
        self.epsilon = _optional_number(owner, "epsilon", epsilon)
        if exclude_layers is None:
            exclude_layers = []
        if isinstance(exclude_layers, str) or not all(isinstance(k, str) for k in exclude_layers):
            raise TypeError(f"Muon: exclude_layers must be a list of strings (regular expressions matched against "
                            f"the weights' names), got {exclude_layers!r}")
        for keyword in exclude_layers:
            try:
                re.compile(keyword)
            except re.error as error:
                raise ValueError(f"Muon: exclude_layers entry {keyword!r} is not a regular expression: {error}") from None
        self.exclude_layers = list(exclude_layers)
        self.exclude_embeddings = bool(exclude_embeddings)
        self.muon_a = validate.finite_float(muon_a, "muon_a", owner)
        self.muon_b = validate.finite_float(muon_b, "muon_b", owner)
        self.muon_c = validate.finite_float(muon_c, "muon_c", owner)
        self.adam_lr_ratio = validate.finite_float(adam_lr_ratio, "adam_lr_ratio", owner, low=0.0)
        self.momentum = _unit_interval(owner, "momentum", momentum)
        self.ns_steps = validate.non_negative_int(ns_steps, "ns_steps", owner)
        self.nesterov = bool(nesterov)
        self.rms_rate = _optional_number(owner, "rms_rate", rms_rate)
        super().__init__(learning_rate, weight_decay=weight_decay, **kwargs)

    def _uses_adam(self, index, param):
        """True for the weights that get the AdamW step: not 2-D, an embedding, or named in ``exclude_layers``."""
        if param.ndim != 2:
            return True
        name = self._params[index].name or ""
        if self.exclude_embeddings and "embedding" in name.lower():
            return True
        return any(re.search(keyword, name) for keyword in self.exclude_layers)

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        adam = self._uses_adam(index, param)
        decay = self.adam_weight_decay if adam else self.weight_decay
        if decay:
            param -= param.dtype.type(learning_rate * decay) * param
        m = self._slot("momentum", index, param)
        if adam:
            v = self._slot("velocity", index, param)
            t = self.iterations
            alpha = learning_rate * self.adam_lr_ratio * math.sqrt(1.0 - self.adam_beta_2**t) / (
                1.0 - self.adam_beta_1**t)
            m += param.dtype.type(1.0 - self.adam_beta_1) * (grad - m)
            v += param.dtype.type(1.0 - self.adam_beta_2) * (grad * grad - v)
            param -= param.dtype.type(alpha) * m / (xp.sqrt(v) + param.dtype.type(self.epsilon))
            return
        m *= param.dtype.type(self.momentum)
        m += grad
        direction = grad + param.dtype.type(self.momentum) * m if self.nesterov else m
        update = self.zeropower_via_newtonschulz5(direction, self.ns_steps)
        scale = learning_rate if self.rms_rate is None else (
            learning_rate * math.sqrt(max(param.shape)) * self.rms_rate)
        param -= param.dtype.type(scale) * update

    def zeropower_via_newtonschulz5(self, x, steps):
        """The matrix ``x`` with its singular values pushed towards 1 by ``steps`` quintic Newton-Schulz iterations.

        Examples:
            >>> import numpy
            >>> x = Muon().zeropower_via_newtonschulz5(numpy.diag([4.0, 1.0]), 5)
            >>> [round(v, 1) for v in numpy.diag(x).tolist()]   # singular values 4 and 1 both become about 0.7
            [0.7, 0.7]
        """
        if x.ndim < 2:
            raise ValueError(f"Muon: Newton-Schulz needs a matrix (at least 2 dimensions), got shape {x.shape}")
        xp = get_array_module(x)
        a, b, c = (x.dtype.type(v) for v in (self.muon_a, self.muon_b, self.muon_c))
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = xp.swapaxes(x, -1, -2)
        x = x / (xp.sqrt(xp.sum(x * x, axis=(-2, -1), keepdims=True)) + x.dtype.type(1e-7))
        for _ in range(int(steps)):
            gram = x @ xp.swapaxes(x, -1, -2)
            x = a * x + (b * gram + c * gram @ gram) @ x
        return xp.swapaxes(x, -1, -2) if tall else x

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "adam_weight_decay": self.adam_weight_decay, "epsilon": self.epsilon,
                "exclude_layers": list(self.exclude_layers), "exclude_embeddings": self.exclude_embeddings,
                "muon_a": self.muon_a, "muon_b": self.muon_b, "muon_c": self.muon_c,
                "adam_lr_ratio": self.adam_lr_ratio, "momentum": self.momentum, "ns_steps": self.ns_steps,
                "nesterov": self.nesterov, "rms_rate": self.rms_rate}


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024), Keras's rule: no learning-rate schedule needed; the weights are
    an interpolation between a fast sequence ``z`` (slot ``momentum``, starting at the weights) and its running
    average ``x``.

    At step ``t`` (1 on the first update), with the learning rate warmed up linearly over ``warmup_steps``
    (``lr * min(t / warmup_steps, 1)``): ``v += (1 - beta_2) * (g**2 - v)``,
    ``z -= lr * g / (sqrt(v / (1 - beta_2**t)) + epsilon)``; the average is recovered from the weights
    ``y`` as ``x = (y - (1 - beta_1) * z_old) / beta_1``, moved as ``x = (1 - 1/t) * x + z / t``, and the
    weights become ``y = (1 - beta_1) * z + beta_1 * x``. ``weight_decay`` (Keras's, decoupled) first shrinks
    the weights, ``y -= lr * weight_decay * y``, with the learning rate before warm-up.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True, dtype="float64")
        >>> opt = ScheduleFreeAdamW(0.1, params=[w])
        >>> w.grad = nerve.tensor([2.0], dtype="float64"); _ = opt.step()
        >>> round(w.item(), 6)   # on the first step x becomes z, which moved by lr
        0.9
    """

    decoupled_weight_decay = True
    slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0, **kwargs):
        owner = "ScheduleFreeAdamW"
        self.beta_1 = validate.finite_float(beta_1, "beta_1", owner, low=0.0, strict=True, high=1.0)
        self.beta_2 = _unit_interval(owner, "beta_2", beta_2)
        self.epsilon = _optional_number(owner, "epsilon", epsilon)
        self.warmup_steps = validate.non_negative_int(warmup_steps, "warmup_steps", owner)
        super().__init__(learning_rate, **kwargs)

    def update_step(self, index, param, grad, learning_rate):
        xp = get_array_module(grad)
        t = self.iterations
        momenta = self._slots.setdefault("momentum", [None] * len(self._params))
        if momenta[index] is None:  # z starts at the weights (Keras copies them when it builds)
            momenta[index] = param.copy()
        z = momenta[index]
        if self.weight_decay:
            param -= param.dtype.type(learning_rate * self.weight_decay) * param
        lr = learning_rate * min(t / self.warmup_steps, 1.0) if self.warmup_steps > 0 else learning_rate
        one = param.dtype.type
        v = self._slot("velocity", index, param)
        z_old = z.copy()
        v += one(1.0 - self.beta_2) * (grad * grad - v)
        z -= one(lr) * grad / (xp.sqrt(v / one(1.0 - self.beta_2**t)) + one(self.epsilon))
        x = (param - one(1.0 - self.beta_1) * z_old) / one(self.beta_1)
        x = one(1.0 - 1.0 / t) * x + one(1.0 / t) * z
        param[...] = one(1.0 - self.beta_1) * z + one(self.beta_1) * x

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


ALL_OPTIMIZERS = {cls.__name__.lower(): cls for cls in (SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Nadam, Adamax,
                                                         Lion)}

# update rules known to be elementwise (safe to run once over all parameters packed together);
# a subclass that overrides update_step is updated parameter by parameter
_ELEMENTWISE_UPDATES = frozenset(cls.update_step for cls in ALL_OPTIMIZERS.values())


def serialize(optimizer):
    """Return ``{"class_name": ..., "config": ...}`` for an optimizer (JSON-serialisable; no parameters).

    Examples:
        >>> serialize(SGD(0.1))["class_name"]
        'SGD'
    """
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize() expected an Optimizer, got {type(optimizer).__name__}")
    return registry.serialize(optimizer, "optimizer")


registry.register_builtins("optimizer", [*ALL_OPTIMIZERS.values(), LossScaleOptimizer], ALL_OPTIMIZERS)
# per-parameter (not elementwise) updates: never packed, registered apart from ALL_OPTIMIZERS
registry.register_builtins("optimizer", [Ftrl, Lamb, Adafactor], {"ftrl": Ftrl, "lamb": Lamb, "adafactor": Adafactor})
registry.register_builtins("optimizer", [Muon, ScheduleFreeAdamW],
                          {"muon": Muon, "schedulefreeadamw": ScheduleFreeAdamW})


def _lookup(name):
    cls = registry.lookup("optimizer", name)
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise registry.UnknownObjectError(f"{name!r} does not name an optimizer class")
    return cls


def deserialize(config, custom_objects=None):
    """Build an optimizer from :func:`serialize` output.

    Examples:
        >>> opt = deserialize({"class_name": "Adam", "config": {"learning_rate": 0.01}})
        >>> type(opt).__name__, opt.learning_rate
        ('Adam', 0.01)
    """
    return registry.deserialize("optimizer", config, base=Optimizer, custom_objects=custom_objects)


def get(identifier):
    """Return an optimizer from a name (case-insensitive), a serialized dict, a class or an instance.

    Valid names: 'adadelta', 'adagrad', 'adam', 'adamw', 'rmsprop', 'sgd'
    (built with their default arguments).

    Examples:
        >>> type(get("Adam")).__name__
        'Adam'
        >>> get("adamm")
        Traceback (most recent call last):
        ...
        nerve.engine.registry.UnknownObjectError: unknown optimizer 'adamm': it is not one of nerve's built-in optimizers and not registered. ...
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(
        f"optimizers.get() expected a name, a dict or an Optimizer, got {type(identifier).__name__}; "
        f"valid names: {', '.join(sorted(ALL_OPTIMIZERS))}"
    )
