"""Bundled and downloadable datasets: the public namespace ``nerve.datasets``; the code lives in :mod:`nerve.training.datasets`."""

from nerve.training.datasets import *  # noqa: F401,F403
from nerve.training.datasets import __all__  # noqa: F401
