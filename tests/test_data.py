"""Tests for nerve.data: loaders, splits, scalers, one-hot encoding and input validation."""

import threading
import time

import numpy as np
import pytest

import nerve
import nerve.random
from nerve import data


# ----------------------------------------------------------------- datasets and loaders
class ListDataset(data.Dataset):
    """A dataset without get_batch: samples are fetched one by one and collated."""

    def __init__(self, x, y):
        self.x, self.y = x, y
        self.fetched = 0

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        self.fetched += 1
        return self.x[i], self.y[i]


class CountingTensorDataset(data.TensorDataset):
    """Records whether batches come from get_batch (fast path) or per-sample __getitem__."""

    def __init__(self, *arrays):
        super().__init__(*arrays)
        self.per_sample = 0
        self.batches = 0

    def __getitem__(self, index):
        self.per_sample += 1
        return super().__getitem__(index)

    def get_batch(self, indices):
        self.batches += 1
        return super().get_batch(indices)


def _xy(n=10):
    return np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n)


def test_tensor_dataset_items_and_length_check():
    x, y = _xy(4)
    ds = data.TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    assert xi.tolist() == [4.0, 5.0] and yi == 2
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(3,\)"):
        data.TensorDataset(x, y[:3])
    with pytest.raises(ValueError, match="at least one"):
        data.TensorDataset()
    tensors = data.TensorDataset(nerve.tensor([[1.0], [2.0]]))
    assert isinstance(tensors[0][0], np.ndarray)


@pytest.mark.parametrize("n, batch_size, drop_last, expected", [
    (10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (9, 3, True, 3), (2, 5, False, 1), (2, 5, True, 0),
])
def test_len_is_number_of_batches(n, batch_size, drop_last, expected):
    loader = data.DataLoader(data.TensorDataset(*_xy(n)), batch_size=batch_size, drop_last=drop_last)
    assert len(loader) == expected
    batches = list(loader)
    assert len(batches) == expected
    assert all(len(b[0]) == batch_size for b in batches[: n // batch_size])


def test_unshuffled_batches_in_order_with_shapes():
    x, y = _xy(5)
    batches = list(data.DataLoader(data.TensorDataset(x, y), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0][0].shape == (2, 2) and batches[0][0].dtype == np.float32
    assert batches[2][0].tolist() == [[8.0, 9.0]]


def test_fast_path_for_tensor_dataset_matches_per_sample_collate():
    x, y = _xy(10)
    fast_ds, slow_ds = CountingTensorDataset(x, y), ListDataset(x, y)
    fast = list(data.DataLoader(fast_ds, batch_size=4, shuffle=True, seed=3))
    slow = list(data.DataLoader(slow_ds, batch_size=4, shuffle=True, seed=3))
    assert fast_ds.per_sample == 0 and fast_ds.batches == 3  # one indexing operation per batch
    assert slow_ds.fetched == 10
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx, sx)
        np.testing.assert_array_equal(fy, sy)
        assert fx.dtype == sx.dtype
    # a custom collate_fn disables the fast path
    custom = list(data.DataLoader(fast_ds, batch_size=5, collate_fn=lambda samples: len(samples)))
    assert custom == [5, 5] and fast_ds.per_sample == 10


def test_default_collate_structures():
    samples = [{"image": np.zeros((2, 2)), "label": 1}, {"image": np.ones((2, 2)), "label": 0}]
    batch = data.default_collate(samples)
    assert batch["image"].shape == (2, 2, 2) and batch["label"].tolist() == [1, 0]
    nested = data.default_collate([((np.zeros(3), np.ones(1)), 2.0), ((np.ones(3), np.zeros(1)), 3.0)])
    assert nested[0][0].shape == (2, 3) and nested[0][1].shape == (2, 1) and nested[1].tolist() == [2.0, 3.0]
    assert data.default_collate([nerve.tensor([1.0]), nerve.tensor([2.0])]).shape == (2, 1)


def test_shuffle_covers_everything_new_order_each_epoch_and_seeded():
    ds = data.TensorDataset(np.arange(50))
    loader = data.DataLoader(ds, batch_size=8, shuffle=True, seed=0)
    epoch1 = np.concatenate([b[0] for b in loader])
    epoch2 = np.concatenate([b[0] for b in loader])
    assert sorted(epoch1.tolist()) == list(range(50)) and sorted(epoch2.tolist()) == list(range(50))
    assert epoch1.tolist() != epoch2.tolist()
    again = data.DataLoader(ds, batch_size=8, shuffle=True, seed=0)
    assert np.concatenate([b[0] for b in again]).tolist() == epoch1.tolist()


def test_shuffle_without_seed_follows_nerve_random_seed():
    ds = data.TensorDataset(np.arange(30))
    loader = data.DataLoader(ds, batch_size=7, shuffle=True)
    nerve.random.seed(11)
    first = np.concatenate([b[0] for b in loader])
    nerve.random.seed(11)
    second = np.concatenate([b[0] for b in loader])
    assert first.tolist() == second.tolist()
    assert first.tolist() != list(range(30))


def test_invalid_loader_arguments():
    ds = data.TensorDataset(np.arange(3))
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="prefetch"):
        data.DataLoader(ds, prefetch=-1)


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "nerve-DataLoader-prefetch"]


def _wait_for_no_prefetch_threads():
    deadline = time.monotonic() + 5.0
    while _prefetch_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return _prefetch_threads()


def test_prefetch_gives_same_batches():
    x, y = _xy(23)
    plain = list(data.DataLoader(ListDataset(x, y), batch_size=4, shuffle=True, seed=5))
    ahead = list(data.DataLoader(ListDataset(x, y), batch_size=4, shuffle=True, seed=5, prefetch=2))
    assert len(plain) == len(ahead) == 6
    for (px, py), (ax, ay) in zip(plain, ahead):
        np.testing.assert_array_equal(px, ax)
        np.testing.assert_array_equal(py, ay)
    assert _wait_for_no_prefetch_threads() == []


class FailingDataset(ListDataset):
    def __getitem__(self, i):
        if i == 7:
            raise KeyError("sample 7 is corrupt")
        return super().__getitem__(i)


def test_prefetch_reraises_worker_errors_in_consumer():
    loader = data.DataLoader(FailingDataset(*_xy(12)), batch_size=3, prefetch=2)
    seen = []
    with pytest.raises(KeyError, match="sample 7 is corrupt"):
        for batch in loader:
            seen.append(batch[1].tolist())
    assert seen == [[0, 1, 2], [3, 4, 5]]
    assert _wait_for_no_prefetch_threads() == []


def test_prefetch_thread_stops_when_iteration_is_abandoned():
    x, y = _xy(200)
    loader = data.DataLoader(ListDataset(x, y), batch_size=2, prefetch=1)
    iterator = iter(loader)
    next(iterator)
    assert len(_prefetch_threads()) == 1  # the worker is blocked on a full queue
    del iterator
    assert _wait_for_no_prefetch_threads() == []
    for batch in loader:  # a `break` in a for loop also stops it
        break
    del batch
    assert _wait_for_no_prefetch_threads() == []


# ----------------------------------------------------------------- splitting
def test_train_test_split_sizes_order_and_disjoint():
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50)
    x_train, x_test, y_train, y_test = data.train_test_split(x, y, test_size=0.2, seed=0)
    assert x_train.shape == (40, 2) and x_test.shape == (10, 2) and y_train.shape == (40,)
    np.testing.assert_array_equal(x_train[:, 0] // 2, y_train)  # rows stay paired
    np.testing.assert_array_equal(x_test[:, 0] // 2, y_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(50))
    assert len(data.train_test_split(y, test_size=7, seed=0)[1]) == 7
    assert len(data.train_test_split(y, test_size=0.25, seed=0)[1]) == 13  # rounded up, as scikit-learn


def test_train_test_split_seeded_and_unshuffled():
    y = np.arange(40)
    a = data.train_test_split(y, seed=1)
    b = data.train_test_split(y, seed=1)
    c = data.train_test_split(y, seed=2)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].tolist() != c[1].tolist()
    train, test = data.train_test_split(y, test_size=0.25, shuffle=False)
    assert train.tolist() == list(range(30)) and test.tolist() == list(range(30, 40))


def test_stratified_split_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [60, 30, 10])
    x = np.arange(100)
    x_train, x_test, y_train, y_test = data.train_test_split(x, y, test_size=0.2, stratify=y, seed=4)
    assert np.bincount(y_test).tolist() == [12, 6, 2]
    assert np.bincount(y_train).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(y[x_test], y_test)
    # one-hot labels stratify the same way
    onehot = np.eye(3)[y]
    *_, y_test_onehot = data.train_test_split(x, onehot, test_size=0.2, stratify=onehot, seed=4)
    assert y_test_onehot.sum(axis=0).tolist() == [12, 6, 2]
    with pytest.raises(ValueError, match="shuffle"):
        data.train_test_split(x, y, stratify=y, shuffle=False)


def test_split_errors():
    with pytest.raises(ValueError, match=r"lengths \[5, 4\]"):
        data.train_test_split(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="test_size"):
        data.train_test_split(np.zeros(5), test_size=1.5)
    with pytest.raises(ValueError, match="test_size"):
        data.train_test_split(np.zeros(5), test_size=5)
    with pytest.raises(ValueError, match="no training data"):
        data.train_dev_test_split(np.zeros(10), dev_size=5, test_size=5)


def test_train_dev_test_split():
    y = np.repeat(np.arange(4), 50)
    x = np.arange(200) * 10
    (x_train, y_train), (x_dev, y_dev), (x_test, y_test) = data.train_dev_test_split(
        x, y, dev_size=0.1, test_size=0.2, stratify=y, seed=0)
    assert (len(x_train), len(x_dev), len(x_test)) == (140, 20, 40)
    assert np.bincount(y_dev).tolist() == [5] * 4 and np.bincount(y_test).tolist() == [10] * 4
    assert sorted(np.concatenate([x_train, x_dev, x_test]).tolist()) == x.tolist()
    np.testing.assert_array_equal(y[x_dev // 10], y_dev)
    again = data.train_dev_test_split(x, y, dev_size=0.1, test_size=0.2, stratify=y, seed=0)
    np.testing.assert_array_equal(again[1][0], x_dev)
    (train,), (dev,), (test,) = data.train_dev_test_split(x, seed=1)
    assert (len(train), len(dev), len(test)) == (160, 20, 20)


# ----------------------------------------------------------------- scalers
def test_standard_scaler_against_formula_and_constant_feature():
    r = np.random.default_rng(0)
    x_train = np.column_stack([r.normal(5, 3, 100), np.full(100, 7.0)]).astype(np.float32)
    x_test = r.normal(5, 3, (10, 2)).astype(np.float32)
    scaler = data.StandardScaler().fit(x_train)
    z = scaler.transform(x_train)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:, 0], (x_train[:, 0] - x_train[:, 0].mean()) / x_train[:, 0].std(), atol=1e-5)
    np.testing.assert_allclose(z[:, 1], 0.0)  # constant feature: no division by zero
    assert np.isfinite(z).all()
    # the test split uses the training statistics, not its own
    np.testing.assert_allclose(scaler.transform(x_test)[:, 0],
                               (x_test[:, 0] - x_train[:, 0].mean()) / x_train[:, 0].std(), atol=1e-5)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(x_test)), x_test, atol=1e-5)
    np.testing.assert_allclose(data.StandardScaler().fit_transform(x_train), z)
    assert data.StandardScaler().fit_transform(np.array([[1.0], [3.0]], dtype=np.float64)).dtype == np.float64


def test_min_max_scaler_against_formula():
    x = np.array([[0.0, 10.0, 3.0], [5.0, 20.0, 3.0], [10.0, 30.0, 3.0]])
    scaler = data.MinMaxScaler().fit(x)
    np.testing.assert_allclose(scaler.transform(x), [[0, 0, 0], [0.5, 0.5, 0], [1, 1, 0]])
    wide = data.MinMaxScaler(feature_range=(-1, 1)).fit(x)
    np.testing.assert_allclose(wide.transform(np.array([[20.0, 10.0, 3.0]])), [[3.0, -1.0, -1.0]])
    np.testing.assert_allclose(wide.inverse_transform(wide.transform(x)), x)
    with pytest.raises(ValueError, match="low < high"):
        data.MinMaxScaler(feature_range=(1, 0))


@pytest.mark.parametrize("make", [data.StandardScaler, data.MinMaxScaler])
def test_scaler_errors_and_state_round_trip(make):
    import json

    with pytest.raises(RuntimeError, match="not fitted.*fit\\(x_train\\)"):
        make().transform(np.zeros((2, 3)))
    x = np.random.default_rng(1).normal(size=(20, 2, 3))  # per-feature over axis 0, any feature shape
    scaler = make().fit(x)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        scaler.transform(np.zeros((4, 5)))
    state = json.loads(json.dumps(scaler.get_state()))  # plain lists, JSON-ready
    restored = make(**scaler.get_config()).set_state(state)
    np.testing.assert_allclose(restored.transform(x), scaler.transform(x))


# ----------------------------------------------------------------- labels and validation
def test_to_categorical():
    out = data.to_categorical(np.array([2, 0, 1]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3)[[2, 0, 1]])
    assert data.to_categorical(np.array([[1], [0]]), num_classes=4).shape == (2, 4)
    assert data.to_categorical(np.array([[1, 2], [0, 0]])).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"\[0, 3\).*max 5"):
        data.to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError, match="whole-number"):
        data.to_categorical([0.5, 1.0])


def test_validate_arrays_accepts_good_input():
    assert data.validate_arrays(np.zeros((5, 2)), np.array([0, 1, 2, 0, 1]), num_classes=3) == 5
    assert data.validate_arrays([np.zeros((3, 2)), np.ones((3, 4))], {"a": np.zeros(3), "b": np.ones((3, 1))}) == 3
    assert data.validate_arrays(np.zeros((2, 2)), np.eye(3)[[0, 2]], num_classes=3) == 2  # one-hot labels
    assert data.validate_arrays(np.zeros((2, 2)), None) == 2
    assert data.validate_arrays(nerve.tensor([[1.0], [2.0]]), nerve.tensor([1.0, 0.0])) == 2


def test_validate_arrays_messages():
    with pytest.raises(ValueError, match="fit: x has 4 samples but y has 3"):
        data.validate_arrays(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"evaluate: x\[0\] has 4 samples but x\[1\] has 5"):
        data.validate_arrays([np.zeros((4, 2)), np.zeros((5, 2))], np.zeros(4), name="evaluate")
    x = np.zeros((4, 3))
    x[1, 2], x[3, 0], x[2, 2] = np.nan, np.nan, np.inf
    with pytest.raises(ValueError, match=r"x contains 2 NaN and 1 inf values \(first at index \(1, 2\)\)"):
        data.validate_arrays(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"x\['image'\] contains 1 NaN"):
        data.validate_arrays({"image": np.array([[np.nan]])}, np.zeros(1))
    with pytest.raises(ValueError, match=r"\[0, 3\) for 3 classes, got min -1 and max 4"):
        data.validate_arrays(np.zeros((3, 1)), np.array([-1, 0, 4]), num_classes=3)
    with pytest.raises(ValueError, match="empty"):
        data.validate_arrays(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="one-hot with 4 columns"):
        data.validate_arrays(np.zeros((2, 1)), np.eye(4)[[0, 1]], num_classes=3)
    with pytest.raises(ValueError, match="whole numbers"):
        data.validate_arrays(np.zeros((2, 1)), np.array([0.5, 1.0]), num_classes=3)
