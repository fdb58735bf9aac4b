"""The run recorder and the HTML report, checked on disk and in a real headless browser (Chromium).

The browser test needs Chromium (Debian: ``apt-get install -y chromium``); it is skipped, saying so, when none is
installed. It loads the page from a file with the network off, then reads back from the DOM (``--dump-dom``) what a
small script injected into a copy of the page recorded: every image's natural size and any error event.
"""

import html
import json
import os
import re
import shutil
import subprocess
import sys

import numpy
import pytest

import nerve
from nerve import diagnostics, layers
from nerve.cli import main as cli_main

RUN_IMAGES = ["learning curves", "gradient norms per layer", "confusion matrix", "explained predictions (saliency)",
              "learning-rate range test"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A small digit classifier trained for 3 epochs with a RunRecorder and an LR range test."""
    pytest.importorskip("matplotlib")
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    x_train, y_train, x_val, y_val = x_train[:600], y_train[:600], x_test[:200], y_test[:200]
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(784,)), layers.Dense(32, activation="relu", name="hidden"),
                              layers.Dense(10, name="logits")], name="digits <mlp>")
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    run_dir = tmp_path_factory.mktemp("runs") / "digits"
    recorder = diagnostics.RunRecorder(run_dir, validation_data=(x_val, y_val), hyperparameters={"batch_size": 64},
                                       explain=4, verbose=0)
    recorder.log_lr_finder(model.find_lr(x_train, y_train, num_steps=40, batch_size=64))
    history = model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0, validation_data=(x_val, y_val),
                        callbacks=[recorder])
    return run_dir, recorder, history, model


def test_the_run_folder_holds_the_run(digits_run):
    run_dir, recorder, history, model = digits_run
    assert sorted(os.listdir(run_dir)) == ["config.json", "diagnosis.json", "explanations.npz", "health.json",
                                           "history.json", "lr_finder.json", "predictions.npz", "report.html"]
    run = diagnostics.load_run(run_dir)
    assert sorted(run["history"]) == sorted(history.history)
    for key, values in history.history.items():
        assert run["history"][key] == pytest.approx(values), key
    assert run["config"]["hyperparameters"] == {"batch_size": 64}
    assert run["config"]["count_params"] == model.count_params() == 784 * 32 + 32 + 330
    assert run["config"]["optimizer"]["class_name"] == "Adam"
    assert "hidden (Dense)" in run["config"]["summary"]
    assert [e["epoch"] for e in run["health"]["epochs"]] == [0, 1, 2]
    assert set(run["health"]["epochs"][-1]["grad_norms"]) == {"hidden", "logits"}
    expected = diagnostics.diagnose_history(history)
    assert run["diagnosis"]["verdict"] == expected.verdict and run["diagnosis"]["message"] == expected.message
    predictions = run["predictions"]
    assert len(predictions["y_true"]) == 200
    accuracy = float((predictions["y_true"] == predictions["y_pred"]).mean())
    assert accuracy == pytest.approx(history.history["val_accuracy"][-1])
    explained = run["explanations"]
    assert explained["x"].shape == explained["saliency"].shape == (4, 784)
    numpy.testing.assert_allclose(explained["saliency"], diagnostics.saliency(model, explained["x"]), rtol=1e-5, atol=1e-7)
    assert len(run["lr_finder"]["lrs"]) <= 40


def test_report_is_one_self_contained_page(digits_run):
    run_dir, recorder, history, _ = digits_run
    page = open(recorder.report_path, encoding="utf-8").read()
    assert page.startswith("<!DOCTYPE html>")
    assert re.findall(r'<img alt="([^"]+)"', page) == RUN_IMAGES
    assert len(re.findall(r'src="data:image/png;base64,', page)) == len(RUN_IMAGES)
    assert not re.search(r'(src|href)="(?!data:)', page), "the page must not load anything from outside"
    assert "<script" not in page
    assert "digits &lt;mlp&gt;" in page and "digits <mlp>" not in page  # names are escaped
    for heading in ["Fit diagnosis", "Learning curves", "Training health", "Predictions", "Learning-rate range test",
                    "Hyper-parameters", "Model"]:
        assert f"<h2>{heading}</h2>" in page
    assert f"{history.history['val_accuracy'][-1]:.2%}" in page


def test_cli_report_command(digits_run, tmp_path, capsys):
    run_dir, _, _, _ = digits_run
    output = tmp_path / "again.html"
    assert cli_main(["report", str(run_dir), "--output", str(output)]) == 0
    assert str(output) in capsys.readouterr().out
    assert len(re.findall(r"data:image/png;base64,", output.read_text(encoding="utf-8"))) == len(RUN_IMAGES)


def test_tabular_classifier_gets_an_attribution_table(tmp_path):
    x, y = nerve.datasets.make_flight_delays(n=400)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(8, activation="relu"), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=nerve.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    recorder = diagnostics.RunRecorder(tmp_path / "flights", validation_data=(x[300:], y[300:]),
                                       feature_names=["temperature", "wind"], class_names=["on time", "delayed"],
                                       verbose=0)
    model.fit(x[:300], y[:300], epochs=2, batch_size=32, verbose=0, validation_data=(x[300:], y[300:]), callbacks=[recorder])
    run = diagnostics.load_run(tmp_path / "flights")
    assert run["explanations"] is None and set(run["attributions"]["features"]) == {"temperature", "wind"}
    assert set(numpy.unique(run["predictions"]["y_pred"])) <= {0, 1}
    page = open(recorder.report_path, encoding="utf-8").read()
    assert "Feature attributions (integrated_gradients)" in page and "<td>wind</td>" in page


def test_report_without_matplotlib_keeps_the_text(digits_run, tmp_path, monkeypatch):
    run_dir, _, _, _ = digits_run
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    page = open(diagnostics.write_report(run_dir, tmp_path / "plain.html"), encoding="utf-8").read()
    assert "<img" not in page and "nerve[plot]" in page
    assert "<h2>Fit diagnosis</h2>" in page and "<table>" in page


def test_report_of_an_empty_folder(tmp_path):
    page = open(diagnostics.write_report(tmp_path), encoding="utf-8").read()
    assert "No epochs recorded" in page
    with pytest.raises(FileNotFoundError, match="no run folder"):
        diagnostics.write_report(tmp_path / "missing")


# ------------------------------------------------------------------ the browser
CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--dump-dom", "--virtual-time-budget=10000"]

# Runs before the page's images load (it is placed first in <head>) and records into the DOM what happened.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (event) {
  var target = event.target;
  window.__errors.push(target && target.tagName ? "failed to load " + target.tagName : String(event.message));
}, true);
window.addEventListener("load", function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    return {alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight};
  });
  var out = document.createElement("pre");
  out.id = "nerve-probe";
  out.textContent = JSON.stringify({images: images, errors: window.__errors, title: document.title});
  document.body.appendChild(out);
});
</script>"""


def find_chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_in_a_headless_browser(digits_run, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install -y chromium): the report was not opened "
                    "in a browser")
    run_dir, recorder, _, _ = digits_run
    page = open(recorder.report_path, encoding="utf-8").read()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    command = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", probed.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r'<pre id="nerve-probe">(.*?)</pre>', result.stdout, flags=re.S)
    assert match, f"the page did not finish loading; stderr:\n{result.stderr[-2000:]}"
    probe = json.loads(html.unescape(match.group(1)))
    assert probe["errors"] == []
    assert probe["title"].startswith("nerve run report")
    assert [image["alt"] for image in probe["images"]] == RUN_IMAGES
    for image in probe["images"]:
        assert image["complete"] and image["width"] >= 200 and image["height"] >= 150, image
    assert "Uncaught" not in result.stderr
