"""Augmentation: nerve.transforms (NumPy batches) and the layers in nerve.layers.augmentation built on them."""

import numpy
import pytest

import nerve
from nerve import layers, transforms
from nerve.gradcheck import check_gradients
from nerve.blocks.layers.augmentation import augment


def _images(rng, n=6, h=8, w=8, c=2):
    return rng.uniform(0.0, 1.0, size=(n, h, w, c))


ALL_TRANSFORMS = [
    lambda seed=None: transforms.RandomFlip(seed=seed),
    lambda seed=None: transforms.RandomTranslation(0.2, 0.3, seed=seed),
    lambda seed=None: transforms.RandomRotation(0.1, seed=seed),
    lambda seed=None: transforms.RandomZoom(0.3, seed=seed),
    lambda seed=None: transforms.RandomCrop(6, 5, seed=seed),
    lambda seed=None: transforms.GaussianNoise(0.1, seed=seed),
    lambda seed=None: transforms.RandomBrightness(0.2, value_range=(0, 1), seed=seed),
    lambda seed=None: transforms.RandomContrast(0.5, value_range=(0, 1), seed=seed),
]
ALL_LAYERS = [
    lambda seed=None: layers.RandomFlip(seed=seed),
    lambda seed=None: layers.RandomTranslation(0.2, 0.3, seed=seed),
    lambda seed=None: layers.RandomRotation(0.1, seed=seed),
    lambda seed=None: layers.RandomZoom(0.3, seed=seed),
    lambda seed=None: layers.RandomCrop(6, 5, seed=seed),
    lambda seed=None: layers.GaussianNoise(0.1, seed=seed),
    lambda seed=None: layers.RandomBrightness(0.2, value_range=(0, 1), seed=seed),
    lambda seed=None: layers.RandomContrast(0.5, value_range=(0, 1), seed=seed),
]


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize("make", ALL_TRANSFORMS)
def test_transform_shapes_and_dtypes(make, rng):
    t = make(seed=0)
    expected_hw = (6, 5) if isinstance(t, transforms.RandomCrop) else (8, 8)
    x = _images(rng)
    assert t(x).shape == (6,) + expected_hw + (2,)
    assert t(x).dtype == numpy.float64
    assert t(x.astype(numpy.float32)).dtype == numpy.float32
    grey = (x[..., 0] * 255).astype(numpy.uint8)  # (N, H, W) integer pixels
    out = t(grey)
    assert out.shape == (6,) + expected_hw and out.dtype == numpy.float32


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_layer_shapes_and_identity_at_inference(make, rng):
    layer = make(seed=0)
    x = _images(rng).astype(numpy.float32)
    out = layer(x, training=True)
    cropped = isinstance(layer, layers.RandomCrop)
    assert out.shape == ((6, 6, 5, 2) if cropped else x.shape)
    assert out.dtype == numpy.float32
    inference = layer(x).numpy()  # training defaults to False
    if cropped:  # the centre window
        numpy.testing.assert_array_equal(inference, x[:, 1:7, 1:6])
    else:
        numpy.testing.assert_array_equal(inference, x)
    assert not numpy.array_equal(out.numpy(), inference)


def test_random_crop_with_padding_is_identity_at_inference(rng):
    x = _images(rng).astype(numpy.float32)
    layer = layers.RandomCrop(8, 8, padding=2)
    numpy.testing.assert_array_equal(layer(x).numpy(), x)
    assert layer(x, training=True).shape == x.shape


# ------------------------------------------------------ seeds and variation
@pytest.mark.parametrize("make", ALL_TRANSFORMS)
def test_same_seed_same_output_and_every_call_differs(make, rng):
    x = _images(rng)
    a, b = make(seed=7), make(seed=7)
    first_a, first_b = a(x), b(x)
    numpy.testing.assert_array_equal(first_a, first_b)
    assert not numpy.array_equal(first_a, a(x))  # the next call (epoch) draws new parameters
    nerve.random.seed(3)
    global_a = make()(x)
    nerve.random.seed(3)
    numpy.testing.assert_array_equal(make()(x), global_a)


def test_each_epoch_sees_a_different_variation_through_a_dataloader(rng):
    x = _images(rng, n=10)
    y = numpy.arange(10)
    data = transforms.TransformedDataset(nerve.data.TensorDataset(x, y), transforms.RandomRotation(0.1, seed=0))
    loader = nerve.data.DataLoader(data, batch_size=4)
    first = numpy.concatenate([b[0] for b in loader])
    second = numpy.concatenate([b[0] for b in loader])
    assert first.shape == x.shape
    assert not numpy.allclose(first, second)
    numpy.testing.assert_array_equal(numpy.concatenate([b[1] for b in loader]), y)  # labels untouched
    single_x, single_y = data[3]
    assert single_x.shape == x.shape[1:] and single_y == 3


def test_per_image_parameters_differ_within_a_batch(rng):
    x = numpy.repeat(_images(rng, n=1), 8, axis=0)
    out = transforms.RandomRotation(0.2, seed=0)(x)
    assert len({out[i].tobytes() for i in range(8)}) == 8


# ---------------------------------------------------------- exact cases
def test_flip_mirrors_exactly(rng):
    x = _images(rng, n=40)
    out = transforms.RandomFlip("horizontal", seed=0)(x)
    mirrored = numpy.array([numpy.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)])
    kept = numpy.array([numpy.array_equal(o, i) for o, i in zip(out, x)])
    assert (mirrored | kept).all() and mirrored.any() and kept.any()
    out = transforms.RandomFlip("vertical", seed=0)(x)
    assert all(numpy.array_equal(o, i[::-1]) or numpy.array_equal(o, i) for o, i in zip(out, x))
    both = transforms.flip(x, horizontal=True, vertical=True)
    numpy.testing.assert_array_equal(both, x[:, ::-1, ::-1])


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_translation_by_whole_pixels_shifts(interpolation, rng):
    x = _images(rng)
    down_right = transforms.RandomTranslation((0.25, 0.25), (-0.125, -0.125), fill_mode="constant",
                                              interpolation=interpolation)
    out = down_right(x)  # 2 pixels down, 1 pixel left
    numpy.testing.assert_array_equal(out[:, 2:, :-1], x[:, :-2, 1:])
    assert (out[:, :2] == 0).all() and (out[:, :, -1] == 0).all()
    reflect = transforms.RandomTranslation((0.25, 0.25), 0.0, interpolation=interpolation)(x)
    numpy.testing.assert_array_equal(reflect[:, :2], x[:, 1::-1])  # rows 1, 0 mirrored in: d c b a | a b c d


@pytest.mark.parametrize("fill_mode", transforms.FILL_MODES)
def test_rotation_by_quarter_turns_equals_rot90(fill_mode, rng):
    x = _images(rng, h=7, w=7)
    for turns, k in [(0.25, 1), (-0.25, -1), (0.5, 2)]:
        out = transforms.RandomRotation((turns, turns), fill_mode=fill_mode)(x)
        numpy.testing.assert_allclose(out, numpy.rot90(x, k=k, axes=(1, 2)), atol=1e-9)


def test_rotation_keeps_a_constant_image_and_fills_corners():
    ones = numpy.ones((2, 9, 9, 1))
    numpy.testing.assert_allclose(transforms.RandomRotation(0.5, seed=0)(ones), 1.0)
    filled = transforms.RandomRotation((0.125, 0.125), fill_mode="constant", fill_value=-1.0)(ones)
    assert filled[0, 0, 0, 0] < 0 and filled[0, 4, 4, 0] == pytest.approx(1.0)


def test_fill_modes_on_a_known_row():
    row = numpy.arange(1.0, 5.0).reshape(1, 1, 4)  # a b c d = 1 2 3 4
    shift = numpy.array([[1.0, 0.0, -2.0], [0.0, 1.0, 0.0]])  # output x reads input x - 2
    expected = {"reflect": [2, 1, 1, 2], "wrap": [3, 4, 1, 2], "nearest": [1, 1, 1, 2], "constant": [9, 9, 1, 2]}
    for mode, values in expected.items():
        out = transforms.affine_transform(row, shift, fill_mode=mode, fill_value=9.0)
        assert out[0, 0].tolist() == values, mode


def test_zoom_in_by_two_repeats_the_centre_pixels(rng):
    x = _images(rng, h=4, w=4)
    out = transforms.RandomZoom((-0.5, -0.5), interpolation="nearest")(x)
    centre = x[:, 1:3, 1:3]
    numpy.testing.assert_array_equal(out, centre.repeat(2, axis=1).repeat(2, axis=2))
    out = transforms.RandomZoom((1.0, 1.0), fill_mode="constant", interpolation="nearest")(numpy.ones((1, 8, 8)))
    assert out.sum() == 16  # zoomed out by two: the image fills the central 4x4


def test_random_crop_returns_windows_of_the_padded_input(rng):
    x = _images(rng, n=20, h=5, w=5, c=1)
    padded = numpy.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = transforms.RandomCrop(4, 4, padding=1, seed=0)(x)
    offsets = set()
    for o, p in zip(out, padded):
        found = [(t, l) for t in range(4) for l in range(4) if numpy.array_equal(o, p[t:t + 4, l:l + 4])]
        assert found
        offsets.add(found[0])
    assert len(offsets) > 3
    numpy.testing.assert_array_equal(transforms.crop(x, 1, 2, 3, 2), x[:, 1:4, 2:4])


def test_gaussian_noise_has_the_requested_std(rng):
    out = transforms.GaussianNoise(0.3, seed=0)(numpy.zeros((64, 32, 32, 3)))
    assert abs(out.std() - 0.3) < 0.003 and abs(out.mean()) < 0.003


def test_brightness_adds_one_offset_per_image_within_the_factor(rng):
    x = rng.uniform(0.4, 0.6, size=(50, 4, 4, 3))
    out = transforms.RandomBrightness(0.3, value_range=(0, 1), seed=0)(x)
    delta = out - x
    numpy.testing.assert_allclose(delta, delta[:, :1, :1, :1] * numpy.ones_like(delta), atol=1e-12)
    assert delta.min() >= -0.3 and delta.max() <= 0.3 and delta.std() > 0.1
    clipped = transforms.adjust_brightness(x, 0.5, value_range=(0, 1))
    assert clipped.max() == 1.0


def test_contrast_keeps_the_mean_and_scales_the_deviation(rng):
    x = rng.uniform(0.4, 0.6, size=(30, 6, 6, 2))
    out = transforms.RandomContrast((0.5, 0.5), value_range=(0, 1), seed=0)(x)
    numpy.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-12)
    ratio = out.std(axis=(1, 2)) / x.std(axis=(1, 2))
    assert ratio.min() >= 0.5 - 1e-9 and ratio.max() <= 1.5 + 1e-9
    numpy.testing.assert_allclose(ratio, ratio[:, :1] * numpy.ones_like(ratio))  # one factor per image


def test_compose_merges_geometric_transforms_into_one_resampling(rng):
    x = _images(rng)
    shift = transforms.Compose([
        transforms.RandomTranslation((0.125, 0.125), 0.0, fill_mode="constant"),
        transforms.RandomTranslation((0.25, 0.25), (0.125, 0.125), fill_mode="constant"),
    ])
    assert len(shift._steps) == 1  # one resampling
    expected = numpy.zeros_like(x)
    expected[:, 3:, 1:] = x[:, :-3, :-1]  # 1 + 2 pixels down, 1 pixel right
    numpy.testing.assert_array_equal(shift(x), expected)
    half_turn = transforms.Compose([transforms.RandomRotation((0.25, 0.25)), transforms.RandomRotation((0.25, 0.25))])
    numpy.testing.assert_allclose(half_turn(x), x[:, ::-1, ::-1], atol=1e-9)
    # the same random draws as one by one; only the border and the single interpolation differ
    smooth = numpy.broadcast_to(numpy.sin(numpy.arange(16.0) / 5)[None, :, None, None], (4, 16, 16, 1)).copy()
    parts = [transforms.RandomRotation(0.03, seed=1), transforms.RandomZoom(0.05, seed=2)]
    one_by_one = parts[1](parts[0](smooth))
    parts = [transforms.RandomRotation(0.03, seed=1), transforms.RandomZoom(0.05, seed=2)]
    merged = transforms.Compose(parts)(smooth)
    numpy.testing.assert_allclose(merged[:, 4:-4, 4:-4], one_by_one[:, 4:-4, 4:-4], atol=0.02)
    mixed = transforms.Compose([transforms.RandomRotation(0.1), transforms.RandomZoom(0.1, fill_mode="constant")])
    assert len(mixed._steps) == 2  # different fill modes are not merged


# --------------------------------------------------------------- gradients
GRADIENT_CASES = [
    transforms.RandomFlip(seed=0),
    transforms.RandomTranslation(0.3, 0.3, seed=0),
    transforms.RandomRotation(0.2, fill_mode="wrap", seed=0),
    transforms.RandomRotation(0.2, fill_mode="constant", fill_value=0.5, seed=0),
    transforms.RandomZoom(0.4, width_factor=(-0.3, 0.5), fill_mode="nearest", seed=0),
    transforms.RandomRotation(0.3, fill_mode="reflect", interpolation="nearest", seed=0),
    transforms.RandomTranslation(0.8, 0.8, fill_mode="wrap", seed=0),
    transforms.RandomCrop(4, 3, padding=1, seed=0),
    transforms.GaussianNoise(0.5, seed=0),
    transforms.RandomBrightness(0.3, value_range=(-10, 10), seed=0),
    transforms.RandomContrast((0.4, 0.8), value_range=(-10, 10), seed=0),
]


@pytest.mark.parametrize("transform", GRADIENT_CASES, ids=lambda t: type(t).__name__)
def test_gradients_flow_through_augmentation(transform, randn):
    x = randn(2, 5, 4, 2)
    params = transform.sample(x.shape)  # the same random draw for every evaluation
    assert check_gradients(lambda x: augment(x, transform, params), [x])


def test_layer_gradient_in_training_reaches_the_input(rng):
    layer = layers.RandomRotation(0.1, seed=0)
    x = nerve.tensor(_images(rng), requires_grad=True)
    layer(x, training=True).sum().backward()
    assert x.grad.shape == x.shape and float(numpy.abs(x.grad.numpy()).sum()) > 0


# ------------------------------------------------------- models and config
def test_augmentation_in_a_model_trains_and_round_trips(tmp_path, rng):
    nerve.random.seed(0)
    model = nerve.Sequential([
        layers.RandomFlip("horizontal"), layers.RandomTranslation(0.1, 0.1), layers.RandomBrightness(0.1, (0, 1)),
        layers.Flatten(), layers.Dense(3, activation="softmax"),
    ])
    x = _images(rng, n=16).astype(numpy.float32)
    y = numpy.arange(16) % 3
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 2
    numpy.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))  # no randomness
    path = tmp_path / "augmented.nerve"
    model.save(path)
    loaded = nerve.load_model(path)
    numpy.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_config_round_trip_reproduces_the_layer(make, rng):
    layer = make(seed=5)
    clone = type(layer).from_config(layer.get_config())
    x = _images(rng)
    numpy.testing.assert_array_equal(layer(x, training=True).numpy(), clone(x, training=True).numpy())


# --------------------------------------------------------------- bad input
def test_clear_errors():
    with pytest.raises(ValueError, match="horizontal, vertical, horizontal_and_vertical"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="reflect, wrap, nearest, constant"):
        transforms.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="bilinear, nearest"):
        transforms.RandomZoom(0.1, interpolation="cubic")
    with pytest.raises(ValueError, match=r"low <= high"):
        transforms.RandomTranslation((0.3, 0.1), 0.0)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        transforms.RandomFlip()(numpy.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"rank >= 3"):
        layers.RandomRotation(0.1)(numpy.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"10x10 window out of images of size 8x8"):
        layers.RandomCrop(10, 10)(numpy.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"matrices must have shape \(2, 2, 3\)"):
        transforms.affine_transform(numpy.zeros((2, 4, 4)), numpy.zeros((3, 2, 3)))
