"""Reinforcement-learning pieces (nerve.rl), without gymnasium.

Returns are compared with the textbook backward recursion written out by
hand; log-probabilities, entropies and the policy-gradient loss with
closed-form gradients and central differences (float64); and the whole
REINFORCE-with-baseline loop has to learn a tiny hand-written environment.
"""

import numpy as np
import pytest

import nerve
from nerve import layers
from nerve.gradcheck import check_gradients
from nerve.rl import (
    Categorical, CategoricalPolicyHead, discounted_returns, policy_gradient_loss, policy_gradient_step, run_episode,
    sample_categorical, standardize,
)


def returns_by_hand(rewards, gamma, dones=None, bootstrap=0.0):
    out, running = np.zeros(len(rewards)), bootstrap
    for t in reversed(range(len(rewards))):
        if dones is not None and dones[t]:
            running = 0.0
        running = rewards[t] + gamma * running
        out[t] = running
    return out


# ------------------------------------------------------------------ returns
def test_discounted_returns_small_hand_computation():
    # G_2 = 3, G_1 = 2 + 0.5 * 3 = 3.5, G_0 = 1 + 0.5 * 3.5 = 2.75
    assert discounted_returns([1.0, 2.0, 3.0], gamma=0.5).tolist() == [2.75, 3.5, 3.0]
    # the episode ends after step 1: G_1 = 2, G_0 = 1 + 0.5 * 2; a new episode starts at step 2, bootstrapped with 4
    assert discounted_returns([1.0, 2.0, 3.0], gamma=0.5, dones=[0, 1, 0], bootstrap=4.0).tolist() == [2.0, 2.0, 5.0]
    assert discounted_returns([1.0, 1.0], gamma=0.0).tolist() == [1.0, 1.0]
    assert discounted_returns([1.0, 1.0, 1.0], gamma=1.0).tolist() == [3.0, 2.0, 1.0]


@pytest.mark.parametrize("steps", [1, 7, 64, 65, 500, 1333])
def test_discounted_returns_match_the_recursion_across_blocks(steps):
    rng = np.random.default_rng(steps)
    rewards = rng.normal(size=steps)
    dones = rng.random(steps) < 0.05
    np.testing.assert_allclose(discounted_returns(rewards, 0.97), returns_by_hand(rewards, 0.97), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(discounted_returns(rewards, 0.9, dones=dones, bootstrap=2.5),
                               returns_by_hand(rewards, 0.9, dones, 2.5), rtol=1e-12, atol=1e-12)


def test_discounted_returns_for_parallel_environments():
    rng = np.random.default_rng(0)
    rewards = rng.normal(size=(150, 3))
    dones = rng.random((150, 3)) < 0.1
    bootstrap = np.array([1.0, -2.0, 0.5])
    out = discounted_returns(rewards, 0.95, dones=dones, bootstrap=bootstrap)
    assert out.shape == (150, 3)
    for n in range(3):
        np.testing.assert_allclose(out[:, n], returns_by_hand(rewards[:, n], 0.95, dones[:, n], bootstrap[n]), rtol=1e-12)
    assert discounted_returns(rewards.astype(np.float32), 0.9).dtype == np.float32


def test_discounted_returns_errors():
    with pytest.raises(ValueError, match="gamma must be in"):
        discounted_returns([1.0], gamma=1.5)
    with pytest.raises(ValueError, match=r"dones must have the shape of rewards \(3,\), received \(2,\)"):
        discounted_returns([1.0, 2.0, 3.0], dones=[0, 1])
    with pytest.raises(ValueError, match=r"shape \(T,\) or \(T, N\)"):
        discounted_returns(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="bootstrap"):
        discounted_returns(np.zeros((4, 2)), bootstrap=[1.0, 2.0, 3.0])


def test_standardize():
    out = standardize([1.0, 2.0, 3.0, 6.0])
    assert out.mean() == pytest.approx(0.0, abs=1e-12) and out.std() == pytest.approx(1.0, rel=1e-6)


# --------------------------------------------------------------- the policy
def test_log_prob_and_entropy_values():
    logits = np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]])
    dist = Categorical(nerve.tensor(logits))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(dist.probs, probs, rtol=1e-12)
    np.testing.assert_allclose(dist.log_prob([2, 1]).numpy(), np.log(probs[[0, 1], [2, 1]]), rtol=1e-12)
    np.testing.assert_allclose(dist.entropy().numpy(), -(probs * np.log(probs)).sum(1), rtol=1e-12)
    assert dist.mode().tolist() == [2, 0]
    with pytest.raises(ValueError, match=r"expected 2 actions \(shape \(2,\)\), received shape \(3,\)"):
        dist.log_prob([0, 1, 2])
    with pytest.raises(ValueError, match=r"expected logits of shape \(N, actions\)"):
        Categorical(nerve.tensor([1.0, 2.0]))


def test_log_prob_gradient_closed_form_and_finite_differences(randn):
    logits = randn(5, 4)
    actions = np.array([0, 3, 1, 1, 2])
    Categorical(logits).log_prob(actions).sum().backward()
    probs = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    np.testing.assert_allclose(logits.grad.numpy(), np.eye(4)[actions] - probs, rtol=1e-10, atol=1e-12)
    logits.grad = None
    assert check_gradients(lambda z: Categorical(z).log_prob(actions), [logits])
    assert check_gradients(lambda z: Categorical(z).entropy(), [logits])


def test_policy_log_prob_gradient_through_a_network(randn):
    nerve.random.seed(0)
    policy = nerve.Sequential([nerve.Input(shape=(3,), dtype="float64"), layers.Dense(4, activation="tanh"),
                               CategoricalPolicyHead(3, initial_scale=1.0)])
    obs = randn(6, 3)
    actions = np.array([0, 1, 2, 2, 1, 0])
    advantages = np.array([1.0, -0.5, 2.0, 0.3, -1.2, 0.7])
    assert policy.layers[-1].kernel.dtype == np.float64
    assert check_gradients(lambda x, *w: Categorical(policy(x)).log_prob(actions), [obs] + policy.trainable_weights)
    assert check_gradients(lambda x, *w: policy_gradient_loss(policy(x), actions, advantages, entropy_coef=0.1),
                           [obs] + policy.trainable_weights)


def test_policy_gradient_loss_is_the_reinforce_estimate():
    logits = nerve.tensor(np.array([[0.2, -0.3], [1.0, 0.5], [0.0, 0.0]]), requires_grad=True)
    actions, advantages = np.array([1, 0, 0]), np.array([2.0, -1.0, 0.5])
    loss = policy_gradient_loss(logits, actions, advantages)
    probs = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    expected_value = -np.mean(np.log(probs[np.arange(3), actions]) * advantages)
    assert loss.item() == pytest.approx(expected_value, rel=1e-12)
    loss.backward()
    expected_grad = -(np.eye(2)[actions] - probs) * advantages[:, None] / 3
    np.testing.assert_allclose(logits.grad.numpy(), expected_grad, rtol=1e-12)
    with pytest.raises(ValueError, match=r"one advantage per action, shape \(3,\), received \(2,\)"):
        policy_gradient_loss(logits, actions, advantages[:2])


def test_sampling_follows_the_probabilities_and_is_seeded():
    probs = np.array([[0.2, 0.5, 0.3]] * 20000)
    nerve.random.seed(0)
    samples = sample_categorical(probs)
    np.testing.assert_allclose(np.bincount(samples, minlength=3) / len(samples), [0.2, 0.5, 0.3], atol=0.01)
    nerve.random.seed(0)
    assert (sample_categorical(probs) == samples).all()
    assert sample_categorical(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])).tolist() == [2, 0]
    dist = Categorical(nerve.tensor(np.log(probs[:5])))
    assert dist.sample().shape == (5,)


def test_policy_head_layer():
    nerve.random.seed(0)
    head = CategoricalPolicyHead(3, initial_scale=0.01)
    logits = head(np.ones((4, 8)))
    assert logits.shape == (4, 3)
    assert np.abs(logits.numpy()).max() < 0.1  # near-uniform start
    assert head.distribution(np.ones((2, 8))).probs.shape == (2, 3)
    assert CategoricalPolicyHead.from_config(head.get_config()).num_actions == 3
    with pytest.raises(ValueError, match="num_actions must be an integer >= 2"):
        CategoricalPolicyHead(1)


# ------------------------------------------------------- a tiny environment
class Corridor:
    """A hand-written environment with the Gymnasium API: walk right along 5 cells to the goal.

    Observation: one-hot position. Actions: 0 = left, 1 = right. Reward -0.1
    per step, +1 at the goal (terminated); truncated after 20 steps.
    """

    size = 5

    def reset(self, seed=None):
        self.position, self.steps = 0, 0
        return self._obs(), {}

    def _obs(self):
        return np.eye(self.size, dtype=np.float32)[self.position]

    def step(self, action):
        self.position = min(self.size - 1, max(0, self.position + (1 if action == 1 else -1)))
        self.steps += 1
        terminated = self.position == self.size - 1
        reward = 1.0 if terminated else -0.1
        return self._obs(), reward, terminated, self.steps >= 20 and not terminated, {}


def test_run_episode_on_a_hand_written_environment():
    nerve.random.seed(0)
    policy = nerve.Sequential([nerve.Input(shape=(5,)), CategoricalPolicyHead(2)])
    episode = run_episode(Corridor(), policy)
    n = len(episode["actions"])
    assert episode["observations"].shape == (n, 5) and episode["rewards"].shape == (n,)
    assert episode["terminated"] != episode["truncated"]
    assert episode["total_reward"] == pytest.approx(episode["rewards"].sum())
    assert len(run_episode(Corridor(), policy, max_steps=3)["actions"]) <= 3


@pytest.mark.parametrize("with_critic", [False, True])
def test_reinforce_with_baseline_learns_the_corridor(with_critic):
    nerve.random.seed(0)
    env = Corridor()
    policy = nerve.Sequential([nerve.Input(shape=(5,)), CategoricalPolicyHead(2)])
    params = policy.parameters()
    value = None
    if with_critic:
        value = nerve.Sequential([nerve.Input(shape=(5,)), layers.Dense(1)])
        params = params + value.parameters()
    optimizer = nerve.optimizers.Adam(0.05, params=params)
    for _ in range(40):
        episodes = [run_episode(env, policy) for _ in range(4)]
        returns = np.concatenate([discounted_returns(e["rewards"], 0.9) for e in episodes])
        info = policy_gradient_step(policy, optimizer, np.concatenate([e["observations"] for e in episodes]),
                                    np.concatenate([e["actions"] for e in episodes]), returns, value_model=value)
    assert set(info) == {"loss", "policy_loss", "value_loss", "entropy"}
    greedy = run_episode(env, policy, greedy=True)
    assert greedy["terminated"] and len(greedy["actions"]) == 4  # straight to the goal
    assert Categorical(policy(np.eye(5, dtype=np.float32)[:4])).probs[:, 1].min() > 0.8


def test_policy_gradient_step_errors():
    policy = nerve.Sequential([nerve.Input(shape=(2,)), CategoricalPolicyHead(2)])
    optimizer = nerve.optimizers.SGD(0.1, params=policy.parameters())
    with pytest.raises(ValueError, match=r"as many actions and returns as observations \(3\), received 2 actions"):
        policy_gradient_step(policy, optimizer, np.zeros((3, 2)), [0, 1], [1.0, 2.0, 3.0])
    value = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(2)])
    with pytest.raises(ValueError, match=r"value model must output shape \(3, 1\)"):
        policy_gradient_step(policy, optimizer, np.zeros((3, 2)), [0, 1, 1], [1.0, 2.0, 3.0], value_model=value)


def test_cartpole_smoke_with_gymnasium():
    gymnasium = pytest.importorskip("gymnasium")
    env = gymnasium.make("CartPole-v1")
    nerve.random.seed(0)
    policy = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(8, activation="tanh"), CategoricalPolicyHead(2)])
    episode = run_episode(env, policy, seed=0)
    assert episode["observations"].shape[1] == 4 and episode["total_reward"] == len(episode["actions"])
