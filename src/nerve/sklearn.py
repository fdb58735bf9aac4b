"""scikit-learn wrappers: the public namespace ``nerve.sklearn``; the code lives in :mod:`nerve.applications.sklearn`."""

from nerve.applications.sklearn import *  # noqa: F401,F403
from nerve.applications.sklearn import __all__  # noqa: F401
