"""Autoencoders: the public namespace ``nerve.autoencoders``; the code lives in :mod:`nerve.applications.autoencoders`."""

from nerve.applications.autoencoders import *  # noqa: F401,F403
from nerve.applications.autoencoders import __all__  # noqa: F401
