"""A training loop written from scratch: forward, loss, gradients, ``optimizer.apply_gradients``, metrics.

Written as a Keras 3 program (the "writing a training loop from scratch" guide for the PyTorch backend,
on synthetic data); it runs on nerve with one change: ``import nerve as keras``.

    python examples/keras_custom_loop.py [--epochs 3]
"""

import argparse

import numpy as np

import nerve as keras
from nerve import layers


def get_model():
    inputs = keras.Input(shape=(64,), name="digits")
    x1 = layers.Dense(64, activation="relu")(inputs)
    x2 = layers.Dense(64, activation="relu")(x1)
    outputs = layers.Dense(10, name="predictions")(x2)
    return keras.Model(inputs=inputs, outputs=outputs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    keras.utils.set_random_seed(3)

    rng = np.random.default_rng(3)
    prototypes = rng.normal(size=(10, 64))
    y_all = rng.integers(0, 10, size=2000)
    x_all = (prototypes[y_all] + rng.normal(scale=1.5, size=(2000, 64))).astype("float32")
    (x_train, y_train), (x_val, y_val) = keras.utils.split_dataset((x_all, y_all), left_size=0.8)

    model = get_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.SparseCategoricalAccuracy()
    val_acc_metric = keras.metrics.SparseCategoricalAccuracy()

    batch_size = 64
    for epoch in range(args.epochs):
        order = np.random.permutation(len(x_train))
        for step in range(len(x_train) // batch_size):
            index = order[step * batch_size:(step + 1) * batch_size]
            x_batch, y_batch = x_train[index], y_train[index]
            logits = model(x_batch, training=True)
            loss_value = loss_fn(y_batch, logits)
            model.zero_grad()
            loss_value.backward()
            trainable_weights = [v for v in model.trainable_weights]
            gradients = [v.value.grad for v in trainable_weights]
            optimizer.apply_gradients(zip(gradients, trainable_weights))
            train_acc_metric.update_state(y_batch, logits)
        train_acc = float(train_acc_metric.result())
        train_acc_metric.reset_state()
        val_acc_metric.update_state(y_val, model(x_val, training=False))
        val_acc = float(val_acc_metric.result())
        val_acc_metric.reset_state()
        print(f"epoch {epoch + 1}: loss {float(loss_value):.4f} - train acc {train_acc:.3f} - val acc {val_acc:.3f}")


if __name__ == "__main__":
    main()
