"""Nested structures (lists, tuples and dicts of values): map a function over the leaves, list the leaves.

Models take and return such nests (a functional model with two inputs takes ``[x1, x2]`` or
``{"image": x1, "meta": x2}``), so the training loop, the functional API and saving walk them.

Examples:
    >>> map_structure({"a": [1, 2], "b": 3}, lambda v: v * 10)
    {'a': [10, 20], 'b': 30}
    >>> flatten({"a": [1, 2], "b": 3})
    [1, 2, 3]
"""

from __future__ import annotations

import numpy

from nerve.engine.backend import to_numpy

__all__ = ["map_structure", "flatten", "default_collate"]


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


def default_collate(samples):
    """Stack a list of samples into a batch, keeping their structure.

    Arrays and numbers are stacked along a new first axis; tuples/lists of
    them become tuples of stacked arrays; dicts become dicts.

    Examples:
        >>> import numpy as np
        >>> batch = default_collate([(np.zeros(2), 1), (np.ones(2), 0)])
        >>> batch[0].shape, batch[1].tolist()
        ((2, 2), [1, 0])
        >>> default_collate([{"a": 1.0}, {"a": 2.0}])["a"].tolist()
        [1.0, 2.0]
    """
    first = samples[0]
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        return tuple(default_collate([sample[i] for sample in samples]) for i in range(len(first)))
    return numpy.stack([_as_numpy(sample) for sample in samples])


def _as_numpy(x):
    """``x`` (array, Tensor or list) as a NumPy array."""
    if hasattr(x, "numpy") and not isinstance(x, numpy.ndarray):
        x = x.numpy()
    return numpy.asarray(to_numpy(x))
