"""nerve's coverage of Keras 3's public names (scripts/keras_coverage.py) must not drop (issue 18)."""

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "keras_coverage.py"

#: names nerve had per namespace when this floor was last raised; raise it when you add names
FLOORS = {
    "layers": 120, "losses": 44, "metrics": 63, "optimizers": 20, "optimizers.schedules": 9, "callbacks": 14,
    "activations": 34, "initializers": 36, "regularizers": 12, "constraints": 12, "utils": 26, "backend": 14,
    "models": 6, "ops": 117, "random": 11, "saving": 8, "config": 12, "Model methods": 52,
}


def _script():
    spec = importlib.util.spec_from_file_location("keras_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_coverage_does_not_drop():
    table = _script().coverage()
    dropped = {ns: (table[ns][0], floor) for ns, floor in FLOORS.items() if table[ns][0] < floor}
    assert not dropped, f"Keras names nerve lost (now, before): {dropped}"


def test_not_applicable_names_exist_in_keras_and_say_why():
    script = _script()
    api, version = script.load_api()
    assert version.startswith("3.")
    for (namespace, name), reason in script.NOT_APPLICABLE.items():
        assert name in api[namespace], (namespace, name)
        assert len(reason) > 10


def test_script_prints_a_table(capsys):
    _script().main(["--missing"])
    out = capsys.readouterr().out
    assert "layers" in out and "missing:" in out and "all" in out
