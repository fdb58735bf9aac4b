"""Weight initializers: the public namespace ``nerve.initializers``; the code lives in :mod:`nerve.blocks.initializers`."""

from nerve.blocks.initializers import *  # noqa: F401,F403
from nerve.blocks.initializers import __all__  # noqa: F401
