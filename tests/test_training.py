"""fit/evaluate/predict semantics: iterations per epoch, batches, validation, weights, inputs, bad input.

Counts come from ``optimizer.iterations``; weighted losses are compared with
the formula ``mean_i(w_i * loss_i)`` computed by hand in NumPy.
"""

import numpy
import pytest

import nerve
from nerve import callbacks, layers


@pytest.fixture(autouse=True)
def _seed():
    nerve.random.seed(0)


def _linear(features=3, units=1, lr=0.01, loss="mse", metrics=None, optimizer=None):
    model = nerve.Sequential([nerve.Input(shape=(features,)), layers.Dense(units)])
    model.compile(optimizer=optimizer or nerve.optimizers.SGD(lr), loss=loss, metrics=metrics)
    return model


def _data(n, features=3, seed=0):
    g = numpy.random.default_rng(seed)
    x = g.normal(size=(n, features)).astype("float32")
    return x, (x.sum(axis=1, keepdims=True) * 0.5).astype("float32")


class BatchSizes(callbacks.Callback):
    """Records the batch sizes seen by the model in training."""

    def on_train_begin(self, logs=None):
        self.sizes = []
        original = self.model.train_step

        def spy(x, y, sample_weight=None):
            self.sizes.append(len(x))
            return original(x, y, sample_weight)

        self.model.train_step = spy

    def on_train_end(self, logs=None):
        del self.model.train_step


# --------------------------------------------------------- epochs and batches
@pytest.mark.parametrize("n, batch_size, drop_last, steps", [
    (1000, 500, False, 2), (1001, 500, False, 3), (1001, 500, True, 2), (10, 3, False, 4), (10, 3, True, 3),
])
def test_iterations_per_epoch(n, batch_size, drop_last, steps):
    x, y = _data(n)
    model = _linear()
    sizes = BatchSizes()
    model.fit(x, y, batch_size=batch_size, epochs=3, verbose=0, drop_last=drop_last, callbacks=[sizes])
    assert model.optimizer.iterations == 3 * steps
    expected = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size and not drop_last else [])
    assert sizes.sizes == expected * 3


def test_default_batch_size_is_32():
    x, y = _data(100)
    model = _linear()
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 4


def test_sgd_batch_size_one_and_full_batch_match_hand_computed_updates():
    x, y = _data(6)
    lr = 0.1
    for batch_size in (1, 6):
        model = _linear(lr=lr)
        w0, b0 = [a.astype("float64") for a in model.get_weights()]
        model.fit(x, y, batch_size=batch_size, epochs=2, shuffle=False, verbose=0)
        assert model.optimizer.iterations == 2 * (6 // batch_size)
        w, b = w0.copy(), b0.copy()
        for _ in range(2):
            for lo in range(0, 6, batch_size):
                xb, yb = x[lo:lo + batch_size].astype("float64"), y[lo:lo + batch_size]
                err = xb @ w + b - yb  # d(mean err^2)/d pred = 2 err / batch
                w -= lr * xb.T @ (2 * err / len(xb))
                b -= lr * (2 * err / len(xb)).sum(0)
        got_w, got_b = model.get_weights()
        numpy.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
        numpy.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)


def test_shuffle_changes_batch_order_but_not_the_data():
    x = numpy.arange(12, dtype="float32").reshape(12, 1)
    y = x.copy()
    seen = {}
    for shuffle in (False, True):
        model = nerve.Sequential([nerve.Input(shape=(1,)), layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        batches = []
        original = model.train_step
        model.train_step = lambda bx, by, sw=None: (batches.append(bx[:, 0].tolist()), original(bx, by, sw))[1]
        model.fit(x, y, batch_size=4, epochs=2, shuffle=shuffle, verbose=0)
        seen[shuffle] = batches
    assert seen[False] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]] * 2
    flat = [sorted(sum(seen[True][i:i + 3], [])) for i in (0, 3)]
    assert flat == [list(range(12))] * 2  # every example exactly once per epoch
    assert seen[True][:3] != seen[True][3:]  # a new order every epoch
    assert seen[True][:3] != seen[False][:3]


def test_shuffle_is_reproducible_with_seed():
    x, y = _data(40)
    results = []
    for _ in range(2):
        nerve.random.seed(3)
        model = _linear(optimizer=nerve.optimizers.Adam(0.01))
        model.fit(x, y, batch_size=8, epochs=3, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        numpy.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------- validation
def test_validation_split_holds_out_the_last_fraction():
    x, y = _data(100)
    model = _linear()
    sizes = BatchSizes()
    history = model.fit(x, y, batch_size=100, epochs=1, validation_split=0.2, verbose=0, callbacks=[sizes])
    assert sizes.sizes == [80]
    # val_loss is the loss of the updated model on the last 20 examples
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(x[80:], y[80:], verbose=0), rel=1e-6)
    # and the training batch was the first 80: one SGD step from the same start reproduces the weights
    nerve.random.seed(0)
    twin = _linear()
    twin.fit(x[:80], y[:80], batch_size=100, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights()):
        numpy.testing.assert_array_equal(a, b)


def test_validation_split_bad_values():
    x, y = _data(10)
    model = _linear()
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)


def test_validation_data_and_metric_names():
    g = numpy.random.default_rng(0)
    x = g.normal(size=(200, 2)).astype("float32")
    y = (x[:, 0] > x[:, 1]).astype("int64")
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    model.compile(optimizer=nerve.optimizers.Adam(0.05),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x[:150], y[:150], validation_data=(x[150:], y[150:]), epochs=5, batch_size=32, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.epoch == [0, 1, 2, 3, 4]
    val_loss, val_acc = model.evaluate(x[150:], y[150:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_acc)
    predicted = model.predict(x[150:]).argmax(1)
    assert val_acc == pytest.approx(numpy.mean(predicted == y[150:]))
    assert history.history["val_accuracy"][-1] > 0.9


def test_train_metric_is_streamed_over_the_epoch():
    # with lr 0 the model is fixed, so the epoch's accuracy is the accuracy on all the data
    g = numpy.random.default_rng(1)
    x = g.normal(size=(50, 2)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    model.compile(optimizer=nerve.optimizers.SGD(0.0),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=7, epochs=1, verbose=0)
    loss, acc = model.evaluate(x, y, verbose=0)
    assert history.history["accuracy"][0] == pytest.approx(acc)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-5)


# ------------------------------------------------------- class / sample weight
def test_sample_weight_matches_hand_computed_weighted_loss():
    x, y = _data(8)
    w = numpy.array([0, 1, 2, 3, 0.5, 1, 1, 4], dtype="float32")
    model = _linear()
    pred = model.predict(x)
    per_sample = ((pred - y) ** 2).mean(axis=1)
    expected = float((per_sample * w).mean())
    assert model.test_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, sample_weight=w, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, verbose=0) == pytest.approx(float(per_sample.mean()), rel=1e-5)


def test_class_weight_matches_hand_computed_weighted_loss():
    g = numpy.random.default_rng(2)
    x = g.normal(size=(10, 3)).astype("float32")
    y = numpy.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 0])
    model = _linear(units=3, loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True))
    logits = model.predict(x).astype("float64")
    log_p = logits - numpy.log(numpy.exp(logits).sum(1, keepdims=True))
    nll = -log_p[numpy.arange(10), y]
    class_weight = {0: 1.0, 1: 5.0, 2: 0.25}
    expected = float((nll * numpy.array([class_weight[c] for c in y])).mean())
    # one SGD step with lr 0 leaves the model unchanged: the reported training loss is the weighted one
    model.optimizer.learning_rate = 0.0
    history = model.fit(x, y, batch_size=10, epochs=1, class_weight=class_weight, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert model.train_on_batch(x, y, class_weight=class_weight) == pytest.approx(expected, rel=1e-5)


def test_class_weight_changes_the_gradient():
    x, y = _data(20)
    labels = (x[:, 0] > 0).astype("float32").reshape(-1, 1)
    results = []
    for cw in (None, {0: 1.0, 1: 10.0}):
        nerve.random.seed(0)
        model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=nerve.optimizers.SGD(0.1), loss="binary_crossentropy")
        model.fit(x, labels, batch_size=20, epochs=1, class_weight=cw, verbose=0)
        results.append(model.get_weights()[0])
    assert not numpy.allclose(results[0], results[1])


def test_sample_weight_in_fit_equals_weighted_gradient():
    x, y = _data(4)
    w = numpy.array([1.0, 0.0, 0.0, 0.0], dtype="float32")
    nerve.random.seed(0)
    a = _linear(lr=0.1)
    a.fit(x, y, batch_size=4, epochs=1, sample_weight=w, shuffle=False, verbose=0)
    # weight 1 on the first sample and 0 elsewhere: same as training on the first sample with loss / 4
    nerve.random.seed(0)
    b = _linear(lr=0.1 / 4)
    b.fit(x[:1], y[:1], batch_size=1, epochs=1, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        numpy.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------- initial_epoch, history
def test_initial_epoch_and_history():
    x, y = _data(20)
    model = _linear()
    epochs_seen = []
    cb = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_seen.append(epoch))
    history = model.fit(x, y, epochs=5, initial_epoch=3, batch_size=10, verbose=0, callbacks=[cb])
    assert epochs_seen == [3, 4]
    assert history.epoch == [3, 4]
    assert model.optimizer.iterations == 4
    assert len(history.history["loss"]) == 2
    assert model.history is history
    assert history.history["loss"][1] < history.history["loss"][0]
    assert history.history["learning_rate"] == [pytest.approx(0.01)] * 2


# ---------------------------------------------------- evaluate/predict/batches
def test_predict_and_evaluate_are_batched_and_in_inference_mode():
    x, y = _data(70)
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(32, activation="relu"),
                              layers.Dropout(0.5), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    sizes = []
    original = model.call
    model.call = lambda inputs, training=None: (sizes.append(len(inputs)), original(inputs, training=training))[1]
    p1 = model.predict(x, batch_size=32)
    assert sizes == [32, 32, 6]
    p2 = model.predict(x, batch_size=7)
    numpy.testing.assert_allclose(p1, p2, rtol=1e-6)
    numpy.testing.assert_array_equal(p1, model.predict(x, batch_size=32))  # no dropout
    e1 = model.evaluate(x, y, batch_size=8, verbose=0)
    e2 = model.evaluate(x, y, batch_size=70, verbose=0)
    assert e1 == pytest.approx(e2, rel=1e-5)
    assert e1 == pytest.approx(float(((p1 - y) ** 2).mean()), rel=1e-5)
    # in training mode dropout changes the output
    train_out = model(x, training=True).numpy()
    assert not numpy.allclose(train_out, p1)


def test_train_on_batch_and_test_on_batch():
    x, y = _data(16)
    model = _linear(lr=0.1, metrics=["mae"])
    before = model.test_on_batch(x, y)
    assert isinstance(before, list) and len(before) == 2
    pred = model.predict(x)
    assert before[0] == pytest.approx(float(((pred - y) ** 2).mean()), rel=1e-5)
    assert before[1] == pytest.approx(float(numpy.abs(pred - y).mean()), rel=1e-5)
    weights = model.get_weights()
    train_logs = model.train_on_batch(x, y, return_dict=True)
    assert model.optimizer.iterations == 1
    assert train_logs["loss"] == pytest.approx(before[0], rel=1e-5)  # loss before the step
    assert not numpy.allclose(weights[0], model.get_weights()[0])
    after = model.test_on_batch(x, y, return_dict=True)
    assert after["loss"] < before[0]
    assert model.optimizer.iterations == 1


def test_nerve_tensors_as_inputs():
    x, y = _data(32)
    a = _linear()
    a.fit(nerve.tensor(x), nerve.tensor(y), epochs=2, batch_size=8, shuffle=False, verbose=0)
    nerve.random.seed(0)
    b = _linear()
    b.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        numpy.testing.assert_array_equal(u, v)
    assert a.evaluate(nerve.tensor(x), nerve.tensor(y), verbose=0) == pytest.approx(b.evaluate(x, y, verbose=0))
    numpy.testing.assert_array_equal(a.predict(nerve.tensor(x)), b.predict(x))


def test_lists_and_dicts_of_arrays_for_multi_input():
    x, y = _data(40, features=4)
    in1, in2 = nerve.Input(shape=(2,), name="left"), nerve.Input(shape=(2,), name="right")
    out = layers.Dense(1)(layers.Concatenate()([in1, in2]))
    model = nerve.Model([in1, in2], out)
    model.compile(optimizer=nerve.optimizers.SGD(0.05), loss="mse")
    start = model.get_weights()
    model.fit([x[:, :2], x[:, 2:]], y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    by_list = model.get_weights()
    model.set_weights(start)
    model.optimizer.iterations = 0
    model.fit({"left": x[:, :2], "right": x[:, 2:]}, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for u, v in zip(by_list, model.get_weights()):
        numpy.testing.assert_array_equal(u, v)
    numpy.testing.assert_array_equal(model.predict([x[:, :2], x[:, 2:]]),
                                     model.predict({"left": x[:, :2], "right": x[:, 2:]}))


def test_dataloader_input_to_fit_evaluate_predict():
    x, y = _data(50)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=16, shuffle=False)
    a = _linear()
    history = a.fit(loader, epochs=3, verbose=0)
    assert a.optimizer.iterations == 3 * 4
    nerve.random.seed(0)
    b = _linear()
    b.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        numpy.testing.assert_allclose(u, v, rtol=1e-6)
    assert a.evaluate(loader, verbose=0) == pytest.approx(b.evaluate(x, y, verbose=0), rel=1e-5)
    numpy.testing.assert_allclose(a.predict(loader), b.predict(x), rtol=1e-6)
    assert len(history.history["loss"]) == 3
    # drop_last and validation_data as a loader
    dropping = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=16, drop_last=True)
    history = a.fit(dropping, validation_data=loader, epochs=1, verbose=0)
    assert a.optimizer.iterations == 12 + 3
    assert "val_loss" in history.history


def test_dataloader_with_collate_fn_and_shuffle():
    x, y = _data(30)

    def collate(samples):
        xs = numpy.stack([s[0] for s in samples])
        ys = numpy.stack([s[1] for s in samples])
        return xs * 1.0, ys

    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=8, shuffle=True, collate_fn=collate)
    model = _linear(optimizer=nerve.optimizers.Adam(0.05))
    history = model.fit(loader, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


def test_dataloader_with_y_given_is_an_error():
    x, y = _data(10)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=4)
    with pytest.raises(ValueError, match="DataLoader"):
        _linear().fit(loader, y, verbose=0)


# -------------------------------------------------------------------- metrics
@pytest.mark.parametrize("name", ["accuracy", "precision", "recall", "auc"])
def test_binary_metrics_reported_for_train_and_val(name):
    g = numpy.random.default_rng(3)
    x = g.normal(size=(120, 2)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32").reshape(-1, 1)
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=nerve.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=[name])
    history = model.fit(x, y, validation_split=0.25, epochs=3, batch_size=30, verbose=0)
    assert name in history.history and f"val_{name}" in history.history
    assert len(history.history[f"val_{name}"]) == 3


# ------------------------------------------------------------------ bad input
def test_fit_before_compile():
    model = nerve.Sequential([layers.Dense(1)])
    with pytest.raises(RuntimeError, match=r"compile"):
        model.fit(numpy.zeros((4, 2)), numpy.zeros((4, 1)), verbose=0)
    with pytest.raises(RuntimeError, match=r"compile"):
        model.evaluate(numpy.zeros((4, 2)), numpy.zeros((4, 1)), verbose=0)


def test_sparse_labels_with_sigmoid_output_of_size_one():
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    weights = model.get_weights()
    with pytest.raises(ValueError, match=r"\(None, 1\).*labels from 0 to 2.*binary_crossentropy"):
        model.fit(numpy.zeros((6, 3)), numpy.array([0, 1, 2, 0, 1, 2]), verbose=0)
    assert model.optimizer.iterations == 0
    for a, b in zip(weights, model.get_weights()):
        numpy.testing.assert_array_equal(a, b)


def test_categorical_loss_with_wrong_label_shape():
    model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(ValueError, match=r"shape"):
        model.fit(numpy.zeros((6, 3)), numpy.zeros((6, 3)), verbose=0)
    assert model.optimizer.iterations == 0


def test_rank_mismatch_in_fit_names_layer_and_shapes():
    model = nerve.Sequential([layers.Dense(4, name="hidden"), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(numpy.zeros((4, 3)), numpy.zeros((4, 1)), verbose=0)
    with pytest.raises(ValueError, match=r"rank 2.*\(4, 3, 3\).*'hidden'"):
        model.fit(numpy.zeros((4, 3, 3)), numpy.zeros((4, 1)), verbose=0)


def test_unknown_metric_lists_valid_names():
    model = _linear()
    with pytest.raises(ValueError, match=r"acuracy.*accuracy"):  # at compile, before any training
        model.compile(optimizer="sgd", loss="mse", metrics=["acuracy"])


def test_unknown_loss_and_optimizer_names():
    model = nerve.Sequential([layers.Dense(1)])
    with pytest.raises(ValueError, match=r"mse"):
        model.compile(optimizer="sgd", loss="mean_sqared")
    with pytest.raises(ValueError, match=r"adam"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="sgd")


def test_x_y_different_lengths():
    with pytest.raises(ValueError, match=r"10 samples.*9"):
        _linear().fit(numpy.zeros((10, 3)), numpy.zeros((9, 1)), verbose=0)


def test_nan_in_x():
    x = numpy.zeros((10, 3), dtype="float32")
    x[4, 1] = numpy.nan
    model = _linear()
    with pytest.raises(ValueError, match=r"NaN.*\(4, 1\)"):
        model.fit(x, numpy.zeros((10, 1)), verbose=0)
    assert model.optimizer.iterations == 0


def test_labels_outside_number_of_classes():
    model = _linear(units=3, loss="sparse_categorical_crossentropy")
    weights = model.get_weights()
    with pytest.raises(ValueError, match=r"\[0, 2\].*3 units.*5"):
        model.fit(numpy.zeros((4, 3)), numpy.array([0, 1, 5, 2]), verbose=0)
    assert model.optimizer.iterations == 0
    for a, b in zip(weights, model.get_weights()):
        numpy.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"-1"):
        model.fit(numpy.zeros((4, 3)), numpy.array([0, 1, -1, 2]), verbose=0)


def test_multi_output_wrong_number_of_targets():
    inputs = nerve.Input(shape=(2,))
    model = nerve.Model(inputs, [layers.Dense(1, name="a")(inputs), layers.Dense(1, name="b")(inputs)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"2 outputs"):
        model.fit(numpy.zeros((4, 2)), numpy.zeros((4, 1)), verbose=0)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        _linear().fit(numpy.zeros((4, 3)), numpy.zeros((4, 1)), batch_size=0, verbose=0)


def test_dataloader_with_array_only_options_is_an_error():
    x, y = _data(10)
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y), batch_size=4)
    for option in ({"validation_split": 0.2}, {"class_weight": {0: 1.0}}, {"sample_weight": numpy.ones(10)}):
        with pytest.raises(ValueError, match=f"{next(iter(option))} cannot be used with a DataLoader"):
            _linear().fit(loader, verbose=0, **option)


def test_dataloader_yielding_sample_weights():
    x, y = _data(8)
    w = numpy.array([1, 0, 2, 0, 1, 1, 0, 3], dtype="float32")
    model = _linear()
    loader = nerve.data.DataLoader(nerve.data.TensorDataset(x, y, w), batch_size=8)
    expected = float(((model.predict(x) - y) ** 2).mean(axis=1).dot(w) / 8)
    assert model.evaluate(loader, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_fit_twice_continues_training_and_history_restarts():
    x, y = _data(20)
    model = _linear()
    first = model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    second = model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    assert model.optimizer.iterations == 10
    assert len(first.history["loss"]) == 2 and len(second.history["loss"]) == 3
    assert second.history["loss"][0] < first.history["loss"][0]
