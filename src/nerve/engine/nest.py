"""Nested structures (lists, tuples and dicts of values): map a function over the leaves, list the leaves.

Models take and return such nests (a functional model with two inputs takes ``[x1, x2]`` or
``{"image": x1, "meta": x2}``), so the training loop, the functional API and saving walk them.

Example:
    >>> map_structure({"a": [1, 2], "b": 3}, lambda v: v * 10)
    {'a': [10, 20], 'b': 30}
    >>> flatten({"a": [1, 2], "b": 3})
    [1, 2, 3]
"""

from __future__ import annotations

__all__ = ["map_structure", "flatten"]


def map_structure(structure, fn):
    """Apply ``fn`` to every leaf of a nest of lists/tuples/dicts, keeping the structure."""
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(v, fn) for v in structure)
    if isinstance(structure, dict):
        return {k: map_structure(v, fn) for k, v in structure.items()}
    return fn(structure)


def flatten(structure):
    """The leaves of a nest of lists/tuples/dicts, in order."""
    if isinstance(structure, (list, tuple)):
        return [x for v in structure for x in flatten(v)]
    if isinstance(structure, dict):
        return [x for v in structure.values() for x in flatten(v)]
    return [structure]
