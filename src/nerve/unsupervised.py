"""Unsupervised learning: RBMs and pretraining: the public namespace ``nerve.unsupervised``; the code lives in :mod:`nerve.applications.unsupervised`."""

from nerve.applications.unsupervised import *  # noqa: F401,F403
from nerve.applications.unsupervised import __all__  # noqa: F401
