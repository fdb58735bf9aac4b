"""Core layers: lazy build, weight discovery, gradient checks, training/inference modes, errors."""

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.gradcheck import check_gradients


def f64(*shape, seed=0, low=-1.0, high=1.0):
    return nerve.tensor(np.random.default_rng(seed).uniform(low, high, size=shape), dtype="float64", requires_grad=True)


def layer_gradcheck(layer, x, **call_kwargs):
    layer(x, **call_kwargs)  # build in float64
    weights = layer.trainable_weights
    assert all(w.dtype == np.float64 for w in weights)
    check_gradients(lambda x, *ws: layer(x, **call_kwargs), [x] + weights)


def test_dense_builds_lazily_and_infers_input_size():
    layer = layers.Dense(200)
    assert not layer.built and layer.weights == []
    out = layer(np.zeros((32, 4)))
    assert out.shape == (32, 200)
    assert layer.kernel.shape == (4, 200) and layer.bias.shape == (200,)
    assert out.dtype == np.float32  # float32 by default, even from float64 arrays


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "elu", "softplus", "gelu", "silu", "softmax"])
def test_dense_gradcheck(activation):
    nerve.random.seed(1)
    layer = layers.Dense(3, activation=activation)
    layer_gradcheck(layer, f64(4, 5, seed=2))


def test_dense_on_3d_input_gradcheck():
    layer_gradcheck(layers.Dense(2), f64(2, 3, 4))


def test_dense_matches_formula():
    layer = layers.Dense(2, activation="sigmoid")
    x = np.random.default_rng(0).normal(size=(3, 4))
    out = layer(nerve.tensor(x, dtype="float64")).numpy()
    expected = 1 / (1 + np.exp(-(x @ layer.kernel.numpy() + layer.bias.numpy())))
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_perceptron_from_the_lecture():
    # inputs (2, 3, -1, 5, 1) with weights (0.1, 0.5, 2.5, 0.2, 3.0): weighted sum 3.2, sigmoid(3.2) = 0.96
    neuron = layers.Dense(1, activation="sigmoid", use_bias=False)
    neuron.build((1, 5))
    neuron.built = True
    neuron.set_weights([np.array([[0.1], [0.5], [2.5], [0.2], [3.0]])])
    out = neuron(np.array([[2.0, 3.0, -1.0, 5.0, 1.0]])).item()
    assert out == pytest.approx(1 / (1 + np.exp(-3.2)), rel=1e-6)
    assert round(out, 2) == 0.96


def test_xor_learns_with_plain_gradient_descent():
    nerve.random.seed(0)
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(8, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=nerve.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.fit(x, y, epochs=600, batch_size=4, verbose=0)  # full batch: plain gradient descent
    predictions = model.predict(x)
    assert ((predictions > 0.5) == y).all(), predictions


def test_dropout_inverted_scaling_and_identity_at_inference():
    nerve.random.seed(0)
    drop = layers.Dropout(0.25)
    x = np.ones((2000, 50), dtype=np.float32)
    train = drop(x, training=True).numpy()
    kept = train != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(train[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(drop(x, training=False).numpy(), x)
    np.testing.assert_array_equal(drop(x).numpy(), x)  # default: inference


def test_dropout_gradient_uses_the_same_mask():
    nerve.random.seed(3)
    drop = layers.Dropout(0.5)
    x = f64(4, 6)
    out = drop(x, training=True)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy() / x.numpy())


def test_batchnorm_training_statistics_and_running_averages():
    bn = layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(256, 4))
    y = bn(nerve.tensor(x, dtype="float64"), training=True).numpy()
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(y.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var(axis=0, ddof=1), rtol=1e-10)
    # inference uses the running statistics
    inf = bn(nerve.tensor(x, dtype="float64"), training=False).numpy()
    expected = (x - bn.moving_mean.numpy()) / np.sqrt(bn.moving_variance.numpy() + 1e-5)
    np.testing.assert_allclose(inf, expected, rtol=1e-10)
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2


def test_batchnorm_gradcheck_training_and_inference_2d_and_4d():
    layer_gradcheck(layers.BatchNormalization(), f64(6, 3, seed=4), training=True)
    layer_gradcheck(layers.BatchNormalization(), f64(2, 3, 3, 2, seed=5), training=True)
    bn = layers.BatchNormalization()
    x = f64(5, 3, seed=6)
    bn(x, training=True)
    check_gradients(lambda x, *ws: bn(x, training=False), [x] + bn.trainable_weights)


def test_flatten_reshape_activation_maxout():
    x = f64(2, 3, 4)
    assert layers.Flatten()(x).shape == (2, 12)
    assert layers.Reshape((4, 3))(x).shape == (2, 4, 3)
    check_gradients(lambda x: layers.Activation("tanh")(x), [x])
    maxout = layers.Maxout(3, pieces=4)
    z = maxout(f64(5, 6, seed=7)).numpy()
    manual = (f64(5, 6, seed=7).numpy() @ maxout.kernel.numpy() + maxout.bias.numpy()).reshape(5, 3, 4).max(-1)
    np.testing.assert_allclose(z, manual, rtol=1e-12)
    layer_gradcheck(layers.Maxout(2, pieces=3), f64(4, 5, seed=8))


def test_merge_layers():
    a, b = f64(3, 4, seed=1), f64(3, 4, seed=2)
    np.testing.assert_allclose(layers.Add()([a, b]).numpy(), a.numpy() + b.numpy())
    np.testing.assert_allclose(layers.Multiply()([a, b]).numpy(), a.numpy() * b.numpy())
    np.testing.assert_allclose(layers.Average()([a, b]).numpy(), (a.numpy() + b.numpy()) / 2)
    assert layers.Concatenate()([a, b]).shape == (3, 8)
    with pytest.raises(ValueError, match="not compatible"):
        layers.Add()([a, f64(3, 5)])


def test_weight_discovery_of_sublayers_and_hand_assigned_tensors():
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = [layers.Dense(3), layers.Dense(2)]
            self.scale = nerve.tensor(np.ones(2), requires_grad=True)

        def call(self, x):
            return self.inner[1](self.inner[0](x)) * self.scale

    block = Block()
    block(np.ones((1, 4)))
    assert len(block.trainable_weights) == 5
    assert block.count_params() == 4 * 3 + 3 + 3 * 2 + 2 + 2
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 5


def test_regularizer_penalty_is_in_layer_losses():
    layer = layers.Dense(2, kernel_regularizer=nerve.regularizers.L2(0.1))
    layer(np.ones((1, 3)))
    (penalty,) = layer.losses
    assert penalty.item() == pytest.approx(0.1 * (layer.kernel.numpy() ** 2).sum(), rel=1e-6)


def test_integer_input_is_cast_to_float():
    out = layers.Dense(2)(np.array([[1, 2, 3]]))
    assert out.dtype == np.float32


def test_rank_and_size_mismatch_errors_name_the_layer_and_shapes():
    layer = layers.Dense(2, name="hidden")
    layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"hidden.*rank 2.*\(2, 4, 3\)"):
        layer(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match=r"hidden.*3 features.*\(4, 5\)"):
        layer(np.ones((4, 5)))
    with pytest.raises(ValueError, match="rank >= 2"):
        layers.Dense(2)(np.ones(3))


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="relu"):
        layers.Dense(2, activation="relux")


def test_config_round_trip():
    layer = layers.Dense(5, activation="relu", kernel_regularizer=nerve.regularizers.L2(0.01), name="d")
    clone = layers.Dense.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_seed_gives_bit_identical_weights_and_training():
    def run():
        nerve.random.seed(123)
        model = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.3), layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        model.fit(x, x.sum(1, keepdims=True), epochs=3, batch_size=16, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)
