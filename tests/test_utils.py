"""nerve.utils: Keras's utilities (issue 18)."""

import hashlib
import io
import os
import tarfile
import zipfile

import numpy as np
import pytest

import nerve
from nerve import utils


def test_namespace_is_the_tier_module():
    import nerve.tools.utils

    assert nerve.utils is nerve.tools.utils
    assert utils.to_categorical is nerve.data.to_categorical and utils.pad_sequences is nerve.sequence.pad_sequences


@pytest.mark.parametrize("order, axis", [(2, -1), (1, 0), (np.inf, 1)])
def test_normalize_matches_the_formula(order, axis):
    x = np.random.default_rng(0).normal(size=(4, 3))
    x[1] = 0
    norms = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    expected = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    np.testing.assert_allclose(utils.normalize(x, axis=axis, order=order), expected)


def test_set_random_seed_repeats_weights_and_numpy():
    utils.set_random_seed(7)
    a, na = nerve.layers.Dense(3)(np.ones((1, 2))).numpy(), np.random.rand()
    utils.set_random_seed(7)
    b, nb = nerve.layers.Dense(3)(np.ones((1, 2))).numpy(), np.random.rand()
    np.testing.assert_array_equal(a, b)
    assert na == nb
    with pytest.raises(ValueError, match="integer"):
        utils.set_random_seed(1.5)


def test_split_dataset_sizes_structures_and_shuffle():
    x, y = np.arange(20).reshape(10, 2), np.arange(10)
    (xl, yl), (xr, yr) = utils.split_dataset((x, y), right_size=3)
    assert xl.shape == (7, 2) and yr.tolist() == [7, 8, 9]
    left, right = utils.split_dataset({"a": x, "b": y}, left_size=0.5, shuffle=True, seed=0)
    assert sorted(left["b"].tolist() + right["b"].tolist()) == list(range(10))
    np.testing.assert_array_equal(left["a"][:, 0] // 2, left["b"])  # the same permutation for every array
    assert len(utils.split_dataset(y, left_size=2, right_size=3)[1]) == 3
    with pytest.raises(ValueError, match="left_size or right_size"):
        utils.split_dataset(y)
    with pytest.raises(ValueError, match="different numbers"):
        utils.split_dataset((x, y[:5]), left_size=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        utils.split_dataset(y, left_size=1.5)


def _source(tmp_path, name, payload):
    path = tmp_path / "server" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(payload)
    return path.as_uri()


def test_get_file_caches_and_checks_hashes(tmp_path):
    url = _source(tmp_path, "data.bin", b"payload")
    sha, md5 = hashlib.sha256(b"payload").hexdigest(), hashlib.md5(b"payload").hexdigest()
    cache = tmp_path / "cache"
    path = utils.get_file(origin=url, file_hash=sha, cache_dir=cache)
    assert path == os.fspath(cache / "datasets" / "data.bin") and open(path, "rb").read() == b"payload"
    (tmp_path / "server" / "data.bin").write_bytes(b"changed")  # the cache is used, not the server
    assert open(utils.get_file("data.bin", url, md5_hash=md5, cache_dir=cache), "rb").read() == b"payload"
    open(path, "wb").write(b"damaged")  # a cached file that fails its hash is downloaded again
    with pytest.raises(ValueError, match="corrupted download.*expected"):
        utils.get_file(origin=url, file_hash=sha, cache_dir=cache)
    assert not os.path.exists(path + ".part")
    (tmp_path / "server" / "data.bin").write_bytes(b"payload")
    assert open(utils.get_file(origin=url, file_hash=sha, cache_dir=cache), "rb").read() == b"payload"
    with pytest.raises(OSError, match="could not download"):
        utils.get_file(origin=(tmp_path / "missing.bin").as_uri(), cache_dir=cache)
    with pytest.raises(ValueError, match="not a path"):
        utils.get_file("a/b.bin", url, cache_dir=cache)


def test_get_file_extracts_archives_and_refuses_escapes(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner/a.txt", "A")
    folder = utils.get_file("set.zip", _source(tmp_path, "set.zip", buffer.getvalue()), extract=True,
                            cache_dir=tmp_path / "c")
    assert folder.endswith("set_extracted") and open(os.path.join(folder, "inner", "a.txt")).read() == "A"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        archive.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="outside the extraction folder"):
        utils.get_file("evil.tar.gz", _source(tmp_path, "evil.tar.gz", buffer.getvalue()), extract=True,
                       cache_dir=tmp_path / "c")
    assert not (tmp_path / "c" / "escape.txt").exists()


def test_progbar_means_and_narrow_terminal_keeps_every_metric(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(nerve.tools.utils, "_terminal_width", lambda stream: 60)
    bar = utils.Progbar(10, verbose=2, stream=out, stateful_metrics=["lr"])
    bar.update(4, [("loss", 1.0), ("accuracy", 0.25), ("lr", 0.1)])
    bar.update(10, [("loss", 2.0), ("accuracy", 0.5), ("lr", 0.01)])
    assert bar.mean("loss") == pytest.approx((4 * 1.0 + 6 * 2.0) / 10) and bar.mean("lr") == 0.01
    text = out.getvalue()
    assert all(len(line) <= 59 for line in text.splitlines())
    for piece in ("loss: 1.6000", "accuracy: 0.4000", "lr: 0.0100"):
        assert piece in text
    wide = io.StringIO()
    monkeypatch.setattr(nerve.tools.utils, "_terminal_width", lambda stream: 200)
    utils.Progbar(10, verbose=2, stream=wide).update(10, [("loss", 1.0)])
    assert "[====================]" in wide.getvalue()


def test_timeseries_windows_match_a_loop_reference():
    data, targets = np.arange(30), np.arange(30) * 10
    batches = utils.timeseries_dataset_from_array(data, targets, sequence_length=4, sequence_stride=3,
                                                  sampling_rate=2, batch_size=2, start_index=1, end_index=20)
    windows = np.concatenate([w for w, _ in batches])
    labels = np.concatenate([t for _, t in batches])
    starts = list(range(1, 20 - 6, 3))
    assert windows.tolist() == [[s + 2 * k for k in range(4)] for s in starts]
    assert labels.tolist() == [10 * s for s in starts]


def test_pack_unpack_and_source_inputs(tmp_path):
    assert utils.unpack_x_y_sample_weight(utils.pack_x_y_sample_weight(1, 2, 3)) == (1, 2, 3)
    assert utils.unpack_x_y_sample_weight(np.ones(2))[1] is None
    a, b = nerve.Input(shape=(2,)), nerve.Input(shape=(2,))
    out = nerve.layers.Dense(1)(nerve.layers.concatenate([a, nerve.ops.relu(b)]))
    assert utils.get_source_inputs(out) == [a, b]
    model = nerve.Model([a, b], out)
    text = open(utils.plot_model(model, to_file=os.fspath(tmp_path / "m.dot"))).read()
    assert "digraph" in text and "concatenate" in text


def test_serialize_and_deserialize_keras_objects_of_every_kind():
    objects = [nerve.layers.Dense(3, activation="relu", name="d"), nerve.losses.Huber(delta=2.0),
               nerve.metrics.Precision(threshold=0.3), nerve.optimizers.Adam(0.01),
               nerve.schedules.CosineDecay(0.1, 10), nerve.initializers.HeNormal(),
               nerve.regularizers.L2(0.1), nerve.constraints.MaxNorm(3.0)]
    for obj in objects:
        config = utils.serialize_keras_object(obj)
        again = utils.deserialize_keras_object(config)
        assert type(again) is type(obj)
        assert again.get_config() == obj.get_config()
    assert utils.deserialize_keras_object("gelu") is nerve.activations.gelu
    model = nerve.Sequential([nerve.Input(shape=(2,)), nerve.layers.Dense(1)])
    assert utils.deserialize_keras_object(utils.serialize_keras_object(model)).count_params() == 3
    with pytest.raises(ValueError, match="no kind of object"):
        utils.deserialize_keras_object({"class_name": "os.system", "config": {}})
    with pytest.raises(TypeError, match="cannot serialize"):
        utils.serialize_keras_object(object())


def test_get_custom_objects_registers_by_name(tmp_path):
    @nerve.layers.register(package="tests")
    class Doubler(nerve.layers.Layer):
        def call(self, x):
            return x * 2

    assert "tests>Doubler" in utils.get_custom_objects()
    model = nerve.Sequential([nerve.Input(shape=(2,)), Doubler()])
    model.save(tmp_path / "m.nerve")
    assert nerve.load_model(tmp_path / "m.nerve")(np.ones((1, 2))).tolist() == [[2.0, 2.0]]
    assert "digraph" in utils.model_to_dot(model)


def test_pydataset_feeds_fit_evaluate_predict_and_gets_epoch_end():
    class Batches(utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size, self.epochs_seen = x, y, batch_size, 0

        def __len__(self):
            return -(-len(self.x) // self.batch_size)

        def __getitem__(self, index):
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return self.x[part], self.y[part]

        def on_epoch_end(self):
            self.epochs_seen += 1

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype("float32")
    y = x @ np.array([[1.0], [2.0], [-1.0]], dtype="float32")
    train, val = Batches(x[:40], y[:40], 8, workers=2), Batches(x[40:], y[40:], 5)
    nerve.random.seed(0)
    model = nerve.Sequential([nerve.Input(shape=(3,)), nerve.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(train, validation_data=val, epochs=3, verbose=0)
    assert train.epochs_seen == 3 and len(history.history["val_loss"]) == 3 and train.num_batches == 5
    assert model.evaluate(val, verbose=0) == pytest.approx(model.evaluate(x[40:], y[40:], verbose=0), rel=1e-6)
    assert utils.Sequence is utils.PyDataset
    with pytest.raises(NotImplementedError, match="__len__"):
        len(utils.PyDataset())
