"""Overfitting or underfitting? The lectures' table of training against validation error, made executable.

Three digit classifiers, each diagnosed from its training history by
``nerve.diagnostics.diagnose_history``:

* a huge network (two layers of 512 units, 670k weights) trained on only
  200 digits: training error 0, validation error far higher: overfitting;
* a network squeezed through one hidden unit: high training error: not
  learning (underfitting);
* the lectures' 784-128-64-10 MLP on 4000 digits: the model is learning.

The last run is recorded with a RunRecorder; ``--report DIR`` keeps it and
writes its HTML report (also: ``nerve report DIR``).

Run:
    python examples/diagnose_fit.py
    python examples/diagnose_fit.py --quick
    python examples/diagnose_fit.py --report runs/digits_mlp
"""

from __future__ import annotations

import argparse
import tempfile

import nerve
from nerve import diagnostics, layers


def mlp(hidden, learning_rate=1e-3, seed=0):
    nerve.random.seed(seed)
    nerve.layers.reset_names()
    model = nerve.Sequential([nerve.Input(shape=(784,))] + [layers.Dense(units, activation="relu") for units in hidden]
                             + [layers.Dense(10)], name="mlp_" + "_".join(map(str, hidden)))
    model.compile(optimizer=nerve.optimizers.Adam(learning_rate),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def show(title, model, history):
    diagnosis = diagnostics.diagnose_history(history)
    print(f"\n=== {title} ({model.count_params():,} weights) ===")
    print(diagnosis)
    return diagnosis


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and examples")
    parser.add_argument("--report", default=None, help="folder for the recorded run and its HTML report")
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True)
    validation = (x_test, y_test)

    huge = mlp([512, 512])
    history = huge.fit(x_train[:200], y_train[:200], epochs=15 if args.quick else 30, batch_size=32, verbose=0,
                       validation_data=validation)
    verdicts = [show("huge model, 200 training digits", huge, history).verdict]

    tiny = mlp([1], learning_rate=1e-2)
    n = 1000 if args.quick else 4000
    history = tiny.fit(x_train[:n], y_train[:n], epochs=3 if args.quick else 10, batch_size=64, verbose=0,
                       validation_data=validation)
    verdicts.append(show("one hidden unit", tiny, history).verdict)

    good = mlp([128, 64])
    run_dir = args.report or tempfile.mkdtemp(prefix="nerve_run_")
    recorder = diagnostics.RunRecorder(run_dir, validation_data=validation, hyperparameters={"batch_size": 64},
                                       write_html=args.report is not None, verbose=1)
    history = good.fit(x_train, y_train, epochs=3 if args.quick else 10, batch_size=64, verbose=0,
                       validation_data=validation, callbacks=[recorder])
    verdicts.append(show("784-128-64-10 MLP", good, history).verdict)
    findings = recorder.health.summary()
    print(f"training health: {findings}")
    print("\nverdicts:", ", ".join(verdicts))


if __name__ == "__main__":
    main()
