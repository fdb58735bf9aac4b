"""Convolution, pooling and upsampling on channels-last images (``(N, H, W, C)``, like Keras).

The op definitions: each op's forward and backward, and the public functions
that check their arguments. How the arrays are computed fast lives in
:mod:`nerve.engine.kernels`:

* a convolution is a matrix product, in one of two layouts
  (:mod:`nerve.engine.kernels.conv`): **im2col**, every kernel position's
  shifted copy of the input in one matrix ``cols (KH * KW * C_in, N * OH * OW)``
  so that the convolution is ``cols.T @ kernel``; or, for inputs with few
  channels, a **block-Toeplitz** product of blocks of input rows with a banded
  matrix built from the kernel (more multiplications, a far better shape
  for the BLAS, less copying). The backward pass reuses the same matrices;
  col2im adds each kernel position's slice back into place.
* pooling is separable (:mod:`nerve.engine.kernels.pool`): the maximum (or
  sum) over a ``kh x kw`` window is taken over the ``kh`` rows first, then
  over the ``kw`` columns. Max pooling records which position won at each
  stage and routes the gradient there (ties go to the first row, then the
  first column).

``padding="same"`` follows TensorFlow/Keras, including even kernels and
strides: ``total = max((ceil(H / s) - 1) * s + (k - 1) * d + 1 - H, 0)``,
``before = total // 2``, the rest after.

Examples:
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

import numpy

from nerve.engine.kernels.conv import (
    Geometry,
    add_bias_relu,
    col2im,
    im2col,
    matmul_reduce,
    matmul_tall,
    relu_grad,
    toeplitz_bias_grad,
    toeplitz_kernel_grad,
    toeplitz_matrix,
    toeplitz_plan,
    toeplitz_rows,
    toeplitz_unrows,
)
from nerve.engine.backend import get_array_module
from nerve.engine.kernels import half
from nerve.engine.kernels.pool import (
    avg_pool_scale,
    max_pool_overlapping,
    max_pool_overlapping_backward,
    max_pool_tiled,
    max_pool_tiled_backward,
    pad_hw,
    sum_pool,
    sum_pool_backward,
    unpad_hw,
)
from nerve.engine.kernels.winograd import WinogradPlan, use_winograd, winograd_backward, winograd_forward, winograd_kernel
from nerve.engine.ops.core import _as_tensor, column_sums, mean, pad, reshape
from nerve.engine.ops.core import max as reduce_max
from nerve.engine import validate
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
def normalize_tuple(name, value, n, what):
    """``value`` (int or sequence of ``n`` ints, each >= 1) as a tuple of ``n`` ints; ``name`` is the caller.

    Examples:
        >>> normalize_tuple("Conv2D", 3, 2, "kernel_size")
        (3, 3)
    """
    return validate.int_tuple(value, n, what, name)


def check_padding(name, padding, allowed=PADDINGS):
    """``padding`` in lowercase if it is one of ``allowed``; a ValueError naming the caller otherwise.

    Examples:
        >>> check_padding("Conv2D", "SAME")
        'same'
    """
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise ValueError(f"{name}: unknown padding {padding!r}; valid: {', '.join(repr(p) for p in allowed)}")
    return padding.lower()


def conv_padding(size, kernel, stride=1, padding="valid", dilation=1):
    """``(before, after)`` zero padding of one spatial axis, as TensorFlow/Keras pad it.

    ``"valid"`` pads nothing; ``"same"`` pads so that the output has
    ``ceil(size / stride)`` positions, putting the extra pixel (if any) after.

    Examples:
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

    Examples:
        >>> conv_output_length(28, 5), conv_output_length(28, 5, padding="same"), conv_output_length(7, 2, 2)
        (24, 28, 3)
    """
    before, after = conv_padding(size, kernel, stride, padding, dilation)
    return (size + before + after - (kernel - 1) * dilation - 1) // stride + 1


def deconv_output_length(size, kernel, stride=1, padding="valid", dilation=1):
    """Output length of one spatial axis of a transposed convolution (Keras ``Conv2DTranspose``).

    ``size * stride`` for ``"same"``; ``size * stride + max(k - stride, 0)`` for
    ``"valid"``, with ``k = (kernel - 1) * dilation + 1``.

    Examples:
        >>> deconv_output_length(7, 3, 2, "same"), deconv_output_length(7, 3, 2, "valid")
        (14, 15)
    """
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return size * stride
    return size * stride + max(effective - stride, 0)


# ------------------------------------------------------------ convolution
class Conv2d(Function):
    """2-D convolution (cross-correlation, like every deep-learning library), channels last.

    Inputs ``x (N, H, W, C)``, ``kernel (KH, KW, C, F)``, optional ``bias (F,)``;
    op parameters ``strides``, ``dilation`` (pairs) and ``pads`` (two
    ``(before, after)`` pairs); ``relu=True`` fuses a ReLU after the bias.
    3x3 stride-1 convolutions with many channels run as Winograd F(4x4, 3x3) or F(2x2, 3x3)
    (:mod:`nerve.engine.kernels.winograd`); otherwise the product is a
    block-Toeplitz one for few input channels, im2col for many
    (:mod:`nerve.engine.kernels.conv`).
    """

    relu = False

    def forward(self, x, kernel, bias=None):
        xp = self.xp
        geo = self.geo = Geometry(x.shape, kernel.shape, self.strides, self.dilation, self.pads)
        self.winograd = use_winograd(geo)
        plan = self.plan = None if self.winograd else toeplitz_plan(geo)
        if self.winograd:
            # float16 (a GPU's; NumPy's arrive here as float32) keeps the 2x2 tiles: the 4x4 tiles' transforms
            # hold larger numbers, about 5x the rounding error, too much for 11 bits
            tile = 2 if x.dtype.itemsize < 4 else None
            self.wplan = WinogradPlan(x.shape, geo.F, geo.pads, tile)
            self.U = winograd_kernel(xp, kernel, self.wplan.tile)
            out, self.V, self.mask = winograd_forward(xp, self.wplan, x, self.U, bias, self.relu)  # bias, ReLU fused
            return out
        elif plan is not None:
            self.T = toeplitz_matrix(xp, plan, kernel, bias)  # the bias is added inside the product
            self.rows = toeplitz_rows(xp, plan, x, ones=bias is not None)
            out = self.rows @ self.T
            bias = None
        else:
            self.kernel2d = kernel.reshape(-1, geo.F)
            self.cols = im2col(xp, x, geo)
            out = matmul_tall(xp, self.cols, self.kernel2d)
        out = out.reshape(geo.N, geo.OH, geo.OW * geo.F)
        self.mask = add_bias_relu(xp, out, bias, self.relu)  # in place
        return out.reshape(geo.N, geo.OH, geo.OW, geo.F)

    def backward(self, grad):
        xp, geo, plan = self.xp, self.geo, self.plan
        mask = self.mask if self.relu else None
        if mask is not None and not self.winograd:
            grad = relu_grad(xp, grad, mask)
        gx = gk = gb = None
        bias_grad = len(self.needs_grad) > 2 and self.needs_grad[2]
        if self.winograd:  # the ReLU's mask and the bias's gradient taken in Winograd's first pass over grad
            gx, gk, gb = winograd_backward(xp, self.wplan, grad, self.V, self.U, self.needs_grad[0],
                                           self.needs_grad[1], bias_grad, mask)
            bias_grad = False
        elif plan is not None:
            grad2d = grad.reshape(geo.N * geo.OH * plan.nb, plan.Wb * geo.F)
            if self.needs_grad[0]:
                gx = toeplitz_unrows(xp, plan, grad2d @ self.T[: plan.inner].T)
            if self.needs_grad[1] or bias_grad:
                grad_t = self.rows.T @ grad2d  # with the column of ones: the bias row's gradient too
                gk = toeplitz_kernel_grad(xp, plan, grad_t) if self.needs_grad[1] else None
                gb = toeplitz_bias_grad(plan, grad_t) if bias_grad else None
                bias_grad = False
        else:
            grad2d = grad.reshape(geo.pixels, geo.F)
            if self.needs_grad[0]:
                gx = col2im(xp, self.kernel2d @ grad2d.T, geo)
            if self.needs_grad[1]:
                gk = matmul_reduce(xp, self.cols, grad2d).reshape(geo.KH, geo.KW, geo.C, geo.F)
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
        geo = self.geo = Geometry((x.shape[0],) + tuple(self.out_hw) + (kernel.shape[2],), kernel.shape, self.strides, self.dilation, self.pads)
        self.kernel2d = kernel.reshape(-1, kernel.shape[-1])
        self.x2d = x.reshape(geo.pixels, x.shape[-1])
        out = col2im(xp, self.kernel2d @ self.x2d.T, geo)
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        xp, geo = self.xp, self.geo
        cols = im2col(xp, grad, geo)
        gx = gk = gb = None
        if self.needs_grad[0]:
            gx = matmul_tall(xp, cols, self.kernel2d).reshape(self.x_shape)
        if self.needs_grad[1]:
            gk = matmul_reduce(xp, cols, self.x2d).reshape(geo.KH, geo.KW, geo.C, geo.F)
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
        strides: an int or a pair ``(rows, columns)``.
        dilation: an int or a pair ``(rows, columns)``.
        padding: ``"valid"`` (no padding) or ``"same"`` (TensorFlow/Keras rule:
            output ``ceil(H / stride)``, an odd total padding puts the extra pixel
            after).
        activation: None, or ``"relu"`` to fuse a ReLU into the same graph node.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        >>> k = nerve.tensor(np.ones((2, 2, 1, 1), dtype=np.float32))
        >>> conv2d(x, k, strides=2).numpy()[0, :, :, 0].tolist()
        [[10.0, 18.0], [42.0, 50.0]]
    """
    x, kernel = _as_tensor(x), _as_tensor(kernel)
    bias = None if bias is None else _as_tensor(bias, x)
    _check_conv_inputs("conv2d", x, kernel, bias, 2)
    strides = normalize_tuple("conv2d", strides, 2, "strides")
    dilation = normalize_tuple("conv2d", dilation, 2, "dilation")
    padding = check_padding("conv2d", padding)
    pads, _ = _spatial_check("conv2d", x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d: activation must be None or 'relu', got {activation!r}")
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    fused = {"relu": True} if activation == "relu" else {}
    inputs, restore = _float32_on_numpy(inputs)
    return restore(Conv2d.apply(*inputs, strides=strides, dilation=dilation, pads=pads, **fused))


def conv1d(x, kernel, bias=None, strides=1, padding="valid", dilation=1):
    """1-D convolution of sequences: ``x (N, L, C)``, ``kernel (K, C, F)`` -> ``(N, OL, F)``.

    ``padding`` may also be ``"causal"``: pad ``(K - 1) * dilation`` zeros
    before the sequence only, so that output ``t`` sees inputs up to ``t``.

    Examples:
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
    padding = check_padding("conv1d", padding, PADDINGS + ("causal",))
    (stride,) = normalize_tuple("conv1d", strides, 1, "strides")
    (rate,) = normalize_tuple("conv1d", dilation, 1, "dilation")
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
    inputs, restore = _float32_on_numpy(inputs)
    out = restore(Conv2d.apply(*inputs, strides=(1, stride), dilation=(1, rate), pads=((0, 0), pad)))
    return reshape(out, (out.shape[0],) + tuple(out.shape[2:]))


def conv2d_transpose(x, kernel, bias=None, strides=1, padding="valid", dilation=1):
    """Transposed convolution (Keras ``Conv2DTranspose``): ``x (N, H, W, C)``, ``kernel (KH, KW, F, C)``.

    It is the gradient of :func:`conv2d` with respect to its input, for an
    input of the output's size; it upsamples by ``strides``. Output size per
    axis: ``H * stride`` (``"same"``) or ``H * stride + max(K - stride, 0)``
    (``"valid"``), see :func:`deconv_output_length`.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.ones((1, 2, 2, 1), dtype=np.float32))
        >>> k = nerve.tensor(np.ones((2, 2, 1, 1), dtype=np.float32))
        >>> conv2d_transpose(x, k, strides=2).numpy()[0, :, :, 0].tolist()
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]]
    """
    x, kernel = _as_tensor(x), _as_tensor(kernel)
    bias = None if bias is None else _as_tensor(bias, x)
    _check_conv_inputs("conv2d_transpose", x, kernel, bias, 3)
    strides = normalize_tuple("conv2d_transpose", strides, 2, "strides")
    dilation = normalize_tuple("conv2d_transpose", dilation, 2, "dilation")
    padding = check_padding("conv2d_transpose", padding)
    out_hw = tuple(deconv_output_length(n, k, s, padding, d)
                   for n, k, s, d in zip(x.shape[1:3], kernel.shape[:2], strides, dilation))
    pads = tuple(conv_padding(n, k, s, padding, d) for n, k, s, d in zip(out_hw, kernel.shape[:2], strides, dilation))
    inputs = (x, kernel) if bias is None else (x, kernel, bias)
    inputs, restore = _float32_on_numpy(inputs)
    return restore(Conv2dTranspose.apply(*inputs, out_hw=out_hw, strides=strides, dilation=dilation, pads=pads))


def _same(out):
    return out


def _float32_on_numpy(inputs):
    """The convolution's inputs, cast to float32 when they are float16 on NumPy (no float16 BLAS), and the
    function that brings the output back to float16: rounded once, as a GPU's float16 convolution with
    float32 accumulation gives. Other dtypes and array modules pass through."""
    dtype = inputs[0].data.dtype
    if not half.is_emulated(get_array_module(inputs[0].data), dtype):
        return inputs, _same
    return tuple(t.astype(numpy.float32) for t in inputs), lambda out: out.astype(dtype)


# ---------------------------------------------------------------- pooling
class MaxPool2d(Function):
    """Max pooling over ``pool`` windows moved by ``strides``; padded pixels are ``-inf`` and never win.

    Separable (over the window's rows, then its columns), recording which
    offset won at each stage; the gradient goes to the winner (ties: the
    first row, then the first column). Windows that tile the image
    (strides equal to the pool, the usual case) take the fast path of
    :func:`~nerve.engine.kernels.pool.max_pool_tiled`.
    """

    def forward(self, x):
        x = pad_hw(self.xp, x, self.pads, -numpy.inf)
        self.padded_shape = x.shape
        if self.pool == self.strides:
            out, self.winners = max_pool_tiled(self.xp, x, self.pool, self.out_hw)
        else:
            out, self.winners = max_pool_overlapping(self.xp, x, self.pool, self.strides, self.out_hw)
        return out

    def backward(self, grad):
        if self.pool == self.strides:
            gx = max_pool_tiled_backward(self.xp, grad, self.winners, self.pool, self.padded_shape)
        else:
            gx = max_pool_overlapping_backward(self.xp, grad, self.winners, self.pool, self.strides, self.padded_shape)
        return (unpad_hw(gx, self.pads),)


class AvgPool2d(Function):
    """Average pooling; windows that reach into the padding average only their real pixels (Keras rule)."""

    def forward(self, x):
        xp = self.xp
        hw = x.shape[1:3]
        x = pad_hw(xp, x, self.pads)
        self.padded_shape = x.shape
        self.scale = avg_pool_scale(xp, hw, self.pads, self.pool, self.strides, self.out_hw, x.dtype)
        out = sum_pool(xp, x, self.pool, self.strides, self.out_hw)
        out *= self.scale
        return out

    def backward(self, grad):
        gx = sum_pool_backward(self.xp, grad * self.scale, self.pool, self.strides, self.padded_shape)
        return (unpad_hw(gx, self.pads),)


def _pool_args(name, x, pool_size, strides, padding, rank):
    x = _as_tensor(x)
    expected = "(batch, height, width, channels)" if rank == 2 else "(batch, steps, channels)"
    if x.ndim != rank + 2:
        hint = " (add a channel axis, e.g. x[..., None])" if x.ndim == rank + 1 else ""
        raise ValueError(f"{name}: expected input of shape {expected}, got shape {tuple(x.shape)}{hint}")
    pool = normalize_tuple(name, pool_size, rank, "pool_size")
    strides = pool if strides is None else normalize_tuple(name, strides, rank, "strides")
    padding = check_padding(name, padding)
    pads, out = _spatial_check(name, x.shape[1 : rank + 1], pool, strides, (1,) * rank, padding, what="pool window")
    return x, pool, strides, pads, out


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling of ``(N, H, W, C)`` images; ``strides`` defaults to ``pool_size``.

    With ``"same"`` padding the padded pixels never win (they are ``-inf``).

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1))
        >>> max_pool2d(x, 2).numpy()[0, :, :, 0].tolist()
        [[5.0, 7.0], [13.0, 15.0]]
    """
    x, pool, strides, pads, out = _pool_args("max_pool2d", x, pool_size, strides, padding, 2)
    return MaxPool2d.apply(x, pool=pool, strides=strides, pads=pads, out_hw=out)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of ``(N, H, W, C)`` images; with ``"same"`` only real pixels are averaged (like Keras).

    Examples:
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

    Examples:
        >>> import numpy as np, nerve
        >>> max_pool1d(nerve.tensor(np.array([[[1.0], [3.0], [2.0], [0.0]]])), 2).numpy().ravel().tolist()
        [3.0, 2.0]
    """
    return _pool1d(MaxPool2d, "max_pool1d", x, pool_size, strides, padding)


def avg_pool1d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of ``(N, L, C)`` sequences.

    Examples:
        >>> import numpy as np, nerve
        >>> avg_pool1d(nerve.tensor(np.array([[[1.0], [3.0], [2.0], [0.0]]])), 2).numpy().ravel().tolist()
        [2.0, 1.0]
    """
    return _pool1d(AvgPool2d, "avg_pool1d", x, pool_size, strides, padding)


def global_avg_pool(x, keepdims=False):
    """Mean over every axis but the batch and channel axes: ``(N, ..., C)`` -> ``(N, C)``.

    Examples:
        >>> import numpy as np, nerve
        >>> global_avg_pool(nerve.tensor(np.ones((2, 3, 3, 4)))).shape
        (2, 4)
    """
    return _global_pool("global_avg_pool", mean, x, keepdims)


def global_max_pool(x, keepdims=False):
    """Maximum over every axis but the batch and channel axes: ``(N, ..., C)`` -> ``(N, C)``.

    Examples:
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

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.array([[[[1.0], [2.0]]]]))
        >>> upsample2d(x, 2).numpy()[0, :, :, 0].tolist()
        [[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]
    """
    x = _as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"upsample2d: expected input of shape (batch, height, width, channels), got shape {tuple(x.shape)}")
    return Upsample2d.apply(x, size=normalize_tuple("upsample2d", size, 2, "size"))


def zero_pad2d(x, padding=1):
    """Zero padding of height and width: an int, ``(rows, columns)``, or ``((top, bottom), (left, right))``.

    Examples:
        >>> import numpy as np, nerve
        >>> zero_pad2d(nerve.tensor(np.ones((1, 2, 2, 3))), ((1, 0), (2, 1))).shape
        (1, 3, 5, 3)
    """
    x = _as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"zero_pad2d: expected input of shape (batch, height, width, channels), got shape {tuple(x.shape)}")
    pads = pad_pairs("zero_pad2d", padding)
    return pad(x, ((0, 0),) + pads + ((0, 0),))


def pad_pairs(name, padding):
    """Normalise ZeroPadding2D's ``padding`` argument to ``((top, bottom), (left, right))``.

    Examples:
        >>> pad_pairs("ZeroPadding2D", (1, 2))
        ((1, 1), (2, 2))
    """
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

