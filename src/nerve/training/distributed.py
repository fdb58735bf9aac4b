"""Data-parallel training over MPI: the same script on N processes, each on its share of every batch.

Under ``mpiexec -n N python train.py``, a script that calls ``nerve.distributed.initialize()`` trains
data-parallel with no other change:

* ``fit`` broadcasts the starting weights and nerve's random state from rank 0, so every process
  shuffles the same order; ``batch_size`` is the *global* batch, and each process computes the
  forward and backward pass of its contiguous share of every batch;
* after the backward pass, the gradients of all processes are summed in **one** ``Allreduce`` over a
  packed buffer, each weighted by its share of the batch, so every process applies the same update
  as one process would on the whole batch (the loss travels in the same buffer);
* metrics are updated on every process from the outputs of the whole batch (gathered), so the
  logs are the same everywhere; only rank 0 prints the progress bar and writes checkpoints and logs.

For a PyTorch-style loop: :func:`broadcast_weights` once, :class:`DistributedOptimizer` around the
optimizer, and :func:`shard` (or ``DataLoader(shard(dataset), ...)``) for each process's data.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.distributed.initialize()               # one process without mpiexec: (0, 1)
    (0, 1)
    >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(1)])
    >>> broadcast_weights(model)
    >>> opt = DistributedOptimizer(nerve.optimizers.SGD(0.1, params=model.parameters()))
    >>> loss = (model(np.ones((4, 3))) ** 2).mean(); loss.backward(); opt.step()
    True
"""

from __future__ import annotations

import numpy

from nerve.blocks.optimizers import Optimizer
from nerve.engine.comm import (DEFAULT_TIMEOUT, DistributedError, abort, allgather_rows, allreduce, barrier,
                               broadcast, broadcast_object, initialize, is_initialized, is_main, rank, size)
from nerve.engine.nest import default_collate
from nerve.engine.tensor import Tensor

__all__ = [
    "DEFAULT_TIMEOUT", "DistributedError", "initialize", "is_initialized", "rank", "size", "is_main", "barrier",
    "allreduce", "broadcast", "broadcast_object", "allgather_rows", "abort", "broadcast_weights",
    "average_gradients", "DistributedOptimizer", "shard", "ShardedDataset", "local_rows", "active",
]


def active():
    """True when training is data-parallel: :func:`initialize` was called and the job has several processes.

    Examples:
        >>> active() == (size() > 1)
        True
    """
    return is_initialized() and size() > 1


def local_rows(n, index=None, count=None):
    """``(start, stop)`` of this process's contiguous share of ``n`` rows (shares differ by at most one).

    Examples:
        >>> local_rows(10, index=0, count=3), local_rows(10, index=2, count=3)
        ((0, 4), (7, 10))
    """
    index = rank() if index is None else index
    count = size() if count is None else count
    base, extra = divmod(int(n), count)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def broadcast_weights(model, root=0):
    """Copy every weight of ``model`` (a layer or model; trainable or not) from ``root`` to all processes.

    Examples:
        >>> import numpy as np, nerve
        >>> d = nerve.layers.Dense(2); _ = d(np.ones((1, 3)))
        >>> broadcast_weights(d)
    """
    if not active():
        return
    weights = [w for _, w, _ in model.named_weights()]
    by_dtype = {}
    for w in weights:
        by_dtype.setdefault(w.data.dtype, []).append(w)
    for dtype, group in by_dtype.items():
        flat = numpy.concatenate([numpy.ascontiguousarray(w.data).ravel() for w in group]) if group else None
        broadcast(flat, root)
        offset = 0
        for w in group:
            w.data[...] = flat[offset:offset + w.size].reshape(w.shape)
            offset += w.size


def average_gradients(params, weight=None, extras=None):
    """Sum the gradients of ``params`` over all processes, each process's scaled by ``weight``, in one Allreduce.

    ``weight`` defaults to ``1 / size()`` (a plain average). A missing gradient counts as zeros. ``extras``
    (a 1-D float array, e.g. this process's loss times its sample count) are summed in the same buffer and
    returned. Gradients are written back in place into each ``param.grad``.

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0, 2.0], requires_grad=True); w.grad = nerve.tensor([0.5, 0.5])
        >>> _ = average_gradients([w]); w.grad.tolist()
        [0.5, 0.5]
    """
    extras = numpy.zeros(0) if extras is None else numpy.asarray(extras, dtype=numpy.float64)
    if not active():
        return extras
    weight = 1.0 / size() if weight is None else float(weight)
    dtype = numpy.result_type(*[p.data.dtype for p in params]) if params else numpy.float64
    total = sum(p.size for p in params)
    buffer = numpy.empty(total + extras.size, dtype=numpy.promote_types(dtype, numpy.float32))
    offset = 0
    for p in params:
        piece = buffer[offset:offset + p.size]
        if p.grad is None:
            piece[...] = 0
        else:
            numpy.multiply(p.grad.data.reshape(-1), weight, out=piece, casting="unsafe")
        offset += p.size
    buffer[offset:] = extras
    allreduce(buffer, out=buffer)
    offset = 0
    for p in params:
        value = buffer[offset:offset + p.size].reshape(p.shape).astype(p.data.dtype, copy=False)
        if p.grad is None:
            p.grad = Tensor(value.copy())
        else:
            p.grad.data[...] = value
        offset += p.size
    return buffer[offset:].astype(numpy.float64)


class DistributedOptimizer:
    """Wrap an optimizer so that ``step()`` first averages the gradients over all processes (one Allreduce).

    Everything else (``zero_grad``, ``learning_rate``, ``state_dict``...) is the wrapped optimizer's.
    Start every process from the same weights (:func:`broadcast_weights`) and give each its own data
    (:func:`shard`).

    Examples:
        >>> import nerve
        >>> w = nerve.tensor([1.0], requires_grad=True)
        >>> opt = DistributedOptimizer(nerve.optimizers.SGD(0.5, params=[w]))
        >>> w.grad = nerve.tensor([1.0]); opt.step(), w.tolist()
        (True, [0.5])
    """

    def __init__(self, optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer wraps a nerve optimizer, got {type(optimizer).__name__}")
        object.__setattr__(self, "optimizer", optimizer)

    def step(self):
        """Average the gradients over the processes, then apply the wrapped optimizer's update."""
        average_gradients(self.optimizer.params)
        return self.optimizer.step()

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def __setattr__(self, name, value):
        setattr(self.optimizer, name, value)

    def __repr__(self):
        return f"DistributedOptimizer({self.optimizer!r})"


class ShardedDataset:
    """This process's share of a dataset: samples ``rank, rank + size, rank + 2 size...``.

    Every process gets the same number of samples (``len(dataset) // size``; the remainder is left out,
    so that averaged gradients weigh every process equally).

    Examples:
        >>> import numpy as np, nerve
        >>> part = ShardedDataset(nerve.data.TensorDataset(np.arange(10)), index=1, count=3)
        >>> len(part), [int(part[i][0]) for i in range(len(part))]
        (3, [1, 4, 7])
    """

    def __init__(self, dataset, index=None, count=None):
        self.dataset = dataset
        self.index = rank() if index is None else int(index)
        self.count = size() if count is None else int(count)
        if not 0 <= self.index < self.count:
            raise ValueError(f"ShardedDataset: index must be in [0, {self.count}), got {self.index}")
        self.length = len(dataset) // self.count

    def __len__(self):
        return self.length

    def _positions(self, indices):
        return numpy.asarray(indices, dtype=numpy.int64) * self.count + self.index

    def __getitem__(self, i):
        if not -self.length <= i < self.length:
            raise IndexError(f"ShardedDataset: index {i} out of range for {self.length} samples")
        return self.dataset[int(self._positions(i % self.length))]

    def get_batch(self, indices):
        """The samples at ``indices`` of this shard, as the wrapped dataset's ``get_batch`` gives them."""
        positions = self._positions(indices)
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(positions)
        return default_collate([self.dataset[int(p)] for p in positions])


def shard(dataset, index=None, count=None):
    """This process's share of ``dataset`` (a :class:`ShardedDataset`), for ``DataLoader(shard(data), ...)``.

    Examples:
        >>> import numpy as np, nerve
        >>> len(shard(nerve.data.TensorDataset(np.arange(8)), index=0, count=2))
        4
    """
    return ShardedDataset(dataset, index, count)

