"""Recurrent layers and ops: gradient checks (float64, central differences), masking, wrappers, errors, saving.

The fused recurrences (one Function per sequence) are compared with the
composed reference built step by step from nerve's own ops, and both with
central differences. The long-range test shows an LSTM remembering the first
token of a length-50 sequence where a SimpleRNN of the same size cannot.
"""

import numpy
import pytest

import nerve
from nerve import layers, ops
from nerve.gradcheck import check_gradients
from nerve.blocks.layers.recurrent import attach_mask, get_mask

B, T, F, U = 2, 4, 3, 3

RECURRENT = {
    "simple_rnn": lambda **kw: layers.SimpleRNN(U, **kw),
    "lstm": lambda **kw: layers.LSTM(U, **kw),
    "gru": lambda **kw: layers.GRU(U, **kw),
    "gru_v1": lambda **kw: layers.GRU(U, reset_after=False, **kw),
}


def _x(rng, *shape):
    return nerve.tensor(rng.normal(size=shape or (B, T, F)), dtype="float64", requires_grad=True)


def _flat(out):
    """One tensor from a layer's output (a list with return_state)."""
    if isinstance(out, list):
        return ops.concatenate([o.reshape(o.shape[0], -1) for o in out], axis=1)
    return out


def _build(layer, x):
    layer(x)
    for w in layer.trainable_weights:  # move biases off zero so every term is exercised
        w.data[...] += nerve.random.generator().normal(scale=0.3, size=w.shape)
    return layer


# ----------------------------------------------------------- gradient checks
@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("options", [
    {},
    {"return_sequences": True},
    {"return_state": True},
    {"go_backwards": True, "return_sequences": True},
    {"return_sequences": True, "return_state": True, "go_backwards": True},
])
def test_recurrent_layer_gradients(rng, kind, options):
    x = _x(rng)
    layer = _build(RECURRENT[kind](**options), x)
    check_gradients(lambda x, *ws: _flat(layer(x)), [x] + layer.trainable_weights)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
def test_recurrent_gradients_with_initial_state_and_mask(rng, kind):
    x = _x(rng)
    layer = _build(RECURRENT[kind](return_sequences=True, return_state=True), x)
    states = [_x(rng, B, U) for _ in range(2 if kind == "lstm" else 1)]
    mask = numpy.array([[True, True, False, True], [False, True, True, True]])
    fn = lambda x, *ts: _flat(layer(x, initial_state=list(ts[:len(states)]), mask=mask))  # noqa: E731
    check_gradients(fn, [x] + states + layer.trainable_weights)


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
def test_fused_matches_composed_reference(rng, kind):
    """The fused op and the step-by-step composition of nerve ops agree in outputs and gradients."""
    x = _x(rng)
    h0 = _x(rng, B, U)
    mask = numpy.array([[True, False, True, True], [True, True, True, False]])
    recurrent_mask = rng.uniform(0.5, 1.5, size=(B, U))
    gates = {"simple_rnn": 1, "lstm": 4, "gru": 3}[kind]
    k, r, b = _x(rng, F, gates * U), _x(rng, U, gates * U), _x(rng, gates * U)
    extra = [_x(rng, gates * U)] if kind == "gru" else ([_x(rng, B, U)] if kind == "lstm" else [])

    def run(fused):
        options = dict(mask=mask, recurrent_mask=recurrent_mask, return_sequences=True, return_state=True, fused=fused)
        if kind == "simple_rnn":
            out = ops.simple_rnn(x, h0, k, r, b, **options)
        elif kind == "lstm":
            out = ops.lstm(x, h0, extra[0], k, r, b, **options)
        else:
            out = ops.gru(x, h0, k, r, b, extra[0], **options)
        return _flat(list(out))

    inputs = [x, h0, k, r, b] + extra
    upstream = rng.normal(size=run(True).shape)
    grads = []
    for fused in (True, False):
        for t in inputs:
            t.grad = None
        out = run(fused)
        out.backward(upstream)
        grads.append((out.numpy().copy(), [t.grad.numpy().copy() for t in inputs]))
    numpy.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    for a, c in zip(grads[0][1], grads[1][1]):
        numpy.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(RECURRENT))
def test_backward_twice_with_retain_graph(rng, kind):
    x = _x(rng)
    layer = _build(RECURRENT[kind](return_sequences=True), x)
    out = layer(x)
    upstream = rng.normal(size=out.shape)
    out.backward(upstream, retain_graph=True)
    first = [w.grad.numpy().copy() for w in [x] + layer.trainable_weights]
    out.backward(upstream)
    for g, w in zip(first, [x] + layer.trainable_weights):
        numpy.testing.assert_allclose(w.grad.numpy(), 2 * g, rtol=1e-12)


@pytest.mark.parametrize("dtype", [numpy.float32, numpy.float64])
def test_lstm_one_tanh_for_all_gates_gives_the_same_bits(monkeypatch, dtype):
    """The default LSTM (tanh, sigmoid) takes one tanh over the four gates per step; it must give exactly the
    output and gradients of the gate-by-gate path (masking and recurrent dropout included)."""
    rng = numpy.random.default_rng(4)
    x = rng.standard_normal((4, 6, 3)).astype(dtype)
    keep = numpy.ones((4, 6), dtype=bool)
    keep[1, 3:] = False
    kernel, recurrent = (rng.standard_normal(shape).astype(dtype) for shape in ((3, 20), (5, 20)))
    bias, h0, c0 = rng.standard_normal(20).astype(dtype), numpy.zeros((4, 5), dtype), numpy.zeros((4, 5), dtype)
    drop = (rng.random((4, 5)) > 0.3).astype(dtype) / 0.7

    def run():
        tensors = [nerve.tensor(a, requires_grad=True, dtype=dtype) for a in (x, h0, c0, kernel, recurrent, bias)]
        out = ops.lstm(*tensors, mask=keep, recurrent_mask=drop, return_sequences=True)
        (out * out).sum().backward()
        return [out.numpy()] + [t.grad.numpy() for t in tensors]

    standard = run()
    monkeypatch.setattr(nerve.engine.ops.recurrent.LSTMRecurrence, "_standard", lambda self: False)
    for a, b in zip(standard, run()):
        numpy.testing.assert_array_equal(a, b)
    drop = None  # without recurrent dropout: the folded op (LSTMSequence), same check
    gate_by_gate = run()
    monkeypatch.undo()
    for a, b in zip(run(), gate_by_gate):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("options", [
    {}, {"return_sequences": True, "return_state": True}, {"return_state": True, "masked": True},
])
def test_lstm_folded_projection_matches_projection_first(use_bias, options):
    """LSTMSequence (input projection and bias inside each step's product) against LSTMRecurrence (projection of
    all steps first, then the recurrence): values and every gradient, input included, in float64; and a gradient
    check of the folded op."""
    rng = numpy.random.default_rng(8)
    options = dict(options)
    keep = None
    if options.pop("masked", False):
        keep = numpy.ones((3, 5), dtype=bool)
        keep[0, 3:] = keep[2, :2] = False
    arrays = [rng.standard_normal(shape) * 0.5 for shape in ((3, 5, 2), (3, 4), (3, 4), (2, 16), (4, 16), (16,))]
    if not use_bias:
        arrays = arrays[:5]

    def run(recurrent_mask):
        tensors = [nerve.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
        bias = tensors[5] if use_bias else None
        out = ops.lstm(*tensors[:5], bias, mask=keep, recurrent_mask=recurrent_mask, **options)
        if not options:
            fused = nerve.engine.ops.recurrent
            assert type(out.op) is (fused.LSTMSequence if recurrent_mask is None else fused.LSTMRecurrence)
        out = ops.concatenate([o.reshape(3, -1) for o in out], axis=1) if isinstance(out, tuple) else out
        (out * numpy.cos(numpy.arange(out.size)).reshape(out.shape)).sum().backward()
        return [out.numpy()] + [t.grad.numpy() for t in tensors]

    for a, b in zip(run(None), run(numpy.ones((3, 4)))):  # a recurrent mask of ones takes LSTMRecurrence
        numpy.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    tensors = [nerve.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    check_gradients(lambda *t: ops.lstm(*t[:5], t[5] if use_bias else None, mask=keep,
                                        return_sequences=True), tensors)


def test_vanishing_gradients_are_flushed_not_subnormal():
    """A gradient shrinking 100x per step is set to zero below ~2e-31 instead of sinking into slow subnormals."""
    x = nerve.tensor(numpy.ones((2, 40, 1), dtype="float32"), requires_grad=True)
    k = nerve.tensor(numpy.ones((1, 3), dtype="float32"))
    r = nerve.tensor(numpy.eye(3, dtype="float32") * 0.01)
    ops.simple_rnn(x, None, k, r, activation="linear").sum().backward()
    g = numpy.abs(x.grad.numpy())
    assert g[:, -1, 0].tolist() == [3.0, 3.0]
    assert not numpy.any((g > 0) & (g < numpy.finfo(numpy.float32).tiny))  # no subnormal numbers
    assert g[:, 0, 0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_one_feature_per_step(rng, kind):
    """One input feature takes the broadcast-product projection instead of a BLAS matmul: same gradients."""
    x = _x(rng, B, T, 1)
    layer = _build(RECURRENT[kind](return_sequences=True), x)
    check_gradients(lambda x, *ws: layer(x), [x] + layer.trainable_weights)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "linear", "gelu"])
def test_activations_fused_and_composed(rng, activation):
    """Fusable activations use the fused op, others (gelu) the composed path; both are gradient-checked."""
    x = _x(rng)
    layer = _build(layers.SimpleRNN(U, activation=activation, return_sequences=True), x)
    check_gradients(lambda x, *ws: layer(x), [x] + layer.trainable_weights)
    lstm = _build(layers.LSTM(U, activation=activation, recurrent_activation="sigmoid"), x)
    check_gradients(lambda x, *ws: lstm(x), [x] + lstm.trainable_weights)


def test_recurrent_dropout_gradients(rng):
    """With dropout masks fixed by reseeding before every call, the training-mode gradients are exact."""
    x = _x(rng)
    layer = _build(layers.LSTM(U, dropout=0.3, recurrent_dropout=0.3, return_sequences=True), x)

    def fn(x, *ws):
        nerve.random.seed(7)
        return layer(x, training=True)

    check_gradients(fn, [x] + layer.trainable_weights)
    nerve.random.seed(7)
    a = layer(x, training=True).numpy()
    b = layer(x, training=False).numpy()
    assert not numpy.allclose(a, b)
    numpy.testing.assert_array_equal(b, layer(x, training=False).numpy())


# ---------------------------------------------------------- hand formulas
def test_simple_rnn_matches_hand_formula(rng):
    x = rng.normal(size=(B, T, F))
    layer = layers.SimpleRNN(U, return_sequences=True)
    out = layer(x).numpy()
    k, r, b = (w.numpy() for w in layer.weights)
    h = numpy.zeros((B, U))
    for t in range(T):
        h = numpy.tanh(x[:, t] @ k + h @ r + b)
        numpy.testing.assert_allclose(out[:, t], h, rtol=1e-6)


def test_lstm_gru_match_hand_formulas(rng):
    x = rng.normal(size=(B, T, F))
    sig = lambda v: 1 / (1 + numpy.exp(-v))  # noqa: E731
    lstm = layers.LSTM(U, dtype="float64")
    _build(lstm, x)
    k, r, b = (w.numpy() for w in lstm.weights)
    h = c = numpy.zeros((B, U))
    for t in range(T):
        z = x[:, t] @ k + h @ r + b
        i, f, g, o = sig(z[:, :U]), sig(z[:, U:2 * U]), numpy.tanh(z[:, 2 * U:3 * U]), sig(z[:, 3 * U:])
        c = f * c + i * g
        h = o * numpy.tanh(c)
    numpy.testing.assert_allclose(lstm(x).numpy(), h, rtol=1e-10)

    gru = layers.GRU(U, dtype="float64")
    _build(gru, x)
    k, r, b = (w.numpy() for w in gru.weights)
    h = numpy.zeros((B, U))
    for t in range(T):
        xz, qz = x[:, t] @ k + b[0], h @ r + b[1]
        z, rr = sig(xz[:, :U] + qz[:, :U]), sig(xz[:, U:2 * U] + qz[:, U:2 * U])
        n = numpy.tanh(xz[:, 2 * U:] + rr * qz[:, 2 * U:])
        h = z * h + (1 - z) * n
    numpy.testing.assert_allclose(gru(x).numpy(), h, rtol=1e-10)


def test_weight_shapes_and_initializers():
    lstm = layers.LSTM(5)
    lstm(numpy.zeros((1, 2, 3)))
    assert [w.shape for w in lstm.weights] == [(3, 20), (5, 20), (20,)]
    numpy.testing.assert_array_equal(lstm.bias.numpy(), numpy.r_[numpy.zeros(5), numpy.ones(5), numpy.zeros(10)])
    r = lstm.recurrent_kernel.numpy().astype(numpy.float64)
    numpy.testing.assert_allclose(r @ r.T, numpy.eye(5), atol=1e-5)  # orthogonal rows
    gru = layers.GRU(5, reset_after=False)
    gru(numpy.zeros((1, 2, 3)))
    assert [w.shape for w in gru.weights] == [(3, 15), (5, 15), (15,)]
    assert layers.LSTM(5, unit_forget_bias=False, name="plain").name == "plain"


# ------------------------------------------------------------------ masking
@pytest.mark.parametrize("kind", sorted(RECURRENT))
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_padding_does_not_change_the_result(rng, kind, padding):
    seq = rng.normal(size=(1, 3, F))
    pad = numpy.zeros((1, 2, F))
    padded = numpy.concatenate([pad, seq] if padding == "pre" else [seq, pad], axis=1)
    layer = RECURRENT[kind](return_state=True, dtype="float64")
    expected = _flat(layer(seq)).numpy()
    got = _flat(layer(layers.Masking(dtype="float64")(padded))).numpy()
    numpy.testing.assert_allclose(got, expected, rtol=1e-12)


def test_masked_output_sequence_carries_or_zeros(rng):
    x = rng.normal(size=(1, 4, F))
    mask = numpy.array([[True, False, True, False]])
    carried = layers.GRU(U, return_sequences=True, dtype="float64")
    out = carried(x, mask=mask).numpy()
    numpy.testing.assert_array_equal(out[:, 1], out[:, 0])
    numpy.testing.assert_array_equal(out[:, 3], out[:, 2])
    zeroed = layers.GRU.from_config({**carried.get_config(), "zero_output_for_mask": True, "name": "z"})
    zeroed(x)
    zeroed.set_weights(carried.get_weights())
    out2 = zeroed(x, mask=mask).numpy()
    numpy.testing.assert_array_equal(out2[:, [1, 3]], 0)
    numpy.testing.assert_array_equal(out2[:, [0, 2]], out[:, [0, 2]])


def test_embedding_mask_flows_through_sequential_and_functional(rng):
    nerve.random.seed(3)
    model = nerve.Sequential([
        layers.Embedding(20, 4, mask_zero=True),
        layers.LSTM(5, return_sequences=True),
        layers.GRU(5),
        layers.Dense(1),
    ])
    ids = numpy.array([[0, 0, 4, 7, 9]])
    numpy.testing.assert_allclose(model(ids).numpy(), model(ids[:, 2:]).numpy(), rtol=1e-5)
    inputs = nerve.Input(shape=(5,), dtype="int64")
    h = layers.Embedding(20, 4, mask_zero=True)(inputs)
    h = layers.Bidirectional(layers.SimpleRNN(3))(h)
    functional = nerve.Model(inputs, layers.Dense(1)(h))
    same = numpy.array([[0, 0, 4, 7, 9], [0, 0, 0, 4, 7]])
    shifted = numpy.array([[0, 4, 7, 9, 0], [0, 4, 7, 0, 0]])
    out = functional(same).numpy()
    # the same tokens with padding in other places give the same outputs
    numpy.testing.assert_allclose(functional(shifted).numpy(), out, rtol=1e-5)
    assert not numpy.allclose(out[0], out[1])


def test_mask_registry_is_weak():
    x = nerve.tensor(numpy.zeros((1, 2, 1)))
    attach_mask(x, numpy.array([[True, False]]))
    assert get_mask(x) is not None
    key = id(x)
    del x
    from nerve.blocks.layers import recurrent

    assert key not in recurrent._MASKS
    assert get_mask(numpy.zeros((1, 2, 1))) is None


# ------------------------------------------------------------- Bidirectional
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(rng, merge_mode):
    x = _x(rng)
    bi = layers.Bidirectional(layers.LSTM(U, return_sequences=True), merge_mode=merge_mode)
    _build(bi, x)
    out = bi(x)
    f = bi.forward_layer(x).numpy()
    b = bi.backward_layer(x).numpy()[:, ::-1]  # go_backwards output is reversed in time
    expected = {"concat": numpy.concatenate([f, b], -1), "sum": f + b, "mul": f * b, "ave": (f + b) / 2, None: None}
    if merge_mode is None:
        numpy.testing.assert_allclose(out[0].numpy(), f)
        numpy.testing.assert_allclose(out[1].numpy(), b)
    else:
        numpy.testing.assert_allclose(out.numpy(), expected[merge_mode], rtol=1e-12)
    check_gradients(lambda x, *ws: _flat(bi(x)), [x] + bi.trainable_weights)


def test_bidirectional_backward_equals_reversed_input(rng):
    x = rng.normal(size=(B, T, F))
    bi = layers.Bidirectional(layers.GRU(U), merge_mode=None, dtype="float64")
    _, back = bi(x)
    reference = layers.GRU(U, dtype="float64")
    reference(x)
    reference.set_weights(bi.backward_layer.get_weights())
    numpy.testing.assert_allclose(back.numpy(), reference(x[:, ::-1]).numpy(), rtol=1e-12)


def test_bidirectional_states(rng):
    x = _x(rng)
    bi = layers.Bidirectional(layers.LSTM(U, return_state=True))
    _build(bi, x)
    out = bi(x)
    assert [o.shape for o in out] == [(B, 2 * U)] + [(B, U)] * 4
    states = [_x(rng, B, U) for _ in range(4)]
    check_gradients(lambda x, *ts: _flat(bi(x, initial_state=list(ts[:4]))), [x] + states + bi.trainable_weights)
    with pytest.raises(ValueError, match="merge_mode"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")
    with pytest.raises(TypeError, match="SimpleRNN, LSTM or GRU"):
        layers.Bidirectional(layers.Dense(2))


# ----------------------------------------------------------- TimeDistributed
def test_time_distributed(rng):
    x = _x(rng)
    td = layers.TimeDistributed(layers.Dense(2, activation="tanh"))
    out = td(x)
    dense = td.layer
    for t in range(T):
        numpy.testing.assert_allclose(out.numpy()[:, t], dense(x[:, t]).numpy(), rtol=1e-12)
    check_gradients(lambda x, *ws: td(x), [x] + td.trainable_weights)
    m = numpy.array([[True, True, False, False]] * B)
    assert get_mask(td(layers.Masking()(x.numpy() * m[..., None]))).tolist() == m.tolist()


# ---------------------------------------------------------------- Embedding
def test_embedding_lookup_and_gradient(rng):
    emb = layers.Embedding(6, 3, dtype="float64")
    ids = numpy.array([[1, 5, 1], [0, 2, 5]])
    out = emb(ids)
    numpy.testing.assert_array_equal(out.numpy(), emb.embeddings.numpy()[ids])
    check_gradients(lambda w: emb(ids), [emb.embeddings])  # repeated ids add up
    numpy.testing.assert_array_equal(emb(ids.astype("float32")).numpy(), out.numpy())  # Sequential passes floats
    assert get_mask(out) is None
    assert emb(numpy.array([[1, 2, 3, 4, 5]])).shape == (1, 5, 3)  # another length is fine


def test_embedding_errors():
    emb = layers.Embedding(10, 2, name="tokens")
    with pytest.raises(ValueError, match=r"'tokens' \(Embedding\).*\[0, 10\).*from -1 to 12"):
        emb(numpy.array([[-1, 3, 12]]))
    with pytest.raises(ValueError, match="non-integer"):
        emb(numpy.array([[1.5, 2.0]]))
    with pytest.raises(ValueError, match=r"'tokens'.*different lengths.*pad_sequences"):
        emb([[1, 2, 3], [4, 5]])


# ------------------------------------------------------------------- errors
def test_recurrent_input_errors():
    lstm = layers.LSTM(4, name="enc")
    with pytest.raises(ValueError, match=r"'enc' \(LSTM\).*\(batch, time, features\).*got shape \(8, 20\).*x\[..., None\]"):
        lstm(numpy.zeros((8, 20)))
    lstm(numpy.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"'enc'.*3 features.*\(2, 5, 4\)"):
        lstm(numpy.zeros((2, 5, 4)))
    with pytest.raises(ValueError, match=r"'enc'.*different lengths.*pad_sequences"):
        lstm([[[1.0], [2.0]], [[3.0]]])
    with pytest.raises(ValueError, match=r"initial state must have shape \(batch, units\) = \(2, 4\), got \(2, 3\)"):
        lstm(numpy.zeros((2, 5, 3)), initial_state=[numpy.zeros((2, 3)), numpy.zeros((2, 4))])
    with pytest.raises(ValueError, match="takes 2 initial state"):
        lstm(numpy.zeros((2, 5, 3)), initial_state=[numpy.zeros((2, 4))])
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(2, 5\), got \(2, 4\)"):
        lstm(numpy.zeros((2, 5, 3)), mask=numpy.ones((2, 4), bool))
    with pytest.raises(ValueError, match="units"):
        layers.GRU(0)
    with pytest.raises(ValueError, match="dropout"):
        layers.SimpleRNN(2, dropout=1.0)
    with pytest.raises(ValueError, match="expected x of shape"):
        ops.gru(nerve.tensor(numpy.zeros((2, 3))), None, nerve.tensor(numpy.zeros((3, 6))), nerve.tensor(numpy.zeros((2, 6))))


# ------------------------------------------------- config, saving, training
def test_config_round_trip_and_save_load(tmp_path, rng):
    nerve.random.seed(0)
    model = nerve.Sequential([
        nerve.Input(shape=(6,), dtype="int64"),
        layers.Embedding(12, 4, mask_zero=True),
        layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="ave"),
        layers.TimeDistributed(layers.Dense(2)),
        layers.SimpleRNN(2, go_backwards=True),
    ])
    ids = rng.integers(0, 12, size=(3, 6))
    path = tmp_path / "rnn.nerve"
    model.save(path)
    again = nerve.load_model(path)
    numpy.testing.assert_allclose(again.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)
    for layer in (layers.LSTM(3, return_state=True, dropout=0.1), layers.Masking(-1.0), layers.Embedding(3, 2)):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_lstm_trains_with_fit(rng):
    nerve.random.seed(1)
    x = rng.normal(size=(64, 6, 1)).astype("float32")
    y = x.sum(axis=1)
    model = nerve.Sequential([layers.LSTM(8), layers.Dense(1)])
    model.compile(optimizer=nerve.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]


def _first_value_data(rng, n, length=50, distractor_scale=10.0):
    """Inputs (value, is-first flag); the target is the first value, followed by 49 distractors 10x larger."""
    values = rng.uniform(-1, 1, size=(n, length, 1)).astype("float32") * distractor_scale
    values[:, 0] /= distractor_scale
    flag = numpy.zeros((n, length, 1), "float32")
    flag[:, 0] = 1
    return numpy.concatenate([values, flag], axis=-1), values[:, 0, 0]


def test_lstm_learns_long_range_dependency_simple_rnn_does_not():
    """Remember the first of 50 steps: the LSTM learns it, a SimpleRNN of the same size stays at chance (R^2 ~ 0).

    Both read (value, flag) sequences and are asked for the first value at
    every step (the per-step targets give the short-lag gradients both need to
    start learning); the score is R^2 of the prediction at the last step, 49
    steps after the value was seen. The LSTM's gates keep its cell closed to
    the later, larger inputs; the SimpleRNN adds every input into its state.
    Fixed seeds; about 15 s.
    """
    rng = numpy.random.default_rng(0)
    x, y = _first_value_data(rng, 1000)
    x_test, y_test = _first_value_data(rng, 400)
    targets = numpy.repeat(y[:, None, None], x.shape[1], axis=1)
    r2 = {}
    for name, recurrent in (("lstm", layers.LSTM), ("rnn", layers.SimpleRNN)):
        nerve.random.seed(0)
        model = nerve.Sequential([recurrent(16, return_sequences=True), layers.Dense(1)])
        model.compile(optimizer=nerve.optimizers.Adam(1e-2), loss="mse")
        model.fit(x, targets, batch_size=25, epochs=10, verbose=0)
        last = model.predict(x_test, verbose=0)[:, -1, 0]
        r2[name] = 1 - numpy.mean((last - y_test) ** 2) / numpy.var(y_test)
    assert r2["lstm"] > 0.9, r2  # measured here: LSTM 0.99, SimpleRNN -0.01
    assert r2["rnn"] < 0.3, r2
