"""Tier 2, the building blocks: layers, activations, initializers, regularizers, constraints, losses, metrics,
optimizers, learning-rate schedules and the image transforms of data augmentation.

They build on the engine (:mod:`nerve.engine`) and import nothing from the tiers above. Users reach them by
their Keras names: ``nerve.layers``, ``nerve.losses``, ``nerve.optimizers``...

Examples:
    >>> from nerve.blocks.activations import get
    >>> get("relu").__name__
    'relu'
"""
