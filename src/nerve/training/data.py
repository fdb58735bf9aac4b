"""Feeding data to models: datasets, batching, splitting, scaling and checks.

* :class:`Dataset`, :class:`TensorDataset` and :class:`DataLoader` turn
  samples into shuffled mini-batches (optionally prepared ahead of time in a
  background thread, or loaded in worker processes with ``num_workers``).
* :func:`train_test_split` and :func:`train_dev_test_split` hold data out for
  evaluation, optionally keeping the class proportions (``stratify``).
* :class:`StandardScaler` and :class:`MinMaxScaler` rescale features; fit them
  on the training split only, so that nothing about the dev and test samples
  leaks into training (their scores would look better than they are).
* :func:`to_categorical` one-hot encodes labels; :func:`validate_arrays`
  catches broken inputs before training starts.

All of these work on NumPy arrays on the CPU (nerve Tensors are accepted and
converted with ``.numpy()``); the model moves batches to its device.

Examples:
    >>> import numpy as np
    >>> from nerve.training.data import TensorDataset, DataLoader
    >>> x, y = np.arange(10.0).reshape(5, 2), np.arange(5)
    >>> [b[1].tolist() for b in DataLoader(TensorDataset(x, y), batch_size=2)]
    [[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import numbers
import os
import pickle
import queue
import secrets
import signal
import threading
import time
import traceback
import weakref
from multiprocessing import shared_memory

import numpy

from nerve.engine import random as nerve_random
from nerve.engine.backend import to_numpy
from nerve.engine.nest import default_collate

__all__ = [
    "Dataset", "TensorDataset", "DataLoader", "default_collate", "train_test_split", "train_dev_test_split",
    "StandardScaler", "MinMaxScaler", "to_categorical", "validate_arrays",
]


def _as_numpy(x):
    """``x`` (array, Tensor or list) as a NumPy array."""
    if hasattr(x, "numpy") and not isinstance(x, numpy.ndarray):
        x = x.numpy()
    return numpy.asarray(to_numpy(x))


def _rng(seed):
    """A private generator for ``seed``, or nerve's shared one when ``seed`` is None."""
    return nerve_random.generator() if seed is None else numpy.random.default_rng(seed)


# ----------------------------------------------------------------- datasets and loading
class Dataset:
    """A map-style dataset: ``len(dataset)`` samples, ``dataset[i]`` returns sample ``i``.

    Subclass it and implement ``__len__`` and ``__getitem__``; a sample is an
    array, a tuple of arrays (inputs, label) or a dict of arrays. A dataset
    that can fetch many samples at once may also define
    ``get_batch(indices)`` returning the already stacked batch; the
    :class:`DataLoader` then uses it instead of fetching sample by sample.

    Examples:
        >>> import numpy as np
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         return np.float32(i), np.float32(i * i)
        >>> next(iter(DataLoader(Squares(), batch_size=4)))[1].tolist()
        [0.0, 1.0, 4.0, 9.0]
    """

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class TensorDataset(Dataset):
    """A dataset over arrays that share their first dimension; sample ``i`` is ``(a[i], b[i], ...)``.

    Batches are sliced from the arrays in one indexing operation
    (:meth:`get_batch`), not assembled sample by sample.

    Examples:
        >>> import numpy as np
        >>> ds = TensorDataset(np.zeros((3, 2)), np.array([7, 8, 9]))
        >>> len(ds), ds[1][1]
        (3, np.int64(8))
        >>> ds.get_batch(np.array([2, 0]))[1].tolist()
        [9, 7]
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_as_numpy(a) for a in arrays)
        lengths = [len(a) if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [a.shape for a in self.arrays]
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension, got shapes {shapes}")

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[index] for a in self.arrays)

    def get_batch(self, indices):
        """The samples at ``indices`` already stacked: a tuple of arrays."""
        return tuple(a[indices] for a in self.arrays)


class _Stop:
    """Marks the end of the batches in the prefetch queue."""


class _WorkerError:
    """Carries an exception raised in the prefetch thread to the consumer."""

    def __init__(self, error):
        self.error = error


def _load_batch(dataset, collate_fn, indices):
    """The batch of ``dataset`` at ``indices``: ``get_batch`` when it has one and no ``collate_fn`` is given."""
    if collate_fn is None and hasattr(dataset, "get_batch"):
        return dataset.get_batch(indices)
    collate = collate_fn or default_collate
    return collate([dataset[int(i)] for i in indices])


def _start_method(context):
    """The ``multiprocessing`` context for ``context``: None picks forkserver where it exists, spawn elsewhere.

    Not fork: forking a process that runs other threads (BLAS pools, PyTorch, a prefetch thread) can
    leave a lock held in the child, which then hangs; Python 3.14 made forkserver the default on Linux for
    this reason. The fork server imports nerve once, so starting workers stays cheap.
    """
    if context is None:
        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["nerve"])
            return ctx
        return multiprocessing.get_context("spawn")
    if isinstance(context, str):
        try:
            return multiprocessing.get_context(context)
        except ValueError:
            methods = ", ".join(multiprocessing.get_all_start_methods())
            raise ValueError(
                f"DataLoader: multiprocessing_context must be None, a start method ({methods}) or a "
                f"multiprocessing context, got {context!r}"
            ) from None
    if hasattr(context, "Process") and hasattr(context, "Queue"):
        return context
    raise ValueError(
        f"DataLoader: multiprocessing_context must be None, a start method name or a multiprocessing context, "
        f"got {context!r}"
    )


class DataLoader:
    """Iterate over a dataset in mini-batches.

    Args:
        dataset: a :class:`Dataset` (anything with ``__len__`` and ``__getitem__``).
        batch_size: samples per batch.
        shuffle: draw a new random order at the start of every epoch (every ``iter``).
        drop_last: skip the last, smaller batch.
        collate_fn: turns a list of samples into a batch (default :func:`default_collate`).
            Datasets with ``get_batch(indices)`` (such as :class:`TensorDataset`)
            are batched in one indexing operation when no ``collate_fn`` is given.
        prefetch: with ``num_workers=0``, prepare up to this many batches ahead in a
            background thread (useful when loading a batch is slow, e.g. reading
            files); 0 loads in the calling thread. With workers, the number of
            batches requested ahead of the one being consumed (0 means
            ``2 * num_workers``).
        seed: shuffle with a private generator seeded with this; by default the
            order comes from :func:`nerve.random.generator` (so ``nerve.random.seed``
            makes it reproducible).
        num_workers: load batches in this many worker processes (0, the default,
            loads in this process). See "Worker processes" below.
        timeout: with workers, seconds to wait for one batch before raising
            ``TimeoutError`` (None waits as long as the workers are alive).
        multiprocessing_context: with workers, the start method (``"fork"``,
            ``"spawn"``, ``"forkserver"``) or a ``multiprocessing`` context; None
            uses forkserver where it exists (Linux) and spawn elsewhere.

    ``len(loader)`` is the number of batches per epoch.

    Worker processes (``num_workers=N > 0``): every ``iter(loader)`` starts N
    processes; each runs the dataset's ``get_batch`` / ``__getitem__`` and the
    collation (so also any augmentation, e.g. a
    :class:`nerve.transforms.TransformedDataset`) for the batches it is handed.
    This process draws the order (exactly as with ``num_workers=0``), sends
    index lists to the workers and yields the batches in order. The arrays of a
    batch come back through shared memory (one segment per batch in flight,
    reused from batch to batch), from which this process copies them at once:
    batches are ordinary NumPy arrays that own their memory. All segments are
    freed, and the workers stop, when the epoch ends, when the loop is left early
    (``break``, an exception, the iterator being garbage collected) or when a
    worker fails: its exception is raised here, same type when possible, with
    the worker's traceback in the message. A worker that dies (killed, out of
    memory) raises a ``RuntimeError`` instead of hanging.

    * Same batches: for a dataset that draws no random numbers, the batches and
      their order (shuffled or not, every epoch) are those of ``num_workers=0``.
    * Randomness in workers: before loading batch ``k`` of an epoch, a worker calls
      ``nerve.random.seed(epoch_seed + k)``. ``epoch_seed`` comes from the
      loader's generator (the ``seed`` one, else nerve's): a hash of its state
      after drawing the order when shuffling (nothing extra is drawn, so the
      order stays that of ``num_workers=0``), one integer drawn from it otherwise.
      Augmentations that draw from :func:`nerve.random.generator` are therefore
      a function of the batch: the same for any ``num_workers >= 1`` and
      across runs with the same seed, and new every epoch.
    * Not guaranteed: augmented batches equal to ``num_workers=0`` ones (there
      the draws continue nerve's generator instead of being reseeded per batch,
      so the generator is also left in a different state); reproducibility of
      transforms created with their own ``seed=``: each worker holds a copy of
      their private generator (with fork, the same copy in every worker).
    * With the ``forkserver`` and ``spawn`` start methods (the defaults: forkserver
      on Linux, spawn on macOS and Windows) the dataset and ``collate_fn`` are pickled to each worker every
      epoch: they must be picklable (defined at module level, no lambdas), and
      the script must guard its entry point with ``if __name__ == "__main__":``.
      Workers should produce NumPy arrays (not GPU arrays).

    Examples:
        >>> import numpy as np
        >>> loader = DataLoader(TensorDataset(np.arange(5)), batch_size=2, shuffle=True, seed=0)
        >>> len(loader), sorted(np.concatenate([b[0] for b in loader]).tolist())
        (3, [0, 1, 2, 3, 4])
        >>> in_workers = DataLoader(TensorDataset(np.arange(5)), batch_size=2, shuffle=True, seed=0, num_workers=2)
        >>> [b[0].tolist() for b in in_workers] == [b[0].tolist() for b in DataLoader(
        ...     TensorDataset(np.arange(5)), batch_size=2, shuffle=True, seed=0)]
        True
    """

    def __init__(self, dataset, batch_size=32, shuffle=False, drop_last=False, collate_fn=None, prefetch=0,
                 seed=None, num_workers=0, timeout=None, multiprocessing_context=None):
        if int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive integer, got {batch_size}")
        if int(prefetch) < 0:
            raise ValueError(f"DataLoader: prefetch must be 0 or more batches, got {prefetch}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(
                f"DataLoader: num_workers must be an integer >= 0 (0 loads in this process), got {num_workers!r}"
            )
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
                                    or not timeout > 0):
            raise ValueError(f"DataLoader: timeout must be a positive number of seconds or None, got {timeout!r}")
        _start_method(multiprocessing_context)  # fail now on a bad value, not at the first epoch
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.prefetch = int(prefetch)
        self.seed = seed
        self.num_workers = int(num_workers)
        self.timeout = None if timeout is None else float(timeout)
        self.multiprocessing_context = multiprocessing_context
        self._generator = None if seed is None else numpy.random.default_rng(seed)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order_generator(self):
        return self._generator if self._generator is not None else nerve_random.generator()

    def _batch_indices(self):
        n = len(self.dataset)
        order = self._order_generator().permutation(n) if self.shuffle else numpy.arange(n)
        for batch in range(len(self)):
            yield order[batch * self.batch_size:(batch + 1) * self.batch_size]

    def _load(self, indices):
        return _load_batch(self.dataset, self.collate_fn, indices)

    def __iter__(self):
        if self.num_workers > 0:
            return self._worker_batches()
        if self.prefetch == 0:
            return (self._load(indices) for indices in self._batch_indices())
        return self._prefetching()

    def _prefetching(self):
        """Yield batches loaded ahead by a worker thread.

        The worker puts batches in a bounded queue; an exception in the worker
        is passed through the queue and raised here. When the consumer stops
        early (``break``, an error, garbage collection), ``finally`` tells the
        worker to stop and empties the queue so a blocked ``put`` returns.
        """
        batches = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        indices = list(self._batch_indices())  # draw the order now, in the caller's thread

        def offer(item):
            while not stop.is_set():
                try:
                    batches.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                for batch_indices in indices:
                    if not offer(self._load(batch_indices)):
                        return
                offer(_Stop)
            except BaseException as error:  # noqa: BLE001 - handed to the consumer
                offer(_WorkerError(error))

        worker = threading.Thread(target=work, name="nerve-DataLoader-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                item = batches.get()
                if item is _Stop:
                    return
                if isinstance(item, _WorkerError):
                    raise item.error
                yield item
        finally:
            stop.set()
            while not batches.empty():
                try:
                    batches.get_nowait()
                except queue.Empty:
                    break
            worker.join(timeout=5.0)

    def _epoch_seed(self):
        """The seed of this epoch's batches in the workers (batch ``k`` uses ``epoch_seed + k``).

        Called after the order is drawn. When shuffling, a hash of the order
        generator's state (which the permutation just advanced): no number is
        drawn, so the next epochs' orders are those of ``num_workers=0``.
        Otherwise one integer drawn from that generator.
        """
        generator = self._order_generator()
        if not self.shuffle:
            return int(generator.integers(2**62))
        digest = hashlib.blake2b(digest_size=8)
        _hash_state(generator.bit_generator.state, digest)
        return int.from_bytes(digest.digest(), "little") >> 2

    def _worker_batches(self):
        """Yield the batches loaded by ``num_workers`` processes, in order.

        Up to ``prefetch`` (default ``2 * num_workers``) batches are requested
        ahead; results that arrive out of order wait in the pool until their
        turn. ``finally`` stops the workers and frees unread shared memory,
        whatever ends the loop.
        """
        batches = list(self._batch_indices())  # draw the order now, in the caller's process
        if not batches:
            return
        epoch_seed = self._epoch_seed()
        ahead = self.prefetch or 2 * self.num_workers
        pool = _WorkerPool(self.dataset, self.collate_fn, min(self.num_workers, len(batches)), ahead,
                           _start_method(self.multiprocessing_context), self.timeout)
        try:
            submitted = 0
            for number in range(len(batches)):
                while submitted < len(batches) and submitted < number + ahead:
                    pool.submit(submitted, batches[submitted], epoch_seed + submitted)
                    submitted += 1
                yield pool.result(number)
        finally:
            pool.close()


# ----------------------------------------------------------------- worker processes
_SHM_PREFIX = "nerve_dl_"  # shared-memory segments are named nerve_dl_<pid>_<token>_<slot>_<generation>
_POLL_S = 0.1  # how often a waiting process checks that the other side is alive
_JOIN_S = 0.5  # how long stopping workers may finish their batch before they are terminated
_ALIGN = 64  # byte alignment of each array in a batch's segment


def _hash_state(state, digest):
    """Feed a bit generator ``state`` (nested dicts of ints and arrays) into ``digest``."""
    if isinstance(state, dict):
        for key in sorted(state):
            digest.update(str(key).encode())
            _hash_state(state[key], digest)
    elif isinstance(state, numpy.ndarray):
        digest.update(state.tobytes())
    elif isinstance(state, (list, tuple)):
        for item in state:
            _hash_state(item, digest)
    else:
        digest.update(repr(state).encode())


def _map_structure(function, batch):
    """``batch`` (arrays in tuples, lists, dicts, named tuples) with ``function`` applied to every leaf."""
    if isinstance(batch, dict):
        items = {key: _map_structure(function, value) for key, value in batch.items()}
        return items if type(batch) is dict else _same_container(batch, items)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(_map_structure(function, item) for item in batch))
    if isinstance(batch, (tuple, list)):
        items = [_map_structure(function, item) for item in batch]
        return type(batch)(items) if type(batch) in (tuple, list) else _same_container(batch, items)
    return function(batch)


def _same_container(original, items):
    """``items`` in a container of ``type(original)``, or the plain dict/list/tuple when that fails."""
    try:
        return type(original)(items)
    except Exception:  # noqa: BLE001 - a subclass with another constructor
        return items if not isinstance(original, tuple) else tuple(items)


class _Placed:
    """Where one array of a batch lies in its shared-memory segment."""

    def __init__(self, dtype, shape, offset):
        self.dtype, self.shape, self.offset = dtype, shape, offset


def _layout(batch):
    """``batch`` with every (non-object) NumPy array replaced by a :class:`_Placed`, the arrays, and the bytes needed.

    Other leaves (numbers, strings...) stay in the structure, which travels pickled.
    """
    arrays, total = [], 0

    def place(leaf):
        nonlocal total
        if isinstance(leaf, numpy.ndarray) and not leaf.dtype.hasobject:
            placed = _Placed(leaf.dtype, leaf.shape, total)
            arrays.append((leaf, placed))
            total += -(-leaf.nbytes // _ALIGN) * _ALIGN
            return placed
        return leaf

    return _map_structure(place, batch), arrays, total


def _copy_in(arrays, segment):
    for leaf, placed in arrays:
        if leaf.nbytes:
            numpy.ndarray(leaf.shape, leaf.dtype, buffer=segment.buf, offset=placed.offset)[...] = leaf


def _copy_out(structure, segment):
    """The batch described by ``structure``, its arrays copied out of ``segment`` (arrays that own their memory)."""

    def copy(leaf):
        if not isinstance(leaf, _Placed):
            return leaf
        if segment is None or math.prod(leaf.shape) == 0 or leaf.dtype.itemsize == 0:
            return numpy.empty(leaf.shape, leaf.dtype)
        return numpy.ndarray(leaf.shape, leaf.dtype, buffer=segment.buf, offset=leaf.offset).copy()

    return _map_structure(copy, structure)


def _unlink_quietly(name):
    """Free segment ``name`` if it exists."""
    try:
        segment = shared_memory.SharedMemory(name=name)
    except (FileNotFoundError, OSError, ValueError):
        return
    segment.close()
    try:
        segment.unlink()
    except FileNotFoundError:
        pass


def _close_quietly(segment):
    try:
        segment.close()
    except BufferError:  # a view is still alive somewhere; the mapping goes with the process
        pass


def _free(segment):
    """Unmap ``segment`` here and delete it."""
    _close_quietly(segment)
    try:
        segment.unlink()
    except FileNotFoundError:
        pass


def _worker_loop(worker_id, dataset, collate_fn, tasks, results, stop, parent_pid):
    """A worker process: load the batches named in ``tasks`` and report them on ``results``.

    A task is ``(number, indices, batch_seed, slot, name, size, next_name)``:
    the arrays go into the slot's segment ``name`` when they fit in its
    ``size`` bytes, else into a new segment ``next_name`` (which the main
    process then adopts for the slot). None ends the loop, as do ``stop`` and
    the parent's death. Results are ``("ok", number, structure, new_size)``
    (``new_size`` 0 when the slot's segment was reused or none was needed) or
    ``("error", number, ...)``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it stops the workers
    results.cancel_join_thread()  # exiting never waits for the main process to read
    attached = {}  # slot -> (name, SharedMemory) mapped in this worker
    while not stop.is_set():
        try:
            task = tasks.get(timeout=5 * _POLL_S)
        except queue.Empty:
            if os.getppid() != parent_pid:
                return  # orphaned: the main process is gone
            continue
        if task is None:
            return
        number, indices, batch_seed, slot, name, size, next_name = task
        try:
            nerve_random.seed(batch_seed)
            batch = _load_batch(dataset, collate_fn, indices)
            if stop.is_set():
                return
            structure, arrays, total = _layout(batch)
            new_size = 0
            if total:
                if slot in attached and attached[slot][0] != name:
                    _close_quietly(attached.pop(slot)[1])
                if name is not None and total <= size:
                    if slot not in attached:
                        attached[slot] = (name, shared_memory.SharedMemory(name=name))
                    _copy_in(arrays, attached[slot][1])
                else:  # no segment yet, or too small: a new one, with room for somewhat larger batches
                    new_size = max(total, size + size // 2)
                    segment = shared_memory.SharedMemory(name=next_name, create=True, size=new_size)
                    try:
                        _copy_in(arrays, segment)
                    except BaseException:
                        _free(segment)
                        raise
                    attached[slot] = (next_name, segment)
            message = ("ok", number, structure, new_size)
        except Exception as error:  # noqa: BLE001 - reported to the main process
            message = ("error", number, worker_id, os.getpid(), _pickled(error), type(error).__name__, str(error),
                       traceback.format_exc())
        results.put(message)


def _pickled(error):
    """``error`` pickled, or None when it cannot be (the main process then raises a RuntimeError)."""
    try:
        return pickle.dumps(error)
    except Exception:  # noqa: BLE001
        return None


class _KeyErrorMessage(str):
    """A KeyError message shown as is (KeyError prints the repr of its argument)."""

    def __repr__(self):
        return str(self)


def _worker_exception(pickled, type_name, text, message):
    """An exception of the worker's type (else RuntimeError) whose message is ``message``."""
    try:
        error_type = type(pickle.loads(pickled)) if pickled is not None else None
    except Exception:  # noqa: BLE001 - e.g. a class the main process cannot import
        error_type = None
    try:
        return error_type(_KeyErrorMessage(message) if issubclass(error_type, KeyError) else message)
    except Exception:  # noqa: BLE001 - no type (None), or a constructor that takes other arguments
        return RuntimeError(f"{type_name}: {message}")


def _describe_exit(code):
    if code is None or code >= 0:
        return f"with exit code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = {"SIGKILL": " (perhaps by the out-of-memory killer)",
            "SIGBUS": " (perhaps out of shared memory: check the free space of /dev/shm)"}.get(name, "")
    return f"killed by {name}{hint}"


def _segment_name(prefix, slot, generation):
    return f"{prefix}{slot}_{generation}"


def _shutdown_workers(owner, processes, tasks, stop, slots, prefix):
    """Stop the worker processes (terminating those still busy), then free every segment of the pool.

    Only in the process that made the pool (``owner``): a forked child that
    happens to garbage-collect a copy of it must leave the original alone.
    """
    if os.getpid() != owner:
        return
    stop.set()
    for _ in processes:
        try:
            tasks.put(None)
        except (ValueError, OSError):  # the queue is already closed
            break
    deadline = time.monotonic() + _JOIN_S
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(_JOIN_S)
        if process.is_alive():
            process.kill()
            process.join()
    processes.clear()
    # The workers are gone, so no segment can appear any more: free each slot's segment and the
    # one a worker may have created for it without reporting it.
    for slot, state in enumerate(slots):
        segment, _, generation = state
        if segment is not None:
            _free(segment)
        _unlink_quietly(_segment_name(prefix, slot, generation + 1))
        state[:] = [None, 0, generation + 1]
    tasks.cancel_join_thread()  # never block on undelivered tasks
    tasks.close()


class _WorkerPool:
    """The worker processes of one epoch: hand out batches, collect them in order, shut down cleanly.

    Batch ``k`` goes through shared-memory slot ``k % slots``: at most
    ``slots`` batches are in flight, and batch ``k`` is only submitted once
    batch ``k - slots`` has been copied out, so a slot is never used twice at
    once. Each slot keeps its segment from batch to batch (no new memory to
    map and fault in per batch); a batch that does not fit makes the worker
    create a larger one, named ``<prefix><slot>_<generation>``, which the main
    process adopts, freeing the old one.
    """

    def __init__(self, dataset, collate_fn, workers, slots, context, timeout):
        self.timeout = timeout
        self._prefix = f"{_SHM_PREFIX}{os.getpid()}_{secrets.token_hex(3)}_"
        self._tasks = context.Queue()
        self._results = context.Queue()
        self._stop = context.Event()
        self._slots = [[None, 0, 0] for _ in range(slots)]  # [SharedMemory mapped here, size, generation]
        self._pending = {}  # batch number -> indices, submitted and not yet received
        self._ready = {}  # batch number -> batch or exception, received ahead of its turn
        self._processes = []
        self._finalizer = weakref.finalize(self, _shutdown_workers, os.getpid(), self._processes, self._tasks,
                                           self._stop, self._slots, self._prefix)
        if os.name == "posix":
            # One resource tracker for this process and its workers (forked workers would otherwise
            # start their own, which would "clean up" segments this process still uses).
            from multiprocessing import resource_tracker

            resource_tracker.ensure_running()
        method = context.get_start_method()
        try:
            for worker_id in range(workers):
                process = context.Process(
                    target=_worker_loop, name=f"nerve-DataLoader-worker-{worker_id}", daemon=True,
                    args=(worker_id, dataset, collate_fn, self._tasks, self._results, self._stop, os.getpid()),
                )
                process.start()
                self._processes.append(process)
        except Exception as error:
            self.close()
            if method == "fork":
                raise
            raise RuntimeError(
                f"DataLoader: could not start worker processes with the {method!r} start method, which pickles "
                f"the dataset and collate_fn: {type(error).__name__}: {error}. Define them at module level (no "
                f"lambdas or local classes), or use num_workers=0 or multiprocessing_context='fork'"
            ) from error

    def submit(self, number, indices, batch_seed):
        slot = number % len(self._slots)
        segment, size, generation = self._slots[slot]
        name = None if segment is None else _segment_name(self._prefix, slot, generation)
        self._pending[number] = indices
        self._tasks.put((number, indices, batch_seed, slot, name, size,
                         _segment_name(self._prefix, slot, generation + 1)))

    def result(self, number):
        """Batch ``number``, waiting for it; raises the worker's exception if loading it failed."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while number not in self._ready:
            try:
                message = self._results.get(timeout=_POLL_S)
            except queue.Empty:
                self._check_alive(number)
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(
                        f"DataLoader: batch {number} did not arrive from the {len(self._processes)} worker processes "
                        f"within timeout={self.timeout} s; a worker may be stuck in the dataset or collate_fn "
                        f"(raise timeout, or pass None to wait as long as the workers are alive)"
                    ) from None
                continue
            self._accept(message)
        outcome = self._ready.pop(number)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _accept(self, message):
        """Take a worker's report: copy the batch out of its slot at once (freeing the slot), or keep the error."""
        kind, number = message[0], message[1]
        indices = self._pending.pop(number)
        if kind == "ok":
            structure, new_size = message[2], message[3]
            state = self._slots[number % len(self._slots)]
            if new_size:  # the worker made a larger segment for this slot: adopt it, free the old one
                old, _, generation = state
                adopted = shared_memory.SharedMemory(name=_segment_name(self._prefix, number % len(self._slots),
                                                                        generation + 1))
                state[:] = [adopted, new_size, generation + 1]
                if old is not None:
                    _free(old)
            self._ready[number] = _copy_out(structure, state[0])
            return
        _, _, worker_id, pid, pickled, type_name, text, worker_traceback = message
        shown = numpy.asarray(indices).tolist()
        shown = "[" + ", ".join(str(i) for i in shown[:8]) + (", ...]" if len(shown) > 8 else "]")
        self._ready[number] = _worker_exception(pickled, type_name, text, (
            f"{text}\n\nRaised in DataLoader worker {worker_id} (pid {pid}) while loading batch {number} "
            f"(sample indices {shown}). The worker's traceback:\n\n{worker_traceback.rstrip()}"
        ))

    def _check_alive(self, number):
        for worker_id, process in enumerate(self._processes):
            if process.exitcode is not None:
                raise RuntimeError(
                    f"DataLoader worker {worker_id} (pid {process.pid}) exited unexpectedly "
                    f"{_describe_exit(process.exitcode)} while batch {number} was awaited"
                )

    def close(self):
        """Stop the workers and free the segments (idempotent; also run when the pool is garbage collected)."""
        self._finalizer()
        self._ready.clear()


# ----------------------------------------------------------------- splitting
def _split_count(size, n, name):
    """A split size (fraction in (0, 1) or a count) as a number of samples out of ``n``."""
    if isinstance(size, float):  # a fraction
        if not 0.0 < size < 1.0:
            raise ValueError(f"{name} must be a fraction in (0, 1) or a count of samples, got {size}")
        return math.ceil(size * n)
    count = int(size)
    if not 0 < count < n:
        raise ValueError(f"{name} must be a fraction in (0, 1) or a count in [1, {n - 1}], got {size}")
    return count


def _allocate(total, counts, capacity):
    """Split ``total`` between classes in proportion to ``counts`` without exceeding ``capacity``.

    Floors of the proportional shares, then the remaining units go to the
    classes with the largest remainders (largest-remainder apportionment).
    """
    share = total * counts / counts.sum()
    allocation = numpy.minimum(numpy.floor(share).astype(numpy.int64), capacity)
    remainder = numpy.where(allocation < capacity, share - allocation, -numpy.inf)
    for c in numpy.argsort(-remainder, kind="stable")[: total - allocation.sum()]:
        if allocation[c] < capacity[c]:
            allocation[c] += 1
    return allocation


def _split_indices(n, group_sizes, stratify, shuffle, seed):
    """Index arrays for [train, *groups] where ``group_sizes`` are held-out sample counts."""
    if stratify is None:
        order = _rng(seed).permutation(n) if shuffle else numpy.arange(n)
        held_out = sum(group_sizes)
        groups, start = [], n - held_out
        for size in group_sizes:
            groups.append(order[start:start + size])
            start += size
        return [order[: n - held_out], *groups]
    if not shuffle:
        raise ValueError("stratified splitting needs shuffle=True: a stratified split draws samples at random")
    labels = _as_numpy(stratify)
    if len(labels) != n:
        raise ValueError(f"stratify has {len(labels)} labels but the arrays have {n} samples")
    if labels.ndim > 1:  # one-hot labels
        labels = labels.reshape(n, -1).argmax(axis=1) if labels.shape[-1] > 1 else labels.reshape(n)
    classes, label_index = numpy.unique(labels, return_inverse=True)
    counts = numpy.bincount(label_index.reshape(-1), minlength=len(classes))
    generator = _rng(seed)
    capacity = counts.copy()
    allocations = []
    for size in group_sizes:
        allocation = _allocate(size, counts, capacity)
        allocations.append(allocation)
        capacity = capacity - allocation
    groups = [[] for _ in range(len(group_sizes) + 1)]
    for c in range(len(classes)):
        members = generator.permutation(numpy.flatnonzero(label_index == c))
        start = 0
        for g, allocation in enumerate(allocations):
            groups[g + 1].append(members[start:start + allocation[c]])
            start += allocation[c]
        groups[0].append(members[start:])
    return [generator.permutation(numpy.concatenate(group)) for group in groups]


def _check_same_length(arrays, function):
    if not arrays:
        raise ValueError(f"{function} needs at least one array")
    arrays = [_as_numpy(a) for a in arrays]
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(f"{function}: all arrays must have the same number of samples, got lengths {lengths}")
    return arrays, lengths[0]


def train_test_split(*arrays, test_size=0.2, shuffle=True, stratify=None, seed=None):
    """Split arrays into a training and a test part: ``a_train, a_test, b_train, b_test, ...``.

    Args:
        *arrays: arrays with the same first dimension (e.g. ``x, y``).
        test_size: fraction of samples (rounded up) or a number of samples for the test part.
        shuffle: draw the test samples at random; otherwise the test part is the end of the data.
        stratify: labels whose class proportions both parts keep (usually ``y``).
        seed: seed for a private generator; None draws from :func:`nerve.random.generator`.

    Returns:
        A list in scikit-learn's order: train and test of the first array, then of the second...

    Examples:
        >>> import numpy as np
        >>> x, y = np.arange(20).reshape(10, 2), np.array([0] * 5 + [1] * 5)
        >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, stratify=y, seed=0)
        >>> x_train.shape, x_test.shape, sorted(y_test.tolist())
        ((6, 2), (4, 2), [0, 0, 1, 1])
    """
    arrays, n = _check_same_length(arrays, "train_test_split")
    test = _split_count(test_size, n, "test_size")
    train_idx, test_idx = _split_indices(n, [test], stratify, shuffle, seed)
    return [part for a in arrays for part in (a[train_idx], a[test_idx])]


def train_dev_test_split(*arrays, dev_size=0.1, test_size=0.1, stratify=None, shuffle=True, seed=None):
    """Split arrays three ways: training, development (validation) and test.

    Tune on the dev part and look at the test part once, at the end.

    Args:
        *arrays: arrays with the same first dimension (e.g. ``x, y``).
        dev_size: fraction of samples (rounded up) or number of samples of each part.
        test_size: fraction of samples (rounded up) or number of samples of each part.
        stratify: labels whose class proportions all three parts keep.
        shuffle: draw the parts at random; otherwise dev then test are taken from the end.
        seed: seed for a private generator; None draws from :func:`nerve.random.generator`.

    Returns:
        Three tuples ``(train, dev, test)``, each holding one part of every array, in order.

    Examples:
        >>> import numpy as np
        >>> x, y = np.zeros((10, 3)), np.arange(10)
        >>> (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = train_dev_test_split(x, y, seed=0)
        >>> len(x_train), len(x_dev), len(x_test)
        (8, 1, 1)
    """
    arrays, n = _check_same_length(arrays, "train_dev_test_split")
    dev = _split_count(dev_size, n, "dev_size")
    test = _split_count(test_size, n, "test_size")
    if dev + test >= n:
        raise ValueError(f"dev ({dev}) and test ({test}) samples leave no training data out of {n}")
    parts = _split_indices(n, [dev, test], stratify, shuffle, seed)
    return tuple(tuple(a[idx] for a in arrays) for idx in parts)


# ----------------------------------------------------------------- scaling
class _Scaler:
    """Shared machinery: per-feature statistics over axis 0, a fitted check and plain-dict state.

    Why fit on the training split only: the statistics (mean, spread, min,
    max) are part of the model. Computing them on dev or test data would let
    information about those samples leak into training, and the reported
    score would be optimistic. Fit on ``x_train``, then ``transform`` every
    split (and future inputs) with the same numbers.
    """

    _STATE = ()

    def _check_fitted(self, x, action):
        if getattr(self, self._STATE[0]) is None:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted yet: call fit(x_train) before {action}"
            )
        if x.shape[1:] != self.feature_shape:
            raise ValueError(
                f"{type(self).__name__} was fitted on features of shape {self.feature_shape} but got "
                f"data of shape {x.shape} in {action}"
            )

    @staticmethod
    def _input(x):
        x = _as_numpy(x)
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"a scaler needs an array of shape (samples, features...), got shape {x.shape}")
        return x

    @staticmethod
    def _output(values, x):
        return values.astype(x.dtype if x.dtype.kind == "f" else numpy.float32)

    @property
    def feature_shape(self):
        return numpy.shape(getattr(self, self._STATE[0]))

    def fit_transform(self, x):
        """Fit on ``x`` and return ``x`` transformed."""
        return self.fit(x).transform(x)

    def get_state(self):
        """The fitted statistics as a dict of (nested) lists, JSON-ready."""
        return {key: None if getattr(self, key) is None else getattr(self, key).tolist() for key in self._STATE}

    def set_state(self, state):
        """Restore statistics returned by :meth:`get_state`."""
        for key in self._STATE:
            value = state[key]
            setattr(self, key, None if value is None else numpy.asarray(value, dtype=numpy.float64))
        return self


class StandardScaler(_Scaler):
    """Rescale each feature to mean 0 and standard deviation 1: ``(x - mean) / std``.

    Statistics are per feature over axis 0 (the samples). Constant features
    get a scale of 1, so they become 0 instead of dividing by zero.

    Fit it on the training split only, ``scaler.fit(x_train)``, then
    ``scaler.transform(x_dev)``: the mean and deviation are part of the model,
    and computing them on dev or test data would leak information about those
    samples into training and make their scores look better than they are.

    Examples:
        >>> import numpy as np
        >>> scaler = StandardScaler()
        >>> scaler.fit_transform(np.array([[1.0, 5.0], [3.0, 5.0]])).tolist()
        [[-1.0, 0.0], [1.0, 0.0]]
        >>> scaler.inverse_transform(np.array([[0.0, 0.0]])).tolist()
        [[2.0, 5.0]]
        >>> scaler.get_state()
        {'mean': [2.0, 5.0], 'scale': [1.0, 1.0]}
    """

    _STATE = ("mean", "scale")

    def __init__(self):
        self.mean = None
        self.scale = None

    def fit(self, x):
        """Compute the per-feature mean and standard deviation of ``x``; returns self."""
        x = self._input(x).astype(numpy.float64)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.scale = numpy.where(std > 0, std, 1.0)
        return self

    def transform(self, x):
        """Return ``(x - mean) / scale``."""
        x = self._input(x)
        self._check_fitted(x, "transform")
        return self._output((x - self.mean) / self.scale, x)

    def inverse_transform(self, x):
        """Undo :meth:`transform`: ``x * scale + mean``."""
        x = self._input(x)
        self._check_fitted(x, "inverse_transform")
        return self._output(x * self.scale + self.mean, x)

    def get_config(self):
        """Constructor arguments (none)."""
        return {}


class MinMaxScaler(_Scaler):
    """Rescale each feature linearly so its training minimum and maximum map to ``feature_range``.

    ``x_scaled = (x - min) / (max - min) * (high - low) + low``. Constant
    features get a range of 1 (no division by zero). New data may fall outside
    ``feature_range``. Fit it on the training split only (as for
    :class:`StandardScaler`: no information from dev/test data may leak in).

    Examples:
        >>> import numpy as np
        >>> scaler = MinMaxScaler(feature_range=(-1, 1))
        >>> scaler.fit_transform(np.array([[0.0], [5.0], [10.0]])).ravel().tolist()
        [-1.0, 0.0, 1.0]
        >>> scaler.inverse_transform(np.array([[0.5]])).tolist()
        [[7.5]]
    """

    _STATE = ("data_min", "data_max")

    def __init__(self, feature_range=(0.0, 1.0)):
        low, high = feature_range
        if not low < high:
            raise ValueError(f"MinMaxScaler: feature_range must be (low, high) with low < high, got {feature_range}")
        self.feature_range = (float(low), float(high))
        self.data_min = None
        self.data_max = None

    def fit(self, x):
        """Record the per-feature minimum and maximum of ``x``; returns self."""
        x = self._input(x).astype(numpy.float64)
        self.data_min = x.min(axis=0)
        self.data_max = x.max(axis=0)
        return self

    def _scale_and_offset(self):
        low, high = self.feature_range
        data_range = self.data_max - self.data_min
        scale = (high - low) / numpy.where(data_range > 0, data_range, 1.0)
        return scale, low - self.data_min * scale

    def transform(self, x):
        """Return ``x * scale + offset`` mapping the fitted [min, max] to ``feature_range``."""
        x = self._input(x)
        self._check_fitted(x, "transform")
        scale, offset = self._scale_and_offset()
        return self._output(x * scale + offset, x)

    def inverse_transform(self, x):
        """Undo :meth:`transform`."""
        x = self._input(x)
        self._check_fitted(x, "inverse_transform")
        scale, offset = self._scale_and_offset()
        return self._output((x - offset) / scale, x)

    def get_config(self):
        """Constructor arguments."""
        return {"feature_range": list(self.feature_range)}


# ----------------------------------------------------------------- labels and checks
def to_categorical(labels, num_classes=None, dtype="float32"):
    """One-hot encode integer labels: shape ``labels.shape + (num_classes,)``.

    A trailing axis of size 1 (labels of shape (N, 1)) is dropped first.
    ``num_classes`` defaults to ``max(labels) + 1``.

    Examples:
        >>> to_categorical([0, 2, 1]).tolist()
        [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    labels = _as_numpy(labels)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.size and labels.dtype.kind not in "iub":
        if labels.dtype.kind != "f" or not numpy.all(labels == numpy.round(labels)):
            raise ValueError(f"to_categorical needs whole-number labels, got dtype {labels.dtype}")
    labels = labels.astype(numpy.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"to_categorical: labels must be in [0, {num_classes}), got min {labels.min()} and max {labels.max()}"
        )
    return numpy.eye(num_classes, dtype=dtype)[labels]


def _named_arrays(data, name):
    """``data`` (an array, a list/tuple of arrays or a dict of arrays) as [(label, array)]."""
    if isinstance(data, dict):
        return [(f"{name}[{key!r}]", _as_numpy(value)) for key, value in data.items()]
    if isinstance(data, (list, tuple)) and data and all(hasattr(item, "shape") for item in data):
        return [(f"{name}[{i}]", _as_numpy(item)) for i, item in enumerate(data)]
    return [(name, _as_numpy(data))]


def _check_finite(label, array, function):
    if array.dtype.kind not in "fc":
        return
    nan, inf = numpy.isnan(array), numpy.isinf(array)
    if nan.any() or inf.any():
        first = tuple(int(i) for i in numpy.argwhere(nan | inf)[0])
        raise ValueError(
            f"{function}: {label} contains {int(nan.sum())} NaN and {int(inf.sum())} inf values "
            f"(first at index {first}); remove or impute them before training"
        )


def validate_arrays(x, y=None, num_classes=None, name="fit"):
    """Check training inputs and raise a ValueError that says what is wrong.

    Checks that no array is empty, that all inputs (and labels) have the same
    number of samples, that float arrays hold no NaN or inf, and, when
    ``num_classes`` is given, that integer labels lie in ``[0, num_classes)``
    (labels that are one-hot/probabilities, shape (..., num_classes), must
    have that last dimension). ``x`` and ``y`` may be arrays, lists of
    arrays or dicts of arrays (models with several inputs or outputs).

    Args:
        x: inputs. y: targets, or None. num_classes: number of classes for label checks.
        name: the calling function, quoted in messages (``"fit"``, ``"evaluate"``).

    Returns:
        The number of samples.

    Examples:
        >>> import numpy as np
        >>> validate_arrays(np.zeros((4, 2)), np.array([0, 1, 2, 1]), num_classes=3)
        4
        >>> validate_arrays(np.zeros((4, 2)), np.zeros(3))
        Traceback (most recent call last):
        ...
        ValueError: fit: x has 4 samples but y has 3; every sample needs one target
    """
    inputs = _named_arrays(x, "x")
    targets = [] if y is None else _named_arrays(y, "y")
    for label, array in inputs + targets:
        if array.dtype.kind not in "biufc":
            hint = ("; encode string labels as integer class ids first, e.g. classes, y = numpy.unique(y, "
                    "return_inverse=True)" if label.startswith("y") and array.dtype.kind in "USO" else "")
            raise TypeError(f"{name}: {label} must hold numbers (an array of ints or floats), got an array of "
                            f"dtype {array.dtype}{hint}")
        if array.ndim == 0:
            raise ValueError(f"{name}: {label} must be an array of samples, got a scalar")
        if len(array) == 0:
            raise ValueError(f"{name}: {label} is empty (shape {array.shape}); there is nothing to train on")
    lengths = [(label, len(array)) for label, array in inputs + targets]
    (first_label, n) = lengths[0]
    for label, length in lengths[1:]:
        if length != n:
            suffix = "; every sample needs one target" if label.startswith("y") else ""
            raise ValueError(f"{name}: {first_label} has {n} samples but {label} has {length}{suffix}")
    for label, array in inputs + targets:
        _check_finite(label, array, name)
    if num_classes is not None:
        for label, array in targets:
            if array.dtype.kind == "f" and array.ndim > 1 and array.shape[-1] > 1:
                if array.shape[-1] != num_classes:
                    raise ValueError(
                        f"{name}: {label} looks one-hot with {array.shape[-1]} columns (shape {array.shape}) "
                        f"but the model has {num_classes} classes"
                    )
                continue
            low, high = array.min(), array.max()
            if low < 0 or high >= num_classes:
                raise ValueError(
                    f"{name}: labels in {label} must be in [0, {num_classes}) for {num_classes} classes, "
                    f"got min {low} and max {high}"
                )
            if array.dtype.kind == "f" and not numpy.all(array == numpy.round(array)):
                raise ValueError(f"{name}: class labels in {label} must be whole numbers, got fractional values")
    return n
