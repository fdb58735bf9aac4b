"""Hyperparameter search: the public namespace ``nerve.tuning``; the code lives in :mod:`nerve.tools.tuning`."""

from nerve.tools.tuning import *  # noqa: F401,F403
from nerve.tools.tuning import __all__  # noqa: F401
