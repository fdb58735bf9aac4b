"""The house has one direction: tiers import downwards only, and no module-level import cycle exists.

The tier contract lives in ``pyproject.toml`` (``[tool.importlinter]``) and ``lint-imports`` enforces it
in CI. These tests check the same from the source alone (so they run without import-linter) and
run ``lint-imports`` itself where it is installed.
"""

from __future__ import annotations

import ast
import pathlib
import shutil
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "nerve"
TIERS = ["nerve.engine", "nerve.blocks", "nerve.training", "nerve.tools", "nerve.applications"]


def _modules():
    """{dotted module name: path} for every module of the package."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name):
    """The module an import of ``name`` loads: the longest known module prefix of it."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module, path, top_level_only):
    """Modules of nerve that ``module`` imports (at module level only, or anywhere)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    if top_level_only:  # statements under top-level if/try blocks run at import too
        stack, nodes = list(tree.body), []
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, (ast.If, ast.Try, ast.With)):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    stack.extend(getattr(node, field, []) or [])
            elif isinstance(node, ast.ExceptHandler):
                stack.extend(node.body)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            if name == "nerve" or name.startswith("nerve."):
                target = _resolve(name)
                if target and target != module:
                    found.add(target)
    return found


def _tier(module):
    for index, tier in enumerate(TIERS):
        if module == tier or module.startswith(tier + "."):
            return index
    return None


def test_every_module_sits_in_a_tier_or_is_a_public_namespace():
    loose = sorted(m for m, p in MODULES.items() if _tier(m) is None and m.count(".") > 1)
    assert not loose, f"modules outside the tier folders: {loose}"


def test_imports_go_down_the_tiers_only():
    problems = []
    for module, path in MODULES.items():
        tier = _tier(module)
        if tier is None:
            continue  # the public namespaces (nerve.layers...) sit above every tier
        for target in _imports(module, path, top_level_only=False):
            target_tier = _tier(target)
            if target_tier is None and target != "nerve._version":
                problems.append(f"{module} imports the public namespace {target} (import the tier's module instead)")
            elif target_tier is not None and target_tier > tier:
                problems.append(f"{module} ({TIERS[tier]}) imports {target} ({TIERS[target_tier]}), a higher tier")
    assert not problems, "\n".join(problems)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]; counter[0] += 1
        stack.append(root); on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]; counter[0] += 1
                    stack.append(child); on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop(); on_stack.discard(member); component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_module_level_import_cycle():
    graph = {module: _imports(module, path, top_level_only=True) for module, path in MODULES.items()}
    # a package's __init__ importing its own submodules is how a namespace is declared, not a cycle
    for module in graph:
        graph[module] = {t for t in graph[module] if not t.startswith(module + ".")}
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_lint_imports_passes():
    result = subprocess.run(["lint-imports"], cwd=SRC.parent,
                            capture_output=True, text=True, env={"PYTHONPATH": str(SRC), "PATH": str(pathlib.Path(sys.executable).parent) + ":/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_public_name_of_nerve_0_1_still_imports_from_the_same_path():
    """The public names of every module as the 0.1 layout had them (tests/data/public_names_0.1.json)."""
    import importlib
    import json

    before = json.loads((pathlib.Path(__file__).parent / "data" / "public_names_0.1.json").read_text())
    missing = []
    for module_name, names in before.items():
        module = importlib.import_module(module_name)
        missing += [f"{module_name}.{name}" for name in names if not hasattr(module, name)]
    assert not missing, f"public names that no longer import: {missing}"


def test_old_submodule_paths_are_the_tier_modules():
    import nerve.blocks.layers.base
    import nerve.layers.base
    from nerve.ops.conv import conv2d
    from nerve.diagnostics.lr_finder import lr_finder

    assert nerve.layers.base is nerve.blocks.layers.base
    assert conv2d is nerve.engine.ops.conv.conv2d and lr_finder is nerve.training.lr_finder.lr_finder
