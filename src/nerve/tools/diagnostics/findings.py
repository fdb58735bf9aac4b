"""Findings: what a diagnostic noticed, in plain words, with the numbers behind it.

Every check in :mod:`nerve.diagnostics` reports :class:`Finding` objects, so
callbacks, functions and the HTML report share one format.

Examples:
    >>> f = Finding("dead_relu", "warning", "62% of the units of 'dense' never activate", layer="dense",
    ...             suggestion="lower the learning rate", numbers={"dead_fraction": 0.62})
    >>> print(f)
    [warning] dead_relu (dense): 62% of the units of 'dense' never activate. Try: lower the learning rate
"""

from __future__ import annotations

import dataclasses
import math

import numpy

from nerve.engine.tensor import Tensor

#: kinds of findings, for reference and for the report's legend
KINDS = {
    "vanishing_gradients": "gradients shrink by orders of magnitude on their way back to the input layers",
    "exploding_gradients": "gradients grow by orders of magnitude on their way back, or over training",
    "dead_relu": "ReLU units that output zero for every example: they no longer learn",
    "saturation": "sigmoid/tanh units stuck near their flat ends, where the derivative is almost zero",
    "loss_not_decreasing": "the training loss is not going down",
    "divergence": "the training loss goes up or blows up: the learning rate is probably too high",
    "nonfinite": "NaN or infinite values in the loss, activations, gradients or weights",
    "large_updates": "each step changes the weights by a large fraction of their size",
    "small_updates": "each step changes the weights by a tiny fraction of their size",
}

SEVERITIES = ("info", "warning", "error")


@dataclasses.dataclass
class Finding:
    """One observation of a diagnostic.

    Attributes:
        kind: one of :data:`KINDS` (``"vanishing_gradients"``, ``"dead_relu"``...).
        severity: ``"info"``, ``"warning"`` or ``"error"``.
        message: what was seen, in plain words, with the numbers.
        layer: the layer concerned (its name), or None for the whole model.
        suggestion: what to try.
        numbers: the measurements behind the message.
        epoch: the epoch (0-based) where it was first seen, when found during training.

    Examples:
        >>> Finding("nonfinite", "error", "NaN in the output of 'dense_2'", layer="dense_2").to_dict()["layer"]
        'dense_2'
    """

    kind: str
    severity: str
    message: str
    layer: str | None = None
    suggestion: str = ""
    numbers: dict = dataclasses.field(default_factory=dict)
    epoch: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Finding: unknown kind {self.kind!r}; valid kinds: {', '.join(sorted(KINDS))}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding: unknown severity {self.severity!r}; valid: {', '.join(SEVERITIES)}")

    def __str__(self):
        where = f" ({self.layer})" if self.layer else ""
        when = f" [epoch {self.epoch + 1}]" if self.epoch is not None else ""
        text = f"[{self.severity}] {self.kind}{where}{when}: {self.message}"
        if self.suggestion:
            text += f". Try: {self.suggestion}"
        return text

    def to_dict(self):
        """A JSON-serialisable dict (numbers as plain floats)."""
        out = dataclasses.asdict(self)
        out["numbers"] = jsonable(self.numbers)
        return out

    @classmethod
    def from_dict(cls, data):
        """Rebuild a finding from :meth:`to_dict` output."""
        return cls(**data)


def jsonable(value):
    """Turn NumPy scalars/arrays, Tensors and tuples into JSON-friendly Python values (NaN/inf as strings).

    Examples:
        >>> import numpy as np
        >>> jsonable({"a": np.float32(0.5), "b": (1, np.int64(2)), "c": float("nan")})
        {'a': 0.5, 'b': [1, 2], 'c': 'nan'}
    """
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, numpy.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (numpy.integer,)):
        return int(value)
    if isinstance(value, (numpy.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, numpy.bool_):
        return bool(value)
    return value


def format_findings(findings, empty="no problems found"):
    """Findings as text, one per line, most severe first.

    Examples:
        >>> print(format_findings([]))
        no problems found
    """
    if not findings:
        return empty
    order = {s: i for i, s in enumerate(reversed(SEVERITIES))}
    return "\n".join(str(f) for f in sorted(findings, key=lambda f: order[f.severity]))
