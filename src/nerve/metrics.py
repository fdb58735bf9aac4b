"""Streaming metrics: the public namespace ``nerve.metrics``; the code lives in :mod:`nerve.blocks.metrics`."""

from nerve.blocks.metrics import *  # noqa: F401,F403
from nerve.blocks.metrics import __all__  # noqa: F401
