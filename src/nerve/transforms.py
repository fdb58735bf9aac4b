"""Image transforms for data augmentation: the public namespace ``nerve.transforms``; the code lives in :mod:`nerve.blocks.transforms`."""

from nerve.blocks.transforms import *  # noqa: F401,F403
from nerve.blocks.transforms import __all__  # noqa: F401
from nerve.training.data import TransformedDataset  # noqa: F401

__all__ = __all__ + ["TransformedDataset"]
