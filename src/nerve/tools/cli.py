"""The ``nerve`` command line: ``nerve quickstart`` trains a digit classifier on bundled data.

Examples:
    $ nerve quickstart            # ~784-128-64-10 MLP on 4000 digits, prints test accuracy
    $ nerve quickstart --epochs 3 --output digits.nerve
"""

from __future__ import annotations

import argparse
import sys
import time

from nerve._version import __version__
from nerve.blocks import layers, losses, optimizers
from nerve.engine import random as nerve_random
from nerve.tools.diagnostics.report import write_report
from nerve.tools.tuning.cli import main_tune
from nerve.training import datasets
from nerve.training.models import Input, Sequential

__all__ = [
    "quickstart", "main",
]


def quickstart(epochs=10, batch_size=64, output="digits_mlp.nerve", seed=0, verbose=1):
    """Train the 784-128-64-10 MLP of the lectures on the bundled digits, print test accuracy, save the model.

    Returns the test accuracy (a float in [0, 1]).

    Examples:
        >>> acc = quickstart(epochs=1, output=None, verbose=0)  # doctest: +SKIP
    """
    nerve_random.seed(seed)
    (x_train, y_train), (x_test, y_test) = datasets.load_digits_5k(flatten=True, seed=seed)
    if verbose:
        print(f"nerve {__version__} quickstart: {len(x_train)} training and {len(x_test)} test digits (28x28, bundled MNIST subset)")
    model = Sequential([
        Input(shape=(784,)),
        layers.Dense(128, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(10),
    ], name="digits_mlp")
    model.compile(optimizer=optimizers.Adam(1e-3),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    if verbose:
        model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=verbose)
    elapsed = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    if verbose:
        print(f"trained {epochs} epochs in {elapsed:.1f}s; test loss {loss:.4f}, test accuracy {accuracy:.2%}")
    if output:
        model.save(output)
        if verbose:
            print(f"saved the model to {output} (load it with load_model('{output}'))")
    return accuracy


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["tune"]:  # its own parser and options; imported only when used (needs nerve[tune])
        return main_tune(argv[1:])
    parser = argparse.ArgumentParser(prog="nerve", description="nerve: a readable deep-learning framework on NumPy")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("tune", help="hyperparameter search from a TOML/JSON spec (see: nerve tune --help)")
    q = sub.add_parser("quickstart", help="train a digit classifier on the bundled MNIST subset")
    q.add_argument("--epochs", type=int, default=10)
    q.add_argument("--batch-size", type=int, default=64)
    q.add_argument("--output", default="digits_mlp.nerve", help="where to save the trained model ('' to skip)")
    q.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("report", help="write the HTML report of a run recorded by nerve.diagnostics.RunRecorder")
    r.add_argument("run_dir", help="the run folder")
    r.add_argument("--output", "-o", default=None, help="where to write the page (default RUN_DIR/report.html)")
    args = parser.parse_args(argv)
    if args.command == "report":  # imported only when used
        print(f"report written to {write_report(args.run_dir, args.output)}")
        return 0
    if args.command == "quickstart":
        quickstart(args.epochs, args.batch_size, args.output or None, args.seed)
        return 0
    parser.print_help()
    return 1


if __name__ == "__main__":
    sys.exit(main())
