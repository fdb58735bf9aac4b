"""The array-library seam.

Every op asks the tensor for its array module (``xp``) and calls ``xp.exp``,
``xp.matmul``... instead of ``numpy.exp``. NumPy is the module of the CPU; a
GPU library with the NumPy API (CuPy, for instance) is dropped in by
registering it here, without touching op code. Devices (``"cpu"``, ``"gpu"``)
name those modules for placement: :func:`set_device`, :func:`device`,
:func:`to_device`, ``Tensor.to`` and ``model.to`` (see ``docs/devices.md``).

Examples:
    >>> import numpy as np
    >>> from nerve.engine.backend import get_array_module
    >>> get_array_module(np.zeros(3)) is np
    True
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

import numpy

from nerve.engine import config as _config
from nerve.engine.config import *  # noqa: F401,F403  (Keras's backend settings: floatx, epsilon, clear_session...)

__all__ = [
    "PARALLEL_MIN_ELEMENTS",
    "register_array_module", "get_array_module", "to_numpy", "set_num_threads", "get_num_threads",
    "split_batch", "parallel_map", "keep_freed_memory",
    "register_device", "unregister_device", "gpu_available", "set_device", "get_device", "device", "device_of",
    "to_device",
] + _config.__all__

_MODULES = []  # (array type, module) pairs of extra backends, e.g. (cupy.ndarray, cupy)


def register_array_module(array_type, module):
    """Register a NumPy-compatible array library.

    Tensors whose data is an instance of ``array_type`` will run their ops
    through ``module``.

    Examples:
        >>> import numpy as np
        >>> register_array_module(np.ndarray, np)  # a no-op: NumPy is the default
    """
    if array_type is numpy.ndarray:
        return
    _MODULES.append((array_type, module))


def get_array_module(array):
    """Return the array module (``numpy`` or a registered one) that owns ``array``.

    Examples:
        >>> import numpy as np
        >>> get_array_module(np.ones(2)).__name__
        'numpy'
    """
    if _MODULES:
        for array_type, module in _MODULES:
            if isinstance(array, array_type):
                return module
    return numpy


def to_numpy(array):
    """Return ``array`` as a NumPy array (copies from a device when needed).

    Examples:
        >>> import numpy as np
        >>> to_numpy(np.arange(3)).tolist()
        [0, 1, 2]
    """
    if isinstance(array, numpy.ndarray):
        return array
    for entry in _DEVICES.values():
        if isinstance(array, entry.array_type):
            return entry.to_host(array)
    if hasattr(array, "get"):  # CuPy and friends
        return array.get()
    return numpy.asarray(array)


# ------------------------------------------------------------- devices
# A device is a name for an array module plus the two copies between it and the host. "cpu" is NumPy;
# "gpu" is whatever registers under that name: CuPy, registered on first use when it imports and sees a
# GPU, or the stand-in device of the tests. The default device (set_device, the device() context) is
# where new tensors and new weights go; a model's batches go where its weights are.


class _Device:
    __slots__ = ("array_type", "module", "name", "to_device", "to_host")

    def __init__(self, name, module, array_type, to_device, to_host):
        self.name, self.module, self.array_type = name, module, array_type
        self.to_device, self.to_host = to_device, to_host


_DEVICES = {}  # name -> _Device, the devices other than "cpu"
_PLACEMENT = {"device": "cpu", "cupy_tried": False}


def register_device(name, module, to_device=None, to_host=None, array_type=None):
    """Make ``name`` a device whose arrays live in ``module`` (a NumPy-compatible library such as CuPy).

    ``to_device(host_array)`` copies a NumPy array to the device and
    ``to_host(device_array)`` copies back; they default to
    ``module.asarray`` and ``module.asnumpy``, and ``array_type`` to
    ``module.ndarray``. The array type is registered with
    :func:`register_array_module` too, so ops on such arrays run through
    ``module``. CuPy registers itself as ``"gpu"`` the first time ``"gpu"``
    is asked for (when ``cupy`` imports and sees a GPU); the tests register a
    stand-in device the same way.

    Examples:
        >>> import numpy as np
        >>> class Host(np.ndarray):  # a toy "device": NumPy arrays of another type
        ...     pass
        >>> toy = type("toy", (), {"ndarray": Host, "asarray": staticmethod(lambda a: np.array(a).view(Host)),
        ...                        "asnumpy": staticmethod(lambda a: np.array(a))})
        >>> register_device("toy", toy)
        >>> device_of(to_device(np.ones(2), "toy"))
        'toy'
        >>> unregister_device("toy")
    """
    if name == "cpu":
        raise ValueError("register_device: 'cpu' is NumPy and cannot be registered again")
    array_type = array_type if array_type is not None else module.ndarray
    entry = _Device(name, module, array_type, to_device or module.asarray, to_host or module.asnumpy)
    if name in _DEVICES:
        unregister_device(name)
    _DEVICES[name] = entry
    register_array_module(array_type, module)


def unregister_device(name):
    """Forget the device ``name`` (and its array module); the default goes back to ``"cpu"`` if it was ``name``.

    Examples:
        >>> unregister_device("no such device")  # nothing to do
    """
    entry = _DEVICES.pop(name, None)
    if entry is None:
        return
    _MODULES[:] = [(t, m) for t, m in _MODULES if not (t is entry.array_type and m is entry.module)]
    if _PLACEMENT["device"] == name:
        _PLACEMENT["device"] = "cpu"


def _register_cupy():
    """Register CuPy as ``"gpu"`` if it imports and sees a GPU (tried once per process)."""
    if _PLACEMENT["cupy_tried"]:
        return
    _PLACEMENT["cupy_tried"] = True
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() <= 0:
            return
    except Exception:  # noqa: BLE001 - not installed, no driver, no GPU: all mean "no CuPy GPU"
        return
    register_device("gpu", cupy, cupy.asarray, cupy.asnumpy, cupy.ndarray)


def gpu_available():
    """True when the device ``"gpu"`` exists: CuPy with a GPU, or a device registered under that name.

    Examples:
        >>> from nerve import backend
        >>> isinstance(backend.gpu_available(), bool)
        True
    """
    if "gpu" not in _DEVICES:
        _register_cupy()
    return "gpu" in _DEVICES


def _checked(name):
    """``name`` if it is a known device, else a ValueError (RuntimeError for a missing GPU)."""
    if name == "cpu" or name in _DEVICES:
        return name
    if not isinstance(name, str):
        raise TypeError(f"a device is named by a string such as 'cpu' or 'gpu', got {type(name).__name__}")
    if name == "gpu":
        if gpu_available():
            return name
        raise RuntimeError(
            "device 'gpu': no GPU is available. nerve runs on a GPU through CuPy: install it with "
            "pip install 'nerve[gpu]' on a machine with an NVIDIA GPU and its driver "
            "(nerve.backend.gpu_available() says whether one was found)")
    raise ValueError(f"unknown device {name!r}; known devices: {['cpu', *_DEVICES] + ([] if 'gpu' in _DEVICES else ['gpu'])}")


def set_device(name):
    """Make ``name`` (``"cpu"`` or ``"gpu"``) the default device of new tensors and of weights built from now on.

    Existing tensors and models stay where they are: move them with
    ``tensor.to(name)`` or ``model.to(name)``. See also the :func:`device`
    context.

    Examples:
        >>> import nerve
        >>> nerve.set_device("cpu"); nerve.tensor([1.0]).device
        'cpu'
    """
    _PLACEMENT["device"] = _checked(name)


def get_device():
    """The current default device (``"cpu"`` unless :func:`set_device` or :func:`device` changed it).

    Examples:
        >>> from nerve import backend
        >>> backend.get_device()
        'cpu'
    """
    return _PLACEMENT["device"]


@contextlib.contextmanager
def device(name):
    """Context in which ``name`` is the default device (new tensors, weights built inside it).

    Examples:
        >>> import nerve
        >>> with nerve.device("cpu"):
        ...     nerve.tensor([1.0]).device
        'cpu'
    """
    previous = _PLACEMENT["device"]
    _PLACEMENT["device"] = _checked(name)
    try:
        yield name
    finally:
        _PLACEMENT["device"] = previous


def device_of(array):
    """The device holding ``array``: ``"cpu"`` for NumPy arrays, else the name it was registered under.

    Examples:
        >>> import numpy as np
        >>> device_of(np.zeros(2))
        'cpu'
    """
    if type(array) is numpy.ndarray:
        return "cpu"
    for name, entry in _DEVICES.items():
        if isinstance(array, entry.array_type):
            return name
    module = get_array_module(array)
    return "cpu" if module is numpy else getattr(module, "__name__", str(module))


def to_device(array, name):
    """``array`` on device ``name``: itself when it is already there, else a copy (through the host).

    Examples:
        >>> import numpy as np
        >>> a = np.ones(2)
        >>> to_device(a, "cpu") is a
        True
    """
    if name != "cpu" and name not in _DEVICES:
        name = _checked(name)
    source = device_of(array)
    if source == name:
        return array
    host = array if source == "cpu" else to_numpy(array)
    if name == "cpu":
        return numpy.asarray(host)
    return _DEVICES[name].to_device(host)


# ------------------------------------------------------------- CPU threads
# NumPy's elementwise loops run on one core, while its matrix products (OpenBLAS) and PyTorch use
# them all. Ops whose work is large and independent per sample (pooling, the copies of a
# convolution, ReLU masks) split the batch over a small thread pool: NumPy releases the GIL
# inside its loops, so the halves run at the same time. Results do not depend on the split.
# Off by default: after each matrix product OpenBLAS keeps its worker threads spinning on the
# cores for a while (OPENBLAS_THREAD_TIMEOUT, about 0.1 s by default), so in a training step,
# where products come every millisecond, nerve's threads only take turns with them. Measured on
# 2 cores, LeNet-5 at batch 256: 19.2-19.4 ms per step with one thread against 20.7-21.0 ms
# with two. With OPENBLAS_THREAD_TIMEOUT=4 (set before NumPy is imported) the workers sleep at
# once and two threads pay.
_THREADS = {"count": None, "pool": None, "workers": 0}
#: below this many elements per call, one thread does the work (a hand-over costs ~20-50 us)
PARALLEL_MIN_ELEMENTS = 200_000


def _forget_pool_after_fork():
    _THREADS["pool"] = None  # the parent's worker threads do not exist in a forked child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def set_num_threads(count):
    """Set how many threads nerve's own array loops may use (default 1).

    This covers the elementwise and copy work of the convolution and pooling
    ops and the chunks of a Winograd convolution (each chunk with its own
    matrix products: on 2 cores the forward of one 32 -> 64 channel layer at
    batch 64 alone took 6.0 ms in two threads against 10.7 ms in one, but a
    whole CNN training step gained 0-15%); other matrix products follow
    NumPy's BLAS (``OPENBLAS_NUM_THREADS``). Results never depend on it. More
    than one pays when the BLAS's worker threads are not spinning on the cores
    between products: start Python with ``OPENBLAS_THREAD_TIMEOUT=4`` (they
    then sleep as soon as a product ends) or ``OPENBLAS_NUM_THREADS=1``. The
    environment variable ``NERVE_NUM_THREADS`` sets the starting value.

    Examples:
        >>> from nerve import backend
        >>> backend.set_num_threads(1); backend.get_num_threads()
        1
        >>> backend.set_num_threads(None)  # back to the default
    """
    if count is not None and (int(count) != count or count < 1):
        raise ValueError(f"set_num_threads: expected a positive integer or None, got {count!r}")
    pool = _THREADS["pool"]
    if pool is not None:
        pool.shutdown(wait=True)
    _THREADS["count"] = None if count is None else int(count)
    _THREADS["pool"] = None


def get_num_threads():
    """Number of threads nerve's own array loops use.

    Examples:
        >>> from nerve import backend
        >>> backend.get_num_threads() >= 1
        True
    """
    count = _THREADS["count"]
    if count is None:
        env = os.environ.get("NERVE_NUM_THREADS", "").strip()
        count = int(env) if env.isdigit() and int(env) > 0 else 1
        _THREADS["count"] = count
    return count


def split_batch(xp, work, batch, elements):
    """Run ``work(start, stop)`` over slices of ``range(batch)``, in parallel when that pays.

    ``elements`` is the size of the work (array elements touched); NumPy
    arrays with at least :data:`PARALLEL_MIN_ELEMENTS` of it are split into
    one slice per thread, everything else runs as one call ``work(0, batch)``.
    ``work`` must write disjoint slices of its outputs and do no BLAS calls
    (those have their own threads).

    Examples:
        >>> import numpy as np
        >>> x, out = np.arange(6.0), np.empty(6)
        >>> def double(start, stop):
        ...     np.multiply(x[start:stop], 2, out=out[start:stop])
        >>> split_batch(np, double, 6, 6); out.tolist()
        [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    """
    threads = get_num_threads()
    if xp is not numpy or threads < 2 or batch < 2 or elements < PARALLEL_MIN_ELEMENTS or _in_worker():
        work(0, batch)
        return
    threads = min(threads, batch)
    pool = _worker_pool(threads - 1)
    bounds = [batch * k // threads for k in range(threads + 1)]
    futures = [pool.submit(work, bounds[k], bounds[k + 1]) for k in range(1, threads)]
    try:
        work(bounds[0], bounds[1])
    finally:
        for future in futures:
            future.result()


def _worker_pool(workers):
    """The shared pool of worker threads, with at least ``workers`` of them."""
    pool = _THREADS["pool"]
    if pool is None or _THREADS["workers"] < workers:
        if pool is not None:
            pool.shutdown(wait=True)
        from concurrent.futures import ThreadPoolExecutor

        pool = _THREADS["pool"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nerve")
        _THREADS["workers"] = workers
    return pool


def _in_worker():
    """True inside one of the pool's threads: nested work runs there, in one thread (no waiting on the pool)."""
    import threading

    return threading.current_thread().name.startswith("nerve_")


def parallel_map(xp, work, count, threads=None):
    """``[work(i) for i in range(count)]``, the pieces spread over threads; results in the order of ``i``.

    For kernels whose pieces are large and independent, matrix products
    included (a Winograd convolution's chunks of the batch: transforms, the
    products, copies). ``threads`` defaults to :func:`get_num_threads`. Each piece must
    write only its own outputs; whatever the results are combined into is the
    caller's, in index order, so the bits never depend on the number of threads.
    Runs in one thread for arrays that are not NumPy's (a GPU orders its own work).

    Examples:
        >>> import numpy as np
        >>> parallel_map(np, lambda i: i * i, 5)
        [0, 1, 4, 9, 16]
    """
    if threads is None:
        threads = get_num_threads()
    threads = min(int(threads), count)
    if xp is not numpy or threads < 2 or _in_worker():
        return [work(i) for i in range(count)]
    pool = _worker_pool(threads - 1)
    results = [None] * count

    def group(k):
        for i in range(k, count, threads):
            results[i] = work(i)

    futures = [pool.submit(group, k) for k in range(1, threads)]
    try:
        group(0)
    finally:
        for future in futures:
            future.result()
    return results


# ------------------------------------------------------------- CPU memory
# Whether keep_freed_memory() has changed the C library's settings in this process. Importing
# nerve changes nothing: the settings are process-wide, so only an explicit call applies them.
_MEMORY = {"keep_freed": False}


def keep_freed_memory(enable=True):
    """Opt in: let glibc keep freed memory for reuse instead of handing it back to the OS (Linux only).

    A training step allocates and frees the same large arrays every time. By
    default glibc returns the freed top of its heap to the OS and serves
    arrays above a size threshold with fresh ``mmap`` pages, so every step
    page-faults its memory in again (about 1,800 page faults per LeNet-5 step
    at batch 256, several milliseconds). After this call arrays up to 32 MiB
    come from the heap and freed memory stays mapped, like a PyTorch caching
    allocator; the process's peak memory does not grow.

    It changes the C library's allocator for the whole process (every
    library in it, not only nerve) until the process ends, so nerve never
    calls it by itself: importing nerve leaves the allocator alone. Call it
    once, early, in a training script or a benchmark (the scripts in
    ``benchmarks/`` do). ``enable=False`` does nothing. Returns True when the
    settings were applied (glibc on Linux), False otherwise.

    Examples:
        >>> from nerve import backend
        >>> backend.keep_freed_memory(enable=False)  # the opt-in, declined: nothing changes
        False
    """
    if not enable or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only: other C libraries have other knobs
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    applied = mallopt(m_mmap_threshold, 32 << 20) == 1
    applied &= mallopt(m_trim_threshold, 1 << 30) == 1
    applied &= mallopt(m_top_pad, 64 << 20) == 1
    _MEMORY["keep_freed"] = _MEMORY["keep_freed"] or bool(applied)
    return bool(applied)
