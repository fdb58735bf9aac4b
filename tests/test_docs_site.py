"""The documentation site: every page is in the navigation, in the lectures' order, and ``mkdocs build --strict``
passes (when MkDocs, Material and mkdocstrings are installed: ``pip install nerve[docs]``) with no warning about the
docstrings (griffe: Google-style sections; mkdocs-autorefs: cross-references) demoted or hidden.

The docstrings follow the Google style that griffe (mkdocstrings' parser) reads: an ``Examples:`` section (its
``>>>`` lines and outputs render as code; ``Example:`` is read as an admonition whose outputs such as ``[1.0, 2.0]``
become reference-style links) and one ``Args`` entry per parameter (``a, b: ...`` is one parameter named "a, b").
"""

import importlib.util
import logging
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


def test_no_warning_is_demoted():
    """The build keeps every warning a warning: no MkDocs hook turns the docstring notices into INFO."""
    assert "hooks:" not in CONFIG.read_text(encoding="utf-8"), "mkdocs.yml has hooks: fix the docstrings instead"


@pytest.mark.skipif(importlib.util.find_spec("griffe") is None, reason="griffe (docs extra) is not installed")
def test_docstrings_parse_cleanly_with_griffe(caplog):
    """Every docstring in src/nerve (read statically, about 1 s) parses as Google style without a griffe warning,
    with one ``Args`` entry per parameter and its examples in ``Examples:`` sections."""
    import griffe

    package = griffe.load("nerve", search_paths=[str(ROOT / "src")], docstring_parser="google",
                          resolve_aliases=False)
    problems = []

    def walk(obj):
        for member in obj.members.values():
            if member.is_alias:
                continue
            if member.docstring is not None:
                for section in member.docstring.parse("google", warn_unknown_params=False, warn_missing_types=False):
                    if section.kind.value in ("parameters", "other parameters"):
                        problems.extend(f"{member.path}: one Args entry per parameter, not {p.name!r}"
                                        for p in section.value if "," in p.name)
                    if section.kind.value == "admonition" and section.title.lower() == "example":
                        problems.append(f"{member.path}: 'Example:' heading (use 'Examples:', rendered as code)")
            if member.is_module or member.is_class:
                walk(member)

    with caplog.at_level(logging.WARNING, logger="griffe"):
        walk(package)
    problems += [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("mkdocs", "material", "mkdocstrings")),
                    reason="the docs extra is not installed (pip install nerve[docs])")
def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    log = result.stdout + result.stderr
    docstring_notices = [line for line in log.splitlines()
                         if "griffe:" in line or "Could not find cross-reference target" in line]
    assert not docstring_notices, "\n".join(docstring_notices)  # at any level: none is demoted to INFO either
    layers_page = (tmp_path / "site" / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "MelSpectrogram" in layers_page and "Dense" in layers_page  # the API reference is generated
    assert (tmp_path / "site" / "perceptron" / "index.html").exists()
