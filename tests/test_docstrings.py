"""Every public name has a docstring with an example, and every docstring example runs.

Two checks:

* ``test_public_name_has_example``: walks the public API (``nerve.__all__`` and
  the public names of the namespaces in ``NAMESPACES``) and asserts that each
  public class and function defined in nerve has a docstring containing an
  example (``>>>``, a fenced ```python block, or an "Example" section).
  Public means: listed in the module's ``__all__`` when it has one, otherwise
  not underscore-prefixed and defined in that module (or, for a package, in
  one of its submodules). Re-exported third-party names and submodules are
  not checked; methods are not checked (the class docstring carries the
  example).
* ``test_doctests``: runs the doctests of every module of the ``nerve``
  package, one test per module, with ``ELLIPSIS | NORMALIZE_WHITESPACE``.

Exceptions are explicit: op implementation classes (``Function`` subclasses,
whose public lowercase function carries the example and is checked instead) and
``KNOWN_MISSING`` (names that lacked an example when this test was written; to
be fixed, then removed from the set). A name missing from neither set fails.
"""

from __future__ import annotations

import doctest
import functools
import importlib
import inspect
import pkgutil
import warnings

import pytest

import nerve

NAMESPACES = [
    "nerve",
    "nerve.unsupervised",
    "nerve.autoencoders",
    "nerve.rl",
    "nerve.diagnostics",
    "nerve.plotting",
    "nerve.ops",
    "nerve.layers",
    "nerve.activations",
    "nerve.losses",
    "nerve.initializers",
    "nerve.regularizers",
    "nerve.optimizers",
    "nerve.schedules",
    "nerve.metrics",
    "nerve.data",
    "nerve.callbacks",
    "nerve.datasets",
    "nerve.random",
    "nerve.gradcheck",
    "nerve.backend",
    "nerve.transforms",
    "nerve.applications",
    "nerve.constraints",
    "nerve.saving",
    "nerve.models",
    "nerve.sequence",
    "nerve.sklearn",
    "nerve.distributed",
    "nerve.utils",
    "nerve.config",
]

# Op implementation classes (nerve.tensor.Function subclasses, e.g. nerve.ops.Exp)
# are exempt: users call the lowercase function that validates the arguments and
# calls ``Cls.apply(...)``, and that function carries the example. The exemption
# holds only while such a function exists in the class's module and has an
# example (checked by test_op_classes_have_documented_functions).

# (namespace, name) pairs that had no docstring example when this test was
# written. Do not add to this set: write the docstring instead. Remove an entry
# once its docstring has an example (a warning lists entries that are fixed).
KNOWN_MISSING: set = set()

# Modules whose doctests are not run: importing them has side effects.
SKIP_DOCTEST_MODULES = {
    "nerve.__main__",  # runs the command-line interface on import
}


def _defined_in(obj, module_name):
    owner = getattr(obj, "__module__", None) or ""
    return owner == module_name or owner.startswith(module_name + ".")


def _own_docstring(obj):
    if inspect.isclass(obj):
        return obj.__dict__.get("__doc__") or ""  # not inherited from a base class
    return obj.__doc__ or ""


def _has_example(doc):
    return ">>>" in doc or "```python" in doc or "Example" in doc


def _is_op_class(obj):
    return inspect.isclass(obj) and issubclass(obj, nerve.Function) and obj is not nerve.Function


@functools.lru_cache(maxsize=None)
def _public_function_sources(module_name):
    """``(function, source)`` for the public functions defined in ``module_name``."""
    module = importlib.import_module(module_name)
    return tuple(
        (fn, inspect.getsource(fn))
        for name, fn in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(fn) and fn.__module__ == module_name
    )


def _public_callers(op_class):
    """Public functions of ``op_class``'s module whose source calls ``op_class.apply(``."""
    pattern = f"{op_class.__name__}.apply("
    return [fn for fn, source in _public_function_sources(op_class.__module__) if pattern in source]


def public_names(module_name):
    """``(name, object)`` for the public classes and functions of ``module_name`` defined in nerve."""
    module = importlib.import_module(module_name)
    explicit = getattr(module, "__all__", None)
    names = list(explicit) if explicit is not None else [n for n in vars(module) if not n.startswith("_")]
    out = []
    for name in names:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # submodules, constants, dicts
        if not _defined_in(obj, "nerve"):
            continue  # re-exported third-party names
        if explicit is None and not _defined_in(obj, module_name):
            continue  # imported helpers such as `Tensor` inside nerve.losses
        out.append((name, obj))
    return out


def _public_api():
    items, errors = [], {}
    seen = set()
    # Most specific namespace first, so that nerve.ops.softmax is reported as such, not as nerve.softmax.
    for module_name in sorted(NAMESPACES, key=lambda m: m == "nerve"):
        try:
            names = public_names(module_name)
        except Exception as error:  # reported by test_namespaces_import, not as a collection error
            errors[module_name] = f"{type(error).__name__}: {error}"
            continue
        for name, obj in names:
            if id(obj) in seen:  # aliases (swish = silu) and re-exports are checked once
                continue
            seen.add(id(obj))
            items.append((module_name, name, obj))
    return items, errors


PUBLIC_API, IMPORT_ERRORS = _public_api()


def test_namespaces_import():
    assert not IMPORT_ERRORS, f"public namespaces that fail to import: {IMPORT_ERRORS}"


def _missing_examples():
    missing = set()
    for module_name, name, obj in PUBLIC_API:
        if _is_op_class(obj):
            continue  # checked through its public function (test_op_classes_have_documented_functions)
        if not _has_example(_own_docstring(obj)):
            missing.add((module_name, name))
    return missing


def test_public_api_is_found():
    """The walk itself works: a few names we know are public are in it."""
    found = {(m, n) for m, n, _ in PUBLIC_API}
    for expected in [("nerve", "tensor"), ("nerve.ops", "softmax"), ("nerve.layers", "Dense"),
                     ("nerve.optimizers", "Adam"), ("nerve.schedules", "CosineDecay")]:
        assert expected in found, f"{expected} not found by the public-API walk"
    assert not any(n.startswith("_") for _, n, _ in PUBLIC_API)


def test_public_name_has_example():
    missing = _missing_examples()
    new = sorted(missing - KNOWN_MISSING)
    assert not new, (
        "public names without a docstring example (add a docstring with a `>>>` example):\n"
        + "\n".join(f"  {m}.{n}" for m, n in new)
    )
    fixed = sorted(KNOWN_MISSING - missing)
    if fixed:
        warnings.warn(
            "these KNOWN_MISSING entries in tests/test_docstrings.py now have examples; remove them: "
            + ", ".join(f"{m}.{n}" for m, n in fixed)
        )


def test_op_classes_have_documented_functions():
    """Each op class exempted above is called by a public function of its module that has an example."""
    problems = []
    for module_name, name, obj in PUBLIC_API:
        if not _is_op_class(obj):
            continue
        callers = _public_callers(obj)
        if not callers:
            problems.append(f"{module_name}.{name}: no public function in {obj.__module__} calls {name}.apply(...)")
        elif not any(_has_example(_own_docstring(fn)) for fn in callers):
            names = ", ".join(fn.__name__ for fn in callers)
            problems.append(f"{module_name}.{name}: its public function(s) {names} have no example")
    assert not problems, "op classes without a documented public function:\n" + "\n".join(problems)


def _all_modules():
    names = ["nerve"]
    for info in pkgutil.walk_packages(nerve.__path__, prefix="nerve."):
        if info.name in SKIP_DOCTEST_MODULES:
            continue
        if importlib.import_module(info.name).__name__ != info.name:
            continue  # a public namespace (nerve.layers) is its tier module (nerve.blocks.layers): tested there
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _all_modules())
def test_doctests(module_name):
    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in finder.find(module, module_name):
        if not test.examples:
            continue
        test.globs = dict(test.globs)
        # Each docstring runs as in a fresh session: automatic layer names (dense, dense_1...)
        # restart and the random generator is seeded, whatever ran before.
        nerve.layers.reset_names()
        nerve.random.seed(0)
        report = []
        result = runner.run(test, out=report.append, clear_globs=True)
        if result.failed:
            failures.append("".join(report))
    assert not failures, f"doctest failures in {module_name}:\n" + "\n".join(failures)
