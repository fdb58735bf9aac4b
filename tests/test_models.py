"""Models: Sequential, functional (multi-input/output, shared layers, skips), subclassed; structure and summary.

Every model kind is trained with the same ``fit`` and must reduce its loss;
summary() is checked line by line against counts worked out by hand.
"""

import numpy
import pytest

import nerve
from nerve import layers


@pytest.fixture(autouse=True)
def _seed():
    nerve.random.seed(0)


def _regression_data(n=64, features=4, seed=0):
    g = numpy.random.default_rng(seed)
    x = g.normal(size=(n, features)).astype("float32")
    y = (x @ g.normal(size=(features, 1)) + 0.5).astype("float32")
    return x, y


def _trains(model, x, y, epochs=30, lr=0.05, batch_size=16):
    model.compile(optimizer=nerve.optimizers.Adam(lr), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert len(history.history["loss"]) == epochs
    assert after < 0.5 * before, (before, after)
    return model


# --------------------------------------------------------------- model kinds
def test_sequential_trains():
    x, y = _regression_data()
    model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(16, activation="relu"), layers.Dense(1)])
    _trains(model, x, y)


def test_sequential_without_input_builds_on_first_batch():
    x, y = _regression_data()
    model = nerve.Sequential([layers.Dense(16, activation="relu"), layers.Dense(1)])
    assert not model.built
    _trains(model, x, y)
    assert model.built and model.count_params() == 4 * 16 + 16 + 16 + 1


def test_functional_multi_input_multi_output_trains():
    g = numpy.random.default_rng(1)
    a = g.normal(size=(96, 3)).astype("float32")
    b = g.normal(size=(96, 2)).astype("float32")
    y_reg = (a.sum(1, keepdims=True) - b[:, :1]).astype("float32")
    y_cls = (a[:, 0] + b[:, 1] > 0).astype("int64")
    in_a, in_b = nerve.Input(shape=(3,), name="a"), nerve.Input(shape=(2,), name="b")
    h = layers.Concatenate()([layers.Dense(8, activation="relu")(in_a), in_b])
    h = layers.Dense(16, activation="relu")(h)
    reg = layers.Dense(1, name="reg")(h)
    cls = layers.Dense(2, name="cls")(h)
    model = nerve.Model([in_a, in_b], [reg, cls])
    model.compile(optimizer=nerve.optimizers.Adam(0.02),
                  loss={"reg": "mse", "cls": nerve.losses.SparseCategoricalCrossentropy(from_logits=True)},
                  metrics={"cls": ["accuracy"]})
    first = model.evaluate([a, b], [y_reg, y_cls], verbose=0, return_dict=True)
    history = model.fit([a, b], [y_reg, y_cls], epochs=40, batch_size=32, verbose=0)
    assert {"loss", "reg_loss", "cls_loss", "cls_accuracy"} <= set(history.history)
    last = model.evaluate([a, b], [y_reg, y_cls], verbose=0, return_dict=True)
    assert last["loss"] < 0.5 * first["loss"]
    assert last["cls_accuracy"] > 0.85
    # the total is the sum of the per-output losses
    assert last["loss"] == pytest.approx(last["reg_loss"] + last["cls_loss"], rel=1e-5)
    # dict inputs keyed by input name give the same predictions as the list
    p_list = model.predict([a, b])
    p_dict = model.predict({"a": a, "b": b})
    for u, v in zip(p_list, p_dict):
        numpy.testing.assert_array_equal(u, v)
    assert [p.shape for p in p_list] == [(96, 1), (96, 2)]


def test_functional_shared_layer_used_twice():
    x, y = _regression_data(features=3)
    x2 = x[::-1].copy()
    shared = layers.Dense(4, activation="tanh", name="shared")
    in1, in2 = nerve.Input(shape=(3,)), nerve.Input(shape=(3,))
    out = layers.Dense(1)(layers.Add()([shared(in1), shared(in2)]))
    model = nerve.Model([in1, in2], out)
    # one copy of the shared weights
    assert model.count_params() == (3 * 4 + 4) + (4 + 1)
    assert sum(1 for layer in model.layers if layer is shared) == 1
    target = y + y[::-1]
    model.compile(optimizer=nerve.optimizers.Adam(0.05), loss="mse")
    before = model.evaluate([x, x2], target, verbose=0)
    model.fit([x, x2], target, epochs=40, batch_size=16, verbose=0)
    assert model.evaluate([x, x2], target, verbose=0) < 0.5 * before
    # the forward really is shared(in1) + shared(in2) with the same weights
    k, b = shared.get_weights()
    head = model.layers[-1]
    hk, hb = head.get_weights()
    expected = (numpy.tanh(x @ k + b) + numpy.tanh(x2 @ k + b)) @ hk + hb
    numpy.testing.assert_allclose(model.predict([x, x2]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("merge", [layers.Add, layers.Multiply, layers.Concatenate])
def test_functional_skip_connection(merge):
    x, y = _regression_data()
    inputs = nerve.Input(shape=(4,))
    h = layers.Dense(4, activation="relu")(inputs)
    merged = merge()([inputs, h])
    model = nerve.Model(inputs, layers.Dense(1)(merged))
    width = 8 if merge is layers.Concatenate else 4
    assert merged.shape == (None, width)
    assert model.count_params() == (4 * 4 + 4) + (width + 1)
    _trains(model, x, y)
    # forward matches the formula
    k, b = model.layers[0].get_weights()
    hk, hb = model.layers[-1].get_weights()
    hidden = numpy.maximum(x @ k + b, 0)
    combined = {layers.Add: x + hidden, layers.Multiply: x * hidden,
                layers.Concatenate: numpy.concatenate([x, hidden], axis=1)}[merge]
    numpy.testing.assert_allclose(model.predict(x), combined @ hk + hb, rtol=1e-5, atol=1e-5)


class TwoLayer(nerve.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(16, activation="relu")
        self.dropout = layers.Dropout(0.5)
        self.out = layers.Dense(1)

    def call(self, x, training=None):
        return self.out(self.dropout(self.hidden(x), training=training))


def test_subclassed_model_trains_and_tracks_weights():
    x, y = _regression_data()
    model = TwoLayer()
    _trains(model, x, y, epochs=60)
    assert len(model.trainable_weights) == 4
    assert model.count_params() == 4 * 16 + 16 + 16 + 1
    assert [layer.name for layer in model.layers] == [model.hidden.name, model.dropout.name, model.out.name]


def test_subclassed_model_get_config_error_points_to_save_weights(tmp_path):
    class Wrapper(nerve.Model):
        def __init__(self, inner):  # a layer object: not a plain JSON value, so no automatic config
            super().__init__()
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    model = Wrapper(layers.Dense(2))
    model(numpy.zeros((1, 4)))
    with pytest.raises(ValueError, match="get_config.*save_weights"):
        model.save(tmp_path / "m.nerve")


# --------------------------------------------------------------- PyTorch loop
def test_pytorch_style_loop_on_sequential():
    x, y = _regression_data()
    model = nerve.Sequential([layers.Dense(16, activation="relu"), layers.Dense(1)])
    model(x[:1])  # build
    opt = nerve.optimizers.Adam(0.05, params=model.parameters())
    loss_fn = nerve.losses.MeanSquaredError()
    first = None
    for _ in range(100):
        loss = loss_fn(y, model(x, training=True))
        loss.backward()
        opt.step()
        opt.zero_grad()
        first = float(loss.item()) if first is None else first
    assert opt.iterations == 100
    final = float(loss_fn(y, model(x)).item())
    assert final < 0.1 * first
    assert all(w.grad is None for w in model.parameters())


# ------------------------------------------------------------------ structure
def _bn_model():
    return nerve.Sequential([
        nerve.Input(shape=(10,)),
        layers.Dense(20, activation="relu", name="hidden"),
        layers.BatchNormalization(name="bn"),
        layers.Dropout(0.2, name="drop"),
        layers.Dense(3, name="logits"),
    ], name="bn_net")


def test_summary_table_content():
    model = _bn_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0].splitlines()
    assert text[0] == 'Model: "bn_net"'
    names = ("hidden", "bn", "drop", "logits")
    rows = {line.split()[0]: line for line in text if line.split() and line.split()[0] in names}
    assert set(rows) == {"hidden", "bn", "drop", "logits"}
    assert "(Dense)" in rows["hidden"] and "(None, 20)" in rows["hidden"] and rows["hidden"].split()[-1] == "220"
    assert "(BatchNormalization)" in rows["bn"] and rows["bn"].split()[-1] == "80"  # gamma, beta, mean, var
    assert "(Dropout)" in rows["drop"] and rows["drop"].split()[-1] == "0"
    assert "(None, 3)" in rows["logits"] and rows["logits"].split()[-1] == "63"
    assert "Total params: 363" in text
    assert "Trainable params: 323" in text
    assert "Non-trainable params: 40" in text
    # layer order in the table is the model's order
    order = [line.split()[0] for line in text if line.split() and line.split()[0] in rows]
    assert order == ["hidden", "bn", "drop", "logits"]
    assert model.summary(print_fn=None) == lines[0]


def test_summary_prints_to_stdout(capsys):
    _bn_model().summary()
    out = capsys.readouterr().out
    assert "Total params: 363" in out and "BatchNormalization" in out


def test_summary_thousands_separator_and_functional_shapes():
    a, b = nerve.Input(shape=(784,), name="pixels"), nerve.Input(shape=(3,), name="meta")
    h = layers.Dense(128, name="d1")(a)
    out = layers.Dense(10, name="head")(layers.Concatenate(name="cat")([h, b]))
    model = nerve.Model([a, b], out, name="two_in")
    text = model.summary(print_fn=None)
    assert "100,480" in text  # 784*128 + 128
    assert "(None, 131)" in text and "cat (Concatenate)" in text
    assert f"Total params: {100480 + 1320:,}" in text


def test_summary_unbuilt_model_explains():
    model = nerve.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="not built"):
        model.summary()


def test_count_params_weights_and_set_weights():
    model = _bn_model()
    assert model.count_params() == 363
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(10, 20), (20,), (20,), (20,), (20, 3), (3,), (20,), (20,)]
    assert sum(w.size for w in weights) == 363
    # get_weights returns copies
    weights[0][...] = 0
    assert not numpy.all(model.get_weights()[0] == 0)
    new = [numpy.full(w.shape, i, dtype="float32") for i, w in enumerate(model.get_weights())]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        numpy.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([numpy.zeros((2, 2))] + new[1:])
    with pytest.raises(ValueError, match="arrays"):
        model.set_weights(new[:-1])


def test_layers_and_get_layer():
    model = _bn_model()
    assert [layer.name for layer in model.layers] == ["hidden", "bn", "drop", "logits"]
    assert model.get_layer("bn") is model.layers[1]
    assert model.get_layer(index=-1).name == "logits"
    with pytest.raises(ValueError, match="hidden"):  # lists the layers
        model.get_layer("nope")


def test_functional_layers_in_topological_order():
    x = nerve.Input(shape=(4,))
    h1 = layers.Dense(3, name="first")(x)
    h2 = layers.Dense(3, name="second")(h1)
    model = nerve.Model(x, layers.Add(name="add")([h1, h2]))
    assert [layer.name for layer in model.layers] == ["first", "second", "add"]


def test_sequential_duplicate_layer_name_rejected():
    with pytest.raises(ValueError, match="already"):
        nerve.Sequential([layers.Dense(2, name="d"), layers.Dense(2, name="d")])


def test_functional_input_not_declared_is_an_error():
    a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(2,))
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match="not among the model's inputs"):
        nerve.Model(a, out)


def test_functional_wrong_input_shape_error_names_input():
    x = nerve.Input(shape=(4,), name="features")
    model = nerve.Model(x, layers.Dense(1)(x))
    with pytest.raises(ValueError, match=r"features.*\(None, 4\).*\(2, 5\)"):
        model(numpy.zeros((2, 5)))


def test_rank_mismatch_names_layer_and_shapes():
    model = nerve.Sequential([layers.Dense(4, name="hidden"), layers.Dense(1)])
    model(numpy.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"rank 2.*\(2, 3, 3\).*hidden.*\(None, 3\)"):
        model(numpy.zeros((2, 3, 3)))


def test_training_flag_reaches_nested_layers():
    seen = []

    class Probe(layers.Layer):
        def call(self, x, training=None):
            seen.append(training)
            return x

    model = nerve.Sequential([layers.Dense(2), Probe()])
    model.compile(optimizer="sgd", loss="mse")
    x, y = numpy.ones((4, 3), "float32"), numpy.ones((4, 2), "float32")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)  # the first call also builds the model
    seen.clear()
    model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    assert seen == [True] * 4
    seen.clear()
    model.evaluate(x, y, verbose=0)
    model.predict(x)
    assert seen == [False, False]


def test_summary_long_layer_names_stay_separated():
    long_name = "batch_normalization_with_a_long_name"
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.BatchNormalization(name=long_name)])
    text = model.summary(print_fn=None)
    row = next(line for line in text.splitlines() if line.startswith("batch_normalization_with"))
    assert row.split() == ["batch_normalization_with_a_long_name", "(BatchNormalization)", "(None,", "3)", "12"]
    widths = {len(line) for line in text.splitlines() if set(line) <= {"=", "_"}}
    assert len(widths) == 1 and widths.pop() >= len(row)


def test_nested_model_as_a_layer():
    x = numpy.random.default_rng(0).normal(size=(20, 3)).astype("float32")
    inner = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4, name="inner_dense")], name="inner")
    outer = nerve.Sequential([inner, layers.Dense(1, name="head")], name="outer")
    outer(x[:1])  # builds the head
    assert outer.count_params() == 16 + 5
    text = outer.summary(print_fn=None)
    assert "inner (Sequential)" in text and "Total params: 21" in text
    outer.compile(optimizer="sgd", loss="mse")
    before = inner.get_weights()[0].copy()
    outer.fit(x, x.sum(1, keepdims=True), epochs=1, verbose=0)
    assert not numpy.array_equal(before, inner.get_weights()[0])  # the inner model trains too
