"""Four Keras 3 programs in examples/ run on nerve with only ``import nerve as keras`` changed (issue 18)."""

import pathlib
import re

from test_examples import run_example  # the same subprocess runner as the other examples

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_examples_import_nerve_as_keras():
    for name in ("keras_two_inputs.py", "keras_custom_train_step.py", "keras_feature_extractor.py",
                 "keras_custom_loop.py"):
        source = (ROOT / "examples" / name).read_text()
        assert "import nerve as keras" in source and "nerve." not in source.replace("import nerve as keras", "")


def test_two_inputs_concatenate():
    out = run_example("keras_two_inputs.py", "--epochs", "8")
    first, last = map(float, re.search(r"department accuracy: first epoch ([\d.]+), last epoch ([\d.]+)", out).groups())
    assert last > first and "concatenate (Concatenate)" in out
    assert "priority (3, 1), department (3, 4)" in out


def test_custom_train_step_saved_and_reloaded():
    out = run_example("keras_custom_train_step.py", "--epochs", "10")
    first = float(re.search(r"first epoch: loss ([\d.]+)", out).group(1))
    last = float(re.search(r"last epoch: loss ([\d.]+)", out).group(1))
    assert last < first / 10
    assert "reloaded CustomModel: same predictions True" in out


def test_feature_extractor_from_layer_output():
    out = run_example("keras_feature_extractor.py", "--epochs", "10")
    assert float(re.search(r"classifier accuracy ([\d.]+)", out).group(1)) > 0.9
    assert "feature shapes: [(4, 32), (4, 16), (4, 3)]" in out and "embeddings (900, 16)" in out
    assert "frozen features unchanged True" in out


def test_custom_training_loop_with_apply_gradients():
    out = run_example("keras_custom_loop.py", "--epochs", "3")
    accuracies = [float(v) for v in re.findall(r"val acc ([\d.]+)", out)]
    assert len(accuracies) == 3 and accuracies[-1] > 0.8
