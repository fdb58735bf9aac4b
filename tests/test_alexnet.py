"""AlexNet: the published layout (torchvision's one-tower variant), its parameter count and its forward pass."""

import numpy as np
import pytest

import nerve
from nerve import applications


def test_alexnet_has_torchvisions_parameter_count_and_shapes():
    model = applications.AlexNet()
    assert model.count_params() == 61_100_840  # torchvision.models.alexnet()
    shapes = {name: model.get_layer(name).output.shape[1:] for name in ("conv1", "pool1", "conv2", "pool2", "conv5",
                                                                       "pool3", "flatten", "fc1", "fc2", "predictions")}
    assert shapes == {"conv1": (55, 55, 64), "pool1": (27, 27, 64), "conv2": (27, 27, 192), "pool2": (13, 13, 192),
                      "conv5": (13, 13, 256), "pool3": (6, 6, 256), "flatten": (9216,), "fc1": (4096,),
                      "fc2": (4096,), "predictions": (1000,)}


def test_small_input_alexnet_on_32x32():
    nerve.random.seed(0)
    model = applications.AlexNet(input_shape=(32, 32, 3), num_classes=10, small_input=True, dense_units=(32, 16),
                                 classifier_activation=None)
    assert model.get_layer("pool1").output.shape == (None, 15, 15, 64)
    assert model.get_layer("pool3").output.shape == (None, 3, 3, 256)
    out = model(np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32"))
    assert out.shape == (2, 10) and np.isfinite(out.numpy()).all()
    assert applications.AlexNet(input_shape=(32, 32, 3), num_classes=10, small_input=True).count_params() == 28_711_754


def test_alexnet_matches_a_torch_alexnet_with_the_same_weights():
    """torchvision's layers (written out with torch.nn, torchvision is not needed) on 127x127 images."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    dense = (24, 16)
    reference = nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(256 * 3 * 3, dense[0]), nn.ReLU(), nn.Linear(dense[0], dense[1]), nn.ReLU(), nn.Linear(dense[1], 7),
    ).double().eval()
    model = applications.AlexNet(input_shape=(127, 127, 3), num_classes=7, dense_units=dense,
                                 classifier_activation=None)
    torch_layers = [m for m in reference if isinstance(m, (nn.Conv2d, nn.Linear))]
    nerve_layers = [model.get_layer(n) for n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2",
                                                 "predictions")]
    for i, (theirs, ours) in enumerate(zip(torch_layers, nerve_layers)):
        weight = theirs.weight.detach().numpy()
        if weight.ndim == 4:
            weight = weight.transpose(2, 3, 1, 0)  # (out, in, kh, kw) -> (kh, kw, in, out)
        elif i == 5:  # torch flattens (C, H, W), nerve (H, W, C)
            weight = weight.reshape(-1, 256, 3, 3).transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])
        else:
            weight = weight.T
        ours.set_weights([weight.astype("float32"), theirs.bias.detach().numpy().astype("float32")])
    images = np.random.default_rng(1).normal(size=(2, 127, 127, 3))
    expected = reference(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).detach().numpy()
    got = model.predict(images.astype("float32"), verbose=0)
    assert np.std(expected) > 1e-3  # not a dead network
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
