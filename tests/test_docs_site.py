"""The documentation site: every page is in the navigation, in the lectures' order, and ``mkdocs build --strict``
passes (when MkDocs, Material and mkdocstrings are installed: ``pip install nerve[docs]``)."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = ROOT / "mkdocs.yml"

#: the course's order: neuron and perceptron, networks and backpropagation, losses and optimizers, the craft,
#: CNNs, RNNs, attention, unsupervised learning and pretraining, reinforcement learning, diagnostics, speed
LECTURE_ORDER = ["perceptron.md", "autodiff.md", "optimizers.md", "training.md", "cnn.md", "recurrent.md",
                 "attention.md", "unsupervised.md", "reinforcement_learning.md", "diagnostics.md", "performance.md"]


def nav_pages():
    return re.findall(r"^\s*-\s.*?:?\s*([\w/.-]+\.md)\s*$", CONFIG.read_text(encoding="utf-8"), flags=re.M)


def test_every_page_is_in_the_navigation_once():
    pages = nav_pages()
    on_disk = sorted(str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md"))
    missing = sorted(set(on_disk) - set(pages))
    assert not missing, f"add these pages to the nav of mkdocs.yml, where they belong in the course: {missing}"
    assert sorted(set(pages) - set(on_disk)) == [], "mkdocs.yml names pages that do not exist"
    assert len(pages) == len(set(pages)), "a page appears twice in the navigation"


def test_navigation_follows_the_lectures():
    pages = nav_pages()
    positions = [pages.index(page) for page in LECTURE_ORDER]
    assert positions == sorted(positions), [pages[i] for i in positions]


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("mkdocs", "material", "mkdocstrings")),
                    reason="the docs extra is not installed (pip install nerve[docs])")
def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    layers_page = (tmp_path / "site" / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "MelSpectrogram" in layers_page and "Dense" in layers_page  # the API reference is generated
    assert (tmp_path / "site" / "perceptron" / "index.html").exists()
