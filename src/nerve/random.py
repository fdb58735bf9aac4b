"""nerve's seeded random generator: the public namespace ``nerve.random``; the code lives in :mod:`nerve.engine.random`."""

from nerve.engine.random import *  # noqa: F401,F403
from nerve.engine.random import __all__  # noqa: F401
