"""Record a training run to a folder, and turn it into one self-contained HTML report.

:class:`RunRecorder` is a callback: give it a folder and it writes, as
training goes, ``config.json`` (model summary, optimizer, loss, metrics, your
hyper-parameters), ``history.json`` (per-epoch logs) and ``health.json`` (the
:class:`~nerve.diagnostics.HealthMonitor`'s measurements and findings); at the
end ``diagnosis.json`` (the fit diagnosis) and, for classifiers given
``validation_data``, ``predictions.npz`` (labels and predictions for the
confusion matrix) and ``explanations.npz`` (a few examples with saliency maps)
or ``attributions.json`` (a per-feature table for tabular inputs). Then it
writes ``report.html``.

:func:`write_report` (also ``nerve report RUN_DIR``) builds ``report.html``
from such a folder: one file, pictures embedded as PNG data URIs, no scripts,
nothing fetched from the network. Pictures need matplotlib (``nerve[plot]``);
without it the report has the tables and text only.

Examples:
    >>> import os, tempfile, numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> x = np.random.default_rng(0).normal(size=(80, 2)).astype("float32"); y = (x[:, :1] > 0).astype("float32")
    >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(4, activation="relu"), layers.Dense(1, activation="sigmoid")])
    >>> m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> run = os.path.join(tempfile.mkdtemp(), "run")
    >>> _ = m.fit(x[:60], y[:60], epochs=2, verbose=0, validation_data=(x[60:], y[60:]),
    ...           callbacks=[RunRecorder(run, validation_data=(x[60:], y[60:]), write_html=False, verbose=0)])
    >>> sorted(os.listdir(run))
    ['attributions.json', 'config.json', 'diagnosis.json', 'health.json', 'history.json', 'predictions.npz']
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os

import numpy

from nerve.tools import plotting
from nerve.tools.diagnostics._model import _labels, as_array, confusion_matrix, num_samples, take
from nerve.tools.diagnostics.explain import feature_attributions, saliency
from nerve.tools.diagnostics.findings import Finding, jsonable
from nerve.tools.diagnostics.fit import diagnose_history
from nerve.tools.diagnostics.health import HealthMonitor
from nerve.training.callbacks import Callback
from nerve.training.lr_finder import LRFinderResult


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(jsonable(data), handle, indent=1)
    os.replace(tmp, path)


def _read_json(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _classifier_kind(model):
    """``"binary"``, ``"multiclass"`` or None, from the compiled loss."""
    losses = getattr(model, "_losses", None) or []
    if len(losses) != 1:
        return None
    name = type(losses[0]).__name__
    if name == "BinaryCrossentropy":
        return "binary"
    if name in ("SparseCategoricalCrossentropy", "CategoricalCrossentropy"):
        return "multiclass"
    return None


class RunRecorder(Callback):
    """Callback that records a training run in ``run_dir`` and writes its HTML report at the end.

    Args:
        run_dir: folder for the run (created; files in it are overwritten).
        validation_data: ``(x_val, y_val)`` for the confusion matrix,
            explained predictions and the activation probe (a callback cannot
            see ``fit``'s own validation data).
        hyperparameters: a dict of your settings to show (batch size, seed...).
        class_names: names of the classes, for the confusion matrix.
        feature_names: names of tabular input features, for the attribution table.
        explain: how many validation examples to explain with saliency maps.
        write_html: write ``report.html`` when training ends.
        health: a :class:`~nerve.diagnostics.HealthMonitor` to use (one is made otherwise).

    Examples:
        >>> recorder = RunRecorder("runs/digits", hyperparameters={"batch_size": 64}, write_html=False)
    """

    def __init__(self, run_dir, validation_data=None, hyperparameters=None, class_names=None, feature_names=None,
                 explain=6, write_html=True, health=None, verbose=1):
        super().__init__()
        self.run_dir = os.fspath(run_dir)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) < 2:
                raise ValueError("RunRecorder: validation_data must be (x_val, y_val)")
            validation_data = (as_array(validation_data[0]), as_array(validation_data[1]))
        self.validation_data = validation_data
        self.hyperparameters = dict(hyperparameters or {})
        self.class_names = list(class_names) if class_names is not None else None
        self.feature_names = list(feature_names) if feature_names is not None else None
        self.explain = int(explain)
        self.write_html = write_html
        self.verbose = verbose
        probe = None
        if validation_data is not None:
            probe = take(validation_data[0], slice(0, min(256, num_samples(validation_data[0]))))
        self.health = health if health is not None else HealthMonitor(probe=probe, verbose=0)
        self.history = {}
        self.report_path = None

    # the health monitor sees everything the recorder sees
    def set_model(self, model):
        super().set_model(model)
        self.health.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.health.set_params(params)

    def _path(self, name):
        return os.path.join(self.run_dir, name)

    def on_train_begin(self, logs=None):
        os.makedirs(self.run_dir, exist_ok=True)
        self.history = {}
        self.health.on_train_begin(logs)
        model = self.model
        try:
            summary = model.summary(print_fn=None)
        except Exception as error:  # an unbuilt subclassed model has no shapes yet
            summary = f"(no summary: {error})"
        try:
            architecture = model.get_config()
        except Exception:
            architecture = None
        optimizer = model.optimizer
        losses = [getattr(loss, "name", type(loss).__name__) for loss in (getattr(model, "_losses", None) or [])]
        config = {
            "model_name": model.name,
            "model_class": type(model).__name__,
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
            "params": dict(self.params),
            "count_params": model.count_params(),
            "summary": summary,
            "optimizer": {"class_name": type(optimizer).__name__, **optimizer.get_config()} if optimizer else None,
            "loss": losses,
            "metrics": [str(m) if not hasattr(m, "name") else m.name for m in getattr(model, "_metric_spec", [])],
            "hyperparameters": self.hyperparameters,
            "architecture": architecture,
            "class_names": self.class_names,
            "feature_names": self.feature_names,
        }
        _write_json(self._path("config.json"), config)

    def on_epoch_begin(self, epoch, logs=None):
        self.health.on_epoch_begin(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self.health.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.health.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.health.on_epoch_end(epoch, logs)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        _write_json(self._path("history.json"), self.history)
        _write_json(self._path("health.json"), self.health.to_dict())

    def on_train_end(self, logs=None):
        self.health.on_train_end(logs)
        _write_json(self._path("health.json"), self.health.to_dict())
        diagnosis = None
        try:
            classes = _output_classes(self.model)
            diagnosis = diagnose_history(self.history, num_classes=classes).to_dict()
        except ValueError as error:
            diagnosis = {"verdict": None, "message": str(error), "suggestions": [], "numbers": {}}
        _write_json(self._path("diagnosis.json"), diagnosis)
        if self.validation_data is not None:
            self._record_predictions()
        if self.write_html:
            self.report_path = write_report(self.run_dir)
            if self.verbose:
                print(f"RunRecorder: report written to {self.report_path}")

    def log_lr_finder(self, result):
        """Add a learning-rate range test (:func:`~nerve.diagnostics.lr_finder` result) to the run."""
        os.makedirs(self.run_dir, exist_ok=True)
        _write_json(self._path("lr_finder.json"), result.to_dict())

    def _record_predictions(self):
        x, y = self.validation_data
        kind = _classifier_kind(self.model)
        outputs = self.model.predict(x, batch_size=256)
        if not isinstance(outputs, numpy.ndarray):
            return  # several outputs: no single confusion matrix
        tabular = isinstance(x, numpy.ndarray) and x.ndim == 2 and x.shape[1] <= 64
        if kind is not None:
            if kind == "binary":
                logits = getattr(self.model._losses[0], "from_logits", False)
                predicted = (outputs.reshape(len(outputs), -1)[:, 0] > (0.0 if logits else 0.5)).astype(numpy.int64)
            else:
                predicted = outputs.reshape(len(outputs), -1).argmax(axis=1)
            numpy.savez_compressed(self._path("predictions.npz"), y_true=_labels(y), y_pred=predicted,
                                   outputs=outputs.astype(numpy.float32))
            if self.explain > 0 and not tabular and isinstance(x, numpy.ndarray):
                picked = numpy.linspace(0, len(x) - 1, min(self.explain, len(x))).astype(int)
                maps = saliency(self.model, x[picked], target=predicted[picked] if kind == "multiclass" else None)
                numpy.savez_compressed(self._path("explanations.npz"), x=x[picked], saliency=maps,
                                       y_true=_labels(y)[picked], y_pred=predicted[picked])
        if tabular:
            sample = x[: min(200, len(x))]
            target = None
            if kind == "multiclass":
                target = outputs[: len(sample)].argmax(axis=1)
            table = feature_attributions(self.model, sample, self.feature_names, target=target, steps=32)
            _write_json(self._path("attributions.json"), table.to_dict())


def _output_classes(model):
    shape = getattr(model, "output_shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return max(2, shape[-1])
    return None


def load_run(run_dir):
    """Everything recorded in a run folder, as a dict (missing pieces are None).

    Examples:
        >>> import tempfile
        >>> load_run(tempfile.mkdtemp())["history"] is None
        True
    """
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"load_run: no run folder at {run_dir!r}")
    run = {name: _read_json(os.path.join(run_dir, f"{name}.json"))
           for name in ("config", "history", "health", "diagnosis", "lr_finder", "attributions")}
    for name in ("predictions", "explanations"):
        path = os.path.join(run_dir, f"{name}.npz")
        if os.path.exists(path):
            with numpy.load(path, allow_pickle=False) as archive:
                run[name] = {k: archive[k] for k in archive.files}
        else:
            run[name] = None
    return run


# ------------------------------------------------------------------ the page
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #dde;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccd;padding:3px 8px;text-align:left;font-size:.9em}
th{background:#f0f2f8}pre{background:#f6f7f9;padding:.8em;overflow-x:auto;font-size:.85em}
img{max-width:100%;border:1px solid #eee;margin:.3em 0}.muted{color:#777}
.badge{display:inline-block;padding:1px 7px;border-radius:8px;font-size:.8em;color:#fff;margin-right:.4em}
.error{background:#c0392b}.warning{background:#d68910}.info{background:#2e86c1}
.verdict{padding:.8em 1em;border-radius:6px;margin:.5em 0;font-size:1.05em}
.v-learning{background:#e8f6ec;border-left:6px solid #27ae60}.v-overfitting{background:#fdf2e3;border-left:6px solid #e67e22}
.v-underfitting{background:#fbe9e7;border-left:6px solid #c0392b}.v-suspicious{background:#f4ecf7;border-left:6px solid #8e44ad}
.v-none{background:#f6f7f9;border-left:6px solid #999}ul.findings li{margin:.35em 0}
"""


def _esc(value):
    return html.escape(str(value), quote=True)


def _img(png, alt):
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{data}">'


def _table(rows, header=None):
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


class _Pictures:
    """Draws figures to PNG if matplotlib is installed; otherwise says so once."""

    def __init__(self):
        try:
            plotting.available()
            self.plotting = plotting
            self.missing = None
        except ImportError as error:
            self.plotting = None
            self.missing = str(error)

    def draw(self, alt, fn, *args, **kwargs):
        if self.plotting is None:
            return ""
        try:
            fig = fn(*args, **kwargs)
        except Exception as error:  # a picture that cannot be drawn must not lose the report
            return f'<p class="muted">({_esc(alt)}: could not be drawn: {_esc(error)})</p>'
        return _img(self.plotting.figure_to_png(fig), alt)


def _history_section(run, pictures):
    history = run["history"]
    if not history:
        return "<p class='muted'>No epochs recorded.</p>"
    parts = [pictures.draw("learning curves", pictures.plotting.plot_history, history) if pictures.plotting else ""]
    keys = list(history)
    rows = [[i + 1] + [_fmt(history[k][i]) if i < len(history[k]) else "" for k in keys]
            for i in range(len(history[keys[0]]))]
    parts.append(_table(rows, ["epoch"] + keys))
    return "\n".join(parts)


def _health_section(run, pictures):
    health = run["health"]
    if not health:
        return "<p class='muted'>No health measurements recorded.</p>"
    findings = [Finding.from_dict(f) for f in health.get("findings", [])]
    parts = []
    if findings:
        items = [f'<li><span class="badge {_esc(f.severity)}">{_esc(f.severity)}</span><b>{_esc(f.kind)}</b>'
                 + (f" in <code>{_esc(f.layer)}</code>" if f.layer else "")
                 + (f" (epoch {f.epoch + 1})" if f.epoch is not None else "")
                 + f": {_esc(f.message)}." + (f" <i>Try: {_esc(f.suggestion)}.</i>" if f.suggestion else "") + "</li>"
                 for f in findings]
        parts.append('<ul class="findings">' + "\n".join(items) + "</ul>")
    else:
        parts.append("<p>No problems found: gradients flow, units are alive, the loss goes down.</p>")
    epochs = health.get("epochs") or []
    if epochs:
        if pictures.plotting:
            parts.append(pictures.draw("gradient norms per layer", pictures.plotting.plot_gradient_norms, epochs))
        last = epochs[-1]
        acts = last.get("activations") or {}
        names = list(last.get("grad_norms", {})) + [n for n in acts if n not in last.get("grad_norms", {})]
        rows = []
        for name in names:
            a = acts.get(name, {})
            rows.append([name, _fmt(last["grad_norms"].get(name, "")), _fmt(last.get("update_ratios", {}).get(name, "")),
                         _fmt(last.get("weight_norms", {}).get(name, "")), a.get("kind") or "",
                         _fmt(a.get("dead_fraction", "")), _fmt(a.get("saturated_fraction", ""))])
        parts.append(f"<p>Last epoch ({last.get('epoch', len(epochs) - 1) + 1}), layers input side first:</p>")
        parts.append(_table(rows, ["layer", "mean grad norm", "update/weight per step", "weight norm", "activation",
                                   "dead fraction", "saturated fraction"]))
    return "\n".join(parts)


def _diagnosis_section(run):
    d = run["diagnosis"]
    if not d:
        return "<p class='muted'>No fit diagnosis recorded.</p>"
    verdict = d.get("verdict") or "none"
    parts = [f'<div class="verdict v-{_esc(verdict)}"><b>{_esc(verdict)}</b>: {_esc(d.get("message", ""))}</div>']
    if d.get("suggestions"):
        parts.append("<p>What to try:</p><ul>" + "".join(f"<li>{_esc(s)}</li>" for s in d["suggestions"]) + "</ul>")
    if d.get("numbers"):
        parts.append(_table([[k, _fmt(v)] for k, v in d["numbers"].items()], ["number", "value"]))
    return "\n".join(parts)


def _config_section(run):
    config = run["config"] or {}
    rows = [["model", f"{config.get('model_name')} ({config.get('model_class')})"],
            ["parameters", f"{config.get('count_params', 0):,}"],
            ["loss", ", ".join(config.get("loss") or [])],
            ["metrics", ", ".join(config.get("metrics") or [])]]
    for key, value in (config.get("params") or {}).items():
        rows.append([key, value])
    optimizer = config.get("optimizer") or {}
    for key, value in optimizer.items():
        if value is not None:
            rows.append([f"optimizer.{key}", _fmt(value)])
    for key, value in (config.get("hyperparameters") or {}).items():
        rows.append([key, _fmt(value)])
    return _table(rows, ["setting", "value"])


def _classification_section(run, pictures):
    parts = []
    predictions = run["predictions"]
    names = (run["config"] or {}).get("class_names")
    if predictions is not None:
        matrix = confusion_matrix(predictions["y_true"], predictions["y_pred"])
        accuracy = numpy.trace(matrix) / max(matrix.sum(), 1)
        parts.append(f"<p>Validation accuracy {accuracy:.2%} on {int(matrix.sum())} examples.</p>")
        if pictures.plotting:
            parts.append(pictures.draw("confusion matrix", pictures.plotting.plot_confusion_matrix,
                                       predictions["y_true"], predictions["y_pred"], class_names=names))
        else:
            parts.append(_table(matrix.tolist()))
    explanations = run["explanations"]
    if explanations is not None:
        label = (lambda i: names[int(i)]) if names else (lambda i: int(i))
        titles = [f"true {label(t)}, predicted {label(p)}" for t, p in zip(explanations["y_true"], explanations["y_pred"])]
        parts.append("<h3>Explained predictions</h3><p>Saliency maps: bright pixels are those whose change moves the "
                     "predicted class's score most.</p>")
        if pictures.plotting:
            parts.append(pictures.draw("explained predictions (saliency)", pictures.plotting.plot_saliency,
                                       explanations["x"], explanations["saliency"], titles=titles))
        else:
            parts.append(_table([[t] for t in titles]))
    attributions = run["attributions"]
    if attributions is not None:
        parts.append(f"<h3>Feature attributions ({_esc(attributions['method'])})</h3>")
        rows = [[f, _fmt(a), _fmt(m), f"{s:.1%}"] for f, a, m, s in zip(attributions["features"], attributions["mean_abs"],
                                                                      attributions["mean"], attributions["share"])]
        parts.append(_table(rows, ["feature", "mean |attribution|", "mean attribution", "share"]))
    return "\n".join(parts)


def _lr_section(run, pictures):
    data = run["lr_finder"]
    if not data:
        return ""
    result = LRFinderResult(data["lrs"], [float(v) for v in data["losses"]], [float(v) for v in data["raw_losses"]],
                            method=data.get("method", "min/10"))
    text = (f"<p>Suggested learning rate {result.suggestion:.3g} (minimum of the loss at {result.min_loss_lr:.3g}, "
            f"steepest descent at {result.steepest_lr:.3g}).</p>")
    picture = pictures.draw("learning-rate range test", pictures.plotting.plot_lr_finder, result) if pictures.plotting else ""
    return "<h2>Learning-rate range test</h2>" + text + picture


def write_report(run_dir, output=None, title=None):
    """Write the run's self-contained HTML report (default ``RUN_DIR/report.html``); returns its path.

    Examples:
        >>> import os, tempfile
        >>> run = tempfile.mkdtemp()
        >>> path = write_report(run)
        >>> os.path.basename(path), "<html" in open(path).read()
        ('report.html', True)
    """
    run = load_run(run_dir)
    pictures = _Pictures()
    config = run["config"] or {}
    title = title or f"nerve run report: {config.get('model_name', os.path.basename(os.path.abspath(run_dir)))}"
    sections = [f"<h1>{_esc(title)}</h1>",
                f"<p class='muted'>{_esc(os.path.abspath(run_dir))}; recorded {_esc(config.get('created', 'n/a'))}</p>"]
    if pictures.missing:
        sections.append(f"<p class='muted'>No pictures: {_esc(pictures.missing)}</p>")
    sections += ["<h2>Fit diagnosis</h2>", _diagnosis_section(run),
                 "<h2>Learning curves</h2>", _history_section(run, pictures),
                 "<h2>Training health</h2>", _health_section(run, pictures)]
    classification = _classification_section(run, pictures)
    if classification:
        sections += ["<h2>Predictions</h2>", classification]
    sections.append(_lr_section(run, pictures))
    sections += ["<h2>Hyper-parameters</h2>", _config_section(run),
                 "<h2>Model</h2>", f"<pre>{_esc(config.get('summary', 'n/a'))}</pre>"]
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(s for s in sections if s) + "\n</body></html>\n")
    output = os.fspath(output) if output is not None else os.path.join(os.fspath(run_dir), "report.html")
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(page)
    return output
