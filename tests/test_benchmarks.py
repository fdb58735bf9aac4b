"""The GPU benchmark script runs (on the CPU, quick settings) and prints one row per model; no timing is asserted."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_bench_gpu_smoke_run_on_the_cpu():
    pytest.importorskip("torch")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "bench_gpu.py", "--device", "cpu", "--quick", "--rounds", "1",
                             "--only", "lenet", "gru", "transformer"], capture_output=True, text=True, env=env,
                            cwd=ROOT / "benchmarks", timeout=600)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^(lenet|gru|transformer)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+-$", result.stdout, re.M)
    assert [row[0] for row in rows] == ["lenet", "gru", "transformer"]
    for _, nerve_ms, torch_ms, ratio, nerve_mib in rows:
        assert abs(float(ratio) - float(nerve_ms) / float(torch_ms)) < 0.01 + 0.01 * float(ratio)
        assert float(nerve_mib) > 0
