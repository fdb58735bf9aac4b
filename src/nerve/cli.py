"""The ``nerve`` command line: the public namespace ``nerve.cli``; the code lives in :mod:`nerve.tools.cli`."""

from nerve.tools.cli import *  # noqa: F401,F403
from nerve.tools.cli import __all__  # noqa: F401
