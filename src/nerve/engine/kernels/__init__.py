"""Speed kernels: the array machinery the ops call, kept apart so that each op's forward and backward read in a few lines.

An op in :mod:`nerve.engine.ops` says *what* it computes; a kernel here says
*how* it is computed fast on NumPy: which layout a matrix product gets, which
strided views a copy goes through, how the batch is split over nerve's threads
(:func:`nerve.engine.backend.split_batch`). Kernels work on raw arrays through
the array module ``xp`` that the op passes in, never on tensors, and know
nothing of the graph.

* :mod:`nerve.engine.kernels.conv`: the geometry of a 2-D convolution,
  im2col/col2im, the block-Toeplitz plan (its cache, its matrix, its row copy
  and their adjoints), blocked matrix products, the fused bias and ReLU;
* :mod:`nerve.engine.kernels.winograd`: Winograd F(4x4, 3x3) and F(2x2, 3x3)
  for 3x3 stride-1 convolutions with many channels, forward and both gradients
  as 36 or 16 batched matrix products;
* :mod:`nerve.engine.kernels.pool`: separable max pooling with winner masks
  (tiled and overlapping windows), window sums for average pooling, padding;
* :mod:`nerve.engine.kernels.packing`: packed optimizer updates, every
  parameter updated by one pass of array calls.
* :mod:`nerve.engine.kernels.elementwise`: a ReLU at NumPy's vectorised speed
  (``maximum`` against a block of zeros, not a scalar).

Every kernel gives bit-identical results whatever the number of threads.

Examples:
    >>> import numpy as np
    >>> from nerve.engine.kernels.pool import max_pool_tiled
    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> out, winners = max_pool_tiled(np, x, (2, 2), (2, 2))
    >>> out[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
"""
