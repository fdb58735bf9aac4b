"""A catalogue of bad inputs at the API boundary: each is a clear error naming the argument and what was expected.

Every case builds a layer, an optimizer, a loss or calls ``fit``/``evaluate``/``predict`` with one
mistake, and asserts the error type and that the message names the argument and says what was
expected (``must be``, ``must hold``, ``expected``...). Where Keras accepts the input (``fit`` with
``initial_epoch >= epochs``), nerve gives a documented warning instead, checked the same way.
"""

from __future__ import annotations

import numpy
import pytest

import nerve
from nerve import layers, losses, optimizers

EXPECTED = r"(must|expect|should|needs?)"


def _model(units=1, loss="mse", activation=None, features=3):
    model = nerve.Sequential([nerve.Input(shape=(features,)), layers.Dense(units, activation=activation)])
    model.compile(optimizer=optimizers.SGD(0.01), loss=loss)
    return model


def _x(n=8, features=3):
    return numpy.random.default_rng(0).normal(size=(n, features)).astype("float32")


def _y(n=8):
    return numpy.zeros((n, 1), dtype="float32")


def _fit(**kwargs):
    return lambda: _model().fit(_x(), _y(), verbose=0, **kwargs)


def _fit_xy(x, y, model=None, **kwargs):
    return lambda: (model() if model else _model()).fit(x, y, verbose=0, **kwargs)


def _classifier(loss="binary_crossentropy", units=1, activation="sigmoid"):
    return lambda: _model(units=units, loss=loss, activation=activation)


def _schedule_returning_string():
    model = _model()
    model.compile(optimizer=optimizers.SGD(lambda step: "fast"), loss="mse")
    model.fit(_x(), _y(), verbose=0)


def _ragged():
    return [[1.0, 2.0, 3.0], [1.0, 2.0]]


# (id, callable, error type, argument named in the message)
CASES = [
    # ---------------------------------------------------------------- layers
    ("dense-units-float", lambda: layers.Dense(2.5), TypeError, "units"),
    ("dense-units-zero", lambda: layers.Dense(0), ValueError, "units"),
    ("dense-units-negative", lambda: layers.Dense(-4), ValueError, "units"),
    ("dense-units-bool", lambda: layers.Dense(True), TypeError, "units"),
    ("dense-units-string", lambda: layers.Dense("4"), TypeError, "units"),
    ("conv2d-filters-float", lambda: layers.Conv2D(2.5, 3), TypeError, "filters"),
    ("conv2d-filters-zero", lambda: layers.Conv2D(0, 3), ValueError, "filters"),
    ("conv2d-kernel-zero", lambda: layers.Conv2D(4, 0), ValueError, "kernel_size"),
    ("conv2d-kernel-float", lambda: layers.Conv2D(4, 2.5), TypeError, "kernel_size"),
    ("conv2d-kernel-three-dims", lambda: layers.Conv2D(4, (3, 3, 3)), ValueError, "kernel_size"),
    ("conv2d-strides-zero", lambda: layers.Conv2D(4, 3, strides=0), ValueError, "strides"),
    ("conv1d-dilation-negative", lambda: layers.Conv1D(4, 3, dilation_rate=-1), ValueError, "dilation_rate"),
    ("maxpool-pool-size-zero", lambda: layers.MaxPooling2D(pool_size=0), ValueError, "pool_size"),
    ("avgpool-strides-float", lambda: layers.AveragePooling2D(strides=1.5), TypeError, "strides"),
    ("dropout-rate-above-one", lambda: layers.Dropout(1.5), ValueError, "rate"),
    ("dropout-rate-one", lambda: layers.Dropout(1.0), ValueError, "rate"),
    ("dropout-rate-negative", lambda: layers.Dropout(-0.1), ValueError, "rate"),
    ("dropout-rate-string", lambda: layers.Dropout("half"), TypeError, "rate"),
    ("simplernn-units-zero", lambda: layers.SimpleRNN(0), ValueError, "units"),
    ("lstm-units-float", lambda: layers.LSTM(2.5), TypeError, "units"),
    ("gru-dropout-one", lambda: layers.GRU(4, dropout=1.0), ValueError, "dropout"),
    ("lstm-recurrent-dropout-negative", lambda: layers.LSTM(4, recurrent_dropout=-0.5), ValueError,
     "recurrent_dropout"),
    ("embedding-input-dim-zero", lambda: layers.Embedding(0, 4), ValueError, "input_dim"),
    ("embedding-output-dim-float", lambda: layers.Embedding(10, 2.5), TypeError, "output_dim"),
    ("maxout-units-float", lambda: layers.Maxout(2.5), TypeError, "units"),
    ("maxout-pieces-zero", lambda: layers.Maxout(2, pieces=0), ValueError, "pieces"),
    ("batchnorm-momentum-above-one", lambda: layers.BatchNormalization(momentum=1.5), ValueError, "momentum"),
    ("batchnorm-epsilon-negative", lambda: layers.BatchNormalization(epsilon=-1.0), ValueError, "epsilon"),
    ("upsampling-size-zero", lambda: layers.UpSampling2D(size=0), ValueError, "size"),
    ("input-shape-negative", lambda: nerve.Input(shape=(-3,)), ValueError, "shape"),
    ("input-shape-float", lambda: nerve.Input(shape=(2.5,)), TypeError, "shape"),
    ("input-shape-zero", lambda: nerve.Input(shape=(4, 0)), ValueError, "shape"),
    ("input-shape-string", lambda: nerve.Input(shape="28x28"), TypeError, "shape"),
    ("input-shape-none", lambda: nerve.Input(shape=(None, 3)), TypeError, "shape"),
    # ------------------------------------------------------------ optimizers
    ("sgd-momentum-two", lambda: optimizers.SGD(momentum=2.0), ValueError, "momentum"),
    ("sgd-momentum-negative", lambda: optimizers.SGD(momentum=-0.1), ValueError, "momentum"),
    ("sgd-learning-rate-negative", lambda: optimizers.SGD(learning_rate=-1.0), ValueError, "learning_rate"),
    ("sgd-learning-rate-string", lambda: optimizers.SGD(learning_rate="fast"), TypeError, "learning_rate"),
    ("sgd-learning-rate-nan", lambda: optimizers.SGD(learning_rate=float("nan")), ValueError, "learning_rate"),
    ("adam-beta1-one", lambda: optimizers.Adam(beta_1=1.0), ValueError, "beta_1"),
    ("adam-beta2-above-one", lambda: optimizers.Adam(beta_2=1.5), ValueError, "beta_2"),
    ("adam-epsilon-negative", lambda: optimizers.Adam(epsilon=-1e-7), ValueError, "epsilon"),
    ("rmsprop-rho-one", lambda: optimizers.RMSprop(rho=1.0), ValueError, "rho"),
    ("rmsprop-momentum-above-one", lambda: optimizers.RMSprop(momentum=1.5), ValueError, "momentum"),
    ("adagrad-initial-accumulator-negative", lambda: optimizers.Adagrad(initial_accumulator_value=-1.0), ValueError,
     "initial_accumulator_value"),
    ("adadelta-rho-negative", lambda: optimizers.Adadelta(rho=-0.1), ValueError, "rho"),
    ("adamw-weight-decay-negative", lambda: optimizers.AdamW(weight_decay=-1.0), ValueError, "weight_decay"),
    ("sgd-clipnorm-zero", lambda: optimizers.SGD(clipnorm=0.0), ValueError, "clipnorm"),
    ("schedule-returns-string", _schedule_returning_string, TypeError, "learning_rate"),
    # ---------------------------------------------------------------- losses
    ("bce-labels-zero-to-three", lambda: losses.binary_crossentropy(numpy.array([[0.0], [3.0]]),
                                                                    nerve.tensor([[0.5], [0.5]])), ValueError, "y_true"),
    ("bce-labels-negative", lambda: losses.BinaryCrossentropy()(numpy.array([[-1.0], [1.0]]),
                                                                nerve.tensor([[0.5], [0.5]])), ValueError, "y_true"),
    ("cce-negative-probabilities", lambda: losses.categorical_crossentropy(
        numpy.array([[0.0, 1.0]]), nerve.tensor([[-0.5, 1.5]])), ValueError, "y_pred"),
    ("cce-negative-labels", lambda: losses.CategoricalCrossentropy()(
        numpy.array([[-1.0, 2.0]]), nerve.tensor([[0.5, 0.5]])), ValueError, "y_true"),
    ("huber-delta-negative", lambda: losses.Huber(delta=-1.0), ValueError, "delta"),
    ("bce-label-smoothing-two", lambda: losses.BinaryCrossentropy(label_smoothing=2.0), ValueError, "label_smoothing"),
    ("fit-bce-labels-zero-to-three", lambda: _model(loss="binary_crossentropy", activation="sigmoid").fit(
        _x(), numpy.arange(8).reshape(-1, 1) % 4, verbose=0), ValueError, "y"),
    # ------------------------------------------------------ fit / evaluate / predict
    ("fit-epochs-negative", _fit(epochs=-1), ValueError, "epochs"),
    ("fit-epochs-float", _fit(epochs=2.5), TypeError, "epochs"),
    ("fit-initial-epoch-negative", _fit(initial_epoch=-1), ValueError, "initial_epoch"),
    ("fit-batch-size-float", _fit(batch_size=2.5), TypeError, "batch_size"),
    ("fit-batch-size-zero", _fit(batch_size=0), ValueError, "batch_size"),
    ("fit-batch-size-bool", _fit(batch_size=True), TypeError, "batch_size"),
    ("fit-validation-batch-size-zero", _fit(validation_split=0.25, validation_batch_size=0), ValueError,
     "validation_batch_size"),
    ("fit-validation-split-above-one", _fit(validation_split=1.5), ValueError, "validation_split"),
    ("fit-ragged-x", _fit_xy(_ragged(), [[0.0], [1.0]]), ValueError, "x"),
    ("fit-string-labels", _fit_xy(_x(2), numpy.array([["cat"], ["dog"]])), TypeError, "y"),
    ("fit-length-mismatch", _fit_xy(_x(8), _y(6)), ValueError, "y"),
    ("fit-sample-weight-negative", _fit(sample_weight=numpy.array([1.0] * 7 + [-1.0])), ValueError, "sample_weight"),
    ("fit-sample-weight-length", _fit(sample_weight=numpy.ones(5)), ValueError, "sample_weight"),
    ("fit-sample-weight-nan", _fit(sample_weight=numpy.array([1.0] * 7 + [numpy.nan])), ValueError, "sample_weight"),
    ("fit-sample-weight-strings", _fit(sample_weight=numpy.array(["a"] * 8)), TypeError, "sample_weight"),
    ("fit-class-weight-unknown-class", lambda: _classifier()().fit(
        _x(), (numpy.arange(8) % 2).reshape(-1, 1), class_weight={0: 1.0, 5: 2.0}, verbose=0), ValueError,
     "class_weight"),
    ("fit-class-weight-negative", lambda: _classifier()().fit(
        _x(), (numpy.arange(8) % 2).reshape(-1, 1), class_weight={0: 1.0, 1: -2.0}, verbose=0), ValueError,
     "class_weight"),
    ("fit-class-weight-not-dict", lambda: _classifier()().fit(
        _x(), (numpy.arange(8) % 2).reshape(-1, 1), class_weight=[1.0, 2.0], verbose=0), TypeError, "class_weight"),
    ("evaluate-batch-size-negative", lambda: _model().evaluate(_x(), _y(), batch_size=-1, verbose=0), ValueError,
     "batch_size"),
    ("evaluate-sample-weight-negative", lambda: _model().evaluate(
        _x(), _y(), sample_weight=-numpy.ones(8), verbose=0), ValueError, "sample_weight"),
    ("predict-batch-size-float", lambda: _model().predict(_x(), batch_size=2.5), TypeError, "batch_size"),
    ("predict-ragged-x", lambda: _model().predict(_ragged()), ValueError, "x"),
    ("train-on-batch-sample-weight-negative", lambda: _model().train_on_batch(
        _x(), _y(), sample_weight=-numpy.ones(8)), ValueError, "sample_weight"),
    ("random-seed-negative", lambda: nerve.random.seed(-1), ValueError, "seed"),
    ("random-seed-string", lambda: nerve.random.seed("abc"), TypeError, "seed"),
]


@pytest.mark.parametrize(("make", "error", "argument"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_named(make, error, argument):
    with pytest.raises(error) as caught:
        make()
    message = str(caught.value)
    assert argument in message, f"the message does not name {argument!r}: {message}"
    assert __import__("re").search(EXPECTED, message), f"the message does not say what was expected: {message}"


def test_catalogue_is_large_enough():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("epochs", "initial_epoch"), [(2, 5), (3, 3)])
def test_fit_with_no_epoch_to_train_warns(epochs, initial_epoch):
    """Keras trains nothing when ``initial_epoch >= epochs``; nerve does the same and says why (documented in fit)."""
    model = _model()
    with pytest.warns(UserWarning, match=r"initial_epoch.*epochs.*(must|expect)"):
        history = model.fit(_x(), _y(), epochs=epochs, initial_epoch=initial_epoch, verbose=0)
    assert history.history == {}
    assert model.optimizer.iterations == 0


def test_good_inputs_still_pass():
    """The validators accept what they should: NumPy integers, integral sizes, probabilities at the bounds."""
    assert layers.Dense(numpy.int64(3)).units == 3
    assert layers.Conv2D(numpy.int32(2), (3, numpy.int64(3))).kernel_size == (3, 3)
    assert layers.Dropout(0.0).rate == 0.0
    assert optimizers.SGD(momentum=0.9).momentum == 0.9
    model = _model()
    history = model.fit(_x(), _y(), epochs=numpy.int64(2), batch_size=numpy.int64(4), verbose=0,
                        sample_weight=numpy.zeros(8))
    assert len(history.history["loss"]) == 2
    assert losses.binary_crossentropy(numpy.array([[0.0], [1.0]]), nerve.tensor([[0.2], [0.7]])).shape == (2,)
    clf = _classifier()()
    clf.fit(_x(), (numpy.arange(8) % 2).reshape(-1, 1), class_weight={0: 1.0, 1: 2.0}, verbose=0)
