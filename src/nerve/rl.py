"""Reinforcement learning: the public namespace ``nerve.rl``; the code lives in :mod:`nerve.applications.rl`."""

from nerve.applications.rl import *  # noqa: F401,F403
from nerve.applications.rl import __all__  # noqa: F401
