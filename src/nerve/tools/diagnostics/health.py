"""Training health: gradient flow, update sizes, dead and saturated units, loss trend, NaN/inf.

Two ways to use it:

* :func:`check_health` looks at a model once, on one batch: per-layer gradient
  norms (vanishing/exploding), activation statistics (dead ReLUs, saturated
  sigmoid/tanh units) and the first layer producing NaN/inf.
* :class:`HealthMonitor` is a callback that watches a whole ``fit``: per-layer
  gradient norms and update/weight ratios each epoch, the loss trend
  (divergence, no progress) and, when given a probe batch, the activations.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> model = nerve.Sequential([layers.Dense(8, activation="relu", name="hidden"), layers.Dense(1, name="out")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32"); y = x[:, :1]
    >>> report = check_health(model, x, y)
    >>> list(report.gradient_norms), report.ok
    (['hidden', 'out'], True)
"""

from __future__ import annotations

import math

import numpy

from nerve.engine.tensor import no_grad
from nerve.tools.diagnostics._model import (
    activation_kind,
    as_array,
    check_model,
    ensure_built,
    layer_weights,
    loss_function,
    loss_on_batch,
    num_samples,
    recording_outputs,
    saved_grads,
    take,
    walk_layers,
)
from nerve.tools.diagnostics.findings import Finding, format_findings, jsonable
from nerve.training.callbacks import Callback

# Default thresholds, in one place (each can be changed per call).
VANISHING_RATIO = 1e-3  # input-side gradient norm / output-side gradient norm below this: vanishing
EXPLODING_RATIO = 1e3  # ... above this: exploding
EXPLODING_GROWTH = 1e3  # a layer's gradient norm grew this much since the first epoch: exploding
DEAD_FRACTION = 0.5  # more than this fraction of a ReLU layer's units never activate
SATURATION_FRACTION = 0.5  # more than this fraction of sigmoid/tanh outputs sit at the flat ends
LARGE_UPDATE = 0.1  # ||update|| / ||weights|| per step above this
SMALL_UPDATE = 1e-7  # ... below this


def _norm(array):
    a = numpy.asarray(array, dtype=numpy.float64).ravel()
    return math.sqrt(float(a @ a))


def gradient_norms(model, x, y, loss=None, training=False):
    """L2 norm of the loss gradient for each layer's trainable weights, on one batch (weights unchanged).

    Uses the compiled loss unless ``loss`` is given. Keys are layer names in
    the model's order, input side first.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([layers.Dense(1, kernel_initializer="zeros", name="d")])
        >>> norms = gradient_norms(m, np.ones((2, 1)), np.ones((2, 1)), loss="mse")
        >>> round(norms["d"], 4)   # d/dw and d/db of mean((w*1 + b - 1)^2) at 0: both -2
        2.8284
    """
    check_model(model, "gradient_norms")
    loss_fn = loss_function(model, loss, "gradient_norms")
    x, y = as_array(x), as_array(y)
    if not model.built:
        with no_grad():
            model(x, training=False)
    groups = layer_weights(model)
    weights = [w for group in groups.values() for _, w in group]
    with saved_grads(weights):
        value = loss_on_batch(model, x, y, loss_fn, training=training)
        value.backward()
        norms = {}
        for layer, group in groups.items():
            squared = 0.0
            for _, w in group:
                if w.grad is not None:
                    squared += _norm(w.grad.data) ** 2
            norms[layer] = math.sqrt(squared) if math.isfinite(squared) else float("nan")
    return norms


def _kernel_layers(groups):
    """Layers with a weight matrix (or larger): the ones gradient flow is judged on."""
    return [layer for layer, group in groups.items() if any(w.ndim >= 2 for _, w in group)]


def gradient_findings(norms, order=None, vanishing_ratio=VANISHING_RATIO, exploding_ratio=EXPLODING_RATIO, epoch=None):
    """Vanishing/exploding/NaN findings from per-layer gradient norms (``order``: layers to compare, input side first).

    Examples:
        >>> norms = {"dense": 1e-9, "dense_1": 1e-5, "dense_2": 0.5}
        >>> [f.kind for f in gradient_findings(norms)]
        ['vanishing_gradients']
    """
    order = [name for name in (order or list(norms)) if name in norms]
    findings = []
    bad = [name for name in order if not math.isfinite(norms[name])]
    if bad:
        first = bad[-1]  # backpropagation starts at the output: the output-most bad layer is where it starts
        findings.append(Finding(
            "nonfinite", "error",
            f"the gradients of {len(bad)} layer(s) contain NaN or inf; backpropagation meets them first at '{first}'",
            layer=first, numbers={"layers": bad}, epoch=epoch,
            suggestion="lower the learning rate, clip gradients (clipnorm=1.0), and look for log(0) or division by zero",
        ))
        return findings
    if len(order) < 2:
        return findings
    first, last = order[0], order[-1]
    top = norms[last]
    if top <= 0 or norms[first] <= 0:
        return findings  # no gradient at all: dead units or a disconnected layer, reported by other checks
    ratio = norms[first] / top
    per_layer = ratio ** (1.0 / (len(order) - 1)) if ratio > 0 else 0.0
    numbers = {"input_side_norm": norms[first], "output_side_norm": top, "ratio": ratio,
               "factor_per_layer": per_layer, "layers": len(order)}
    if ratio < vanishing_ratio:
        findings.append(Finding(
            "vanishing_gradients", "warning",
            f"the gradient norm falls from {top:.2g} at '{last}' (output side) to {norms[first]:.2g} at '{first}' "
            f"(input side), {ratio:.1e} of it across {len(order)} layers (x{per_layer:.2f} per layer): "
            "the first layers barely learn",
            layer=first, numbers=numbers, epoch=epoch,
            suggestion="ReLU-family activations instead of sigmoid/tanh, He initialisation, batch normalization, "
                       "residual (skip) connections, or fewer layers",
        ))
    elif ratio > exploding_ratio:
        findings.append(Finding(
            "exploding_gradients", "warning",
            f"the gradient norm grows from {top:.2g} at '{last}' (output side) to {norms[first]:.2g} at '{first}' "
            f"(input side), x{ratio:.1e} across {len(order)} layers",
            layer=first, numbers=numbers, epoch=epoch,
            suggestion="gradient clipping (clipnorm=1.0), a lower learning rate, smaller initial weights "
                       "(Glorot/He), batch normalization",
        ))
    return findings


def activation_statistics(model, x, training=False):
    """Per-layer statistics of the outputs on the batch ``x``: dead ReLUs, saturation, NaN/inf.

    For every inner layer: ``kind`` (its activation name or None), ``mean``,
    ``std``, ``nonfinite_fraction``; for ReLU layers ``dead_fraction`` (units,
    i.e. features/channels on the last axis, that are zero for every example
    and position); for sigmoid/tanh layers ``saturated_fraction`` (outputs
    within 0.01 of the flat ends, where the derivative is below 0.01/0.02).

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> d = layers.Dense(2, activation="relu", name="h")
        >>> m = nerve.Sequential([nerve.Input(shape=(1,)), d])
        >>> d.set_weights([np.array([[1.0, -1.0]]), np.zeros(2)])
        >>> activation_statistics(m, np.ones((5, 1)))["h"]["dead_fraction"]   # unit 2 is always 0
        0.5
    """
    check_model(model, "activation_statistics")
    x = as_array(x)
    ensure_built(model, x)
    layers = dict(walk_layers(model))
    with recording_outputs(model) as recorded, no_grad(), numpy.errstate(all="ignore"):  # NaN is what we look for
        model(x, training=training)
    stats = {}
    for path, arrays in recorded.items():
        layer = layers[path]
        kind = activation_kind(layer)
        if len(arrays) > 1 and all(a.shape[1:] == arrays[0].shape[1:] for a in arrays):
            out = numpy.concatenate(arrays)
        else:
            out = arrays[0]
        out = numpy.asarray(out, dtype=numpy.float64)
        finite = numpy.isfinite(out)
        entry = {
            "kind": kind,
            "order": len(stats),
            "shape": list(out.shape),
            "nonfinite_fraction": float(1.0 - finite.mean()) if out.size else 0.0,
            "mean": float(out[finite].mean()) if finite.any() else float("nan"),
            "std": float(out[finite].std()) if finite.any() else float("nan"),
        }
        if kind == "relu" and out.ndim >= 2 and out.size:
            units = out.reshape(-1, out.shape[-1])
            entry["dead_fraction"] = float(numpy.mean(numpy.all(units <= 0, axis=0)))
        elif kind == "sigmoid" and out.size:
            entry["saturated_fraction"] = float(numpy.mean((out < 0.01) | (out > 0.99)))
        elif kind == "tanh" and out.size:
            entry["saturated_fraction"] = float(numpy.mean(numpy.abs(out) > 0.99))
        stats[path] = entry
    return stats


def activation_findings(stats, dead_fraction=DEAD_FRACTION, saturation_fraction=SATURATION_FRACTION, epoch=None):
    """Dead-ReLU, saturation and NaN/inf findings from :func:`activation_statistics` output.

    Examples:
        >>> stats = {"h": {"kind": "relu", "dead_fraction": 0.75, "nonfinite_fraction": 0.0}}
        >>> print(activation_findings(stats)[0].message)
        75% of the units of 'h' output zero for every example in the probe batch (dead ReLUs)
    """
    findings = []
    for path, entry in stats.items():
        if entry.get("nonfinite_fraction", 0.0) > 0:
            findings.append(Finding(
                "nonfinite", "error",
                f"NaN or inf first appears in the output of layer '{path}' "
                f"({entry['nonfinite_fraction']:.0%} of its values)",
                layer=path, numbers={"nonfinite_fraction": entry["nonfinite_fraction"]}, epoch=epoch,
                suggestion="check this layer's weights and inputs; lower the learning rate or clip gradients; "
                           "look for log(0), sqrt of negatives or division by zero in custom code",
            ))
            break  # later layers only inherit it
    for path, entry in stats.items():
        dead = entry.get("dead_fraction")
        if dead is not None and dead > dead_fraction:
            findings.append(Finding(
                "dead_relu", "warning",
                f"{dead:.0%} of the units of '{path}' output zero for every example in the probe batch (dead ReLUs)",
                layer=path, numbers={"dead_fraction": dead}, epoch=epoch,
                suggestion="a lower learning rate, He initialisation, leaky_relu/elu, or batch normalization before the ReLU",
            ))
        saturated = entry.get("saturated_fraction")
        if saturated is not None and saturated > saturation_fraction:
            findings.append(Finding(
                "saturation", "warning",
                f"{saturated:.0%} of the {entry['kind']} outputs of '{path}' sit at the flat ends (derivative ~0)",
                layer=path, numbers={"saturated_fraction": saturated}, epoch=epoch,
                suggestion="normalise the inputs, smaller initial weights (Glorot), batch normalization, or ReLU",
            ))
    return findings


def find_nonfinite(model, x):
    """Name the first layer whose weights or outputs hold NaN/inf on the batch ``x``; None when all is finite.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2, name="a"), layers.Dense(1, name="b")])
        >>> m.get_layer("b").kernel.data[0, 0] = np.nan
        >>> find_nonfinite(m, np.ones((3, 2))).layer
        'b'
    """
    check_model(model, "find_nonfinite")
    bad_weights = find_nonfinite_weights(model)
    if bad_weights is not None:
        return bad_weights
    stats = activation_statistics(model, x)
    found = [f for f in activation_findings(stats) if f.kind == "nonfinite"]
    return found[0] if found else None


class HealthReport:
    """The result of :func:`check_health`: findings plus the measurements behind them.

    Attributes:
        findings: list of :class:`~nerve.diagnostics.Finding`.
        gradient_norms: ``{layer: norm}``, input side first.
        activations: :func:`activation_statistics` output.

    Examples:
        >>> report = HealthReport([], {"dense": 0.1}, {})
        >>> report.ok, report.kinds()
        (True, set())
    """

    def __init__(self, findings, gradient_norms, activations):
        self.findings = list(findings)
        self.gradient_norms = dict(gradient_norms)
        self.activations = dict(activations)

    @property
    def ok(self):
        """True when there is no warning or error."""
        return not any(f.severity in ("warning", "error") for f in self.findings)

    def kinds(self):
        """The set of finding kinds, e.g. ``{"vanishing_gradients"}``."""
        return {f.kind for f in self.findings}

    def to_dict(self):
        return {"findings": [f.to_dict() for f in self.findings],
                "gradient_norms": jsonable(self.gradient_norms), "activations": jsonable(self.activations)}

    def __str__(self):
        lines = ["layer                          grad norm   activation  dead   saturated"]
        names = list(self.activations) + [n for n in self.gradient_norms if n not in self.activations]  # execution order
        for name in names:
            act = self.activations.get(name, {})
            grad = self.gradient_norms.get(name)
            dead, sat = act.get("dead_fraction"), act.get("saturated_fraction")
            lines.append(f"{name[:30]:<30} {'' if grad is None else f'{grad:9.2e}':>10}   {act.get('kind') or '':<10}"
                         f"  {'' if dead is None else f'{dead:4.0%}':>5}  {'' if sat is None else f'{sat:4.0%}':>9}")
        return "\n".join(lines) + "\n" + format_findings(self.findings)

    __repr__ = __str__


def check_health(model, x, y, loss=None, vanishing_ratio=VANISHING_RATIO, exploding_ratio=EXPLODING_RATIO,
                 dead_fraction=DEAD_FRACTION, saturation_fraction=SATURATION_FRACTION, max_samples=256):
    """Look at ``model`` on one batch and explain what would stop it from training well.

    Checks gradient flow (vanishing/exploding: the input-side gradient norm
    compared with the output-side one), dead ReLUs, saturated sigmoid/tanh
    units, and NaN/inf (naming the first layer where they appear). Uses at
    most ``max_samples`` examples; weights are not changed.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> nerve.random.seed(0)
        >>> deep = nerve.Sequential([layers.Dense(16, activation="sigmoid") for _ in range(12)] + [layers.Dense(1)])
        >>> deep.compile(optimizer="sgd", loss="mse")
        >>> x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
        >>> "vanishing_gradients" in check_health(deep, x, x[:, :1]).kinds()
        True
    """
    check_model(model, "check_health")
    x, y = as_array(x), as_array(y)
    n = num_samples(x)
    if n > max_samples:
        x, y = take(x, slice(0, max_samples)), take(y, slice(0, max_samples))
    norms = gradient_norms(model, x, y, loss=loss)
    order = _kernel_layers(layer_weights(model))
    findings = []
    weights_bad = find_nonfinite_weights(model)
    if weights_bad is not None:
        findings.append(weights_bad)
    stats = activation_statistics(model, x)
    findings += activation_findings(stats, dead_fraction, saturation_fraction)
    if not any(f.kind == "nonfinite" for f in findings):
        findings += gradient_findings(norms, order, vanishing_ratio, exploding_ratio)
    return HealthReport(findings, norms, stats)


def find_nonfinite_weights(model):
    """A finding naming the first layer (input side) whose weights hold NaN/inf, or None.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1, name="d")])
        >>> print(find_nonfinite_weights(m))
        None
    """
    for layer, group in layer_weights(model, trainable_only=False).items():
        bad = [name for name, w in group if not numpy.isfinite(w.numpy()).all()]
        if bad:
            return Finding("nonfinite", "error", f"the weights {bad} of layer '{layer}' contain NaN or inf",
                           layer=layer, numbers={"weights": bad},
                           suggestion="an update blew up: lower the learning rate or clip gradients (clipnorm=1.0)")
    return None


class HealthMonitor(Callback):
    """Callback that watches training health and explains problems in plain words as they appear.

    Every epoch it records, per layer (input side first): the mean gradient
    norm over the epoch's batches, the mean update/weight ratio
    ``||w_after - w_before|| / ||w_before||`` per step (about 1e-3 is healthy
    for SGD), and the weight norm; with a ``probe`` batch also the activation
    statistics (dead ReLUs, saturation). It flags vanishing and exploding
    gradients, dead and saturated units, very large or tiny updates, a loss
    that goes up (divergence) or does not go down, and NaN/inf, naming the
    first layer where they appear (and stopping training when
    ``stop_on_nonfinite``).

    Args:
        probe: input batch ``x`` (or ``(x, y)``) for activation statistics and
            NaN localisation; a few hundred examples are plenty.
        every: measure update ratios every ``every`` batches (1: all).
        verbose: print each finding when it first appears.

    Attributes:
        epochs: one dict per epoch (``grad_norms``, ``update_ratios``,
            ``weight_norms``, ``activations``, ``loss``...).
        findings: the :class:`~nerve.diagnostics.Finding` objects, in order.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> nerve.random.seed(0)
        >>> m = nerve.Sequential([layers.Dense(8, activation="relu", name="hidden"), layers.Dense(1, name="out")])
        >>> m.compile(optimizer=nerve.optimizers.SGD(0.05), loss="mse")
        >>> x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
        >>> monitor = HealthMonitor(probe=x, verbose=0)
        >>> _ = m.fit(x, x.sum(axis=1, keepdims=True), epochs=3, batch_size=16, verbose=0, callbacks=[monitor])
        >>> len(monitor.epochs), list(monitor.epochs[-1]["grad_norms"])
        (3, ['hidden', 'out'])
    """

    def __init__(self, probe=None, every=1, vanishing_ratio=VANISHING_RATIO, exploding_ratio=EXPLODING_RATIO,
                 exploding_growth=EXPLODING_GROWTH, dead_fraction=DEAD_FRACTION,
                 saturation_fraction=SATURATION_FRACTION, large_update=LARGE_UPDATE, small_update=SMALL_UPDATE,
                 min_improvement=0.05, divergence_factor=1.1, stop_on_nonfinite=True, verbose=1):
        super().__init__()
        if isinstance(probe, (tuple, list)) and len(probe) == 2 and not isinstance(probe, list):
            probe = probe[0]
        self.probe = None if probe is None else as_array(probe)
        self.every = max(1, int(every))
        self.vanishing_ratio, self.exploding_ratio, self.exploding_growth = vanishing_ratio, exploding_ratio, exploding_growth
        self.dead_fraction, self.saturation_fraction = dead_fraction, saturation_fraction
        self.large_update, self.small_update = large_update, small_update
        self.min_improvement, self.divergence_factor = min_improvement, divergence_factor
        self.stop_on_nonfinite = stop_on_nonfinite
        self.verbose = verbose
        self.epochs = []
        self.findings = []
        self.batch_losses = []

    # ------------------------------------------------------------- bookkeeping
    def _add(self, finding):
        if any(f.kind == finding.kind and f.layer == finding.layer for f in self.findings):
            return False
        self.findings.append(finding)
        if self.verbose:
            print(f"HealthMonitor: {finding}")
        return True

    def kinds(self):
        """The set of finding kinds seen so far."""
        return {f.kind for f in self.findings}

    def on_train_begin(self, logs=None):
        self.epochs, self.findings, self.batch_losses = [], [], []
        self._groups = layer_weights(self.model)
        self._order = _kernel_layers(self._groups)
        self._initial_loss = None

    def on_epoch_begin(self, epoch, logs=None):
        self._grad_sums = {name: 0.0 for name in self._groups}
        self._ratio_sums = {name: 0.0 for name in self._groups}
        self._grad_count = 0
        self._ratio_count = 0
        self._before = None
        self._previous_mean = 0.0
        self._nonfinite_seen = False

    def on_train_batch_begin(self, batch, logs=None):
        if batch % self.every == 0:
            self._before = {name: [w.data.copy() for _, w in group] for name, group in self._groups.items()}

    def on_train_batch_end(self, batch, logs=None):
        mean = float((logs or {}).get("loss", float("nan")))
        batch_loss = mean * (batch + 1) - self._previous_mean * batch  # equal batch sizes assumed
        self._previous_mean = mean
        self.batch_losses.append(batch_loss)
        if self._initial_loss is None:
            self._initial_loss = batch_loss
        if not math.isfinite(batch_loss):
            self._nonfinite_seen = True
        for name, group in self._groups.items():
            squared = 0.0
            for _, w in group:
                if w.grad is not None:
                    squared += _norm(w.grad.data) ** 2
            self._grad_sums[name] += math.sqrt(squared) if math.isfinite(squared) else float("nan")
        self._grad_count += 1
        if self._before is not None:
            for name, group in self._groups.items():
                change = sum(_norm(w.data - old) ** 2 for (_, w), old in zip(group, self._before[name]))
                size = sum(_norm(old) ** 2 for old in self._before[name])
                self._ratio_sums[name] += math.sqrt(change) / math.sqrt(size) if size > 0 else 0.0
            self._ratio_count += 1
            self._before = None

    # ------------------------------------------------------------------ epoch
    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        count = max(self._grad_count, 1)
        record = {
            "epoch": epoch,
            "loss": float(logs.get("loss", float("nan"))),
            "grad_norms": {n: s / count for n, s in self._grad_sums.items()},
            "update_ratios": {n: s / max(self._ratio_count, 1) for n, s in self._ratio_sums.items()},
            "weight_norms": {n: math.sqrt(sum(_norm(w.data) ** 2 for _, w in g)) for n, g in self._groups.items()},
        }
        if "val_loss" in logs:
            record["val_loss"] = float(logs["val_loss"])
        if self.probe is not None:
            record["activations"] = activation_statistics(self.model, self.probe)
        self.epochs.append(record)
        self._check_epoch(epoch, record)

    def _check_epoch(self, epoch, record):
        findings = []
        weights_bad = find_nonfinite_weights(self.model)
        if weights_bad is not None:
            weights_bad.epoch = epoch
            findings.append(weights_bad)
        if "activations" in record:
            findings += activation_findings(record["activations"], self.dead_fraction, self.saturation_fraction, epoch)
        if not any(f.kind == "nonfinite" for f in findings):
            findings += gradient_findings(record["grad_norms"], self._order, self.vanishing_ratio, self.exploding_ratio, epoch)
        first = self.epochs[0]["grad_norms"]
        for name in self._order:
            before, now = first.get(name, 0.0), record["grad_norms"].get(name, 0.0)
            if epoch > 0 and before > 0 and math.isfinite(now) and now / before > self.exploding_growth:
                findings.append(Finding(
                    "exploding_gradients", "warning",
                    f"the gradient norm of '{name}' grew from {before:.2g} to {now:.2g} since the first epoch",
                    layer=name, numbers={"first": before, "now": now}, epoch=epoch,
                    suggestion="gradient clipping (clipnorm=1.0) and a lower learning rate"))
                break
        ratios = {n: r for n, r in record["update_ratios"].items() if n in self._order and math.isfinite(r)}
        if ratios and self._ratio_count:
            largest = max(ratios, key=ratios.get)
            if ratios[largest] > self.large_update:
                findings.append(Finding(
                    "large_updates", "warning",
                    f"each step changes the weights of '{largest}' by {ratios[largest]:.1%} of their norm "
                    f"(about 0.1% is healthy for SGD)",
                    layer=largest, numbers={"update_ratio": ratios[largest]}, epoch=epoch,
                    suggestion="a lower learning rate (try 3-10x lower, or run nerve.diagnostics.lr_finder)"))
            smallest = min(ratios, key=ratios.get)
            if 0 <= ratios[smallest] < self.small_update:
                findings.append(Finding(
                    "small_updates", "info",
                    f"each step changes the weights of '{smallest}' by only {ratios[smallest]:.1e} of their norm",
                    layer=smallest, numbers={"update_ratio": ratios[smallest]}, epoch=epoch,
                    suggestion="a higher learning rate, or fix vanishing gradients if they are reported"))
        findings += self._loss_findings(epoch, record)
        for f in findings:
            self._add(f)
        if self._nonfinite_seen and self.stop_on_nonfinite:
            self.model.stop_training = True

    def _loss_findings(self, epoch, record):
        loss, initial = record["loss"], self._initial_loss
        if self._nonfinite_seen or not math.isfinite(loss):
            where = None
            if self.probe is not None:
                located = find_nonfinite(self.model, self.probe)
                where = located.layer if located is not None else None
            if where is None:
                bad = [n for n in self._order if not math.isfinite(record["grad_norms"].get(n, 0.0))]
                where = bad[-1] if bad else None
            text = f"the training loss became {loss if not math.isfinite(loss) else 'NaN/inf'} during epoch {epoch + 1}"
            if where:
                text += f"; NaN/inf first appears at layer '{where}'"
            return [
                Finding("nonfinite", "error", text, layer=where, numbers={"loss": loss}, epoch=epoch,
                        suggestion="lower the learning rate, clip gradients (clipnorm=1.0), check the data for NaN"),
                Finding("divergence", "error", f"the loss blew up to {loss} (it started at {initial:.4g})",
                        numbers={"initial_loss": initial, "loss": loss}, epoch=epoch,
                        suggestion="lower the learning rate by 10x or run nerve.diagnostics.lr_finder"),
            ]
        if initial is not None and math.isfinite(initial) and loss > self.divergence_factor * initial:
            return [Finding(
                "divergence", "error",
                f"the training loss went up from {initial:.4g} at the first batch to {loss:.4g} in epoch {epoch + 1}: "
                "training diverges",
                numbers={"initial_loss": initial, "loss": loss}, epoch=epoch,
                suggestion="lower the learning rate (3-10x), or find one with nerve.diagnostics.lr_finder; "
                           "clip gradients (clipnorm=1.0)")]
        return []

    def on_train_end(self, logs=None):
        if len(self.epochs) < 2 or any(f.kind in ("divergence", "nonfinite") for f in self.findings):
            return
        initial, last = self._initial_loss, self.epochs[-1]["loss"]
        if initial is not None and initial > 0 and math.isfinite(last):
            improvement = 1.0 - last / initial
            if improvement < self.min_improvement:
                self._add(Finding(
                    "loss_not_decreasing", "warning",
                    f"the training loss went from {initial:.4g} at the first batch to {last:.4g} after "
                    f"{len(self.epochs)} epochs ({improvement:.1%} lower): the model is not learning",
                    numbers={"initial_loss": initial, "loss": last, "improvement": improvement},
                    epoch=len(self.epochs) - 1,
                    suggestion="check the learning rate with nerve.diagnostics.lr_finder (too low and too high both "
                               "stall), look for dead ReLUs or vanishing gradients, check that labels match inputs"))

    def to_dict(self):
        """Everything recorded, JSON-serialisable (used by the run recorder)."""
        return {"epochs": jsonable(self.epochs), "findings": [f.to_dict() for f in self.findings],
                "order": list(getattr(self, "_order", []))}

    def summary(self):
        """The findings as text."""
        return format_findings(self.findings)
