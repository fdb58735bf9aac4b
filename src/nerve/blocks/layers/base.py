"""The Layer base class: lazy build, weight discovery, training mode, config.

A layer keeps its configuration in ``__init__``, creates its weights in
``build(input_shape)`` with :meth:`Layer.add_weight` (called automatically on
the first call, so ``Dense(200)`` needs no input size), and computes in
``call(inputs, training=None)``. Weights and sub-layers are found by looking
at the layer's attributes: assign a Tensor with ``requires_grad=True`` or a
Layer (or a list of layers) to ``self`` and it is tracked.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> class Scale(layers.Layer):
    ...     def build(self, input_shape):
    ...         self.factor = self.add_weight("factor", (input_shape[-1],), initializer="ones")
    ...     def call(self, x):
    ...         return x * self.factor
    >>> s = Scale()
    >>> s(np.ones((2, 3))).shape
    (2, 3)
    >>> [w.shape for w in s.trainable_weights]
    [(3,)]
"""

from __future__ import annotations

import contextlib
import inspect
import re

import numpy

from nerve.blocks import activations, constraints, initializers, mixed_precision, regularizers
from nerve.blocks.layers.symbolic import SymbolicTensor, call_symbolic
from nerve.engine import registry
from nerve.engine.backend import device_of, get_array_module, get_device, to_device
from nerve.engine.tensor import DEFAULT_FLOAT, Tensor

_NAME_COUNTS = {}
_WEIGHT_BUDGET = [None]  # bytes that weights created from now on may still take (None: no limit), see weight_budget
_CHANGES = [0]  # counts changes to any layer's weights or trainable flags (the training loop caches on it)
_ADDED_LOSSES = []  # scalar losses given to Layer.add_loss since the training loop last took them


def weights_version():
    """A number that changes whenever a weight is added or replaced, or a ``trainable`` flag is set.

    The training loop re-reads the trainable weights only when it changed.

    Examples:
        >>> from nerve import layers
        >>> before = weights_version(); layers.Dense(2).trainable = False
        >>> weights_version() != before
        True
    """
    return _CHANGES[0]


class WeightBudgetError(MemoryError):
    """Raised by ``add_weight`` inside :func:`weight_budget` when a weight would pass the budget."""


@contextlib.contextmanager
def weight_budget(nbytes):
    """Within the block, creating weights of more than ``nbytes`` bytes in all raises :class:`WeightBudgetError`
    before anything is allocated. ``load_model`` builds a model from a file's config inside a budget of the size of
    the file's weights, so that a config describing a huge layer cannot make it allocate gigabytes.

    Examples:
        >>> from nerve import layers
        >>> with weight_budget(1000):
        ...     layers.Dense(10**6).build((None, 1000))
        Traceback (most recent call last):
        ...
        nerve.blocks.layers.base.WeightBudgetError: layer 'dense...': weight 'kernel' of shape (1000, 1000000) needs 4,000,000,000 bytes, more than the 1,000 bytes left for weights
    """
    previous = _WEIGHT_BUDGET[0]
    _WEIGHT_BUDGET[0] = int(nbytes)
    try:
        yield
    finally:
        _WEIGHT_BUDGET[0] = previous


def note_weights_changed():
    """Tell the training loop that a model's set of weights changed (``Sequential.add`` calls it).

    Examples:
        >>> before = weights_version(); note_weights_changed(); weights_version() == before + 1
        True
    """
    _CHANGES[0] += 1


def register(cls=None, *, name=None, package=None):
    """Class decorator that makes a layer (or model) class loadable from a saved model file.

    Loading looks classes up by name in nerve's one registry (:mod:`nerve.engine.registry`) and never
    imports or executes code from the file, so a custom layer must be registered before ``load_model``
    (or passed in ``custom_objects=``). Same as ``nerve.saving.register_serializable(package=None)``;
    give ``package=`` to save the class as ``"package>Name"``.

    Examples:
        >>> from nerve import layers
        >>> @layers.register
        ... class MyLayer(layers.Layer):
        ...     def call(self, x):
        ...         return x
        >>> layers.get_registered("MyLayer") is MyLayer
        True
    """

    wrap = registry.register_serializable(package=package, name=name)
    return wrap(cls) if cls is not None else wrap


#: The decorator of nerve's own layer classes (users register theirs with :func:`register`).
builtin_layer = registry.register_builtin("layer")


def get_registered(name):
    """Return the layer class called ``name`` (built in, registered or in a ``custom_objects`` scope).

    Examples:
        >>> get_registered("Dense").__name__
        'Dense'
    """
    cls = registry.lookup("layer", name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise registry.UnknownObjectError(f"{name!r} does not name a layer class")
    return cls


def serialize(layer):
    """``{"class_name": registered name, "config": layer.get_config()}`` for a layer.

    Examples:
        >>> from nerve import layers
        >>> serialize(layers.Dense(2, name="d"))["class_name"]
        'Dense'
    """
    return registry.serialize(layer, "layer")


def deserialize(config, custom_objects=None):
    """Rebuild a layer from :func:`serialize` output; only built-in or registered classes (nothing is imported).

    Examples:
        >>> deserialize({"class_name": "Dense", "config": {"units": 3}}).units
        3
    """
    return registry.deserialize("layer", config, base=Layer, custom_objects=custom_objects)


def _snake(name):
    # "Dense" -> "dense", "SimpleRNN" -> "simple_rnn", "Conv2DTranspose" -> "conv2d_transpose"
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(prefix):
    """Keras-style automatic names: ``dense``, ``dense_1``, ``dense_2``..."""
    count = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = count + 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names():
    """Restart automatic layer naming (``dense``, ``dense_1``...) from scratch.

    Examples:
        >>> from nerve import layers
        >>> reset_names(); layers.Dense(1).name
        'dense'
    """
    _NAME_COUNTS.clear()


class _Symbolic:
    """Marks the result of a functional-API call on the way out of ``Layer._enter``."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _CallContext:
    """The training flag of the outermost call, inherited by nested layers that are not told."""

    training = False


class _graph_attribute:  # noqa: N801 - used as a decorator, like property
    """A read-only property that an instance attribute of the same name overrides (``self.output = Dense(1)``
    in a subclass keeps working, as ``input``/``output`` are common attribute names)."""

    def __init__(self, fget):
        self.fget = fget
        self.__doc__ = fget.__doc__

    def __get__(self, obj, owner=None):
        return self if obj is None else self.fget(obj)


class Layer:
    """Base class of all layers and models.

    Args:
        name: unique name (automatic: ``dense``, ``dense_1``...).
        trainable: when False, the layer's weights are frozen (not returned by
            ``trainable_weights``/``parameters()``).
        dtype: weight dtype, or a dtype policy (``"mixed_float16"``: float16
            arithmetic, float32 weights; see :mod:`nerve.mixed_precision`). By
            default the global policy's, which is float32, or float64 when the
            first input is float64 (handy for gradient checks).
        input_shape: optional shape of one sample (without the batch axis);
            lets a Sequential model build before it sees data.

    Examples:
        >>> from nerve import layers
        >>> layers.Dense(3, name="out").name
        'out'
    """

    #: layers that take integer ids (Embedding) set this to keep ints intact
    accepts_integer_input = False
    #: the device set by ``to()`` (or found from the weights, see ``device``); None until then
    _device = None
    #: minimum input rank (including the batch axis); checked before build
    min_ndim = None
    #: under a mixed policy, layers that set this compute in their weights' dtype (float32) and cast their
    #: output to the compute dtype (BatchNormalization: its statistics need float32's range)
    compute_in_variable_dtype = False
    #: the compute dtype when it differs from the weights' (a mixed policy), else None
    _compute_dtype = None
    #: Keras's ``activity_regularizer`` (every layer takes it): a regularizer applied to the layer's output at each
    #: call, its penalty divided by the batch size and added to the training objective through ``add_loss``
    activity_regularizer = None

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}")
        self.name = name or unique_name(_snake(type(self).__name__))
        if activity_regularizer is not None:
            self.activity_regularizer = regularizers.get(activity_regularizer)
        self.trainable = trainable
        self._set_dtype_policy(dtype)
        self.input_shape_hint = tuple(input_shape) if input_shape is not None else None
        self.built = False
        self.input_spec = None  # (rank, last axis size) seen at build
        self.output_shape = None
        self.build_input_shape = None

    # ------------------------------------------------------------ dtype policy
    def _set_dtype_policy(self, dtype):
        """Set ``dtype`` (the weights') and the compute dtype from a dtype, a policy name or None (global)."""
        object.__setattr__(self, "_compute_dtype", None)
        if dtype is None:
            policy = mixed_precision.global_policy()
            if policy.name == "float32":  # the default: float32, or float64 from a float64 first input
                self.dtype = None
                return
        elif isinstance(dtype, mixed_precision.DTypePolicy) or (isinstance(dtype, str) and dtype.startswith("mixed")):
            policy = mixed_precision.DTypePolicy(dtype)
        else:
            self.dtype = numpy.dtype(dtype)
            return
        self.dtype = numpy.dtype(policy.variable_dtype)
        if policy.is_mixed:
            object.__setattr__(self, "_compute_dtype", numpy.dtype(policy.compute_dtype))

    @property
    def dtype_policy(self):
        """The layer's :class:`~nerve.mixed_precision.DTypePolicy` (``"float32"`` until the layer knows better).

        Examples:
            >>> from nerve import layers
            >>> layers.Dense(2, dtype="mixed_float16").dtype_policy
            <DTypePolicy "mixed_float16">
        """
        if self._compute_dtype is not None:
            return mixed_precision.DTypePolicy(f"mixed_{self._compute_dtype.name}")
        return mixed_precision.DTypePolicy(self.variable_dtype)

    @property
    def compute_dtype(self):
        """The dtype the layer computes in (its inputs and outputs), as a string.

        Examples:
            >>> from nerve import layers
            >>> layers.Dense(2, dtype="mixed_float16").compute_dtype
            'float16'
        """
        return (self._compute_dtype or self.dtype or numpy.dtype(DEFAULT_FLOAT)).name

    @property
    def variable_dtype(self):
        """The dtype of the layer's weights, as a string.

        Examples:
            >>> from nerve import layers
            >>> layers.Dense(2, dtype="mixed_float16").variable_dtype
            'float32'
        """
        return (self.dtype or numpy.dtype(DEFAULT_FLOAT)).name

    def _autocast_weights(self, compute):
        """Put float16 casts of the layer's own trainable weights in place of the weights for one call.

        Returns what to put back. The casts are ops of the graph, so the float32 weights get float32
        gradients. Non-trainable state (batch-norm statistics) is left as it is: a call may update it.
        """
        groups = {}
        for record in self._records():
            tensor = record.tensor
            if record.trainable and record.attr is not None and tensor.data.dtype.kind == "f" \
                    and tensor.data.dtype != compute:
                groups.setdefault(record.attr, set()).add(id(tensor))
        if not groups:
            return ()
        own = self.__dict__
        restore = []
        for attr, ids in groups.items():
            held = own.get(attr)
            if isinstance(held, Tensor):
                new = held.astype(compute) if id(held) in ids else held
            elif isinstance(held, (list, tuple)):
                new = type(held)(v.astype(compute) if id(v) in ids else v for v in held)
            elif isinstance(held, dict):
                new = {k: v.astype(compute) if id(v) in ids else v for k, v in held.items()}
            else:
                continue
            restore.append((attr, held))
            object.__setattr__(self, attr, new)
        return restore

    # ------------------------------------------------------- weight tracking
    def __setattr__(self, attr, value):
        # weights are tracked when assigned: ``self.scale = nerve.tensor(..., requires_grad=True)``
        # (also in a list or dict); ``add_weight`` tracks its weights itself
        if not attr.startswith("_") and (isinstance(value, (Tensor, list, tuple, dict)) or attr in self.__dict__):
            self._track(attr, value)
        elif isinstance(value, Layer):
            _CHANGES[0] += 1  # a sub-layer brings its weights
        object.__setattr__(self, attr, value)

    def _records(self):
        records = self.__dict__.get("_weights")
        if records is None:
            records = []
            object.__setattr__(self, "_weights", records)
        return records

    def _track(self, attr, value):
        records = self._records()
        assigned = _tensors_in(attr, value)
        assigned_ids = {id(t) for _, t in assigned}
        if attr in self.__dict__:  # reassignment: the weights that came from this attribute and are gone leave
            records[:] = [r for r in records if r.attr != attr or id(r.tensor) in assigned_ids]
        _CHANGES[0] += 1
        known = {id(r.tensor): r for r in records}
        for key, tensor in assigned:
            record = known.get(id(tensor))
            if record is None:
                records.append(_Weight(key, tensor, True, None, None, attr))
            elif record.attr is None:
                record.attr = attr

    @property
    def trainable(self):
        """Whether the layer trains. Setting it sets its sub-layers too (Keras semantics): a frozen layer's
        weights leave ``trainable_weights`` (and ``parameters()``), get no gradients, and a frozen
        BatchNormalization runs in inference mode."""
        return self.__dict__.get("_trainable", True)

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        _CHANGES[0] += 1
        object.__setattr__(self, "_trainable", value)
        for record in self._records():
            record.tensor.requires_grad = value and record.trainable
        for _, child in self._children():
            child.trainable = value

    def add_weight(self, name=None, shape=None, initializer="glorot_uniform", regularizer=None, trainable=True,
                   dtype=None, constraint=None):
        """Create a weight, track it, and return it as a Tensor.

        ``trainable=False`` makes a non-trainable weight (state such as batch-norm statistics):
        saved and counted, never updated by the optimizer. ``constraint`` (e.g. ``"max_norm"``) is
        applied to the weight after each optimizer step in ``fit``.

        Examples:
            >>> from nerve import layers
            >>> layer = layers.Layer()
            >>> w = layer.add_weight("w", (2, 2), initializer="zeros")
            >>> w.shape, w.requires_grad
            ((2, 2), True)
            >>> b = layer.add_weight(shape=(3,), initializer="ones", trainable=False)
            >>> layer.count_params(), len(layer.trainable_weights), len(layer.non_trainable_weights)
            (7, 1, 1)
        """
        if shape is None:
            raise TypeError(f"layer '{self.name}': add_weight needs a shape, e.g. add_weight(shape=(3, 4))")
        records = self._records()
        if name is None:
            name = f"variable_{len(records)}" if records else "variable"
        if any(r.name == name for r in records):
            raise ValueError(f"layer '{self.name}' already has a weight named '{name}'")
        dtype = numpy.dtype(dtype or self.dtype or DEFAULT_FLOAT)
        budget = _WEIGHT_BUDGET[0]
        if budget is not None:
            nbytes = dtype.itemsize
            for n in shape:
                nbytes *= max(int(n), 0)  # Python integers: no overflow
            if nbytes > budget:
                raise WeightBudgetError(f"layer '{self.name}': weight '{name}' of shape {tuple(shape)} needs "
                                        f"{nbytes:,} bytes, more than the {budget:,} bytes left for weights")
            _WEIGHT_BUDGET[0] = budget - nbytes
        init = initializers.get(initializer)
        data = numpy.ascontiguousarray(init(tuple(shape), dtype=dtype), dtype=dtype)  # drawn on the host
        device = self._device or get_device()
        if device != "cpu":
            data = to_device(data, device)
        weight = Tensor(data, requires_grad=trainable and self.trainable, name=f"{self.name}/{name}")
        records.append(_Weight(name, weight, bool(trainable), regularizers.get(regularizer),
                               constraints.get(constraint), None))
        _CHANGES[0] += 1
        return weight

    def _own_weights(self):
        return [(r.name, r.tensor, r.trainable and r.tensor.requires_grad) for r in self._records()]

    def _children(self):
        """``(path segment, sub-layer)`` pairs, each sub-layer once.

        A model made of a layer list (Sequential, functional) names its layers by their names, which its
        config saves; any other layer by the attribute that holds them (``encoder``, ``blocks/0``), so
        weight paths do not depend on automatic names and a file loads the same in any process.
        """
        listed = self.__dict__.get("_layers")
        if isinstance(listed, list):
            pairs = [(layer.name, layer) for layer in listed]
        else:
            pairs = []
            for attr, value in vars(self).items():
                if attr.startswith("_"):
                    continue
                if isinstance(value, Layer):
                    pairs.append((attr, value))
                elif isinstance(value, (list, tuple)):
                    pairs.extend((f"{attr}/{i}", v) for i, v in enumerate(value) if isinstance(v, Layer))
                elif isinstance(value, dict):
                    pairs.extend((f"{attr}/{k}", v) for k, v in value.items() if isinstance(v, Layer))
        seen, unique = set(), []
        for segment, layer in pairs:
            if id(layer) not in seen and layer is not self:
                seen.add(id(layer))
                unique.append((segment, layer))
        return unique

    def _sublayers(self):
        return [layer for _, layer in self._children()]

    def named_weights(self, prefix=""):
        """Yield ``(path, tensor, trainable)`` for every weight of this layer and its sub-layers, once each.

        Examples:
            >>> import numpy as np
            >>> from nerve import layers
            >>> d = layers.Dense(2, name="d"); _ = d(np.ones((1, 3)))
            >>> [p for p, _, _ in d.named_weights()]
            ['d/kernel', 'd/bias']
        """
        seen = set()
        stack = [(self, prefix + self.name, True)]
        while stack:
            layer, path, parent_trainable = stack.pop(0)
            trainable_here = parent_trainable and layer.trainable
            for name, weight, trainable in layer._own_weights():
                if id(weight) in seen:
                    continue
                seen.add(id(weight))
                yield f"{path}/{name}", weight, trainable and trainable_here
            for segment, child in layer._children():
                stack.append((child, f"{path}/{segment}", trainable_here))

    @property
    def weights(self):
        """All weights (trainable first, then non-trainable), as Tensors."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        """The weights the optimizer updates: trainable weights of trainable layers.

        Examples:
            >>> import numpy as np
            >>> from nerve import layers
            >>> d = layers.Dense(2); _ = d(np.ones((1, 3))); d.trainable = False
            >>> len(d.trainable_weights), len(d.non_trainable_weights), d.count_params()
            (0, 2, 8)
        """
        return [w for _, w, t in self.named_weights() if t]

    @property
    def non_trainable_weights(self):
        """Weights that are saved and counted but not trained (statistics, frozen layers)."""
        return [w for _, w, t in self.named_weights() if not t]

    @property
    def trainable_variables(self):
        """Keras's name for :attr:`trainable_weights`."""
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        """Keras's name for :attr:`non_trainable_weights`."""
        return self.non_trainable_weights

    @property
    def variables(self):
        """Keras's name for :attr:`weights`."""
        return self.weights

    def parameters(self):
        """Trainable weights, for a PyTorch-style optimizer: ``Adam(1e-3, params=model.parameters())``."""
        return self.trainable_weights

    def count_params(self):
        """Number of scalars in all weights, trainable or not.

        Examples:
            >>> import numpy as np
            >>> from nerve import layers
            >>> d = layers.Dense(2); _ = d(np.ones((1, 3)))
            >>> d.count_params()
            8
        """
        return int(sum(w.size for _, w, _ in self.named_weights()))

    def get_weights(self):
        """Weights as a list of NumPy arrays (copies), in ``weights`` order."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, arrays):
        """Set weights from a list of arrays in ``weights`` order; shapes must match.

        Examples:
            >>> import numpy as np
            >>> from nerve import layers
            >>> d = layers.Dense(1); _ = d(np.ones((1, 2)))
            >>> d.set_weights([np.ones((2, 1)), np.zeros(1)])
            >>> d(np.ones((1, 2))).item()
            2.0
        """
        weights = self.weights
        if len(arrays) != len(weights):
            raise ValueError(f"{self.name}: set_weights got {len(arrays)} arrays, the layer has {len(weights)} weights")
        for weight, array in zip(weights, arrays):
            array = weight.xp.asarray(array)  # host arrays are copied to the weight's device
            if array.shape != weight.shape:
                raise ValueError(f"{self.name}: weight {weight.name} has shape {weight.shape}, got an array of shape {array.shape}")
            weight.data[...] = array

    @property
    def device(self):
        """Where the layer's weights live: ``"cpu"`` or a device such as ``"gpu"``.

        Set by :meth:`to`; otherwise the device of the first weight, or the
        default device (:func:`nerve.set_device`) while the layer has none.
        Inputs given as host arrays are copied there.

        Examples:
            >>> import numpy as np
            >>> from nerve import layers
            >>> d = layers.Dense(2); _ = d(np.ones((1, 3)))
            >>> d.device
            'cpu'
        """
        device = self._device
        if device is None:
            for _, weight, _ in self.named_weights():
                device = device_of(weight.data)
                object.__setattr__(self, "_device", device)  # remembered: to() is what moves weights
                return device
            return get_device()
        return device

    def to(self, device):
        """Move every weight of this layer and its sub-layers to ``device`` (``"cpu"``, ``"gpu"``); returns the layer.

        The weights stay the same Tensor objects (an optimizer holding them
        keeps working); their arrays are copied to the device and their
        gradients dropped. A layer not built yet creates its weights there.
        A model moves its optimizer's state too.

        Examples:
            >>> import numpy as np
            >>> from nerve import layers
            >>> d = layers.Dense(2).to("cpu"); _ = d(np.ones((1, 3)))
            >>> d.kernel.device
            'cpu'
        """
        to_device(numpy.zeros(0), device)  # an unknown device fails here, before anything moved
        for _, weight, _ in self.named_weights():
            weight.data = to_device(weight.data, device)
            weight.grad = None
        seen, stack = set(), [self]
        while stack:
            layer = stack.pop()
            if id(layer) not in seen:
                seen.add(id(layer))
                object.__setattr__(layer, "_device", device)
                stack.extend(layer._sublayers())
        _CHANGES[0] += 1
        return self

    def _walk_records(self):
        """``(record, trainable)`` for the weights of this layer and its sub-layers, once each."""
        seen, out, stack = set(), [], [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            for record in layer._records():
                out.append((record, layer.trainable and record.trainable and record.tensor.requires_grad))
            stack.extend(layer._sublayers())
        return out

    def regularized_weights(self):
        """``(regularizer, weight)`` pairs of this layer and its sub-layers (trainable weights only)."""
        return [(r.regularizer, r.tensor) for r, trainable in self._walk_records()
                if r.regularizer is not None and trainable]

    def constrained_weights(self):
        """``(constraint, weight)`` pairs of this layer and its sub-layers (trainable weights only).

        Examples:
            >>> from nerve import layers
            >>> layer = layers.Layer(); _ = layer.add_weight("w", (2,), constraint="non_neg")
            >>> [type(c).__name__ for c, _ in layer.constrained_weights()]
            ['NonNeg']
        """
        return [(r.constraint, r.tensor) for r, trainable in self._walk_records()
                if r.constraint is not None and trainable]

    def add_loss(self, loss):
        """Add a scalar ``loss`` (computed in ``call``) to the training objective of the step that runs this call
        (Keras's ``add_loss``: activity penalties, a VAE's KL term...). ``fit`` minimises it with the compiled loss
        (it is not part of the reported ``loss``, like weight penalties); ``model.compute_loss`` includes it.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> class Penalised(layers.Layer):
            ...     def call(self, x):
            ...         self.add_loss(0.01 * (x * x).sum())
            ...         return x
            >>> _ = take_added_losses(); _ = Penalised()(np.ones((2, 3)))
            >>> [round(v.item(), 4) for v in take_added_losses()]
            [0.06]
        """
        if callable(loss) and not isinstance(loss, Tensor):
            loss = loss()
        if not isinstance(loss, Tensor):  # a number or an array: on the layer's device, as the objective is
            loss = Tensor(loss if get_array_module(loss) is not numpy
                          else to_device(numpy.asarray(loss, dtype=DEFAULT_FLOAT), self.device))
        if loss.size != 1:
            raise ValueError(f"layer '{self.name}': add_loss expects a scalar loss, got a tensor of shape "
                             f"{tuple(loss.shape)}; reduce it first (e.g. .sum() or .mean())")
        _ADDED_LOSSES.append(loss.reshape(()) if loss.ndim else loss)

    @property
    def losses(self):
        """Regularisation penalties of this layer and its sub-layers (scalar Tensors), for the training loss.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> d = layers.Dense(1, kernel_regularizer=nerve.regularizers.L2(0.5)); _ = d(np.ones((1, 2)))
            >>> d.set_weights([np.ones((2, 1)), np.zeros(1)])
            >>> [p.item() for p in d.losses]
            [1.0]
        """
        return [regularizer(weight) for regularizer, weight in self.regularized_weights()]

    @property
    def layers(self):
        """Direct sub-layers."""
        return self._sublayers()

    def _first_node(self, what):
        nodes = self.__dict__.get("_inbound_nodes")
        if not nodes:
            raise AttributeError(
                f"layer '{self.name}' has no {what}: it was never called on a functional-API tensor "
                "(start the model with nerve.Input(shape=...))")
        return nodes[0]

    @_graph_attribute
    def input(self):
        """The symbolic input of the layer's first call in a functional graph (Keras's ``layer.input``).

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> x = nerve.Input(shape=(3,)); dense = layers.Dense(2)
            >>> dense(x).shape, dense.input is x
            ((None, 2), True)
        """
        return self._first_node("input").inputs

    @_graph_attribute
    def output(self):
        """The symbolic output of the layer's first call in a functional graph; with ``model.input`` it
        builds a feature extractor: ``nerve.Model(model.input, model.layers[1].output)``.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> model = nerve.Sequential([nerve.Input(shape=(3,)), layers.Dense(4), layers.Dense(1)])
            >>> nerve.Model(model.input, model.layers[0].output).output_shape
            (None, 4)
        """
        outputs = self._first_node("output").outputs
        return outputs[0] if len(outputs) == 1 else list(outputs)

    # --------------------------------------------------------- build and call
    def build(self, input_shape):
        """Create weights for inputs of ``input_shape`` (batch axis included, may be None)."""

    def call(self, inputs, training=None):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def _wants_training(self):
        cls = type(self)
        cached = cls.__dict__.get("_call_takes_training")
        if cached is None:
            cached = "training" in inspect.signature(cls.call).parameters
            setattr(cls, "_call_takes_training", cached)
        return cached

    def _prepare(self, x):
        """Turn arrays into Tensors of the layer's dtype; integer input becomes float unless the layer takes ids."""
        if isinstance(x, (list, tuple)):
            return type(x)(self._prepare(v) for v in x)
        if isinstance(x, dict):
            return {k: self._prepare(v) for k, v in x.items()}
        if isinstance(x, Tensor):
            if x.dtype.kind not in "fc" and not self.accepts_integer_input:
                return Tensor(x.data.astype(self._input_dtype()))
            if self._compute_dtype is not None and x.dtype.kind == "f" and x.dtype != self._input_dtype():
                return x.astype(self._input_dtype())  # autocast (differentiable), as Keras does
            return x
        array = x if hasattr(x, "dtype") and hasattr(x, "shape") else numpy.asarray(x)
        if type(array) is numpy.ndarray:
            device = self.device
            if device != "cpu":
                array = to_device(array, device)  # host data for a layer on a device
        if array.dtype.kind in "iub" and self.accepts_integer_input:
            return Tensor(array)
        if array.dtype.kind not in "fiub":
            raise TypeError(f"layer '{self.name}' ({type(self).__name__}) cannot take input of dtype {array.dtype}")
        return Tensor(array.astype(self._input_dtype(), copy=False))

    def _input_dtype(self):
        """The dtype inputs are converted to: the compute dtype (the weights' unless the policy is mixed)."""
        if self._compute_dtype is not None and not self.compute_in_variable_dtype:
            return self._compute_dtype
        return self.dtype or DEFAULT_FLOAT

    def _check_input(self, x):
        shape = _shape_of(x)
        if shape is None:
            return
        if self.min_ndim is not None and len(shape) < self.min_ndim:
            raise ValueError(
                f"layer '{self.name}' ({type(self).__name__}) expects input of rank >= {self.min_ndim} "
                f"(batch axis included), got shape {shape}"
            )
        if self.input_spec is None:
            return
        rank, last = self.input_spec
        if len(shape) != rank or (last is not None and shape[-1] != last):
            expected = f"rank {rank}" + (f" with {last} features on the last axis" if last is not None else "")
            raise ValueError(
                f"layer '{self.name}' ({type(self).__name__}) was built for inputs of {expected}, "
                f"but received input of shape {shape}"
            )

    def __call__(self, inputs, training=None, **kwargs):
        compute = self._compute_dtype
        if type(inputs) is Tensor and self.built and inputs.data.dtype.kind == "f" and (
                compute is None or inputs.data.dtype == self._input_dtype()):
            # hot path: a float tensor into a built layer; only the shape check is needed
            spec = self.input_spec
            if spec is not None:
                shape = inputs.data.shape
                if len(shape) != spec[0] or (spec[1] is not None and shape[-1] != spec[1]):
                    self._check_input(inputs)
        else:
            inputs = self._enter(inputs, training, kwargs)
            if type(inputs) is _Symbolic:
                return inputs.value
        inference = training is False  # predict/evaluate: no activity penalty to record
        if training is None:
            training = _CallContext.training
        previous = _CallContext.training
        _CallContext.training = training
        restore = self._autocast_weights(compute) if compute is not None and not self.compute_in_variable_dtype \
            else ()
        try:
            if self._wants_training():
                out = self.call(inputs, training=training, **kwargs)
            else:
                out = self.call(inputs, **kwargs)
        finally:
            _CallContext.training = previous
            for attr, held in restore:
                object.__setattr__(self, attr, held)
        if compute is not None and self.compute_in_variable_dtype and isinstance(out, Tensor) \
                and out.dtype.kind == "f" and out.dtype != compute:
            out = out.astype(compute)
        if self.output_shape is None and isinstance(out, Tensor):
            self.output_shape = (None,) + tuple(out.shape[1:])
        if self.activity_regularizer is not None and not inference:
            self._add_activity_loss(out)
        return out

    def _add_activity_loss(self, out):
        """Keras's activity regularization: ``add_loss(activity_regularizer(output) / batch_size)`` per output."""
        for output in out if isinstance(out, (list, tuple)) else (out,):
            if isinstance(output, Tensor) and output.dtype.kind == "f":
                penalty = self.activity_regularizer(output)
                if output.ndim > 0 and output.shape[0] > 0:
                    penalty = penalty / output.shape[0]
                self.add_loss(penalty)

    def _enter(self, inputs, training, kwargs):
        """Slow path of ``__call__``: functional API, input conversion and checks, lazy build."""
        if _contains(inputs, SymbolicTensor):
            return _Symbolic(call_symbolic(self, inputs, training=training, **kwargs))
        inputs = self._prepare(inputs)
        self._check_input(inputs)
        if not self.built:
            shape = _shape_of(inputs)
            if self.dtype is None:
                first = _first_tensor(inputs)
                floating = first is not None and first.dtype.kind == "f"
                self.dtype = first.dtype if floating else numpy.dtype(DEFAULT_FLOAT)
            self.build(shape)
            self.built = True
            self.build_input_shape = _map_shape(shape)
            if isinstance(shape, tuple) and self.input_spec is None and self._records_input_spec():
                self.input_spec = (len(shape), shape[-1] if self._fixes_last_axis() else None)
        return inputs

    def _records_input_spec(self):
        return True

    def _fixes_last_axis(self):
        """True when the weights fix the size of the last input axis (Dense, conv...)."""
        return bool(self._records())

    # ----------------------------------------------------------------- config
    def get_config(self):
        """Constructor arguments as JSON-serialisable values (used by ``model.save``).

        Examples:
            >>> from nerve import layers
            >>> layers.Dense(4, name="d").get_config()["units"]
            4
        """
        config = {"name": self.name, "trainable": self.trainable}
        if self._compute_dtype is not None:
            config["dtype"] = self.dtype_policy.name
        elif self.dtype is not None:
            config["dtype"] = str(self.dtype)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config):
        """Rebuild a layer from :meth:`get_config` output: the config goes to ``__init__``.

        The base entries (``name``, ``trainable``, ``dtype``) are set afterwards when ``__init__`` does not
        take them, so a subclass whose ``get_config`` calls ``super().get_config()`` needs no ``**kwargs``.

        Examples:
            >>> from nerve import layers
            >>> layers.Dense.from_config({"units": 3, "name": "d"}).name
            'd'
        """
        return construct_from_config(cls, config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


class _Weight:
    """One tracked weight: its name in the layer, the tensor, whether it trains, regularizer, constraint, and
    the attribute it was assigned to (None while only ``add_weight`` knows it)."""

    __slots__ = ("name", "tensor", "trainable", "regularizer", "constraint", "attr")

    def __init__(self, name, tensor, trainable, regularizer, constraint, attr):
        self.name, self.tensor, self.trainable = name, tensor, trainable
        self.regularizer, self.constraint, self.attr = regularizer, constraint, attr


def _is_weight(value):
    """A leaf Tensor that requires gradients (the result of an op, such as a kept state, is not a weight)."""
    return isinstance(value, Tensor) and value.requires_grad and value.op is None


def _tensors_in(attr, value):
    """``(name, tensor)`` for the weights an assignment holds: a leaf Tensor that requires gradients, or such
    Tensors in a list, tuple or dict."""
    if isinstance(value, Tensor):
        return [(attr, value)] if _is_weight(value) else []
    if isinstance(value, (list, tuple)):
        return [(f"{attr}/{i}", v) for i, v in enumerate(value) if _is_weight(v)]
    if isinstance(value, dict):
        return [(f"{attr}/{k}", v) for k, v in value.items() if _is_weight(v)]
    return []


def serialize_entry(obj):
    """A config entry for an initializer, regularizer, constraint or activation (None stays None).

    Examples:
        >>> import nerve
        >>> serialize_entry(nerve.regularizers.L2(0.1))
        {'class_name': 'L2', 'config': {'l2': 0.1}}
    """
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    if hasattr(obj, "get_config"):
        return {"class_name": registry.get_registered_name(obj), "config": obj.get_config()}
    return activations.serialize(obj)


def take_added_losses():
    """The losses :meth:`Layer.add_loss` collected since the last call, and forget them (the training loop's hook).

    Examples:
        >>> take_added_losses()
        []
    """
    taken = list(_ADDED_LOSSES)
    _ADDED_LOSSES.clear()
    return taken


def construct_from_config(cls, config):
    """``cls(**config)``, with ``name``/``trainable``/``dtype`` set after construction if ``__init__`` lacks them."""
    if not isinstance(config, dict):
        raise TypeError(f"{cls.__name__}.from_config expects a dict, got {type(config).__name__}")
    config = dict(config)
    parameters = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    later = {k: config.pop(k) for k in ("name", "trainable", "dtype", "activity_regularizer") if k in config
             and not takes_any and k not in parameters}
    obj = cls(**config)
    if later.get("activity_regularizer") is not None:
        obj.activity_regularizer = regularizers.get(later["activity_regularizer"])
    if later.get("name"):
        obj.name = later["name"]
    if "trainable" in later:
        obj.trainable = later["trainable"]
    if later.get("dtype") and getattr(obj, "dtype", None) is None:
        if isinstance(obj, Layer):
            obj._set_dtype_policy(later["dtype"])
        else:
            obj.dtype = numpy.dtype(later["dtype"])
    return obj


def _map_shape(shape):
    """Input shape with the batch axis replaced by None (for saving and summaries)."""
    if isinstance(shape, tuple):
        return (None,) + shape[1:]
    if isinstance(shape, list):
        return [_map_shape(s) for s in shape]
    if isinstance(shape, dict):
        return {k: _map_shape(v) for k, v in shape.items()}
    return shape


def _contains(value, kind):
    if isinstance(value, kind):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, kind) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, kind) for v in value.values())
    return False


def _shape_of(x):
    if isinstance(x, Tensor):
        return tuple(x.shape)
    if isinstance(x, (list, tuple)):
        return [_shape_of(v) for v in x]
    if isinstance(x, dict):
        return {k: _shape_of(v) for k, v in x.items()}
    return None


def _first_tensor(x):
    if isinstance(x, Tensor):
        return x
    values = x.values() if isinstance(x, dict) else x if isinstance(x, (list, tuple)) else ()
    for v in values:
        found = _first_tensor(v)
        if found is not None:
            return found
    return None


def xp_of(tensor):
    """Array module of a tensor (helper for layer code)."""
    return get_array_module(tensor.data)
