"""The array-module seam: the public namespace ``nerve.backend``; the code lives in :mod:`nerve.engine.backend`."""

from nerve.engine.backend import *  # noqa: F401,F403
from nerve.engine.backend import __all__  # noqa: F401
