"""Weight regularizers: the public namespace ``nerve.regularizers``; the code lives in :mod:`nerve.blocks.regularizers`."""

from nerve.blocks.regularizers import *  # noqa: F401,F403
from nerve.blocks.regularizers import __all__  # noqa: F401
