"""Layers: the building blocks of models (``nerve.layers.Dense``, ``Conv2D``, ``LSTM``...).

Example:
    >>> import numpy as np
    >>> from nerve import layers
    >>> layers.Dense(2)(np.ones((1, 3))).shape
    (1, 2)
"""

from nerve.layers.base import Layer, register, get_registered, reset_names
from nerve.layers.core import (
    Activation, Add, Average, BatchNormalization, Concatenate, Dense, Dropout, Flatten, Lambda, Maximum,
    Maxout, Multiply, Reshape, Subtract,
)
from nerve.layers.convolutional import *  # noqa: F401,F403
from nerve.layers.augmentation import *  # noqa: F401,F403
from nerve.layers.recurrent import *  # noqa: F401,F403
