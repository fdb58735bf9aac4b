"""Tier 4, the tools: training diagnostics, hyperparameter search, plotting and the command line.

They use models and training (:mod:`nerve.training`) and everything below; applications sit above them.
Users reach them as ``nerve.diagnostics``, ``nerve.tuning``, ``nerve.plotting`` and the ``nerve`` command.

Examples:
    >>> from nerve.tools.diagnostics.findings import Finding
    >>> Finding.__name__
    'Finding'
"""
