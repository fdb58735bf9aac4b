"""A ready-made model-building function: a compiled MLP classifier from one trial's hyperparameters.

The names follow the lecture's list of hyperparameters: learning rate, momentum,
Adam's beta1/beta2/epsilon, number of layers, units per layer, learning-rate
decay, (mini-batch size and epochs are read by the Tuner), regularisation.

Examples:
    >>> from nerve.tools.tuning import build_mlp
    >>> model = build_mlp({"n_layers": 2, "units_1": 128, "units_2": 64, "learning_rate": 1e-3},
    ...                   input_shape=(784,), num_classes=10)
    >>> model.count_params()
    109386
"""

from __future__ import annotations

from nerve.blocks import layers, losses, optimizers, regularizers, schedules
from nerve.training.models import Input, Sequential

KNOWN = {
    "n_layers": "hidden layers (default 2)",
    "units": "units of every hidden layer without its own units_i (default 64)",
    "units_i": "units of hidden layer i (1-based), e.g. units_1, units_2",
    "activation": "hidden activation name (default 'relu')",
    "dropout": "dropout rate after each hidden layer (default 0)",
    "l2": "L2 penalty factor on the kernels (default 0)",
    "batch_norm": "BatchNormalization after each hidden Dense (default False)",
    "optimizer": "'adam' (default), 'sgd', 'rmsprop' or 'adamw'",
    "learning_rate": "initial learning rate (default 1e-3)",
    "lr_decay": "inverse-time decay: lr / (1 + lr_decay * step / 100) (default 0: constant)",
    "momentum": "momentum of sgd/rmsprop (default 0)",
    "beta_1": "Adam's beta1", "beta_2": "Adam's beta2", "epsilon": "Adam/RMSprop epsilon",
    "weight_decay": "AdamW's decoupled weight decay",
    "batch_size": "read by the Tuner (fit's batch size)", "epochs": "read by the Tuner (fit's epochs)",
}


def _check_keys(params):
    unknown = [k for k in params if k not in KNOWN and not (k.startswith("units_") and k[6:].isdigit())]
    if unknown:
        listing = "; ".join(f"{k}: {v}" for k, v in KNOWN.items())
        raise ValueError(f"build_mlp: unknown hyperparameters {unknown}; known ones are {listing}")


def _optimizer(params):
    name = str(params.get("optimizer", "adam")).lower()
    classes = {"adam": optimizers.Adam, "sgd": optimizers.SGD, "rmsprop": optimizers.RMSprop, "adamw": optimizers.AdamW}
    if name not in classes:
        raise ValueError(f"build_mlp: optimizer must be one of {sorted(classes)}, got {name!r}")
    learning_rate = float(params.get("learning_rate", 1e-3))
    decay = float(params.get("lr_decay", 0.0) or 0.0)
    if decay:
        learning_rate = schedules.InverseTimeDecay(learning_rate, decay_steps=100, decay_rate=decay)
    allowed = {"adam": ("beta_1", "beta_2", "epsilon"), "adamw": ("beta_1", "beta_2", "epsilon", "weight_decay"),
               "sgd": ("momentum",), "rmsprop": ("momentum", "epsilon")}[name]
    kwargs = {k: params[k] for k in allowed if params.get(k) is not None}
    return classes[name](learning_rate, **kwargs)


def build_mlp(params, input_shape, num_classes, loss=None, metrics=("accuracy",)):
    """A compiled ``Input -> [Dense -> (BatchNorm) -> (Dropout)] * n_layers -> Dense(num_classes)`` classifier.

    Args:
        params: one trial's hyperparameters (see ``nerve.tuning.builders.KNOWN``);
            unknown names raise ``ValueError`` so typos in a search space are caught.
        input_shape: shape of one sample, e.g. ``(784,)``.
        num_classes: output units (logits, sparse categorical cross-entropy).
        loss: override the loss (default: sparse categorical cross-entropy on logits) and metrics.
        metrics: override the loss (default: sparse categorical cross-entropy on logits) and metrics.

    Examples:
        >>> m = build_mlp({"n_layers": 1, "units": 8, "optimizer": "sgd", "momentum": 0.9}, (4,), 3)
        >>> [layer.units for layer in m.layers if hasattr(layer, "units")]
        [8, 3]
    """

    params = dict(params)
    _check_keys(params)
    n_layers = int(params.get("n_layers", 2))
    if n_layers < 0:
        raise ValueError(f"build_mlp: n_layers must be >= 0, got {n_layers}")
    default_units = int(params.get("units", 64))
    activation = params.get("activation", "relu")
    dropout = float(params.get("dropout", 0.0) or 0.0)
    l2 = float(params.get("l2", 0.0) or 0.0)
    stack = [Input(shape=tuple(input_shape))]
    for i in range(1, n_layers + 1):
        units = int(params.get(f"units_{i}", default_units))
        regularizer = regularizers.L2(l2) if l2 else None
        stack.append(layers.Dense(units, activation=None if params.get("batch_norm") else activation,
                                  kernel_regularizer=regularizer))
        if params.get("batch_norm"):
            stack += [layers.BatchNormalization(), layers.Activation(activation)]
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(int(num_classes)))
    model = Sequential(stack, name="tuned_mlp")
    model.compile(optimizer=_optimizer(params),
                  loss=loss or losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model
