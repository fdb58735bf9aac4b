"""Search spaces in plain Python: float ranges (optionally log scale), integers, categorical choices, fixed values.

A parameter may be *conditional*: ``when="n_layers >= 3"`` (or any callable
taking the values drawn so far) makes it exist only in the trials where the
condition holds. Parameters are drawn in the order they are declared, so a
condition can only look at parameters declared before it.

Everything is checked when the space is built, before any training: an empty
space, ``low > high``, a log range that reaches zero, empty or duplicated
choices and conditions on unknown names raise ``ValueError``.

Examples:
    >>> from nerve.tools.tuning import SearchSpace, Float, Int, Categorical
    >>> space = SearchSpace(
    ...     learning_rate=Float(1e-4, 1e-1, log=True),
    ...     n_layers=Int(1, 3),
    ...     units_3=Int(16, 256, log=True, when="n_layers >= 3"),
    ...     activation=Categorical(["relu", "tanh"]),
    ...     batch_size=64,                      # fixed: passed to every trial, not searched
    ... )
    >>> space.names
    ['learning_rate', 'n_layers', 'units_3', 'activation']
    >>> Int(4, 1)
    Traceback (most recent call last):
    ...
    ValueError: Int: low must be <= high, got low=4 > high=1
"""

from __future__ import annotations

import ast
import itertools
import math
import numbers
import operator
import re

_OPERATORS = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
}
_CONDITION = re.compile(r"^\s*([A-Za-z_]\w*)\s*(==|!=|>=|<=|>|<|not\s+in|in)\s*(.+?)\s*$")
_CHOICE_TYPES = (type(None), bool, int, float, str)
MAX_GRID_SIZE = 100_000


class Condition:
    """``"name op value"`` (ops ``== != >= <= > < in, not in``), e.g. ``"n_layers >= 3"`` or ``"optimizer == 'sgd'"``.

    A condition on a parameter that is itself inactive in a trial is false.

    Examples:
        >>> c = Condition("n_layers >= 3")
        >>> c({"n_layers": 3}), c({"n_layers": 2}), c({})
        (True, False, False)
        >>> Condition("optimizer in ['sgd', 'rmsprop']")({"optimizer": "sgd"})
        True
    """

    def __init__(self, text):
        match = _CONDITION.match(str(text))
        if match is None:
            raise ValueError(
                f"cannot read the condition {text!r}: expected 'NAME OP VALUE' with OP one of "
                f"{sorted(_OPERATORS)}, e.g. 'n_layers >= 3' or \"optimizer == 'sgd'\""
            )
        self.text = str(text).strip()
        self.name, op, raw = match.groups()
        self.op = " ".join(op.split())
        try:
            self.value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            if not re.fullmatch(r"[A-Za-z_][\w.-]*", raw):
                raise ValueError(f"cannot read the value {raw!r} in the condition {text!r}: use a number, a quoted "
                                 "string, a bare word or a list, e.g. 'n_layers >= 3'") from None
            self.value = raw  # a bare word: optimizer == sgd
        if self.op in ("in", "not in") and not isinstance(self.value, (list, tuple, set, str)):
            raise ValueError(f"condition {text!r}: '{self.op}' needs a list of values, got {self.value!r}")

    @property
    def names(self):
        return [self.name]

    def __call__(self, params):
        if self.name not in params:
            return False
        try:
            return bool(_OPERATORS[self.op](params[self.name], self.value))
        except TypeError:
            return False

    def __repr__(self):
        return self.text


def _condition(when, owner):
    if when is None or callable(when) and not isinstance(when, str):
        return when
    if isinstance(when, str):
        return Condition(when)
    raise ValueError(f"{owner}: when= must be a condition string like 'n_layers >= 3' or a callable, got {when!r}")


def _check_number(owner, name, value, integer=False):
    kinds = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds):
        what = "an integer" if integer else "a number"
        raise ValueError(f"{owner}: {name} must be {what}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}")


class Param:
    """Base of the parameter kinds; ``when`` makes the parameter conditional."""

    kind = "param"

    def __init__(self, when=None):
        self.when = _condition(when, type(self).__name__)
        self.name = None  # set by SearchSpace

    def active(self, params):
        """Whether this parameter exists given the values drawn before it."""
        if self.when is None:
            return True
        try:
            return bool(self.when(params))
        except KeyError:
            return False

    def grid_values(self):  # pragma: no cover - overridden
        raise NotImplementedError

    def describe(self):
        """A JSON-able description (stored with the study to detect a changed space on resume)."""
        out = {"type": self.kind, **self._fields()}
        if self.when is not None:
            out["when"] = repr(self.when) if isinstance(self.when, Condition) else "<callable>"
        return out

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        when = f", when={self.when!r}" if self.when is not None else ""
        return f"{type(self).__name__}({fields}{when})"


class Float(Param):
    """A real number in ``[low, high]``; ``log=True`` draws uniformly in log space; ``step`` makes it discrete.

    Examples:
        >>> Float(1e-4, 1e-1, log=True)
        Float(low=0.0001, high=0.1, log=True, step=None)
        >>> Float(0.0, 0.5, step=0.25).grid_values()
        [0.0, 0.25, 0.5]
        >>> Float(0.0, 1.0, log=True)
        Traceback (most recent call last):
        ...
        ValueError: Float: a log range needs low > 0, got low=0.0
    """

    kind = "float"

    def __init__(self, low, high, log=False, step=None, when=None):
        super().__init__(when)
        _check_number("Float", "low", low)
        _check_number("Float", "high", high)
        if low > high:
            raise ValueError(f"Float: low must be <= high, got low={low} > high={high}")
        if log and low <= 0:
            raise ValueError(f"Float: a log range needs low > 0, got low={low}")
        if step is not None:
            _check_number("Float", "step", step)
            if step <= 0:
                raise ValueError(f"Float: step must be > 0, got {step}")
            if log:
                raise ValueError("Float: step and log=True cannot be combined (Optuna draws either on a grid or in log space)")
        self.low, self.high, self.log, self.step = float(low), float(high), bool(log), step

    def _fields(self):
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}

    def grid_values(self):
        if self.step is None:
            raise ValueError(
                f"grid search needs a finite set of values, but '{self.name}' is a continuous Float({self.low}, "
                f"{self.high}); give it a step=..., or declare it as Categorical([...])"
            )
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def suggest(self, trial):
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)


class Int(Param):
    """An integer in ``[low, high]`` (both included), every ``step``; ``log=True`` favours small values.

    Examples:
        >>> Int(1, 3).grid_values()
        [1, 2, 3]
        >>> Int(16, 256, log=True)
        Int(low=16, high=256, log=True, step=1)
    """

    kind = "int"

    def __init__(self, low, high, step=1, log=False, when=None):
        super().__init__(when)
        for name, value in (("low", low), ("high", high), ("step", step)):
            _check_number("Int", name, value, integer=True)
        if low > high:
            raise ValueError(f"Int: low must be <= high, got low={low} > high={high}")
        if step < 1:
            raise ValueError(f"Int: step must be >= 1, got {step}")
        if log and low < 1:
            raise ValueError(f"Int: a log range needs low >= 1, got low={low}")
        if log and step != 1:
            raise ValueError("Int: step and log=True cannot be combined")
        self.low, self.high, self.step, self.log = int(low), int(high), int(step), bool(log)

    def _fields(self):
        return {"low": self.low, "high": self.high, "log": self.log, "step": self.step}

    def grid_values(self):
        return list(range(self.low, self.high + 1, self.step))

    def suggest(self, trial):
        return trial.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)


class Categorical(Param):
    """One of a list of choices (``None``, bool, int, float or str values, as Optuna stores them).

    Examples:
        >>> Categorical(["relu", "tanh"]).grid_values()
        ['relu', 'tanh']
        >>> Categorical([])
        Traceback (most recent call last):
        ...
        ValueError: Categorical: choices is empty; give at least one value
    """

    kind = "categorical"

    def __init__(self, choices, when=None):
        super().__init__(when)
        if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
            raise ValueError(f"Categorical: choices must be a list of values, got {choices!r}")
        choices = list(choices)
        if not choices:
            raise ValueError("Categorical: choices is empty; give at least one value")
        for value in choices:
            if not isinstance(value, _CHOICE_TYPES):
                raise ValueError(
                    f"Categorical: choice {value!r} is a {type(value).__name__}; choices must be None, bool, int, "
                    "float or str (encode tuples such as layer sizes as strings, e.g. '128-64')"
                )
        seen = []
        for value in choices:
            if any(type(value) is type(s) and value == s for s in seen):
                raise ValueError(f"Categorical: choice {value!r} is listed twice in {choices}")
            seen.append(value)
        self.choices = choices

    def _fields(self):
        return {"choices": list(self.choices)}

    def grid_values(self):
        return list(self.choices)

    def suggest(self, trial):
        return trial.suggest_categorical(self.name, self.choices)


_KINDS = {"float": Float, "int": Int, "categorical": Categorical}


def param_from_dict(name, spec):
    """Build a parameter from a config-file entry.

    ``{"type": "float", "low": ..., "high": ..., "log": true}``; ``{"type": "int", ...}``;
    ``{"type": "categorical", "choices": [...]}``; a bare list is categorical; a scalar is fixed.

    Examples:
        >>> param_from_dict("lr", {"type": "float", "low": 1e-4, "high": 1e-1, "log": True})
        Float(low=0.0001, high=0.1, log=True, step=None)
        >>> param_from_dict("act", ["relu", "tanh"])
        Categorical(choices=['relu', 'tanh'])
    """
    if isinstance(spec, Param):
        return spec
    if isinstance(spec, list):
        return Categorical(spec)
    if not isinstance(spec, dict):
        return spec  # a fixed value
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in _KINDS:
        raise ValueError(f"search space entry '{name}': type must be one of {sorted(_KINDS)}, got {kind!r}")
    cls = _KINDS[kind]
    allowed = {"float": {"low", "high", "log", "step", "when"}, "int": {"low", "high", "log", "step", "when"},
               "categorical": {"choices", "when"}}[kind]
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"search space entry '{name}' ({kind}): unknown keys {unknown}; valid keys are {sorted(allowed)}")
    try:
        return cls(**spec)
    except TypeError as error:
        raise ValueError(f"search space entry '{name}' ({kind}): {error}") from None
    except ValueError as error:
        raise ValueError(f"search space entry '{name}': {error}") from None


class SearchSpace:
    """An ordered set of named parameters (plus fixed values) that one trial draws from.

    Args:
        params: a dict ``name -> Float/Int/Categorical/fixed value`` (config-file
            dicts and lists are accepted too), and/or the same as keyword arguments.

    ``sample(trial)`` draws one trial's values through Optuna's ``trial.suggest_*``;
    ``grid()`` lists every distinct combination (conditional parameters are only
    combined where they are active).

    Examples:
        >>> space = SearchSpace(n_layers=Int(1, 2), units_2=Categorical([8, 16], when="n_layers >= 2"))
        >>> space.grid()
        [{'n_layers': 1}, {'n_layers': 2, 'units_2': 8}, {'n_layers': 2, 'units_2': 16}]
        >>> SearchSpace()
        Traceback (most recent call last):
        ...
        ValueError: the search space is empty: declare at least one parameter, e.g. SearchSpace(learning_rate=Float(1e-4, 1e-1, log=True))
    """

    def __init__(self, params=None, **kwargs):
        merged = dict(params or {})
        overlap = sorted(set(merged) & set(kwargs))
        if overlap:
            raise ValueError(f"SearchSpace: {overlap} given both in the dict and as keyword arguments")
        merged.update(kwargs)
        self.params = {}
        self.fixed = {}
        for name, spec in merged.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"SearchSpace: parameter names must be identifiers, got {name!r}")
            value = param_from_dict(name, spec)
            if isinstance(value, Param):
                value.name = name
                self.params[name] = value
            else:
                self.fixed[name] = value
        if not self.params:
            raise ValueError(
                "the search space is empty: declare at least one parameter, e.g. "
                "SearchSpace(learning_rate=Float(1e-4, 1e-1, log=True))"
            )
        declared = []
        for name, param in self.params.items():
            if isinstance(param.when, Condition):
                ref = param.when.name
                if ref == name:
                    raise ValueError(f"SearchSpace: the condition of '{name}' refers to '{name}' itself")
                if ref not in self.params and ref not in self.fixed:
                    raise ValueError(f"SearchSpace: the condition of '{name}' ({param.when}) names '{ref}', which is not "
                                     f"a parameter; parameters are {list(self.params)}")
                if ref in self.params and ref not in declared:
                    raise ValueError(f"SearchSpace: the condition of '{name}' ({param.when}) names '{ref}', which is "
                                     f"declared after it; declare '{ref}' first (parameters are drawn in order)")
            declared.append(name)

    @classmethod
    def from_dict(cls, spec):
        """The space of a config file's ``[space]`` table (see :func:`param_from_dict`).

        Examples:
            >>> SearchSpace.from_dict({"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}}).names
            ['lr']
        """
        if not isinstance(spec, dict):
            raise ValueError(f"the search space must be a table of parameters, got {type(spec).__name__}")
        return cls(spec)

    @property
    def names(self):
        """The searched parameter names, in drawing order."""
        return list(self.params)

    def sample(self, trial):
        """Draw one trial's values through ``trial.suggest_*``; fixed values are added unchanged."""
        values = {}
        for name, param in self.params.items():
            if param.active({**self.fixed, **values}):
                values[name] = param.suggest(trial)
        return {**self.fixed, **values}

    def grid(self):
        """Every distinct combination of the grid values, respecting conditions (a list of dicts)."""
        items = list(self.params.items())
        # validate first: a continuous float fails here with its name
        values = {name: param.grid_values() for name, param in items}

        def expand(index, chosen):
            if index == len(items):
                yield dict(chosen)
                return
            name, param = items[index]
            if not param.active({**self.fixed, **chosen}):
                yield from expand(index + 1, chosen)
                return
            for value in values[name]:
                chosen[name] = value
                yield from expand(index + 1, chosen)
                del chosen[name]

        combos = list(itertools.islice(expand(0, {}), MAX_GRID_SIZE + 1))
        if len(combos) > MAX_GRID_SIZE:
            raise ValueError(f"the grid has more than {MAX_GRID_SIZE} combinations; use strategy='random' or 'tpe'")
        return combos

    def describe(self):
        """A JSON-able description of the space (stored with the study)."""
        return {"params": {name: p.describe() for name, p in self.params.items()},
                "fixed": {k: v if isinstance(v, _CHOICE_TYPES) else repr(v) for k, v in self.fixed.items()}}

    def __repr__(self):
        inner = ", ".join([f"{k}={v!r}" for k, v in self.params.items()] + [f"{k}={v!r}" for k, v in self.fixed.items()])
        return f"SearchSpace({inner})"
