"""Tier 5, applications: classic networks (LeNet-5, AlexNet, VGG, ResNet), Rosenblatt's perceptron, autoencoders, RBMs, reinforcement learning
and scikit-learn wrappers, built from everything below.

``nerve.applications`` itself holds the model builders (:mod:`nerve.applications.builders`) and the
:class:`Perceptron` (:mod:`nerve.applications.perceptron`);
the other applications are ``nerve.autoencoders``, ``nerve.unsupervised``, ``nerve.rl`` and ``nerve.sklearn``.

Examples:
    >>> from nerve import applications
    >>> applications.LeNet5().count_params()
    61706
"""

from nerve.applications.builders import *  # noqa: F401,F403
from nerve.applications.builders import __all__ as _builders_all
from nerve.applications.perceptron import Perceptron

__all__ = [*_builders_all, "Perceptron"]
