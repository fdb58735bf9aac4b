"""Numerical gradient checking: the public namespace ``nerve.gradcheck``; the code lives in :mod:`nerve.engine.gradcheck`."""

from nerve.engine.gradcheck import *  # noqa: F401,F403
from nerve.engine.gradcheck import __all__  # noqa: F401
