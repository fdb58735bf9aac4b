"""Training callbacks: the public namespace ``nerve.callbacks``; the code lives in :mod:`nerve.training.callbacks`."""

from nerve.training.callbacks import *  # noqa: F401,F403
from nerve.training.callbacks import __all__  # noqa: F401
