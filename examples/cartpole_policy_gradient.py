"""An agent that learns from reward: REINFORCE with a learned baseline on CartPole-v1.

CartPole: push a cart left or right to keep a pole upright; +1 reward per
step, at most 500 steps per episode. The task counts as solved when the
average return over 100 consecutive episodes reaches 475.

The agent (all pieces from :mod:`nerve.rl`):

* policy: 4 -> Dense 64 tanh -> 2 logits (``CategoricalPolicyHead``); actions
  are sampled from the softmax (``run_episode``);
* baseline: a value network 4 -> Dense 64 tanh -> 1, fitted to the returns;
* after every 4 episodes, one update (``policy_gradient_step``) on all their
  steps: returns ``G_t`` with gamma = 0.99 (``discounted_returns``; episodes
  cut off at 500 steps are bootstrapped with ``V(s_500)``), advantages ``G_t
  - V(s_t)`` standardised, loss ``-mean(log pi(a_t|s_t) A_t) + 0.5 *
  mean((G_t - V(s_t))^2)``, Adam with learning rate 3e-3.

Budget: at most 2,000 episodes (``--max-episodes``); the run stops as soon as
the last 100 training episodes average >= 475 and prints how many episodes
and seconds it took. Then the learned policy is evaluated greedily for 100
more episodes. Measured (``--seeds 0 1 2``, 2 shared CPU cores): solved after
708, 636 and 733 episodes, in 57, 60 and 68 seconds; the greedy policies then
averaged 500.0, 499.8 and 500.0 over 100 new episodes.

Needs gymnasium: ``pip install nerve[rl]`` (and ``nerve[plot]`` for the PNG
learning curve).

Run:
    python examples/cartpole_policy_gradient.py              # seed 0
    python examples/cartpole_policy_gradient.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import nerve
from nerve import layers
from nerve.rl import CategoricalPolicyHead, discounted_returns, policy_gradient_step, run_episode

SOLVED_AVERAGE = 475.0
WINDOW = 100


def make_env():
    try:
        import gymnasium
    except ImportError:
        sys.exit("this example needs gymnasium: pip install 'nerve[rl]' (or pip install 'gymnasium>=0.29')")
    return gymnasium.make("CartPole-v1")


def train(seed, max_episodes=2000, batch_episodes=4, learning_rate=3e-3, gamma=0.99, hidden=64, report_every=50):
    """Train until solved or out of budget; returns (episode returns, episode where solved or None, seconds)."""
    nerve.random.seed(seed)
    env = make_env()
    policy = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(hidden, activation="tanh"),
                               CategoricalPolicyHead(2)], name="policy")
    value = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(hidden, activation="tanh"), layers.Dense(1)],
                             name="value")
    optimizer = nerve.optimizers.Adam(learning_rate, params=policy.parameters() + value.parameters())
    returns, batch, solved_at = [], [], None
    start = time.perf_counter()
    print(f"seed {seed}: learning curve (mean return of the last {report_every} episodes)")
    for episode in range(1, max_episodes + 1):
        played = run_episode(env, policy, seed=seed * 100_000 + episode)
        returns.append(played["total_reward"])
        bootstrap = 0.0
        if played["truncated"]:  # cut off by the time limit, not failed: the future is worth V(s_T)
            with nerve.no_grad():
                bootstrap = float(value(played["final_observation"][None]).item())
        played["returns"] = discounted_returns(played["rewards"], gamma, bootstrap=bootstrap)
        batch.append(played)
        if len(batch) == batch_episodes:
            policy_gradient_step(policy, optimizer,
                                 np.concatenate([b["observations"] for b in batch]),
                                 np.concatenate([b["actions"] for b in batch]),
                                 np.concatenate([b["returns"] for b in batch]), value_model=value)
            batch = []
        if episode % report_every == 0:
            recent = np.mean(returns[-report_every:])
            bar = "#" * int(recent / 10)
            print(f"  episode {episode:5d}  {recent:6.1f}  {bar}  [{time.perf_counter() - start:.0f}s]", flush=True)
        if len(returns) >= WINDOW and np.mean(returns[-WINDOW:]) >= SOLVED_AVERAGE:
            solved_at = episode
            break
    seconds = time.perf_counter() - start
    return returns, solved_at, seconds, policy, env


def evaluate(policy, env, episodes, seed):
    return [run_episode(env, policy, greedy=True, seed=10_000_000 + seed * 1000 + i)["total_reward"]
            for i in range(episodes)]


def moving_average(returns, window=WINDOW):
    """Mean of the last ``window`` returns at every episode (of all of them before episode ``window``).

    Defined for runs of any length: a 30-episode run gets 30 points, the first ones averaging fewer episodes.
    """
    returns = np.asarray(returns, dtype=float)
    totals = np.concatenate([[0.0], np.cumsum(returns)])
    ends = np.arange(1, len(returns) + 1)
    starts = np.maximum(ends - window, 0)
    return (totals[ends] - totals[starts]) / (ends - starts)


def plot(curves, outdir):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install nerve[plot]): skipping the learning-curve PNG")
        return
    os.makedirs(outdir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for seed, returns in curves.items():
        returns = np.asarray(returns, dtype=float)
        episodes = np.arange(1, len(returns) + 1)
        line, = ax.plot(episodes, moving_average(returns), label=f"seed {seed}: mean of last {WINDOW}")
        ax.plot(episodes, returns, alpha=0.2, color=line.get_color())
    ax.axhline(SOLVED_AVERAGE, color="k", linestyle="--", linewidth=1, label="solved (475)")
    ax.set_xlabel("episode"), ax.set_ylabel("return")
    ax.set_title("REINFORCE with a value baseline on CartPole-v1 (nerve)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = os.path.join(outdir, "cartpole_learning_curve.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"learning curve: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-episodes", type=int, default=2000, help="training budget per seed")
    parser.add_argument("--eval-episodes", type=int, default=100, help="greedy evaluation episodes after training")
    parser.add_argument("--outdir", default=os.path.join("runs", "cartpole"))
    args = parser.parse_args(argv)
    curves, results = {}, []
    for seed in args.seeds:
        returns, solved_at, seconds, policy, env = train(seed, args.max_episodes)
        curves[seed] = returns
        if solved_at is None:
            print(f"seed {seed}: NOT solved within {args.max_episodes} episodes ({seconds:.0f}s); "
                  f"last {min(WINDOW, len(returns))} average {np.mean(returns[-WINDOW:]):.1f}")
        else:
            print(f"seed {seed}: solved after {solved_at} episodes (episodes {solved_at - WINDOW + 1}-{solved_at} "
                  f"average {np.mean(returns[-WINDOW:]):.1f} >= {SOLVED_AVERAGE:.0f}) in {seconds:.0f}s")
        if args.eval_episodes:
            greedy = evaluate(policy, env, args.eval_episodes, seed)
            print(f"seed {seed}: greedy policy over {args.eval_episodes} new episodes: mean return "
                  f"{np.mean(greedy):.1f} (min {min(greedy):.0f})")
        results.append(solved_at)
    plot(curves, args.outdir)
    if any(r is None for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
