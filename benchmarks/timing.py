"""Shared timer for the benchmarks: the candidates are timed in turns so that all see the same machine load.

On a shared machine the speed moves 1.2-2x within seconds. Timing A for a
while and then B lets a burst of load land on one of them only; here each
round runs ``steps`` steps of every candidate in turn (A, B, C, A, B, C...)
and the best round of each is kept, so the ratios printed by one run are
comparable even when the absolute times are not.

A pause of 0.2 s follows every round: the worker threads of PyTorch (OpenMP)
and of NumPy's OpenBLAS keep spinning for a while after their work is done, and
without the pause they steal the CPU from whichever candidate runs next
(measured here: PyTorch's MLP step took 2.3 ms right after NumPy's instead of 1.1 ms). Each round starts with one untimed
step, so that every candidate is timed with warm caches and awake threads.
"""

from __future__ import annotations

import time
import tracemalloc


def interleaved_best(steps_by_name, steps, rounds, warmup=5, pause=0.2, clock=time.perf_counter):
    """Best milliseconds per step of each function in ``steps_by_name``, timed in alternating rounds.

    ``clock=time.process_time`` measures the CPU time of this process instead of
    the wall time: with one thread per framework (``OPENBLAS_NUM_THREADS=1``,
    ``torch.set_num_threads(1)``) it is nearly blind to other processes on a
    loaded machine, where wall times of two-thread runs swing 2-5x.

    Example:
        >>> best = interleaved_best({"a": lambda: None, "b": lambda: None}, steps=10, rounds=3)
        >>> sorted(best)
        ['a', 'b']
    """
    for step in steps_by_name.values():
        for _ in range(warmup):
            step()
    best = dict.fromkeys(steps_by_name, float("inf"))
    for _ in range(rounds):
        for name, step in steps_by_name.items():
            step()  # untimed: warm caches, wake thread pools
            start = clock()
            for _ in range(steps):
                step()
            best[name] = min(best[name], (clock() - start) / steps)
            time.sleep(pause)
    return {name: seconds * 1e3 for name, seconds in best.items()}


def traced_peak(step):
    """Peak bytes that ``tracemalloc`` sees allocated during one call of ``step`` (after one warm-up call).

    NumPy reports its array buffers to tracemalloc, so this counts the arrays a step allocates (saved
    activations, im2col matrices, temporaries) and the Python objects it creates.

    Example:
        >>> import numpy as np
        >>> traced_peak(lambda: np.ones(1_000_000)) >= 8_000_000
        True
    """
    step()
    tracemalloc.start()
    tracemalloc.reset_peak()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak
