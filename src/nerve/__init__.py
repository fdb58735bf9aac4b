"""nerve: a readable deep-learning framework on NumPy.

Example:
    >>> import nerve
    >>> x = nerve.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 4.0]
"""

from nerve.tensor import Tensor, Function, tensor, no_grad, enable_grad, is_grad_enabled
from nerve import ops
from nerve.ops import (
    concatenate, stack, split, pad, one_hot, where, maximum, minimum, exp, log, sqrt, matmul,
    reshape, transpose, softmax, log_softmax, logsumexp,
)

__version__ = "0.1.0"
