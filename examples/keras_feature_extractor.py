"""Train a small classifier, then reuse its hidden layers as a feature extractor (``layer.output``).

Written as a Keras 3 program (the transfer-learning pattern of the Sequential-model guide, on synthetic
data); it runs on nerve with one change: ``import nerve as keras``.

    python examples/keras_feature_extractor.py [--epochs 15]
"""

import argparse

import numpy as np

import nerve as keras
from nerve import layers


def make_blobs(samples, classes=3, features=10, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(classes, features))
    labels = rng.integers(0, classes, size=samples)
    return (centers[labels] + rng.normal(size=(samples, features))).astype("float32"), labels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    keras.utils.set_random_seed(2)
    x, y = make_blobs(900)

    model = keras.Sequential([
        keras.Input(shape=(10,)),
        layers.Dense(32, activation="relu", name="hidden_1"),
        layers.Dense(16, activation="relu", name="hidden_2"),
        layers.Dense(3, activation="softmax", name="predictions"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    print(f"classifier accuracy {accuracy:.3f}")

    # every intermediate layer's output, or just one of them
    extractor = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in model.layers])
    features = extractor(x[:4])
    print("feature shapes:", [tuple(f.shape) for f in features])
    embedder = keras.Model(inputs=model.input, outputs=model.get_layer(name="hidden_2").output)
    embeddings = embedder.predict(x, verbose=0)
    print(f"embeddings {embeddings.shape}")

    # a new head on the frozen features: transfer learning
    embedder.trainable = False
    inputs = keras.Input(shape=(10,))
    head = layers.Dense(2, activation="softmax")(embedder(inputs, training=False))
    transfer = keras.Model(inputs, head)
    transfer.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    frozen_before = [w.numpy().copy() for w in embedder.weights]
    transfer.fit(x, (y == 0).astype("int64"), epochs=args.epochs, batch_size=32, verbose=0)
    unchanged = all(np.array_equal(a, w.numpy()) for a, w in zip(frozen_before, embedder.weights))
    print(f"transfer accuracy {transfer.evaluate(x, (y == 0).astype('int64'), verbose=0)[1]:.3f}, "
          f"frozen features unchanged {unchanged}")


if __name__ == "__main__":
    main()
