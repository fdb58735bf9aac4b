"""Optimizers: the public namespace ``nerve.optimizers``; the code lives in :mod:`nerve.blocks.optimizers`."""

from nerve.blocks.optimizers import *  # noqa: F401,F403
from nerve.blocks.optimizers import __all__  # noqa: F401
