"""Learning-rate schedules: the public namespace ``nerve.schedules``; the code lives in :mod:`nerve.blocks.schedules`."""

from nerve.blocks.schedules import *  # noqa: F401,F403
from nerve.blocks.schedules import __all__  # noqa: F401
