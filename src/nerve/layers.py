"""Layers: the public namespace ``nerve.layers``; the code lives in :mod:`nerve.blocks.layers`."""

from nerve.blocks.layers import *  # noqa: F401,F403
from nerve.blocks.layers import __all__  # noqa: F401
