"""The Keras-style training API shared by every Model: compile, fit, evaluate, predict.

One epoch is one pass over the training data; it is split into iterations of
``batch_size`` examples (1000 examples with batch size 500 is 2 iterations;
the last, smaller batch is used unless ``drop_last=True``). Each iteration runs
the forward pass, the loss (plus regularisation penalties), backpropagation
and one optimizer step. ``batch_size=1`` is stochastic gradient descent;
``batch_size=len(x)`` is full-batch gradient descent.

The data may be NumPy arrays or arrays on a device; each batch is copied to
the model's device (``model.to("gpu")``) as it is used, and ``predict``
returns NumPy arrays.

Examples:
    >>> import numpy as np, nerve
    >>> from nerve import layers
    >>> nerve.random.seed(0)
    >>> model = nerve.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(1, activation="sigmoid")])
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32"); y = np.array([[0], [1], [1], [0]])
    >>> history = model.fit(x, y, epochs=3, batch_size=2, verbose=0)
    >>> sorted(history.history)
    ['accuracy', 'learning_rate', 'loss']
"""

from __future__ import annotations

import inspect
import math
from concurrent.futures import ThreadPoolExecutor
import warnings

import numpy

from nerve.blocks import losses as losses_module
from nerve.blocks import metrics as metrics_module
from nerve.blocks import optimizers as optimizers_module
from nerve.blocks.layers.base import take_added_losses, weights_version
from nerve.engine import random as nerve_random
from nerve.engine import validate
from nerve.engine.backend import get_array_module, to_device, to_numpy
from nerve.engine.nest import flatten as _leaves
from nerve.engine.nest import map_structure as _map
from nerve.engine.tensor import Tensor, no_grad
from nerve.training import callbacks as callbacks_module
from nerve.training import data as data_module
from nerve.training import distributed
from nerve.training import saving
from nerve.training.lr_finder import lr_finder

__all__ = [
    "Trainer",
]


# ----------------------------------------------------------- data plumbing
def _as_arrays(structure):
    """Tensors and lists of numbers to arrays (device arrays stay on their device), keeping list/dict structure."""
    if structure is None:
        return None
    if isinstance(structure, Tensor):
        return structure.data if _on_device(structure.data) else structure.numpy()
    if isinstance(structure, dict):
        return {k: _as_arrays(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        if structure and all(isinstance(v, (numpy.ndarray, Tensor)) or _on_device(v) for v in structure):
            return [_as_arrays(v) for v in structure]
        return numpy.asarray(structure)
    if _on_device(structure):
        return structure
    return numpy.asarray(structure)


def _on_device(array):
    """True for an array of a device module (CuPy...), which must not be converted implicitly."""
    return not isinstance(array, numpy.ndarray) and get_array_module(array) is not numpy


def _computes_in_float16(layer, seen=None):
    """True when the layer or one of its sub-layers computes in float16 (a mixed or float16 policy)."""
    seen = set() if seen is None else seen
    if id(layer) in seen:
        return False
    seen.add(id(layer))
    if layer.compute_dtype == "float16":
        return True
    return any(_computes_in_float16(child, seen) for _, child in layer._children())


def _placer(device):
    """A function copying a batch (a nest of arrays) to ``device``; None on the CPU, where batches stay as they are."""
    if device == "cpu":
        return None

    def place(structure):
        if structure is None:
            return None
        return _map(structure, lambda a: a.to(device) if isinstance(a, Tensor) else to_device(a, device))

    return place


def _synchronize(structure):
    """Wait until the copies of a placed batch are finished (CuPy copies run on the calling thread's stream)."""
    for leaf in _leaves(structure):
        data = leaf.data if isinstance(leaf, Tensor) else leaf
        cuda = getattr(get_array_module(data), "cuda", None)
        if cuda is not None and hasattr(cuda, "get_current_stream"):
            cuda.get_current_stream().synchronize()
            return


def _place_batch(place, batch):
    placed = tuple(place(part) for part in batch)
    _synchronize(placed)
    return placed


class _Prefetched:
    """In-memory batches copied to the device one batch ahead: a worker thread copies batch k+1 while batch k
    computes. The batches are cut (and the epoch's order drawn) in the calling thread, in the same order as
    without prefetching, so results do not change; yields ``(rows, placed batch)``."""

    def __init__(self, batches, place):
        self.batches, self.place = batches, place

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nerve-prefetch") as pool:
            pending = None
            for batch in self.batches:
                future = (_num_samples(batch[0]), pool.submit(_place_batch, self.place, batch))
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = future
            if pending is not None:
                yield pending[0], pending[1].result()


def _num_samples(structure):
    return len(_leaves(structure)[0])


def _is_loader(x):
    return (hasattr(x, "__iter__") and hasattr(x, "__len__") and not isinstance(x, (numpy.ndarray, list, tuple, dict, Tensor))
            and not _on_device(x))


class _ArrayBatches:
    """Mini-batches over in-memory arrays; reshuffled each epoch from nerve's seeded generator."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle, drop_last=False):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = _num_samples(x)
        self.batch_size = self.n if batch_size is None else int(batch_size)
        if self.batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        if self.drop_last:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        order = nerve_random.permutation(self.n) if self.shuffle else None
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.n)
            index = slice(lo, hi) if order is None else order[lo:hi]
            take = lambda a: a[index]  # noqa: E731
            yield (_map(self.x, take), None if self.y is None else _map(self.y, take),
                   None if self.sample_weight is None else self.sample_weight[index])


def _peek_x(loader):
    """The inputs of a loader's first batch, leaving nerve's random generator as it was (resumed runs stay exact)."""
    state = nerve_random.get_state()
    batches = iter(_LoaderBatches(loader))
    try:
        return next(batches)[0]
    finally:
        batches.close()
        nerve_random.set_state(state)


class _LoaderBatches:
    """Batches from a DataLoader (or any re-iterable of (x, y[, sample_weight]) tuples)."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            if not isinstance(batch, (tuple, list)) or len(batch) not in (1, 2, 3):
                raise ValueError("a DataLoader passed to fit/evaluate must yield (x, y) or (x, y, sample_weight) batches")
            x = batch[0]
            y = batch[1] if len(batch) > 1 else None
            sw = batch[2] if len(batch) > 2 else None
            yield x, y, sw


# ------------------------------------------------------------------ Trainer
class Trainer:
    """Mixin giving models ``compile``/``fit``/``evaluate``/``predict`` (see the module docstring)."""

    def __init__(self):
        self.optimizer = None
        self.compiled_loss = None
        self.stop_training = False
        self.history = None
        self._compiled = False
        self._place = None  # copies batches to the model's device (None on the CPU); set by _ensure_ready

    # --------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, auto_scale_loss=True):
        """Choose the optimizer, the loss and the metrics (names or objects).

        With ``auto_scale_loss`` (Keras's argument), a model with layers that compute in float16 (the
        ``"mixed_float16"`` policy) gets its optimizer wrapped in a
        :class:`~nerve.optimizers.LossScaleOptimizer`.

        Examples:
            >>> import nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([layers.Dense(1)])
            >>> m.compile(optimizer=nerve.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        """
        if loss is None and not _takes_data(type(self).train_step):  # a Keras-style train_step computes its own
            raise ValueError("compile(): a loss is required, e.g. loss='mse' or loss='sparse_categorical_crossentropy'")
        self.optimizer = optimizers_module.get(optimizer)
        if auto_scale_loss and not isinstance(self.optimizer, optimizers_module.LossScaleOptimizer) \
                and _computes_in_float16(self):
            self.optimizer = optimizers_module.LossScaleOptimizer(self.optimizer)
        for spec in _leaves(loss) if loss is not None else ():  # unknown loss names fail here, not at the first batch
            losses_module.get(spec)
        for spec in _leaves(metrics or []):  # unknown metric names too
            if isinstance(spec, str):
                metrics_module.get(spec)
        self._loss_spec = loss
        self._metric_spec = metrics or []
        self._loss_weights = loss_weights
        self._compiled = True
        self._ready_for = None
        self._output_names = None
        self._losses = None  # resolved per output on the first batch
        self._metrics = None

    def _output_keys(self, outputs):
        if isinstance(outputs, Tensor):
            return None
        if isinstance(outputs, dict):
            return list(outputs)
        if hasattr(self, "outputs") and getattr(self, "_functional", False):
            return [s.node.layer.name for s in _leaves(self.outputs)]
        return [f"output_{i + 1}" for i in range(len(outputs))]

    def _resolve(self, outputs):
        """Resolve losses and metrics per output, now that the outputs' shapes are known."""
        keys = self._output_keys(outputs)
        self._output_names = keys
        outs = [outputs] if keys is None else (list(outputs.values()) if isinstance(outputs, dict) else list(outputs))
        names = keys or [None]

        def per_output(spec, i, name):
            if isinstance(spec, dict):
                if name not in spec:
                    raise ValueError(f"compile(): no entry for output '{name}' in {sorted(spec)}")
                return spec[name]
            if isinstance(spec, (list, tuple)) and keys is not None:
                if len(spec) != len(keys):
                    raise ValueError(f"compile(): got {len(spec)} losses for {len(keys)} outputs {keys}")
                return spec[i]
            return spec

        self._losses, self._metrics, self._weights_per_output = [], [], []
        for i, (out, name) in enumerate(zip(outs, names)):
            loss = None if self._loss_spec is None else losses_module.get(per_output(self._loss_spec, i, name))
            self._losses.append(loss)
            weight = 1.0
            if self._loss_weights is not None:
                weight = self._loss_weights[name] if isinstance(self._loss_weights, dict) else self._loss_weights[i]
            self._weights_per_output.append(float(weight))
            metric_spec = self._metric_spec
            if isinstance(metric_spec, dict):
                metric_spec = metric_spec.get(name, [])
            elif keys is not None and metric_spec and isinstance(metric_spec[0], (list, tuple)):
                metric_spec = metric_spec[i]
            built = []
            for m in metric_spec:
                metric = metrics_module.get(m, loss=_loss_name(loss), output_shape=tuple(out.shape))
                prefix = f"{name}_" if keys is not None and len(outs) > 1 else ""
                built.append((prefix + metric.name, metric))
            self._metrics.append(built)

    # --------------------------------------------------------------- one step
    def _split_outputs(self, outputs):
        if self._output_names is None:
            return [outputs]
        return list(outputs.values()) if isinstance(outputs, dict) else list(outputs)

    def _split_targets(self, y):
        if self._output_names is None:
            return [y]
        if isinstance(y, dict):
            return [y[k] for k in self._output_names]
        if not isinstance(y, (list, tuple)) or len(y) != len(self._output_names):
            raise ValueError(f"the model has {len(self._output_names)} outputs {self._output_names}; give y as a list or dict of that many arrays")
        return list(y)

    def _compute_loss(self, outputs, y, sample_weight):
        outs = self._split_outputs(outputs)
        targets = self._split_targets(y)
        total, parts = None, []
        outs = [out.astype(numpy.float32) if out.dtype == numpy.float16 else out for out in outs]  # loss in float32
        for loss_fn, weight, out, target in zip(self._losses, self._weights_per_output, outs, targets):
            value = loss_fn(target, out, sample_weight=sample_weight)
            parts.append(value)
            term = value if weight == 1.0 else value * weight
            total = term if total is None else total + term
        return total, parts, outs, targets

    def _regularization(self):
        terms = self._penalty_terms
        if not terms:
            return None
        total = None
        for regularizer, weight in terms:
            penalty = regularizer(weight)
            total = penalty if total is None else total + penalty
        return total

    def _update_metrics(self, outs, targets, sample_weight):
        if self.__dict__.get("_share") is not None and any(self._metrics):
            # data-parallel: every process updates its metrics on the outputs of the whole batch
            outs = [Tensor(distributed.allgather_rows(to_numpy(out.data))) for out in outs]
            targets = [distributed.allgather_rows(to_numpy(target)) for target in targets]
            if sample_weight is not None:
                sample_weight = distributed.allgather_rows(to_numpy(sample_weight))
        for built, out, target in zip(self._metrics, outs, targets):
            if not built:
                continue
            pred = out.data
            for _, metric in built:
                metric.update_state(target, pred, sample_weight)

    def _check_compiled(self, what):
        if not self._compiled:
            raise RuntimeError(
                f"model '{self.name}' must be compiled before {what}(): call "
                "model.compile(optimizer='adam', loss='...', metrics=[...]) first"
            )

    def _ensure_ready(self, x):
        """Build the model and resolve losses/metrics from one batch, before any training."""
        if self._losses is None or not self.built:
            if callable(x):
                x = x()
            with no_grad():
                outputs = self(x, training=False)
            if self._losses is None:
                self._resolve(outputs)
        version = (weights_version(), id(self.optimizer), len(self.optimizer.params))
        if getattr(self, "_ready_for", None) == version:
            return  # nothing changed since the last call (train_on_batch calls this every batch)
        trainable = self.trainable_weights
        if [id(w) for w in self.optimizer.params] != [id(w) for w in trainable]:
            # first fit, or layers were frozen / unfrozen since: the optimizer follows (its slots restart
            # when the set changes, as after a Keras recompile)
            params = {id(w) for w in self.optimizer.params}
            if not (params and trainable and {id(w) for w in trainable} <= params):
                self.optimizer.build(trainable)
            # else only frozen weights are left over: they get no gradient, so the optimizer leaves them alone
        self._penalty_terms = self.regularized_weights()
        self._constraints = self.constrained_weights()
        self._place = _placer(self.device)  # batches go where the weights are
        self._ready_for = (weights_version(), id(self.optimizer), len(self.optimizer.params))

    def train_step(self, x, y, sample_weight=None):
        """One iteration: forward, loss + penalties, backward, optimizer step. Returns the loss value.

        Under data-parallel training ``x`` is this process's share of the batch: the gradients (and the
        loss) of all processes are summed in one Allreduce, each weighted by its share, before the step.
        """
        if hasattr(self.optimizer, "scale_loss"):
            # float16 training: overflows are expected now and then; the loss-scale optimizer sees them in the
            # gradients, skips the step and lowers the scale, so NumPy's warnings would only be noise
            with numpy.errstate(over="ignore", invalid="ignore"):
                return self._train_step(x, y, sample_weight)
        return self._train_step(x, y, sample_weight)

    def _train_step(self, x, y, sample_weight):
        take_added_losses()  # what add_loss left from calls outside training (predict, a manual call) does not count
        outputs = self(x, training=True)
        loss, parts, outs, targets = self._compute_loss(outputs, y, sample_weight)
        penalty = self._regularization()
        objective = loss if penalty is None else loss + penalty
        for added in take_added_losses():  # Layer.add_loss during this forward pass
            objective = objective + added
        self.optimizer.zero_grad()
        scale_loss = getattr(self.optimizer, "scale_loss", None)
        (objective if scale_loss is None else scale_loss(objective)).backward()
        loss_value, part_values = float(loss.data), [float(p.data) for p in parts]
        share = self.__dict__.get("_share")
        if share is not None:  # (rows here, rows in the whole batch)
            local, total = share
            reduced = distributed.average_gradients(self.optimizer.params, local / total,
                                                    [loss_value * local] + [v * local for v in part_values])
            loss_value, part_values = float(reduced[0] / total), [float(v / total) for v in reduced[1:]]
        self.optimizer.step()
        for constraint, weight in getattr(self, "_constraints", ()):
            weight.data[...] = constraint(weight).data
        self._update_metrics(outs, targets, sample_weight)
        return loss_value, part_values

    def test_step(self, x, y, sample_weight=None):
        with no_grad():
            outputs = self(x, training=False)
            loss, parts, outs, targets = self._compute_loss(outputs, y, sample_weight)
        self._update_metrics(outs, targets, sample_weight)
        loss_value, part_values = float(loss.data), [float(p.data) for p in parts]
        share = self.__dict__.get("_share")
        if share is not None:
            local, total = share
            reduced = distributed.allreduce(numpy.array([loss_value * local] + [v * local for v in part_values]))
            loss_value, part_values = float(reduced[0] / total), [float(v / total) for v in reduced[1:]]
        return loss_value, part_values

    # ------------------------------------------------------------ data input
    def _prepare_data(self, x, y, sample_weight, class_weight, name):
        x = _checked_arrays(x, "x", name)
        y = _checked_arrays(y, "y", name)
        data_module.validate_arrays(x, y, name=name)
        if sample_weight is not None:  # on the host, like class weights; batches of it move with x and y
            sample_weight = validate.sample_weights(to_numpy(_checked_arrays(sample_weight, "sample_weight", name)),
                                                    _num_samples(x), name)
        if class_weight is not None:
            shapes = self._output_shapes() if getattr(self, "_losses", None) else [None]
            class_sw = _class_weights_to_samples(class_weight, y, shapes[0] if len(shapes) == 1 else None, name)
            sample_weight = class_sw if sample_weight is None else sample_weight * class_sw
        return x, y, sample_weight

    def _check_labels(self, y):
        """Labels outside the output's classes: a clear error before training starts."""
        for loss_fn, target, shape in zip(self._losses, self._split_targets(y), self._output_shapes()):
            if isinstance(loss_fn, losses_module.BinaryCrossentropy):
                validate.values_in_range(target, "y", f"fit(): {loss_fn.name}", 0, 1, hint=(  # host arrays only
                    " (0/1 labels or probabilities); for integer class ids 0..K-1 use "
                    "sparse_categorical_crossentropy with K output units"))
            if not isinstance(loss_fn, losses_module.SparseCategoricalCrossentropy) or shape is None:
                continue
            labels = to_numpy(target)
            classes = shape[-1]
            if labels.size and (labels.min() < 0 or labels.max() >= classes):
                hint = ("; an output of size 1 cannot hold classes for sparse_categorical_crossentropy: for two classes "
                        "use loss='binary_crossentropy' with 0/1 labels, or give the last layer one unit per class"
                        if classes == 1 else "")
                raise ValueError(
                    f"fit(): {loss_fn.name} expects labels that are class ids in [0, {classes - 1}] for an output "
                    f"with {classes} unit{'s' if classes != 1 else ''} (shape {shape}), got labels from "
                    f"{labels.min()} to {labels.max()}{hint}"
                )

    def _output_shapes(self):
        shape = getattr(self, "output_shape", None)
        if self._output_names is None:
            return [shape]
        if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], tuple):
            return list(shape)
        return [None] * len(self._output_names)

    # ------------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            drop_last=False, validation_batch_size=None):
        """Train for ``epochs`` passes over the data; returns a :class:`~nerve.callbacks.History`.

        ``x``/``y`` are NumPy arrays (lists or dicts of arrays for several
        inputs/outputs), nerve Tensors, or ``x`` is a ``nerve.data.DataLoader``
        yielding ``(x, y)`` batches. ``batch_size`` defaults to 32.
        ``validation_split`` holds out the *last* fraction of the data (before
        shuffling), like Keras. ``initial_epoch`` resumes a run (epochs count
        from there up to ``epochs``). ``epochs`` is the index of the last epoch, not a count of further
        epochs: like Keras, ``initial_epoch >= epochs`` trains nothing, and nerve warns (``UserWarning``).

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> nerve.random.seed(0)
            >>> m = nerve.Sequential([layers.Dense(1)])
            >>> m.compile(optimizer=nerve.optimizers.SGD(0.1), loss="mse")
            >>> x = np.linspace(-1, 1, 64).reshape(-1, 1); y = 3 * x
            >>> h = m.fit(x, y, epochs=30, batch_size=16, verbose=0)
            >>> h.history["loss"][-1] < 0.01
            True
        """
        self._check_compiled("fit")
        epochs, initial_epoch, batch_size, validation_batch_size = _check_fit_arguments(
            epochs, initial_epoch, batch_size, validation_batch_size)
        if 0 < initial_epoch < epochs and getattr(self.optimizer, "iterations", None) == 0:
            _warn_fresh_optimizer(initial_epoch)
        if _is_loader(x):
            if y is not None:
                raise ValueError("fit(): when x is a DataLoader, y must be None (the loader yields (x, y) batches)")
            unused = [name for name, given in (("validation_split", bool(validation_split)),
                                               ("class_weight", class_weight is not None),
                                               ("sample_weight", sample_weight is not None)) if given]
            if unused:
                raise ValueError(f"fit(): {', '.join(unused)} cannot be used with a DataLoader; pass validation_data="
                                 "another loader, and let the loader yield (x, y, sample_weight) batches for weights")
            train = _LoaderBatches(x)
            first_x = lambda: _peek_x(x)  # noqa: E731 - only read when the model is not ready
            val = validation_data if validation_data is None or _is_loader(validation_data) else validation_data
        else:
            if x is None or y is None:
                raise ValueError("fit() needs both x and y (or a DataLoader as x)")
            x, y, sample_weight = self._prepare_data(x, y, sample_weight, class_weight, "fit")
            val = validation_data
            if validation_split and validation_data is None:
                if not 0 < validation_split < 1:
                    raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
                n = _num_samples(x)
                cut = n - int(round(n * validation_split))
                if cut <= 0 or cut >= n:
                    raise ValueError(f"validation_split={validation_split} leaves no training or no validation data out of {n} samples")
                take_train = lambda a: a[:cut]  # noqa: E731
                take_val = lambda a: a[cut:]  # noqa: E731
                val = (_map(x, take_val), _map(y, take_val)) + ((sample_weight[cut:],) if sample_weight is not None else ())
                x, y = _map(x, take_train), _map(y, take_train)
                sample_weight = sample_weight[:cut] if sample_weight is not None else None
            train = _ArrayBatches(x, y, sample_weight, 32 if batch_size is None else batch_size, shuffle, drop_last)
            first_x = _map(x, lambda a: a[: min(len(a), train.batch_size)])
        self._ensure_ready(first_x)
        if not _is_loader(x):
            self._check_labels(y)
        val_batches = None
        if val is not None:
            if _is_loader(val):
                val_batches = _LoaderBatches(val)
            else:
                if not isinstance(val, (tuple, list)) or len(val) not in (2, 3):
                    raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val)")
                vx, vy, vsw = self._prepare_data(val[0], val[1], val[2] if len(val) == 3 else None, None, "fit (validation_data)")
                val_batches = _ArrayBatches(vx, vy, vsw, validation_batch_size or batch_size or 32, False)

        parallel = distributed.active()
        if parallel:
            self._start_data_parallel(train, val_batches)
            verbose = verbose if distributed.is_main() else 0
        callback_list = callbacks_module.CallbackList(
            callbacks, model=self, add_history=True, add_progbar=verbose != 0, verbose=verbose,
            epochs=epochs, steps=len(train))
        self.stop_training = False
        logs = {}
        try:
            callback_list.on_train_begin()
            initial_epoch = self.__dict__.pop("_initial_epoch_from_backup", None) or initial_epoch  # BackupAndRestore
            logs = self._fit_epochs(train, val_batches, callback_list, initial_epoch, epochs, parallel)
        finally:
            self._share = None
        callback_list.on_train_end(logs)
        self.history = callback_list.history
        return self.history

    def _fit_epochs(self, train, val_batches, callback_list, initial_epoch, epochs, parallel):
        logs = {}
        place = self._place
        keras_step = _takes_data(type(self).train_step)  # a Keras-style train_step(self, data) returning logs
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            if keras_step:
                for metric in getattr(self, "metrics", None) or ():
                    metric.reset_state()
            callback_list.on_epoch_begin(epoch)
            seen, loss_sum = 0, 0.0
            part_sums = None
            if parallel:  # every epoch starts from rank 0's random state: the same shuffled order everywhere
                nerve_random.set_state(distributed.broadcast_object(nerve_random.get_state()))
            prefetch = place is not None and not parallel and isinstance(train, _ArrayBatches)
            batches = _Prefetched(train, place) if prefetch else ((None, batch) for batch in train)
            for step, (rows, (bx, by, bsw)) in enumerate(batches):
                callback_list.on_train_batch_begin(step)
                n = _num_samples(bx) if rows is None else rows
                if parallel:
                    if step == 0 and distributed.rank() > 0:
                        # the order is drawn: from here on each rank draws its own numbers (dropout masks,
                        # augmentation), a stream 2**64 draws away from rank 0's
                        nerve_random.generator().bit_generator.advance(distributed.rank() << 64)
                    bx, by, bsw = self._local_share(bx, by, bsw, n)
                if place is not None and not prefetch:
                    bx, by, bsw = place(bx), place(by), place(bsw)
                if keras_step:
                    step_logs = _plain_logs(self.train_step((bx, by) if bsw is None else (bx, by, bsw)))
                    loss_value, parts = step_logs.get("loss", 0.0), []
                else:
                    loss_value, parts = self.train_step(bx, by, bsw)
                seen += n
                loss_sum += loss_value * n
                part_sums = [p * n for p in parts] if part_sums is None else [s + p * n for s, p in zip(part_sums, parts)]
                batch_logs = {"loss": loss_sum / seen}
                callback_list.on_train_batch_end(step, batch_logs)
                if self.stop_training:
                    break
            logs = dict(step_logs) if keras_step and seen else self._epoch_logs(loss_sum, part_sums, seen)
            if val_batches is not None and not self.stop_training:
                callback_list.on_test_begin()
                val_logs = self._run_evaluation(val_batches, callback_list)
                callback_list.on_test_end(val_logs)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            logs["learning_rate"] = float(self.optimizer.current_learning_rate)
            callback_list.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        return logs

    def _start_data_parallel(self, train, val_batches):
        """Same starting point everywhere: rank 0's weights and random state (so the same shuffled order)."""
        size = distributed.size()
        for batches in (train, val_batches):
            n = getattr(batches, "n", None)
            if n is None:
                continue
            size_last = n % batches.batch_size if not batches.drop_last else 0
            if batches.batch_size < size or 0 < size_last < size:
                raise ValueError(
                    f"data-parallel fit on {size} processes: every batch needs at least one sample per process, "
                    f"but batch_size={batches.batch_size} over {n} samples leaves a batch of "
                    f"{size_last or batches.batch_size}; choose another batch_size or drop_last=True")
        distributed.broadcast_weights(self)
        nerve_random.set_state(distributed.broadcast_object(nerve_random.get_state()))

    def _local_share(self, x, y, sample_weight, n):
        """This process's contiguous rows of a batch of ``n`` (and the share, read by train/test_step)."""
        lo, hi = distributed.local_rows(n)
        if hi <= lo:
            raise ValueError(f"data-parallel: a batch of {n} samples has none for rank {distributed.rank()} "
                             f"of {distributed.size()}; use a larger batch_size")
        self._share = (hi - lo, n)
        take = lambda a: a[lo:hi]  # noqa: E731
        return (_map(x, take), None if y is None else _map(y, take),
                None if sample_weight is None else sample_weight[lo:hi])

    def _reset_metrics(self):
        for built in self._metrics or []:
            for _, metric in built:
                metric.reset_state()

    def _epoch_logs(self, loss_sum, part_sums, seen):
        logs = {"loss": loss_sum / max(seen, 1)}
        if self._output_names is not None and len(self._output_names) > 1 and part_sums:
            for name, total in zip(self._output_names, part_sums):
                logs[f"{name}_loss"] = total / max(seen, 1)
        for built in self._metrics:
            for name, metric in built:
                logs[name] = float(metric.result())
        return logs

    def _run_evaluation(self, batches, callback_list=None):
        self._reset_metrics()
        seen, loss_sum, part_sums = 0, 0.0, None
        parallel = distributed.active()
        share = self.__dict__.get("_share")
        place = self._place
        prefetch = place is not None and not parallel and isinstance(batches, _ArrayBatches)
        for step, (rows, (bx, by, bsw)) in enumerate(
                _Prefetched(batches, place) if prefetch else ((None, batch) for batch in batches)):
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            n = _num_samples(bx) if rows is None else rows
            if parallel:
                bx, by, bsw = self._local_share(bx, by, bsw, n)
            if place is not None and not prefetch:
                bx, by, bsw = place(bx), place(by), place(bsw)
            loss_value, parts = self.test_step(bx, by, bsw)
            seen += n
            loss_sum += loss_value * n
            part_sums = [p * n for p in parts] if part_sums is None else [s + p * n for s, p in zip(part_sums, parts)]
            if callback_list is not None:
                callback_list.on_test_batch_end(step, {"loss": loss_sum / seen})
        self._share = share
        return self._epoch_logs(loss_sum, part_sums, seen)

    # -------------------------------------------------------------- evaluate
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False, callbacks=None):
        """Loss and metrics on data, in inference mode (no dropout, batch norm running statistics).

        Returns the loss alone when there are no metrics, else ``[loss, metric...]``
        (or a dict with ``return_dict=True``).

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([layers.Dense(1, kernel_initializer="zeros")])
            >>> m.compile(optimizer="sgd", loss="mse")
            >>> m.evaluate(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
            1.0
        """
        self._check_compiled("evaluate")
        if batch_size is not None:
            batch_size = validate.positive_int(batch_size, "batch_size", "evaluate")
        if _is_loader(x):
            batches = _LoaderBatches(x)
            first_x = lambda: _peek_x(x)  # noqa: E731 - only read when the model is not ready
        else:
            x, y, sample_weight = self._prepare_data(x, y, sample_weight, None, "evaluate")
            batches = _ArrayBatches(x, y, sample_weight, 32 if batch_size is None else batch_size, False)
            first_x = _map(x, lambda a: a[:1])
        self._ensure_ready(first_x)
        callback_list = callbacks_module.CallbackList(callbacks, model=self, add_history=False,
                                                      add_progbar=verbose not in (0, "auto") and verbose != 2, verbose=verbose,
                                                      epochs=1, steps=len(batches), mode="test")
        callback_list.on_test_begin()
        logs = self._run_evaluation(batches, callback_list)
        callback_list.on_test_end(logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # --------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose=0, callbacks=None):
        """Model outputs for ``x`` as NumPy arrays, computed in batches in inference mode.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([layers.Dense(3)])
            >>> m.predict(np.zeros((70, 2)), batch_size=32).shape
            (70, 3)
        """
        if _is_loader(x):
            chunks = (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in x)
        else:
            if batch_size is not None:
                batch_size = validate.positive_int(batch_size, "batch_size", "predict")
            x = _checked_arrays(x, "x", "predict")
            data_module.validate_arrays(x, None, name="predict")
            batches = _ArrayBatches(x, None, None, 32 if batch_size is None else batch_size, False)
            chunks = (bx for bx, _, _ in batches)
        outputs = []
        place = _placer(self.device)
        with no_grad():
            for bx in chunks:
                if place is not None:
                    bx = place(bx)
                out = self(bx, training=False)
                outputs.append(_map(out, lambda t: t.numpy()))
        if not outputs:
            raise ValueError("predict(): got no data")
        if isinstance(outputs[0], numpy.ndarray):
            return numpy.concatenate(outputs)
        if isinstance(outputs[0], dict):
            return {k: numpy.concatenate([o[k] for o in outputs]) for k in outputs[0]}
        return [numpy.concatenate([o[i] for o in outputs]) for i in range(len(outputs[0]))]

    def find_lr(self, x, y, **kwargs):
        """Learning-rate range test on this compiled model; see :func:`nerve.diagnostics.lr_finder` (weights restored).

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]); m.compile(optimizer="sgd", loss="mse")
            >>> m.find_lr(np.ones((32, 2)), np.ones((32, 1)), num_steps=10).lrs[0]
            1e-07
        """
        return lr_finder(self, x, y, **kwargs)

    def predict_on_batch(self, x):
        """Outputs for one batch, as NumPy arrays."""
        with no_grad():
            return _map(self(_as_arrays(x), training=False), lambda t: t.numpy())

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics of this batch).

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([layers.Dense(1)])
            >>> m.compile(optimizer="sgd", loss="mse")
            >>> isinstance(m.train_on_batch(np.ones((4, 2)), np.ones((4, 1))), float)
            True
        """
        self._check_compiled("train_on_batch")
        x, y, sample_weight = self._prepare_data(x, y, sample_weight, class_weight, "train_on_batch")
        self._ensure_ready(x)
        self._reset_metrics()
        if self._place is not None:
            x, y, sample_weight = self._place(x), self._place(y), self._place(sample_weight)
        loss_value, parts = self.train_step(x, y, sample_weight)
        return self._batch_result(loss_value, parts, _num_samples(x), return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch, without updating weights."""
        self._check_compiled("test_on_batch")
        x, y, sample_weight = self._prepare_data(x, y, sample_weight, None, "test_on_batch")
        self._ensure_ready(x)
        self._reset_metrics()
        if self._place is not None:
            x, y, sample_weight = self._place(x), self._place(y), self._place(sample_weight)
        loss_value, parts = self.test_step(x, y, sample_weight)
        return self._batch_result(loss_value, parts, _num_samples(x), return_dict)

    def _batch_result(self, loss_value, parts, n, return_dict):
        logs = self._epoch_logs(loss_value * n, [p * n for p in parts], n)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # --------------------------------------------------------------- devices
    def to(self, device):
        """Move the model's weights, and its optimizer's state once compiled, to ``device``; returns the model.

        Examples:
            >>> import numpy as np, nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)]).to("cpu")
            >>> m.device, type(m.predict(np.ones((3, 2)))).__name__
            ('cpu', 'ndarray')
        """
        super().to(device)
        if self.optimizer is not None:
            self.optimizer.to(device)
        return self

    # ---------------------------------------------------------------- saving
    def save(self, path, include_optimizer=True):
        """Save architecture (JSON), weights (safetensors) and optimizer state to one file, atomically.

        Examples:
            >>> import tempfile, os, numpy as np, nerve
            >>> from nerve import layers
            >>> m = nerve.Sequential([nerve.Input(shape=(2,)), layers.Dense(1)])
            >>> path = os.path.join(tempfile.mkdtemp(), "m.nerve")
            >>> m.save(path)
            >>> nerve.load_model(path).count_params()
            3
        """
        saving.save_model(self, path, include_optimizer=include_optimizer)

    def save_weights(self, path):
        """Save the weights alone to a safetensors file (atomic write)."""
        saving.save_weights(self, path)

    def load_weights(self, path):
        """Load weights saved by :meth:`save_weights` (or from a full model file)."""
        saving.load_weights(self, path)


def _loss_name(loss):
    return getattr(loss, "name", None) or type(loss).__name__


def _class_weights_to_samples(class_weight, y, output_shape=None, where="fit"):
    """One weight per sample from ``{class id: weight}``; every key must be a class of the model (or of the labels)."""
    if isinstance(y, (list, dict)):
        raise ValueError("class_weight is only supported for models with a single output")
    labels = to_numpy(y)
    classes = None
    if labels.ndim > 1 and labels.shape[-1] > 1:  # one-hot
        classes = labels.shape[-1]
        labels = labels.argmax(axis=-1)
    labels = numpy.rint(labels.reshape(len(labels), -1)[:, 0]).astype(numpy.int64)
    if classes is None:
        units = output_shape[-1] if output_shape and isinstance(output_shape[-1], int) else None
        # one sigmoid unit holds two classes; without a known output, the classes are those of the labels
        classes = max(units, 2) if units else max(int(labels.max(initial=0)) + 1, 2)
    weights = validate.class_weights(class_weight, classes, where)
    table = numpy.ones(max(classes, int(labels.max(initial=0)) + 1), dtype="float32")
    for cls, weight in weights.items():
        table[cls] = weight
    return table[labels]


def _checked_arrays(structure, label, where):
    """:func:`_as_arrays` that names the argument when nested lists are ragged (samples of different shapes)."""
    try:
        return _as_arrays(structure)
    except ValueError as error:
        if "inhomogeneous" not in str(error) and "sequence" not in str(error):
            raise
        raise ValueError(f"{where}: {label} must be a rectangular array (every sample of the same shape), got ragged "
                         f"nested lists; pad the samples to one length first (e.g. nerve.sequence.pad_sequences)") from None


def _takes_data(method):
    """True for a Keras-style ``train_step(self, data)`` (one argument: the batch), False for nerve's ``(x, y, ...)``."""
    try:
        parameters = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    return len(parameters) == 1 and parameters[0].kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                           inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _plain_logs(logs):
    """The dict a Keras-style ``train_step`` returns, with tensors and arrays as Python floats."""
    if not isinstance(logs, dict):
        raise TypeError(f"train_step(data) must return a dict of logs such as {{'loss': ...}}, got {type(logs).__name__}")
    return {k: float(to_numpy(v.data) if isinstance(v, Tensor) else numpy.asarray(v)) for k, v in logs.items()}


def _warn_fresh_optimizer(initial_epoch):
    warnings.warn(
        f"fit(initial_epoch={initial_epoch}) resumes with an optimizer that has taken no step: its state (iteration "
        "count, moments, learning-rate changes) is missing, as after load_weights or a weights-only file such as "
        "ModelCheckpoint(save_weights_only=True). Training goes on from a fresh optimizer and will not match a run "
        "that never stopped; to resume exactly, save full checkpoints (ModelCheckpoint(save_weights_only=False)) "
        "and reload them with nerve.load_model", UserWarning, stacklevel=3)


def _check_fit_arguments(epochs, initial_epoch, batch_size, validation_batch_size):
    """fit()'s counts as ints, each checked; a warning (Keras trains nothing, silently) when no epoch is left."""
    epochs = validate.non_negative_int(epochs, "epochs", "fit")
    initial_epoch = validate.non_negative_int(initial_epoch, "initial_epoch", "fit")
    if batch_size is not None:
        batch_size = validate.positive_int(batch_size, "batch_size", "fit")
    if validation_batch_size is not None:
        validation_batch_size = validate.positive_int(validation_batch_size, "validation_batch_size", "fit")
    if initial_epoch >= epochs:
        warnings.warn(f"fit(): initial_epoch={initial_epoch} >= epochs={epochs}, so no epoch is trained; epochs must be "
                      f"the index of the last epoch, not a count of further epochs: to train {max(epochs, 1)} more, "
                      f"pass epochs={initial_epoch + max(epochs, 1)}", UserWarning, stacklevel=3)
    return epochs, initial_epoch, batch_size, validation_batch_size
