"""The documentation stays runnable and its links stay valid.

Every ```python block of every ``docs/*.md`` page is run, the blocks of one page
in order in one fresh namespace (so a later block may use names from an earlier
one), inside a temporary working directory. One test per page, so a failure
names the page, the block and its line. A block whose first line is
``# doctest: skip`` (optionally followed by a reason) is not run (for blocks that need the network or take long:
use sparingly).

Before each page the automatic layer names restart and ``nerve.random`` is
seeded with 0, as in a fresh session, so pages run the same in any order.
"""

from __future__ import annotations

import re
import textwrap
import traceback
from pathlib import Path

import pytest

import nerve

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
SKIP_MARK = "# doctest: skip"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^`\n]*)$")


def extract_python_blocks(text):
    """``(line, source)`` of every ```python block in a Markdown ``text`` (line: 1-based, of the first code line).

    Only blocks whose info string is exactly ``python`` (or ``py``) are taken;
    ```pycon, ```bash, ```text... are not run. Indented fences (inside list
    items) are dedented.
    """
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        info = match.group("info").strip().split()
        language = info[0].lower() if info else ""
        indent = match.group("indent")
        start = i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if language in ("python", "py"):
            body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[start:end])
            blocks.append((start + 1, textwrap.dedent(body)))
        i = end + 1
    return blocks


def _runnable(blocks):
    """Blocks whose first line does not start with ``# doctest: skip`` (a reason may follow it)."""
    return [(line, source) for line, source in blocks if not source.lstrip().startswith(SKIP_MARK)]


def test_extractor():
    text = textwrap.dedent(
        """\
        Intro.

        ```python
        x = 1
        ```

        ```bash
        echo no
        ```

        1. a list item

           ```python
           # doctest: skip (a reason)
           raise SystemExit
           ```

        ```python
        y = x + 1
        ```
        """
    )
    blocks = extract_python_blocks(text)
    assert [line for line, _ in blocks] == [4, 14, 19]
    assert blocks[1][1].startswith("# doctest: skip (a reason)\n")
    assert [source for _, source in _runnable(blocks)] == ["x = 1", "y = x + 1"]


def test_there_are_pages():
    names = {page.name for page in PAGES}
    for expected in ["index.md", "autodiff.md", "building_blocks.md", "optimizers.md", "layers.md", "extending.md"]:
        assert expected in names, f"docs/{expected} is missing"


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_runs(page, tmp_path, monkeypatch):
    blocks = _runnable(extract_python_blocks(page.read_text(encoding="utf-8")))
    if not blocks:
        pytest.skip(f"docs/{page.name} has no runnable python blocks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")  # pages that plot must not open windows
    # extending.md registers a stand-in array module: keep it from leaking into other tests
    monkeypatch.setattr(nerve.engine.backend, "_MODULES", list(nerve.engine.backend._MODULES))
    nerve.layers.reset_names()
    nerve.random.seed(0)
    namespace = {"__name__": "__main__"}
    for number, (line, source) in enumerate(blocks, start=1):
        label = f"docs/{page.name}, block {number} (line {line})"
        try:
            code = compile(source, label, "exec")
            exec(code, namespace)
        except Exception:
            pytest.fail(f"{label} failed:\n{source}\n\n{traceback.format_exc()}", pytrace=False)


_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_local_links_resolve(page):
    """Relative links (``[text](other.md)``, ``[text](../src/nerve/ops/core.py)``) point to existing files."""
    broken = []
    for match in _LINK.finditer(page.read_text(encoding="utf-8")):
        target = match.group("target")
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # URLs (https:, mailto:) and anchors in the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"docs/{page.name} links to missing files: {broken}"


def test_index_links_every_page():
    index = DOCS / "index.md"
    text = index.read_text(encoding="utf-8")
    linked = {m.group("target").split("#", 1)[0] for m in _LINK.finditer(text)}
    unlinked = [page.name for page in PAGES if page.name != "index.md" and page.name not in linked]
    assert not unlinked, f"docs/index.md does not link these pages: {unlinked}"
