"""Loss functions: the public namespace ``nerve.losses``; the code lives in :mod:`nerve.blocks.losses`."""

from nerve.blocks.losses import *  # noqa: F401,F403
from nerve.blocks.losses import __all__  # noqa: F401
