"""LeNet-5, VGG and ResNet builders: published parameter counts, structure, small-input variants, training."""

import numpy
import pytest

import nerve
from nerve import applications, layers


def _trainable(model):
    return sum(w.size for w in model.trainable_weights)


def _count(model, kind):
    return sum(isinstance(layer, kind) for layer in model.layers)


# ------------------------------------------------- published parameter counts
def test_vgg16_has_the_published_parameter_count():
    model = applications.VGG16()  # 224x224x3, 1000 classes: allocates ~0.55 GB of float32 weights
    assert model.count_params() == _trainable(model) == 138_357_544
    assert model.output_shape == (None, 1000)
    assert _count(model, layers.Conv2D) == 13 and _count(model, layers.Dense) == 3
    del model


def test_resnet50_has_the_published_parameter_count():
    model = applications.ResNet50()
    assert _trainable(model) == 25_557_032  # torchvision's figure: weights, biases, BN scales and shifts
    assert model.count_params() == 25_557_032 + 53_120  # plus BN moving means and variances (non-trainable)
    assert model.output_shape == (None, 1000)
    assert _count(model, layers.Add) == 16  # one skip connection per bottleneck block: 3 + 4 + 6 + 3
    del model


@pytest.mark.parametrize("builder, expected, blocks", [
    (applications.ResNet18, 11_689_512, 8),
    (applications.ResNet34, 21_797_672, 16),
])
def test_resnet18_and_34_have_the_published_parameter_counts(builder, expected, blocks):
    # global average pooling makes the count independent of the image size: 32x32 gives the 224x224 count, faster
    model = builder(input_shape=(32, 32, 3), num_classes=1000)
    assert _trainable(model) == expected
    assert _count(model, layers.Add) == blocks


def test_lenet5_layout_and_parameter_count():
    model = applications.LeNet5()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense", "Dense"]
    # conv 6*(25+1) + conv 16*(6*25+1) + dense 400*120+120 + 120*84+84 + 84*10+10
    assert model.count_params() == 156 + 2416 + 48120 + 10164 + 850 == 61_706
    probabilities = model.predict(numpy.random.default_rng(0).uniform(size=(3, 28, 28, 1)), verbose=0)
    assert probabilities.shape == (3, 10)
    numpy.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


# ------------------------------------------------------------ small images
@pytest.mark.parametrize("input_shape", [(28, 28, 1), (32, 32, 3)])
def test_small_input_resnets_run_on_small_images(input_shape):
    model = applications.ResNet18(input_shape=input_shape, num_classes=10, small_input=True, filters=8)
    assert _count(model, layers.MaxPooling2D) == 0
    out = model.predict(numpy.zeros((2,) + input_shape, dtype=numpy.float32), verbose=0)
    assert out.shape == (2, 10)
    bottleneck = applications.ResNet([1, 1], block="bottleneck", input_shape=input_shape, num_classes=10,
                                     small_input=True, filters=4)
    assert bottleneck.output_shape == (None, 10)


def test_vgg_blocks_batch_norm_and_dropout():
    model = applications.VGG([(4, 1), (8, 2)], input_shape=(16, 16, 3), num_classes=5, dense_units=(16, 16),
                             batch_norm=True, dropout=0.25)
    assert _count(model, layers.Conv2D) == 3 and _count(model, layers.BatchNormalization) == 3
    assert _count(model, layers.Dropout) == 2 and _count(model, layers.MaxPooling2D) == 2
    conv = 3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 8 + 8 + 3 * 3 * 8 * 8 + 8
    dense = 4 * 4 * 8 * 16 + 16 + 16 * 16 + 16 + 16 * 5 + 5
    assert _trainable(model) == conv + dense + 2 * (4 + 8 + 8)  # + gamma and beta per BN channel


def test_too_many_pooling_blocks_for_the_image_is_a_clear_error():
    with pytest.raises(ValueError, match="block5_pool"):
        applications.VGG([(4, 1)] * 5, input_shape=(16, 16, 3), num_classes=10)  # 16 -> 8 -> 4 -> 2 -> 1 -> 0


def test_unknown_block_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid values: basic, bottleneck"):
        applications.ResNet([2, 2], block="wide")


# -------------------------------------------------------------- residuals
def test_zero_initialised_residual_block_starts_as_the_identity():
    x = nerve.Input(shape=(6, 6, 8))
    model = nerve.Model(x, applications.basic_block(x, 8, zero_init_residual=True, name="b"))
    data = numpy.random.default_rng(1).normal(size=(2, 6, 6, 8)).astype(numpy.float32)
    numpy.testing.assert_allclose(model.predict(data, verbose=0), numpy.maximum(data, 0), atol=1e-6)


def test_projection_shortcut_when_the_shape_changes():
    x = nerve.Input(shape=(8, 8, 4))
    y = applications.basic_block(x, 8, strides=2, name="down")
    assert y.shape == (None, 4, 4, 8)
    names = [layer.name for layer in nerve.Model(x, y).layers]
    assert "down_0_conv" in names and "down_0_bn" in names
    z = applications.bottleneck_block(nerve.Input(shape=(8, 8, 16)), 4, name="same")
    assert z.shape == (None, 8, 8, 16)  # 4 * 4 channels in and out: identity shortcut


# ------------------------------------------------------------- training
def test_a_small_resnet_learns_and_round_trips(tmp_path):
    nerve.random.seed(0)
    rng = numpy.random.default_rng(0)
    x = rng.normal(size=(32, 12, 12, 1)).astype(numpy.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype(numpy.int64)  # top vs bottom
    model = applications.ResNet([1, 1], input_shape=(12, 12, 1), num_classes=2, filters=4, small_input=True)
    model.compile(optimizer=nerve.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "resnet.nerve"
    model.save(path)
    loaded = nerve.load_model(path)
    numpy.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
