"""Random search on the digits MLP: 1 vs 2 worker processes, the quickstart default as baseline, importance, plot.

The lecture says tuning "relies more on experimental results than theory" and
that the learning rate matters most. This script runs that experiment:

1. a random search of 30 trials (learning rate, Adam's beta1, mini-batch size,
   number of layers, units per layer, activation), each trained a few epochs,
   first with 1 worker, then the same 30 configurations with 2 worker processes
   (one BLAS thread each, one SQLite study): the speed-up;
2. the quickstart's hand-picked default (784-128-64-10 ReLU, Adam 1e-3, batch
   64) trained for the same number of epochs: is the best configuration at least as good?
3. hyperparameter importance: did the learning rate come first?
4. the results plot (objective per trial, importance) as a PNG.

Run:
    python examples/tune_digits.py                      # 30 trials x 4 epochs, a few minutes on 2 cores
    python examples/tune_digits.py --trials 6 --epochs 1 --limit 1000   # a quick look
"""

import os

# One BLAS thread in this process (the 1-worker run) like in each spawned worker; must be set before NumPy loads.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import nerve  # noqa: E402
from nerve import layers  # noqa: E402
from nerve.tuning import Categorical, Float, Int, SearchSpace, Tuner, build_mlp  # noqa: E402


def build(params):
    """The model of one trial: nerve.tuning.build_mlp for 28x28 digits, 10 classes (module-level: workers import it)."""
    return build_mlp(params, input_shape=(784,), num_classes=10)


SPACE = SearchSpace(
    learning_rate=Float(1e-4, 1e-1, log=True),
    beta_1=Float(0.8, 0.99),
    batch_size=Categorical([32, 64, 128, 256]),
    n_layers=Int(1, 3),
    units_1=Int(16, 256, log=True),
    units_2=Int(16, 256, log=True, when="n_layers >= 2"),
    units_3=Int(16, 256, log=True, when="n_layers >= 3"),
    activation=Categorical(["relu", "tanh"]),
)


def load(limit, seed=0):
    (x, y), (x_test, y_test) = nerve.datasets.load_digits_5k(flatten=True, seed=seed)
    if limit:
        x, y = x[:limit], y[:limit]
    x_train, x_val, y_train, y_val = nerve.data.train_test_split(x, y, test_size=0.1, stratify=y, seed=seed)
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def quickstart_baseline(train, validation, test, epochs, seed):
    """The quickstart's 784-128-64-10 ReLU MLP, Adam 1e-3, batch 64, trained ``epochs`` epochs on the same data."""
    nerve.random.seed(seed)
    model = nerve.Sequential([nerve.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                              layers.Dense(64, activation="relu"), layers.Dense(10)])
    model.compile(optimizer=nerve.optimizers.Adam(1e-3),
                  loss=nerve.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(*train, validation_data=validation, epochs=epochs, batch_size=64, verbose=0)
    return history.history["val_accuracy"][-1], model.evaluate(*test, verbose=0, return_dict=True)["accuracy"]


def run_search(out, name, n_jobs, train, validation, args, model_dir=None):
    storage = os.path.join(out, f"{name}.db")
    if os.path.exists(storage):
        os.remove(storage)  # a fresh study: this script measures time
    tuner = Tuner(build, SPACE, objective="val_accuracy", strategy="random", storage=storage, study_name="digits",
                  pruner=None, seed=args.seed, model_dir=model_dir)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    tuner.search(*train, validation_data=validation, epochs=args.epochs, n_trials=args.trials, n_jobs=n_jobs,
                 verbose=0)
    seconds = time.perf_counter() - start
    print(f"{n_jobs} worker{'s' if n_jobs > 1 else ''}: {args.trials} trials in {seconds:.1f}s "
          f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs)", flush=True)
    return tuner, seconds


def concurrency(study):
    """Sum of the trials' durations divided by the time from the first start to the last end."""
    trials = [t for t in study.trials if t.datetime_complete is not None]
    span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
    return sum(t.duration.total_seconds() for t in trials) / span


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="use only this many training digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="tune_digits_out", help="folder for the studies, the best model and the plot")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    train, validation, test = load(args.limit, args.seed)
    print(f"random search: {args.trials} trials x {args.epochs} epochs on {len(train[0])} digits "
          f"({len(validation[0])} for validation)", flush=True)

    serial, serial_seconds = run_search(args.out, "serial", 1, train, validation, args)
    parallel, parallel_seconds = run_search(args.out, "parallel", 2, train, validation, args,
                                            model_dir=os.path.join(args.out, "models"))
    speedup = serial_seconds / parallel_seconds
    same = ({t.number: (t.params, t.value) for t in serial.study.trials}
            == {t.number: (t.params, t.value) for t in parallel.study.trials})
    print(f"speed-up with 2 workers: {speedup:.2f}x; same configurations and values in both runs: {same}")
    overlap = concurrency(parallel.study)
    print(f"trials running at once in the 2-worker run, on average: {overlap:.2f} (with 2 free cores the speed-up "
          f"approaches this; on a busy machine each trial also runs slower)")

    print("\n" + parallel.leaderboard(top=10))
    baseline_val, baseline_test = quickstart_baseline(train, validation, test, args.epochs, args.seed)
    best = parallel.best_model()
    best_test = best.evaluate(*test, verbose=0, return_dict=True)["accuracy"]
    print(f"\nbest trial {parallel.best_trial.number}: val_accuracy {parallel.best_value:.4f}, test accuracy "
          f"{best_test:.4f} with {json.dumps(parallel.best_params)}")
    print(f"quickstart default (784-128-64-10, Adam 1e-3, batch 64, {args.epochs} epochs): val_accuracy "
          f"{baseline_val:.4f}, test accuracy {baseline_test:.4f}")
    at_least = parallel.best_value >= baseline_val
    print(f"best configuration at least as good as the default on validation: {at_least}")

    importance = parallel.importance()
    print("importance: " + ", ".join(f"{k} {v:.2f}" for k, v in importance.items()))
    first = next(iter(importance))
    print(f"the learning rate came first: {first == 'learning_rate'} (first: {first})")
    plot = None
    try:
        plot = parallel.plot(os.path.join(args.out, "tune_digits.png"), importance=importance)
        print(f"plot saved to {plot}")
    except ImportError as error:
        print(f"no plot: {error}")
    summary = {
        "trials": args.trials, "epochs": args.epochs, "serial_seconds": round(serial_seconds, 2),
        "parallel_seconds": round(parallel_seconds, 2), "speedup": round(speedup, 3), "same_results": same,
        "trials_at_once": round(overlap, 2),
        "best_params": parallel.best_params, "best_val_accuracy": parallel.best_value, "best_test_accuracy": best_test,
        "baseline_val_accuracy": baseline_val, "baseline_test_accuracy": baseline_test, "best_at_least_baseline": at_least,
        "importance": importance, "learning_rate_first": first == "learning_rate", "plot": plot,
        "load_average": os.getloadavg()[0], "cpus": os.cpu_count(),
    }
    with open(os.path.join(args.out, "summary.json"), "w") as file:
        json.dump(summary, file, indent=2)
    return summary


if __name__ == "__main__":
    main()
