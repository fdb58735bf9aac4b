"""Seeing inside training: diagnostics that explain, in plain words, why a model trains well or badly.

* Training health (:func:`check_health`, :class:`HealthMonitor` callback):
  per-layer gradient norms and update/weight ratios, vanishing and exploding
  gradients, dead ReLUs, saturated sigmoid/tanh units, a loss that diverges or
  does not decrease, NaN/inf with the first layer where they appear.
* Fit diagnosis (:func:`diagnose_fit`, :func:`diagnose_history`): learning,
  overfitting, underfitting, or suspicious, with the numbers and what to try.
* Learning-rate range test (:func:`lr_finder`, also ``model.find_lr``).
* Gradient check of any model, layer or function (:func:`gradcheck`).
* Explainability (:func:`saliency`, :func:`gradient_x_input`,
  :func:`integrated_gradients`, :func:`feature_attributions`).
* The computational graph as DOT text, SVG or PNG (:func:`to_dot`, :func:`draw_graph`).
* A recorded run and its HTML report (:class:`RunRecorder`, :func:`write_report`,
  ``nerve report RUN_DIR``).

Pictures live in :mod:`nerve.plotting` (needs matplotlib: ``pip install nerve[plot]``).

Examples:
    >>> from nerve import diagnostics
    >>> diagnostics.diagnose_fit(train_error=0.0, val_error=0.25, baseline_error=0.9).verdict
    'overfitting'
"""

from nerve.tools.diagnostics._model import layer_outputs
from nerve.tools.diagnostics.findings import KINDS, Finding, format_findings
from nerve.tools.diagnostics.health import (
    HealthMonitor, HealthReport, activation_findings, activation_statistics, check_health, find_nonfinite,
    find_nonfinite_weights, gradient_findings, gradient_norms,
)
from nerve.tools.diagnostics.fit import FitDiagnosis, diagnose_fit, diagnose_history
from nerve.training.lr_finder import LRFinderResult, lr_finder
from nerve.tools.diagnostics.gradcheck import GradcheckResult, gradcheck
from nerve.tools.diagnostics.explain import (
    AttributionTable, feature_attributions, gradient_x_input, integrated_gradients, saliency,
)
from nerve.tools.diagnostics.graph import dot_available, draw_graph, render_dot, to_dot
from nerve.tools.diagnostics.report import RunRecorder, confusion_matrix, load_run, write_report

__all__ = [
    "Finding", "KINDS", "format_findings",
    "check_health", "HealthReport", "HealthMonitor", "gradient_norms", "gradient_findings",
    "activation_statistics", "activation_findings", "find_nonfinite", "find_nonfinite_weights", "layer_outputs",
    "diagnose_fit", "diagnose_history", "FitDiagnosis",
    "lr_finder", "LRFinderResult",
    "gradcheck", "GradcheckResult",
    "saliency", "gradient_x_input", "integrated_gradients", "feature_attributions", "AttributionTable",
    "to_dot", "render_dot", "draw_graph", "dot_available",
    "RunRecorder", "write_report", "load_run", "confusion_matrix",
]
