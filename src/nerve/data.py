"""Data loading, splits and scalers: the public namespace ``nerve.data``; the code lives in :mod:`nerve.training.data`."""

from nerve.training.data import *  # noqa: F401,F403
from nerve.training.data import __all__  # noqa: F401
