"""nerve: a readable deep-learning framework on NumPy.

The public API in one place:

* ``nerve.tensor``, ``nerve.Tensor``, ``nerve.no_grad``: tensors and autodiff;
* ``nerve.ops``: differentiable operations; ``nerve.activations``, ``nerve.losses``,
  ``nerve.initializers``, ``nerve.regularizers``, ``nerve.optimizers``, ``nerve.schedules``;
* ``nerve.layers``: Dense, Conv2D, LSTM...; ``nerve.Sequential``, ``nerve.Model``, ``nerve.Input``;
* ``nerve.callbacks``, ``nerve.metrics``, ``nerve.data``, ``nerve.datasets``;
* ``nerve.load_model``, ``nerve.random.seed``.

Example:
    >>> import nerve
    >>> x = nerve.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0]
"""

from nerve.tensor import Tensor, Function, tensor, no_grad, enable_grad, is_grad_enabled
from nerve import backend, ops, random
from nerve.ops import (
    concatenate, stack, split, pad, one_hot, where, maximum, minimum, exp, log, sqrt, matmul,
    reshape, transpose, softmax, log_softmax, logsumexp,
)
from nerve import activations, initializers, regularizers, losses, optimizers, schedules, metrics
from nerve import layers, callbacks, data, datasets, gradcheck
from nerve import sequence, transforms, applications
from nerve import unsupervised, autoencoders, rl, diagnostics
from nerve.models import Input, Model, Sequential
from nerve.saving import load_model

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Function", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "backend", "ops", "random", "activations", "initializers", "regularizers", "losses", "optimizers",
    "schedules", "metrics", "layers", "callbacks", "data", "datasets", "gradcheck",
    "sequence", "transforms", "applications", "unsupervised", "autoencoders", "rl", "diagnostics",
    "Input", "Model", "Sequential", "load_model",
    "concatenate", "stack", "split", "pad", "one_hot", "where", "maximum", "minimum", "exp", "log", "sqrt",
    "matmul", "reshape", "transpose", "softmax", "log_softmax", "logsumexp",
]
