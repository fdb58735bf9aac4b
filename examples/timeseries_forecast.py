"""Time-series forecasting with a GRU: predict a seasonal series a few steps ahead.

The series is generated deterministically (no download): four years of a
daily "temperature-like" signal with a yearly cycle, a weekly cycle, a slow
trend and AR(1) noise from a fixed seed (``make_series`` below). The last 20%
is held out. ``nerve.sequence.make_windows`` cuts it into inputs of 60 days
and targets ``--horizon`` days after each window; a GRU(32) -> Dense(1) is
trained on standardised values with the mean squared error, and compared on
the held-out tail with two baselines: repeating the last value, and the
average of the window's last 7 days.

Run:
    python examples/timeseries_forecast.py             # about a minute on 2 cores
    python examples/timeseries_forecast.py --epochs 3 --horizon 7
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import nerve
from nerve import layers
from nerve.sequence import make_windows


def make_series(days=4 * 365, seed=0):
    """Daily series: 10 + 8 sin(yearly) + 1.5 sin(weekly) + trend + AR(1) noise (phi=0.7, shocks sd 0.5)."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    noise = np.zeros(days)
    shocks = rng.normal(scale=0.5, size=days)
    for i in range(1, days):
        noise[i] = 0.7 * noise[i - 1] + shocks[i]
    return 10 + 8 * np.sin(2 * np.pi * t / 365.25) + 1.5 * np.sin(2 * np.pi * t / 7) + 0.002 * t + noise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--horizon", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    nerve.random.seed(args.seed)
    series = make_series(seed=args.seed).astype("float32")
    split = int(0.8 * len(series))
    mean, std = series[:split].mean(), series[:split].std()  # statistics of the training part only
    scaled = (series - mean) / std

    x_train, y_train = make_windows(scaled[:split], args.window, horizon=args.horizon)
    # test windows may start in the training part, but every test target lies after the split
    x_test, y_test = make_windows(scaled[split - args.window - args.horizon + 1:], args.window, horizon=args.horizon)
    x_train, x_test = x_train[..., None], x_test[..., None]  # (n, window, 1): one feature per step
    y_train, y_test = y_train[:, None], y_test[:, None]
    print(f"series of {len(series)} days; {len(x_train)} training windows, {len(x_test)} test windows, "
          f"input {args.window} days, target {args.horizon} day(s) ahead")

    model = nerve.Sequential([
        nerve.Input(shape=(args.window, 1)),
        layers.GRU(32),
        layers.Dense(1),
    ], name="gru_forecaster")
    model.compile(optimizer=nerve.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.1, verbose=2,
              callbacks=[nerve.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)])
    print(f"trained in {time.perf_counter() - start:.0f} s")

    def mae(pred):  # in the series' own units
        return float(np.mean(np.abs(pred - y_test)) * std)

    predicted = model.predict(x_test, verbose=0)
    last_value = x_test[:, -1]
    last_week = x_test[:, -7:, 0].mean(axis=1, keepdims=True)
    print(f"test MAE, {args.horizon} day(s) ahead: GRU {mae(predicted):.3f} | repeat last value {mae(last_value):.3f} "
          f"| mean of last 7 days {mae(last_week):.3f}")


if __name__ == "__main__":
    main()
