"""Tier 3, models and training: Sequential / functional / subclassed models, the training loop
(``compile``/``fit``/``evaluate``/``predict``), callbacks, data loading, datasets and model files.

* :mod:`nerve.training.models`: ``Model``, ``Sequential``;
* :mod:`nerve.training.trainer`: the ``Trainer`` mixin behind ``compile``/``fit``/``evaluate``/``predict``;
* :mod:`nerve.training.callbacks`, :mod:`nerve.training.data`, :mod:`nerve.training.datasets`,
  :mod:`nerve.training.sequence`, :mod:`nerve.training.saving`, :mod:`nerve.training.lr_finder`.

It builds on the building blocks and the engine; tools and applications sit above it.

Examples:
    >>> from nerve.training import Trainer
    >>> Trainer.__name__
    'Trainer'
"""

from nerve.training.trainer import Trainer

__all__ = ["Trainer"]
