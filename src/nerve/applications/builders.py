"""Classic convolutional networks, built with the functional API: LeNet-5, AlexNet, VGG and ResNet.

Every builder returns an uncompiled :class:`nerve.Model` for channels-last
images ``(H, W, C)``; compile and fit it like any other model. The networks
are the published layouts, so with their standard input (224x224x3, 1000
classes) they have the published number of parameters:

=========  ==============================  =====================================
model      trainable parameters            reference
=========  ==============================  =====================================
LeNet-5    61,706 (28x28x1, 10 classes)    LeCun et al., 1998
AlexNet    61,100,840                      Krizhevsky et al., 2012 (torchvision's one-tower layout)
VGG-16     138,357,544                     Simonyan & Zisserman, 2014
ResNet-18  11,689,512                      He et al., 2015 (torchvision layout)
ResNet-34  21,797,672
ResNet-50  25,557,032
=========  ==============================  =====================================

``model.count_params()`` also counts the moving mean and variance of the
batch-normalisation layers (non-trainable, like Keras), e.g. 25,610,152 for
ResNet-50; the published figures are the trainable parameters.

For small images, ``AlexNet(..., small_input=True)`` and ``ResNet(..., small_input=True)`` replace the 7x7 stride-2
stem and its max pooling by one 3x3 stride-1 convolution, so that 28x28 or
32x32 images keep their resolution into the first stage.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import applications
    >>> nerve.random.seed(0)
    >>> model = applications.ResNet18(input_shape=(32, 32, 3), num_classes=10, small_input=True, filters=4)
    >>> model(np.zeros((2, 32, 32, 3), dtype=np.float32)).shape
    (2, 10)
"""

from __future__ import annotations

from nerve.blocks import initializers, layers
from nerve.training.models import Input, Model

__all__ = [
    "LeNet5", "AlexNet", "VGG", "VGG11", "VGG13", "VGG16", "VGG19", "VGG_BLOCKS", "ResNet", "ResNet18", "ResNet34", "ResNet50",
    "basic_block", "bottleneck_block",
]

#: Convolution blocks of the VGG variants: (filters, number of 3x3 convolutions) per block.
VGG_BLOCKS = {
    "vgg11": [(64, 1), (128, 1), (256, 2), (512, 2), (512, 2)],
    "vgg13": [(64, 2), (128, 2), (256, 2), (512, 2), (512, 2)],
    "vgg16": [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)],
    "vgg19": [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)],
}


# ------------------------------------------------------------------- LeNet
def LeNet5(input_shape=(28, 28, 1), num_classes=10, activation="relu", classifier_activation="softmax",  # noqa: N802
           name="lenet5"):
    """LeNet-5, the convolutional network LeCun et al. built for reading digits.

    Input -> Conv(6, 5x5) -> Pool -> Conv(16, 5x5) -> Pool -> Dense(120) -> Dense(84) -> Dense(classes).
    The first convolution pads ('same'), which on 28x28 digits is the
    original network on 32x32 padded images; the second one does not.
    Pooling is 2x2 max pooling (the original averaged), activations ReLU
    (the original used tanh): pass ``activation="tanh"`` for the classic one.

    Args:
        input_shape: (height, width, channels) of one image.
        num_classes: outputs of the last layer.
        activation: activation of the hidden layers.
        classifier_activation: ``"softmax"`` for probabilities, ``None`` for logits
            (then train with ``from_logits=True``).
        name: the model's name.

    Examples:
        >>> import nerve
        >>> LeNet5().count_params()
        61706
    """
    inputs = Input(shape=input_shape)
    x = layers.Conv2D(6, 5, padding="same", activation=activation)(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation=activation)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation=activation)(x)
    x = layers.Dense(84, activation=activation)(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation)(x)
    return Model(inputs, outputs, name=name)


# ----------------------------------------------------------------- AlexNet
def AlexNet(input_shape=(224, 224, 3), num_classes=1000, small_input=False, dense_units=(4096, 4096),  # noqa: N802
            dropout=0.5, classifier_activation="softmax", name="alexnet"):
    """AlexNet, the network that won ImageNet 2012 (Krizhevsky, Sutskever and Hinton), in torchvision's layout.

    Conv(64, 11x11, stride 4, pad 2) -> MaxPool(3, stride 2) -> Conv(192, 5x5, 'same') -> MaxPool(3, 2)
    -> Conv(384, 3x3) -> Conv(256, 3x3) -> Conv(256, 3x3) -> MaxPool(3, 2) -> Dropout -> Dense(4096)
    -> Dropout -> Dense(4096) -> Dense(classes), ReLU after every hidden layer. This is the one-tower
    variant of the paper ("One weird trick", Krizhevsky 2014) that torchvision builds: 64 and 192
    filters in the first two layers instead of 96 and 256 split over two GPUs, and no local response
    normalisation. On 224x224x3 images with 1000 classes it has torchvision's 61,100,840 parameters
    (the last pooling gives 6x6x256 = 9,216 features; torchvision's adaptive pooling to 6x6 does
    nothing at that size, and other sizes here feed the Dense layer whatever the pooling gives).

    Args:
        input_shape: (height, width, channels) of one image (at least 63x63 without ``small_input``).
        num_classes: outputs of the last layer.
        small_input: for 32x32 images: a 3x3 stride-1 'same' first convolution instead of the 11x11
            stride-4 one, so that the three overlapping poolings take 32x32 to 15, 7 and 3x3.
        dense_units: sizes of the two hidden fully connected layers.
        dropout: dropout rate before each hidden fully connected layer (0 for none).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: the model's name.

    Examples:
        >>> import numpy as np
        >>> small = AlexNet(input_shape=(32, 32, 3), num_classes=10, small_input=True, dense_units=(64, 64))
        >>> small(np.zeros((2, 32, 32, 3), dtype=np.float32)).shape
        (2, 10)
        >>> small.get_layer("pool3").output.shape
        (None, 3, 3, 256)
    """
    inputs = Input(shape=input_shape)
    if small_input:
        x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv1")(inputs)
    else:
        x = layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
        x = layers.Conv2D(64, 11, strides=4, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(192, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, 1):
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return Model(inputs, outputs, name=name)


# --------------------------------------------------------------------- VGG
def VGG(blocks, input_shape=(224, 224, 3), num_classes=1000, dense_units=(4096, 4096), batch_norm=False,  # noqa: N802
        dropout=0.5, classifier_activation="softmax", name="vgg"):
    """A VGG-style network: blocks of 3x3 'same' convolutions, each block ending in 2x2 max pooling.

    Args:
        blocks: ``[(filters, convolutions), ...]``, one pair per block, e.g.
            ``VGG_BLOCKS["vgg16"] = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]``.
            Each block halves the height and width: five blocks need inputs of at least 32x32.
        input_shape: (height, width, channels) of one image.
        num_classes: outputs of the last layer.
        dense_units: sizes of the fully connected layers after the convolutions.
        batch_norm: add batch normalisation after every convolution (VGG-BN).
        dropout: dropout rate after each hidden fully connected layer (0 for none).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: the model's name.

    Examples:
        >>> import numpy as np
        >>> small = VGG([(8, 1), (16, 2)], input_shape=(28, 28, 1), num_classes=10, dense_units=(32,))
        >>> small(np.zeros((2, 28, 28, 1), dtype=np.float32)).shape
        (2, 10)
    """
    inputs = Input(shape=input_shape)
    x = inputs
    for b, (filters, convolutions) in enumerate(blocks, 1):
        for c in range(1, convolutions + 1):
            x = layers.Conv2D(filters, 3, padding="same", activation=None if batch_norm else "relu",
                              name=f"block{b}_conv{c}")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"block{b}_bn{c}")(x)
                x = layers.Activation("relu", name=f"block{b}_relu{c}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, units in enumerate(dense_units, 1):
        x = layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return Model(inputs, outputs, name=name)


def _vgg_preset(key):
    def build(input_shape=(224, 224, 3), num_classes=1000, batch_norm=False, **kwargs):
        return VGG(VGG_BLOCKS[key], input_shape=input_shape, num_classes=num_classes, batch_norm=batch_norm,
                   name=kwargs.pop("name", key), **kwargs)

    build.__name__ = build.__qualname__ = key.upper()
    build.__doc__ = f"""{key.upper()}: :func:`VGG` with blocks ``VGG_BLOCKS["{key}"]``; keyword arguments go to :func:`VGG`.

    ``{key.upper()}()`` builds the published network for 224x224x3 images and
    1000 classes (VGG-16: 138,357,544 parameters, about 0.55 GB).

    Example (the blocks; building the network takes seconds):
        >>> [filters for filters, _ in VGG_BLOCKS["{key}"]]
        [64, 128, 256, 512, 512]
    """
    return build


VGG11 = _vgg_preset("vgg11")
VGG13 = _vgg_preset("vgg13")
VGG16 = _vgg_preset("vgg16")
VGG19 = _vgg_preset("vgg19")


# ------------------------------------------------------------------ ResNet
# He initialisation over fan-out, as torchvision initialises ResNet convolutions
_KAIMING_FAN_OUT = initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")


def _conv(x, filters, kernel_size, strides, name):
    """A bias-free convolution padded like PyTorch's (k // 2 on each side) for any stride."""
    padding = "same"
    if strides > 1 and kernel_size > 1:  # 'same' would pad unevenly; pad k // 2 on both sides instead
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                         kernel_initializer=_KAIMING_FAN_OUT, name=name)(x)


def _batch_norm(x, name, zero=False):
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_initializer="zeros" if zero else "ones",
                                     name=name)(x)


def _shortcut(x, filters, strides, name):
    """Identity, or a 1x1 projection (with batch norm) when the shape changes."""
    if strides == 1 and x.shape[-1] == filters:
        return x
    return _batch_norm(_conv(x, filters, 1, strides, f"{name}_0_conv"), f"{name}_0_bn")


def basic_block(x, filters, strides=1, name="block", zero_init_residual=False):
    """ResNet's basic block: two 3x3 convolutions plus the input (ResNet-18/34).

    ``relu(x + bn(conv3x3(relu(bn(conv3x3(x))))))``; the first convolution
    carries the stride, and the shortcut becomes a 1x1 convolution when the
    stride or the number of channels changes. Works on functional-API tensors.

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(8, 8, 16))
        >>> basic_block(x, 32, strides=2, name="demo").shape
        (None, 4, 4, 32)
    """
    shortcut = _shortcut(x, filters, strides, name)
    y = _conv(x, filters, 3, strides, f"{name}_1_conv")
    y = layers.Activation("relu", name=f"{name}_1_relu")(_batch_norm(y, f"{name}_1_bn"))
    y = _conv(y, filters, 3, 1, f"{name}_2_conv")
    y = _batch_norm(y, f"{name}_2_bn", zero=zero_init_residual)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


def bottleneck_block(x, filters, strides=1, name="block", zero_init_residual=False):
    """ResNet's bottleneck block: 1x1 (reduce) -> 3x3 -> 1x1 (expand to 4 x filters), plus the input (ResNet-50).

    The stride sits on the 3x3 convolution (the "ResNet v1.5" layout of
    torchvision and Keras' ResNet50 weights have the same parameter count).

    Examples:
        >>> import nerve
        >>> x = nerve.Input(shape=(8, 8, 64))
        >>> bottleneck_block(x, 16, name="demo").shape
        (None, 8, 8, 64)
    """
    shortcut = _shortcut(x, 4 * filters, strides, name)
    y = _conv(x, filters, 1, 1, f"{name}_1_conv")
    y = layers.Activation("relu", name=f"{name}_1_relu")(_batch_norm(y, f"{name}_1_bn"))
    y = _conv(y, filters, 3, strides, f"{name}_2_conv")
    y = layers.Activation("relu", name=f"{name}_2_relu")(_batch_norm(y, f"{name}_2_bn"))
    y = _conv(y, 4 * filters, 1, 1, f"{name}_3_conv")
    y = _batch_norm(y, f"{name}_3_bn", zero=zero_init_residual)
    return layers.Activation("relu", name=f"{name}_out")(layers.Add(name=f"{name}_add")([shortcut, y]))


_BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def ResNet(stage_blocks, block="basic", input_shape=(224, 224, 3), num_classes=1000, filters=64,  # noqa: N802
           small_input=False, zero_init_residual=False, classifier_activation="softmax", name="resnet"):
    """A residual network: a stem, stages of residual blocks, global average pooling, a classifier.

    Stage ``s`` (from 0) has ``stage_blocks[s]`` blocks of ``filters * 2**s``
    channels (times 4 at the output of bottleneck blocks); every stage after the
    first starts with a stride-2 block that halves the height and width.

    Args:
        stage_blocks: blocks per stage, e.g. ``[2, 2, 2, 2]`` (ResNet-18).
        block: ``"basic"`` (two 3x3 convolutions) or ``"bottleneck"`` (1x1, 3x3, 1x1).
        input_shape: (height, width, channels) of one image.
        num_classes: outputs of the classifier.
        filters: channels of the stem and the first stage (64 in the paper;
            16 makes a small, fast network).
        small_input: use a 3x3 stride-1 convolution as the stem, without max
            pooling (for 28x28 or 32x32 images), instead of the 7x7 stride-2
            convolution and 3x3 stride-2 max pooling made for 224x224 images.
        zero_init_residual: start the last batch norm of every block at zero,
            so that each block starts as the identity (helps very deep nets).
        classifier_activation: ``"softmax"`` or ``None`` for logits.
        name: the model's name.

    Examples:
        >>> import numpy as np
        >>> tiny = ResNet([1, 1], filters=8, input_shape=(28, 28, 1), num_classes=10, small_input=True)
        >>> tiny(np.zeros((2, 28, 28, 1), dtype=np.float32)).shape
        (2, 10)
    """
    if block not in _BLOCKS:
        raise ValueError(f"ResNet: unknown block {block!r}; valid values: {', '.join(_BLOCKS)}")
    if not stage_blocks or any(int(n) < 1 for n in stage_blocks):
        raise ValueError(f"ResNet: stage_blocks must be a non-empty list of positive block counts, got {stage_blocks!r}")
    make_block = _BLOCKS[block]
    inputs = Input(shape=input_shape)
    if small_input:
        x = _conv(inputs, filters, 3, 1, "stem_conv")
        x = layers.Activation("relu", name="stem_relu")(_batch_norm(x, "stem_bn"))
    else:
        x = _conv(inputs, filters, 7, 2, "stem_conv")
        x = layers.Activation("relu", name="stem_relu")(_batch_norm(x, "stem_bn"))
        x = layers.ZeroPadding2D(1, name="stem_pool_pad")(x)  # after ReLU, zero padding acts like -inf for max
        x = layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    for stage, blocks in enumerate(stage_blocks):
        for b in range(int(blocks)):
            strides = 2 if stage > 0 and b == 0 else 1
            x = make_block(x, filters * 2 ** stage, strides, name=f"stage{stage + 1}_block{b + 1}",
                           zero_init_residual=zero_init_residual)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return Model(inputs, outputs, name=name)


def ResNet18(input_shape=(224, 224, 3), num_classes=1000, small_input=False, **kwargs):  # noqa: N802
    """ResNet-18: basic blocks ``[2, 2, 2, 2]``; keyword arguments go to :func:`ResNet`.

    With ``small_input=True`` on 32x32x3 images and 10 classes it is the usual
    CIFAR-10 ResNet-18 (11,173,962 trainable parameters).

    Examples:
        >>> model = ResNet18(input_shape=(32, 32, 3), num_classes=10, small_input=True, filters=4)
        >>> len([layer for layer in model.layers if type(layer).__name__ == "Add"])  # 8 basic blocks
        8
    """
    return ResNet([2, 2, 2, 2], "basic", input_shape, num_classes, small_input=small_input,
                  name=kwargs.pop("name", "resnet18"), **kwargs)


def ResNet34(input_shape=(224, 224, 3), num_classes=1000, small_input=False, **kwargs):  # noqa: N802
    """ResNet-34: basic blocks ``[3, 4, 6, 3]``; keyword arguments go to :func:`ResNet`.

    Examples:
        >>> ResNet34(input_shape=(32, 32, 3), num_classes=10, small_input=True, filters=4).output_shape
        (None, 10)
    """
    return ResNet([3, 4, 6, 3], "basic", input_shape, num_classes, small_input=small_input,
                  name=kwargs.pop("name", "resnet34"), **kwargs)


def ResNet50(input_shape=(224, 224, 3), num_classes=1000, small_input=False, **kwargs):  # noqa: N802
    """ResNet-50: bottleneck blocks ``[3, 4, 6, 3]``; keyword arguments go to :func:`ResNet`.

    Examples:
        >>> ResNet50(input_shape=(32, 32, 3), num_classes=10, small_input=True, filters=4).output_shape
        (None, 10)
    """
    return ResNet([3, 4, 6, 3], "bottleneck", input_shape, num_classes, small_input=small_input,
                  name=kwargs.pop("name", "resnet50"), **kwargs)
