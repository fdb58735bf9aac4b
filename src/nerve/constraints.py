"""Weight constraints: the public namespace ``nerve.constraints``; the code lives in :mod:`nerve.blocks.constraints`."""

from nerve.blocks.constraints import *  # noqa: F401,F403
from nerve.blocks.constraints import __all__  # noqa: F401
