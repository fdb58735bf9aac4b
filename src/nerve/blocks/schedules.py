"""Learning-rate schedules: the learning rate as a function of the step number.

A schedule is a callable ``schedule(step) -> float``. Pass one to any optimizer
as ``learning_rate``; the optimizer calls it with ``optimizer.iterations``
(0 for the first update) before every step. Schedules are plain Python (no
arrays) and serialise through ``get_config`` / ``from_config``.

Examples:
    >>> from nerve import schedules
    >>> decay = schedules.StepDecay(0.1, step_size=10, gamma=0.5)
    >>> [decay(0), decay(9), decay(10), decay(25)]
    [0.1, 0.1, 0.05, 0.025]
"""

from __future__ import annotations

import bisect
import math

from nerve.engine import registry

__all__ = [
    "ALL_SCHEDULES",
    "LearningRateSchedule", "ExponentialDecay", "StepDecay", "CosineDecay", "LinearWarmup",
    "InverseTimeDecay", "PiecewiseConstantDecay", "PolynomialDecay", "CosineDecayRestarts", "serialize", "get",
    "deserialize",
]


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)`` and ``get_config()``.

    ``from_config(config)`` rebuilds the schedule from ``get_config()`` (the
    constructor arguments). Wrap a schedule in a dict ``{"class_name": ...,
    "config": ...}`` with :func:`serialize` and read it back with :func:`get`.

    Examples:
        >>> class Halving(LearningRateSchedule):
        ...     def __init__(self, initial_learning_rate):
        ...         self.initial_learning_rate = initial_learning_rate
        ...     def __call__(self, step):
        ...         return self.initial_learning_rate / 2 ** step
        ...     def get_config(self):
        ...         return {"initial_learning_rate": self.initial_learning_rate}
        >>> Halving(1.0)(3)
        0.125
        >>> Halving.from_config({"initial_learning_rate": 1.0})(1)
        0.5
    """

    def __call__(self, step):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(step)")

    def get_config(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_positive(owner, name, value):
    if not value > 0:
        raise ValueError(f"{owner}: {name} must be > 0, got {value!r}")


class _RateDecay(LearningRateSchedule):
    """Shared constructor and config of the schedules driven by (initial rate, decay_steps, decay_rate, staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        _check_positive(type(self).__name__, "decay_steps", decay_steps)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    With ``staircase=True`` the exponent is ``step // decay_steps`` (the rate
    drops in steps). Keras semantics.

    Examples:
        >>> s = ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
        >>> s(0), s(10), s(5) == 0.5 ** 0.5
        (1.0, 0.5, True)
        >>> ExponentialDecay(1.0, 10, 0.5, staircase=True)(15)
        0.5
    """

    def __call__(self, step):
        exponent = step // self.decay_steps if self.staircase else step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** exponent


class StepDecay(LearningRateSchedule):
    """``initial_learning_rate * gamma ** (step // step_size)`` (PyTorch's StepLR).

    Examples:
        >>> s = StepDecay(1.0, step_size=3, gamma=0.1)
        >>> [s(0), s(2), s(3)]
        [1.0, 1.0, 0.1]
    """

    def __init__(self, initial_learning_rate, step_size, gamma=0.1):
        _check_positive("StepDecay", "step_size", step_size)
        self.initial_learning_rate = float(initial_learning_rate)
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def __call__(self, step):
        return self.initial_learning_rate * self.gamma ** (step // self.step_size)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "step_size": self.step_size, "gamma": self.gamma}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the initial (or warm-up target) rate down to ``alpha`` times it (Keras semantics).

    Without warm-up (``warmup_target=None``)::

        lr(step) = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)

    with ``s = min(step, decay_steps)``. With ``warmup_target`` set, the rate
    first rises linearly from ``initial_learning_rate`` to ``warmup_target``
    over ``warmup_steps`` steps, then decays from ``warmup_target`` as above
    over the next ``decay_steps`` steps.

    Examples:
        >>> s = CosineDecay(1.0, decay_steps=10, alpha=0.1)
        >>> s(0), round(s(5), 6), round(s(10), 6), round(s(50), 6)
        (1.0, 0.55, 0.1, 0.1)
        >>> w = CosineDecay(0.0, decay_steps=10, warmup_steps=5, warmup_target=1.0)
        >>> w(0), w(1), w(5)
        (0.0, 0.2, 1.0)
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, warmup_steps=0, warmup_target=None):
        _check_positive("CosineDecay", "decay_steps", decay_steps)
        if warmup_target is not None and not warmup_steps > 0:
            raise ValueError(f"CosineDecay: warmup_target is set, so warmup_steps must be > 0, got {warmup_steps!r}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.alpha = float(alpha)
        self.warmup_steps = warmup_steps
        self.warmup_target = None if warmup_target is None else float(warmup_target)

    def _decay(self, step, start):
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_steps": self.warmup_steps,
            "warmup_target": self.warmup_target,
        }


class LinearWarmup(LearningRateSchedule):
    """Ramp linearly from ``start`` up to another schedule (or a constant), then follow it.

    For ``step < warmup_steps``: ``start + (target - start) * step / warmup_steps``
    where ``target = schedule(0)``. From then on: ``schedule(step - warmup_steps)``,
    so the wrapped schedule starts once the warm-up ends and the curve is
    continuous.

    Examples:
        >>> w = LinearWarmup(0.1, warmup_steps=4)
        >>> [w(0), w(2), w(4), w(100)]
        [0.0, 0.05, 0.1, 0.1]
        >>> w = LinearWarmup(StepDecay(1.0, step_size=10, gamma=0.5), warmup_steps=2)
        >>> [w(1), w(2), w(12)]
        [0.5, 1.0, 0.5]
    """

    def __init__(self, schedule, warmup_steps, start=0.0):
        _check_positive("LinearWarmup", "warmup_steps", warmup_steps)
        if isinstance(schedule, dict):
            schedule = get(schedule)
        if not callable(schedule):
            schedule = float(schedule)
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.start = float(start)

    def _after(self, step):
        return self.schedule(step) if callable(self.schedule) else self.schedule

    def __call__(self, step):
        if step < self.warmup_steps:
            return self.start + (self._after(0) - self.start) * (step / self.warmup_steps)
        return self._after(step - self.warmup_steps)

    def get_config(self):
        inner = serialize(self.schedule) if callable(self.schedule) else self.schedule
        return {"schedule": inner, "warmup_steps": self.warmup_steps, "start": self.start}


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floor of the ratio with ``staircase``).

    Examples:
        >>> s = InverseTimeDecay(1.0, decay_steps=10, decay_rate=1.0)
        >>> s(0), s(10), s(30)
        (1.0, 0.5, 0.25)
        >>> InverseTimeDecay(1.0, 10, 1.0, staircase=True)(19)
        0.5
    """

    def __call__(self, step):
        ratio = step // self.decay_steps if self.staircase else step / self.decay_steps
        return self.initial_learning_rate / (1.0 + self.decay_rate * ratio)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` up to and including step ``boundaries[0]``, ``values[1]`` up to ``boundaries[1]``, ... (Keras).

    ``values`` has one more entry than ``boundaries``; the last value holds
    after the last boundary.

    Examples:
        >>> s = PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
        >>> [s(0), s(10), s(11), s(20), s(21)]
        [1.0, 1.0, 0.5, 0.5, 0.1]
    """

    def __init__(self, boundaries, values):
        boundaries, values = list(boundaries), [float(v) for v in values]
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"PiecewiseConstantDecay: values needs len(boundaries) + 1 = {len(boundaries) + 1} entries, "
                f"got {len(values)} values for {len(boundaries)} boundaries"
            )
        if boundaries != sorted(boundaries):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must be increasing, got {boundaries}")
        self.boundaries = boundaries
        self.values = values

    def __call__(self, step):
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps`` (Keras semantics)::

        lr(step) = (initial - end) * (1 - s / decay_steps) ** power + end,   s = min(step, decay_steps)

    With ``cycle=True`` the decay restarts: ``decay_steps`` grows to the next multiple that covers ``step``.

    Examples:
        >>> s = PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, power=2.0)
        >>> s(0), s(5), s(10), s(20)
        (1.0, 0.25, 0.0, 0.0)
        >>> PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, cycle=True)(15)
        0.25
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
        _check_positive("PolynomialDecay", "decay_steps", decay_steps)
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = decay_steps
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)
        self.cycle = bool(cycle)

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps = decay_steps * max(math.ceil(step / decay_steps), 1)
        else:
            step = min(step, decay_steps)
        fraction = 1.0 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov and Hutter; Keras semantics): period ``i`` lasts
    ``first_decay_steps * t_mul ** i`` steps and starts from ``m_mul ** i`` times the initial rate; each decays to
    ``alpha`` times it.

    Examples:
        >>> s = CosineDecayRestarts(1.0, first_decay_steps=10)
        >>> s(0), round(s(5), 6), s(10), round(s(20), 6)
        (1.0, 0.5, 1.0, 0.5)
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
        _check_positive("CosineDecayRestarts", "first_decay_steps", first_decay_steps)
        if t_mul <= 0 or m_mul < 0:
            raise ValueError(f"CosineDecayRestarts: t_mul must be > 0 and m_mul >= 0, got {t_mul} and {m_mul}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = first_decay_steps
        self.t_mul, self.m_mul, self.alpha = float(t_mul), float(m_mul), float(alpha)

    def __call__(self, step):
        fraction = step / self.first_decay_steps
        if self.t_mul == 1.0:
            restart = math.floor(fraction)
            fraction -= restart
        else:
            restart = math.floor(math.log(1.0 - fraction * (1.0 - self.t_mul)) / math.log(self.t_mul))
            done = (1.0 - self.t_mul ** restart) / (1.0 - self.t_mul)
            fraction = (fraction - done) / self.t_mul ** restart
        cosine = 0.5 * self.m_mul ** restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha}


ALL_SCHEDULES = {
    cls.__name__: cls
    for cls in (ExponentialDecay, StepDecay, CosineDecay, LinearWarmup, InverseTimeDecay, PiecewiseConstantDecay,
                PolynomialDecay, CosineDecayRestarts)
}


registry.register_builtins("schedule", ALL_SCHEDULES.values())


def serialize(schedule):
    """Return ``{"class_name": ..., "config": ...}`` for a schedule (JSON-serialisable).

    Examples:
        >>> serialize(StepDecay(0.1, step_size=5))
        {'class_name': 'StepDecay', 'config': {'initial_learning_rate': 0.1, 'step_size': 5, 'gamma': 0.1}}
    """
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(
            f"serialize() expected a LearningRateSchedule, got {type(schedule).__name__}; a plain function cannot "
            "be saved: subclass nerve.schedules.LearningRateSchedule and implement get_config()"
        )
    return registry.serialize(schedule, "schedule")


def get(identifier, custom_objects=None):
    """Return a schedule from a ``{"class_name", "config"}`` dict, or a schedule unchanged.

    ``custom_objects`` maps extra class names to your own schedule classes.

    Examples:
        >>> s = get({"class_name": "ExponentialDecay",
        ...          "config": {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5}})
        >>> s(4)
        0.25
        >>> get(s) is s
        True
    """
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if not isinstance(identifier, dict) or "class_name" not in identifier:
        raise TypeError(
            "schedules.get() expected a LearningRateSchedule or a dict {'class_name': ..., 'config': ...}, "
            f"got {identifier!r}"
        )
    return deserialize(identifier, custom_objects)


def deserialize(config, custom_objects=None):
    """Rebuild a learning-rate schedule from :func:`serialize` output; only built-in or registered classes (nothing is imported).

    Examples:
        >>> deserialize({"class_name": "StepDecay", "config": {"initial_learning_rate": 0.1, "step_size": 5}}).step_size
        5
    """
    return registry.deserialize("schedule", config, base=LearningRateSchedule, custom_objects=custom_objects)
