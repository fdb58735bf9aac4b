"""LSTM, GRU and SimpleRNN against PyTorch's nn.LSTM / nn.GRU / nn.RNN given the same weights.

Weight layout mapping (Keras/nerve -> PyTorch), U = units:

* LSTM: gate blocks i, f, c, o in both; ``weight_ih_l0 = kernel.T``,
  ``weight_hh_l0 = recurrent_kernel.T``, ``bias_ih_l0 + bias_hh_l0 = bias``
  (here: ``bias_ih = bias``, ``bias_hh = 0``).
* GRU (reset_after=True): nerve blocks z, r, h; PyTorch blocks r, z, n.
  ``weight_ih_l0 = kernel[:, [r, z, h]].T``, ``weight_hh_l0 = recurrent_kernel[:, [r, z, h]].T``,
  ``bias_ih_l0 = bias[0][[r, z, h]]``, ``bias_hh_l0 = bias[1][[r, z, h]]``.
* SimpleRNN: ``weight_ih_l0 = kernel.T``, ``weight_hh_l0 = recurrent_kernel.T``, ``bias_ih_l0 = bias``.
"""

import numpy
import pytest

import nerve
from nerve import layers

torch = pytest.importorskip("torch")

B, T, F, U = 3, 6, 4, 5


def _blocks(array, order, units):
    """Reorder gate blocks along the last axis: order lists nerve block indices in PyTorch order."""
    return numpy.concatenate([array[..., i * units:(i + 1) * units] for i in order], axis=-1)


def to_torch(layer, dtype=torch.float64):
    """A torch module with ``layer``'s weights (nerve/Keras layout -> PyTorch layout)."""
    k, r = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    if isinstance(layer, layers.LSTM):
        module, order, b_ih, b_hh = torch.nn.LSTM(F, U, batch_first=True), [0, 1, 2, 3], layer.bias.numpy(), None
    elif isinstance(layer, layers.GRU):
        module, order = torch.nn.GRU(F, U, batch_first=True), [1, 0, 2]
        b_ih, b_hh = layer.bias.numpy()[0], layer.bias.numpy()[1]
    else:
        module, order, b_ih, b_hh = torch.nn.RNN(F, U, batch_first=True), [0], layer.bias.numpy(), None
    module = module.to(dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(_blocks(k, order, U).T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(_blocks(r, order, U).T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(_blocks(b_ih, order, U)))
        module.bias_hh_l0.copy_(torch.from_numpy(_blocks(b_hh, order, U)) if b_hh is not None else 0.0)
    return module, order


def _perturb(layer):
    for w in layer.trainable_weights:
        w.data[...] += nerve.random.generator().normal(scale=0.3, size=w.shape).astype(w.dtype)


@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_outputs_and_gradients_match_torch(rng, kind, dtype):
    cls = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}[kind]
    layer = cls(U, return_sequences=True, return_state=True, dtype=dtype)
    x_np = rng.normal(size=(B, T, F)).astype(dtype)
    h0_np = rng.normal(size=(B, U)).astype(dtype)
    c0_np = rng.normal(size=(B, U)).astype(dtype)
    layer(x_np)
    _perturb(layer)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    module, order = to_torch(layer, tdtype)

    x = nerve.tensor(x_np, requires_grad=True)
    h0 = nerve.tensor(h0_np, requires_grad=True)
    states = [h0] + ([nerve.tensor(c0_np, requires_grad=True)] if kind == "lstm" else [])
    out = layer(x, initial_state=states)
    seq, h = out[0], out[1]
    upstream_seq = rng.normal(size=seq.shape).astype(dtype)
    upstream_h = rng.normal(size=h.shape).astype(dtype)
    loss = (seq * nerve.tensor(upstream_seq)).sum() + (h * nerve.tensor(upstream_h)).sum()
    if kind == "lstm":
        upstream_c = rng.normal(size=(B, U)).astype(dtype)
        loss = loss + (out[2] * nerve.tensor(upstream_c)).sum()
    loss.backward()

    xt = torch.tensor(x_np, requires_grad=True)
    h0t = torch.tensor(h0_np[None], requires_grad=True)
    if kind == "lstm":
        c0t = torch.tensor(c0_np[None], requires_grad=True)
        seq_t, (h_t, c_t) = module(xt, (h0t, c0t))
    else:
        seq_t, h_t = module(xt, h0t)
    loss_t = (seq_t * torch.from_numpy(upstream_seq)).sum() + (h_t[0] * torch.from_numpy(upstream_h)).sum()
    if kind == "lstm":
        loss_t = loss_t + (c_t[0] * torch.from_numpy(upstream_c)).sum()
    loss_t.backward()

    tol = dict(rtol=1e-10, atol=1e-10) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    numpy.testing.assert_allclose(seq.numpy(), seq_t.detach().numpy(), **tol)
    numpy.testing.assert_allclose(h.numpy(), h_t[0].detach().numpy(), **tol)
    if kind == "lstm":
        numpy.testing.assert_allclose(out[2].numpy(), c_t[0].detach().numpy(), **tol)
        numpy.testing.assert_allclose(states[1].grad.numpy(), c0t.grad[0].numpy(), **tol)
    numpy.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), **tol)
    numpy.testing.assert_allclose(h0.grad.numpy(), h0t.grad[0].numpy(), **tol)
    # weights: map torch's gradients back to the nerve layout
    inverse = numpy.argsort(order)
    gk = _blocks(module.weight_ih_l0.grad.numpy().T, inverse, U)
    gr = _blocks(module.weight_hh_l0.grad.numpy().T, inverse, U)
    numpy.testing.assert_allclose(layer.kernel.grad.numpy(), gk, **tol)
    numpy.testing.assert_allclose(layer.recurrent_kernel.grad.numpy(), gr, **tol)
    g_ih = _blocks(module.bias_ih_l0.grad.numpy(), inverse, U)
    if kind == "gru":
        g_hh = _blocks(module.bias_hh_l0.grad.numpy(), inverse, U)
        numpy.testing.assert_allclose(layer.bias.grad.numpy(), numpy.stack([g_ih, g_hh]), **tol)
    else:
        numpy.testing.assert_allclose(layer.bias.grad.numpy(), g_ih, **tol)


def test_packed_sequence_matches_mask(rng):
    """Post-padded sequences with a mask give the final states of torch's packed sequences."""
    layer = layers.GRU(U, return_state=True, dtype="float64")
    lengths = [6, 3, 1]
    x_np = rng.normal(size=(B, T, F))
    for i, n in enumerate(lengths):
        x_np[i, n:] = 0.0
    mask = numpy.arange(T)[None, :] < numpy.array(lengths)[:, None]
    layer(x_np)
    _perturb(layer)
    module, _ = to_torch(layer)
    _, h = layer(x_np, mask=mask)
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x_np), lengths, batch_first=True)
    _, h_t = module(packed)
    numpy.testing.assert_allclose(h.numpy(), h_t[0].detach().numpy(), rtol=1e-10)


def test_bidirectional_matches_torch(rng):
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=True), dtype="float64")
    x_np = rng.normal(size=(B, T, F))
    out = bi(x_np)
    module = torch.nn.LSTM(F, U, batch_first=True, bidirectional=True).double()
    forward, _ = to_torch(bi.forward_layer)
    backward, _ = to_torch(bi.backward_layer)
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(module, name).copy_(getattr(forward, name))
            getattr(module, name + "_reverse").copy_(getattr(backward, name))
    expected, _ = module(torch.from_numpy(x_np))
    numpy.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
