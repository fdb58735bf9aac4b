"""Model files: saving and loading: the public namespace ``nerve.saving``; the code lives in :mod:`nerve.training.saving`."""

from nerve.training.saving import *  # noqa: F401,F403
from nerve.training.saving import __all__  # noqa: F401
