"""Reinforcement learning pieces: returns, a categorical policy, and the policy-gradient update.

An agent acts in an environment, receives rewards, and learns a policy
``pi(a | s)`` that maximises the expected discounted return ``G_t = r_t +
gamma r_{t+1} + gamma^2 r_{t+2} + ...``. Policy-gradient methods follow

    grad J = E[ sum_t grad log pi(a_t | s_t) * (G_t - b(s_t)) ]

(REINFORCE; the baseline ``b``, e.g. a learned state value ``V(s)``, leaves
the gradient unbiased but lowers its variance). The pieces:

* :func:`discounted_returns`: ``G_t`` for whole trajectories (episode ends
  and bootstrapped values of truncated episodes included), vectorised;
* :class:`Categorical`: a distribution over discrete actions from logits:
  ``sample``, differentiable ``log_prob`` and ``entropy``;
  :class:`CategoricalPolicyHead`: the layer giving those logits;
* :func:`policy_gradient_loss` and :func:`policy_gradient_step`: REINFORCE
  with a baseline, or advantage actor-critic with a value network;
* :func:`run_episode`: play one episode of a Gymnasium-style environment
  (``reset() -> (obs, info)``, ``step(a) -> (obs, reward, terminated,
  truncated, info)``) with a policy model.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve.applications.rl import discounted_returns, Categorical
    >>> discounted_returns([1.0, 1.0, 1.0], gamma=0.5).tolist()
    [1.75, 1.5, 1.0]
    >>> dist = Categorical(nerve.tensor([[0.0, 0.0]]))
    >>> round(float(dist.log_prob([1]).item()), 4)
    -0.6931
"""

from __future__ import annotations

import math

import numpy

from nerve.blocks.layers.base import Layer, builtin_layer
from nerve.engine import ops
from nerve.engine import random as nerve_random
from nerve.engine.backend import get_array_module
from nerve.engine.tensor import Tensor, no_grad

__all__ = [
    "discounted_returns", "standardize", "Categorical", "sample_categorical", "CategoricalPolicyHead",
    "policy_gradient_loss", "policy_gradient_step", "run_episode",
]


# ---------------------------------------------------------------- returns
def discounted_returns(rewards, gamma=0.99, dones=None, bootstrap=None):
    """Discounted returns ``G_t = r_t + gamma (1 - done_t) G_{t+1}`` of a trajectory, vectorised.

    Args:
        rewards: shape (T,) for one trajectory or (T, N) for N environments
            stepped side by side (time first).
        gamma: discount factor in [0, 1].
        dones: optional, like ``rewards``: true where an episode ended after
            that step (the return does not continue into the next episode).
        bootstrap: value of the state after the last step, (N,) or a number,
            added (discounted) to the trajectory's unfinished episode: e.g.
            ``V(s_T)`` for an episode cut off by a time limit. Default 0.

    Returns:
        an array shaped like ``rewards`` (float64 unless rewards are float32).

    Long trajectories are cut into blocks: inside a block, each return is one
    matrix product with the discount matrix ``gamma^(j - i)`` (masked after
    episode ends); the blocks are chained from the end, so the work is
    ``O(T * block)`` with only ``T / block`` Python steps.

    Examples:
        >>> discounted_returns([1.0, 2.0, 3.0], gamma=0.9).round(3).tolist()
        [5.23, 4.7, 3.0]
        >>> discounted_returns([1.0, 1.0, 1.0, 1.0], gamma=0.5, dones=[0, 1, 0, 0], bootstrap=2.0).tolist()
        [1.5, 1.0, 2.0, 2.0]
    """
    if not 0 <= gamma <= 1:
        raise ValueError(f"discounted_returns: gamma must be in [0, 1], received {gamma!r}")
    xp = get_array_module(rewards)
    r = xp.asarray(rewards)
    if r.dtype != numpy.float32:
        r = r.astype(numpy.float64)
    if r.ndim not in (1, 2):
        raise ValueError(f"discounted_returns: expected rewards of shape (T,) or (T, N), received shape {tuple(r.shape)}")
    squeeze = r.ndim == 1
    if squeeze:
        r = r[:, None]
    steps, envs = r.shape
    d = xp.zeros(r.shape, dtype=r.dtype)
    if dones is not None:
        d_given = xp.asarray(dones)
        if d_given.shape != (r[:, 0].shape if squeeze else r.shape):
            raise ValueError(f"discounted_returns: dones must have the shape of rewards "
                             f"{tuple(r[:, 0].shape) if squeeze else tuple(r.shape)}, received {tuple(d_given.shape)}")
        d = (d_given.reshape(r.shape) != 0).astype(r.dtype)
    carry = xp.zeros(envs, dtype=r.dtype)
    if bootstrap is not None:
        given = xp.asarray(bootstrap, dtype=r.dtype).reshape(-1)
        if given.shape not in ((1,), (envs,)):
            raise ValueError(f"discounted_returns: bootstrap must be a number or have shape ({envs},), "
                             f"received shape {tuple(xp.asarray(bootstrap).shape)}")
        carry = carry + given
    out = xp.empty_like(r)
    block = max(1, min(steps, 64, int(math.sqrt(2 ** 20 / envs)) or 1))
    offsets = xp.arange(block)
    lag = offsets[None, :] - offsets[:, None]  # j - i
    upper = lag >= 0
    powers = xp.where(upper, gamma ** xp.where(upper, lag, 0).astype(r.dtype), 0.0).astype(r.dtype)
    for end in range(steps, 0, -block):
        start = max(0, end - block)
        size = end - start
        rb, db = r[start:end], d[start:end]
        ends_before = xp.concatenate([xp.zeros((1, envs), dtype=r.dtype), xp.cumsum(db, axis=0)])  # (size + 1, N)
        alive = ends_before[None, :size, :] == ends_before[:size, None, :]  # [i, j, n]: no episode end in i..j-1
        weights = powers[:size, :size, None] * alive
        local = (weights * rb[None, :, :]).sum(axis=1)
        tail = gamma ** (size - offsets[:size]).astype(r.dtype)  # gamma^(size - i)
        reaches_end = ends_before[size][None, :] == ends_before[:size]  # no episode end in i..size-1
        out[start:end] = local + tail[:, None] * reaches_end * carry[None, :]
        carry = out[start]
    return out[:, 0] if squeeze else out


def standardize(values, epsilon=1e-8):
    """``(values - mean) / (std + epsilon)``: advantages on a common scale (a NumPy array).

    Examples:
        >>> standardize([1.0, 2.0, 3.0]).round(4).tolist()
        [-1.2247, 0.0, 1.2247]
    """
    xp = get_array_module(values)
    values = xp.asarray(values, dtype=numpy.float64 if xp.asarray(values).dtype != numpy.float32 else numpy.float32)
    return (values - values.mean()) / (values.std() + epsilon)


# ------------------------------------------------------ categorical policy
def sample_categorical(probabilities):
    """One sample per row of ``probabilities`` (N, A), by inverse CDF with uniforms from nerve.random.

    Examples:
        >>> import numpy as np, nerve
        >>> nerve.random.seed(0)
        >>> sample_categorical(np.array([[0.0, 1.0], [1.0, 0.0]])).tolist()
        [1, 0]
    """
    p = probabilities.data if isinstance(probabilities, Tensor) else probabilities
    xp = get_array_module(p)
    p = xp.asarray(p)
    if p.ndim != 2:
        raise ValueError(f"sample_categorical: expected probabilities of shape (N, actions), received {tuple(p.shape)}")
    cumulative = xp.cumsum(p, axis=1)
    u = xp.asarray(nerve_random.generator().random((p.shape[0], 1))) * cumulative[:, -1:]
    return xp.minimum((cumulative <= u).sum(axis=1), p.shape[1] - 1).astype(numpy.int64)


class Categorical:
    """A categorical distribution over ``A`` actions per row of ``logits`` (N, A), like ``torch.distributions``.

    ``log_prob`` and ``entropy`` are differentiable Tensors (gradients flow to
    the logits and the network behind them); ``sample`` and ``mode`` give
    integer actions.

    Examples:
        >>> import nerve
        >>> logits = nerve.tensor([[0.0, 1.0, 2.0]], requires_grad=True)
        >>> dist = Categorical(logits)
        >>> [round(p, 3) for p in dist.probs[0].tolist()]
        [0.09, 0.245, 0.665]
        >>> dist.log_prob([2]).sum().backward()
        >>> [round(g, 3) for g in logits.grad[0].tolist()]  # one_hot(2) - probs
        [-0.09, -0.245, 0.335]
    """

    def __init__(self, logits):
        if not isinstance(logits, Tensor):
            logits = Tensor(numpy.asarray(logits, dtype=numpy.float32) if not hasattr(logits, "dtype") else logits)
        if logits.ndim != 2:
            raise ValueError(f"Categorical: expected logits of shape (N, actions), received shape {tuple(logits.shape)}")
        self.logits = logits
        self.log_probs = ops.log_softmax(logits, axis=-1)

    @property
    def num_actions(self):
        return self.logits.shape[1]

    @property
    def probs(self):
        """Action probabilities as an (N, A) array."""
        return self.logits.xp.exp(self.log_probs.data)

    def sample(self):
        """One action per row (an int64 array), drawn with nerve.random."""
        return sample_categorical(self.probs)

    def mode(self):
        """The most probable action per row (greedy)."""
        return self.logits.xp.argmax(self.logits.data, axis=1)

    def log_prob(self, actions):
        """``log pi(a | s)`` of the given actions (N,), a differentiable Tensor of shape (N,)."""
        a = actions.data if isinstance(actions, Tensor) else self.logits.xp.asarray(actions)
        if a.shape != (self.logits.shape[0],):
            raise ValueError(f"Categorical.log_prob: expected {self.logits.shape[0]} actions (shape "
                             f"({self.logits.shape[0]},)), received shape {tuple(a.shape)}")
        mask = ops.one_hot(a, self.num_actions, dtype=self.logits.dtype)
        return ops.sum(self.log_probs * mask, axis=1)

    def entropy(self):
        """``-sum_a pi(a) log pi(a)`` per row, a differentiable Tensor of shape (N,)."""
        return -ops.sum(ops.exp(self.log_probs) * self.log_probs, axis=1)


@builtin_layer
class CategoricalPolicyHead(Layer):
    """The output layer of a discrete policy: a Dense layer giving one logit per action.

    Its kernel starts small (``initial_scale`` times Glorot), so the first
    policy is close to uniform and explores. ``distribution(features)``
    returns a :class:`Categorical`.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> nerve.random.seed(0)
        >>> policy = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8, activation="tanh"),
        ...                            CategoricalPolicyHead(2)])
        >>> policy(np.zeros((3, 4))).shape
        (3, 2)
        >>> Categorical(policy(np.ones((5, 4)))).sample().shape
        (5,)
    """

    min_ndim = 2

    def __init__(self, num_actions, initial_scale=0.01, **kwargs):
        super().__init__(**kwargs)
        if int(num_actions) != num_actions or num_actions < 2:
            raise ValueError(f"CategoricalPolicyHead: num_actions must be an integer >= 2, received {num_actions!r}")
        self.num_actions = int(num_actions)
        self.initial_scale = float(initial_scale)

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight("kernel", (features, self.num_actions), "glorot_uniform")
        self.kernel.data *= self.kernel.dtype.type(self.initial_scale)
        self.bias = self.add_weight("bias", (self.num_actions,), "zeros")

    def call(self, inputs):
        return ops.linear(inputs, self.kernel, self.bias)

    def distribution(self, inputs):
        """The :class:`Categorical` over actions for ``inputs``."""
        return Categorical(self(inputs))

    def get_config(self):
        return {**super().get_config(), "num_actions": self.num_actions, "initial_scale": self.initial_scale}


# ---------------------------------------------------------------- updates
def policy_gradient_loss(logits, actions, advantages, entropy_coef=0.0):
    """The REINFORCE surrogate ``-mean(log pi(a_t | s_t) * A_t) - entropy_coef * mean(H)``, a scalar Tensor.

    Its gradient is the policy-gradient estimate (with a minus sign, for
    minimisation): ``advantages`` (e.g. ``G_t - b(s_t)``) are constants.

    Examples:
        >>> import nerve
        >>> logits = nerve.tensor([[0.0, 0.0]], requires_grad=True)
        >>> policy_gradient_loss(logits, [0], [2.0]).backward()
        >>> logits.grad.tolist()  # -2 * (one_hot(0) - probs)
        [[-1.0, 1.0]]
    """
    dist = logits if isinstance(logits, Categorical) else Categorical(logits)
    adv = advantages.data if isinstance(advantages, Tensor) else dist.logits.xp.asarray(advantages)
    adv = adv.astype(dist.logits.dtype, copy=False)
    if adv.shape != (dist.logits.shape[0],):
        raise ValueError(f"policy_gradient_loss: expected one advantage per action, shape ({dist.logits.shape[0]},), "
                         f"received {tuple(adv.shape)}")
    loss = -ops.mean(dist.log_prob(actions) * Tensor(adv))
    if entropy_coef:
        loss = loss - ops.mean(dist.entropy()) * float(entropy_coef)
    return loss


def policy_gradient_step(policy, optimizer, observations, actions, returns, value_model=None, value_coef=0.5,
                         entropy_coef=0.0, normalize_advantages=True):
    """One policy-gradient update: REINFORCE with a baseline, or advantage actor-critic.

    The advantages are ``returns - V(s)`` with ``value_model`` (a critic
    mapping observations to (N, 1) values, trained in the same step on
    ``value_coef * mean((returns - V(s))^2)``); without it the baseline is the
    batch mean of the returns. With ``normalize_advantages`` they are
    standardised. ``optimizer`` must hold the policy's weights and, when
    given, the value model's. ``returns`` may also be bootstrapped targets
    (actor-critic).

    Returns a dict of floats: ``loss``, ``policy_loss``, ``value_loss``,
    ``entropy``.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> nerve.random.seed(0)
        >>> policy = nerve.Sequential([nerve.Input(shape=(3,)), CategoricalPolicyHead(2)])
        >>> opt = nerve.optimizers.Adam(0.01, params=policy.parameters())
        >>> info = policy_gradient_step(policy, opt, np.ones((4, 3)), [0, 1, 1, 0], [1.0, 2.0, 3.0, 4.0])
        >>> sorted(info)
        ['entropy', 'loss', 'policy_loss', 'value_loss']
    """
    obs = observations if isinstance(observations, Tensor) else numpy.asarray(observations, dtype=numpy.float32)
    returns = numpy.asarray(returns.data if isinstance(returns, Tensor) else returns, dtype=numpy.float64).reshape(-1)
    actions = numpy.asarray(actions.data if isinstance(actions, Tensor) else actions).reshape(-1)
    n = len(obs)
    if len(actions) != n or len(returns) != n:
        raise ValueError(f"policy_gradient_step: expected as many actions and returns as observations ({n}), "
                         f"received {len(actions)} actions and {len(returns)} returns")
    dist = Categorical(policy(obs, training=True))
    value_loss = None
    if value_model is not None:
        values = value_model(obs, training=True)
        if tuple(values.shape) not in ((n,), (n, 1)):
            raise ValueError(f"policy_gradient_step: the value model must output shape ({n}, 1) or ({n},), "
                             f"received {tuple(values.shape)}")
        values = ops.reshape(values, (n,))
        targets = Tensor(values.xp.asarray(returns, dtype=values.dtype))
        value_loss = ops.mean((targets - values) * (targets - values))
        advantages = returns - values.numpy().astype(numpy.float64)
    else:
        advantages = returns - returns.mean()
    if normalize_advantages and n > 1:
        advantages = standardize(advantages)
    policy_loss = policy_gradient_loss(dist, actions, advantages)
    entropy = ops.mean(dist.entropy())
    loss = policy_loss
    if entropy_coef:
        loss = loss - entropy * float(entropy_coef)
    if value_loss is not None:
        loss = loss + value_loss * float(value_coef)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": float(loss.data), "policy_loss": float(policy_loss.data),
            "value_loss": float(value_loss.data) if value_loss is not None else 0.0, "entropy": float(entropy.data)}


# ---------------------------------------------------------------- rollouts
def run_episode(env, policy, greedy=False, seed=None, max_steps=None):
    """Play one episode of a Gymnasium-style ``env`` with a policy model (logits out); returns a dict of arrays.

    Actions are sampled from the policy (``greedy=True``: the most probable
    action) under ``no_grad``, one observation at a time. The result holds
    ``observations`` (T, ...), ``actions`` (T,), ``rewards`` (T,),
    ``terminated`` / ``truncated`` (how it ended), ``final_observation`` and
    ``total_reward``. Use ``observations`` and ``actions`` to recompute the
    log-probabilities in one batch for the update.

    Examples:
        >>> import numpy as np, nerve
        >>> class Coin:  # one step; reward 1 for action 1
        ...     def reset(self, seed=None): return np.zeros(2, dtype="float32"), {}
        ...     def step(self, action): return np.zeros(2, dtype="float32"), float(action), True, False, {}
        >>> policy = nerve.Sequential([nerve.Input(shape=(2,)), CategoricalPolicyHead(2)])
        >>> episode = run_episode(Coin(), policy, seed=0)
        >>> episode["observations"].shape, len(episode["rewards"]), episode["terminated"]
        ((1, 2), 1, True)
    """
    obs, _ = env.reset(seed=seed) if seed is not None else env.reset()
    observations, actions, rewards = [], [], []
    terminated = truncated = False
    with no_grad():
        while not (terminated or truncated):
            if max_steps is not None and len(actions) >= max_steps:
                truncated = True
                break
            array = numpy.asarray(obs, dtype=numpy.float32)
            logits = policy(array[None], training=False)
            dist = Categorical(logits)
            action = int(dist.mode()[0] if greedy else dist.sample()[0])
            observations.append(array)
            actions.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
    return {"observations": numpy.stack(observations) if observations else numpy.zeros((0,)),
            "actions": numpy.asarray(actions, dtype=numpy.int64), "rewards": numpy.asarray(rewards),
            "terminated": bool(terminated), "truncated": bool(truncated),
            "final_observation": numpy.asarray(obs, dtype=numpy.float32), "total_reward": float(sum(rewards))}
