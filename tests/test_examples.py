"""The lecture examples run end to end (short settings, in subprocesses), and the quickstart works."""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy
import pytest

import nerve
import nerve.cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_example(name, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], capture_output=True, text=True,
                            env=env, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_house_prices():
    out = run_example("house_prices.py", "--epochs", "3")
    assert "Total params: 26,201" in out  # 4 -> 200 -> 100 -> 50 -> 1
    rmse, mae = map(float, re.search(r"test RMSE ([\d.]+)k, test MAE ([\d.]+)k", out).groups())
    assert 0 < mae < rmse < 100  # far below the 169k of predicting the mean, even after 3 epochs


def test_flight_delays():
    out = run_example("flight_delays.py", "--epochs", "3")
    accuracy = float(re.search(r"test accuracy ([\d.]+)%", out).group(1))
    assert accuracy > 70
    rows = re.findall(r"^\s*(-?\d+)\s+(\d+)\s+([\d.]+)\s+\(([\d.]+)\)$", out, flags=re.M)
    assert [(int(t), int(w)) for t, w, _, _ in rows] == [(-20, 45), (80, 0), (4, 15), (45, 60)]
    assert all(0 <= float(p) <= 1 for _, _, p, _ in rows)


def test_xor_learns():
    out = run_example("xor.py")
    assert "2000 gradient-descent steps" in out
    predictions = [float(p) for p in re.findall(r"^\s*[01]\s+[01]\s+[01]\s+([\d.]+)$", out, flags=re.M)]
    assert len(predictions) == 4
    assert predictions[0] < 0.1 and predictions[1] > 0.9 and predictions[2] > 0.9 and predictions[3] < 0.1
    assert "accuracy 100%" in out


def test_digits_mlp_quick():
    out = run_example("digits_mlp.py", "--quick")
    baseline = float(re.search(r"nerve 784-128-64-10, 1 epochs on 1000 digits\s+test accuracy ([\d.]+)%", out).group(1))
    assert baseline > 50
    assert "shifts + dropout 0.2" in out
    assert len(re.findall(r"test accuracy [\d.]+%", out)) == 2


def test_random_shift_moves_whole_images():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import digits_mlp
    finally:
        sys.path.pop(0)
    image = numpy.zeros((28, 28), "float32")
    image[10:14, 12:15] = 1.0
    nerve.random.seed(0)
    batch = numpy.stack([image] * 50).reshape(50, 784)
    shifted = digits_mlp.random_shift(batch).reshape(50, 28, 28)
    offsets = set()
    for out in shifted:
        rows, cols = numpy.nonzero(out)
        assert out.sum() == image.sum()  # the blob moved, nothing was lost (it is away from the border)
        offsets.add((rows.min() - 10, cols.min() - 12))
    assert offsets <= {(dr, dc) for dr in range(-2, 3) for dc in range(-2, 3)}
    assert len(offsets) > 10


# ------------------------------------------------------ data-parallel digits
def _distributed_digits_result(out, processes):
    assert f"{processes} process{'es' if processes > 1 else ''}: global batch 128" in out
    assert out.count("Epoch 1/1") == 1  # only rank 0 prints the progress
    assert re.search(r"[\d,]+ samples/s on " + str(processes), out)
    return float(re.search(r"test accuracy ([\d.]+)%", out).group(1))


def test_distributed_digits_on_one_process_without_mpiexec():
    out = run_example("distributed_digits.py", "--epochs", "1")
    assert _distributed_digits_result(out, 1) > 80  # 84.0% measured (seed 0, Adam 1e-3, 32 steps of 128)


def test_distributed_digits_on_two_processes():
    mpiexec = shutil.which("mpiexec")
    pytest.importorskip("mpi4py", reason="MPI is not installed: pip install \"nerve[mpi]\"")
    if mpiexec is None:
        pytest.skip("mpiexec not found: pip install \"nerve[mpi]\"")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [mpiexec, "-n", "2", sys.executable, str(ROOT / "examples" / "distributed_digits.py"), "--epochs", "1"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert _distributed_digits_result(result.stdout, 2) > 80  # the same 84.0% as one process


# ---------------------------------------------------------------- quickstart
def test_quickstart_function(tmp_path):
    path = tmp_path / "m.nerve"
    accuracy = nerve.cli.quickstart(epochs=1, output=path, verbose=0)
    assert accuracy > 0.8
    model = nerve.load_model(path)
    (_, _), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    _, again = model.evaluate(x_test, y_test, verbose=0)
    assert again == pytest.approx(accuracy)


def test_quickstart_console_entry_point(tmp_path, capsys):
    path = tmp_path / "cli.nerve"
    assert nerve.cli.main(["quickstart", "--epochs", "1", "--output", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy \d+\.\d+%", out)
    assert "Epoch 1/1" in out and "Total params: 109,386" in out
    assert nerve.load_model(path).count_params() == 109386


def test_cli_without_command_prints_help(capsys):
    assert nerve.cli.main([]) == 1
    assert "quickstart" in capsys.readouterr().out


# ------------------------------------------------------ attention and Transformers
def test_date_translation_quick():
    out = run_example("date_translation.py", "--quick")
    accuracy = float(re.search(r"Transformer: exact match ([\d.]+)% on 200 held-out dates", out).group(1))
    assert accuracy >= 10  # 32% after the quick run's 4 epochs on 3000 pairs; the full run reaches > 95%
    assert len(re.findall(r"-> \d{4}-\d\d-\d\d", out)) == 5


def test_text_classification_quick():
    out = run_example("text_classification.py", "--quick")
    bag = float(re.search(r"bag of words .* held-out accuracy ([\d.]+)%", out).group(1))
    transformer = float(re.search(r"Transformer encoder .* held-out accuracy ([\d.]+)%", out).group(1))
    assert bag > 55 and transformer > 55


def test_char_lm_one_epoch():
    """The LSTM language model reads the bundled sonnets, learns in one epoch and writes after its prompt."""
    out = run_example("char_lm.py", "--epochs", "1", "--length", "40")
    assert "95645 characters, vocabulary of 63" in out  # the whole 154 sonnets
    train, held_out, uniform = map(float, re.search(
        r"bits per character: train ([\d.]+), held-out ([\d.]+) \(uniform guess ([\d.]+)\)", out).groups())
    assert held_out < uniform - 1 and train < uniform - 1  # one epoch is far better than guessing
    generated = out.split("---\n")[-1]
    assert generated.startswith("Shall I ") and len(generated) == len("Shall I ") + 40 + 1  # + print's newline


def test_char_gpt_quick():
    out = run_example("char_gpt.py", "--quick")
    bits, uniform = map(float, re.search(r"held-out ([\d.]+) bits per character \(uniform guess ([\d.]+)\)",
                                         out).groups())
    assert bits < uniform
    assert out.rstrip().splitlines()[-1]  # generated text


def test_attention_maps_quick(tmp_path):
    out = run_example("attention_maps.py", "--quick", "--out", str(tmp_path / "maps.png"))
    assert "attention maps: 3 sentences, 4 heads averaged" in out
    weights = [float(w) for w in re.findall(r"looks most at .* weight ([\d.]+)\)", out)]
    assert len(weights) >= 20 and all(0 < w <= 1 for w in weights)


def test_mixed_precision_digits_quick():
    out = run_example("mixed_precision_digits.py", "--quick")
    rows = re.findall(r"float32 test accuracy ([\d.]+)%.*mixed_float16 ([\d.]+)%.*difference ([-+\d.]+) points", out)
    assert len(rows) == 2  # the MLP and LeNet-5
    for float32, mixed, difference in rows:
        assert float(float32) > 50 and float(mixed) > 50
        assert abs(float(mixed) - float(float32) - float(difference)) < 0.011
