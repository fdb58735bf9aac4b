"""Communication between processes over MPI (mpi4py): the collectives data-parallel training is built on.

``initialize()`` joins the job that ``mpiexec -n N python script.py`` started; afterwards ``rank()`` and
``size()`` say who this process is, and the collectives (``allreduce``, ``broadcast``, ``allgather_rows``,
``barrier``) move NumPy arrays between the processes. Without ``initialize()`` (or with one process)
every function works as for a job of one process, so the same script runs with and without MPI.

Failure never hangs: a collective that does not complete within ``timeout`` seconds (a peer stuck or
gone) raises :class:`DistributedError` and aborts the job, and an exception that ends one process
aborts every process (``mpiexec`` then stops them all).

Needs ``mpi4py`` and an MPI library: ``pip install "nerve[mpi]"`` installs ``mpi4py`` and the
``mpich`` wheels; a system MPI works too.

Examples:
    >>> import numpy as np
    >>> rank(), size(), is_main()          # no MPI job: one process
    (0, 1, True)
    >>> allreduce(np.array([1.0, 2.0])).tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import numpy

__all__ = [
    "DistributedError", "initialize", "is_initialized", "rank", "size", "is_main", "barrier", "allreduce",
    "broadcast", "broadcast_object", "allgather_rows", "abort", "DEFAULT_TIMEOUT",
]

#: Seconds a collective may wait for the other processes before the job is aborted.
DEFAULT_TIMEOUT = 300.0

_STATE = {"comm": None, "mpi": None, "timeout": DEFAULT_TIMEOUT, "hook": None}


class DistributedError(RuntimeError):
    """A collective operation failed or timed out (another process died, raised, or is stuck).

    Examples:
        >>> issubclass(DistributedError, RuntimeError)
        True
    """


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("nerve.distributed needs mpi4py and an MPI library: pip install \"nerve[mpi]\" "
                          "(or pip install mpi4py mpich)") from error
    return MPI


def _launched_by_mpi():
    """True when an MPI launcher started this process (its environment says so), else False."""
    markers = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD")
    return any(name in os.environ for name in markers)


def initialize(timeout=None):
    """Join the MPI job this process belongs to; returns ``(rank, size)``.

    Call it once, at the start of the script, on every process. Under ``mpiexec -n N``, ``fit`` and
    ``evaluate`` then train data-parallel. An uncaught exception in any process aborts the whole job.
    Without ``mpiexec`` and without mpi4py installed, the script runs as a job of one process; under
    ``mpiexec`` without mpi4py it raises ``ImportError`` (each process would otherwise train alone).

    Args:
        timeout: seconds a collective waits for the others before raising :class:`DistributedError`
            and aborting the job (default ``DEFAULT_TIMEOUT``, 300 s).

    Examples:
        >>> import nerve
        >>> nerve.distributed.initialize()      # one process without mpiexec
        (0, 1)
    """
    if timeout is not None and not timeout > 0:
        raise ValueError(f"initialize(): timeout must be a positive number of seconds, got {timeout!r}")
    if _launched_by_mpi() is False:
        try:
            MPI = _mpi()
        except ImportError:  # not under mpiexec and no mpi4py: a job of one process, as without MPI
            return 0, 1
    else:
        MPI = _mpi()  # under mpiexec without mpi4py every process would train alone: a clear error instead
    if not MPI.Is_initialized():  # pragma: no cover - mpi4py initialises MPI on import by default
        MPI.Init()
    comm = MPI.COMM_WORLD
    _STATE.update(comm=comm, mpi=MPI)
    if timeout is not None:
        if not timeout > 0:
            raise ValueError(f"initialize(): timeout must be a positive number of seconds, got {timeout!r}")
        _STATE["timeout"] = float(timeout)
    if comm.Get_size() > 1 and _STATE["hook"] is None:
        previous = sys.excepthook

        def abort_on_exception(kind, value, tb):  # one process failing ends the job instead of hanging it
            if previous is not sys.__excepthook__:
                previous(kind, value, tb)
            text = "".join(traceback.format_exception(kind, value, tb))
            sys.stderr.write(f"nerve.distributed: rank {comm.Get_rank()} raised {kind.__name__}: {value}; "
                             f"aborting the job\n{text}")
            sys.stderr.flush()
            time.sleep(0.5)  # let mpiexec forward the message before the job goes down
            comm.Abort(1)

        sys.excepthook = _STATE["hook"] = abort_on_exception
    return comm.Get_rank(), comm.Get_size()


def is_initialized():
    """True after :func:`initialize`.

    Examples:
        >>> isinstance(is_initialized(), bool)
        True
    """
    return _STATE["comm"] is not None


def rank():
    """This process's number in the job, 0 to ``size() - 1`` (0 without MPI).

    Examples:
        >>> rank() >= 0
        True
    """
    comm = _STATE["comm"]
    return 0 if comm is None else comm.Get_rank()


def size():
    """The number of processes in the job (1 without MPI).

    Examples:
        >>> size() >= 1
        True
    """
    comm = _STATE["comm"]
    return 1 if comm is None else comm.Get_size()


def is_main():
    """True on rank 0, the process that prints, logs and writes checkpoints.

    Examples:
        >>> is_main() == (rank() == 0)
        True
    """
    return rank() == 0


def abort(message, code=1):
    """Print ``message`` and stop every process of the job (no-op exit for one process).

    Examples:
        >>> callable(abort)
        True
    """
    sys.stderr.write(f"nerve.distributed: rank {rank()}: {message}\n")
    sys.stderr.flush()
    comm = _STATE["comm"]
    if comm is not None and comm.Get_size() > 1:
        time.sleep(0.5)  # let mpiexec forward the message before the job goes down
        comm.Abort(code)
    raise DistributedError(message)  # pragma: no cover - Abort does not return


#: Seconds a collective polls without sleeping before it falls back to sleeping 1 ms between polls.
_POLL_SECONDS = 1.0


def _wait(request, what):
    """Wait for a non-blocking collective: poll without sleeping, then (after a second) sleeping; abort at the timeout.

    MPI moves a non-blocking collective forward only inside ``Test``: a process that sleeps between
    polls holds up every step of the exchange for as long as it sleeps (and a large Allreduce has
    several steps), so for the first second the wait polls continuously, handing the core to any other
    runnable process between polls (``os.sched_yield()`` returns at once when there is none). A peer
    that is later than that is writing a checkpoint or stuck: then it sleeps 1 ms between polls.
    """
    timeout = _STATE["timeout"]
    start = time.perf_counter()
    polls, sleep = 0, False
    while not request.Test():
        polls += 1
        if polls < 64:
            continue
        if polls % 256 == 0:
            waited = time.perf_counter() - start
            if waited > timeout:
                abort(f"{what} did not complete within {timeout:g} s: another process died, raised or is stuck "
                      "(set the limit with nerve.distributed.initialize(timeout=...))")
            sleep = waited > _POLL_SECONDS
        if sleep:
            time.sleep(0.001)
        else:
            os.sched_yield()


def _active():
    comm = _STATE["comm"]
    return comm if comm is not None and comm.Get_size() > 1 else None


def barrier():
    """Wait until every process gets here.

    Examples:
        >>> barrier()
    """
    comm = _active()
    if comm is not None:
        _wait(comm.Ibarrier(), "barrier()")


def allreduce(array, op="sum", out=None):
    """Sum (``op="sum"``) or average (``op="mean"``) ``array`` over all processes; every process gets the result.

    ``out`` may be ``array`` itself (in place). Works on contiguous NumPy arrays of any float or int dtype.

    Examples:
        >>> import numpy as np
        >>> allreduce(np.array([3.0]), op="mean").tolist()
        [3.0]
    """
    if op not in ("sum", "mean"):
        raise ValueError(f"allreduce(): op must be 'sum' or 'mean', got {op!r}")
    array = numpy.ascontiguousarray(array)
    result = numpy.empty_like(array) if out is None else out
    comm = _active()
    if comm is None:
        if result is not array:
            result[...] = array
        return result
    MPI = _STATE["mpi"]
    source = MPI.IN_PLACE if result is array else array
    _wait(comm.Iallreduce(source, result, op=MPI.SUM), f"allreduce() of {array.size} values")
    if op == "mean":
        result /= comm.Get_size()
    return result


def broadcast(array, root=0):
    """Copy ``array`` (a contiguous NumPy array, same shape on every process) from ``root`` to all, in place.

    Examples:
        >>> import numpy as np
        >>> broadcast(np.array([1, 2])).tolist()
        [1, 2]
    """
    comm = _active()
    if comm is not None:
        if not (isinstance(array, numpy.ndarray) and array.flags.c_contiguous):
            raise TypeError("broadcast() needs a contiguous NumPy array (use broadcast_object for Python values)")
        _wait(comm.Ibcast(array, root=root), f"broadcast() of {array.size} values")
    return array


def broadcast_object(value, root=0):
    """A Python value (JSON-like: numbers, strings, lists, dicts) from ``root``, on every process.

    Examples:
        >>> broadcast_object({"epoch": 3})
        {'epoch': 3}
    """
    comm = _active()
    if comm is None:
        return value
    payload = json.dumps(value).encode() if comm.Get_rank() == root else b""
    length = numpy.array([len(payload)], dtype=numpy.int64)
    broadcast(length, root)
    data = numpy.frombuffer(payload, dtype=numpy.uint8).copy() if comm.Get_rank() == root else numpy.empty(
        int(length[0]), dtype=numpy.uint8)
    broadcast(data, root)
    return json.loads(data.tobytes().decode())


def allgather_rows(array):
    """The rows of ``array`` from every process, concatenated in rank order (row counts may differ).

    Examples:
        >>> import numpy as np
        >>> allgather_rows(np.arange(6).reshape(3, 2)).shape
        (3, 2)
    """
    array = numpy.ascontiguousarray(array)
    comm = _active()
    if comm is None:
        return array
    counts = numpy.empty(comm.Get_size(), dtype=numpy.int64)
    _wait(comm.Iallgather(numpy.array([array.shape[0] if array.ndim else 1], dtype=numpy.int64), counts),
          "allgather_rows() sizes")
    row = int(numpy.prod(array.shape[1:])) if array.ndim > 1 else 1
    out = numpy.empty((int(counts.sum()),) + array.shape[1:], dtype=array.dtype)
    sizes = counts * row
    offsets = numpy.concatenate([[0], numpy.cumsum(sizes)[:-1]])
    _wait(comm.Iallgatherv(array, [out, (sizes, offsets)]), "allgather_rows()")
    return out


if os.environ.get("NERVE_DISTRIBUTED_TIMEOUT"):
    try:
        _STATE["timeout"] = float(os.environ["NERVE_DISTRIBUTED_TIMEOUT"])
    except ValueError:  # pragma: no cover
        pass
