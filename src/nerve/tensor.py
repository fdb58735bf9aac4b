"""Tensors and autodiff: the public namespace ``nerve.tensor``; the code lives in :mod:`nerve.engine.tensor`."""

from nerve.engine.tensor import *  # noqa: F401,F403
from nerve.engine.tensor import __all__  # noqa: F401
