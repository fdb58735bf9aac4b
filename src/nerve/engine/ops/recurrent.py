"""Recurrent ops: SimpleRNN, LSTM and GRU over whole sequences, with backpropagation through time.

Each public function takes a batch of sequences ``x`` of shape ``(batch, time,
features)`` and the weights in the Keras layout, and returns the outputs (and,
with ``return_state=True``, the final states).

How it is made fast: the input projection of every time step is ONE matrix
multiply (``x`` reshaped to ``(batch * time, features)`` times the kernel); only
the recurrent part (``h @ recurrent_kernel`` and the gate arithmetic) is
stepped in Python, inside a single fused :class:`~nerve.tensor.Function` per
sequence (:class:`LSTMRecurrence`, :class:`GRURecurrence`,
:class:`SimpleRNNRecurrence`). Its forward loops over time and saves the gate
activations; its backward loops backwards over time (BPTT), and computes the
recurrent kernel's gradient in one matrix multiply at the end; gradients that
vanish below ~2e-31 (float32) are flushed to zero rather than left to sink into
slow subnormal numbers (see ``FLUSH_FACTOR``). The fused ops
support the activations ``tanh``, ``sigmoid``, ``relu`` and ``linear``; any
other activation (a custom callable, ``gelu``...) or ``fused=False`` runs the
composed version, built step by step from nerve's differentiable ops. The
composed version is also the reference the tests compare the fused ops with.

Weight layout (Keras's, see ``docs/recurrent.md`` for the PyTorch mapping):

* SimpleRNN: ``kernel (F, U)``, ``recurrent_kernel (U, U)``, ``bias (U,)``.
* LSTM: ``kernel (F, 4U)``, ``recurrent_kernel (U, 4U)``, ``bias (4U,)``, gates
  in the order input ``i``, forget ``f``, cell candidate ``c``, output ``o``.
* GRU: ``kernel (F, 3U)``, ``recurrent_kernel (U, 3U)``, gates in the order
  update ``z``, reset ``r``, candidate ``h``. With ``reset_after=True`` (Keras
  2+ and PyTorch) the reset gate multiplies the recurrent projection
  (``n = tanh(x_h + r * (h @ R_h + b_rh))``) and there are two biases, for the
  input (``bias``) and the recurrent (``recurrent_bias``) projections; with
  ``reset_after=False`` it multiplies ``h`` before the projection and there is
  one bias.

Masks: ``mask`` is a boolean array ``(batch, time)``; at a masked (False) step
the state is carried over unchanged, so the output sequence repeats the
previous output there (Keras's default). Final states are those after the last
unmasked step.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import ops
    >>> x = nerve.tensor(np.ones((2, 5, 3)))
    >>> w, r, b = nerve.tensor(np.full((3, 8), 0.1)), nerve.tensor(np.zeros((2, 8))), nerve.tensor(np.zeros(8))
    >>> out, h, c = ops.lstm(x, None, None, w, r, b, return_sequences=True, return_state=True)
    >>> out.shape, h.shape, c.shape
    ((2, 5, 2), (2, 2), (2, 2))
"""

from __future__ import annotations

import numpy

from nerve.engine.kernels.elementwise import relu as relu_kernel
from nerve.engine.ops import core as _core
from nerve.engine.ops.core import column_sums, matmul, mul, reshape, stack, transpose
from nerve.engine.tensor import Function, Tensor

__all__ = [
    "GRURecurrence",
    "LSTMRecurrence",
    "LSTMSequence",
    "SimpleRNNRecurrence",
    "gru",
    "lstm",
    "simple_rnn",
]

#: activations the fused ops implement (forward in place, derivative from the output)
FUSED_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")


# ------------------------------------------------------------ array helpers
def _activate(xp, name, a):
    """Apply activation ``name`` to the array (or view) ``a`` in place."""
    if name == "tanh":
        xp.tanh(a, out=a)
    elif name == "sigmoid":
        # sigmoid(x) = (1 + tanh(x / 2)) / 2: no overflow for large |x|, all in place
        a *= 0.5
        xp.tanh(a, out=a)
        a *= 0.5
        a += 0.5
    elif name == "relu":
        relu_kernel(xp, a, out=a)
    # "linear": nothing to do


def _derivative_into(xp, name, y, out):
    """``out = f'(z)`` written with the activation's output ``y = f(z)``, without temporaries."""
    if name == "tanh":
        xp.multiply(y, y, out=out)
        xp.subtract(1, out, out=out)
    elif name == "sigmoid":
        xp.subtract(1, y, out=out)
        out *= y
    elif name == "relu":
        xp.greater(y, 0, out=out, casting="unsafe")
    else:
        out.fill(1)


def _times_derivative(name, d, y):
    """``d * f'(z)`` written with the activation's output ``y = f(z)`` (a new array)."""
    if name == "tanh":
        return d * (1 - y * y)
    if name == "sigmoid":
        return d * y * (1 - y)
    if name == "relu":
        return d * (y > 0)
    return d.copy()


#: backward loops set gradient entries below this many times the dtype's smallest normal number to zero,
#: every few steps, like a CPU's flush-to-zero mode: a gradient vanishing over a long sequence would otherwise
#: sink into subnormal numbers, which make every later arithmetic step many times slower (a change below
#: 2e-31 in float32).
FLUSH_FACTOR, FLUSH_EVERY = 2 ** 24, 4


def _flush_tiny(xp, t, *arrays):
    if t % FLUSH_EVERY:
        return
    for a in arrays:
        a[xp.abs(a) < FLUSH_FACTOR * numpy.finfo(a.dtype).tiny] = 0


def _time_major_mask(xp, mask, dtype):
    """(batch, time) boolean mask -> (time, batch, 1) boolean and float arrays."""
    keep = xp.ascontiguousarray(xp.asarray(mask, dtype=bool).T[:, :, None])
    return keep, keep.astype(dtype)


class _Recurrence(Function):
    """Shared parts of the fused recurrences.

    Inputs come time-major: ``xw`` is the input projection of every step,
    shape ``(T, B, G)``. With ``consume_input=True`` the op works in place in
    ``xw`` (the public functions pass a fresh projection, which saves copying
    it); otherwise it copies it first. The output is batch-major like the
    layers': ``(B, T, U)`` with ``return_sequences``, else ``(B, U)``.
    """

    def _start(self, xw, units):
        xp = self.xp
        T, B = xw.shape[0], xw.shape[1]
        gates = xw if self.consume_input else xw.copy()
        hs = xp.empty((T + 1, B, units), dtype=xw.dtype)  # h_0 ... h_T (h_{t-1} feeds the kernel gradient)
        self.keep = self.keepf = None
        if self.mask is not None:
            self.keep, self.keepf = _time_major_mask(xp, self.mask, xw.dtype)
        return gates, hs

    def _sequence_output(self, hs):
        T = hs.shape[0] - 1
        if self.return_sequences:
            return self.xp.ascontiguousarray(hs[1:].transpose(1, 0, 2))
        return hs[T].copy()

    def _grad_start(self, grad, B, U, dtype):
        """(per-step upstream gradients or None, initial dh) from the output gradient."""
        if self.return_sequences:
            return grad.transpose(1, 0, 2), self.xp.zeros((B, U), dtype=dtype)
        return None, grad.copy()

    def _kernel_grad(self, hs, dz, index):
        """Gradient of the recurrent kernel for all steps in one matmul: sum_t h_{t-1}^T dz_t."""
        if not self.needs_grad[index]:
            return None
        T, B = dz.shape[0], dz.shape[1]
        rm = self.recurrent_mask
        hp = hs[:-1] if rm is None else hs[:-1] * rm
        return hp.reshape(T * B, -1).T @ dz.reshape(T * B, -1)


class SimpleRNNRecurrence(_Recurrence):
    """Fused ``h_t = act(xw_t + h_{t-1} @ R)`` over a whole sequence (the input projection ``xw`` is given).

    Inputs: ``xw (T, B, U)`` (time-major), ``h0 (B, U)``, ``R (U, U)``.
    Parameters: ``activation`` (a name in ``FUSED_ACTIVATIONS``), ``mask``
    (``(B, T)`` boolean or None), ``recurrent_mask`` (``(B, U)`` dropout scale
    on ``h`` before the recurrent matmul, or None), ``return_sequences``,
    ``consume_input``. Output: ``(B, T, U)`` or ``(B, U)``.

    Examples:
        >>> import numpy as np, nerve
        >>> xw = nerve.tensor(np.ones((3, 1, 2)))
        >>> h0, r = nerve.tensor(np.zeros((1, 2))), nerve.tensor(np.eye(2))
        >>> SimpleRNNRecurrence.apply(xw, h0, r, activation="linear", mask=None, recurrent_mask=None,
        ...                           return_sequences=True, consume_input=False).numpy()[0, :, 0].tolist()
        [1.0, 2.0, 3.0]
    """

    def forward(self, xw, h0, R):
        xp = self.xp
        T, U = xw.shape[0], xw.shape[2]
        gates, hs = self._start(xw, U)
        hs[0] = h0
        rm = self.recurrent_mask
        for t in range(T):
            h, hn = hs[t], hs[t + 1]
            xp.matmul(h if rm is None else h * rm, R, out=hn)
            hn += gates[t]
            _activate(xp, self.activation, hn)
            if self.keep is not None:
                xp.copyto(hn, h, where=~self.keep[t])
        self.hs, self.R = hs, R
        return self._sequence_output(hs)

    def backward(self, grad):
        xp, hs, R, rm = self.xp, self.hs, self.R, self.recurrent_mask
        T, B, U = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        gseq, dh = self._grad_start(grad, B, U, hs.dtype)
        R_t = xp.ascontiguousarray(R.T)  # the BLAS runs d @ R_t ~15% faster than d @ R.T (a transposed view)
        dz = xp.empty((T, B, U), dtype=hs.dtype)
        for t in range(T - 1, -1, -1):
            if gseq is not None:
                dh += gseq[t]
            carry = None
            if self.keepf is not None:
                dnew = dh * self.keepf[t]
                carry, dh = dh - dnew, dnew
            dz[t] = _times_derivative(self.activation, dh, hs[t + 1])  # masked rows: dh is 0 there
            dh = dz[t] @ R_t
            _flush_tiny(xp, t, dh)
            if rm is not None:
                dh *= rm
            if carry is not None:
                dh += carry
        return dz, dh, self._kernel_grad(hs, dz, 2)


class LSTMRecurrence(_Recurrence):
    """Fused LSTM recurrence over a whole sequence, gates in Keras order ``i, f, c, o``.

    Inputs: ``xw (T, B, 4U)`` (time-major input projection with bias),
    ``h0 (B, U)``, ``c0 (B, U)``, ``R (U, 4U)``. Per step:
    ``z = xw_t + h @ R``; ``i, f, o = ract(z_i), ract(z_f), ract(z_o)``;
    ``g = act(z_c)``; ``c = f * c + i * g``; ``h = o * act(c)``. Parameters as
    :class:`SimpleRNNRecurrence` plus ``recurrent_activation`` and
    ``return_cell``: when True, the final cell state is appended along the time
    axis (output ``(B, T + 1, U)``, or ``(B, 2, U)`` = ``[h_T, c_T]`` without
    ``return_sequences``). :func:`lstm` uses it with recurrent dropout;
    otherwise :class:`LSTMSequence`, which folds the input projection into the
    recurrent product.

    Examples:
        >>> import numpy as np, nerve
        >>> xw = nerve.tensor(np.zeros((2, 1, 4)))
        >>> z = nerve.tensor(np.zeros((1, 1)))
        >>> out = LSTMRecurrence.apply(xw, z, z, nerve.tensor(np.zeros((1, 4))), activation="tanh",
        ...     recurrent_activation="sigmoid", mask=None, recurrent_mask=None, return_sequences=False,
        ...     return_cell=True, consume_input=False)
        >>> out.shape
        (1, 2, 1)
    """

    def _standard(self):
        """The default activations (tanh, sigmoid): all four gates then take one tanh per step (see forward)."""
        return self.activation == "tanh" and self.recurrent_activation == "sigmoid"

    def _gate_vectors(self, U, dtype):
        """Per-column ``(scale, shift)`` over the gates ``i, f, c, o``: 0.5 for the sigmoid gates, 1 and 0 for c."""
        xp = self.xp
        half = xp.full(4 * U, 0.5, dtype=dtype)
        half[2 * U: 3 * U] = 1
        shift = xp.full(4 * U, 0.5, dtype=dtype)
        shift[2 * U: 3 * U] = 0
        return half, shift

    def forward(self, xw, h0, c0, R):
        xp = self.xp
        B, G = xw.shape[1], xw.shape[2]
        rm = self.recurrent_mask
        gates, hs = self._start(xw, G // 4)  # gates: pre-activations, then activations
        q = xp.empty((B, G), dtype=xw.dtype)
        if self._standard():
            half, _ = self._gate_vectors(G // 4, xw.dtype)
            gates *= half  # see _steps
            R_step = R * half
        else:
            R_step = R

        def product(t, g):
            h = hs[t]
            xp.matmul(h if rm is None else h * rm, R_step, out=q)
            g += q

        self.R = R
        return self._steps(gates, hs, h0, c0, product)

    def _steps(self, gates, hs, h0, c0, product):
        """Run the recurrence: ``product(t, g)`` adds step ``t``'s products into its gates ``g``; returns the output.

        With the standard activations, ``product`` gives the sigmoid gates' pre-activations halved:
        sigmoid(z) = (1 + tanh(z / 2)) / 2, so with the sigmoid gates' columns of the products halved (exact:
        a power of two) each step is one tanh over all four gates, then (scale, shift) = (0.5, 0.5) on the
        sigmoid gates and (1, 0) on c. Same bits as gate by gate.
        """
        xp = self.xp
        T, B, G = gates.shape
        U = G // 4
        act, ract = self.activation, self.recurrent_activation
        cs = xp.empty((T + 1, B, U), dtype=gates.dtype)
        acs = xp.empty((T, B, U), dtype=gates.dtype)  # act(c_t) before masking
        hs[0], cs[0] = h0, c0
        standard = self._standard()
        if standard:
            # whole (B, 4U) arrays, not rows: NumPy broadcasts a row over a small array ~1.6x slower per call
            half, shift = (xp.broadcast_to(v, (B, G)).copy() for v in self._gate_vectors(U, gates.dtype))
        for t in range(T):
            g, h, c = gates[t], hs[t], cs[t + 1]
            product(t, g)
            if standard:
                xp.tanh(g, out=g)
                g *= half
                g += shift
            else:
                _activate(xp, ract, g[:, : 2 * U])
                _activate(xp, act, g[:, 2 * U: 3 * U])
                _activate(xp, ract, g[:, 3 * U:])
            xp.multiply(g[:, U: 2 * U], cs[t], out=c)
            a = acs[t]
            xp.multiply(g[:, :U], g[:, 2 * U: 3 * U], out=a)
            c += a
            if standard:
                xp.tanh(c, out=a)
            else:
                a[...] = c
                _activate(xp, act, a)
            hn = hs[t + 1]
            xp.multiply(g[:, 3 * U:], a, out=hn)
            if self.keep is not None:
                old = ~self.keep[t]
                xp.copyto(hn, h, where=old)
                xp.copyto(c, cs[t], where=old)
        self.gates, self.hs, self.cs, self.acs = gates, hs, cs, acs
        if not self.return_cell:
            return self._sequence_output(hs)
        out = xp.concatenate([hs[1:] if self.return_sequences else hs[T:], cs[T:]], axis=0)
        return xp.ascontiguousarray(out.transpose(1, 0, 2))

    def backward(self, grad):
        dz, dh, dc = self._through_time(grad)
        return dz, dh, dc, self._kernel_grad(self.hs, dz, 3)

    def _through_time(self, grad):
        """Backpropagation through time: ``(dz, dh_0, dc_0)``, ``dz (T, B, 4U)`` the gradient of the pre-activations.

        Step by step, each step's arrays stay in the cache (computing the factors of ``dz`` that the forward
        pass fixes for all steps at once, before the loop, was measured 10-15% slower: passes over arrays
        of T times the size).
        """
        xp, hs, cs, acs, gates, R, rm = self.xp, self.hs, self.cs, self.acs, self.gates, self.R, self.recurrent_mask
        act, ract = self.activation, self.recurrent_activation
        T, B, U = acs.shape
        dc = xp.zeros((B, U), dtype=hs.dtype)
        if self.return_cell:
            dc, grad = grad[:, -1].copy(), grad[:, :-1]
            if not self.return_sequences:
                grad = grad[:, 0]
        gseq, dh = self._grad_start(grad, B, U, hs.dtype)
        R_t = xp.ascontiguousarray(R.T)  # the BLAS runs d @ R_t ~15% faster than d @ R.T (a transposed view)
        t1, t2 = xp.empty((B, U), dtype=hs.dtype), xp.empty((B, U), dtype=hs.dtype)
        dz = xp.empty_like(gates)  # not written over the gates: backward may run twice (retain_graph=True)
        standard = self._standard()
        if standard:
            # the four gates' derivatives in one go: s * (1 - s) on the sigmoid gates, 1 - g * g on c,
            # as (ones - y) * y + on_c, with ones = 1 but 0 on c, and on_c = 1 on c only
            on_c = xp.zeros((B, 4 * U), dtype=hs.dtype)  # whole arrays, not rows (see _steps)
            on_c[:, 2 * U: 3 * U] = 1
            ones = 1 - on_c
            slopes = xp.empty((B, 4 * U), dtype=hs.dtype)
        for t in range(T - 1, -1, -1):
            if gseq is not None:
                dh += gseq[t]
            hcarry = ccarry = None
            if self.keepf is not None:
                m = self.keepf[t]
                dnew, cnew = dh * m, dc * m
                hcarry, ccarry, dh, dc = dh - dnew, dc - cnew, dnew, cnew
            g, d = gates[t], dz[t]
            i, f, gg, o = g[:, :U], g[:, U: 2 * U], g[:, 2 * U: 3 * U], g[:, 3 * U:]
            a = acs[t]
            xp.multiply(dh, o, out=t1)  # dc += dh * o * act'(a)
            _derivative_into(xp, act, a, t2)
            t1 *= t2
            dc += t1
            if standard:
                xp.subtract(ones, g, out=slopes)
                slopes *= g
                slopes += on_c
                xp.multiply(dc, gg, out=d[:, :U])  # di = dc * g * ract'(i)
                xp.multiply(dc, cs[t], out=d[:, U: 2 * U])  # df = dc * c_{t-1} * ract'(f)
                xp.multiply(dc, i, out=d[:, 2 * U: 3 * U])  # dg = dc * i * act'(g)
                xp.multiply(dh, a, out=d[:, 3 * U:])  # do = dh * a * ract'(o)
                d *= slopes
            else:
                _derivative_into(xp, ract, i, t2)  # di = dc * g * ract'(i)
                xp.multiply(dc, gg, out=d[:, :U])
                d[:, :U] *= t2
                _derivative_into(xp, ract, f, t2)  # df = dc * c_{t-1} * ract'(f)
                xp.multiply(dc, cs[t], out=d[:, U: 2 * U])
                d[:, U: 2 * U] *= t2
                _derivative_into(xp, act, gg, t2)  # dg = dc * i * act'(g)
                xp.multiply(dc, i, out=d[:, 2 * U: 3 * U])
                d[:, 2 * U: 3 * U] *= t2
                _derivative_into(xp, ract, o, t2)  # do = dh * a * ract'(o)
                xp.multiply(dh, a, out=d[:, 3 * U:])
                d[:, 3 * U:] *= t2
            dc *= f
            dh = d @ R_t
            _flush_tiny(xp, t, dh, dc)
            if rm is not None:
                dh *= rm
            if hcarry is not None:
                dh += hcarry
                dc += ccarry
        return dz, dh, dc


class LSTMSequence(LSTMRecurrence):
    """Fused LSTM over a whole sequence with the input projection folded into each step's product.

    Inputs: ``x (T, B, F)`` (time-major), ``h0 (B, U)``, ``c0 (B, U)``,
    ``R (U, 4U)``, ``W (F, 4U)`` and optionally ``bias (4U,)``. Step ``t``'s
    pre-activations are one product ``[h_t, x_t, 1] @ [R; W; bias]``: the
    input projection and the bias come with the recurrent product, and the
    gradients of ``R``, ``W`` and ``bias`` are one product at the end
    (``[h, x, 1]^T @ dz`` over all steps). Parameters as
    :class:`LSTMRecurrence` without ``consume_input``; no ``recurrent_mask``
    (recurrent dropout takes :class:`LSTMRecurrence`).

    Examples:
        >>> import numpy as np, nerve
        >>> x, z = nerve.tensor(np.ones((3, 2, 1))), nerve.tensor(np.zeros((2, 1)))
        >>> w, r = nerve.tensor(np.full((1, 4), 0.5)), nerve.tensor(np.zeros((1, 4)))
        >>> out = LSTMSequence.apply(x, z, z, r, w, activation="tanh", recurrent_activation="sigmoid", mask=None,
        ...                          recurrent_mask=None, return_sequences=True, return_cell=False)
        >>> out.shape
        (2, 3, 1)
    """

    def forward(self, x, h0, c0, R, W, bias=None):
        xp = self.xp
        T, B, F = x.shape
        U, G = R.shape
        K = U + F + (bias is not None)
        hx = xp.empty((T + 1, B, K), dtype=x.dtype)  # [h_t, x_t, 1]: h_T's row has zeros after h
        hx[:T, :, U: U + F] = x
        hx[T, :, U:] = 0
        if bias is not None:
            hx[:T, :, U + F] = 1
        RW = xp.empty((K, G), dtype=x.dtype)
        RW[:U], RW[U: U + F] = R, W
        if bias is not None:
            RW[U + F] = bias
        if self._standard():
            RW *= self._gate_vectors(U, x.dtype)[0]  # see _steps
        self.keep = self.keepf = None
        if self.mask is not None:
            self.keep, self.keepf = _time_major_mask(xp, self.mask, x.dtype)
        gates = xp.empty((T, B, G), dtype=x.dtype)

        def product(t, g):
            xp.matmul(hx[t], RW, out=g)

        self.R, self.W, self.hx = R, W, hx
        return self._steps(gates, hx[:, :, :U], h0, c0, product)

    def backward(self, grad):
        dz, dh, dc = self._through_time(grad)
        T, B, G = dz.shape
        U, F = G // 4, self.W.shape[0]
        dz2 = dz.reshape(T * B, G)
        ng = self.needs_grad
        dx = (dz2 @ self.W.T).reshape(T, B, F) if ng[0] else None
        dR = dW = db = None
        if any(ng[3:]):
            # [h, x, 1]^T @ dz: the gradients of R, W and the bias in one product
            grads = self.hx[:-1].reshape(T * B, -1).T @ dz2
            dR = grads[:U] if ng[3] else None
            dW = grads[U: U + F] if ng[4] else None
            db = grads[U + F] if len(ng) > 5 and ng[5] else None
        return dx, dh, dc, dR, dW, db


class GRURecurrence(_Recurrence):
    """Fused GRU recurrence (``reset_after=True``, the Keras 2+ and PyTorch form), gates in Keras order ``z, r, h``.

    Inputs: ``xw (T, B, 3U)`` (time-major input projection with the input
    bias), ``h0 (B, U)``, ``R (U, 3U)``, ``recurrent_bias (3U,)``. Per step:
    ``q = h @ R + recurrent_bias``; ``z = ract(xw_z + q_z)``;
    ``r = ract(xw_r + q_r)``; ``n = act(xw_h + r * q_h)``;
    ``h = z * h + (1 - z) * n``. Parameters as :class:`SimpleRNNRecurrence`
    plus ``recurrent_activation``.

    Examples:
        >>> import numpy as np, nerve
        >>> xw = nerve.tensor(np.zeros((2, 1, 3)))
        >>> h0, r, b = nerve.tensor(np.ones((1, 1))), nerve.tensor(np.zeros((1, 3))), nerve.tensor(np.zeros(3))
        >>> GRURecurrence.apply(xw, h0, r, b, activation="tanh", recurrent_activation="sigmoid", mask=None,
        ...                     recurrent_mask=None, return_sequences=False, consume_input=False).item()
        0.25
    """

    def forward(self, xw, h0, R, bias):
        xp = self.xp
        T, B, G = xw.shape
        U = G // 3
        act, ract, rm = self.activation, self.recurrent_activation, self.recurrent_mask
        gates, hs = self._start(xw, U)  # gates: z, r, n after activation
        gates[:, :, : 2 * U] += bias[: 2 * U]  # the recurrent bias of z and r acts like an input bias
        qh = xp.empty((T, B, U), dtype=xw.dtype)  # h @ R_h + b_h, which the reset gate multiplies
        hs[0] = h0
        q = xp.empty((B, G), dtype=xw.dtype)
        for t in range(T):
            g, h, hn = gates[t], hs[t], hs[t + 1]
            xp.matmul(h if rm is None else h * rm, R, out=q)
            zr, n = g[:, : 2 * U], g[:, 2 * U:]
            zr += q[:, : 2 * U]
            _activate(xp, ract, zr)
            xp.add(q[:, 2 * U:], bias[2 * U:], out=qh[t])
            xp.multiply(g[:, U: 2 * U], qh[t], out=hn)
            n += hn
            _activate(xp, act, n)
            xp.subtract(h, n, out=hn)  # h_new = n + z * (h - n)
            hn *= g[:, :U]
            hn += n
            if self.keep is not None:
                xp.copyto(hn, h, where=~self.keep[t])
        self.gates, self.qh, self.hs, self.R = gates, qh, hs, R
        return self._sequence_output(hs)

    def backward(self, grad):
        xp, hs, gates, qh, R, rm = self.xp, self.hs, self.gates, self.qh, self.R, self.recurrent_mask
        act, ract = self.activation, self.recurrent_activation
        T, B, U = qh.shape
        gseq, dh = self._grad_start(grad, B, U, hs.dtype)
        R_t = xp.ascontiguousarray(R.T)  # the BLAS runs d @ R_t ~15% faster than d @ R.T (a transposed view)
        dq = xp.empty((T, B, 3 * U), dtype=hs.dtype)  # gradient of the recurrent projection q
        dx = xp.empty_like(gates)  # gradient of the input projection (the gates stay intact for another backward)
        for t in range(T - 1, -1, -1):
            if gseq is not None:
                dh += gseq[t]
            carry = None
            if self.keepf is not None:
                dnew = dh * self.keepf[t]
                carry, dh = dh - dnew, dnew
            g, d = gates[t], dq[t]
            z, r, n = g[:, :U], g[:, U: 2 * U], g[:, 2 * U:]
            d[:, :U] = _times_derivative(ract, dh * (hs[t] - n), z)
            dn = _times_derivative(act, dh - dh * z, n)
            d[:, U: 2 * U] = _times_derivative(ract, dn * qh[t], r)
            xp.multiply(dn, r, out=d[:, 2 * U:])
            dhp = dh * z
            dx[t, :, : 2 * U] = d[:, : 2 * U]
            dx[t, :, 2 * U:] = dn
            dh = d @ R_t
            if rm is not None:
                dh *= rm
            dh += dhp
            _flush_tiny(xp, t, dh)
            if carry is not None:
                dh += carry
        dbias = column_sums(xp, dq.reshape(T * B, 3 * U)) if self.needs_grad[3] else None
        return dx, dh, self._kernel_grad(hs, dq, 2), dbias


# ---------------------------------------------------------- public functions
def _identity(x):
    return x


def _gelu(x):
    return _core.gelu(x, approximate=False)  # the "gelu" activation is the exact (erf) form, as in Keras


# Activations the recurrent ops take by name; the fused kernels compute the first four themselves.
_ACTIVATION_OPS = {"linear": _identity, "relu": _core.relu, "sigmoid": _core.sigmoid, "tanh": _core.tanh,
                   "elu": _core.elu, "gelu": _gelu, "silu": _core.silu, "softplus": _core.softplus}
_NAME_OF_OP = {id(fn): name for name, fn in _ACTIVATION_OPS.items()}


def _resolve_activation(activation):
    """``(function, fusable name or None)`` for an activation given as a name, None (linear) or a callable."""
    if activation is None:
        activation = "linear"
    if isinstance(activation, str):
        fn = _ACTIVATION_OPS.get(activation.lower())
        if fn is None:
            raise ValueError(f"unknown recurrent activation {activation!r}; names the ops take: "
                             f"{', '.join(sorted(_ACTIVATION_OPS))}, or pass a callable")
        name = activation.lower()
    elif callable(activation):
        fn, name = activation, _NAME_OF_OP.get(id(activation))
    else:
        raise TypeError(f"activation must be a name or a callable, got {type(activation).__name__}")
    return fn, (name if name in FUSED_ACTIVATIONS else None)


def _check_sequence_input(fn_name, x, kernel, gates):
    if x.ndim != 3:
        raise ValueError(
            f"{fn_name}: expected x of shape (batch, time, features), got shape {tuple(x.shape)}; "
            "for one feature per step add an axis: x[..., None]"
        )
    if kernel.shape[0] != x.shape[-1]:
        raise ValueError(
            f"{fn_name}: x has {x.shape[-1]} features (shape {tuple(x.shape)}) but the kernel expects "
            f"{kernel.shape[0]} (kernel shape {tuple(kernel.shape)})"
        )
    if kernel.shape[1] % gates:
        raise ValueError(f"{fn_name}: kernel width {kernel.shape[1]} is not a multiple of {gates} gates")


def _zeros_state(x, units):
    return Tensor(x.xp.zeros((x.shape[0], units), dtype=x.dtype))


def _check_state(fn_name, state, batch, units, what):
    if state.shape != (batch, units):
        raise ValueError(f"{fn_name}: {what} must have shape (batch, units) = {(batch, units)}, got {tuple(state.shape)}")


class _Projection(Function):
    """``x @ w + b`` for 2-D ``x``, like ``ops.linear``, but one feature (``F == 1``) uses a broadcast product.

    BLAS is very slow at a matrix product with an inner dimension of 1 (an outer
    product); ``x * w`` gives the same numbers many times faster.
    """

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        out = x * w if x.shape[1] == 1 else x @ w
        if b is not None:
            out += b
        return out

    def backward(self, grad):
        x, w = self.x, self.w
        gx = grad @ w.T if self.needs_grad[0] else None
        gw = x.T @ grad if self.needs_grad[1] else None
        gb = column_sums(self.xp, grad) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb


def _project(x, kernel, bias, time_major=False):
    """All time steps' input projections in one matmul: (B, T, F) -> (B, T, G), or (T, B, G) if ``time_major``."""
    B, T, F = x.shape
    G = kernel.shape[1]
    if time_major:  # transposing x (F wide) is cheaper than transposing the projection (G wide)
        rows, shape = reshape(transpose(x, (1, 0, 2)), (T * B, F)), (T, B, G)
    else:
        rows, shape = reshape(x, (B * T, F)), (B, T, G)
    out = _Projection.apply(rows, kernel) if bias is None else _Projection.apply(rows, kernel, bias)
    return reshape(out, shape)


def _check_mask(fn_name, mask, x):
    if mask is None:
        return None
    mask = mask.data if isinstance(mask, Tensor) else mask
    if tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f"{fn_name}: mask must have shape (batch, time) = {tuple(x.shape[:2])}, got {tuple(mask.shape)}")
    return x.xp.asarray(mask).astype(bool)


def _use_fused(fn_name, fused, names):
    ok = all(n is not None for n in names)
    if fused and not ok:
        raise ValueError(f"{fn_name}: fused=True needs activations among {', '.join(FUSED_ACTIVATIONS)}")
    return ok if fused is None else bool(fused)


def _carry(mask, t, new, old):
    """Composed masking: ``new`` where the step is real, ``old`` where it is padding."""
    m = Tensor(mask[:, t, None].astype(new.dtype))
    return new * m + old * (1 - m)


def _recurrent_in(h, recurrent_mask):
    return h if recurrent_mask is None else mul(h, Tensor(recurrent_mask))


def simple_rnn(x, h0, kernel, recurrent_kernel, bias=None, activation="tanh", mask=None, recurrent_mask=None,
               return_sequences=False, return_state=False, fused=None):
    """Fully connected RNN ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Args:
        x: ``(batch, time, features)``.
        h0: initial state ``(batch, units)``, or None for zeros.
        kernel: ``(F, U)``.
        recurrent_kernel: ``(U, U)``.
        bias: ``(U,)`` or None.
        activation: name or callable.
        mask: boolean ``(batch, time)``; False steps carry the state over.
        recurrent_mask: ``(batch, units)`` multiplier of ``h`` before the
            recurrent matmul (recurrent dropout), or None.
        return_sequences: outputs of every step ``(B, T, U)`` instead of the last ``(B, U)``.
        return_state: also return the final state: ``(outputs, h_T)``.
        fused: None picks the fused op when the activation allows; False forces
            the composed reference.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.ones((1, 3, 1)))
        >>> k, r = nerve.tensor(np.ones((1, 1))), nerve.tensor(np.ones((1, 1)))
        >>> simple_rnn(x, None, k, r, activation="linear", return_sequences=True).numpy().ravel().tolist()
        [1.0, 2.0, 3.0]
    """
    _check_sequence_input("simple_rnn", x, kernel, 1)
    U = kernel.shape[1]
    h0 = _zeros_state(x, U) if h0 is None else h0
    _check_state("simple_rnn", h0, x.shape[0], U, "h0")
    mask = _check_mask("simple_rnn", mask, x)
    act, name = _resolve_activation(activation)
    if _use_fused("simple_rnn", fused, [name]):
        xw = _project(x, kernel, bias, time_major=True)
        out = SimpleRNNRecurrence.apply(xw, h0, recurrent_kernel, activation=name, mask=mask,
                                        recurrent_mask=recurrent_mask, return_sequences=return_sequences,
                                        consume_input=True)
        if not return_state:
            return out
        return out, (out[:, -1] if return_sequences else out)
    xw = _project(x, kernel, bias)
    h, outputs = h0, []
    for t in range(x.shape[1]):
        new = act(xw[:, t] + matmul(_recurrent_in(h, recurrent_mask), recurrent_kernel))
        h = new if mask is None else _carry(mask, t, new, h)
        outputs.append(h)
    out = stack(outputs, axis=1) if return_sequences else h
    return (out, h) if return_state else out


def lstm(x, h0, c0, kernel, recurrent_kernel, bias=None, activation="tanh", recurrent_activation="sigmoid",
         mask=None, recurrent_mask=None, return_sequences=False, return_state=False, fused=None):
    """Long short-term memory over a batch of sequences (Keras gate order ``i, f, c, o``).

    ``z = x_t @ kernel + h @ recurrent_kernel + bias`` split into four gates;
    ``c = f * c + i * act(z_c)``, ``h = o * act(c)`` with ``i, f, o`` passed
    through ``recurrent_activation``. Arguments as :func:`simple_rnn`;
    ``c0`` is the initial cell state (None for zeros). With
    ``return_state=True`` returns ``(outputs, h_T, c_T)``.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.ones((2, 4, 1)))
        >>> k, r = nerve.tensor(np.full((1, 12), 0.5)), nerve.tensor(np.zeros((3, 12)))
        >>> lstm(x, None, None, k, r).shape
        (2, 3)
    """
    _check_sequence_input("lstm", x, kernel, 4)
    B, U = x.shape[0], kernel.shape[1] // 4
    h0 = _zeros_state(x, U) if h0 is None else h0
    c0 = _zeros_state(x, U) if c0 is None else c0
    _check_state("lstm", h0, B, U, "h0")
    _check_state("lstm", c0, B, U, "c0")
    mask = _check_mask("lstm", mask, x)
    (act, act_name), (ract, ract_name) = _resolve_activation(activation), _resolve_activation(recurrent_activation)
    names = [act_name, ract_name]
    if _use_fused("lstm", fused, names):
        if recurrent_mask is None:  # the input projection folded into the recurrent product
            inputs = (transpose(x, (1, 0, 2)), h0, c0, recurrent_kernel, kernel) + (() if bias is None else (bias,))
            out = LSTMSequence.apply(*inputs, activation=names[0], recurrent_activation=names[1], mask=mask,
                                     recurrent_mask=None, return_sequences=return_sequences, return_cell=return_state)
        else:
            xw = _project(x, kernel, bias, time_major=True)
            out = LSTMRecurrence.apply(xw, h0, c0, recurrent_kernel, activation=names[0],
                                       recurrent_activation=names[1], mask=mask, recurrent_mask=recurrent_mask,
                                       return_sequences=return_sequences, return_cell=return_state,
                                       consume_input=True)
        if not return_state:
            return out
        if return_sequences:
            return out[:, :-1], out[:, -2], out[:, -1]
        return out[:, 0], out[:, 0], out[:, 1]
    xw = _project(x, kernel, bias)
    h, c, outputs = h0, c0, []
    for t in range(x.shape[1]):
        z = xw[:, t] + matmul(_recurrent_in(h, recurrent_mask), recurrent_kernel)
        i, f = ract(z[:, :U]), ract(z[:, U: 2 * U])
        g, o = act(z[:, 2 * U: 3 * U]), ract(z[:, 3 * U:])
        c_new = f * c + i * g
        h_new = o * act(c_new)
        if mask is None:
            h, c = h_new, c_new
        else:
            h, c = _carry(mask, t, h_new, h), _carry(mask, t, c_new, c)
        outputs.append(h)
    out = stack(outputs, axis=1) if return_sequences else h
    return (out, h, c) if return_state else out


def gru(x, h0, kernel, recurrent_kernel, bias=None, recurrent_bias=None, activation="tanh",
        recurrent_activation="sigmoid", reset_after=True, mask=None, recurrent_mask=None, return_sequences=False,
        return_state=False, fused=None):
    """Gated recurrent unit over a batch of sequences (Keras gate order ``z, r, h``).

    ``z = ract(x W_z + h R_z + b)``, ``r = ract(x W_r + h R_r + b)``, and
    ``h = z * h + (1 - z) * n`` with the candidate
    ``n = act(x W_h + b_h + r * (h R_h + b_rh))`` when ``reset_after`` (Keras
    2+ and PyTorch; ``bias`` is the input bias and ``recurrent_bias`` the
    recurrent bias, each ``(3U,)``) or ``n = act(x W_h + (r * h) R_h + b_h)``
    otherwise (``recurrent_bias`` must be None). Other arguments as
    :func:`simple_rnn`; ``return_state=True`` gives ``(outputs, h_T)``. The
    fused op covers ``reset_after=True``; ``reset_after=False`` runs composed.

    Examples:
        >>> import numpy as np, nerve
        >>> x = nerve.tensor(np.ones((2, 4, 1)))
        >>> k, r = nerve.tensor(np.full((1, 9), 0.5)), nerve.tensor(np.zeros((3, 9)))
        >>> gru(x, None, k, r, return_sequences=True).shape
        (2, 4, 3)
    """
    _check_sequence_input("gru", x, kernel, 3)
    B, U = x.shape[0], kernel.shape[1] // 3
    h0 = _zeros_state(x, U) if h0 is None else h0
    _check_state("gru", h0, B, U, "h0")
    if not reset_after and recurrent_bias is not None:
        raise ValueError("gru: reset_after=False has a single bias; recurrent_bias must be None")
    mask = _check_mask("gru", mask, x)
    (act, act_name), (ract, ract_name) = _resolve_activation(activation), _resolve_activation(recurrent_activation)
    names = [act_name, ract_name]
    if reset_after and _use_fused("gru", fused, names):
        xw = _project(x, kernel, bias, time_major=True)
        rb = recurrent_bias if recurrent_bias is not None else Tensor(x.xp.zeros(3 * U, dtype=x.dtype))
        out = GRURecurrence.apply(xw, h0, recurrent_kernel, rb, activation=names[0], recurrent_activation=names[1],
                                  mask=mask, recurrent_mask=recurrent_mask, return_sequences=return_sequences,
                                  consume_input=True)
        if not return_state:
            return out
        return out, (out[:, -1] if return_sequences else out)
    if fused and not reset_after:
        raise ValueError("gru: the fused op implements reset_after=True only; use fused=None or False")
    xw = _project(x, kernel, bias)
    h, outputs = h0, []
    for t in range(x.shape[1]):
        xt = xw[:, t]
        hr = _recurrent_in(h, recurrent_mask)
        if reset_after:
            q = matmul(hr, recurrent_kernel)
            if recurrent_bias is not None:
                q = q + recurrent_bias
            z = ract(xt[:, :U] + q[:, :U])
            r = ract(xt[:, U: 2 * U] + q[:, U: 2 * U])
            n = act(xt[:, 2 * U:] + r * q[:, 2 * U:])
        else:
            q = matmul(hr, recurrent_kernel[:, : 2 * U])
            z = ract(xt[:, :U] + q[:, :U])
            r = ract(xt[:, U: 2 * U] + q[:, U:])
            n = act(xt[:, 2 * U:] + matmul(r * hr, recurrent_kernel[:, 2 * U:]))
        new = z * h + (1 - z) * n
        h = new if mask is None else _carry(mask, t, new, h)
        outputs.append(h)
    out = stack(outputs, axis=1) if return_sequences else h
    return (out, h) if return_state else out

