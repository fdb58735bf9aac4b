"""Differentiable operations: the public namespace ``nerve.ops``; the code lives in :mod:`nerve.engine.ops`."""

from nerve.engine.ops import *  # noqa: F401,F403
from nerve.engine.ops import __all__  # noqa: F401
