"""House prices: a regression network, as in the lecture.

Inputs (area, rooms, location, wealth) -> Dense 200 -> Dense 100 -> Dense 50
-> price, trained with the mean squared error on synthetic data from
``nerve.datasets.make_house_prices`` (price in thousands). The features have
very different scales (area in the hundreds, location below 1), so they are
standardised with a ``StandardScaler`` fitted on the training split only; the
target is standardised too and predictions are mapped back to prices.

Run:
    python examples/house_prices.py            # 100 epochs
    python examples/house_prices.py --epochs 5
"""

from __future__ import annotations

import argparse

import numpy as np

import nerve
from nerve import layers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    nerve.random.seed(args.seed)
    x, y = nerve.datasets.make_house_prices(n=2000, seed=args.seed)
    (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = nerve.data.train_dev_test_split(
        x, y, dev_size=0.1, test_size=0.15, seed=args.seed)

    features = nerve.data.StandardScaler().fit(x_train)  # statistics of the training split only
    prices = nerve.data.StandardScaler().fit(y_train)
    x_train, x_dev, x_test = features.transform(x_train), features.transform(x_dev), features.transform(x_test)
    t_train, t_dev = prices.transform(y_train), prices.transform(y_dev)

    model = nerve.Sequential([
        nerve.Input(shape=(4,), name="area_rooms_location_wealth"),
        layers.Dense(200, activation="relu"),
        layers.Dense(100, activation="relu"),
        layers.Dense(50, activation="relu"),
        layers.Dense(1, name="price"),
    ], name="house_prices")
    model.compile(optimizer=nerve.optimizers.Adam(1e-3), loss="mse", metrics=["mae"])
    model.summary()
    stop = nerve.callbacks.EarlyStopping(monitor="val_loss", patience=15, restore_best_weights=True)
    history = model.fit(x_train, t_train, validation_data=(x_dev, t_dev), batch_size=32, epochs=args.epochs,
                        callbacks=[stop], verbose=0)
    print(f"trained {len(history.epoch)} epochs; best val_loss {min(history.history['val_loss']):.4f} (standardised)")

    predicted = prices.inverse_transform(model.predict(x_test))
    errors = predicted - y_test
    rmse = float(np.sqrt(np.mean(errors ** 2)))
    mae = float(np.mean(np.abs(errors)))
    baseline = float(np.sqrt(np.mean((y_test - y_train.mean()) ** 2)))
    print(f"test RMSE {rmse:.1f}k, test MAE {mae:.1f}k "
          f"(price noise std is 20k; predicting the mean: RMSE {baseline:.1f}k)")
    area, rooms, location, wealth = 120.0, 4.0, 0.8, 0.6
    house = np.array([[area, rooms, location, wealth]], dtype="float32")
    price = prices.inverse_transform(model.predict(features.transform(house)))[0, 0]
    formula = 50 + 2 * area + 10 * rooms + 150 * location + 100 * wealth + 80 * location * wealth
    print(f"a {area:.0f} m2, {rooms:.0f}-room house, location {location}, wealth {wealth}: "
          f"predicted {price:.0f}k (noise-free formula: {formula:.0f}k)")
    return rmse, mae


if __name__ == "__main__":
    main()
