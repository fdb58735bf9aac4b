"""A subclassed Keras model with its own ``train_step``, trained with ``fit``, saved and reloaded.

Written as a Keras 3 program (the "customizing what happens in fit" pattern of the PyTorch backend);
it runs on nerve with one change: ``import nerve as keras``.

    python examples/keras_custom_train_step.py [--epochs 20]
"""

import argparse
import os
import tempfile

import numpy as np

import nerve as keras
from nerve import layers

loss_tracker = keras.metrics.Mean(name="loss")
mae_metric = keras.metrics.MeanAbsoluteError(name="mae")


@keras.saving.register_keras_serializable(package="examples")
class CustomModel(keras.Model):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = layers.Dense(units, activation="relu")
        self.out = layers.Dense(1)

    def call(self, inputs):
        return self.out(self.hidden(inputs))

    def train_step(self, data):
        x, y = data
        self.zero_grad()  # clear the gradients of the previous step
        y_pred = self(x, training=True)
        loss = keras.losses.mean_squared_error(y, y_pred)
        loss = keras.ops.mean(loss)
        loss.backward()
        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.value.grad for v in trainable_weights]
        self.optimizer.apply(gradients, trainable_weights)
        loss_tracker.update_state(loss)
        mae_metric.update_state(y, y_pred)
        return {"loss": loss_tracker.result(), "mae": mae_metric.result()}

    @property
    def metrics(self):
        # listed here, the metrics are reset at the start of every epoch
        return [loss_tracker, mae_metric]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    x = np.random.random((512, 8)).astype("float32")
    y = (x @ np.linspace(-1.0, 1.0, 8)[:, None] + 0.5).astype("float32")

    model = CustomModel(units=32)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01))
    history = model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    print(f"first epoch: loss {history.history['loss'][0]:.4f} - mae {history.history['mae'][0]:.4f}")
    print(f"last epoch: loss {history.history['loss'][-1]:.4f} - mae {history.history['mae'][-1]:.4f}")

    path = os.path.join(tempfile.mkdtemp(), "custom_model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    same = np.allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    print(f"reloaded {type(reloaded).__name__}: same predictions {same}")


if __name__ == "__main__":
    main()
