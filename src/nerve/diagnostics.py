"""Training diagnostics: the public namespace ``nerve.diagnostics``; the code lives in :mod:`nerve.tools.diagnostics`."""

from nerve.tools.diagnostics import *  # noqa: F401,F403
from nerve.tools.diagnostics import __all__  # noqa: F401
