"""Convolution, pooling and upsampling on channels-last images (``(N, H, W, C)``, like Keras).

Convolutions are matrix products, in one of two layouts (both vectorised;
the only Python loops run over kernel positions or kernel rows):

* **im2col**: gather every kernel position's shifted copy of the input into
  one channel-major matrix ``cols (KH * KW * C_in, N * OH * OW)`` (long
  contiguous rows), so that the convolution is ``cols.T @ kernel`` with the
  kernel reshaped to ``(KH * KW * C_in, C_out)``. Backward reuses ``cols`` for
  the kernel gradient (``cols @ grad``) and turns ``kernel @ grad.T`` back into
  an input gradient by adding each kernel position's slice into place
  (col2im: one vectorised add per kernel position).
* **block Toeplitz**, for inputs with few channels (see :class:`_RowToeplitz`):
  one product of blocks of input rows with a banded matrix built from the
  kernel; more multiplications, but a shape the BLAS runs at full speed and
  far less copying.

``padding="same"`` follows TensorFlow/Keras, including even kernels and
strides: ``total = max((ceil(H / s) - 1) * s + (k - 1) * d + 1 - H, 0)``,
``before = total // 2``, the rest after.

Pooling is separable: the maximum (or sum) over a ``kh x kw`` window is taken
over the ``kh`` rows first, then over the ``kw`` columns, each a loop over
window positions of whole-array operations. Max pooling records which position
won at each stage and routes the gradient there (ties go to the first row,
then the first column).

Example:
    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> x = nerve.tensor(np.ones((1, 4, 4, 1), dtype=np.float32))
    >>> k = nerve.tensor(np.ones((3, 3, 1, 2), dtype=np.float32))
    >>> ops.conv2d(x, k, padding="same").shape
    (1, 4, 4, 2)
    >>> ops.max_pool2d(x, 2).shape
    (1, 2, 2, 1)
"""

from __future__ import annotations

import functools

import numpy

from nerve.engine.backend import split_batch
from nerve.engine.ops.core import _as_tensor, column_sums, mean, reshape
from nerve.engine.ops.core import max as reduce_max
from nerve.engine.tensor import Function

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Conv2dTranspose",
    "MaxPool2d",
    "Upsample2d",
    "avg_pool1d",
    "avg_pool2d",
    "conv1d",
    "conv2d",
    "conv2d_transpose",
    "conv_output_length",
    "conv_padding",
    "deconv_output_length",
    "global_avg_pool",
    "global_max_pool",
    "max_pool1d",
    "max_pool2d",
    "upsample2d",
    "zero_pad2d",
]

PADDINGS = ("valid", "same")


# --------------------------------------------------------------- geometry
def _tuple(name, value, n, what):
    """``value`` (int or sequence of ``n`` ints, each >= 1) as a tuple of ``n`` ints."""
    if isinstance(value, (int, numpy.integer)):
        value = (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n or any(v < 1 for v in value):
        raise ValueError(f"{name}: {what} must be a positive integer or {n} positive integers, got {value}")
    return value


def _check_padding(name, padding, allowed=PADDINGS):
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{name}: unknown padding {padding!r}; valid: {', '.join(repr(p) for p in allowed)}")
    return padding.lower()


def conv_padding(size, kernel, stride=1, padding="valid", dilation=1):
    """``(before, after)`` zero padding of one spatial axis, as TensorFlow/Keras pad it.

    ``"valid"`` pads nothing; ``"same"`` pads so that the output has
    ``ceil(size / stride)`` positions, putting the extra pixel (if any) after.

    Example:
        >>> conv_padding(28, 5, padding="same"), conv_padding(28, 4, padding="same"), conv_padding(7, 3, 2, "same")
        ((2, 2), (1, 2), (1, 1))
    """
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return ((kernel - 1) * dilation, 0)
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return (total // 2, total - total // 2)


def conv_output_length(size, kernel, stride=1, padding="valid", dilation=1):
    """Output length of one spatial axis of a convolution or pooling window.

    ``(size + pad_before + pad_after - ((kernel - 1) * dilation + 1)) // stride + 1``;
    ``ceil(size / stride)`` for ``"same"``. May be zero or negative when the
    window does not fit (callers turn that into an error).

    Example:
        >>> conv_output_length(28, 5), conv_output_length(28, 5, padding="same"), conv_output_length(7, 2, 2)
        (24, 28, 3)
    """
    before, after = conv_padding(size, kernel, stride, padding, dilation)
    return (size + before + after - (kernel - 1) * dilation - 1) // stride + 1


def deconv_output_length(size, kernel, stride=1, padding="valid", dilation=1):
    """Output length of one spatial axis of a transposed convolution (Keras ``Conv2DTranspose``).

    ``size * stride`` for ``"same"``; ``size * stride + max(k - stride, 0)`` for
    ``"valid"``, with ``k = (kernel - 1) * dilation + 1``.

    Example:
        >>> deconv_output_length(7, 3, 2, "same"), deconv_output_length(7, 3, 2, "valid")
        (14, 15)
    """
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return size * stride
    return size * stride + max(effective - stride, 0)


class _Geometry:
    """Shapes, padding and the im2col/col2im of one 2-D convolution.

    ``x`` is ``(N, H, W, C)`` (the convolution's input side), the kernel
    ``(KH, KW, C, F)`` and the output ``(N, OH, OW, F)``. ``cols`` is channel
    major, ``(KH * KW * C, N * OH * OW)``: each kernel position's copy of the
    input is one strided slice of a zero-padded ``(C, N, Hp, Wp)`` buffer.
    """

    def __init__(self, x_shape, kernel_shape, strides, dilation, pads):
        self.N, self.H, self.W, self.C = x_shape
        self.KH, self.KW, _, self.F = kernel_shape
        self.strides, self.dilation, self.pads = strides, dilation, pads
        (pt, pb), (pl, pr) = pads
        self.Hp, self.Wp = self.H + pt + pb, self.W + pl + pr
        (sh, sw), (dh, dw) = strides, dilation
        self.OH = (self.Hp - (self.KH - 1) * dh - 1) // sh + 1
        self.OW = (self.Wp - (self.KW - 1) * dw - 1) // sw + 1
        self.pixels = self.N * self.OH * self.OW

    def _positions(self):
        """``(i, j, index)`` per kernel position: ``buffer[index]`` are the input pixels it multiplies."""
        (sh, sw), (dh, dw) = self.strides, self.dilation
        for i in range(self.KH):
            rows = slice(i * dh, i * dh + (self.OH - 1) * sh + 1, sh)
            for j in range(self.KW):
                cols = slice(j * dw, j * dw + (self.OW - 1) * sw + 1, sw)
                yield i, j, (slice(None), slice(None), rows, cols)

    def im2col(self, xp, x):
        """``(KH * KW * C, pixels)`` matrix of shifted copies of ``x`` (rows ordered like the kernel)."""
        (pt, _), (pl, _) = self.pads
        cols = xp.empty((self.KH, self.KW, self.C, self.N, self.OH, self.OW), dtype=x.dtype)

        def work(start, stop):
            buffer = xp.zeros((self.C, stop - start, self.Hp, self.Wp), dtype=x.dtype)
            buffer[:, :, pt : pt + self.H, pl : pl + self.W] = x[start:stop].transpose(3, 0, 1, 2)
            for i, j, where in self._positions():
                cols[i, j, :, start:stop] = buffer[where]

        split_batch(xp, work, self.N, cols.size)
        return cols.reshape(self.KH * self.KW * self.C, self.pixels)

    def col2im(self, xp, cols):
        """Adjoint of :meth:`im2col`: add each kernel position's rows back into an ``(N, H, W, C)`` array."""
        (pt, _), (pl, _) = self.pads
        cols = cols.reshape(self.KH, self.KW, self.C, self.N, self.OH, self.OW)
        out = xp.empty((self.N, self.H, self.W, self.C), dtype=cols.dtype)

        def work(start, stop):
            buffer = xp.zeros((self.C, stop - start, self.Hp, self.Wp), dtype=cols.dtype)
            for i, j, where in self._positions():
                buffer[where] += cols[i, j, :, start:stop]
            out[start:stop] = buffer[:, :, pt : pt + self.H, pl : pl + self.W].transpose(1, 2, 3, 0)

        split_batch(xp, work, self.N, cols.size)
        return out


class _RowToeplitz:
    """Convolution as one well-shaped matrix product over blocks of output columns (for few input channels).

    Take ``Wb`` neighbouring output columns of one output row: they read
    ``span = (Wb - 1) * sw + (KW - 1) * dw + 1`` columns of each of the ``KH``
    input rows under the kernel. Those ``KH * span * C`` values, multiplied by
    a banded (Toeplitz) matrix ``T`` of shape ``(KH * span * C, Wb * F)`` that
    holds the kernel at every one of the ``Wb`` positions, give the block's
    ``Wb * F`` outputs, already channels-last. ``T`` is the same for every
    block, so the whole convolution is one product
    ``(N * OH * nb, KH * span * C) @ T`` with ``nb = OW / Wb`` blocks per row,
    and its rows (one strided copy of the input) come out in the order of the
    output. It does ``span / KW`` times the multiplications of im2col, but
    with a far better shape for the BLAS when ``C`` is small (im2col's
    ``KH * KW * C`` inner dimension is then tiny) and with less copying.
    ``Wb`` is the widest block (a divisor of ``OW``) whose span stays within
    :data:`TOEPLITZ_MAX_WASTE` times the kernel's, widened while a block's
    input run (``span * C`` values, the unit of the copy) is shorter than
    :data:`TOEPLITZ_MIN_RUN`. LeNet-5 (batch 256, measured here) runs its first
    layer with ``Wb = 14`` (4.2 ms for the copy and the products of forward and
    kernel gradient, with cold caches; 4.0 ms with ``Wb = 7``, 5.3 ms with 4 and
    5.6 ms with ``Wb = OW = 28``) and its second with ``Wb = 5`` (3.7 ms; 4.0 ms
    with 2, 4.4 ms with 10).
    """

    def __init__(self, geo, block):
        self.geo = g = geo
        (sh, sw), (dh, dw) = g.strides, g.dilation
        self.Wb, self.nb = block, g.OW // block
        self.span = (block - 1) * sw + (g.KW - 1) * dw + 1
        self.inner = g.KH * self.span * g.C  # columns of the rows, rows of T (plus one for the bias)
        # flat positions in T[i] (span * C, Wb * F) of kernel entry (j, c, f) at block column q
        j, c, f, q = numpy.meshgrid(numpy.arange(g.KW), numpy.arange(g.C), numpy.arange(g.F), numpy.arange(block),
                                    indexing="ij")
        row = (q * sw + j * dw) * g.C + c
        self.flat = (row * (block * g.F) + q * g.F + f).reshape(-1)  # ordered (j, c, f, q)
        self.row_slices = [slice(i * dh, i * dh + (g.OH - 1) * sh + 1, sh) for i in range(g.KH)]
        self.col_slices = [slice(b * block * sw * g.C, (b * block * sw + self.span) * g.C) for b in range(self.nb)]

    @staticmethod
    def for_geometry(geo, block):
        """The plan for ``geo`` (cached: a training step meets the same shapes every time)."""
        key = ((geo.N, geo.H, geo.W, geo.C), (geo.KH, geo.KW, geo.C, geo.F), geo.strides, geo.dilation, geo.pads)
        return _cached_plan(key, block)

    @staticmethod
    def block_width(geo):
        """The block width for ``geo``, or None when im2col suits it better."""
        if geo.KH * geo.KW * geo.C > TOEPLITZ_MAX_INNER:
            return None
        (_, sw), (_, dw) = geo.strides, geo.dilation
        one = (geo.KW - 1) * dw + 1
        widths = [w for w in range(1, geo.OW + 1) if geo.OW % w == 0]
        best = max([w for w in widths if (w - 1) * sw + one <= TOEPLITZ_MAX_WASTE * geo.KW], default=1)
        # the rows are copied in runs of span * C values: runs that short make the copy the bottleneck
        longer = [w for w in widths if w >= best and ((w - 1) * sw + one) * geo.C >= TOEPLITZ_MIN_RUN]
        return min(longer, default=best)  # one column per block is im2col with the pixels on the rows

    def toeplitz(self, xp, kernel, bias=None):
        """``T`` of shape ``(KH * span * C, Wb * F)``; with ``bias``, one more row holding it (see :meth:`rows`)."""
        g, inner = self.geo, self.inner
        T = xp.zeros((inner + (bias is not None), self.Wb * g.F), dtype=kernel.dtype)
        kernel_rows = T[:inner].reshape(g.KH, -1)
        kernel_rows[:, xp.asarray(self.flat)] = xp.broadcast_to(kernel[..., None], kernel.shape + (self.Wb,)).reshape(g.KH, -1)
        if bias is not None:
            T[inner] = xp.tile(bias, self.Wb)
        return T

    def rows(self, xp, x, ones=False):
        """``(N * OH * nb, KH * span * C)``: for every block of output columns, the input values it reads.

        One copy out of a strided view of the (padded) input: a single call
        costs a third of a loop of ``KH * nb`` slice copies on a machine
        whose caches the rest of the step keeps busy. With ``ones``, one more
        column of ones: times the bias row of :meth:`toeplitz` it adds the
        bias inside the product, and the same column turns the kernel
        gradient's product into the bias gradient too (no extra passes).
        """
        g = self.geo
        (pt, pb), (pl, pr) = g.pads
        (sh, sw), (dh, _) = g.strides, g.dilation
        if pt or pb or pl or pr:
            padded = xp.zeros((g.N, g.Hp, g.Wp, g.C), dtype=x.dtype)
            padded[:, pt : pt + g.H, pl : pl + g.W] = x
        else:
            padded = xp.ascontiguousarray(x)
        s_c = padded.itemsize  # from the shape: NumPy may give axes of length 1 any stride
        s_w, s_h, s_n = g.C * s_c, g.Wp * g.C * s_c, g.Hp * g.Wp * g.C * s_c
        windows = xp.lib.stride_tricks.as_strided(
            padded, shape=(g.N, g.OH, self.nb, g.KH, self.span * g.C),
            strides=(s_n, sh * s_h, self.Wb * sw * s_w, dh * s_h, s_c))  # a span of pixels is span * C values in a row
        inner = self.inner
        matrix = xp.empty((g.N * g.OH * self.nb, inner + ones), dtype=x.dtype)
        stacked = matrix[:, :inner].reshape(windows.shape)  # a view: the rows of matrix are inner (+ 1) long
        if ones:
            matrix[:, inner] = 1

        def work(start, stop):
            stacked[start:stop] = windows[start:stop]

        split_batch(xp, work, g.N, stacked.size)
        return matrix

    def unrows(self, xp, stacked):
        """Adjoint of :meth:`rows`: add the copies back into an ``(N, H, W, C)`` array."""
        g = self.geo
        (pt, _), (pl, _) = g.pads
        stacked = stacked.reshape(g.N, g.OH, self.nb, g.KH, self.span * g.C)
        padding = (g.Hp, g.Wp) != (g.H, g.W)
        out = xp.empty((g.N, g.H, g.W, g.C), dtype=stacked.dtype) if padding else xp.zeros((g.N, g.H, g.W * g.C), dtype=stacked.dtype)

        def work(start, stop):
            # without padding the sums go straight into the result
            padded = xp.zeros((stop - start, g.Hp, g.Wp * g.C), dtype=stacked.dtype) if padding else out[start:stop]
            for i, rows in enumerate(self.row_slices):
                for b, cols in enumerate(self.col_slices):
                    padded[:, rows, cols] += stacked[start:stop, :, b, i]
            if padding:
                out[start:stop] = padded.reshape(stop - start, g.Hp, g.Wp, g.C)[:, pt : pt + g.H, pl : pl + g.W]

        split_batch(xp, work, g.N, stacked.size)
        return out.reshape(g.N, g.H, g.W, g.C)

    def kernel_grad(self, xp, grad_t):
        """Gradient of the kernel from the gradient of T: sum each kernel entry's copies."""
        g = self.geo
        picked = grad_t[: self.inner].reshape(g.KH, -1)[:, xp.asarray(self.flat)]
        return picked.reshape(g.KH, g.KW, g.C, g.F, self.Wb).sum(axis=-1)

    def bias_grad(self, grad_t):
        """Gradient of the bias from the gradient of T's bias row (see :meth:`toeplitz`)."""
        return grad_t[self.inner].reshape(self.Wb, self.geo.F).sum(axis=0)


@functools.lru_cache(maxsize=64)
def _cached_plan(key, block):
    x_shape, kernel_shape, strides, dilation, pads = key
    return _RowToeplitz(_Geometry(x_shape, kernel_shape, strides, dilation, pads), block)


#: the block-Toeplitz product is used while im2col's inner dimension ``KH * KW * C`` is at most this
TOEPLITZ_MAX_INNER = 256
#: widest block: at most this many times the multiplications of im2col
TOEPLITZ_MAX_WASTE = 2.2
#: ...unless a block's input run (span * C values) would be shorter than this: then the next wider block
TOEPLITZ_MIN_RUN = 16
#: long matrix products are split into batches of about this many pixels (BLAS handles
#: ``(p x n) @ (n x q)`` with huge ``n`` and tiny ``p, q`` poorly; a batch of blocks is much faster)
BLOCK = 4096


def _blocks(n):
    """Number of blocks and block size to split ``n`` pixels into (the remainder handled apart)."""
    count = max(n // BLOCK, 1)
    return count, n // count


def _matmul_reduce(xp, a, b):
    """``a @ b`` for ``a (p, n)``, ``b (n, q)`` with a long inner dimension ``n``: summed block products."""
    p, n = a.shape
    count, size = _blocks(n)
    if count == 1:
        return a @ b
    main = count * size
    out = xp.matmul(a[:, :main].reshape(p, count, size).transpose(1, 0, 2), b[:main].reshape(count, size, -1)).sum(axis=0)
    if main < n:
        out += a[:, main:] @ b[main:]
    return out


def _matmul_tall(xp, a_t, b):
    """``a_t.T @ b`` for ``a_t (p, n)``, ``b (p, q)``: an ``(n, q)`` result computed block by block."""
    p, n = a_t.shape
    count, size = _blocks(n)
    if count == 1:
        return a_t.T @ b
    out = xp.empty((n, b.shape[1]), dtype=xp.result_type(a_t, b))
    main = count * size
    xp.matmul(a_t[:, :main].reshape(p, count, size).transpose(1, 2, 0), b, out=out[:main].reshape(count, size, -1))
    if main < n:
        out[main:] = a_t[:, main:].T @ b
    return out


# ------------------------------------------------------------ convolution
class Conv2d(Function):
    """2-D convolution (cross-correlation, like every deep-learning library), channels last.

    Inputs ``x (N, H, W, C)``, ``kernel (KH, KW, C, F)``, optional ``bias (F,)``;
    op parameters ``strides``, ``dilation`` (pairs) and ``pads`` (two
    ``(before, after)`` pairs); ``relu=True`` fuses a ReLU after the bias.
    """

    relu = False

    def forward(self, x, kernel, bias=None):
        xp = self.xp
        geo = self.geo = _Geometry(x.shape, kernel.shape, self.strides, self.dilation, self.pads)
        block = _RowToeplitz.block_width(geo)
        if block is not None:
            plan = self.toeplitz = _RowToeplitz.for_geometry(geo, block)
            self.T = plan.toeplitz(xp, kernel, bias)  # the bias is added inside the product
            self.rows = plan.rows(xp, x, ones=bias is not None)
            out = self.rows @ self.T
            bias = None
        else:
            self.toeplitz = None
            self.kernel2d = kernel.reshape(-1, geo.F)
            self.cols = geo.im2col(xp, x)
            out = _matmul_tall(xp, self.cols, self.kernel2d)
        out = out.reshape(geo.N, geo.OH, geo.OW * geo.F)
        if bias is not None or self.relu:
            # the bias is added on rows of OW * F values: an innermost axis of only F is slow to broadcast
            row_bias = None if bias is None else xp.tile(bias, geo.OW)
            self.mask = xp.empty(out.shape, dtype=bool) if self.relu else None

            def finish(start, stop):
                part = out[start:stop]
                if row_bias is not None:
                    part += row_bias
                if self.relu:
                    xp.greater(part, 0, out=self.mask[start:stop])
                    xp.maximum(part, 0, out=part)

            split_batch(xp, finish, geo.N, out.size)
        return out.reshape(geo.N, geo.OH, geo.OW, geo.F)

    def backward(self, grad):
        xp, geo, plan = self.xp, self.geo, self.toeplitz
        if self.relu:
            masked = xp.empty(grad.shape, dtype=grad.dtype)
            grad3 = grad.reshape(self.mask.shape)
            split_batch(xp, lambda start, stop: xp.multiply(grad3[start:stop], self.mask[start:stop],
                                                            out=masked.reshape(self.mask.shape)[start:stop]),
                        geo.N, grad.size)
            grad = masked
        gx = gk = gb = None
        bias_grad = len(self.needs_grad) > 2 and self.needs_grad[2]
        if plan is not None:
            grad2d = grad.reshape(geo.N * geo.OH * plan.nb, plan.Wb * geo.F)
            if self.needs_grad[0]:
                gx = plan.unrows(xp, grad2d @ self.T[: plan.inner].T)
            if self.needs_grad[1] or bias_grad:
                grad_t = self.rows.T @ grad2d
                gk = plan.kernel_grad(xp, grad_t) if self.needs_grad[1] else None
                gb = plan.bias_grad(grad_t) if bias_grad else None
                bias_grad = False
        else:
            grad2d = grad.reshape(geo.pixels, geo.F)
            if self.needs_grad[0]:
                gx = geo.col2im(xp, self.kernel2d @ grad2d.T)
            if self.needs_grad[1]:
                gk = _matmul_reduce(xp, self.cols, grad2d).reshape(geo.KH, geo.KW, geo.C, geo.F)
        if bias_grad:
            gb = column_sums(xp, grad.reshape(-1, geo.F))
        return gx, gk, gb


class Conv2dTranspose(Function):
    """Transposed 2-D convolution: the gradient of :class:`Conv2d` with respect to its input.

    Inputs ``x (N, IH, IW, Cin)``, ``kernel (KH, KW, F, Cin)`` (Keras's layout),
    optional ``bias (F,)``; op parameters ``out_hw`` (the output's spatial
    size), ``strides``, ``dilation``, ``pads`` (those of the matching forward
    convolution of an ``out_hw`` image).
    """

    def forward(self, x, kernel, bias=None):
        xp = self.xp
        self.x_shape = x.shape
        geo = self.geo = _Geometry((x.shape[0],) + tuple(self.out_hw) + (kernel.shape[2],), kernel.shape, self.strides, self.dilation, self.pads)
        self.kernel2d = kernel.reshape(-1, kernel.shape[-1])
        self.x2d = x.reshape(geo.pixels, x.shape[-1])
        out = geo.col2im(xp, self.kernel2d @ self.x2d.T)
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        xp, geo = self.xp, self.geo
        cols = geo.im2col(xp, grad)
        gx = gk = gb = None
        if self.needs_grad[0]:
            gx = _matmul_tall(xp, cols, self.kernel2d).reshape(self.x_shape)
        if self.needs_grad[1]:
            gk = _matmul_reduce(xp, cols, self.x2d).reshape(geo.KH, geo.KW, geo.C, geo.F)
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = column_sums(xp, grad.reshape(-1, grad.shape[-1]))
        return gx, gk, gb


def _check_conv_inputs(name, x, kernel, bias, channels_axis_kernel):
    if x.ndim != 4:
        hint = " (add a channel axis, e.g. x[..., None])" if x.ndim == 3 else ""
        raise ValueError(f"{name}: expected input of shape (batch, height, width, channels), got shape {tuple(x.shape)}{hint}")
    if kernel.ndim != 4:
        raise ValueError(f"{name}: expected a kernel of shape (height, width, in, out), got shape {tuple(kernel.shape)}")
    if kernel.shape[channels_axis_kernel] != x.shape[-1]:
        raise ValueError(
            f"{name}: the input has {x.shape[-1]} channels (shape {tuple(x.shape)}) but the kernel of shape "
            f"{tuple(kernel.shape)} expects {kernel.shape[channels_axis_kernel]}"
        )
    out_channels = kernel.shape[5 - channels_axis_kernel]  # the other channel axis
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{name}: bias must have shape ({out_channels},), got {tuple(bias.shape)}")


def _spatial_check(name, in_hw, window, strides, dilation, padding, what="kernel"):
    """Pads and output size of a window sliding over ``in_hw``, or a ValueError when it does not fit."""
    pads, out = [], []
    for size, k, s, d in zip(in_hw, window, strides, dilation):
        pads.append(conv_padding(size, k, s, padding, d))
        out.append(conv_output_length(size, k, s, padding, d))
    if min(out) < 1:
        effective = tuple((k - 1) * d + 1 for k, d in zip(window, dilation))
        padded = tuple(n + a + b for n, (a, b) in zip(in_hw, pads))
        raise ValueError(
            f"{name}: the {what} {tuple(window)} (spanning {effective} with dilation {tuple(dilation)}) does not fit "
            f"the padded input of spatial size {padded} (input {tuple(in_hw)}, padding {padding!r}): the output would "
            f"have spatial size {tuple(out)}. Use a smaller {what}, padding='same', or a larger input."
        )
    return tuple(pads), tuple(out)


def conv2d(x, kernel, bias=None, strides=1, padding="valid", dilation=1, activation=None):
    """2-D convolution of channels-last images: ``x (N, H, W, C)``, ``kernel (KH, KW, C, F)`` -> ``(N, OH, OW, F)``.

    Args:
        strides, dilation: an int or a pair ``(rows, columns)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (TensorFlow/Keras rule:
            output ``ceil(H / stride)``, an odd total padding puts the extra pixel
            after).
        activation: None, or ``"relu"`` to fuse a ReLU into the same graph node.

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        >>> k = nerve.tensor(np.ones((2, 2, 1, 1), dtype=np.float32))
        >>> conv2d(x, k, strides=2).numpy()[0, :, :, 0].tolist()
        [[10.0, 18.0], [42.0, 50.0]]
    """
    x, kernel = _as_tensor(x), _as_tensor(kernel)
    bias = None if bias is None else _as_tensor(bias, x)
    _check_conv_inputs("conv2d", x, kernel, bias, 2)
    strides = _tuple("conv2d", strides, 2, "strides")
    dilation = _tuple("conv2d", dilation, 2, "dilation")
    padding = _check_padding("conv2d", padding)
    pads, _ = _spatial_check("conv2d", x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d: activation must be None or 'relu', got {activation!r}")
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    fused = {"relu": True} if activation == "relu" else {}
    return Conv2d.apply(*inputs, strides=strides, dilation=dilation, pads=pads, **fused)


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation=1):
    """1-D convolution of sequences: ``x (N, L, C)``, ``kernel (K, C, F)`` -> ``(N, OL, F)``.

    ``padding`` may also be ``"causal"``: pad ``(K - 1) * dilation`` zeros
    before the sequence only, so that output ``t`` sees inputs up to ``t``.

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.array([[[1.0], [2.0], [3.0]]], dtype=np.float32))
        >>> conv1d(x, nerve.tensor(np.ones((2, 1, 1), dtype=np.float32))).numpy().ravel().tolist()
        [3.0, 5.0]
    """
    x, kernel = _as_tensor(x), _as_tensor(kernel)
    if x.ndim != 3:
        hint = " (add a channel axis, e.g. x[..., None])" if x.ndim == 2 else ""
        raise ValueError(f"conv1d: expected input of shape (batch, steps, channels), got shape {tuple(x.shape)}{hint}")
    if kernel.ndim != 3:
        raise ValueError(f"conv1d: expected a kernel of shape (width, in, out), got shape {tuple(kernel.shape)}")
    padding = _check_padding("conv1d", padding, PADDINGS + ("causal",))
    (stride,) = _tuple("conv1d", strides, 1, "strides")
    (rate,) = _tuple("conv1d", dilation, 1, "dilation")
    if kernel.shape[1] != x.shape[-1]:
        raise ValueError(
            f"conv1d: the input has {x.shape[-1]} channels (shape {tuple(x.shape)}) but the kernel of shape "
            f"{tuple(kernel.shape)} expects {kernel.shape[1]}"
        )
    if bias is not None:
        bias = _as_tensor(bias, x)
        if tuple(bias.shape) != (kernel.shape[2],):
            raise ValueError(f"conv1d: bias must have shape ({kernel.shape[2]},), got {tuple(bias.shape)}")
    (pad,), (_,) = _spatial_check("conv1d", x.shape[1:2], kernel.shape[:1], (stride,), (rate,), padding)
    x4 = reshape(x, (x.shape[0], 1) + tuple(x.shape[1:]))
    k4 = reshape(kernel, (1,) + tuple(kernel.shape))
    inputs = (x4, k4) if bias is None else (x4, k4, bias)
    out = Conv2d.apply(*inputs, strides=(1, stride), dilation=(1, rate), pads=((0, 0), pad))
    return reshape(out, (out.shape[0],) + tuple(out.shape[2:]))


def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", dilation=1):
    """Transposed convolution (Keras ``Conv2DTranspose``): ``x (N, H, W, C)``, ``kernel (KH, KW, F, C)``.

    It is the gradient of :func:`conv2d` with respect to its input, for an
    input of the output's size; it upsamples by ``strides``. Output size per
    axis: ``H * stride`` (``"same"``) or ``H * stride + max(K - stride, 0)``
    (``"valid"``), see :func:`deconv_output_length`.

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.ones((1, 2, 2, 1), dtype=np.float32))
        >>> k = nerve.tensor(np.ones((2, 2, 1, 1), dtype=np.float32))
        >>> conv2d_transpose(x, k, strides=2).numpy()[0, :, :, 0].tolist()
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    x, kernel = _as_tensor(x), _as_tensor(kernel)
    bias = None if bias is None else _as_tensor(bias, x)
    _check_conv_inputs("conv2d_transpose", x, kernel, bias, 3)
    strides = _tuple("conv2d_transpose", strides, 2, "strides")
    dilation = _tuple("conv2d_transpose", dilation, 2, "dilation")
    padding = _check_padding("conv2d_transpose", padding)
    out_hw = tuple(deconv_output_length(n, k, s, padding, d)
                   for n, k, s, d in zip(x.shape[1:3], kernel.shape[:2], strides, dilation))
    pads = tuple(conv_padding(n, k, s, padding, d) for n, k, s, d in zip(out_hw, kernel.shape[:2], strides, dilation))
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    return Conv2dTranspose.apply(*inputs, out_hw=out_hw, strides=strides, dilation=dilation, pads=pads)


# ---------------------------------------------------------------- pooling
def _window_slices(count, window, stride):
    """For each window offset, the slice picking that offset in every window along one axis."""
    return [slice(a, a + (count - 1) * stride + 1, stride) for a in range(window)]


class MaxPool2d(Function):
    """Max pooling over ``pool`` windows moved by ``strides`` on an already padded input (pads are ``-inf``).

    Two stages, each an elementwise maximum of shifted views: over the ``kh``
    rows of every window (views whose rows stay contiguous, the fast case for
    channels-last images), then over the ``kw`` columns of the row maxima. Each
    stage records which offset won (the first one on ties), and the backward
    pass sends the gradient to that offset. When the windows tile the image
    (strides equal to the pool, the usual case) the backward pass writes every
    offset's share straight into its strided view of the result, and both
    passes split the batch over nerve's threads.
    """

    def forward(self, x):
        xp = self.xp
        (pt, pb), (pl, pr) = self.pads
        if pt or pb or pl or pr:
            x = xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=-numpy.inf)
        self.padded_shape = x.shape
        (kh, kw), (sh, sw), (oh, ow) = self.pool, self.strides, self.out_hw
        self.rows = _window_slices(oh, kh, sh)
        self.cols = _window_slices(ow, kw, sw)
        self.tiled = (kh, kw) == (sh, sw)
        if not self.tiled:
            self.row_arg, rows_max = _running_extreme(xp, [x[:, r] for r in self.rows])
            self.col_arg, out = _running_extreme(xp, [rows_max[:, :, c] for c in self.cols])
            return out.copy() if self.row_arg is None and self.col_arg is None else out
        N, C = x.shape[0], x.shape[3]
        out = xp.empty((N, oh, ow, C), dtype=x.dtype)
        self.row_arg = _winner_array(xp, kh, (N, oh, ow * kw, C))
        self.col_arg = _winner_array(xp, kw, (N, oh, ow, C))

        def work(start, stop):
            part = x[start:stop, : oh * kh, : ow * kw]
            row_arg = None if self.row_arg is None else self.row_arg[start:stop]
            col_arg = None if self.col_arg is None else self.col_arg[start:stop]
            _, rows_max = _running_extreme(xp, [part[:, r] for r in self.rows], arg_out=row_arg)
            _running_extreme(xp, [rows_max[:, :, c] for c in self.cols], out=out[start:stop], arg_out=col_arg)

        split_batch(xp, work, N, x.size)
        return out

    def backward(self, grad):
        xp = self.xp
        N, Hp, Wp, C = self.padded_shape
        (kh, kw), (oh, ow) = self.pool, self.out_hw
        if self.tiled:
            gx = xp.empty((N, oh * kh, ow * kw, C), dtype=grad.dtype)

            def work(start, stop):
                g_rows = xp.empty((stop - start, oh, ow * kw, C), dtype=grad.dtype)
                col_arg = None if self.col_arg is None else self.col_arg[start:stop]
                row_arg = None if self.row_arg is None else self.row_arg[start:stop]
                _send_to_winner(xp, grad[start:stop], col_arg, [g_rows[:, :, c] for c in self.cols])
                _send_to_winner(xp, g_rows, row_arg, [gx[start:stop, r] for r in self.rows])

            split_batch(xp, work, N, gx.size)
            if gx.shape != self.padded_shape:  # rows/columns left over after the last window get no gradient
                full = xp.zeros(self.padded_shape, dtype=grad.dtype)
                full[:, : oh * kh, : ow * kw] = gx
                gx = full
        else:
            g_rows = _scatter(xp, grad, self.col_arg, self.cols, (N, oh, Wp, C), axis=2)
            gx = _scatter(xp, g_rows, self.row_arg, self.rows, self.padded_shape, axis=1)
        (pt, _), (pl, _) = self.pads
        H, W = Hp - sum(self.pads[0]), Wp - sum(self.pads[1])
        if (H, W) != (Hp, Wp):
            gx = gx[:, pt : pt + H, pl : pl + W]
        return (gx,)


def _winner_array(xp, window, shape):
    """Storage for :func:`_running_extreme`'s winners over ``window`` candidates (None for one candidate)."""
    if window == 1:
        return None
    return xp.empty(shape, dtype=bool if window == 2 else numpy.uint8)


def _running_extreme(xp, candidates, out=None, arg_out=None):
    """Elementwise maximum of ``candidates`` and which one first reaches it: ``(winner, maximum)``.

    The winner is None for one candidate, a bool array for two (True: the
    second is strictly larger) and a uint8 index otherwise. ``out`` and
    ``arg_out`` receive the results when given. Only whole-array arithmetic
    (masked assignment is many times slower): a later candidate that is
    strictly larger has a larger index, so the index of the winner is the
    maximum of ``index * (candidate beats the best so far)``.
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


def _send_to_winner(xp, grad, arg, parts):
    """Write ``grad`` into ``parts[winner]`` and zeros into the other parts (``arg`` from :func:`_running_extreme`)."""
    if arg is None:
        parts[0][...] = grad
    elif arg.dtype == bool:
        xp.multiply(grad, arg, out=parts[1])
        xp.subtract(grad, parts[1], out=parts[0])  # exactly grad where the first won, 0 where the second did
    else:
        for offset, part in enumerate(parts):
            xp.multiply(grad, arg == offset, out=part)


def _scatter(xp, grad, arg, slices, shape, axis):
    """Add ``grad`` at the window offset recorded in ``arg`` into a zero array of ``shape`` (overlapping windows).

    ``arg`` and ``grad`` have the pooled length on ``axis``; ``slices[a]``
    picks window offset ``a`` along that axis of the result.
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


class AvgPool2d(Function):
    """Average pooling; windows that reach into the padding average only their real pixels (Keras rule)."""

    def forward(self, x):
        xp = self.xp
        (pt, pb), (pl, pr) = self.pads
        self.input_shape = x.shape
        if pt or pb or pl or pr:
            x = xp.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
        self.padded_shape = x.shape
        (kh, kw), (sh, sw), (oh, ow) = self.pool, self.strides, self.out_hw
        self.rows = _window_slices(oh, kh, sh)
        self.cols = _window_slices(ow, kw, sw)
        H, W = self.input_shape[1:3]
        # real (unpadded) pixels per window, separable over rows and columns
        row_count = _window_counts(pt, H, oh, kh, sh)
        col_count = _window_counts(pl, W, ow, kw, sw)
        scale = 1.0 / (row_count[:, None] * col_count[None, :])
        self.scale = xp.asarray(scale[None, :, :, None], dtype=x.dtype)
        rows_sum = _sum_slices([x[:, r] for r in self.rows])
        out = _sum_slices([rows_sum[:, :, c] for c in self.cols])
        out *= self.scale
        return out

    def backward(self, grad):
        xp = self.xp
        N, Hp, Wp, C = self.padded_shape
        g = grad * self.scale
        g_rows = xp.zeros((N, grad.shape[1], Wp, C), dtype=grad.dtype)
        for c in self.cols:
            g_rows[:, :, c] += g
        gx = xp.zeros(self.padded_shape, dtype=grad.dtype)
        for r in self.rows:
            gx[:, r] += g_rows
        (pt, _), (pl, _) = self.pads
        H, W = self.input_shape[1:3]
        return (gx[:, pt : pt + H, pl : pl + W],)


def _window_counts(before, size, count, window, stride):
    """Number of real pixels in each of ``count`` windows along one axis (padding ``before`` pixels first)."""
    starts = numpy.arange(count) * stride - before
    return (numpy.minimum(starts + window, size) - numpy.maximum(starts, 0)).astype(numpy.float64)


def _sum_slices(parts):
    out = parts[0].copy()
    for part in parts[1:]:
        out += part
    return out


def _pool_args(name, x, pool_size, strides, padding, rank):
    x = _as_tensor(x)
    expected = "(batch, height, width, channels)" if rank == 2 else "(batch, steps, channels)"
    if x.ndim != rank + 2:
        hint = " (add a channel axis, e.g. x[..., None])" if x.ndim == rank + 1 else ""
        raise ValueError(f"{name}: expected input of shape {expected}, got shape {tuple(x.shape)}{hint}")
    pool = _tuple(name, pool_size, rank, "pool_size")
    strides = pool if strides is None else _tuple(name, strides, rank, "strides")
    padding = _check_padding(name, padding)
    pads, out = _spatial_check(name, x.shape[1 : rank + 1], pool, strides, (1,) * rank, padding, what="pool window")
    return x, pool, strides, pads, out


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling of ``(N, H, W, C)`` images; ``strides`` defaults to ``pool_size``.

    With ``"same"`` padding the padded pixels never win (they are ``-inf``).

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        >>> max_pool2d(x, 2).numpy()[0, :, :, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    x, pool, strides, pads, out = _pool_args("max_pool2d", x, pool_size, strides, padding, 2)
    return MaxPool2d.apply(x, pool=pool, strides=strides, pads=pads, out_hw=out)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of ``(N, H, W, C)`` images; with ``"same"`` only real pixels are averaged (like Keras).

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        >>> avg_pool2d(x, 2).numpy()[0, :, :, 0].tolist()
        [[2.5, 4.5], [10.5, 12.5]]
    """
    x, pool, strides, pads, out = _pool_args("avg_pool2d", x, pool_size, strides, padding, 2)
    return AvgPool2d.apply(x, pool=pool, strides=strides, pads=pads, out_hw=out)


def _pool1d(op, name, x, pool_size, strides, padding):
    x, (pool,), (stride,), (pad,), (out,) = _pool_args(name, x, pool_size, strides, padding, 1)
    x4 = reshape(x, (x.shape[0], 1) + tuple(x.shape[1:]))
    y = op.apply(x4, pool=(1, pool), strides=(1, stride), pads=((0, 0), pad), out_hw=(1, out))
    return reshape(y, (y.shape[0],) + tuple(y.shape[2:]))


def max_pool1d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling of ``(N, L, C)`` sequences.

    Example:
        >>> import numpy as np, nerve
        >>> max_pool1d(nerve.tensor(np.array([[[1.0], [3.0], [2.0], [0.0]]])), 2).numpy().ravel().tolist()
        [3.0, 2.0]
    """
    return _pool1d(MaxPool2d, "max_pool1d", x, pool_size, strides, padding)


def avg_pool1d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of ``(N, L, C)`` sequences.

    Example:
        >>> import numpy as np, nerve
        >>> avg_pool1d(nerve.tensor(np.array([[[1.0], [3.0], [2.0], [0.0]]])), 2).numpy().ravel().tolist()
        [2.0, 1.0]
    """
    return _pool1d(AvgPool2d, "avg_pool1d", x, pool_size, strides, padding)


def global_avg_pool(x, keepdims=False):
    """Mean over every axis but the batch and channel axes: ``(N, ..., C)`` -> ``(N, C)``.

    Example:
        >>> import numpy as np, nerve
        >>> global_avg_pool(nerve.tensor(np.ones((2, 3, 3, 4)))).shape
        (2, 4)
    """
    return _global_pool("global_avg_pool", mean, x, keepdims)


def global_max_pool(x, keepdims=False):
    """Maximum over every axis but the batch and channel axes: ``(N, ..., C)`` -> ``(N, C)``.

    Example:
        >>> import numpy as np, nerve
        >>> global_max_pool(nerve.tensor(np.ones((2, 3, 3, 4)))).shape
        (2, 4)
    """
    return _global_pool("global_max_pool", reduce_max, x, keepdims)


def _global_pool(name, reduce, x, keepdims):
    """Reduce over every axis but the batch and channel axes."""
    x = _as_tensor(x)
    if x.ndim < 3:
        raise ValueError(f"{name}: expected input of shape (batch, ..., channels), got shape {tuple(x.shape)}")
    return reduce(x, axis=tuple(range(1, x.ndim - 1)), keepdims=keepdims)


# ------------------------------------------------------- resizing, padding
class Upsample2d(Function):
    """Nearest-neighbour upsampling by integer factors ``size``; the gradient sums each block."""

    def forward(self, x):
        xp = self.xp
        N, H, W, C = x.shape
        sh, sw = self.size
        out = xp.empty((N, H, sh, W, sw, C), dtype=x.dtype)
        out[...] = x[:, :, None, :, None, :]
        return out.reshape(N, H * sh, W * sw, C)

    def backward(self, grad):
        N, H2, W2, C = grad.shape
        sh, sw = self.size
        return (grad.reshape(N, H2 // sh, sh, W2 // sw, sw, C).sum(axis=(2, 4)),)


def upsample2d(x, size=2):
    """Repeat every pixel ``size`` times along height and width (nearest neighbour).

    Example:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.array([[[[1.0], [2.0]]]]))
        >>> upsample2d(x, 2).numpy()[0, :, :, 0].tolist()
        [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]
    """
    x = _as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"upsample2d: expected input of shape (batch, height, width, channels), got shape {tuple(x.shape)}")
    return Upsample2d.apply(x, size=_tuple("upsample2d", size, 2, "size"))


def zero_pad2d(x, padding=1):
    """Zero padding of height and width: an int, ``(rows, columns)``, or ``((top, bottom), (left, right))``.

    Example:
        >>> import numpy as np, nerve
        >>> zero_pad2d(nerve.tensor(np.ones((1, 2, 2, 3))), ((1, 0), (2, 1))).shape
        (1, 3, 5, 3)
    """
    from nerve.engine.ops.core import pad

    x = _as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"zero_pad2d: expected input of shape (batch, height, width, channels), got shape {tuple(x.shape)}")
    pads = _pad_pairs("zero_pad2d", padding)
    return pad(x, ((0, 0),) + pads + ((0, 0),))


def _pad_pairs(name, padding):
    """Normalise ZeroPadding2D's ``padding`` argument to ``((top, bottom), (left, right))``."""
    try:
        if isinstance(padding, (int, numpy.integer)):
            pairs = ((int(padding),) * 2,) * 2
        elif all(isinstance(p, (int, numpy.integer)) for p in padding):
            rows, cols = (int(p) for p in padding)
            pairs = ((rows, rows), (cols, cols))
        else:
            pairs = tuple((int(a), int(b)) for a, b in padding)
    except (TypeError, ValueError):
        pairs = None
    if pairs is None or len(pairs) != 2 or any(p < 0 for pair in pairs for p in pair):
        raise ValueError(
            f"{name}: padding must be a non-negative int, (rows, columns), or ((top, bottom), (left, right)); got {padding!r}"
        )
    return pairs

