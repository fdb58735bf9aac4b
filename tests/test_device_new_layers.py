"""The ops and layers added with the Keras/attention/audio/speed issues, on a device ("gpu").

Each test runs the same computation on the CPU and on the ``device`` fixture (tests/conftest.py: the
strict stand-in of tests/device_standin.py, or CuPy with ``NERVE_TEST_DEVICE=gpu``), forward and
backward (or a short ``fit``), checks that the results stay device arrays and compares them with the
CPU's: bit for bit on the stand-in (NumPy underneath), within float32 rounding on a real GPU.
The stand-in refuses every implicit trip between host and device, so a pass also shows that the code
path keeps its arrays on the device.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import nerve
from nerve import layers, ops, optimizers

REAL_GPU = os.environ.get("NERVE_TEST_DEVICE", "").strip().lower() == "gpu"
TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}


def _same(got, expected):
    """Equal bit for bit on the stand-in; within float32 rounding on a real GPU."""
    if REAL_GPU:
        np.testing.assert_allclose(got, expected, **TOLERANCE)
    else:
        np.testing.assert_array_equal(got, expected)


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _run(fn, arrays, where, device=None):
    """``fn`` on tensors of ``arrays`` placed on ``where``, backward through every float output.

    Returns the outputs and the input gradients as host arrays; on the device, also checks that
    they are device arrays there.
    """
    tensors = [nerve.tensor(a, requires_grad=a.dtype.kind == "f", device=where) for a in arrays]
    outs = _outputs(fn(*tensors))
    rng = np.random.default_rng(1)
    loss = None
    for out in outs:
        if out.requires_grad:
            upstream = nerve.tensor(rng.normal(size=out.shape).astype(out.dtype), device=where)
            term = (out * upstream).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    grads = [t.grad for t in tensors if t.requires_grad]
    if device is not None:
        for t in outs + [g for g in grads if g is not None]:
            assert t.device == "gpu" and isinstance(t.data, device.ndarray), type(t.data)
    return [o.numpy() for o in outs], [None if g is None else g.numpy() for g in grads]


def _compare(device, fn, *arrays):
    """Runs ``fn`` on the CPU and on the device (the same seed for both) and compares everything."""
    nerve.random.seed(0)
    cpu_out, cpu_grads = _run(fn, arrays, "cpu")
    nerve.random.seed(0)
    gpu_out, gpu_grads = _run(fn, arrays, "gpu", device)
    for got, expected in zip(gpu_out + gpu_grads, cpu_out + cpu_grads):
        if expected is None:
            assert got is None
        else:
            _same(got, expected)
    return cpu_out, cpu_grads


def _normal(*shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _compare_layer(device, make_layer, *arrays, training=True):
    """A layer built and seeded the same way on both sides, called on tensors; weights' gradients too."""
    results = []
    for where in ("cpu", "gpu"):
        nerve.random.seed(0)
        layers.reset_names()
        inputs = [nerve.tensor(a, requires_grad=a.dtype.kind == "f", device=where) for a in arrays]
        with nerve.device(where):  # weights built (or adapted) on the device
            layer = make_layer()
            out = layer(*inputs, training=training) if training is not None else layer(*inputs)
        outs = _outputs(out)
        upstream = [nerve.tensor(_normal(*o.shape, seed=i + 1, dtype=o.dtype), device=where)
                    for i, o in enumerate(outs)]
        if any(o.requires_grad for o in outs):
            sum(((o * u).sum() for o, u in zip(outs, upstream) if o.requires_grad),
                nerve.tensor(0.0, device=where)).backward()
        grads = [t.grad for t in inputs if t.requires_grad] + [w.grad for w in layer.trainable_weights]
        if where == "gpu":
            assert all(w.device == "gpu" for w in layer.weights)
            for t in outs + [g for g in grads if g is not None]:
                assert isinstance(t.data, device.ndarray), type(t.data)
        results.append([o.numpy() for o in outs] + [None if g is None else g.numpy() for g in grads])
    for got, expected in zip(results[1], results[0]):
        if expected is None:
            assert got is None
        else:
            _same(got, expected)
    return results[0]


def _train(build, x, y, where, loss, optimizer="adam", epochs=2, batch_size=8):
    nerve.random.seed(0)
    layers.reset_names()
    model = build()
    model.compile(optimizer=optimizer() if callable(optimizer) else optimizer, loss=loss)
    model.to(where)
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


def _compare_fit(device, build, x, y, loss, optimizer="adam", **fit):
    cpu = _train(build, x, y, "cpu", loss, optimizer, **fit)
    gpu = _train(build, x, y, "gpu", loss, optimizer, **fit)
    assert all(w.device == "gpu" and isinstance(w.data, device.ndarray) for w in gpu.weights)
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        _same(b, a)
    _same(np.asarray(gpu.history.history["loss"]), np.asarray(cpu.history.history["loss"]))
    prediction = gpu.predict(x)
    assert type(_outputs(prediction)[0]) is np.ndarray
    for a, b in zip(_outputs(cpu.predict(x)), _outputs(prediction)):
        _same(b, a)
    return cpu, gpu


# ----------------------------------------------------------------------------------- attention op
@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal", "bool+causal", "dropout"])
def test_scaled_dot_product_attention_on_device(device, mask):
    q, k, v = _normal(2, 3, 5, 4, seed=0), _normal(2, 3, 6, 4, seed=1), _normal(2, 3, 6, 2, seed=2)
    keep = np.random.default_rng(3).random((2, 1, 5, 6)) > 0.3
    keep[..., 0] = True
    kwargs = {"none": {}, "bool": {"attn_mask": keep}, "causal": {"is_causal": True},
              "float": {"attn_mask": np.where(keep, 0.0, -1e9).astype("float32")},
              "bool+causal": {"attn_mask": keep, "is_causal": True}, "dropout": {"dropout_p": 0.25}}[mask]

    def fn(q, k, v):
        args = dict(kwargs)
        if "attn_mask" in args:  # a mask on the model's device, as a layer makes it
            args["attn_mask"] = nerve.tensor(args["attn_mask"], device=q.device)
        out, weights = ops.scaled_dot_product_attention(q, k, v, return_weights=True, **args)
        return out, weights

    _compare(device, fn, q, k, v)


def test_layer_norm_and_rms_norm_ops_on_device(device):
    x, gamma, beta = _normal(3, 4, 6), _normal(6, seed=1), _normal(6, seed=2)
    _compare(device, lambda x, g, b: ops.layer_norm(x, g, b, epsilon=1e-5), x, gamma, beta)
    _compare(device, lambda x, g: ops.rms_norm(x, g), x, gamma)


# -------------------------------------------------------------------------------- attention layers
def test_multi_head_attention_on_device(device):
    q, v = _normal(2, 5, 8), _normal(2, 7, 8, seed=1)
    keep = np.random.default_rng(3).random((2, 5, 7)) > 0.3
    keep[..., 0] = True

    def make():
        return layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)

    results = []
    for where in ("cpu", "gpu"):
        nerve.random.seed(0)
        layers.reset_names()
        layer = make()
        query, value = nerve.tensor(q, requires_grad=True, device=where), nerve.tensor(v, device=where)
        with nerve.device(where):
            out, scores = layer(query, value, attention_mask=nerve.tensor(keep, device=where),
                                return_attention_scores=True, training=True)
        causal = layer(query, value, use_causal_mask=True)
        (out.sum() + (causal * causal).sum()).backward()
        if where == "gpu":
            for t in (out, scores, causal, query.grad, *[w.grad for w in layer.trainable_weights]):
                assert isinstance(t.data, device.ndarray)
        results.append([out.numpy(), scores.numpy(), causal.numpy(), query.grad.numpy()]
                       + [w.grad.numpy() for w in layer.trainable_weights])
    for got, expected in zip(*results[::-1]):
        _same(got, expected)


@pytest.mark.parametrize("kind", ["Attention", "AdditiveAttention"])
def test_dot_and_additive_attention_layers_on_device(device, kind):
    q, v = _normal(2, 5, 4), _normal(2, 6, 4, seed=1)
    results = []
    for where in ("cpu", "gpu"):
        nerve.random.seed(0)
        layers.reset_names()
        layer = getattr(layers, kind)()
        query, value = nerve.tensor(q, requires_grad=True, device=where), nerve.tensor(v, requires_grad=True,
                                                                                      device=where)
        with nerve.device(where):
            out = layer([query, value], use_causal_mask=True)
        out.sum().backward()
        if where == "gpu":
            assert isinstance(out.data, device.ndarray) and isinstance(value.grad.data, device.ndarray)
        results.append([out.numpy(), query.grad.numpy(), value.grad.numpy()])
    for got, expected in zip(*results[::-1]):
        _same(got, expected)


def _transformer_model(decoder=False):
    tokens = nerve.Input(shape=(6,), dtype="int64")
    x = layers.TokenAndPositionEmbedding(vocabulary_size=12, sequence_length=6, embedding_dim=8, mask_zero=True)(
        tokens)
    x = layers.TransformerEncoder(intermediate_dim=16, num_heads=2, dropout=0.1)(x)
    if decoder:
        x = layers.TransformerDecoder(intermediate_dim=16, num_heads=2, dropout=0.1, normalize_first=True)(x, x)
    x = layers.LayerNormalization()(x)
    x = layers.RMSNormalization()(x)
    x = layers.GlobalAveragePooling1D()(x)
    return nerve.Model(tokens, layers.Dense(3)(x))


@pytest.mark.parametrize("decoder", [False, True], ids=["encoder", "encoder-decoder"])
def test_transformer_model_trains_on_device_like_on_cpu(device, decoder):
    rng = np.random.default_rng(0)
    x = rng.integers(1, 12, size=(16, 6))
    x[:, 4:] = 0  # padding: the embedding's mask flows into the attention
    y = rng.integers(0, 3, size=16)
    _compare_fit(device, lambda: _transformer_model(decoder), x, y,
                 nerve.losses.SparseCategoricalCrossentropy(from_logits=True))


# ------------------------------------------------------------------------------ normalization layers
@pytest.mark.parametrize("make", [
    lambda: layers.LayerNormalization(),
    lambda: layers.LayerNormalization(axis=(-2, -1), rms_scaling=True),
    lambda: layers.RMSNormalization(),
    lambda: layers.GroupNormalization(groups=2),
    lambda: layers.GroupNormalization(groups=-1, axis=-1),
    lambda: layers.UnitNormalization(),
], ids=["layer", "layer-rms-2axes", "rms", "group2", "instance", "unit"])
def test_normalization_layers_on_device(device, make):
    _compare_layer(device, make, _normal(3, 5, 4), training=None)


def test_normalization_preprocessing_layer_on_device(device):
    data = _normal(20, 4) * 3 + 1

    def make():
        layer = layers.Normalization()
        layer.adapt(data)
        return layer

    _compare_layer(device, make, _normal(5, 4, seed=1), training=None)
    for adapted_on in (device.asarray(data), iter([device.asarray(data[:7]), device.asarray(data[7:])]),
                       nerve.tensor(data, device="gpu")):  # statistics taken on the host, from explicit copies
        layer = layers.Normalization()
        layer.adapt(adapted_on)
        reference = layers.Normalization()
        reference.adapt(data)
        np.testing.assert_allclose(layer.mean.numpy(), reference.mean.numpy(), rtol=1e-6)
        np.testing.assert_allclose(layer.variance.numpy(), reference.variance.numpy(), rtol=1e-6)
    bins, reference = layers.Discretization(num_bins=4), layers.Discretization(num_bins=4)
    bins.adapt(device.asarray(data))
    reference.adapt(data)
    assert bins.bin_boundaries == reference.bin_boundaries
    inverted = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0], invert=True)
    with nerve.device("gpu"):
        out = inverted(nerve.tensor(np.ones((2, 2), dtype="float32"), device="gpu"))
    assert isinstance(out.data, device.ndarray)
    np.testing.assert_allclose(out.numpy(), [[3.0, 5.0]] * 2)


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.CenterCrop(2, 3), (2, 4, 5, 3)),
    (lambda: layers.UpSampling1D(2), (2, 4, 3)),
    (lambda: layers.ZeroPadding1D((1, 2)), (2, 4, 3)),
], ids=["center-crop", "upsampling1d", "zeropadding1d"])
def test_new_shape_layers_on_device(device, make, shape):
    _compare_layer(device, make, _normal(*shape), training=None)


@pytest.mark.parametrize("make", [
    lambda: layers.Minimum(),
    lambda: layers.Dot(axes=-1),
    lambda: layers.Dot(axes=(1, 1), normalize=True),
], ids=["minimum", "dot", "dot-normalize"])
def test_new_merge_layers_on_device(device, make):
    a, b = _normal(3, 4), _normal(3, 4, seed=1)
    results = []
    for where in ("cpu", "gpu"):
        layers.reset_names()
        x, y = nerve.tensor(a, requires_grad=True, device=where), nerve.tensor(b, requires_grad=True, device=where)
        out = make()([x, y])
        (out * out).sum().backward()
        if where == "gpu":
            assert all(isinstance(t.data, device.ndarray) for t in (out, x.grad, y.grad))
        results.append([out.numpy(), x.grad.numpy(), y.grad.numpy()])
    for got, expected in zip(*results[::-1]):
        _same(got, expected)


# ------------------------------------------------------------------------------------------- audio
def test_stft_and_mel_ops_on_device(device):
    signal = _normal(2, 300)

    def fn(x):
        real, imag = ops.stft(x, 64, 32, 64)
        power = real * real + imag * imag
        mel = ops.matmul(power, nerve.tensor(ops.linear_to_mel_weight_matrix(8, 33, 8000), device=x.device))
        return real, imag, ops.power_to_db(mel + 1e-3)

    _compare(device, fn, signal)


@pytest.mark.parametrize("make, shape", [
    (lambda: layers.STFTSpectrogram(mode="log", frame_length=32, frame_step=16), (2, 200, 1)),
    (lambda: layers.STFTSpectrogram(mode="magnitude", frame_length=32, frame_step=16, padding="same"),
     (2, 200, 1)),
    (lambda: layers.STFTSpectrogram(mode="stft", frame_length=32, frame_step=16, expand_dims=True), (2, 200, 1)),
    (lambda: layers.MelSpectrogram(fft_length=64, sequence_stride=32, sampling_rate=8000, num_mel_bins=10),
     (2, 400)),
    (lambda: layers.MFCC(num_mfcc=5, fft_length=64, sequence_stride=32, sampling_rate=8000, num_mel_bins=10),
     (2, 400)),
    (lambda: layers.STFTSpectrogram(mode="psd", frame_length=32, frame_step=16, scaling="spectrum"), (2, 200, 1)),
    (lambda: layers.STFTSpectrogram(mode="angle", frame_length=32, frame_step=16, fft_length=64), (2, 200, 2)),
], ids=["stft-log", "stft-magnitude-same", "stft-complex", "mel", "mfcc", "stft-psd", "stft-angle"])
def test_audio_layers_on_device(device, make, shape):
    _compare_layer(device, make, _normal(*shape), training=None)


def test_speech_model_with_ctc_trains_on_device_like_on_cpu(device):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 12, 5)).astype("float32")
    y = rng.integers(1, 4, size=(8, 3))
    y[:4, 2] = 0  # shorter targets, padded with the blank (mask_index 0)

    def build():
        return nerve.Sequential([nerve.Input(shape=(12, 5)), layers.LSTM(8, return_sequences=True),
                                 layers.Dense(4)])

    _compare_fit(device, build, x, y, nerve.losses.CTC())


def test_ctc_loss_and_decode_ops_on_device(device):
    logits = _normal(3, 10, 5)
    labels = np.array([[1, 2, 2], [3, 0, 0], [4, 1, 0]])

    def fn(logits):
        return ops.ctc_loss(nerve.tensor(labels, device=logits.device), ops.log_softmax(logits),
                            target_length=nerve.tensor([3, 1, 2], device=logits.device),
                            output_length=nerve.tensor([10, 8, 9], device=logits.device))

    _compare(device, fn, logits)
    decoded = []
    for where in ("cpu", "gpu"):
        out = ops.ctc_decode(nerve.tensor(logits, device=where), nerve.tensor([10, 8, 9], device=where))
        if where == "gpu":
            assert all(isinstance(getattr(a, "data", a), device.ndarray) for a in _outputs(out))
        decoded.append([nerve.backend.to_numpy(getattr(a, "data", a)) for a in _outputs(out)])
    for got, expected in zip(*decoded[::-1]):
        _same(got, expected)


# ------------------------------------------------------------------------------- LSTM sequence op
@pytest.mark.parametrize("fused, dropped", [(True, False), (True, True), (False, False)],
                         ids=["fused-sequence", "fused-recurrent-mask", "stepwise"])
def test_lstm_sequence_op_on_device(device, fused, dropped):
    """``fused=True`` without a recurrent mask is the LSTMSequence op (input projection folded in)."""
    x, kernel, recurrent = _normal(3, 5, 4), _normal(4, 24, seed=1) * 0.3, _normal(6, 24, seed=2) * 0.3
    bias, h0 = _normal(24, seed=3), _normal(3, 6, seed=4)
    mask = np.ones((3, 5), dtype=bool)
    mask[1, 3:] = False

    def fn(x, k, r, b, h0):
        recurrent_mask = nerve.tensor(np.random.default_rng(5).random((3, 6)) > 0.3, dtype="float32",
                                      device=x.device).data if dropped else None  # an array (dropout scale)
        return ops.lstm(x, h0, None, k, r, b, mask=nerve.tensor(mask, device=x.device), return_sequences=True,
                        return_state=True, fused=fused, recurrent_mask=recurrent_mask)

    _compare(device, fn, x, kernel, recurrent, bias, h0)


def test_lstm_layer_with_dropouts_trains_on_device_like_on_cpu(device):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 5, 3)).astype("float32"), rng.integers(0, 3, 16)

    def build():
        return nerve.Sequential([nerve.Input(shape=(5, 3)), layers.LSTM(6, dropout=0.2, recurrent_dropout=0.2),
                                 layers.Dense(3)])

    _compare_fit(device, build, x, y, nerve.losses.SparseCategoricalCrossentropy(from_logits=True))


# ------------------------------------------------------------------------------------ convolutions
def test_winograd_convolution_on_device(device, monkeypatch):
    """A 3x3 stride-1 convolution with >= 16 channels takes the Winograd kernel, on the device too."""
    from nerve.engine.kernels import winograd
    from nerve.engine.ops import conv

    assert winograd.WINOGRAD_MIN_CHANNELS <= 16
    seen = []
    forward = conv.winograd_forward
    monkeypatch.setattr(conv, "winograd_forward", lambda xp, plan, x, *args, **kwargs: (
        seen.append(type(x)), forward(xp, plan, x, *args, **kwargs))[1])
    x, w, b = _normal(2, 8, 8, 16), _normal(3, 3, 16, 16, seed=1) * 0.1, _normal(16, seed=2)
    for padding in ("same", "valid"):
        _compare(device, lambda x, w, b, padding=padding: ops.relu(ops.conv2d(x, w, b, padding=padding)), x, w, b)
    assert device.ndarray in seen and np.ndarray in seen

    def build():
        return nerve.Sequential([nerve.Input(shape=(8, 8, 3)), layers.Conv2D(16, 3, padding="same", activation="relu"),
                                 layers.Conv2D(16, 3, activation="relu"), layers.GlobalAveragePooling2D(),
                                 layers.Dense(3)])

    rng = np.random.default_rng(0)
    _compare_fit(device, build, rng.normal(size=(8, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 8),
                 nerve.losses.SparseCategoricalCrossentropy(from_logits=True))


def test_float16_winograd_keeps_2x2_tiles_on_device(device):
    """A float16 convolution on the device (the CPU computes float16 in float32) takes F(2x2, 3x3) even where
    float32 takes F(4x4, 3x3): the larger transforms would cost float16's 11 bits about 5x the rounding error."""
    x, w = _normal(2, 16, 16, 16, dtype="float16"), (_normal(3, 3, 16, 16, seed=1) * 0.1).astype("float16")
    tiles = {}
    for where in ("cpu", "gpu"):
        xt, wt = (nerve.tensor(a, requires_grad=True, device=where) for a in (x, w))
        out = ops.conv2d(xt, wt, padding="same")
        op = out.op if hasattr(out.op, "wplan") else out.op.inputs[0].op  # the CPU's: a cast after the product
        tiles[where] = op.wplan.tile
        tiles[where + " out"] = nerve.backend.to_numpy(out.data).astype(np.float32)
    assert tiles["gpu"] == 2 and tiles["cpu"] == 4
    np.testing.assert_allclose(tiles["gpu out"], tiles["cpu out"], rtol=2e-2, atol=2e-2)


# --------------------------------------------------------------------------- keras-named nerve.ops
X = np.random.default_rng(0).uniform(0.5, 2.0, size=(3, 4)).astype("float32")
S = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")

OPS = {
    "square": (ops.square, X), "reciprocal": (ops.reciprocal, X), "rsqrt": (ops.rsqrt, X),
    "log1p": (ops.log1p, X), "expm1": (ops.expm1, S), "log2": (ops.log2, X), "log10": (ops.log10, X),
    "exp2": (ops.exp2, S), "sin": (ops.sin, S), "cos": (ops.cos, S), "tan": (ops.tan, S),
    "ravel": (ops.ravel, S), "floor": (ops.floor, S), "ceil": (ops.ceil, S), "sign": (ops.sign, S),
    "trunc": (ops.trunc, S), "round": (lambda x: ops.round(x, decimals=1), S),
    "cumsum": (lambda x: ops.cumsum(x, axis=1), S), "sort": (ops.sort, S), "flip": (lambda x: ops.flip(x, axis=1), S),
    "normalize": (ops.normalize, S), "norm": (ops.norm, S), "norm-inf": (lambda x: ops.norm(x, ord=np.inf), S),
    "top_k": (lambda x: ops.top_k(x, 2), S), "moveaxis": (lambda x: ops.moveaxis(x, 0, 1), S),
    "swapaxes": (lambda x: ops.swapaxes(x, 0, 1), S), "hstack": (lambda x: ops.hstack([x, x]), S),
    "vstack": (lambda x: ops.vstack([x, x]), S), "moments": (lambda x: ops.moments(x, axes=[0]), S),
    "std": (lambda x: ops.std(x, axis=1), S), "var": (lambda x: ops.var(x, axis=0), S),
    "dot": (lambda x: ops.dot(x, ops.transpose(x)), S), "slice": (lambda x: ops.slice(x, (1, 1), (2, 2)), S),
    "take": (lambda x: ops.take(x, [2, 0], axis=1), S),
    "take_along_axis": (lambda x: ops.take_along_axis(x, nerve.tensor(np.array([[0, 3], [1, 1], [2, 0]]),
                                                                      device=x.device), axis=1), S),
    "argmax": (lambda x: ops.argmax(x, axis=1), S), "argmin": (ops.argmin, S),
    "argsort": (lambda x: ops.argsort(x, axis=0), S), "isfinite": (ops.isfinite, S), "isnan": (ops.isnan, S),
    "isinf": (ops.isinf, S), "logical_xor": (lambda x: ops.logical_xor(x > 0, x > 1), S),
    "equal": (lambda x: ops.equal(x, ops.flip(x, axis=1)), S), "greater": (lambda x: ops.greater(x, 0.0), S),
    "stop_gradient": (lambda x: ops.stop_gradient(x) * x, S), "full_like": (lambda x: ops.full_like(x, 2.0) * x, S),
    "zeros_like": (lambda x: ops.zeros_like(x) + x, S), "ones_like": (lambda x: ops.ones_like(x) * x, S),
    "squeeze": (lambda x: ops.squeeze(ops.expand_dims(x, 0), 0), S), "split": (lambda x: ops.split(x, 2, axis=1), S),
    "stack": (lambda x: ops.stack([x, x], axis=1), S), "where": (lambda x: ops.where(x > 0, x, x * x), S),
    "clip": (lambda x: ops.clip(x, -0.5, 0.5), S), "softplus": (ops.softplus, S), "silu": (ops.silu, S),
    "logsumexp": (lambda x: ops.logsumexp(x, axis=1), S),
    "one_hot": (lambda x: ops.one_hot(ops.argmax(x, axis=1), 4), S),
    "in_top_k": (lambda x: ops.in_top_k(nerve.tensor(np.array([0, 1, 2]), device=x.device), x, 2), S),
    "sum": (lambda x: ops.sum(x, axis=0), S), "max": (lambda x: ops.max(x, axis=1), S),
    "min": (ops.min, S), "all": (lambda x: ops.all(x > -5), S), "any": (lambda x: ops.any(x > 1, axis=1), S),
    "cast": (lambda x: ops.cast(x, "float64"), S), "maximum": (lambda x: ops.maximum(x, 0.1), S),
    "minimum": (lambda x: ops.minimum(x, ops.flip(x, axis=0)), S), "power": (lambda x: ops.power(x, 3), S),
    "pad": (lambda x: ops.pad(x, ((1, 0), (0, 2))), S), "reshape": (lambda x: ops.reshape(x, (2, 6)), S),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_keras_ops_on_device(device, name):
    fn, data = OPS[name]
    _compare(device, fn, data)


def test_keras_creation_ops_follow_the_default_device(device):
    with nerve.device("gpu"):
        made = [ops.zeros((2, 3)), ops.ones((2,)), ops.eye(3), ops.arange(4), ops.linspace(0, 1, 5),
                ops.full((2, 2), 3.0), ops.convert_to_tensor([1.0, 2.0])]
    for t, expected in zip(made, [np.zeros((2, 3)), np.ones(2), np.eye(3), np.arange(4), np.linspace(0, 1, 5),
                                  np.full((2, 2), 3.0), [1.0, 2.0]]):
        assert t.device == "gpu" and isinstance(t.data, device.ndarray)
        np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)
    on_device = nerve.tensor(S, device="gpu")
    assert ops.shape(on_device) == (3, 4) and ops.ndim(on_device) == 2 and ops.size(on_device) == 12
    assert type(ops.convert_to_numpy(on_device)) is np.ndarray


# ------------------------------------------------------------------- mixed precision, optimizers
def _mlp():
    return nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(16, activation="relu"),
                             layers.BatchNormalization(), layers.Dense(3)])


def test_mixed_float16_model_with_loss_scaling_trains_on_device_like_on_cpu(device):
    from nerve import mixed_precision

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    mixed_precision.set_global_policy("mixed_float16")
    try:
        cpu, gpu = _compare_fit(device, _mlp, x, y, nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
                                optimizer=lambda: optimizers.LossScaleOptimizer(optimizers.Adam(0.01),
                                                                                dynamic_growth_steps=2))
    finally:
        mixed_precision.set_global_policy("float32")
    assert isinstance(gpu.optimizer, optimizers.LossScaleOptimizer)
    _same(np.asarray(float(gpu.optimizer.dynamic_scale if hasattr(gpu.optimizer, "dynamic_scale")
                           else gpu.optimizer.loss_scale)),
          np.asarray(float(cpu.optimizer.dynamic_scale if hasattr(cpu.optimizer, "dynamic_scale")
                           else cpu.optimizer.loss_scale)))


def test_mixed_float16_cnn_on_device(device):
    """float16 convolutions (Winograd at 16 channels) and float32 master weights; the CPU computes float16 products
    in float32 and rounds once, the stand-in multiplies float16 directly: equal within float16 rounding."""
    from nerve import mixed_precision

    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(8, 6, 6, 3)).astype("float32"), rng.integers(0, 3, 8)

    def build():
        return nerve.Sequential([nerve.Input(shape=(6, 6, 3)), layers.Conv2D(16, 3, padding="same", activation="relu"),
                                 layers.Conv2D(16, 3, padding="same"), layers.GlobalAveragePooling2D(),
                                 layers.Dense(3, dtype="float32")])

    loss = nerve.losses.SparseCategoricalCrossentropy(from_logits=True)
    mixed_precision.set_global_policy("mixed_float16")
    try:
        cpu = _train(build, x, y, "cpu", loss, optimizer=lambda: optimizers.SGD(0.1))
        gpu = _train(build, x, y, "gpu", loss, optimizer=lambda: optimizers.SGD(0.1))
    finally:
        mixed_precision.set_global_policy("float32")
    assert all(w.dtype == np.float32 and isinstance(w.data, device.ndarray) for w in gpu.weights)
    for a, b in zip(cpu.get_weights(), gpu.get_weights()):
        np.testing.assert_allclose(b, a, rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(gpu.history.history["loss"], cpu.history.history["loss"], rtol=1e-2)


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.Nadam(0.01),
    lambda: optimizers.Adamax(0.01),
    lambda: optimizers.Lion(0.001),
    lambda: optimizers.Ftrl(0.1, l1_regularization_strength=0.01, l2_regularization_strength=0.01),
    lambda: optimizers.Lamb(0.01),
    lambda: optimizers.Adafactor(0.01),
    lambda: optimizers.Adadelta(1.0),
    lambda: optimizers.Adagrad(0.1),
    lambda: optimizers.SGD(nerve.schedules.PolynomialDecay(0.1, 10, 0.01, cycle=True), momentum=0.9),
    lambda: optimizers.Adam(nerve.schedules.CosineDecayRestarts(0.01, 3, t_mul=2.0, m_mul=0.5, alpha=0.1)),
], ids=["nadam", "adamax", "lion", "ftrl", "lamb", "adafactor", "adadelta", "adagrad", "sgd-polynomial",
        "adam-cosine-restarts"])
def test_new_optimizers_and_schedules_on_device(device, optimizer):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    _, gpu = _compare_fit(device, _mlp, x, y, nerve.losses.SparseCategoricalCrossentropy(from_logits=True),
                          optimizer=optimizer)
    slots = gpu.optimizer.state_dict().get("slots", {})
    assert all(isinstance(a, device.ndarray) for arrays in slots.values() for a in arrays if hasattr(a, "shape"))


# ------------------------------------------------------------------------------------------- text
def test_text_layers_run_on_the_host_and_hand_device_tensors_downstream(device):
    """Strings live on the host: the lookup runs there; the ids land on the layer's device (the default device)."""
    texts = np.array(["the cat sat", "a dog ran far", "the dog"])
    vectorize = layers.TextVectorization(output_sequence_length=4)
    vectorize.adapt(texts)
    counts = layers.TextVectorization(output_mode="count")
    counts.adapt(texts)
    lookup = layers.StringLookup(vocabulary=["cat", "dog"])
    host_ids, host_found, host_counts = vectorize(texts), lookup(np.array([["cat", "bird"]])), counts(texts)
    assert all(type(t.data) is np.ndarray for t in (host_ids, host_found, host_counts))  # the default: the CPU
    with nerve.device("gpu"):
        ids, found, bag = vectorize(texts), lookup(np.array([["cat", "bird"]])), counts(texts)
        model = nerve.Sequential([nerve.Input(shape=(4,), dtype="int64"),
                                  layers.Embedding(vectorize.vocabulary_size(), 3), layers.GlobalAveragePooling1D(),
                                  layers.Dense(2)])
    for t, expected in ((ids, host_ids), (found, host_found), (bag, host_counts)):
        assert t.device == "gpu" and isinstance(t.data, device.ndarray)
        np.testing.assert_array_equal(t.numpy(), expected.numpy())
    out = model(ids)  # a device tensor straight into a model on the device
    assert out.device == "gpu" and isinstance(out.data, device.ndarray)
    # ids on the device go back to strings or categories through an explicit copy to the host
    inverse = layers.StringLookup(vocabulary=["cat", "dog"], invert=True)
    assert inverse(found).tolist() == [["cat", "[UNK]"]] and inverse(found.data).tolist() == [["cat", "[UNK]"]]
    integers = layers.IntegerLookup(vocabulary=[12, 36])
    assert integers(device.asarray(np.array([36, 7]))).tolist() == [2, 0]
    assert type(ops.convert_to_numpy(device.asarray(np.ones(2)))) is np.ndarray


def test_audio_constant_matrices_built_for_the_device(device):
    for make in (lambda xp: ops.linear_to_mel_weight_matrix(8, 33, 8000, xp=xp),
                 lambda xp: ops.dct_matrix(10, 5, xp=xp)):
        on_device = make(device)
        assert isinstance(on_device, device.ndarray)
        np.testing.assert_allclose(nerve.backend.to_numpy(on_device), make(np), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ other new layers and the losses
@pytest.mark.parametrize("make, shape", [
    (lambda: layers.Resizing(5, 3), (2, 4, 6, 2)),
    (lambda: layers.Resizing(3, 3, interpolation="nearest", crop_to_aspect_ratio=True), (2, 4, 6, 2)),
    (lambda: layers.MaxPooling3D(2), (2, 4, 4, 4, 2)),
    (lambda: layers.AveragePooling3D(2), (2, 4, 4, 4, 2)),
    (lambda: layers.Conv1DTranspose(3, 3, strides=2), (2, 5, 2)),
    (lambda: layers.Cropping3D(1), (2, 4, 4, 4, 2)),
    (lambda: layers.UpSampling3D(2), (2, 2, 2, 2, 2)),
    (lambda: layers.ZeroPadding3D(1), (2, 2, 2, 2, 2)),
    (lambda: layers.GlobalAveragePooling3D(), (2, 2, 3, 2, 2)),
    (lambda: layers.GlobalMaxPooling3D(keepdims=True), (2, 2, 3, 2, 2)),
    (lambda: layers.SpatialDropout3D(0.5), (2, 2, 2, 2, 4)),
    (lambda: layers.ActivityRegularization(l1=0.1, l2=0.1), (3, 4)),
    (lambda: layers.RandomInvert(1.0, value_range=(0, 1)), (2, 3, 3, 3)),
    (lambda: layers.RandomGrayscale(1.0), (2, 3, 3, 3)),
    (lambda: layers.ReLU(max_value=0.5, negative_slope=0.1, threshold=-0.2), (3, 4)),
    (lambda: layers.Discretization(bin_boundaries=[-0.5, 0.0, 0.5]), (3, 4)),
], ids=["resizing-bilinear", "resizing-nearest-crop", "maxpool3d", "avgpool3d", "conv1d-transpose", "cropping3d",
        "upsampling3d", "zeropadding3d", "global-avg3d", "global-max3d", "spatial-dropout3d",
        "activity-regularization", "random-invert", "random-grayscale", "relu", "discretization"])
def test_other_new_layers_on_device(device, make, shape):
    _compare_layer(device, make, _normal(*shape), training=True)


def test_category_encoding_and_masked_softmax_on_device(device):
    ids = np.array([[0, 2, 2], [3, 1, 0]])
    _compare_layer(device, lambda: layers.CategoryEncoding(4, output_mode="count"), ids, training=None)
    scores, mask = _normal(2, 3), np.array([[1, 1, 0], [1, 0, 1]])
    for masked in (mask, nerve.tensor(mask, device="gpu")):  # a host mask is copied over, a device one used
        out = layers.Softmax()(nerve.tensor(scores, device="gpu"), mask=masked)
        assert isinstance(out.data, device.ndarray)
        _same(out.numpy(), layers.Softmax()(nerve.tensor(scores), mask=mask).numpy())


LOSSES = {
    "kl_divergence": ("KLDivergence", "probabilities"), "poisson": ("Poisson", "positive"),
    "log_cosh": ("LogCosh", "values"), "hinge": ("Hinge", "binary"), "squared_hinge": ("SquaredHinge", "signs"),
    "categorical_hinge": ("CategoricalHinge", "one_hot"), "cosine_similarity": ("CosineSimilarity", "values"),
    "mape": ("MeanAbsolutePercentageError", "positive"), "msle": ("MeanSquaredLogarithmicError", "positive"),
    "binary_focal": ("BinaryFocalCrossentropy", "binary"), "categorical_focal": ("CategoricalFocalCrossentropy",
                                                                                   "one_hot"),
    "dice": ("Dice", "binary"), "tversky": ("Tversky", "binary"), "huber": ("Huber", "values"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_new_losses_on_device(device, name):
    kind, targets = LOSSES[name]
    rng = np.random.default_rng(2)
    y_true = {"probabilities": rng.dirichlet(np.ones(4), size=3), "positive": rng.uniform(0.5, 2, (3, 4)),
              "values": rng.normal(size=(3, 4)), "binary": rng.integers(0, 2, (3, 4)).astype(float),
              "signs": rng.choice([-1.0, 1.0], (3, 4)), "one_hot": np.eye(4)[rng.integers(0, 4, 3)]}[targets]
    y_true = y_true.astype("float32")
    y_pred = rng.uniform(0.1, 0.9, (3, 4)).astype("float32")
    loss = getattr(nerve.losses, kind)()
    _compare(device, lambda p: loss(nerve.tensor(y_true, device=p.device), p), y_pred)


@pytest.mark.parametrize("sampler", ["greedy", "top_k", "top_p"])
def test_text_generation_with_a_cache_on_device(device, sampler):
    """Generation samples on the host (nerve's generator) from the last position's logits, copied from the device."""
    from nerve.training.text import generate

    results = []
    for where in ("cpu", "gpu"):
        nerve.random.seed(0)
        layers.reset_names()
        gpt = nerve.Sequential([layers.TokenAndPositionEmbedding(10, 8, 8), layers.TransformerDecoder(16, 2),
                                layers.LayerNormalization(), layers.Dense(10)])
        gpt(np.array([[1, 2]]))
        gpt.to(where)
        prompt = np.array([[1, 2], [3, 4]]) if where == "cpu" else device.asarray(np.array([[1, 2], [3, 4]]))
        nerve.random.seed(1)
        cached = generate(gpt, prompt, 10, sampler=sampler)  # past the 8 positions: the window slides
        nerve.random.seed(1)
        uncached = generate(gpt, nerve.tensor(prompt), 5, sampler=sampler, use_cache=False)
        assert type(cached) is np.ndarray
        results.append((cached, uncached))
    _same(results[1][0], results[0][0])
    _same(results[1][1], results[0][1])
    from nerve.training.text import get_sampler  # the samplers take device logits too

    logits = _normal(2, 5)
    nerve.random.seed(2)
    sampled = get_sampler(sampler)(device.asarray(logits))
    nerve.random.seed(2)
    _same(np.asarray(sampled), get_sampler(sampler)(logits))


def test_keras_model_api_steps_on_device(device):
    """compute_loss (with weight and activity penalties), predict_step and compute_metrics on the device."""
    x, y = _normal(5, 4), _normal(5, 3, seed=1)
    results = []
    for where in ("cpu", "gpu"):
        nerve.random.seed(0)
        layers.reset_names()
        model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3, kernel_regularizer="l2"),
                                  layers.ActivityRegularization(l1=0.1)])
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        model.to(where)
        model.predict(x, verbose=0)  # inference calls before: their activity penalties must not count
        loss = model.compute_loss(x, y if where == "cpu" else device.asarray(y))
        loss.backward()
        prediction = model.predict_step((x,))
        if where == "gpu":
            assert isinstance(loss.data, device.ndarray) and isinstance(prediction.data, device.ndarray)
            assert all(isinstance(w.grad.data, device.ndarray) for w in model.trainable_weights)
        metrics = model.compute_metrics(x, y, prediction)
        results.append([loss.numpy(), prediction.numpy(), np.asarray(metrics["mae"])]
                       + [w.grad.numpy() for w in model.trainable_weights])
    for got, expected in zip(*results[::-1]):
        _same(got, expected)


class _ConstantPenalty(layers.Layer):
    """add_loss of a Python number and of a tensor term: both join the objective on the model's device."""

    def call(self, x):
        self.add_loss(0.5)
        self.add_loss(0.01 * (x * x).mean())
        return x


def test_add_loss_of_a_number_on_device(device):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")
    _compare_fit(device, lambda: nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3), _ConstantPenalty()]),
                 x, y, "mse", optimizer="sgd")


ACTIVATIONS = ["selu", "mish", "relu6", "hard_sigmoid", "hard_silu", "hard_swish", "softsign", "log_sigmoid",
               "log_softmax", "celu", "exponential", "glu", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink",
               "threshold", "squareplus", "sparse_plus", "sparse_sigmoid", "gelu", "silu", "step"]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_keras_activations_on_device(device, name):
    function = nerve.activations.get(name)
    call = {"glu": lambda x: nerve.activations.glu(x, axis=-1),
            "threshold": lambda x: nerve.activations.threshold(x, 0.2, -1.0)}.get(name, function)
    _compare(device, call, S)


def test_position_encodings_and_dense_attention_options_on_device(device):
    _compare_layer(device, lambda: layers.SinePositionEncoding(), _normal(2, 5, 6), training=None)
    _compare_layer(device, lambda: layers.PositionEmbedding(5), _normal(2, 5, 6), training=None)
    q, v = _normal(2, 5, 4), _normal(2, 6, 4, seed=1)
    for make in (lambda: layers.Attention(use_scale=True, score_mode="concat", dropout=0.2),
                 lambda: layers.AdditiveAttention(dropout=0.2)):
        results = []
        for where in ("cpu", "gpu"):
            nerve.random.seed(0)
            layers.reset_names()
            query, value = nerve.tensor(q, requires_grad=True, device=where), nerve.tensor(v, device=where)
            with nerve.device(where):
                layer = make()
                out, scores = layer([query, value], mask=[None, nerve.tensor(np.array([[1] * 6, [1] * 4 + [0] * 2]),
                                                                             device=where)],
                                    return_attention_scores=True, training=True)
            (out * out).sum().backward()
            if where == "gpu":
                assert all(isinstance(t.data, device.ndarray) for t in (out, scores, query.grad))
            results.append([out.numpy(), scores.numpy(), query.grad.numpy()]
                           + [w.grad.numpy() for w in layer.trainable_weights])
        for got, expected in zip(*results[::-1]):
            _same(got, expected)


@pytest.mark.parametrize("kernel_regularizer, kernel_constraint", [
    (lambda: nerve.regularizers.OrthogonalRegularizer(0.1, mode="rows"), lambda: nerve.constraints.MaxNorm(1.0)),
    (lambda: nerve.regularizers.OrthogonalRegularizer(0.1, mode="columns"),
     lambda: nerve.constraints.MinMaxNorm(0.1, 0.5)),
    (lambda: nerve.regularizers.L1L2(0.01, 0.01), lambda: nerve.constraints.UnitNorm()),
], ids=["orthogonal-rows-maxnorm", "orthogonal-columns-minmax", "l1l2-unitnorm"])
def test_regularizers_and_constraints_on_device(device, kernel_regularizer, kernel_constraint):
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")
    _compare_fit(device, lambda: nerve.Sequential([
        nerve.Input(shape=(4,)), layers.Dense(5, kernel_regularizer=kernel_regularizer(),
                                              kernel_constraint=kernel_constraint()), layers.Dense(3)]), x, y, "mse")
