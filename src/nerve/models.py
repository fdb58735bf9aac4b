"""Models: Sequential, functional, subclassed: the public namespace ``nerve.models``; the code lives in :mod:`nerve.training.models`."""

from nerve.training.models import *  # noqa: F401,F403
from nerve.training.models import __all__  # noqa: F401
