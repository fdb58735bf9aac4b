"""The one registry of everything a model file can name: layers, activations, initializers, regularizers,
constraints, losses, metrics, optimizers and learning-rate schedules.

A model file is data. When it names a class or a function (``"class_name": "Dense"``), loading looks the
name up here, and only here:

1. the ``custom_objects`` the caller passed (``load_model(path, custom_objects={...})``), innermost scope first;
2. the classes and functions the user registered with :func:`register_serializable` (as ``"package>Name"``);
3. nerve's own built-ins of the kind asked for (``"Dense"`` for a layer, ``"mse"`` for a loss...);
4. a registered class by its bare name, when only one registration has it and no built-in does.

Nothing is ever imported because a file names it: an unknown name raises :class:`UnknownObjectError`,
which says how to register the object. ``deserialize`` also checks that what it found is of the expected
kind (a loss where a loss is expected) before calling its ``from_config``.

Examples:
    >>> import nerve
    >>> @register_serializable(package="demo")
    ... class RegistryDemoScale(nerve.layers.Layer):
    ...     def call(self, x):
    ...         return 2 * x
    >>> get_registered_name(RegistryDemoScale)
    'demo>RegistryDemoScale'
    >>> lookup("layer", "demo>RegistryDemoScale") is RegistryDemoScale
    True
    >>> lookup("layer", "RegistryDemoScale") is RegistryDemoScale  # the bare name, while only one has it
    True
    >>> lookup("loss", "os.system")
    Traceback (most recent call last):
    ...
    nerve.engine.registry.UnknownObjectError: unknown loss 'os.system': it is not one of nerve's built-in losses and not registered. Decorate your own class or function with @nerve.saving.register_serializable(package="...") before loading, or pass custom_objects={'os.system': ...} to load_model. Built-in losses: BinaryCrossentropy, ...
"""

from __future__ import annotations

import contextlib
import threading

__all__ = [
    "KINDS", "UnknownObjectError", "MalformedConfigError", "register_builtin", "register_builtins", "register_serializable", "register_keras_serializable",
    "get_registered_name", "get_registered_object", "custom_object_scope", "get_custom_objects", "lookup", "builtin_names", "serialize",
    "deserialize",
]

#: What a model file can name, each kind with its own built-ins.
KINDS = ("layer", "activation", "initializer", "regularizer", "constraint", "loss", "metric", "optimizer", "schedule")

_BUILTINS = {kind: {} for kind in KINDS}  # kind -> {name: object}; the first name of an object is its own
_CANONICAL = {kind: {} for kind in KINDS}  # kind -> {id(object): name}
_CUSTOM = {}  # "package>Name" (or "Name" without a package) -> object
_NAME_OF_CUSTOM = {}  # id(object) -> registered name
_SCOPES = threading.local()


class UnknownObjectError(ValueError):
    """A file (or a config) names a class or function that is neither built in nor registered.

    Examples:
        >>> issubclass(UnknownObjectError, ValueError)
        True
    """


class MalformedConfigError(UnknownObjectError):
    """A saved object is not a name or a ``{"class_name": ..., "config": {...}}`` pair (a damaged file).

    Examples:
        >>> try:
        ...     deserialize("layer", ["Dense"])
        ... except MalformedConfigError as error:
        ...     print(error)
        a saved layer must be a name or a dict with 'class_name' and 'config', got list
    """


def _plural(kind):
    return kind + ("es" if kind.endswith("s") else "s")


def register_builtin(kind, *aliases):
    """Decorator for nerve's own classes and functions: known by their ``__name__`` and by ``aliases``.

    Examples:
        >>> lookup("constraint", "max_norm") is lookup("constraint", "MaxNorm")
        True
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")

    def wrap(obj):
        table = _BUILTINS[kind]
        _CANONICAL[kind].setdefault(id(obj), obj.__name__)
        for name in (obj.__name__,) + aliases:
            table[name] = obj
        return obj

    return wrap


def register_builtins(kind, objects, aliases=None):
    """Register nerve's own ``objects`` of ``kind`` by their ``__name__``, plus ``aliases`` ``{name: object}``.

    Examples:
        >>> lookup("optimizer", "adamw").__name__, lookup("optimizer", "AdamW").__name__
        ('AdamW', 'AdamW')
    """
    for obj in objects:
        register_builtin(kind)(obj)
    for name, obj in (aliases or {}).items():
        _CANONICAL[kind].setdefault(id(obj), obj.__name__)
        _BUILTINS[kind][name] = obj


def register_serializable(package="Custom", name=None):
    """Make a class or function loadable from model files as ``"package>name"`` (Keras's contract).

    Use it for your own layers, losses, metrics, activations... before ``model.save`` and before
    ``load_model``. ``package=None`` registers the bare name. ``register_keras_serializable`` is the same.

    Examples:
        >>> import nerve
        >>> @register_serializable(package="my_project")
        ... def cube(x):
        ...     return x * x * x
        >>> get_registered_name(cube)
        'my_project>cube'
        >>> nerve.activations.get("my_project>cube") is cube
        True
    """
    if package is not None and (not isinstance(package, str) or ">" in package):
        raise ValueError(f"package must be a string without '>', got {package!r}")

    def wrap(obj):
        key = name or getattr(obj, "__name__", None)
        if not key:
            raise ValueError(f"cannot register {obj!r}: give it a name (name=...)")
        key = f"{package}>{key}" if package else key
        previous = _CUSTOM.get(key)
        if previous is not None and previous is not obj:
            _NAME_OF_CUSTOM.pop(id(previous), None)  # re-running a notebook cell registers the new class
        _CUSTOM[key] = obj
        _NAME_OF_CUSTOM[id(obj)] = key
        return obj

    return wrap


register_keras_serializable = register_serializable


def get_registered_name(obj):
    """The name under which ``obj`` (a class, a function or an instance) is saved.

    Examples:
        >>> get_registered_name(len)
        'len'
    """
    is_class_or_function = isinstance(obj, type) or (callable(obj) and not hasattr(obj, "get_config"))
    target = obj if is_class_or_function else type(obj)  # an instance is saved under its class's name
    name = _NAME_OF_CUSTOM.get(id(target))
    if name is not None:
        return name
    for kind in KINDS:
        name = _CANONICAL[kind].get(id(target))
        if name is not None:
            return name
    return getattr(target, "__name__", type(target).__name__)


def get_registered_object(name, custom_objects=None, kind=None):
    """The object a file's ``name`` stands for, or None when it is unknown (no error).

    Examples:
        >>> get_registered_object("Dense", kind="layer").__name__
        'Dense'
        >>> get_registered_object("os.system") is None
        True
    """
    if not isinstance(name, str):
        return None
    for scope in ([custom_objects] if custom_objects else []) + list(reversed(_scopes())):
        if name in scope:
            return scope[name]
        bare = name.rpartition(">")[2]
        if bare in scope:
            return scope[bare]
    if name in _CUSTOM:
        return _CUSTOM[name]
    for k in ([kind] if kind else KINDS):
        table = _BUILTINS[k]
        obj = table.get(name)
        if obj is None:
            obj = table.get(name.lower())
        if obj is not None:
            return obj
    # a bare name (a file written before the class was registered under a package): only when unambiguous,
    # and never in place of a built-in (a registered "my_project>Dense" does not take over "Dense")
    matches = [obj for key, obj in _CUSTOM.items() if key.rpartition(">")[2] == name]
    return matches[0] if len(matches) == 1 else None


def _scopes():
    stack = getattr(_SCOPES, "stack", None)
    if stack is None:
        stack = _SCOPES.stack = []
    return stack


def get_custom_objects():
    """The live dict of registered classes and functions, ``{"package>Name": object}`` (Keras's
    ``get_custom_objects``); adding an entry makes the name loadable, as registering does.

    Examples:
        >>> class Swish2:
        ...     pass
        >>> get_custom_objects()["Swish2"] = Swish2
        >>> get_registered_object("Swish2") is Swish2
        True
        >>> del get_custom_objects()["Swish2"]
    """
    return _CUSTOM


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """Within the block, ``custom_objects`` (``{name: class or function}``) can be named by configs and files.

    Examples:
        >>> with custom_object_scope({"Twice": int}):
        ...     get_registered_object("Twice") is int
        True
        >>> get_registered_object("Twice") is None
        True
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict {{name: class or function}}, got {type(custom_objects).__name__}")
    stack = _scopes()
    stack.append(dict(custom_objects or {}))
    try:
        yield
    finally:
        stack.pop()


def builtin_names(kind):
    """The names nerve knows for ``kind`` (aliases included), sorted.

    Examples:
        >>> "relu" in builtin_names("activation")
        True
    """
    return sorted(_BUILTINS[kind])


def lookup(kind, name, custom_objects=None):
    """The class or function ``name`` stands for, as a ``kind``; :class:`UnknownObjectError` when it is unknown.

    Examples:
        >>> lookup("optimizer", "adam").__name__
        'Adam'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    if not isinstance(name, str):
        raise UnknownObjectError(f"a {kind} must be named by a string, got {type(name).__name__}: {name!r}"[:300])
    obj = get_registered_object(name, custom_objects, kind)
    if obj is None:
        shown = name if len(name) <= 80 else name[:77] + "..."
        known = ", ".join(n for n in builtin_names(kind))
        raise UnknownObjectError(
            f"unknown {kind} {shown!r}: it is not one of nerve's built-in {_plural(kind)} and not registered. "
            f"Decorate your own class or function with @nerve.saving.register_serializable(package=\"...\") "
            f"before loading, or pass custom_objects={{{shown!r}: ...}} to load_model. "
            f"Built-in {_plural(kind)}: {known}"
        )
    return obj


def serialize(obj, kind):
    """``{"class_name": registered name, "config": obj.get_config()}`` for an object with a config.

    Examples:
        >>> import nerve
        >>> serialize(nerve.optimizers.SGD(0.1), "optimizer")["class_name"]
        'SGD'
    """
    get_config = getattr(obj, "get_config", None)
    if get_config is None:
        raise TypeError(f"cannot serialize the {kind} {obj!r}: it has no get_config()")
    return {"class_name": get_registered_name(obj), "config": get_config()}


def deserialize(kind, config, base=None, custom_objects=None):
    """Rebuild an object from ``{"class_name": ..., "config": {...}}``: look the class up, check it, ``from_config``.

    ``base`` (a class) is what the object must be: a name that stands for anything else is refused.

    Examples:
        >>> import nerve
        >>> deserialize("loss", {"class_name": "Huber", "config": {"delta": 2.0}}, base=nerve.losses.Loss).delta
        2.0
    """
    if isinstance(config, str):
        config = {"class_name": config, "config": {}}
    if not isinstance(config, dict) or "class_name" not in config:
        raise MalformedConfigError(f"a saved {kind} must be a name or a dict with 'class_name' and 'config', "
                                 f"got {type(config).__name__}")
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise MalformedConfigError(f"the config of the saved {kind} {config['class_name']!r} must be a dict, "
                                 f"got {type(inner).__name__}")
    cls = lookup(kind, config["class_name"], custom_objects)
    if not isinstance(cls, type) or (base is not None and not issubclass(cls, base)):
        expected = f"a subclass of {base.__name__}" if base is not None else "a class"
        raise UnknownObjectError(f"the saved {kind} names {config['class_name']!r}, which is not {expected}")
    return cls.from_config(dict(inner))
