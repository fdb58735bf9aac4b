"""Pooling kernels on channels-last images ``(N, H, W, C)``: separable max pooling with winner masks, window sums.

Pooling is separable: the maximum (or sum) over a ``kh x kw`` window is taken
over the ``kh`` rows first (views whose rows stay contiguous, the fast case
for channels-last images), then over the ``kw`` columns of the row results,
each a loop over window offsets of whole-array operations. Max pooling records
which offset won at each stage (:func:`running_extreme`; ties go to the first
row, then the first column) and the backward pass routes the gradient there.
When the windows tile the image (strides equal to the pool, the usual case)
:func:`max_pool_tiled` and :func:`max_pool_tiled_backward` write every
offset's share straight into its strided view and split the batch over
nerve's threads; overlapping windows go through :func:`max_pool_overlapping`.

Examples:
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> sum_pool(np, x, (2, 2), (2, 2), (2, 2))[0, :, :, 0].tolist()
    [[10.0, 18.0], [42.0, 50.0]]
"""

from __future__ import annotations

import numpy

from nerve.engine.backend import split_batch

__all__ = [
    "window_slices", "pad_hw", "unpad_hw",
    "winner_array", "running_extreme", "send_to_winner", "scatter_to_winner",
    "max_pool_tiled", "max_pool_tiled_backward", "max_pool_overlapping", "max_pool_overlapping_backward",
    "window_counts", "avg_pool_scale", "sum_slices", "sum_pool", "sum_pool_backward",
]


# ------------------------------------------------------------- windows
def window_slices(count, window, stride):
    """For each of the ``window`` offsets, the slice picking that offset in every one of ``count`` windows along one axis.

    Examples:
        >>> window_slices(3, 2, 2)
        [slice(0, 5, 2), slice(1, 6, 2)]
    """
    return [slice(a, a + (count - 1) * stride + 1, stride) for a in range(window)]


def pad_hw(xp, x, pads, value=0):
    """``x (N, H, W, C)`` padded with ``value`` by ``pads = ((top, bottom), (left, right))``; ``x`` itself without padding.

    Examples:
        >>> import numpy as np
        >>> pad_hw(np, np.ones((1, 1, 2, 1)), ((0, 1), (1, 0)), value=-np.inf)[0, :, :, 0].tolist()
        [[-inf, 1.0, 1.0], [-inf, -inf, -inf]]
    """
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        return xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)
    return x


def unpad_hw(x, pads):
    """The inverse of :func:`pad_hw`: the part of a padded ``(N, Hp, Wp, C)`` array inside the padding (a view).

    Examples:
        >>> import numpy as np
        >>> unpad_hw(np.arange(6.0).reshape(1, 2, 3, 1), ((0, 1), (1, 0)))[0, :, :, 0].tolist()
        [[1.0, 2.0]]
    """
    (pt, pb), (pl, pr) = pads
    if pt or pb or pl or pr:
        Hp, Wp = x.shape[1:3]
        return x[:, pt : Hp - pb, pl : Wp - pr]
    return x


# ------------------------------------------------------------ max pooling
def winner_array(xp, window, shape):
    """Storage for :func:`running_extreme`'s winners over ``window`` candidates (None for one candidate).

    Examples:
        >>> import numpy as np
        >>> winner_array(np, 1, (2,)), winner_array(np, 2, (2,)).dtype, winner_array(np, 3, (2,)).dtype
        (None, dtype('bool'), dtype('uint8'))
    """
    if window == 1:
        return None
    return xp.empty(shape, dtype=bool if window == 2 else numpy.uint8)


def running_extreme(xp, candidates, out=None, arg_out=None):
    """Elementwise maximum of ``candidates`` and which one first reaches it: ``(winner, maximum)``.

    The winner is None for one candidate, a bool array for two (True: the
    second is strictly larger) and a uint8 index otherwise. ``out`` and
    ``arg_out`` receive the results when given. Only whole-array arithmetic
    (masked assignment is many times slower): a later candidate that is
    strictly larger has a larger index, so the index of the winner is the
    maximum of ``index * (candidate beats the best so far)``.

    Examples:
        >>> import numpy as np
        >>> arg, best = running_extreme(np, [np.array([1.0, 5.0, 2.0]), np.array([3.0, 5.0, 0.0]), np.array([3.0, 6.0, 1.0])])
        >>> arg.tolist(), best.tolist()
        ([1, 2, 0], [3.0, 6.0, 2.0])
    """
    first = candidates[0]
    if len(candidates) == 1:
        if out is not None:
            out[...] = first
        return None, first if out is None else out
    if len(candidates) == 2:
        second = candidates[1]
        return xp.greater(second, first, out=arg_out), xp.maximum(first, second, out=out)
    best = first
    arg = None
    for index, value in enumerate(candidates[1:], start=1):
        better = xp.greater(value, best).view(numpy.uint8)
        best = xp.maximum(best, value)
        arg = better if arg is None else xp.maximum(arg, better * numpy.uint8(index))
    if arg_out is not None:
        arg_out[...] = arg
        arg = arg_out
    if out is not None:
        out[...] = best
        best = out
    return arg, best


def send_to_winner(xp, grad, arg, parts):
    """Write ``grad`` into ``parts[winner]`` and zeros into the other parts (``arg`` from :func:`running_extreme`).

    Examples:
        >>> import numpy as np
        >>> parts = [np.empty(3), np.empty(3)]
        >>> send_to_winner(np, np.array([1.0, 2.0, 3.0]), np.array([False, True, False]), parts)
        >>> [p.tolist() for p in parts]
        [[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]]
    """
    if arg is None:
        parts[0][...] = grad
    elif arg.dtype == bool:
        xp.multiply(grad, arg, out=parts[1])
        xp.subtract(grad, parts[1], out=parts[0])  # exactly grad where the first won, 0 where the second did
    else:
        for offset, part in enumerate(parts):
            xp.multiply(grad, arg == offset, out=part)


def scatter_to_winner(xp, grad, arg, slices, shape, axis):
    """Add ``grad`` at the window offset recorded in ``arg`` into a zero array of ``shape`` (overlapping windows).

    ``arg`` and ``grad`` have the pooled length on ``axis``; ``slices[a]``
    picks window offset ``a`` along that axis of the result.

    Examples:
        >>> import numpy as np
        >>> slices = window_slices(2, 3, 2)  # windows of 3 with stride 2 over 5 values
        >>> scatter_to_winner(np, np.array([1.0, 2.0]), np.array([2, 0], dtype=np.uint8), slices, (5,), axis=0).tolist()
        [0.0, 0.0, 3.0, 0.0, 0.0]
    """
    out = xp.zeros(shape, dtype=grad.dtype)
    index = (slice(None),) * axis
    for offset, where in enumerate(slices):
        if arg is None:
            part = grad
        elif arg.dtype == bool:
            part = grad * (arg if offset else ~arg)
        else:
            part = grad * (arg == offset)
        out[index + (where,)] += part
    return out


def max_pool_tiled(xp, x, pool, out_hw):
    """Max pooling of ``x (N, H, W, C)`` with windows ``pool`` that tile it (strides = pool): ``(out, winners)``.

    ``out`` is ``(N, OH, OW, C)`` with ``out_hw = (OH, OW)``; rows and columns
    after the last whole window are ignored. ``winners`` is the pair
    ``(row winners, column winners)`` of :func:`running_extreme` that
    :func:`max_pool_tiled_backward` needs. The batch is split over nerve's
    threads.

    Examples:
        >>> import numpy as np
        >>> x = np.array([1.0, 4.0, 3.0, 2.0]).reshape(1, 2, 2, 1)
        >>> out, (rows, cols) = max_pool_tiled(np, x, (2, 2), (1, 1))
        >>> out.ravel().tolist(), rows.ravel().tolist(), cols.ravel().tolist()
        ([4.0], [True, False], [True])
    """
    (kh, kw), (oh, ow) = pool, out_hw
    rows, cols = window_slices(oh, kh, kh), window_slices(ow, kw, kw)
    N, C = x.shape[0], x.shape[3]
    out = xp.empty((N, oh, ow, C), dtype=x.dtype)
    row_arg = winner_array(xp, kh, (N, oh, ow * kw, C))
    col_arg = winner_array(xp, kw, (N, oh, ow, C))

    def work(start, stop):
        part = x[start:stop, : oh * kh, : ow * kw]
        row_part = None if row_arg is None else row_arg[start:stop]
        col_part = None if col_arg is None else col_arg[start:stop]
        _, rows_max = running_extreme(xp, [part[:, r] for r in rows], arg_out=row_part)
        running_extreme(xp, [rows_max[:, :, c] for c in cols], out=out[start:stop], arg_out=col_part)

    split_batch(xp, work, N, x.size)
    return out, (row_arg, col_arg)


def max_pool_tiled_backward(xp, grad, winners, pool, x_shape):
    """Gradient of :func:`max_pool_tiled` for its input of shape ``x_shape``: ``grad`` goes to each window's winner.

    Every offset's share is written straight into its strided view of the
    result (no zeroing, no adds); rows and columns after the last whole window
    get zeros.

    Examples:
        >>> import numpy as np
        >>> x = np.array([1.0, 4.0, 3.0, 2.0, 0.0, 0.0]).reshape(1, 2, 3, 1)
        >>> _, winners = max_pool_tiled(np, x, (2, 2), (1, 1))
        >>> max_pool_tiled_backward(np, np.array([10.0]).reshape(1, 1, 1, 1), winners, (2, 2), x.shape)[0, :, :, 0].tolist()
        [[0.0, 10.0, 0.0], [0.0, 0.0, 0.0]]
    """
    row_arg, col_arg = winners
    N, _, _, C = x_shape
    (kh, kw), (oh, ow) = pool, grad.shape[1:3]
    rows, cols = window_slices(oh, kh, kh), window_slices(ow, kw, kw)
    gx = xp.empty((N, oh * kh, ow * kw, C), dtype=grad.dtype)

    def work(start, stop):
        g_rows = xp.empty((stop - start, oh, ow * kw, C), dtype=grad.dtype)
        col_part = None if col_arg is None else col_arg[start:stop]
        row_part = None if row_arg is None else row_arg[start:stop]
        send_to_winner(xp, grad[start:stop], col_part, [g_rows[:, :, c] for c in cols])
        send_to_winner(xp, g_rows, row_part, [gx[start:stop, r] for r in rows])

    split_batch(xp, work, N, gx.size)
    if gx.shape != tuple(x_shape):  # rows/columns left over after the last window get no gradient
        full = xp.zeros(x_shape, dtype=grad.dtype)
        full[:, : oh * kh, : ow * kw] = gx
        gx = full
    return gx


def max_pool_overlapping(xp, x, pool, strides, out_hw):
    """Max pooling of ``x (N, H, W, C)`` with any windows ``pool`` and ``strides`` (they may overlap): ``(out, winners)``.

    Examples:
        >>> import numpy as np
        >>> x = np.array([1.0, 5.0, 2.0, 0.0, 3.0]).reshape(1, 1, 5, 1)
        >>> out, winners = max_pool_overlapping(np, x, (1, 3), (1, 2), (1, 2))
        >>> out.ravel().tolist(), winners[1].ravel().tolist()
        ([5.0, 3.0], [1, 2])
    """
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, out_hw
    row_arg, rows_max = running_extreme(xp, [x[:, r] for r in window_slices(oh, kh, sh)])
    col_arg, out = running_extreme(xp, [rows_max[:, :, c] for c in window_slices(ow, kw, sw)])
    return (out.copy() if row_arg is None and col_arg is None else out), (row_arg, col_arg)


def max_pool_overlapping_backward(xp, grad, winners, pool, strides, x_shape):
    """Gradient of :func:`max_pool_overlapping` for its input of shape ``x_shape`` (overlaps add up).

    Examples:
        >>> import numpy as np
        >>> x = np.array([1.0, 5.0, 2.0, 0.0, 3.0]).reshape(1, 1, 5, 1)
        >>> _, winners = max_pool_overlapping(np, x, (1, 3), (1, 2), (1, 2))
        >>> g = max_pool_overlapping_backward(np, np.array([1.0, 2.0]).reshape(1, 1, 2, 1), winners, (1, 3), (1, 2), x.shape)
        >>> g.ravel().tolist()
        [0.0, 1.0, 0.0, 0.0, 2.0]
    """
    row_arg, col_arg = winners
    N, _, Wp, C = x_shape
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, grad.shape[1:3]
    g_rows = scatter_to_winner(xp, grad, col_arg, window_slices(ow, kw, sw), (N, oh, Wp, C), axis=2)
    return scatter_to_winner(xp, g_rows, row_arg, window_slices(oh, kh, sh), x_shape, axis=1)


# -------------------------------------------------------- average pooling
def window_counts(before, size, count, window, stride):
    """Number of real pixels in each of ``count`` windows along one axis (padding ``before`` pixels first).

    Examples:
        >>> window_counts(1, 4, 2, 3, 2).tolist()  # windows [-1, 2) and [1, 4) over 4 pixels
        [2.0, 3.0]
    """
    starts = numpy.arange(count) * stride - before
    return (numpy.minimum(starts + window, size) - numpy.maximum(starts, 0)).astype(numpy.float64)


def avg_pool_scale(xp, hw, pads, pool, strides, out_hw, dtype):
    """``(1, OH, OW, 1)`` array of ``1 / (real pixels in the window)`` (padding does not count, the Keras rule).

    ``hw`` is the unpadded ``(H, W)``; separable over rows and columns.

    Examples:
        >>> import numpy as np
        >>> avg_pool_scale(np, (3, 3), ((0, 1), (0, 1)), (2, 2), (2, 2), (2, 2), np.float64)[0, :, :, 0].tolist()
        [[0.25, 0.5], [0.5, 1.0]]
    """
    (H, W), ((pt, _), (pl, _)) = hw, pads
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, out_hw
    row_count = window_counts(pt, H, oh, kh, sh)
    col_count = window_counts(pl, W, ow, kw, sw)
    scale = 1.0 / (row_count[:, None] * col_count[None, :])
    return xp.asarray(scale[None, :, :, None], dtype=dtype)


def sum_slices(parts):
    """The sum of the arrays ``parts``, added in order into a copy of the first.

    Examples:
        >>> import numpy as np
        >>> sum_slices([np.array([1.0, 2.0]), np.array([3.0, 4.0])]).tolist()
        [4.0, 6.0]
    """
    out = parts[0].copy()
    for part in parts[1:]:
        out += part
    return out


def sum_pool(xp, x, pool, strides, out_hw):
    """Sum over every ``pool`` window of ``x (N, H, W, C)`` moved by ``strides``: ``(N, OH, OW, C)``, rows first.

    Examples:
        >>> import numpy as np
        >>> sum_pool(np, np.arange(5.0).reshape(1, 1, 5, 1), (1, 3), (1, 2), (1, 2)).ravel().tolist()
        [3.0, 9.0]
    """
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, out_hw
    rows_sum = sum_slices([x[:, r] for r in window_slices(oh, kh, sh)])
    return sum_slices([rows_sum[:, :, c] for c in window_slices(ow, kw, sw)])


def sum_pool_backward(xp, grad, pool, strides, x_shape):
    """Adjoint of :func:`sum_pool`: every window's ``grad`` added to each of its pixels, an array of ``x_shape``.

    Examples:
        >>> import numpy as np
        >>> sum_pool_backward(np, np.array([1.0, 2.0]).reshape(1, 1, 2, 1), (1, 3), (1, 2), (1, 1, 5, 1)).ravel().tolist()
        [1.0, 1.0, 3.0, 2.0, 2.0]
    """
    N, _, Wp, C = x_shape
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, grad.shape[1:3]
    g_rows = xp.zeros((N, oh, Wp, C), dtype=grad.dtype)
    for c in window_slices(ow, kw, sw):
        g_rows[:, :, c] += grad
    gx = xp.zeros(x_shape, dtype=grad.dtype)
    for r in window_slices(oh, kh, sh):
        gx[:, r] += g_rows
    return gx
