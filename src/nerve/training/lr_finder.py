"""The learning-rate range test: raise the learning rate exponentially, batch by batch, and watch the loss.

While the learning rate is too small the loss hardly moves; then it falls
faster and faster; past a point it turns up and explodes. A good learning
rate sits where the loss falls fastest, somewhat below the minimum of the
curve (L. Smith, "Cyclical Learning Rates for Training Neural Networks", 2017).
The test trains for real, so :func:`lr_finder` puts the weights, the optimizer
state and nerve's random state back afterwards: the model is as it was.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> m = nerve.Sequential([layers.Dense(16, activation="relu"), layers.Dense(1)])
    >>> m.compile(optimizer=nerve.optimizers.SGD(0.01), loss="mse")
    >>> x = np.random.default_rng(0).normal(size=(256, 4)).astype("float32"); y = x @ np.ones((4, 1), "float32")
    >>> result = lr_finder(m, x, y, num_steps=60, batch_size=32)
    >>> 1e-4 < result.suggestion < 1.0
    True
"""

from __future__ import annotations

import math

import numpy

from nerve.blocks.layers.base import Layer
from nerve.engine import random as nerve_random
from nerve.engine.tensor import Tensor

__all__ = ["LRFinderResult", "lr_finder", "plot_lr_finder"]


class LRFinderResult:
    """Learning rates tried and the losses seen, with a suggested learning rate.

    Attributes:
        lrs: the learning rates, one per batch.
        losses: the smoothed losses (exponential moving average, bias-corrected).
        raw_losses: the loss of each batch.
        suggestion: the suggested learning rate (see ``method``).
        min_loss_lr: the learning rate at the minimum of the smoothed loss.
        steepest_lr: where the smoothed loss falls fastest against log(lr).
        method: how ``suggestion`` was chosen (``"min/10"`` or ``"steepest"``).

    Examples:
        >>> r = LRFinderResult([1e-3, 1e-2, 1e-1, 1.0], [1.0, 0.8, 0.3, 5.0], [1.0, 0.8, 0.3, 5.0])
        >>> r.min_loss_lr, r.suggestion
        (0.1, 0.01)
    """

    def __init__(self, lrs, losses, raw_losses, method="min/10"):
        if method not in ("min/10", "steepest"):
            raise ValueError(f"LRFinderResult: method must be 'min/10' or 'steepest', got {method!r}")
        self.lrs = [float(v) for v in lrs]
        self.losses = [float(v) for v in losses]
        self.raw_losses = [float(v) for v in raw_losses]
        self.method = method
        finite = [i for i, v in enumerate(self.losses) if math.isfinite(v)]
        if not finite:
            self.min_loss_lr = self.steepest_lr = self.suggestion = float("nan")
            return
        best = min(finite, key=lambda i: self.losses[i])
        self.min_loss_lr = self.lrs[best]
        self.steepest_lr = self._steepest(best)
        self.suggestion = self.min_loss_lr / 10.0 if method == "min/10" else self.steepest_lr

    def _steepest(self, best):
        """Learning rate of the most negative slope of loss vs log(lr), before the minimum."""
        if best < 2:
            return self.lrs[best]
        logs = numpy.log10(self.lrs[: best + 1])
        losses = numpy.asarray(self.losses[: best + 1])
        slopes = numpy.gradient(losses, logs)
        return float(self.lrs[int(numpy.argmin(slopes))])

    def to_dict(self):
        return {"lrs": [_finite(v) for v in self.lrs], "losses": [_finite(v) for v in self.losses],
                "raw_losses": [_finite(v) for v in self.raw_losses], "suggestion": _finite(self.suggestion),
                "min_loss_lr": _finite(self.min_loss_lr), "steepest_lr": _finite(self.steepest_lr),
                "method": self.method}

    def plot(self, ax=None):
        """Loss against learning rate (log scale) with the suggestion marked; needs matplotlib (``nerve[plot]``)."""
        return plot_lr_finder(self, ax=ax)

    def __repr__(self):
        return (f"LRFinderResult(suggestion={self.suggestion:.3g}, min_loss_lr={self.min_loss_lr:.3g}, "
                f"steepest_lr={self.steepest_lr:.3g}, steps={len(self.lrs)})")


def lr_finder(model, x, y, start_lr=1e-7, end_lr=10.0, num_steps=200, batch_size=32, smoothing=0.98,
              diverge_factor=4.0, method="min/10", restore=True):
    """Run the learning-rate range test on a compiled model; return an :class:`LRFinderResult`.

    The learning rate grows exponentially from ``start_lr`` to ``end_lr`` over
    ``num_steps`` batches (cycling through shuffled data as needed), using the
    model's own optimizer and loss. The test stops early when the smoothed
    loss exceeds ``diverge_factor`` times its best value, or is NaN. With
    ``restore=True`` the weights, the optimizer state (slots, iterations,
    learning rate) and nerve's random state are restored afterwards.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
        >>> m.compile(optimizer="adam", loss="mse")
        >>> before = m.get_weights(); x = np.ones((64, 2), "float32")
        >>> r = lr_finder(m, x, x[:, :1], num_steps=20, batch_size=16)
        >>> all(np.array_equal(a, b) for a, b in zip(before, m.get_weights())), m.optimizer.iterations
        (True, 0)
    """
    if not isinstance(model, Layer):
        raise TypeError(f"lr_finder: expected a nerve Model or Layer, got {type(model).__name__}")
    if not getattr(model, "_compiled", False):
        raise RuntimeError("lr_finder: compile the model first (model.compile(optimizer=..., loss=...)): "
                           "the test trains with the model's own optimizer and loss")
    if not 0 < start_lr < end_lr:
        raise ValueError(f"lr_finder: need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}")
    if num_steps < 2:
        raise ValueError(f"lr_finder: num_steps must be at least 2, got {num_steps}")
    if not 0 <= smoothing < 1:
        raise ValueError(f"lr_finder: smoothing must be in [0, 1), got {smoothing}")
    x, y = as_array(x), as_array(y)
    n = num_samples(x)
    batch_size = min(int(batch_size), n)
    model._ensure_ready(take(x, slice(0, batch_size)))
    optimizer = model.optimizer

    saved_random = nerve_random.get_state()
    saved_weights = model.get_weights()
    saved_state = optimizer.state_dict()
    saved_lr = optimizer.learning_rate
    saved_skipped = optimizer.skipped_steps
    lrs, smoothed, raw = [], [], []
    try:
        factor = (end_lr / start_lr) ** (1.0 / (num_steps - 1))
        average, best = 0.0, math.inf
        order = nerve_random.permutation(n)
        position = 0
        for step in range(num_steps):
            if position + batch_size > n:
                order, position = nerve_random.permutation(n), 0
            index = order[position:position + batch_size]
            position += batch_size
            lr = start_lr * factor ** step
            optimizer.learning_rate = lr
            loss, _ = model.train_step(take(x, index), take(y, index))
            lrs.append(lr)
            raw.append(loss)
            if not math.isfinite(loss):
                smoothed.append(float("nan"))
                break
            average = smoothing * average + (1 - smoothing) * loss
            value = average / (1 - smoothing ** (step + 1))
            smoothed.append(value)
            best = min(best, value)
            if step > 0 and value > diverge_factor * best:
                break
    finally:
        if restore:
            model.set_weights(saved_weights)
            optimizer.load_state_dict(saved_state)
            optimizer.learning_rate = saved_lr
            optimizer.skipped_steps = saved_skipped
            optimizer.zero_grad()
            nerve_random.set_state(saved_random)
            model._reset_metrics()
            model.stop_training = False
    return LRFinderResult(lrs, smoothed, raw, method=method)


def plot_lr_finder(result, ax=None, show_raw=True):
    """Loss against learning rate (log scale) from the range test, with the suggested rate marked.

    Examples:
        >>> from nerve.training.lr_finder import LRFinderResult
        >>> r = LRFinderResult([1e-4, 1e-3, 1e-2, 1e-1], [2.3, 2.0, 1.0, 4.0], [2.3, 2.0, 1.0, 4.0])
        >>> plot_lr_finder(r).axes[0].get_xscale()
        'log'
    """
    if ax is None:
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("plotting needs matplotlib, which is not installed: pip install 'nerve[plot]'") from error
        fig = Figure(figsize=(6, 4), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
    fig = ax.figure
    if show_raw and getattr(result, "raw_losses", None):
        ax.plot(result.lrs[: len(result.raw_losses)], result.raw_losses, color="0.75", lw=0.8, label="batch loss")
    ax.plot(result.lrs[: len(result.losses)], result.losses, lw=2, label="smoothed loss")
    if math.isfinite(result.suggestion):
        ax.axvline(result.suggestion, color="tab:green", ls="--", label=f"suggested {result.suggestion:.2g}")
        ax.axvline(result.min_loss_lr, color="tab:red", ls=":", label=f"minimum at {result.min_loss_lr:.2g}")
    finite = [v for v in result.losses if math.isfinite(v)]
    if finite:  # show the curve up to its minimum in full; the blow-up after it may leave the frame
        lowest = finite.index(min(finite))
        low, high = finite[lowest], max(finite[: lowest + 1])
        margin = 0.1 * (high - low) + 1e-6 * abs(high)
        ax.set_ylim(low - margin, high + 3 * margin)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def as_array(x):
    """NumPy array (or a list/dict of them) from arrays, Tensors or nested lists."""
    if isinstance(x, Tensor):
        return x.numpy()
    if isinstance(x, dict):
        return {k: as_array(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (numpy.ndarray, Tensor)) for v in x):
        return [as_array(v) for v in x]
    return numpy.asarray(x)


def take(x, index):
    """Rows ``index`` of an array or of each array of a list/dict."""
    if isinstance(x, dict):
        return {k: v[index] for k, v in x.items()}
    if isinstance(x, list):
        return [v[index] for v in x]
    return x[index]


def num_samples(x):
    """Number of samples of an array or of a list/dict of arrays."""
    if isinstance(x, dict):
        return len(next(iter(x.values())))
    if isinstance(x, list):
        return len(x[0])
    return len(x)


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else str(value)
