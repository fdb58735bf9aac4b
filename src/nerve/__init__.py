"""nerve: a readable deep-learning framework on NumPy.

The code sits in five tiers, each importing only from the ones below it:

1. :mod:`nerve.engine`: tensors and autodiff, the ops, the array-module seam;
2. :mod:`nerve.blocks`: layers, activations, initializers, regularizers, losses, metrics, optimizers, schedules;
3. :mod:`nerve.training`: models, the training loop, callbacks, data, saving;
4. :mod:`nerve.tools`: diagnostics, hyperparameter search, plotting, the command line;
5. :mod:`nerve.applications`: model builders, autoencoders, RBMs, reinforcement learning, scikit-learn wrappers.

Users import the Keras-style namespaces, each declared in one short module here:
``nerve.layers``, ``nerve.losses``, ``nerve.optimizers``, ``nerve.callbacks``, ``nerve.diagnostics``...
and the names below (``nerve.Tensor``, ``nerve.Sequential``, ``nerve.load_model``...).

Examples:
    >>> import nerve
    >>> x = nerve.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0]
"""

from nerve import tensor as _tensor_module  # noqa: F401  (``from nerve.tensor import Tensor`` keeps working)
from nerve.engine.tensor import Tensor, Function, tensor, no_grad, enable_grad, is_grad_enabled
from nerve import backend, ops, random
from nerve.engine.backend import set_device, device
from nerve.engine.ops import (
    concatenate, stack, split, pad, one_hot, where, maximum, minimum, exp, log, sqrt, matmul,
    reshape, transpose, softmax, log_softmax, logsumexp,
)
from nerve import activations, initializers, regularizers, constraints, losses, optimizers, schedules, metrics
from nerve import layers, callbacks, data, datasets, distributed, gradcheck, saving, models
from nerve import sequence, transforms, applications
from nerve import unsupervised, autoencoders, rl, diagnostics, mixed_precision
from nerve import utils
from nerve import config
from nerve.training.models import Input, Model, Sequential
from nerve.training.saving import load_model
from nerve._version import __version__  # noqa: F401


__all__ = [
    "Tensor", "Function", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "backend", "set_device", "device", "ops", "random", "activations", "initializers", "regularizers", "constraints", "losses", "optimizers",
    "schedules", "metrics", "layers", "callbacks", "data", "datasets", "distributed", "gradcheck", "saving", "models",
    "sequence", "transforms", "applications", "unsupervised", "autoencoders", "rl", "diagnostics", "mixed_precision", "utils", "config",
    "Input", "Model", "Sequential", "load_model",
    "concatenate", "stack", "split", "pad", "one_hot", "where", "maximum", "minimum", "exp", "log", "sqrt",
    "matmul", "reshape", "transpose", "softmax", "log_softmax", "logsumexp",
]
