"""The examples added for the lectures' missing concepts run end to end (short settings, in subprocesses)."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_example(name, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                            env=env, timeout=timeout, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_perceptron_example(tmp_path):
    out = run_example("perceptron.py", "--outdir", str(tmp_path))
    rows = dict(re.findall(r"^(AND|OR|2-D cloud|XOR)\s.*\s\s(converged|cycles|not converged)\b", out, flags=re.M))
    assert rows == {"AND": "converged", "OR": "converged", "2-D cloud": "converged", "XOR": "cycles"}
    assert "on XOR after 500 Adam steps: accuracy 100%" in out
    if "matplotlib is not installed" not in out:
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "perceptron_2-d_cloud.png", "perceptron_and.png", "perceptron_or.png", "perceptron_xor.png"]


def test_spoken_digits_example_on_synthetic_speech():
    out = run_example("spoken_digits.py", "--synthetic", "--train", "300", "--test", "100", "--epochs", "3")
    assert "synthetic speech: 300 training and 100 test recordings" in out and "MFCC features (13, 32)" in out
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert accuracy > 40  # chance is 10%; 82% measured with these settings


def test_ctc_example_reads_digit_sequences():
    out = run_example("ctc_tones.py", "--train", "800", "--test", "100", "--epochs", "4")
    first, last = map(float, re.search(r"CTC loss per epoch: ([\d.]+) -> ([\d.]+)", out).groups())
    assert last < first / 3
    exact = float(re.search(r"([\d.]+)% of the sequences read exactly", out).group(1))
    assert exact > 30


def test_data_size_curves_example(tmp_path):
    out = run_example("data_size_curves.py", "--sizes", "100", "400", "--epochs-cap", "3", "--outdir", str(tmp_path))
    rows = re.findall(r"^\s*(\d+)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%", out, flags=re.M)
    assert [int(r[0]) for r in rows] == [100, 400]
    assert all(0.3 < float(v) / 100 <= 1 for row in rows for v in row[1:])
    assert "gain from 100 to 400 training images" in out


def test_universal_approximation_example(tmp_path):
    out = run_example("universal_approximation.py", "--staircase-widths", "8", "64", "--trained-widths", "2", "16",
                      "--steps", "400", "--outdir", str(tmp_path))
    staircase = [float(v) for v in re.findall(r"staircase of\s+\d+ sigmoid units .*worst error ([\d.]+)", out)]
    assert len(staircase) == 2 and staircase[1] < staircase[0] / 4  # 8x the units, well under a quarter the error


def test_cnn_features_example(tmp_path):
    out = run_example("cnn_features.py", "--train", "300", "--epochs", "1", "--outdir", str(tmp_path))
    probes = [float(v) for v in re.findall(r"^\s+(?:pixels|conv \d \+ pool|dense \d+)\s+([\d.]+)%", out, flags=re.M)]
    assert len(probes) == 5 and all(30 < p <= 100 for p in probes)
