"""Keras 3 layers added for issue 18: values against PyTorch or formulas, gradients, save/load, errors."""

import numpy as np
import pytest

import nerve
from nerve import layers

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _x(shape=(3, 8), seed=0):
    return np.random.default_rng(seed).normal(scale=2.0, size=shape)


@pytest.mark.parametrize("layer, reference", [
    (lambda: layers.ReLU(), F.relu),
    (lambda: layers.ReLU(max_value=1.5), lambda t: torch.clamp(t, 0, 1.5)),
    (lambda: layers.ReLU(negative_slope=0.2, threshold=0.5),
     lambda t: torch.where(t >= 0.5, t, 0.2 * (t - 0.5))),
    (lambda: layers.LeakyReLU(), lambda t: F.leaky_relu(t, 0.3)),
    (lambda: layers.ELU(alpha=0.7), lambda t: F.elu(t, 0.7)),
    (lambda: layers.Softmax(axis=0), lambda t: F.softmax(t, dim=0)),
    (lambda: layers.Rescaling(0.5, offset=2.0), lambda t: t * 0.5 + 2.0),
    (lambda: layers.UnitNormalization(), lambda t: F.normalize(t, dim=-1)),
    (lambda: layers.Identity(), lambda t: t),
])
def test_elementwise_layers_match_torch_with_gradients(layer, reference):
    x = _x()
    upstream = np.random.default_rng(1).normal(size=x.shape)
    ours = nerve.tensor(x, requires_grad=True)
    layer = layer()
    out = layer(ours)
    out.backward(nerve.tensor(upstream))
    theirs = torch.tensor(x, requires_grad=True)
    expected = reference(theirs)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_prelu_matches_torch_and_learns_its_slopes():
    x = _x((2, 4, 4, 3))
    layer = layers.PReLU(alpha_initializer=nerve.initializers.Constant(0.25), shared_axes=[1, 2], dtype="float64")
    out = layer(x).numpy()
    reference = F.prelu(torch.tensor(x).permute(0, 3, 1, 2), torch.full((3,), 0.25, dtype=torch.float64))
    np.testing.assert_allclose(out, reference.permute(0, 2, 3, 1).numpy(), rtol=1e-12)
    assert nerve.gradcheck.gradcheck(lambda t: layer(t), [nerve.tensor(x[:1], requires_grad=True)],
                                     weights=[("alpha", layer.alpha)])
    with pytest.raises(ValueError, match="shared axis 4"):
        layers.PReLU(shared_axes=[4])(np.ones((1, 2, 3)))


def test_shape_layers():
    x = _x((2, 5, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.Permute((3, 1, 2))(x).numpy(), x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(layers.Cropping2D(((1, 2), (0, 3)))(x).numpy(), x[:, 1:3, 0:3])
    np.testing.assert_array_equal(layers.Cropping2D(1)(x).numpy(), x[:, 1:4, 1:5])
    seq = _x((2, 7, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.Cropping1D((2, 1))(seq).numpy(), seq[:, 2:6])
    vec = _x((4, 3)).astype(np.float32)
    repeated = layers.RepeatVector(5)(nerve.tensor(vec, requires_grad=True))
    np.testing.assert_array_equal(repeated.numpy(), np.repeat(vec[:, None], 5, axis=1))
    with pytest.raises(ValueError, match="Permute"):
        layers.Permute((1, 3))
    with pytest.raises(ValueError, match="cannot crop"):
        layers.Cropping1D((4, 4))(seq)
    with pytest.raises(ValueError, match=r"\(batch, features\)"):
        layers.RepeatVector(2)(seq)


def test_noise_layers_statistics_and_inference_identity():
    x = np.ones((4000, 50))
    for layer in (layers.GaussianDropout(0.3, seed=0), layers.AlphaDropout(0.3, seed=0),
                  layers.SpatialDropout1D(0.3, seed=0)):
        np.testing.assert_array_equal(layer(x[:, :, None] if "Spatial" in type(layer).__name__ else x).numpy().squeeze(),
                                      x)  # inference: identity
    noisy = layers.GaussianDropout(0.3, seed=0)(x, training=True).numpy()
    assert abs(noisy.mean() - 1) < 0.01 and abs(noisy.var() - 0.3 / 0.7) < 0.01
    selu_like = np.random.default_rng(0).normal(size=(4000, 50))
    dropped = layers.AlphaDropout(0.3, seed=0)(selu_like, training=True).numpy()
    assert abs(dropped.mean()) < 0.02 and abs(dropped.std() - 1) < 0.02
    maps = layers.SpatialDropout2D(0.5, seed=0)(np.ones((64, 3, 3, 8)), training=True).numpy()
    per_map = maps.reshape(64, 9, 8)
    assert (per_map.std(axis=1) == 0).all() and set(np.unique(maps)) == {0.0, 2.0}


def test_aliases_are_the_same_classes():
    assert layers.MaxPool2D is layers.MaxPooling2D and layers.Convolution2D is layers.Conv2D
    assert layers.GlobalAvgPool1D is layers.GlobalAveragePooling1D and layers.AvgPool2D is layers.AveragePooling2D


def test_new_layers_save_and_load(tmp_path):
    model = nerve.Sequential([
        nerve.Input(shape=(6, 6, 2)), layers.Rescaling(1 / 255), layers.Cropping2D(1), layers.PReLU(shared_axes=[1, 2]),
        layers.SpatialDropout2D(0.1), layers.Permute((2, 1, 3)), layers.Reshape((32,)), layers.Dense(4),
        layers.ReLU(max_value=6.0), layers.LeakyReLU(0.1), layers.ELU(), layers.UnitNormalization(),
        layers.GaussianDropout(0.1), layers.AlphaDropout(0.1), layers.Identity(), layers.RepeatVector(2),
        layers.Cropping1D((0, 1)), layers.Softmax(),
    ])
    x = np.random.default_rng(0).uniform(0, 255, size=(3, 6, 6, 2)).astype("float32")
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_normalization_adapt_matches_numpy_and_is_saved(tmp_path):
    data = np.random.default_rng(0).normal(loc=3.0, scale=2.0, size=(100, 4))
    layer = layers.Normalization()
    layer.adapt(data)
    np.testing.assert_allclose(layer.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.variance.numpy(), data.var(0), rtol=1e-5)
    batched = layers.Normalization()
    batched.adapt(iter([data[:30], data[30:70], data[70:]]))  # batches combined exactly
    np.testing.assert_allclose(batched.mean.numpy(), data.mean(0), rtol=1e-5)
    np.testing.assert_allclose(batched.variance.numpy(), data.var(0), rtol=1e-5)
    model = nerve.Sequential([nerve.Input(shape=(4,)), layer, layers.Dense(1)])
    out = model.layers[0](data.astype("float32")).numpy()
    np.testing.assert_allclose(out, (data - data.mean(0)) / data.std(0), rtol=1e-4, atol=1e-5)
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve").layers[0](data.astype("float32")).numpy(), out)
    inverse = layers.Normalization(mean=3.0, variance=4.0, invert=True)
    assert inverse(np.array([[1.0]])).tolist() == [[5.0]]
    images = np.random.default_rng(1).uniform(size=(8, 5, 5, 3))
    per_channel = layers.Normalization(axis=-1)
    per_channel.adapt(images)
    np.testing.assert_allclose(per_channel.mean.numpy().ravel(), images.mean((0, 1, 2)), rtol=1e-5)
    with pytest.raises(ValueError, match="both mean and variance"):
        layers.Normalization(mean=1.0)


def test_group_normalization_matches_torch():
    x = _x((2, 5, 6))
    layer = layers.GroupNormalization(groups=3, epsilon=1e-5, dtype="float64")
    out = layer(nerve.tensor(x, requires_grad=True))
    reference = F.group_norm(torch.tensor(x).transpose(1, 2), 3, eps=1e-5).transpose(1, 2)
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=1e-10, atol=1e-12)
    assert nerve.gradcheck.gradcheck(lambda t: layer(t), [nerve.tensor(x[:1], requires_grad=True)],
                                     weights=[("gamma", layer.gamma), ("beta", layer.beta)])
    with pytest.raises(ValueError, match="cannot be split"):
        layers.GroupNormalization(groups=4)(np.ones((1, 2, 6)))


def test_center_crop_upsampling1d_zero_padding1d(tmp_path):
    images = _x((2, 7, 6, 3)).astype(np.float32)
    np.testing.assert_array_equal(layers.CenterCrop(3, 4)(images).numpy(), images[:, 2:5, 1:5])
    seq = _x((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(layers.UpSampling1D(3)(seq).numpy(), np.repeat(seq, 3, axis=1))
    np.testing.assert_array_equal(layers.ZeroPadding1D((2, 1))(seq).numpy(), np.pad(seq, ((0, 0), (2, 1), (0, 0))))
    model = nerve.Sequential([nerve.Input(shape=(3, 4)), layers.ZeroPadding1D(1), layers.UpSampling1D(2),
                              layers.GroupNormalization(groups=2), layers.Flatten(), layers.Dense(2)])
    model.save(tmp_path / "m.nerve")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(seq).numpy(), model(seq).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="cannot crop"):
        layers.CenterCrop(9, 9)(images)


def test_add_loss_and_activity_regularization_enter_the_training_gradient():
    from nerve.blocks.layers.base import take_added_losses

    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    y = np.ones((4, 2), dtype="float32")

    def build(regularized):
        nerve.random.seed(0)
        stack = [nerve.Input(shape=(3,)), layers.Dense(2, name="dense")]
        if regularized:
            stack.append(layers.ActivityRegularization(l1=0.1, l2=0.2))
        model = nerve.Sequential(stack)
        model.compile(optimizer=nerve.optimizers.SGD(0.1), loss="mse")
        return model

    plain, regularized = build(False), build(True)
    kernel, bias = plain.layers[0].kernel.numpy().copy(), plain.layers[0].bias.numpy().copy()
    out = x @ kernel + bias
    # d/dout of mse + (0.1 sum|out| + 0.2 sum out^2) / batch
    grad_out = 2 * (out - y) / out.size + (0.1 * np.sign(out) + 0.4 * out) / len(x)
    regularized.predict(x, verbose=0)  # a call outside training adds nothing to the next step
    regularized.train_on_batch(x, y) if hasattr(regularized, "train_on_batch") else regularized.fit(
        x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    np.testing.assert_allclose(regularized.layers[0].kernel.numpy(), kernel - 0.1 * x.T @ grad_out, rtol=1e-5)
    np.testing.assert_allclose(regularized.layers[0].bias.numpy(), bias - 0.1 * grad_out.sum(0), rtol=1e-5)
    assert take_added_losses() == []
    total = regularized.compute_loss(x=x, y=y).item()
    out = regularized(x).numpy()
    expected = ((out - y) ** 2).mean() + (0.1 * np.abs(out).sum() + 0.2 * (out ** 2).sum()) / len(x)
    assert total == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="scalar"):
        layers.Layer().add_loss(nerve.tensor([1.0, 2.0]))


def test_lambda_with_a_registered_function_saves_and_loads(tmp_path):
    @nerve.saving.register_serializable(package="tests")
    def shift(x, by=0.0):
        return x + by

    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Lambda(shift, arguments={"by": 2.5}), layers.Dense(1)])
    model.save(tmp_path / "m.nerve")
    x = np.ones((3, 2), dtype="float32")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(x).numpy(), model(x).numpy())
    anonymous = nerve.Sequential([nerve.Input(shape=(2,)), layers.Lambda(lambda t: t * 2)])
    with pytest.raises(ValueError, match="cannot be saved"):
        anonymous.save(tmp_path / "a.nerve")
    with pytest.raises(nerve.saving.UnknownObjectError, match="not registered"):
        layers.Lambda.from_config({"function": "os>system", "name": "bad"})


def test_conv1d_transpose_matches_torch():
    x = _x((2, 5, 3))
    layer = layers.Conv1DTranspose(4, 3, strides=2, padding="valid", dtype="float64")
    out = layer(nerve.tensor(x, requires_grad=True))
    kernel = torch.tensor(layer.kernel.numpy())  # (k, filters, channels) -> torch (channels, filters, k)
    reference = F.conv_transpose1d(torch.tensor(x).transpose(1, 2), kernel.permute(2, 1, 0),
                                   torch.tensor(layer.bias.numpy()), stride=2).transpose(1, 2)
    np.testing.assert_allclose(out.numpy(), reference.numpy(), rtol=1e-10, atol=1e-12)
    assert nerve.gradcheck.gradcheck(lambda t: layer(t), [nerve.tensor(x[:1], requires_grad=True)],
                                     weights=[("kernel", layer.kernel), ("bias", layer.bias)])
    assert layers.Conv1DTranspose(2, 3, strides=2, padding="same")(np.zeros((1, 6, 2))).shape == (1, 12, 2)


def test_volume_layers_follow_numpy():
    v = _x((2, 3, 4, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(layers.GlobalAveragePooling3D()(v).numpy(), v.mean((1, 2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(layers.GlobalMaxPool3D()(v).numpy(), v.max((1, 2, 3)))
    np.testing.assert_array_equal(layers.ZeroPadding3D((1, 0, 2))(v).numpy(),
                                  np.pad(v, ((0, 0), (1, 1), (0, 0), (2, 2), (0, 0))))
    np.testing.assert_array_equal(layers.Cropping3D(((1, 0), (1, 1), (0, 2)))(v).numpy(), v[:, 1:, 1:3, 0:3])
    up = layers.UpSampling3D((2, 1, 3))(v).numpy()
    np.testing.assert_array_equal(up, v.repeat(2, axis=1).repeat(3, axis=3))
    maps = layers.SpatialDropout3D(0.5, seed=0)(np.ones((4, 2, 2, 2, 3)), training=True).numpy()
    assert (maps.reshape(4, 8, 3).std(axis=1) == 0).all()


def test_encoding_layers_and_pipeline(tmp_path):
    ids = np.array([[0, 2, 2], [1, 1, 3]])
    np.testing.assert_array_equal(layers.CategoryEncoding(4)(ids).numpy(), [[1, 0, 1, 0], [0, 1, 0, 1]])
    np.testing.assert_array_equal(layers.CategoryEncoding(4, output_mode="count")(ids).numpy(),
                                  [[1, 0, 2, 0], [0, 2, 0, 1]])
    np.testing.assert_array_equal(layers.CategoryEncoding(4, output_mode="one_hot")(np.array([[3], [0]])).numpy(),
                                  np.eye(4)[[3, 0]])
    weighted = layers.CategoryEncoding(4, output_mode="count")(ids, count_weights=np.array([[1.0, 0.5, 0.5], [2, 2, 1]]))
    np.testing.assert_array_equal(weighted.numpy(), [[1, 0, 1, 0], [0, 4, 0, 1]])
    with pytest.raises(ValueError, match="outside 0..3"):
        layers.CategoryEncoding(4)(np.array([[4]]))
    values = np.array([[-1.0, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(layers.Discretization([0.0, 1.0])(values).numpy(), np.digitize(values, [0.0, 1.0]))
    learned = layers.Discretization(num_bins=4)
    learned.adapt(np.random.default_rng(0).normal(size=1000))
    counts = np.bincount(learned(np.random.default_rng(0).normal(size=(1, 1000))).numpy().ravel(), minlength=4)
    assert (counts == 250).all()
    pipeline = layers.Pipeline([layers.Rescaling(2.0), layers.Dense(3), layers.ReLU()])
    model = nerve.Sequential([nerve.Input(shape=(2,)), pipeline, layers.Dense(1)])
    model.save(tmp_path / "m.nerve")
    x = np.ones((2, 2), dtype="float32")
    np.testing.assert_allclose(nerve.load_model(tmp_path / "m.nerve")(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert pipeline.layers[0].scale == 2.0 and len(model.trainable_weights) == 4


@pytest.mark.parametrize("size, crop", [((7, 5), False), ((3, 8), False), ((4, 4), True)])
def test_resizing_bilinear_matches_torch_with_gradients(size, crop):
    x = _x((2, 6, 4, 3))
    layer = layers.Resizing(*size, crop_to_aspect_ratio=crop, dtype="float64")
    ours = nerve.tensor(x, requires_grad=True)
    out = layer(ours)
    source = torch.tensor(x, requires_grad=True)
    cropped = source[:, 1:5] if crop else source  # 6x4 cropped to the 1:1 aspect ratio: the centre 4x4
    reference = F.interpolate(cropped.permute(0, 3, 1, 2), size=size, mode="bilinear",
                              align_corners=False).permute(0, 2, 3, 1)
    upstream = np.random.default_rng(1).normal(size=reference.shape)
    out.backward(nerve.tensor(upstream))
    reference.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), reference.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), source.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_resizing_nearest_pooling3d_and_random_image_layers():
    x = _x((1, 4, 4, 3)).astype(np.float32)
    nearest = layers.Resizing(2, 2, interpolation="nearest")(x).numpy()
    reference = F.interpolate(torch.tensor(x).permute(0, 3, 1, 2), size=(2, 2), mode="nearest-exact").permute(0, 2, 3, 1)
    np.testing.assert_array_equal(nearest, reference.numpy())
    v = _x((2, 4, 5, 6, 2)).astype(np.float32)
    blocks = v[:, :4, :4, :6].reshape(2, 2, 2, 2, 2, 3, 2, 2)
    np.testing.assert_array_equal(layers.MaxPooling3D(2)(v).numpy(), blocks.max((2, 4, 6)))
    np.testing.assert_allclose(layers.AvgPool3D((2, 2, 2))(v).numpy(), blocks.mean((2, 4, 6)), rtol=1e-6)
    with pytest.raises(ValueError, match="non-overlapping"):
        layers.MaxPooling3D(2, strides=1)
    images = np.random.default_rng(0).uniform(0, 255, size=(200, 2, 2, 3)).astype("float32")
    inverted = layers.RandomInvert(0.5, seed=0)(images, training=True).numpy()
    flipped = np.isclose(inverted, 255 - images).all(axis=(1, 2, 3))
    assert 60 < flipped.sum() < 140 and np.array_equal(inverted[~flipped], images[~flipped])
    grey = layers.RandomGrayscale(1.0)(images, training=True).numpy()
    np.testing.assert_allclose(grey[..., 0], images @ np.array([0.2989, 0.587, 0.114], dtype="float32"), rtol=1e-5)
    assert np.array_equal(layers.RandomGrayscale(1.0)(images).numpy(), images)  # inference: unchanged
