"""Attention layers, normalisation layers, positions and Transformer blocks: PyTorch agreement (float64),
hand-written formulas, gradient checks, masks, caches, save/load and training."""

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.gradcheck import check_gradients

RTOL, ATOL = 1e-10, 1e-12


def seq(rng, *shape):
    return rng.normal(size=shape)


# -------------------------------------------------------- MultiHeadAttention
def torch_mha_from(mha, torch):
    """A torch.nn.MultiheadAttention holding ``mha``'s weights (the mapping of the docstring)."""
    dq, h, kd = mha.query_kernel.shape
    embed = dq
    t = torch.nn.MultiheadAttention(embed, h, batch_first=True, dtype=torch.float64)
    flat = lambda w: w.numpy().reshape(w.shape[0], -1).T
    with torch.no_grad():
        t.in_proj_weight.copy_(torch.tensor(np.concatenate([flat(mha.query_kernel), flat(mha.key_kernel),
                                                            flat(mha.value_kernel)])))
        t.in_proj_bias.copy_(torch.tensor(np.concatenate([mha.query_bias.numpy().ravel(),
                                                          mha.key_bias.numpy().ravel(),
                                                          mha.value_bias.numpy().ravel()])))
        t.out_proj.weight.copy_(torch.tensor(mha.output_kernel.numpy().reshape(h * kd, -1).T))
        t.out_proj.bias.copy_(torch.tensor(mha.output_bias.numpy()))
    return t


@pytest.mark.parametrize("kind", ["none", "padding", "causal", "both"])
def test_multi_head_attention_matches_torch(rng, kind):
    torch = pytest.importorskip("torch")
    nerve.random.seed(0)
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="float64", bias_initializer="random_normal")
    q, v = seq(rng, 2, 4, 6), seq(rng, 2, 5, 6)
    if kind in ("causal", "both"):
        v = seq(rng, 2, 4, 6)
    lk = v.shape[1]
    padding = np.arange(lk)[None, :] < np.array([[lk], [lk - 2]])  # True on real keys
    upstream = seq(rng, 2, 4, 6)
    xq, xv = nerve.tensor(q, requires_grad=True), nerve.tensor(v, requires_grad=True)
    mask = np.broadcast_to(padding[:, None, :], (2, 4, lk)) if kind in ("padding", "both") else None
    out, scores = mha(xq, xv, attention_mask=mask, use_causal_mask=kind in ("causal", "both"),
                      return_attention_scores=True)
    (out * nerve.tensor(upstream)).sum().backward()

    t = torch_mha_from(mha, torch)
    tq, tv = torch.tensor(q, requires_grad=True), torch.tensor(v, requires_grad=True)
    kwargs = {}
    if kind in ("padding", "both"):
        kwargs["key_padding_mask"] = torch.tensor(~padding)
    if kind in ("causal", "both"):
        kwargs["attn_mask"] = torch.ones(4, lk, dtype=torch.bool).triu(1)
    expected, weights = t(tq, tv, tv, average_attn_weights=False, **kwargs)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(scores.numpy(), weights.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xq.grad.numpy(), tq.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xv.grad.numpy(), tv.grad.numpy(), rtol=RTOL, atol=ATOL)
    ours = {n: w.grad.numpy() for n, w in zip(["query_kernel", "key_kernel", "value_kernel", "output_kernel"],
                                             [mha.query_kernel, mha.key_kernel, mha.value_kernel, mha.output_kernel])}
    flat = lambda g: g.reshape(g.shape[0], -1).T
    in_grad = t.in_proj_weight.grad.numpy()
    np.testing.assert_allclose(np.concatenate([flat(ours["query_kernel"]), flat(ours["key_kernel"]),
                                               flat(ours["value_kernel"])]), in_grad, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours["output_kernel"].reshape(6, 6).T, t.out_proj.weight.grad.numpy(),
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.concatenate([mha.query_bias.grad.numpy().ravel(), mha.key_bias.grad.numpy().ravel(),
                                               mha.value_bias.grad.numpy().ravel()]),
                               t.in_proj_bias.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(mha.output_bias.grad.numpy(), t.out_proj.bias.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_multi_head_attention_gradcheck(rng):
    nerve.random.seed(1)
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=2, value_dim=3, output_shape=5, dtype="float64")
    q, v, k = seq(rng, 2, 3, 4), seq(rng, 2, 4, 3), seq(rng, 2, 4, 2)
    mask = rng.random((2, 3, 4)) > 0.3
    mask[:, :, 0] = True
    mha(q, v, k)
    check_gradients(lambda q, v, k, *ws: mha(q, v, k, attention_mask=mask), [q, v, k] + mha.trainable_weights)


def test_multi_head_attention_shapes_and_errors(rng):
    mha = layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=(7,), name="mha")
    out = mha(seq(rng, 2, 3, 5), seq(rng, 2, 6, 8))
    assert out.shape == (2, 3, 7)
    assert mha.value_kernel.shape == (8, 3, 4) and mha.output_kernel.shape == (3, 4, 7)
    with pytest.raises(ValueError, match=r"layer 'mha' \(MultiHeadAttention\) expects query of shape"):
        mha(np.ones((2, 5)), np.ones((2, 6, 8)))
    with pytest.raises(ValueError, match=r"attention_mask must broadcast to .* \(2, 3, 6\), got shape \(2, 3, 5\)"):
        mha(seq(rng, 2, 3, 5), seq(rng, 2, 6, 8), attention_mask=np.ones((2, 3, 5), bool))
    with pytest.raises(ValueError, match="num_heads"):
        layers.MultiHeadAttention(num_heads=0, key_dim=2)


def test_multi_head_attention_uses_embedding_masks(rng):
    nerve.random.seed(2)
    ids = np.array([[3, 5, 2, 0, 0], [4, 1, 6, 7, 2]])
    emb = layers.Embedding(10, 8, mask_zero=True)
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    x = emb(ids)
    out = mha(x, x)
    assert layers.get_mask(out).tolist() == (ids != 0).tolist()
    alone = mha(emb(ids[:1, :3]), emb(ids[:1, :3]))  # the same sentence without padding
    np.testing.assert_allclose(out.numpy()[0, :3], alone.numpy()[0], rtol=1e-5, atol=1e-6)


def test_multi_head_attention_dropout_only_in_training(rng):
    mha = layers.MultiHeadAttention(num_heads=1, key_dim=4, dropout=0.5)
    x = seq(rng, 2, 6, 4)
    a, b = mha(x, x).numpy(), mha(x, x).numpy()
    np.testing.assert_array_equal(a, b)
    nerve.random.seed(5)
    c = mha(x, x, training=True).numpy()
    nerve.random.seed(5)
    d = mha(x, x, training=True).numpy()
    np.testing.assert_array_equal(c, d)
    assert not np.allclose(a, c)


# ------------------------------------------------------------ normalisation
@pytest.mark.parametrize("axis", [-1, [1, 2], 1])
def test_layer_normalization_matches_formula_and_gradcheck(rng, axis):
    x = seq(rng, 2, 3, 4)
    layer = layers.LayerNormalization(axis=axis, epsilon=1e-3, dtype="float64",
                                      gamma_initializer="random_normal", beta_initializer="random_normal")
    y = layer(x).numpy()
    axes = tuple(np.atleast_1d(axis) % 3)
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    shape = [x.shape[a] if a in axes else 1 for a in range(3)]
    expected = (x - mean) / np.sqrt(var + 1e-3) * layer.gamma.numpy().reshape(shape) + layer.beta.numpy().reshape(shape)
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    check_gradients(lambda x, *ws: layer(x), [x] + layer.trainable_weights)


def test_layer_normalization_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, upstream = seq(rng, 3, 5, 6), seq(rng, 3, 5, 6)
    layer = layers.LayerNormalization(epsilon=1e-5, dtype="float64", gamma_initializer="random_normal",
                                      beta_initializer="random_normal")
    xt = nerve.tensor(x, requires_grad=True)
    (layer(xt) * nerve.tensor(upstream)).sum().backward()
    ln = torch.nn.LayerNorm(6, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor(layer.gamma.numpy()))
        ln.bias.copy_(torch.tensor(layer.beta.numpy()))
    tx = torch.tensor(x, requires_grad=True)
    out = ln(tx)
    (out * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(layer(x).numpy(), out.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.gamma.grad.numpy(), ln.weight.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.beta.grad.numpy(), ln.bias.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_rms_layers(rng):
    x = seq(rng, 2, 3, 4)
    expected = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6)
    rms = layers.RMSNormalization(dtype="float64")
    np.testing.assert_allclose(rms(x).numpy(), expected, rtol=1e-10)
    ln = layers.LayerNormalization(rms_scaling=True, epsilon=1e-6, dtype="float64")
    np.testing.assert_allclose(ln(x).numpy(), expected, rtol=1e-10)
    assert [w.name.split("/")[-1] for w in ln.weights] == ["gamma"] and rms.scale.shape == (4,)
    check_gradients(lambda x, *ws: rms(x), [x] + rms.trainable_weights)


def test_layer_normalization_without_scale_or_center(rng):
    layer = layers.LayerNormalization(center=False, scale=False)
    layer(np.ones((2, 3)))
    assert layer.weights == []
    with pytest.raises(ValueError, match="axis 0 is out of range"):
        layers.LayerNormalization(axis=0)(np.ones((2, 3)))


# ---------------------------------------------------- Luong and Bahdanau
def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_attention_dot_matches_formula(rng):
    q, v, k = seq(rng, 2, 3, 4), seq(rng, 2, 5, 4), seq(rng, 2, 5, 4)
    v_mask = np.arange(5)[None] < np.array([[5], [3]])
    q_mask = np.array([[True, True, False], [True, True, True]])
    layer = layers.Attention(use_scale=True, dtype="float64")
    out, w = layer([q, v, k], mask=[q_mask, v_mask], return_attention_scores=True, use_causal_mask=True)
    scores = q @ k.transpose(0, 2, 1)
    keep = v_mask[:, None, :] & np.tril(np.ones((3, 5), bool))[None]
    expected_w = softmax(scores - 1e9 * ~keep)
    np.testing.assert_allclose(w.numpy(), expected_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), (expected_w @ v) * q_mask[..., None], rtol=1e-10, atol=1e-12)
    check_gradients(lambda q, v, *ws: layer([q, v], mask=[None, v_mask]), [q, v] + layer.trainable_weights)


def test_attention_concat_and_additive_match_formula(rng):
    q, v = seq(rng, 2, 3, 4), seq(rng, 2, 5, 4)
    concat = layers.Attention(score_mode="concat", dtype="float64")
    additive = layers.AdditiveAttention(dtype="float64")
    summed = np.tanh(q[:, :, None, :] + v[:, None, :, :])
    np.testing.assert_allclose(concat([q, v]).numpy(), softmax(summed.sum(-1)) @ v, rtol=1e-10)
    out = additive([q, v]).numpy()
    np.testing.assert_allclose(out, softmax((summed * additive.scale.numpy()).sum(-1)) @ v, rtol=1e-10)
    check_gradients(lambda q, v, *ws: additive([q, v]), [q, v] + additive.trainable_weights)


def test_attention_errors():
    layer = layers.Attention(name="att")
    with pytest.raises(ValueError, match=r"layer 'att' \(Attention\) expects inputs \[query, value\]"):
        layer(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="query and key need the same feature size"):
        layers.Attention()([np.ones((2, 3, 4)), np.ones((2, 3, 5))])


# -------------------------------------------------------------- positions
def test_sine_position_encoding_formula():
    enc = layers.SinePositionEncoding(max_wavelength=100)(np.zeros((2, 5, 6))).numpy()
    p, i = np.arange(5)[:, None], np.arange(6)[None, :]
    angle = p / 100.0 ** (2 * (i // 2) / 6)
    np.testing.assert_allclose(enc[1], np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), rtol=1e-6, atol=1e-7)


def test_position_embeddings(rng):
    layer = layers.PositionEmbedding(sequence_length=6, dtype="float64")
    x = seq(rng, 2, 4, 3)
    out = layer(x, start_index=2).numpy()
    np.testing.assert_array_equal(out[0], layer.position_embeddings.numpy()[2:6])
    np.testing.assert_array_equal(out[0], out[1])
    with pytest.raises(ValueError, match="go beyond sequence_length=6"):
        layer(x, start_index=3)
    both = layers.TokenAndPositionEmbedding(vocabulary_size=9, sequence_length=6, embedding_dim=3, dtype="float64")
    ids = np.array([[1, 2, 3]])
    np.testing.assert_allclose(both(ids).numpy()[0], both.token_embedding.embeddings.numpy()[[1, 2, 3]]
                               + both.position_embedding.position_embeddings.numpy()[:3])


# ----------------------------------------------------- Transformer blocks
@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_ignores_padding_and_passes_mask(rng, normalize_first):
    nerve.random.seed(3)
    emb = layers.TokenAndPositionEmbedding(12, 8, 8, mask_zero=True, dtype="float64")
    block = layers.TransformerEncoder(intermediate_dim=16, num_heads=2, normalize_first=normalize_first,
                                      dtype="float64")
    ids = np.array([[3, 5, 2, 0, 0]])
    out = block(emb(ids))
    assert layers.get_mask(out).tolist() == [[True, True, True, False, False]]
    alone = block(emb(ids[:, :3]))
    np.testing.assert_allclose(out.numpy()[:, :3], alone.numpy(), rtol=1e-10, atol=1e-12)


def test_encoder_gradcheck(rng):
    nerve.random.seed(4)
    block = layers.TransformerEncoder(intermediate_dim=6, num_heads=2, dtype="float64")
    x = seq(rng, 2, 3, 4)
    block(x)
    mask = np.array([[True, True, False], [True, True, True]])
    check_gradients(lambda x, *ws: block(x, padding_mask=mask), [x] + block.trainable_weights)


def test_decoder_is_causal_and_cache_matches_full_pass(rng):
    nerve.random.seed(5)
    block = layers.TransformerDecoder(intermediate_dim=16, num_heads=2, dtype="float64")
    x, enc = seq(rng, 2, 5, 8), seq(rng, 2, 3, 8)
    full = block(x, enc).numpy()
    changed = x.copy()
    changed[:, 3:] += 1.0
    np.testing.assert_allclose(block(changed, enc).numpy()[:, :3], full[:, :3], rtol=1e-10)
    cache, steps = None, []
    for t in range(5):
        out, cache = block(x[:, t:t + 1], enc, self_attention_cache=cache, return_cache=True)
        steps.append(out.numpy())
    assert cache[0].shape == (2, 2, 5, 4)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, rtol=1e-10, atol=1e-12)


def test_decoder_gradcheck_and_gpt_block(rng):
    nerve.random.seed(6)
    block = layers.TransformerDecoder(intermediate_dim=6, num_heads=2, normalize_first=True, dtype="float64")
    x, enc = seq(rng, 2, 3, 4), seq(rng, 2, 2, 4)
    block(x, enc)
    check_gradients(lambda x, e, *ws: block(x, e), [x, enc] + block.trainable_weights)
    gpt = layers.TransformerDecoder(intermediate_dim=8, num_heads=2)
    assert gpt(np.ones((2, 4, 4))).shape == (2, 4, 4) and gpt.cross_attention is None
    with pytest.raises(ValueError, match="built without an encoder_sequence"):
        gpt(np.ones((2, 4, 4)), np.ones((2, 4, 4)))


# ------------------------------------------------------ models, save, load
def classifier():
    ids = nerve.Input(shape=(6,), dtype="int64")
    x = layers.TokenAndPositionEmbedding(20, 6, 8, mask_zero=True)(ids)
    x = layers.TransformerEncoder(16, 2, dropout=0.1)(x)
    x = layers.LayerNormalization()(x)
    x = layers.RMSNormalization()(x)
    a = layers.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)
    b = layers.Attention()([x, a])
    c = layers.AdditiveAttention()([b, x])
    pos = layers.PositionEmbedding(6)(c)
    sine = layers.SinePositionEncoding()(c)
    x = layers.Add()([c, pos, sine])
    x = layers.Flatten()(x)
    return nerve.Model(ids, layers.Dense(2, activation="softmax")(x))


def test_every_layer_saves_loads_and_trains(rng, tmp_path):
    nerve.random.seed(7)
    model = classifier()
    ids = rng.integers(1, 20, size=(32, 6))
    ids[:8, 4:] = 0
    labels = (ids[:, 0] > 10).astype(int)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(ids, labels, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    before = model.predict(ids, verbose=0)
    model.save(tmp_path / "m.nerve")
    loaded = nerve.load_model(tmp_path / "m.nerve")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), before, rtol=1e-6)


def test_encoder_decoder_functional_and_sequential_save(rng, tmp_path):
    nerve.random.seed(8)
    src, tgt = nerve.Input(shape=(5,), dtype="int64"), nerve.Input(shape=(4,), dtype="int64")
    enc = layers.TransformerEncoder(16, 2)(layers.TokenAndPositionEmbedding(10, 5, 8, mask_zero=True)(src))
    dec = layers.TransformerDecoder(16, 2, normalize_first=True)(layers.TokenAndPositionEmbedding(10, 4, 8)(tgt), enc)
    model = nerve.Model([src, tgt], layers.Dense(10)(dec))
    a, b = rng.integers(0, 10, size=(3, 5)), rng.integers(0, 10, size=(3, 4))
    before = model.predict([a, b], verbose=0)
    model.save(tmp_path / "ed.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "ed.nerve").predict([a, b], verbose=0), before, rtol=1e-6)

    seqm = nerve.Sequential([nerve.Input(shape=(5,)), layers.Embedding(10, 8, mask_zero=True),
                             layers.TransformerEncoder(16, 2), layers.TransformerDecoder(16, 2),
                             layers.LayerNormalization(axis=[1, 2]), layers.Flatten(), layers.Dense(1)])
    before = seqm.predict(a, verbose=0)
    seqm.save(tmp_path / "s.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "s.nerve").predict(a, verbose=0), before, rtol=1e-6)


def test_transformer_trains_on_device_like_on_cpu(device, rng):
    """The strict stand-in GPU (or CuPy) refuses host arrays mixed into device ops: masks, dropout, positions."""
    ids = rng.integers(1, 12, size=(32, 6))
    ids[:10, 4:] = 0
    labels = (ids[:, 0] > 6).astype(int)

    def train(device_name):
        nerve.random.seed(0)
        layers.reset_names()
        src = nerve.Input(shape=(6,), dtype="int64")
        x = layers.TokenAndPositionEmbedding(12, 6, 8, mask_zero=True)(src)
        x = layers.TransformerEncoder(16, 2, dropout=0.1)(x)
        x = layers.TransformerDecoder(16, 2, dropout=0.1, normalize_first=True)(x, x)
        x = layers.MultiHeadAttention(2, 4, dropout=0.1)(x, x, use_causal_mask=True)
        x = layers.Add()([layers.SinePositionEncoding()(x), layers.RMSNormalization()(x)])
        x = layers.AdditiveAttention(dropout=0.1)([x, x])
        model = nerve.Model(src, layers.Dense(2)(layers.GlobalAveragePooling1D()(x)))
        model.compile(optimizer="adam", loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.to(device_name)
        model.fit(ids, labels, epochs=2, batch_size=8, verbose=0)
        return model

    cpu, gpu = train("cpu"), train("gpu")
    assert all(isinstance(w.data, device.ndarray) for w in gpu.weights)
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
