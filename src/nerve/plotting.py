"""Plotting helpers: the public namespace ``nerve.plotting``; the code lives in :mod:`nerve.tools.plotting`."""

from nerve.tools.plotting import *  # noqa: F401,F403
from nerve.tools.plotting import __all__  # noqa: F401
