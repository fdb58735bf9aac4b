"""The CartPole example draws its learning curve for runs of any length (it crashed below 100 episodes)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_example():
    spec = importlib.util.spec_from_file_location("cartpole_example", ROOT / "examples" / "cartpole_policy_gradient.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_moving_average_for_short_and_long_runs():
    example = load_example()
    returns = np.arange(1.0, 151.0)
    moving = example.moving_average(returns, window=100)
    assert moving.shape == (150,)
    assert moving[0] == 1.0 and moving[29] == np.mean(returns[:30])           # fewer than 100 episodes so far
    assert moving[99] == np.mean(returns[:100]) and moving[149] == np.mean(returns[50:])  # full windows
    np.testing.assert_allclose(example.moving_average(returns[:30], window=100), np.cumsum(returns[:30]) / np.arange(1, 31))
    assert example.moving_average([], window=100).shape == (0,)


def test_plot_with_fewer_episodes_than_the_window(tmp_path):
    pytest.importorskip("matplotlib")
    example = load_example()
    example.plot({0: list(np.linspace(10, 40, 30)), 1: [12.0]}, str(tmp_path))
    assert (tmp_path / "cartpole_learning_curve.png").stat().st_size > 0


def test_thirty_episodes_run_to_the_end(tmp_path):
    pytest.importorskip("gymnasium")
    pytest.importorskip("matplotlib")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "cartpole_policy_gradient.py"), "--max-episodes",
                             "30", "--eval-episodes", "1", "--outdir", str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1  # not solved in 30 episodes: the example says so with its exit status
    assert "NOT solved within 30 episodes" in result.stdout and "last 30 average" in result.stdout
    assert (tmp_path / "cartpole_learning_curve.png").stat().st_size > 0
