"""Sequence data helpers: the public namespace ``nerve.sequence``; the code lives in :mod:`nerve.training.sequence`."""

from nerve.training.sequence import *  # noqa: F401,F403
from nerve.training.sequence import __all__  # noqa: F401
