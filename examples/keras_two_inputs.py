"""A functional Keras model with two inputs and two outputs joined by ``layers.concatenate``.

Written as a Keras 3 program (the ticket-triage example of the functional API guide, on synthetic data);
it runs on nerve with one change: ``import nerve as keras``.

    python examples/keras_two_inputs.py [--epochs 10]
"""

import argparse

import numpy as np

import nerve as keras
from nerve import layers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    keras.utils.set_random_seed(1)

    num_tags, num_departments, samples = 12, 4, 1024
    title_data = np.random.random((samples, 20)).astype("float32")
    tags_data = np.random.randint(0, 2, size=(samples, num_tags)).astype("float32")
    priority_targets = (title_data[:, :5].mean(axis=1, keepdims=True) + 0.2 * tags_data[:, :1]).astype("float32")
    dept_targets = keras.utils.to_categorical(np.argmax(tags_data[:, :num_departments], axis=1), num_departments)

    title_input = keras.Input(shape=(20,), name="title")
    tags_input = keras.Input(shape=(num_tags,), name="tags")
    title_features = layers.Dense(32, activation="relu")(title_input)
    tags_features = layers.Dense(16, activation="relu")(tags_input)
    x = layers.concatenate([title_features, tags_features])
    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, activation="softmax", name="department")(x)
    model = keras.Model(inputs=[title_input, tags_input], outputs=[priority_pred, department_pred])

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=3e-3),
        loss={"priority": keras.losses.MeanSquaredError(), "department": keras.losses.CategoricalCrossentropy()},
        loss_weights={"priority": 1.0, "department": 0.5},
        metrics={"department": ["accuracy"]},
    )
    model.summary()
    history = model.fit(
        {"title": title_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        epochs=args.epochs, batch_size=32, validation_split=0.2, verbose=0,
    )
    print(f"department accuracy: first epoch {history.history['department_accuracy'][0]:.3f}, "
          f"last epoch {history.history['department_accuracy'][-1]:.3f}")
    priority, department = model.predict({"title": title_data[:3], "tags": tags_data[:3]}, verbose=0)
    print(f"predictions for 3 tickets: priority {priority.shape}, department {department.shape}")


if __name__ == "__main__":
    main()
