"""Restricted Boltzmann Machines and greedy layer-wise pretraining (deep belief networks).

An RBM is a two-layer network of stochastic units: visible units ``v`` (the
data) and hidden units ``h`` (features), with symmetric weights ``W`` between
the layers and none inside a layer. Its energy is

* binary visible units: ``E(v, h) = -b.v - c.h - v W h``;
* Gaussian visible units (real-valued data, standard deviation ``sigma``):
  ``E(v, h) = sum((v - b)^2) / (2 sigma^2) - c.h - (v / sigma) W h``;

and ``p(v, h) = exp(-E(v, h)) / Z``. Because no two units of a layer are
connected, each layer is conditionally independent given the other:
``p(h_j = 1 | v) = sigmoid(c_j + (v W)_j)`` and ``p(v_i = 1 | h) =
sigmoid(b_i + (W h)_i)`` (Gaussian: ``v_i | h ~ N(b_i + sigma (W h)_i,
sigma^2)``). Summing out ``h`` gives the free energy ``F(v) = -b.v - sum_j
softplus(c_j + (v W)_j)`` (Gaussian: ``sum((v - b)^2) / (2 sigma^2) - sum_j
softplus(c_j + (v W)_j / sigma)``), with ``p(v) = exp(-F(v)) / Z``.

The gradient of the log-likelihood is "data statistics minus model
statistics", ``<v h>_data - <v h>_model``. Contrastive divergence (CD-k)
estimates the model term with ``k`` steps of Gibbs sampling started at the
data; persistent CD (PCD) keeps the Gibbs chains running from one update to
the next instead. Everything here works on whole mini-batches with matrix
products, and draws its random numbers from :mod:`nerve.random`.

Greedy layer-wise pretraining (Hinton, Osindero and Teh, 2006): train RBM 1
on the data, turn the data into RBM 1's hidden probabilities, train RBM 2 on
those, and so on (:func:`pretrain_stack`); then copy the stacked weights into
a Dense network of the same sizes (:func:`to_dense_model`,
:func:`initialize_dense`) and fine-tune it with backpropagation on labels.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve.applications.unsupervised import RBM
    >>> nerve.random.seed(0)
    >>> x = (np.random.default_rng(0).random((100, 6)) < 0.3).astype("float32")
    >>> rbm = RBM(4, learning_rate=0.1)
    >>> history = rbm.fit(x, epochs=3, batch_size=20)
    >>> sorted(history)
    ['pseudo_log_likelihood', 'reconstruction_error']
    >>> rbm.transform(x).shape
    (100, 4)
"""

from __future__ import annotations

import math
import warnings

import numpy

from nerve.blocks import layers
from nerve.blocks.layers import Dense
from nerve.engine import random as nerve_random
from nerve.engine.backend import get_array_module, to_numpy
from nerve.training.models import Input, Model, Sequential

__all__ = ["RBM", "DBN", "pretrain_stack", "to_dense_model", "initialize_dense"]

VISIBLE_TYPES = ("binary", "gaussian")


# ----------------------------------------------------------------- helpers
def _sigmoid(xp, x):
    """Logistic function without overflow warnings: ``(1 + tanh(x / 2)) / 2``."""
    return 0.5 * (1.0 + xp.tanh(0.5 * x))


def _softplus(xp, x):
    """``log(1 + exp(x))`` without overflow."""
    return xp.logaddexp(0.0, x)


def _bernoulli(xp, probabilities):
    """0/1 samples with the given probabilities, drawn from nerve's generator (one uniform per unit)."""
    uniform = xp.asarray(nerve_random.generator().random(probabilities.shape))
    return (uniform < probabilities).astype(probabilities.dtype)


def _as_matrix(x, where, dtype):
    """Data as an (N, D) array of ``dtype``; images (N, H, W[, C]) are flattened to (N, H*W*C)."""
    if hasattr(x, "data") and hasattr(x, "requires_grad"):  # a nerve Tensor
        x = x.data
    xp = get_array_module(x)
    x = xp.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"{where}: expected data of shape (samples, features), received shape {tuple(x.shape)}")
    if x.ndim > 2:
        x = x.reshape(x.shape[0], -1)
    return x.astype(dtype, copy=False)


def _ordinal(n):
    """1st, 2nd, 3rd, 4th... 11th, 12th, 13th, 21st."""
    if n % 100 in (11, 12, 13):
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


# -------------------------------------------------------------------- RBM
class RBM:
    """A Restricted Boltzmann Machine trained with contrastive divergence (CD-k) or persistent CD.

    Args:
        n_hidden: number of hidden (binary) units.
        visible: ``"binary"`` (data in [0, 1], read as probabilities) or
            ``"gaussian"`` (real-valued data, best standardised to zero mean and
            unit variance, with ``sigma=1``).
        learning_rate: step size of the gradient ascent on the log-likelihood
            (0.1 suits binary units; use about 0.001-0.01 for Gaussian units).
        k: number of Gibbs steps of CD-k / PCD-k.
        persistent: persistent contrastive divergence (PCD): the negative phase
            continues Gibbs chains kept from the previous update instead of
            restarting them at the data.
        momentum: momentum of the updates (``velocity = momentum * velocity +
            learning_rate * gradient``).
        weight_decay: L2 penalty on the weights (subtracted from their gradient).
        sigma: standard deviation of Gaussian visible units (ignored for binary).
        dtype: dtype of the parameters and computations (float32 or float64).

    Attributes:
        weights: ``(n_visible, n_hidden)`` array (created on the first ``fit``,
            or by :meth:`initialize`).
        visible_bias, hidden_bias: the biases ``b`` and ``c``.
        history: per-epoch ``reconstruction_error`` (mean squared error of
            one up-down pass, per unit) and ``pseudo_log_likelihood`` (binary
            visible units only; see :meth:`pseudo_log_likelihood`).

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> x = np.tile([[1, 1, 0, 0], [0, 0, 1, 1]], (50, 1)).astype("float32")
        >>> rbm = RBM(2, learning_rate=0.5, k=1)
        >>> h = rbm.fit(x, epochs=30, batch_size=10)
        >>> h["reconstruction_error"][-1] < h["reconstruction_error"][0]
        True
        >>> rbm.gibbs(x[:3], steps=2).shape
        (3, 4)
    """

    def __init__(self, n_hidden, visible="binary", learning_rate=0.1, k=1, persistent=False, momentum=0.5,
                 weight_decay=1e-4, sigma=1.0, dtype="float32"):
        if int(n_hidden) != n_hidden or n_hidden <= 0:
            raise ValueError(f"RBM: n_hidden must be a positive integer, received {n_hidden!r}")
        if visible not in VISIBLE_TYPES:
            raise ValueError(f"RBM: unknown visible unit type {visible!r}; valid types: {', '.join(VISIBLE_TYPES)}")
        if int(k) != k or k < 1:
            raise ValueError(f"RBM: k (Gibbs steps) must be an integer >= 1, received {k!r}")
        if not learning_rate > 0:
            raise ValueError(f"RBM: learning_rate must be > 0, received {learning_rate!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"RBM: momentum must be in [0, 1), received {momentum!r}")
        if not sigma > 0:
            raise ValueError(f"RBM: sigma must be > 0, received {sigma!r}")
        self.n_hidden = int(n_hidden)
        self.visible = visible
        self.learning_rate = float(learning_rate)
        self.k = int(k)
        self.persistent = bool(persistent)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.sigma = float(sigma)
        self.dtype = numpy.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError(f"RBM: dtype must be a floating-point type, received {self.dtype}")
        self.weights = None
        self.visible_bias = None
        self.hidden_bias = None
        self.chains = None  # persistent Gibbs chains (visible samples)
        self._velocity = None
        self.history = {}

    # ------------------------------------------------------------ parameters
    @property
    def n_visible(self):
        """Number of visible units (None before the RBM is initialised)."""
        return None if self.weights is None else self.weights.shape[0]

    def initialize(self, n_visible, data=None):
        """Create the parameters: ``W ~ N(0, 0.01^2)``, hidden biases 0, visible biases 0.

        For binary units and given ``data``, visible biases start at
        ``log(p / (1 - p))`` of each unit's mean activation ``p`` (Hinton's
        practical guide), so the RBM starts out matching the pixel averages.

        Examples:
            >>> rbm = RBM(3); rbm.initialize(5)
            >>> rbm.weights.shape, rbm.visible_bias.shape, rbm.hidden_bias.shape
            ((5, 3), (5,), (3,))
        """
        xp = numpy if data is None else get_array_module(data)
        self.weights = xp.asarray(nerve_random.normal((int(n_visible), self.n_hidden), 0.0, 0.01, self.dtype))
        self.hidden_bias = xp.zeros(self.n_hidden, dtype=self.dtype)
        self.visible_bias = xp.zeros(int(n_visible), dtype=self.dtype)
        if data is not None and self.visible == "binary":
            p = xp.clip(data.mean(axis=0), 1e-3, 1 - 1e-3)
            self.visible_bias = xp.log(p / (1 - p)).astype(self.dtype)
        elif data is not None:
            self.visible_bias = data.mean(axis=0).astype(self.dtype)
        self._velocity = None
        self.chains = None

    def get_weights(self):
        """``[weights, visible_bias, hidden_bias]`` as NumPy arrays (copies).

        Examples:
            >>> rbm = RBM(2); rbm.initialize(3)
            >>> [w.shape for w in rbm.get_weights()]
            [(3, 2), (3,), (2,)]
        """
        self._check_initialized("get_weights")
        return [to_numpy(a).copy() for a in (self.weights, self.visible_bias, self.hidden_bias)]

    def set_weights(self, arrays):
        """Set ``[weights, visible_bias, hidden_bias]``; the shapes must agree with each other.

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(2); rbm.set_weights([np.zeros((3, 2)), np.zeros(3), np.zeros(2)])
            >>> rbm.n_visible
            3
        """
        weights, visible_bias, hidden_bias = (numpy.asarray(a, dtype=self.dtype) for a in arrays)
        expected = ((weights.shape[0], self.n_hidden), (weights.shape[0],), (self.n_hidden,))
        received = (weights.shape, visible_bias.shape, hidden_bias.shape)
        if weights.ndim != 2 or received != expected:
            raise ValueError(f"RBM.set_weights: expected shapes (weights, visible_bias, hidden_bias) = {expected} "
                             f"for {self.n_hidden} hidden units, received {received}")
        self.weights, self.visible_bias, self.hidden_bias = weights.copy(), visible_bias.copy(), hidden_bias.copy()
        self._velocity = None
        self.chains = None

    def _check_initialized(self, where):
        if self.weights is None:
            raise RuntimeError(f"RBM.{where}: the RBM has no weights yet; call fit(x) (or initialize(n_visible)) first")

    def _check_data(self, x, where):
        """(N, D) array of the RBM's dtype; binary units need values in [0, 1]; D must match the weights."""
        x = _as_matrix(x, f"RBM.{where}", self.dtype)
        xp = get_array_module(x)
        if x.size and not bool(xp.isfinite(x).all()):
            raise ValueError(f"RBM.{where}: the data contains NaN or infinite values")
        if self.visible == "binary" and x.size:
            low, high = float(x.min()), float(x.max())
            if low < 0 or high > 1:
                raise ValueError(
                    f"RBM.{where}: binary visible units expect data in [0, 1] (pixel intensities read as "
                    f"probabilities), received values from {low:g} to {high:g}; scale the data to [0, 1] "
                    "(e.g. x / 255) or use RBM(..., visible='gaussian') for real-valued data"
                )
        if self.weights is not None and x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"RBM.{where}: the RBM has {self.weights.shape[0]} visible units, received data with "
                             f"{x.shape[1]} features per sample (shape {tuple(x.shape)})")
        return x

    # ---------------------------------------------------------- conditionals
    def _hidden_input(self, v):
        scaled = v if self.visible == "binary" else v / self.sigma
        return scaled @ self.weights + self.hidden_bias

    def _hidden_probabilities(self, v):
        return _sigmoid(get_array_module(v), self._hidden_input(v))

    def _visible_mean(self, h):
        xp = get_array_module(h)
        top_down = h @ self.weights.T
        if self.visible == "binary":
            return _sigmoid(xp, top_down + self.visible_bias)
        return self.visible_bias + self.sigma * top_down

    def _sample_visible(self, mean):
        xp = get_array_module(mean)
        if self.visible == "binary":
            return _bernoulli(xp, mean)
        noise = xp.asarray(nerve_random.normal(mean.shape, 0.0, self.sigma, self.dtype))
        return mean + noise

    def hidden_probabilities(self, x):
        """``p(h = 1 | v)`` for each sample: an (N, n_hidden) array (alias: :meth:`transform`).

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(2); rbm.set_weights([np.zeros((3, 2)), np.zeros(3), np.zeros(2)])
            >>> rbm.hidden_probabilities(np.ones((1, 3))).tolist()
            [[0.5, 0.5]]
        """
        self._check_initialized("hidden_probabilities")
        return self._hidden_probabilities(self._check_data(x, "hidden_probabilities"))

    def transform(self, x):
        """Hidden probabilities ``p(h = 1 | v)`` of the data: the features the RBM has learned.

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(5); rbm.initialize(3)
            >>> rbm.transform(np.zeros((4, 3))).shape
            (4, 5)
        """
        self._check_initialized("transform")
        return self._hidden_probabilities(self._check_data(x, "transform"))

    def visible_mean(self, h):
        """``E[v | h]``: probabilities for binary units, ``b + sigma W h`` for Gaussian units.

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(2); rbm.set_weights([np.zeros((3, 2)), np.zeros(3), np.zeros(2)])
            >>> rbm.visible_mean(np.ones((1, 2))).tolist()
            [[0.5, 0.5, 0.5]]
        """
        self._check_initialized("visible_mean")
        h = _as_matrix(h, "RBM.visible_mean", self.dtype)
        if h.shape[1] != self.n_hidden:
            raise ValueError(f"RBM.visible_mean: expected hidden states with {self.n_hidden} units, "
                             f"received shape {tuple(h.shape)}")
        return self._visible_mean(h)

    def reconstruct(self, x):
        """One deterministic up-down pass: ``E[v | h = p(h | x)]`` (what the reconstruction error measures).

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(2); rbm.initialize(3)
            >>> rbm.reconstruct(np.zeros((4, 3))).shape
            (4, 3)
        """
        self._check_initialized("reconstruct")
        x = self._check_data(x, "reconstruct")
        return self._visible_mean(self._hidden_probabilities(x))

    def reconstruction_error(self, x):
        """Mean squared difference between the data and :meth:`reconstruct` (per unit).

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(2); rbm.set_weights([np.zeros((2, 2)), np.zeros(2), np.zeros(2)])
            >>> rbm.reconstruction_error(np.ones((1, 2)))
            0.25
        """
        self._check_initialized("reconstruction_error")
        x = self._check_data(x, "reconstruction_error")
        return float(((x - self._visible_mean(self._hidden_probabilities(x))) ** 2).mean())

    # ------------------------------------------------------------ sampling
    def _gibbs(self, v, steps):
        """``steps`` full Gibbs steps v -> h -> v from visible states ``v`` (sampled states all the way)."""
        for _ in range(steps):
            h = _bernoulli(get_array_module(v), self._hidden_probabilities(v))
            v = self._sample_visible(self._visible_mean(h))
        return v

    def gibbs(self, x, steps=1):
        """Run ``steps`` steps of block Gibbs sampling (sample h | v, then v | h) from every row of ``x``.

        Returns the visible samples after the last step, shaped like the
        (flattened) input.

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(3); rbm.initialize(4)
            >>> rbm.gibbs(np.zeros((5, 4)), steps=10).shape
            (5, 4)
        """
        self._check_initialized("gibbs")
        if int(steps) != steps or steps < 0:
            raise ValueError(f"RBM.gibbs: steps must be an integer >= 0, received {steps!r}")
        return self._gibbs(self._check_data(x, "gibbs"), int(steps))

    def sample(self, n_samples, steps=1000, init=None, mean=True):
        """Draw ``n_samples`` visible vectors from the model with Gibbs chains of ``steps`` steps.

        Chains start at ``init`` (an (n_samples, n_visible) array) or at
        random states (uniform 0/1 for binary units, ``N(b, sigma^2)`` for
        Gaussian ones). With ``mean=True`` the last step returns ``E[v | h]``
        (smooth images) instead of a sample.

        Examples:
            >>> rbm = RBM(3); rbm.initialize(4)
            >>> rbm.sample(6, steps=5).shape
            (6, 4)
        """
        self._check_initialized("sample")
        xp = get_array_module(self.weights)
        shape = (int(n_samples), self.weights.shape[0])
        if init is not None:
            v = self._check_data(init, "sample")
            if tuple(v.shape) != shape:
                raise ValueError(f"RBM.sample: init must have shape {shape}, received {tuple(v.shape)}")
        elif self.visible == "binary":
            v = _bernoulli(xp, xp.full(shape, 0.5, dtype=self.dtype))
        else:
            v = self._sample_visible(xp.broadcast_to(self.visible_bias, shape))
        if steps < 1:
            return v
        v = self._gibbs(v, int(steps) - 1)
        h = _bernoulli(xp, self._hidden_probabilities(v))
        visible = self._visible_mean(h)
        return visible if mean else self._sample_visible(visible)

    # ---------------------------------------------------- energies and scores
    def free_energy(self, x):
        """Free energy ``F(v) = -log sum_h exp(-E(v, h))`` of each sample (an (N,) array).

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(1); rbm.set_weights([np.zeros((2, 1)), np.zeros(2), np.zeros(1)])
            >>> round(float(rbm.free_energy(np.zeros((1, 2)))[0]), 4)  # -log(1 + e^0)
            -0.6931
        """
        self._check_initialized("free_energy")
        return self._free_energy(self._check_data(x, "free_energy"))

    def _free_energy(self, v):
        xp = get_array_module(v)
        hidden_term = _softplus(xp, self._hidden_input(v)).sum(axis=1)
        if self.visible == "binary":
            return -(v @ self.visible_bias) - hidden_term
        return ((v - self.visible_bias) ** 2).sum(axis=1) / (2 * self.sigma ** 2) - hidden_term

    def pseudo_log_likelihood(self, x, exact=False):
        """Pseudo-log-likelihood ``sum_i log p(v_i | v_-i)`` of each sample (binary visible units only).

        Flipping unit ``i`` gives ``log p(v_i | v_-i) = -softplus(F(v) -
        F(v with bit i flipped))``. With ``exact=True`` every unit is
        flipped (cost N x D x H, in chunks); by default one random unit per
        sample is flipped and the term is multiplied by D, an unbiased
        estimate (as in scikit-learn's ``BernoulliRBM.score_samples``) that
        is cheap enough to report every epoch. The data are rounded to 0/1.

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(2); rbm.set_weights([np.zeros((3, 2)), np.zeros(3), np.zeros(2)])
            >>> [round(float(p), 4) for p in rbm.pseudo_log_likelihood(np.ones((1, 3)), exact=True)]  # 3 log(1/2)
            [-2.0794]
        """
        self._check_initialized("pseudo_log_likelihood")
        if self.visible != "binary":
            raise ValueError("RBM.pseudo_log_likelihood: defined here for binary visible units only, but this RBM "
                             "has visible='gaussian' (the conditional density of one Gaussian unit given the "
                             "others has no closed form); use reconstruction_error or free_energy instead")
        v = self._check_data(x, "pseudo_log_likelihood")
        xp = get_array_module(v)
        v = xp.round(v)
        n, d = v.shape
        if not exact:
            units = xp.asarray(nerve_random.generator().integers(0, d, size=n))
            return d * self._flip_terms(v, units)
        free = self._free_energy(v)
        total = xp.zeros(n, dtype=self.dtype)
        chunk = max(1, int(4_000_000 // max(d * self.n_hidden, 1)))
        base = self._hidden_input(v)
        for lo in range(0, n, chunk):
            vb, xb = v[lo:lo + chunk], base[lo:lo + chunk]
            sign = 1.0 - 2.0 * vb  # +1 where the unit flips 0 -> 1, -1 for 1 -> 0
            flipped_input = xb[:, None, :] + sign[:, :, None] * self.weights[None, :, :]  # (n, D, H)
            flipped_free = -(v[lo:lo + chunk] @ self.visible_bias)[:, None] - sign * self.visible_bias \
                - _softplus(xp, flipped_input).sum(axis=2)
            total[lo:lo + chunk] = -_softplus(xp, free[lo:lo + chunk, None] - flipped_free).sum(axis=1)
        return total

    def _flip_terms(self, v, units):
        """``log p(v_i | v_-i)`` for one unit ``units[n]`` of each sample ``n``."""
        xp = get_array_module(v)
        rows = xp.arange(v.shape[0])
        flipped = v.copy()
        flipped[rows, units] = 1.0 - flipped[rows, units]
        return -_softplus(xp, self._free_energy(v) - self._free_energy(flipped))

    def log_partition_function(self):
        """Exact ``log Z`` by enumerating every state of the smaller binary layer (tiny RBMs only, <= 20 units).

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(1); rbm.set_weights([np.zeros((2, 1)), np.zeros(2), np.zeros(1)])
            >>> round(rbm.log_partition_function(), 4)  # log 2^3
            2.0794
        """
        self._check_initialized("log_partition_function")
        if self.visible != "binary":
            raise ValueError("RBM.log_partition_function: only for binary visible units")
        d, h = self.weights.shape
        xp = get_array_module(self.weights)
        if min(d, h) > 20:
            raise ValueError(f"RBM.log_partition_function: enumerating 2^{min(d, h)} states is too many; "
                             "only RBMs with at most 20 visible or 20 hidden units")
        if d <= h:
            states = xp.asarray(_all_binary_states(d), dtype=self.dtype)
            log_terms = -self._free_energy(states)
        else:  # sum over h instead: F(h) = -c.h - sum_i softplus(b_i + (W h)_i)
            states = xp.asarray(_all_binary_states(h), dtype=self.dtype)
            log_terms = states @ self.hidden_bias + _softplus(xp, states @ self.weights.T + self.visible_bias).sum(axis=1)
        top = log_terms.max()
        return float(top + xp.log(xp.exp(log_terms - top).sum()))

    def log_likelihood(self, x):
        """Exact ``log p(v) = -F(v) - log Z`` of each sample (tiny binary RBMs only; see :meth:`log_partition_function`).

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(1); rbm.set_weights([np.zeros((2, 1)), np.zeros(2), np.zeros(1)])
            >>> [round(float(p), 4) for p in rbm.log_likelihood(np.zeros((1, 2)))]  # 4 equally likely states
            [-1.3863]
        """
        return -self.free_energy(x) - self.log_partition_function()

    # -------------------------------------------------------------- learning
    def cd_gradients(self, x):
        """The CD-k (or PCD-k) estimate of the log-likelihood gradient on a batch: data minus model statistics.

        Positive phase: ``p0 = p(h | v0)`` on the data. Negative phase (CD):
        sample ``h ~ p0``; then ``k`` times: ``v = E[v | h]`` (a sample for
        all but the last step), ``p = p(h | v)`` (sampled to ``h`` for all but
        the last step). PCD instead runs ``k`` sampled Gibbs steps on the
        persistent chains and uses their visible samples. Returns
        ``(dW, db, dc)``:

        * ``dW = v0' p0 / N - vk' pk / M``, ``db = mean(v0) - mean(vk)``,
          ``dc = mean(p0) - mean(pk)``

        (visible terms divided by ``sigma`` for Gaussian units; ``M`` is the
        number of negative samples). Ascend it: ``W += learning_rate * dW``.

        Examples:
            >>> import numpy as np
            >>> rbm = RBM(3); rbm.initialize(4)
            >>> [g.shape for g in rbm.cd_gradients(np.ones((2, 4)))]
            [(4, 3), (4,), (3,)]
        """
        self._check_initialized("cd_gradients")
        v0 = self._check_data(x, "cd_gradients")
        return self._cd_gradients(v0)

    def _cd_gradients(self, v0):
        xp = get_array_module(v0)
        p0 = self._hidden_probabilities(v0)
        if self.persistent:
            if self.chains is None or self.chains.shape[1] != v0.shape[1]:
                self.chains = v0.copy() if self.visible == "gaussian" else _bernoulli(xp, v0)
            vk = self._gibbs(self.chains, self.k)
            self.chains = vk
            pk = self._hidden_probabilities(vk)
        else:
            h = _bernoulli(xp, p0)
            for step in range(self.k):
                last = step == self.k - 1
                mean = self._visible_mean(h)
                vk = mean if last else self._sample_visible(mean)
                pk = self._hidden_probabilities(vk)
                if not last:
                    h = _bernoulli(xp, pk)
        scale = 1.0 if self.visible == "binary" else 1.0 / self.sigma
        d_weights = (v0.T @ p0) / len(v0) * scale - (vk.T @ pk) / len(vk) * scale
        d_visible = (v0.mean(axis=0) - vk.mean(axis=0)) * (1.0 if self.visible == "binary" else scale ** 2)
        d_hidden = p0.mean(axis=0) - pk.mean(axis=0)
        return d_weights, d_visible, d_hidden

    def partial_fit(self, x):
        """One CD-k/PCD-k update on one batch (parameters created on the first call); returns ``self``.

        Examples:
            >>> import numpy as np, nerve
            >>> nerve.random.seed(0)
            >>> rbm = RBM(3).partial_fit(np.ones((8, 4)))
            >>> rbm.weights.shape
            (4, 3)
        """
        v0 = self._check_data(x, "partial_fit")
        if self.weights is None:
            self.initialize(v0.shape[1], data=v0)
        self._update(v0)
        return self

    def _update(self, v0):
        gradients = list(self._cd_gradients(v0))
        gradients[0] = gradients[0] - self.weight_decay * self.weights
        if self._velocity is None:
            self._velocity = [get_array_module(g).zeros_like(g) for g in gradients]
        params = (self.weights, self.visible_bias, self.hidden_bias)
        for velocity, gradient, param in zip(self._velocity, gradients, params):
            velocity *= self.momentum
            velocity += self.learning_rate * gradient
            param += velocity.astype(self.dtype, copy=False)

    def fit(self, x, epochs=10, batch_size=64, shuffle=True, verbose=0, monitor_size=1000):
        """Train on ``x`` for ``epochs`` passes in mini-batches; returns the per-epoch history dict.

        After every epoch it records ``reconstruction_error`` on all of ``x``
        and (binary units) the estimated ``pseudo_log_likelihood`` per sample,
        averaged over a fixed random subset of ``monitor_size`` samples. It
        continues from the current weights when called again.

        Examples:
            >>> import numpy as np, nerve
            >>> nerve.random.seed(0)
            >>> h = RBM(2).fit(np.ones((10, 3)), epochs=2, batch_size=5)
            >>> len(h["reconstruction_error"])
            2
        """
        x = self._check_data(x, "fit")
        n = len(x)
        if n == 0:
            raise ValueError("RBM.fit: received no samples")
        if int(batch_size) != batch_size or batch_size <= 0:
            raise ValueError(f"RBM.fit: batch_size must be a positive integer, received {batch_size!r}")
        xp = get_array_module(x)
        if self.weights is None:
            self.initialize(x.shape[1], data=x)
        monitor = x[xp.asarray(nerve_random.permutation(n)[: min(n, monitor_size)])]
        history = self.history = {"reconstruction_error": []}
        if self.visible == "binary":
            history["pseudo_log_likelihood"] = []
        for epoch in range(int(epochs)):
            order = xp.asarray(nerve_random.permutation(n)) if shuffle else None
            for lo in range(0, n, batch_size):
                batch = x[lo:lo + batch_size] if order is None else x[order[lo:lo + batch_size]]
                self._update(batch)
            history["reconstruction_error"].append(float(((x - self._visible_mean(self._hidden_probabilities(x))) ** 2).mean()))
            if self.visible == "binary":
                history["pseudo_log_likelihood"].append(float(self.pseudo_log_likelihood(monitor).mean()))
            if verbose:
                pll = f", pseudo-log-likelihood {history['pseudo_log_likelihood'][-1]:.2f}" if self.visible == "binary" else ""
                print(f"RBM {x.shape[1]}->{self.n_hidden} epoch {epoch + 1}/{epochs}: "
                      f"reconstruction error {history['reconstruction_error'][-1]:.4f}{pll}")
        return history

    def __repr__(self):
        sizes = f"{self.n_visible}->{self.n_hidden}" if self.weights is not None else f"?->{self.n_hidden}"
        return (f"RBM({sizes}, visible={self.visible!r}, k={self.k}, persistent={self.persistent}, "
                f"learning_rate={self.learning_rate})")


def _all_binary_states(n):
    """All 2^n binary vectors of length n, as rows of a float array."""
    codes = numpy.arange(2 ** n)[:, None]
    return ((codes >> numpy.arange(n)[::-1]) & 1).astype(numpy.float64)


# ----------------------------------------------------- greedy pretraining
def pretrain_stack(x, hidden_sizes, epochs=10, batch_size=64, visible="binary", learning_rate=None, k=1,
                   persistent=False, verbose=0, **rbm_options):
    """Greedy layer-wise pretraining: a stack of RBMs, each trained on the hidden probabilities of the previous one.

    RBM 1 (``visible`` units) is trained on ``x``; the data is then propagated
    through it to its hidden activation probabilities ``p(h | x)``; RBM 2
    (binary visible units) is trained on those; and so on, one RBM per entry
    of ``hidden_sizes``. No labels are used.

    Args:
        x: (N, D) data, or images (flattened to D features).
        hidden_sizes: hidden units per layer, e.g. ``[500, 200]``.
        epochs: per RBM (``epochs`` may be a list, one per RBM).
        batch_size: per RBM (``epochs`` may be a list, one per RBM).
        visible: unit type of the first RBM (``"binary"`` or ``"gaussian"``).
        learning_rate: per RBM (a number or a list); by default 0.1 for
            binary visible units and 0.01 for a Gaussian first layer.
        k: passed to every :class:`RBM`.
        persistent: passed to every :class:`RBM`.
        **rbm_options: passed to every :class:`RBM`.

    Returns:
        the list of trained RBMs, first layer first.

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> x = (np.random.default_rng(0).random((50, 8)) < 0.5).astype("float32")
        >>> rbms = pretrain_stack(x, [6, 3], epochs=2, batch_size=10)
        >>> [(r.n_visible, r.n_hidden) for r in rbms]
        [(8, 6), (6, 3)]
    """
    sizes = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
    if not sizes or any(int(s) != s or s <= 0 for s in sizes):
        raise ValueError(f"pretrain_stack: hidden_sizes must be a non-empty list of positive integers, received {hidden_sizes!r}")
    count = len(sizes)

    def per_layer(value, name):
        values = list(value) if isinstance(value, (list, tuple)) else [value] * count
        if len(values) != count:
            raise ValueError(f"pretrain_stack: {name} has {len(values)} entries for {count} RBMs {sizes}")
        return values

    epochs_list = per_layer(epochs, "epochs")
    if learning_rate is None:
        learning_rate = [0.01 if visible == "gaussian" else 0.1] + [0.1] * (count - 1)
    rates = per_layer(learning_rate, "learning_rate")
    data = _as_matrix(x, "pretrain_stack", numpy.dtype(rbm_options.get("dtype", "float32")))
    rbms = []
    for i, (units, layer_epochs, rate) in enumerate(zip(sizes, epochs_list, rates)):
        rbm = RBM(int(units), visible=visible if i == 0 else "binary", learning_rate=rate, k=k,
                  persistent=persistent, **rbm_options)
        if verbose:
            print(f"pretraining RBM {i + 1}/{count}: {data.shape[1]} -> {units} units on {len(data)} samples")
        rbm.fit(data, epochs=layer_epochs, batch_size=batch_size, verbose=verbose)
        data = rbm.transform(data)  # hidden activation probabilities feed the next RBM
        rbms.append(rbm)
    return rbms


def _dense_layers(model):
    return [layer for layer in _walk_layers(model) if isinstance(layer, Dense)]


def _walk_layers(model):
    """The layers of ``model`` in order, looking inside nested models."""
    out = []
    for layer in model.layers:
        out.extend(_walk_layers(layer) if isinstance(layer, Model) else [layer])
    return out


def initialize_dense(model, rbms, check_activations=True):
    """Copy a stack of RBMs into the first Dense layers of ``model`` (for fine-tuning); returns ``model``.

    Dense layer ``i`` gets RBM ``i``'s weights as its kernel (divided by
    ``sigma`` for a Gaussian first RBM) and its hidden biases as its bias, so
    that the layer computes exactly the RBM's ``p(h | v)`` when its activation
    is ``"sigmoid"``. Layers after the stack (the classifier) are untouched.
    The model must be built (start it with ``nerve.Input``) and its Dense
    layers must have the stack's sizes: otherwise a ValueError says which
    layer differs and how.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> nerve.random.seed(0)
        >>> rbms = pretrain_stack(np.zeros((20, 6)), [4], epochs=1)
        >>> model = nerve.Sequential([nerve.Input(shape=(6,)), layers.Dense(4, activation="sigmoid"), layers.Dense(2)])
        >>> model = initialize_dense(model, rbms)
        >>> bool((model.layers[0].kernel.numpy() == rbms[0].weights).all())
        True
    """
    rbms = list(rbms) if isinstance(rbms, (list, tuple)) else [rbms]
    if not rbms or not all(isinstance(r, RBM) for r in rbms):
        raise TypeError("initialize_dense: expected a non-empty list of RBMs (as returned by pretrain_stack)")
    for i, rbm in enumerate(rbms):
        rbm._check_initialized("initialize_dense")
        if i and rbm.n_visible != rbms[i - 1].n_hidden:
            raise ValueError(f"initialize_dense: the RBMs do not stack: RBM {i} has {rbms[i - 1].n_hidden} hidden "
                             f"units but RBM {i + 1} has {rbm.n_visible} visible units")
    stack_sizes = [rbms[0].n_visible] + [r.n_hidden for r in rbms]
    if not getattr(model, "built", False):
        raise ValueError(f"initialize_dense: model '{model.name}' is not built yet, so its layer sizes are unknown; "
                         "start it with nerve.Input(shape=...) or call it once on a batch")
    dense = _dense_layers(model)
    if len(dense) < len(rbms):
        raise ValueError(f"initialize_dense: expected at least {len(rbms)} Dense layers in model '{model.name}' for a "
                         f"stack of {len(rbms)} RBMs with sizes {stack_sizes}, received a model with {len(dense)}")
    for i, (rbm, layer) in enumerate(zip(rbms, dense)):
        expected = (rbm.n_visible, rbm.n_hidden)
        if not layer.built or tuple(layer.kernel.shape) != expected:
            received = tuple(layer.kernel.shape) if layer.built else "unbuilt"
            raise ValueError(
                f"initialize_dense: the pretrained stack has layer sizes {stack_sizes}, but the fine-tuning network "
                f"differs at its {_ordinal(i + 1)} Dense layer '{layer.name}': expected a kernel of shape {expected} "
                f"({expected[0]} -> {expected[1]} units, from RBM {i + 1}), received {received}"
            )
        if check_activations and getattr(layer.activation, "__name__", "") != "sigmoid":
            warnings.warn(f"initialize_dense: Dense layer '{layer.name}' uses activation "
                          f"'{getattr(layer.activation, '__name__', layer.activation)}', but RBM hidden units are "
                          "logistic; use activation='sigmoid' to start from what the RBM computes", stacklevel=2)
        scale = 1.0 if rbm.visible == "binary" else 1.0 / rbm.sigma
        layer.kernel.data[...] = to_numpy(rbm.weights) * scale
        if layer.bias is not None:
            layer.bias.data[...] = to_numpy(rbm.hidden_bias)
        elif bool(numpy.any(to_numpy(rbm.hidden_bias))):
            warnings.warn(f"initialize_dense: Dense layer '{layer.name}' has no bias; the RBM's hidden biases are "
                          "dropped", stacklevel=2)
    return model


def to_dense_model(rbms, output_units=None, output_activation=None, input_shape=None, name=None):
    """A Sequential network of the stack's sizes (sigmoid Dense layers) initialised with the RBMs' weights.

    ``output_units`` adds a randomly initialised output layer (e.g. 10
    logits for a classifier) to fine-tune with labels; ``input_shape`` (e.g.
    ``(28, 28)``) adds a Flatten layer in front for image input. The model is
    returned uncompiled.

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> rbms = pretrain_stack(np.zeros((20, 6)), [5, 3], epochs=1)
        >>> model = to_dense_model(rbms, output_units=2)
        >>> [layer.units for layer in model.layers]
        [5, 3, 2]
        >>> model(np.zeros((4, 6))).shape
        (4, 2)
    """
    rbms = list(rbms) if isinstance(rbms, (list, tuple)) else [rbms]
    if not rbms:
        raise ValueError("to_dense_model: expected a non-empty list of RBMs")
    rbms[0]._check_initialized("to_dense_model")
    n_visible = rbms[0].n_visible
    shape = (n_visible,) if input_shape is None else tuple(input_shape)
    if math.prod(shape) != n_visible:
        raise ValueError(f"to_dense_model: input_shape {shape} holds {math.prod(shape)} values, but the first RBM "
                         f"has {n_visible} visible units")
    stack = [Input(shape=shape)]
    if len(shape) > 1:
        stack.append(layers.Flatten())
    stack += [layers.Dense(r.n_hidden, activation="sigmoid") for r in rbms]
    if output_units is not None:
        stack.append(layers.Dense(int(output_units), activation=output_activation))
    model = Sequential(stack, name=name)
    return initialize_dense(model, rbms)


class DBN:
    """A deep belief network: a stack of RBMs pretrained greedily (see :func:`pretrain_stack`).

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> dbn = DBN([6, 3], epochs=1).fit(np.zeros((20, 8)))
        >>> dbn.transform(np.zeros((4, 8))).shape
        (4, 3)
        >>> dbn.to_dense_model(output_units=2).count_params()
        83
    """

    def __init__(self, hidden_sizes, epochs=10, batch_size=64, visible="binary", learning_rate=None, k=1,
                 persistent=False, **rbm_options):
        self.hidden_sizes = [hidden_sizes] if isinstance(hidden_sizes, int) else list(hidden_sizes)
        self.options = dict(epochs=epochs, batch_size=batch_size, visible=visible, learning_rate=learning_rate, k=k,
                            persistent=persistent, **rbm_options)
        self.rbms = []

    def fit(self, x, verbose=0):
        """Pretrain the stack on ``x`` (no labels); returns ``self``."""
        self.rbms = pretrain_stack(x, self.hidden_sizes, verbose=verbose, **self.options)
        return self

    def transform(self, x):
        """Propagate ``x`` through the stack: the top RBM's hidden probabilities."""
        if not self.rbms:
            raise RuntimeError("DBN.transform: the DBN is not trained yet; call fit(x) first")
        for rbm in self.rbms:
            x = rbm.transform(x)
        return x

    def to_dense_model(self, output_units=None, output_activation=None, input_shape=None, name=None):
        """A Dense network initialised with the stack (see :func:`to_dense_model`)."""
        if not self.rbms:
            raise RuntimeError("DBN.to_dense_model: the DBN is not trained yet; call fit(x) first")
        return to_dense_model(self.rbms, output_units, output_activation, input_shape, name)
