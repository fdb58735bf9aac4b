"""The computational graph as Graphviz DOT text, rendered to SVG/PNG when the ``dot`` program is installed.

* For a Tensor: every op that produced it (``tensor.op``) and their inputs
  (``tensor.op.inputs``), back to the leaves. Weights show their names
  (``dense/kernel``). Draw it *before* ``backward()``, which releases the graph.
* For a Sequential or functional model: one node per layer call, with output
  shapes and parameter counts. ``detail="ops"`` draws the op graph of one
  forward pass instead (the only option for subclassed models).

Examples:
    >>> import nerve
    >>> w = nerve.tensor([1.0, 2.0], requires_grad=True, name="w")
    >>> text = to_dot((w * w).sum())
    >>> text.splitlines()[0], "Mul" in text, '"w' in text
    ('digraph nerve {', True, True)
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy

from nerve.blocks.layers.base import Layer
from nerve.engine.nest import flatten as _flatten
from nerve.engine.tensor import Tensor, enable_grad

DETAILS = ("layers", "ops")
FORMATS = ("dot", "svg", "png", "pdf")


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape(shape):
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _header(rankdir):
    return ["digraph nerve {", f"  rankdir={rankdir};",
            '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];']


def _tensor_dot(root, rankdir="TB", max_nodes=2000):
    lines = _header(rankdir)
    ids, stack, order = {}, [root], []
    while stack:
        t = stack.pop()
        if id(t) in ids:
            continue
        ids[id(t)] = f"t{len(ids)}"
        order.append(t)
        if len(ids) > max_nodes:
            raise ValueError(f"to_dot: the graph has more than {max_nodes} nodes; pass max_nodes=... to draw it anyway")
        op = t.op
        if op is not None:
            if getattr(op, "released", False) or "inputs" not in vars(op):
                raise RuntimeError(
                    f"to_dot: the graph of op {type(op).__name__} was released by backward(); draw the graph before "
                    "calling backward(), or call backward(retain_graph=True)"
                )
            stack.extend(op.inputs)
    for t in order:
        node = ids[id(t)]
        if t.op is not None:
            label = f"{type(t.op).__name__}\n{_shape(t.shape)}"
            style = 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"'
        elif t.requires_grad:
            label = f"{t.name or 'parameter'}\n{_shape(t.shape)}"
            style = 'shape=ellipse, style=filled, fillcolor="#fde2b8"'
        else:
            if t.size == 1 and t.name is None:
                label = f"{t.data.reshape(-1)[0]:.4g}"
            else:
                label = f"{t.name or 'input'}\n{_shape(t.shape)} {t.dtype}"
            style = 'shape=ellipse, style=filled, fillcolor="#eeeeee"'
        if t is root:
            style += ", penwidth=2"
        lines.append(f"  {node} [label={_quote(label)}, {style}];")
    for t in order:
        if t.op is not None:
            for parent in t.op.inputs:
                lines.append(f"  {ids[id(parent)]} -> {ids[id(t)]};")
    lines.append("}")
    return "\n".join(lines)


def _layer_label(layer, shape):
    params = layer.count_params()
    text = f"{layer.name}\n{type(layer).__name__}"
    if shape is not None:
        text += f"\n{_shape(shape) if isinstance(shape, tuple) else shape}"
    if params:
        text += f"\n{params:,} params"
    return text


def _model_dot(model, rankdir):
    lines = _header(rankdir)
    lines.append(f"  label={_quote(model.name)}; labelloc=t;")
    layer_style = 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"'
    input_style = 'shape=ellipse, style=filled, fillcolor="#eeeeee"'
    if getattr(model, "_functional", False):
        ids = {}
        for node in model._nodes:
            ids[id(node)] = f"n{len(ids)}"
            if node.inputs is None:
                label = f"{node.layer.name}\nInput\n{_shape((None,) + node.layer.shape)}"
                lines.append(f"  {ids[id(node)]} [label={_quote(label)}, {input_style}];")
            else:
                shapes = [s.shape for s in node.outputs]
                label = _layer_label(node.layer, shapes[0] if len(shapes) == 1 else ", ".join(map(_shape, shapes)))
                lines.append(f"  {ids[id(node)]} [label={_quote(label)}, {layer_style}];")
        for node in model._nodes:
            if node.inputs is not None:
                for s in _flatten(node.inputs):
                    lines.append(f"  {ids[id(s.node)]} -> {ids[id(node)]} [label={_quote(_shape(s.shape))}];")
    else:
        previous = None
        first = model.layers[0] if model.layers else None
        input_shape = getattr(model, "_input", None)
        input_shape = input_shape.shape if input_shape is not None else (first.build_input_shape if first is not None else None)
        if input_shape is not None:
            lines.append(f"  input [label={_quote('input' + chr(10) + _shape(input_shape))}, {input_style}];")
            previous = "input"
        for i, layer in enumerate(model.layers):
            node = f"l{i}"
            lines.append(f"  {node} [label={_quote(_layer_label(layer, layer.output_shape))}, {layer_style}];")
            if previous is not None:
                lines.append(f"  {previous} -> {node};")
            previous = node
    lines.append("}")
    return "\n".join(lines)


def _example_input(model, example):
    if example is not None:
        return example
    shape = model.build_input_shape if model.built else None
    if shape is None and getattr(model, "_input", None) is not None:
        shape = model._input.shape
    if not isinstance(shape, tuple):
        raise ValueError(
            f"to_dot: model '{model.name}' is not built (or has several inputs), so there is no input to trace; "
            "pass example=<a batch of inputs>"
        )
    dtype = model.dtype if model.dtype is not None else numpy.float32
    return numpy.zeros((1,) + tuple(1 if s is None else s for s in shape[1:]), dtype=dtype)


def to_dot(tensor_or_model, detail="layers", example=None, rankdir=None, max_nodes=2000):
    """Graphviz DOT text of a tensor's computational graph or of a model's layers.

    Args:
        tensor_or_model: a Tensor made by ops (before ``backward()``), or a
            Model/Layer.
        detail: for models, ``"layers"`` (Sequential and functional models)
            or ``"ops"`` (the op graph of one forward pass on ``example``, or
            on zeros of the built input shape).
        rankdir: Graphviz layout direction (``"TB"`` top to bottom, ``"LR"``).

    Examples:
        >>> import nerve
        >>> from nerve import layers
        >>> m = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(3, name="hidden"), layers.Dense(1, name="out")])
        >>> dot = to_dot(m)
        >>> "hidden" in dot and "15 params" in dot and "l0 -> l1" in dot
        True
    """
    if detail not in DETAILS:
        raise ValueError(f"to_dot: unknown detail {detail!r}; valid values: {', '.join(DETAILS)}")
    if isinstance(tensor_or_model, Tensor):
        return _tensor_dot(tensor_or_model, rankdir or "TB", max_nodes)
    if not isinstance(tensor_or_model, Layer):
        raise TypeError(f"to_dot: expected a Tensor or a nerve Model/Layer, got {type(tensor_or_model).__name__}")
    model = tensor_or_model
    is_container = getattr(model, "_functional", False) or hasattr(model, "_input")
    if detail == "layers" and is_container:
        return _model_dot(model, rankdir or "TB")
    x = _example_input(model, example)
    with enable_grad():
        out = model(x, training=False)
    if not isinstance(out, Tensor):
        raise TypeError("to_dot(detail='ops'): the model returned several outputs; draw one of them: to_dot(model(x)[0])")
    return _tensor_dot(out, rankdir or "TB", max_nodes)


def dot_available():
    """True when Graphviz's ``dot`` program is on the PATH (needed for SVG/PNG).

    Examples:
        >>> isinstance(dot_available(), bool)
        True
    """
    return shutil.which("dot") is not None


def render_dot(dot_text, path, format=None, timeout=60):
    """Write DOT text to ``path``; ``.svg``/``.png``/``.pdf`` paths are rendered with Graphviz's ``dot``.

    Returns the path written. Rendering needs the ``dot`` program (Debian:
    ``apt-get install graphviz``); a ``.dot`` path never does.

    Examples:
        >>> import os, tempfile
        >>> path = render_dot("digraph { a -> b }", os.path.join(tempfile.mkdtemp(), "g.dot"))
        >>> open(path).read()
        'digraph { a -> b }'
    """
    path = os.fspath(path)
    format = (format or os.path.splitext(path)[1].lstrip(".") or "dot").lower()
    if format not in FORMATS:
        raise ValueError(f"render_dot: unknown format {format!r}; valid formats: {', '.join(FORMATS)}")
    if format == "dot":
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(dot_text)
        return path
    program = shutil.which("dot")
    if program is None:
        raise RuntimeError(
            f"render_dot: writing {format.upper()} needs Graphviz's 'dot' program, which is not on the PATH; install "
            "Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or save a .dot file"
        )
    result = subprocess.run([program, f"-T{format}", "-o", path], input=dot_text.encode("utf-8"),
                            capture_output=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"render_dot: dot failed with exit code {result.returncode}: "
                           f"{result.stderr.decode('utf-8', 'replace').strip()}")
    return path


def draw_graph(tensor_or_model, path, detail="layers", example=None, rankdir=None):
    """:func:`to_dot` then :func:`render_dot`: save a graph picture (``.svg``, ``.png``, ``.pdf``) or ``.dot`` text.

    Examples:
        >>> import os, tempfile, nerve
        >>> x = nerve.tensor([1.0], requires_grad=True, name="x")
        >>> path = draw_graph((x * 3).exp(), os.path.join(tempfile.mkdtemp(), "graph.dot"))
        >>> "Exp" in open(path).read()
        True
    """
    return render_dot(to_dot(tensor_or_model, detail=detail, example=example, rankdir=rankdir), path)
