"""Models: Sequential, the functional API (Input + Model(inputs, outputs)) and subclassing.

All three are :class:`Model` objects, which are layers with a training API
(``compile``/``fit``/``evaluate``/``predict``, from :mod:`nerve.training`).

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> model = nerve.Sequential([layers.Dense(8, activation="relu"), layers.Dense(1)])
    >>> model(np.zeros((4, 3))).shape
    (4, 1)
    >>> inputs = nerve.Input(shape=(3,))
    >>> hidden = layers.Dense(8, activation="relu")(inputs)
    >>> functional = nerve.Model(inputs, layers.Dense(1)(hidden))
    >>> functional(np.zeros((4, 3))).shape
    (4, 1)
"""

from __future__ import annotations

import inspect
import json

import numpy

from nerve.blocks.layers.base import Layer, _graph_attribute, builtin_layer, construct_from_config, get_registered
from nerve.blocks.layers.base import note_weights_changed, take_added_losses
from nerve.blocks.layers.base import deserialize as deserialize_layer
from nerve.blocks.layers.base import serialize as serialize_layer
from nerve.blocks.layers.core import Input, InputLayer
from nerve.blocks.layers.symbolic import Node, SymbolicTensor, call_symbolic
from nerve.engine import registry
from nerve.engine.backend import to_device
from nerve.engine.nest import flatten as _flatten
from nerve.engine.nest import map_structure as _map
from nerve.engine.tensor import DEFAULT_FLOAT, Tensor, no_grad
from nerve.training.saving import load_model, save_model
from nerve.training.trainer import Trainer

__all__ = [
    "Node", "SymbolicTensor", "InputLayer", "Input", "call_symbolic", "Model", "Sequential",
    "load_model", "save_model", "clone_model", "model_from_json",
]


# --------------------------------------------------------- symbolic tensors
def _graph_nodes(outputs):
    """Nodes reachable from ``outputs``, each after the nodes feeding it (iterative DFS)."""
    order, seen = [], set()
    stack = [(s.node, False) for s in reversed(_flatten(outputs))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if node.inputs is not None:
            for s in reversed(_flatten(node.inputs)):
                if id(s.node) not in seen:
                    stack.append((s.node, False))
    return order


# -------------------------------------------------------------------- Model
@builtin_layer
class Model(Trainer, Layer):
    """A trainable network: functional (``Model(inputs, outputs)``) or subclassed (define ``call``).

    Example (functional, with a skip connection):
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> x = nerve.Input(shape=(4,))
        >>> h = layers.Dense(4, activation="relu")(x)
        >>> out = layers.Dense(1)(layers.Add()([x, h]))
        >>> model = nerve.Model(x, out)
        >>> model.compile(optimizer="adam", loss="mse")
        >>> history = model.fit(np.ones((8, 4)), np.ones((8, 1)), epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2

    Example (subclassed):
        >>> class TwoLayer(nerve.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = layers.Dense(8, activation="relu")
        ...         self.out = layers.Dense(1)
        ...     def call(self, x, training=None):
        ...         return self.out(self.hidden(x))
        >>> TwoLayer()(np.zeros((2, 3))).shape
        (2, 1)
    """

    def __new__(cls, *args, **kwargs):
        model = super().__new__(cls)
        object.__setattr__(model, "_init_arguments", (args, kwargs))  # for get_config of subclassed models
        return model

    def __init__(self, inputs=None, outputs=None, name=None, **kwargs):
        Layer.__init__(self, name=name, **kwargs)
        Trainer.__init__(self)
        self._functional = inputs is not None
        if self._functional:
            if outputs is None:
                raise ValueError("Model(inputs, outputs): outputs are missing")
            self._init_graph(inputs, outputs)

    # ------------------------------------------------------------ functional
    def _init_graph(self, inputs, outputs):
        for s in _flatten(inputs) + _flatten(outputs):
            if not isinstance(s, SymbolicTensor):
                raise TypeError(f"Model(inputs, outputs) expects tensors from nerve.Input and layers, got {type(s).__name__}")
        self.inputs = inputs
        self.outputs = outputs
        self._nodes = _graph_nodes(outputs)
        reachable_inputs = {id(n) for n in self._nodes if n.inputs is None}
        for s in _flatten(inputs):
            if id(s.node) not in reachable_inputs and s.node.inputs is None:
                self._nodes.insert(0, s.node)
        declared = {id(s.node) for s in _flatten(inputs)}
        for node in self._nodes:
            if node.inputs is None and id(node) not in declared:
                raise ValueError(
                    f"Model(inputs, outputs): output depends on input '{node.layer.name}' that is not among the model's inputs"
                )
        names = {}
        for layer in self._graph_layers():
            if layer.name in names and names[layer.name] is not layer:
                raise ValueError(f"Model: two different layers are named '{layer.name}'; layer names must be unique in a model")
            names[layer.name] = layer
        self._layers = [layer for layer in self._graph_layers() if not isinstance(layer, InputLayer)]
        self.built = True
        self.output_shape = _map(outputs, lambda s: s.shape)
        self.input_shape = _map(inputs, lambda s: s.shape)

    def _graph_layers(self):
        seen, out = set(), []
        for node in self._nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append(node.layer)
        return out

    def _run_graph(self, inputs, training):
        values = {}
        symbolic_inputs = _flatten(self.inputs)
        if isinstance(self.inputs, dict) and isinstance(inputs, dict):
            given = [inputs[k] for k in self.inputs]
        elif isinstance(inputs, dict):
            try:
                given = [inputs[s.node.layer.name] for s in symbolic_inputs]
            except KeyError as missing:
                names = [s.node.layer.name for s in symbolic_inputs]
                raise ValueError(f"model '{self.name}': input {missing} not given; the model's inputs are {names}") from None
        else:
            given = _flatten(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(given) != len(symbolic_inputs):
            raise ValueError(f"model '{self.name}' expects {len(symbolic_inputs)} inputs, got {len(given)}")
        for s, value in zip(symbolic_inputs, given):
            expected = s.shape
            if value.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected, value.shape)):
                raise ValueError(
                    f"model '{self.name}': input '{s.node.layer.name}' expects shape {expected}, got {tuple(value.shape)}"
                )
            values[id(s)] = value
        for node in self._nodes:
            if node.inputs is None:
                continue
            args = _map(node.inputs, lambda s: values[id(s)])
            out = node.layer(args, training=training, **node.kwargs)
            if len(node.outputs) == 1 and not isinstance(out, (list, tuple)):
                values[id(node.outputs[0])] = out
            else:
                for s, o in zip(node.outputs, out):
                    values[id(s)] = o
        return _map(self.outputs, lambda s: values[id(s)])

    def _on_device(self, value):
        """An input (array or list) as an array on the model's device (Tensors are left as they are)."""
        data = value if hasattr(value, "dtype") and hasattr(value, "shape") else numpy.asarray(value)
        if type(data) is numpy.ndarray:
            device = self.device
            if device != "cpu":
                data = to_device(data, device)
        return data

    def _prepare(self, x):
        if self._functional:
            symbolic = _flatten(self.inputs)
            if isinstance(x, dict):
                return {k: (v if isinstance(v, Tensor) else Tensor(self._on_device(v))) for k, v in x.items()}
            values = x if isinstance(x, (list, tuple)) else [x]
            prepared = []
            for s, v in zip(symbolic, values):
                data = v.data if isinstance(v, Tensor) else self._on_device(v)
                if data.dtype.kind in "iub" and s.dtype.kind in "iu":
                    prepared.append(v if isinstance(v, Tensor) else Tensor(data))
                elif isinstance(v, Tensor) and v.dtype.kind == "f":
                    prepared.append(v)
                else:
                    prepared.append(Tensor(data.astype(s.dtype if s.dtype.kind == "f" else DEFAULT_FLOAT, copy=False)))
            prepared += list(values[len(symbolic):])
            return prepared if isinstance(x, (list, tuple)) else prepared[0]
        return super()._prepare(x)

    def call(self, inputs, training=None):
        if self._functional:
            return self._run_graph(inputs, training)
        raise NotImplementedError(
            f"model '{self.name}': a subclassed Model must define call(self, inputs, training=None)"
        )

    def _fixes_last_axis(self):
        return False

    # ------------------------------------------------------------- structure
    @_graph_attribute
    def input(self):
        """The model's symbolic input(s): one tensor, or the list/dict given to ``Model(inputs, ...)``.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> x = nerve.Input(shape=(3,)); model = nerve.Model(x, layers.Dense(1)(x))
            >>> model.input is x
            True
        """
        if self._functional:
            inputs = self.inputs
            return inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
        return Layer.input.fget(self)

    @_graph_attribute
    def output(self):
        """The model's symbolic output(s), as given to ``Model(..., outputs)``.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> x = nerve.Input(shape=(3,)); model = nerve.Model(x, layers.Dense(1)(x))
            >>> model.output.shape
            (None, 1)
        """
        if self._functional:
            outputs = self.outputs
            return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs
        return Layer.output.fget(self)

    # ------------------------------------------------------- Keras's Model API
    @_graph_attribute
    def metrics(self):
        """The compiled metric objects (empty before the first batch resolves them); a subclass with its own
        ``train_step`` may define its own list, which ``fit`` resets at each epoch.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
            >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
            >>> _ = model.evaluate(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
            >>> [m.name for m in model.metrics]
            ['mae']
        """
        return [metric for built in (getattr(self, "_metrics", None) or []) for _, metric in built]

    @property
    def metrics_names(self):
        """The names of the values ``evaluate`` returns, in order: ``["loss", ...]`` (empty before training).

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
            >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
            >>> _ = model.evaluate(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
            >>> model.metrics_names
            ['loss', 'mae']
        """
        if getattr(self, "_metrics", None) is None:
            return []
        names = self._output_names or [None]
        return list(self._epoch_logs(0.0, [0.0] * len(names), 1))

    def reset_metrics(self):
        """Reset the state of every compiled metric.

        Examples:
            >>> import nerve
            >>> nerve.Sequential([nerve.layers.Dense(1)]).reset_metrics()
        """
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self):
        """``{name: result}`` of the compiled metrics as they stand.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(1,)), layers.Dense(1, kernel_initializer="zeros")])
            >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
            >>> _ = model.evaluate(np.ones((2, 1)), np.ones((2, 1)), verbose=0)
            >>> model.get_metrics_result()
            {'mae': 1.0}
        """
        return {name: metric.result() for built in (getattr(self, "_metrics", None) or []) for name, metric in built}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` (computed from ``x`` when not given) against ``y``, plus the weight
        penalties: a scalar Tensor to call ``backward()`` on, as in a Keras ``train_step``.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(1,)), layers.Dense(1, kernel_initializer="zeros")])
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> model.compute_loss(y=np.full((2, 1), 3.0), y_pred=model(np.ones((2, 1)))).item()
            9.0
        """
        self._check_compiled("compute_loss")
        if y_pred is None:
            if x is None:
                raise ValueError(f"model '{self.name}'.compute_loss: give y_pred, or x to compute it from")
            take_added_losses()  # what add_loss left from earlier calls (predict, inference) does not count
            y_pred = self(x, training=training)
        if self._losses is None:
            self._resolve(y_pred)
        loss, _, _, _ = self._compute_loss(y_pred, y, sample_weight)
        for regularizer, weight in self.regularized_weights():
            loss = loss + regularizer(weight)
        for added in take_added_losses():  # Layer.add_loss in the forward pass
            loss = loss + added
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch and return :meth:`get_metrics_result`.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(1,)), layers.Dense(1, kernel_initializer="zeros")])
            >>> model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
            >>> model.compute_metrics(None, np.full((2, 1), 2.0), model(np.ones((2, 1))))
            {'mae': 2.0}
        """
        self._check_compiled("compute_metrics")
        if self._losses is None:
            self._resolve(y_pred)
        self._update_metrics(self._split_outputs(y_pred), self._split_targets(y), sample_weight)
        return self.get_metrics_result()

    def predict_step(self, data):
        """The model's outputs for one batch ``data`` (``x``, or ``(x, ...)``), in inference mode.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(3)])
            >>> model.predict_step((np.ones((4, 2)),)).shape
            (4, 3)
        """
        x = data[0] if isinstance(data, tuple) else data
        with no_grad():
            return self(x, training=False)

    def compute_output_shape(self, input_shape):
        """The output shape for inputs of ``input_shape`` (batch axis None or a number), by a call on zeros.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> nerve.Sequential([layers.Dense(3)]).compute_output_shape((None, 5))
            (None, 3)
        """
        shape = tuple(1 if n is None else n for n in input_shape)
        with no_grad():
            out = self(numpy.zeros(shape, dtype=self.dtype or DEFAULT_FLOAT), training=False)
        batch = input_shape[0]
        return _map(out, lambda t: (batch,) + tuple(t.shape[1:]))

    def get_build_config(self):
        """``{"input_shape": ...}`` the model was built for (None before), for :meth:`build_from_config`.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([layers.Dense(3)]); _ = model(np.ones((2, 4)))
            >>> model.get_build_config()
            {'input_shape': (None, 4)}
        """
        shape = self.build_input_shape if self.built else None
        if shape is None and self.built:
            try:  # built from nerve.Input: the symbolic input knows the shape
                shape = _map(self.input, lambda s: s.shape)
            except AttributeError:
                shape = None
        return {"input_shape": shape}

    def build_from_config(self, config):
        """Build the model from :meth:`get_build_config` output.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([layers.Dense(3)]); model.build_from_config({"input_shape": (None, 4)})
            >>> model.count_params()
            15
        """
        if config and config.get("input_shape") is not None:
            self.build(config["input_shape"])

    @property
    def run_eagerly(self):
        """Always True: nerve runs every step eagerly (nothing is compiled); setting it is accepted.

        Examples:
            >>> import nerve
            >>> nerve.Sequential().run_eagerly
            True
        """
        return True

    @run_eagerly.setter
    def run_eagerly(self, value):
        pass

    @property
    def path(self):
        """The model's path, its name (Keras's ``model.path``).

        Examples:
            >>> import nerve
            >>> nerve.Sequential(name="net").path
            'net'
        """
        return self.name

    def zero_grad(self):
        """Clear the gradients of all the model's weights (the first line of a Keras-style ``train_step``).

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
            >>> model(np.ones((1, 2))).sum().backward(); model.zero_grad()
            >>> [w.grad for w in model.trainable_weights]
            [None, None]
        """
        for weight in self.weights:
            weight.grad = None

    def to_json(self, **kwargs):
        """The model's architecture as a JSON string (no weights); :func:`model_from_json` rebuilds it.

        ``kwargs`` go to ``json.dumps`` (``indent=2``...).

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
            >>> nerve.models.model_from_json(model.to_json()).output_shape
            (None, 2)
        """
        return json.dumps(serialize_layer(self), **kwargs)

    @property
    def layers(self):
        """The model's layers in order (functional: topological order, input layers excluded)."""
        if self._functional:
            return list(self._layers)
        return self._sublayers()

    def get_layer(self, name=None, index=None):
        """Return a layer by name or by index in ``layers``.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([layers.Dense(2, name="hidden")])
            >>> m.get_layer("hidden").name
            'hidden'
        """
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"model '{self.name}' has no layer named '{name}'; its layers are {[l.name for l in self.layers]}")

    def summary(self, print_fn=print, line_length=78):
        """Print a table of layers, output shapes and parameter counts (trainable / non-trainable).

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([nerve.Input(shape=(4,)), layers.Dense(2, name="dense")], name="tiny")
            >>> m.summary()  # doctest: +NORMALIZE_WHITESPACE
            Model: "tiny"
            ==============================================================================
            Layer (type)                          Output Shape                   Param #
            ==============================================================================
            dense (Dense)                         (None, 2)                           10
            ==============================================================================
            Total params: 10
            Trainable params: 10
            Non-trainable params: 0
            ______________________________________________________________________________
        """
        if not self.built or any(not layer.built for layer in self.layers):
            raise ValueError(
                f"model '{self.name}' is not built yet, so its shapes are unknown: call it on a batch of data, "
                "call model.build(input_shape), or start it with nerve.Input(shape=...)"
            )
        rows = []
        for layer in self.layers:
            shape = layer.output_shape
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape).replace("'", ""), f"{layer.count_params():,}"))
        trainable = sum(w.size for w in self.trainable_weights)
        non_trainable = sum(w.size for w in self.non_trainable_weights)
        name_width = max([38] + [len(name) + 2 for name, _, _ in rows])  # long names widen the table
        widths = (name_width, 30, line_length - 68)
        line_length += name_width - 38
        rule = "=" * line_length
        lines = [f'Model: "{self.name}"', rule,
                 f"{'Layer (type)':<{widths[0]}}{'Output Shape':<{widths[1]}}{'Param #':>{widths[2]}}", rule]
        for name, shape, count in rows:
            lines.append(f"{name:<{widths[0]}}{shape:<{widths[1]}}{count:>{widths[2]}}")
        lines += [rule, f"Total params: {trainable + non_trainable:,}", f"Trainable params: {trainable:,}",
                  f"Non-trainable params: {non_trainable:,}", "_" * line_length]
        text = "\n".join(lines)
        if print_fn is None:
            return text
        print_fn(text)
        return None

    def build(self, input_shape=None):
        """Build the model's weights for per-batch ``input_shape`` (e.g. ``(None, 784)``) by calling it once."""
        if input_shape is None or self.built and self._functional or getattr(self, "_building", False):
            return  # also when Layer.__call__ builds us on the first batch: call() then builds the sub-layers
        shape = tuple(1 if n is None else n for n in input_shape)
        self._building = True
        try:
            with no_grad():
                self(numpy.zeros(shape, dtype=self.dtype or DEFAULT_FLOAT), training=False)
        finally:
            self._building = False

    # ---------------------------------------------------------------- config
    def get_config(self):
        """The model's configuration: its graph (functional) or its constructor arguments (subclassed).

        A subclassed model either defines ``get_config`` (calling ``super().get_config()`` for the name and
        dtype) or is saved with the arguments its ``__init__`` received, when those are plain JSON values
        (numbers, strings, lists, dicts). ``from_config`` passes the config back to ``__init__``.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> class Net(nerve.Model):
            ...     def __init__(self, units=4, **kwargs):
            ...         super().__init__(**kwargs)
            ...         self.units = units
            ...         self.hidden = layers.Dense(units)
            ...     def call(self, x):
            ...         return self.hidden(x)
            >>> Net(units=8, name="net").get_config()["units"]
            8
        """
        if not self._functional:
            config = Layer.get_config(self)
            if type(self).get_config is Model.get_config:  # not overridden: the captured __init__ arguments
                config.update(self._captured_arguments())
            return config
        node_index = {}
        layer_configs = []
        per_layer_nodes = {}
        for node in self._nodes:
            nodes = per_layer_nodes.setdefault(id(node.layer), [])
            node_index[id(node)] = (node.layer.name, len(nodes))
            nodes.append(node)
        for layer in self._graph_layers():
            calls = []
            for node in per_layer_nodes[id(layer)]:
                if node.inputs is None:
                    continue
                calls.append({"args": _map(node.inputs, lambda s: {"ref": list(node_index[id(s.node)]) + [s.index]}),
                              "kwargs": node.kwargs})
            layer_configs.append({"class_name": registry.get_registered_name(layer), "config": layer.get_config(), "calls": calls})
        ref = lambda s: {"ref": list(node_index[id(s.node)]) + [s.index]}  # noqa: E731
        return {"name": self.name, "layers": layer_configs, "inputs": _map(self.inputs, ref), "outputs": _map(self.outputs, ref)}

    def _captured_arguments(self):
        args, kwargs = self.__dict__.get("_init_arguments", ((), {}))
        try:
            bound = inspect.signature(type(self).__init__).bind(self, *args, **kwargs)
        except TypeError:
            bound = None
        captured = {}
        if bound is not None:
            for name, value in list(bound.arguments.items())[1:]:
                kind = inspect.signature(type(self).__init__).parameters[name].kind
                if kind is inspect.Parameter.VAR_KEYWORD:
                    captured.update(value)
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    bound = None if value else bound
                else:
                    captured[name] = value
        if bound is None or not all(_plain(v) for v in captured.values()):
            raise NotImplementedError(
                f"model '{self.name}' ({type(self).__name__}) is a subclassed model whose __init__ arguments are not "
                "plain JSON values: to save its architecture, implement get_config() (returning "
                "{**super().get_config(), ...your arguments}) and register the class with "
                "@nerve.saving.register_serializable(); or save only its weights with model.save_weights(path)"
            )
        return {k: v for k, v in captured.items() if k not in ("name", "trainable", "dtype")}

    @classmethod
    def from_config(cls, config):
        """Rebuild a model from :meth:`get_config`: the functional graph, or ``__init__(**config)`` for a subclass.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> x = nerve.Input(shape=(3,)); m = nerve.Model(x, layers.Dense(2)(x))
            >>> nerve.Model.from_config(m.get_config()).count_params()
            8
        """
        if not (isinstance(config, dict) and "layers" in config and "inputs" in config and "outputs" in config):
            return construct_from_config(cls, config)
        created, pending = {}, []
        produced = {}  # (layer name, node index) -> list of symbolic outputs
        for entry in config["layers"]:
            layer_cls = get_registered(entry["class_name"])
            layer_config = dict(entry["config"])
            if layer_cls is InputLayer:
                shape = layer_config.pop("shape")
                symbolic = Input(shape, dtype=layer_config.get("input_dtype", "float32"), name=layer_config["name"])
                produced[(layer_config["name"], 0)] = [symbolic]
                created[layer_config["name"]] = symbolic.node.layer
                continue
            layer = layer_cls.from_config(layer_config)
            created[layer.name] = layer
            pending.extend((layer, index, call) for index, call in enumerate(entry["calls"]))
        resolve = lambda r: produced[(r["ref"][0], r["ref"][1])][r["ref"][2]]  # noqa: E731
        # replay the calls once their inputs exist (a shared layer's 2nd call may need a later layer's output)
        while pending:
            ready = [item for item in pending if all(key in produced for key in _ref_keys(item[2]["args"]))]
            if not ready:
                raise ValueError(f"model config '{config.get('name')}': some layer calls use outputs no layer produces")
            for item in ready:
                layer, index, call = item
                out = layer(_map_refs(call["args"], resolve), **call.get("kwargs", {}))
                produced[(layer.name, index)] = list(out) if isinstance(out, (list, tuple)) else [out]
                pending.remove(item)
        return cls(_map_refs(config["inputs"], resolve), _map_refs(config["outputs"], resolve), name=config.get("name"))


def _plain(value):
    """True for values JSON holds as they are (so a config of them round-trips)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _ref_keys(structure):
    keys = []
    _map_refs(structure, lambda r: keys.append((r["ref"][0], r["ref"][1])))
    return keys


def _map_refs(structure, fn):
    if isinstance(structure, dict) and "ref" in structure:
        return fn(structure)
    if isinstance(structure, dict):
        return {k: _map_refs(v, fn) for k, v in structure.items()}
    if isinstance(structure, list):
        return [_map_refs(v, fn) for v in structure]
    return structure


@builtin_layer
class Sequential(Model):
    """A plain stack of layers, each feeding the next.

    Start with ``nerve.Input(shape=...)`` (or give the first layer
    ``input_shape=``) to build it right away; otherwise it builds on the first
    batch it sees.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> model = nerve.Sequential([
        ...     nerve.Input(shape=(4,)),
        ...     layers.Dense(200, activation="relu"),
        ...     layers.Dense(1),
        ... ])
        >>> model.count_params()
        1201
    """

    def __init__(self, layers=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._layers = []
        self._input = None
        self._graph = None  # (symbolic input, symbolic output) once the input shape is known
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Append a layer (or an ``Input``) to the stack.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential(); m.add(nerve.Input(shape=(2,))); m.add(layers.Dense(1))
            >>> m.output_shape
            (None, 1)
        """
        if isinstance(layer, SymbolicTensor):
            if self._layers or self._input is not None:
                raise ValueError("Sequential: an Input must come first")
            self._input = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential: a layer named '{layer.name}' is already in the model")
        if self._device is not None and layer._device is None:
            layer.to(self._device)  # a model placed before its layers came: they go where it is
        self._layers.append(layer)
        note_weights_changed()
        hint = self._input.shape if self._input is not None else (
            (None,) + self._layers[0].input_shape_hint if self._layers[0].input_shape_hint else None)
        if hint is not None:
            dtype = self._input.dtype if self._input is not None else DEFAULT_FLOAT
            example = Tensor(to_device(numpy.zeros((1,) + tuple(hint[1:]), dtype=dtype), self.device))
            with no_grad():
                self._forward(example, training=False)
            self.built = True
            self.input_spec = (len(hint), None)
            if self._graph is None and len(self._layers) == 1:  # the functional graph behind layer.output
                start = self._input if self._input is not None else Input(tuple(hint[1:]), dtype=dtype)
                self._graph = (start, start)
            if self._graph is not None:
                self._graph = (self._graph[0], call_symbolic(layer, self._graph[1]))

    @property
    def layers(self):
        return list(self._layers)

    def _graph_end(self, index, what):
        if self._graph is None:
            raise AttributeError(f"Sequential model '{self.name}' has no {what} yet: start it with "
                                 "nerve.Input(shape=...) (or give its first layer input_shape=...)")
        return self._graph[index]

    @_graph_attribute
    def input(self):
        """The symbolic input of the stack (known once the input shape is)."""
        return self._graph_end(0, "input")

    @_graph_attribute
    def output(self):
        """The symbolic output of the stack's last layer."""
        return self._graph_end(1, "output")

    @property
    def inputs(self):
        """``[model.input]``, as in Keras."""
        return [self.input]

    @property
    def outputs(self):
        """``[model.output]``, as in Keras."""
        return [self.output]

    def pop(self):
        """Remove the last layer and return it (Keras's ``Sequential.pop``).

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(4), layers.Dense(1)])
            >>> m.pop().output_shape, m.output_shape
            ((None, 1), (None, 4))
        """
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers to pop")
        layers = self._layers[:-1]
        removed = self._layers[-1]
        self._layers, self._graph = [], None
        note_weights_changed()
        for layer in layers:
            self.add(layer)
        if not layers:
            self.output_shape = None
        return removed

    def _prepare(self, x):
        if self._input is not None and self._input.dtype.kind in "iu":
            if isinstance(x, Tensor):
                return x
            return Tensor(self._on_device(x))
        return Layer._prepare(self, x)

    def _check_input(self, x):
        try:
            Layer._check_input(self, x)
        except ValueError as error:  # name the first layer too: that is the one the user wrote
            first = self._layers[0] if self._layers else None
            if first is None or not first.built:
                raise
            raise ValueError(f"{error}; its first layer '{first.name}' ({type(first).__name__}) was built for "
                             f"input shape {first.build_input_shape}") from None

    def _forward(self, x, training):
        for layer in self._layers:
            x = layer(x, training=training)
        self.output_shape = (None,) + tuple(x.shape[1:])
        return x

    def call(self, inputs, training=None):
        if not self._layers:
            raise ValueError(f"model '{self.name}' has no layers")
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def get_config(self):
        config = {"name": self.name, "layers": [serialize_layer(l) for l in self._layers]}
        if self._input is not None:
            config["input_shape"] = list(self._input.shape[1:])
            config["input_dtype"] = str(self._input.dtype)
        elif self.built and self.input_spec is not None and self._layers and self._layers[0].built:
            config["input_shape"] = None
        if self.dtype is not None:
            config["dtype"] = str(self.dtype)  # float64 models take float64 arrays as they are
        return config

    @classmethod
    def from_config(cls, config):
        model = cls(name=config.get("name"), dtype=config.get("dtype"))
        if config.get("input_shape") is not None:
            model.add(Input(tuple(config["input_shape"]), dtype=config.get("input_dtype", "float32")))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry))
        return model


# ------------------------------------------------------- Keras's nerve.models functions
def model_from_json(json_string, custom_objects=None):
    """Rebuild a model (fresh weights) from :meth:`Model.to_json`'s string.

    Examples:
        >>> import nerve
        >>> from nerve import layers
        >>> x = nerve.Input(shape=(4,)); model = nerve.Model(x, layers.Dense(2)(x))
        >>> model_from_json(model.to_json()).count_params()
        10
    """
    try:
        config = json.loads(json_string)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model_from_json: expected the JSON string of model.to_json(), got {str(json_string)[:60]!r} "
                         f"({error})") from None
    return deserialize_layer(config, custom_objects=custom_objects)


def _clone_layer(layer):
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, **kwargs):
    """A new model with the same architecture and freshly initialised weights (Keras semantics).

    Args:
        model: a Sequential, functional or subclassed model.
        input_tensors: for a functional model, new ``nerve.Input`` tensors to start the clone from.
        clone_function: ``layer -> new layer`` applied to each layer (default: ``from_config(get_config())``);
            return the layer itself to share it, or a modified layer to change the architecture.

    Examples:
        >>> import numpy as np, nerve
        >>> from nerve import layers
        >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(2)])
        >>> twin = clone_model(model)
        >>> twin.count_params(), twin.layers[0] is model.layers[0]
        (8, False)
        >>> twin.set_weights(model.get_weights())
        >>> bool(np.allclose(twin(np.ones((1, 3))).numpy(), model(np.ones((1, 3))).numpy()))
        True
    """
    if kwargs:
        raise TypeError(f"clone_model: unexpected keyword arguments {sorted(kwargs)}")
    clone = clone_function or _clone_layer
    if isinstance(model, Sequential):
        copy = Sequential(name=model.name, dtype=model.dtype)
        if model._input is not None:
            copy.add(Input(model._input.shape[1:], dtype=model._input.dtype, name=model._input.node.layer.name))
        for layer in model.layers:
            copy.add(clone(layer))
        return copy
    if not isinstance(model, Model):
        raise TypeError(f"clone_model expects a nerve Model, got {type(model).__name__}")
    if not model._functional:
        if clone_function is not None:
            raise ValueError(f"clone_model: model '{model.name}' is subclassed; clone_function applies to the "
                             "layers of Sequential and functional models only")
        return type(model).from_config(model.get_config())
    new_inputs = _flatten(input_tensors) if input_tensors is not None else None
    old_inputs = _flatten(model.inputs)
    if new_inputs is not None and len(new_inputs) != len(old_inputs):
        raise ValueError(f"clone_model: model '{model.name}' has {len(old_inputs)} inputs, input_tensors holds "
                         f"{len(new_inputs)}")
    values, clones = {}, {}
    for index, s in enumerate(old_inputs):
        layer = s.node.layer
        values[id(s)] = (new_inputs[index] if new_inputs is not None
                         else Input(layer.shape, dtype=layer.input_dtype, name=layer.name))
    for node in model._nodes:
        if node.inputs is None:
            continue
        if id(node.layer) not in clones:
            clones[id(node.layer)] = clone(node.layer)
        out = clones[id(node.layer)](_map(node.inputs, lambda s: values[id(s)]), **node.kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        for s, o in zip(node.outputs, outs):
            values[id(s)] = o
    return Model(_map(model.inputs, lambda s: values[id(s)]), _map(model.outputs, lambda s: values[id(s)]),
                 name=model.name)
