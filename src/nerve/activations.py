"""Activation functions: the public namespace ``nerve.activations``; the code lives in :mod:`nerve.blocks.activations`."""

from nerve.blocks.activations import *  # noqa: F401,F403
from nerve.blocks.activations import __all__  # noqa: F401
