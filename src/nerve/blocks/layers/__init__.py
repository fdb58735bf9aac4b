"""Layers: the building blocks of models (``nerve.layers.Dense``, ``Conv2D``, ``LSTM``...).

Examples:
    >>> import numpy as np
    >>> from nerve import layers
    >>> layers.Dense(2)(np.ones((1, 3))).shape
    (1, 2)
"""

from nerve.blocks.layers import attention, augmentation, convolutional, merging, normalization, operations, recurrent
from nerve.blocks.layers import text
from nerve.blocks.layers import audio
from nerve.blocks.layers import keras_layers, preprocessing
from nerve.blocks.layers.base import Layer, deserialize, get_registered, register, reset_names, serialize
from nerve.blocks.layers.core import (
    Activation, Add, Average, BatchNormalization, Concatenate, Dense, Dropout, Flatten, Input, InputLayer, Lambda,
    Maximum, Maxout, Multiply, Reshape, Subtract,
)
from nerve.blocks.layers.convolutional import *  # noqa: F401,F403
from nerve.blocks.layers.augmentation import *  # noqa: F401,F403
from nerve.blocks.layers.recurrent import *  # noqa: F401,F403
from nerve.blocks.layers.normalization import *  # noqa: F401,F403
from nerve.blocks.layers.attention import *  # noqa: F401,F403
from nerve.blocks.layers.text import *  # noqa: F401,F403
from nerve.blocks.layers.audio import *  # noqa: F401,F403
from nerve.blocks.layers.merging import *  # noqa: F401,F403
from nerve.blocks.layers.operations import OpLayer
from nerve.blocks.layers.keras_layers import *  # noqa: F401,F403
from nerve.blocks.layers.preprocessing import *  # noqa: F401,F403

__all__ = [
    "Layer", "register", "get_registered", "reset_names", "serialize", "deserialize",
    "Activation", "Add", "Average", "BatchNormalization", "Concatenate", "Dense", "Dropout", "Flatten", "Input",
    "InputLayer", "Lambda", "Maximum", "Maxout", "Multiply", "Reshape", "Subtract",
] + convolutional.__all__ + augmentation.__all__ + recurrent.__all__ + merging.__all__ + operations.__all__
__all__ += normalization.__all__ + attention.__all__ + text.__all__
__all__ += audio.__all__
__all__ += keras_layers.__all__ + preprocessing.__all__
