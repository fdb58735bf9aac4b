"""Tier 1, the engine: tensors and reverse-mode autodiff, the differentiable ops, the array-module seam.

* :mod:`nerve.engine.tensor`: ``Tensor``, the ``Function`` base of every op, the backward pass, ``no_grad``;
* :mod:`nerve.engine.ops`: every differentiable op, forward and backward side by side;
* :mod:`nerve.engine.kernels`: the speed kernels the ops call (im2col, block-Toeplitz, pooling, threads,
  packed optimizer updates), kept apart so that an op reads in a few lines;
* :mod:`nerve.engine.backend`: the array-module seam (NumPy; a NumPy-compatible GPU library can register);
* :mod:`nerve.engine.random`: nerve's seeded random generator;
* :mod:`nerve.engine.registry`: the one registry of everything a model file can name;
* :mod:`nerve.engine.gradcheck`: numerical gradient checking.

Modules here import nothing from the tiers above (building blocks, training, tools, applications);
``lint-imports`` (the contract in ``.importlinter``) fails CI when one does.

Examples:
    >>> from nerve.engine.tensor import Tensor
    >>> Tensor([1.0, 2.0]).shape
    (2,)
"""
