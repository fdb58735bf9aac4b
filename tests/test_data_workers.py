"""DataLoader(num_workers=N): batches loaded in worker processes, in order, with clean shutdown.

Datasets used with workers are defined at module level; the default start
method on Linux is fork, so the workers inherit them (one test uses spawn with
nerve's own, picklable, datasets).
"""

import glob
import multiprocessing
import os
import signal
import time
from collections import namedtuple

import numpy as np
import pytest

import nerve
from nerve import data, transforms


# ----------------------------------------------------------------- helpers
def _segments():
    """This process's DataLoader shared-memory segments that still exist."""
    return glob.glob(f"/dev/shm/nerve_dl_{os.getpid()}_*")


def _assert_clean():
    deadline = time.monotonic() + 5.0
    while (multiprocessing.active_children() or _segments()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert multiprocessing.active_children() == []
    if os.path.isdir("/dev/shm"):
        assert _segments() == []


@pytest.fixture(autouse=True)
def clean_afterwards():
    yield
    _assert_clean()


def _assert_same_batches(expected, actual):
    assert len(expected) == len(actual)
    for e, a in zip(expected, actual):
        assert type(e) is type(a)
        if isinstance(e, dict):
            assert list(e) == list(a)
            e, a = list(e.values()), list(a.values())
        elif not isinstance(e, (tuple, list)):
            e, a = [e], [a]
        for ea, aa in zip(e, a):
            assert ea.dtype == aa.dtype and ea.shape == aa.shape
            np.testing.assert_array_equal(ea, aa)


def _xy(n=37):
    x = np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3)
    return x, np.arange(n, dtype=np.int64)


class TupleSamples(data.Dataset):
    """Only __getitem__: samples are fetched one by one and collated (in the workers)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class DictSamples(TupleSamples):
    def __getitem__(self, i):
        return {"image": self.x[i], "label": self.y[i], "weight": np.float64(i) / 10}


class Failing(TupleSamples):
    def __getitem__(self, i):
        if i == 7:
            raise KeyError("sample 7 is corrupt")
        return super().__getitem__(i)


class OddError(Exception):
    def __init__(self, code, where):  # not constructible from a message alone
        super().__init__(code, where)


class FailingOddly(TupleSamples):
    def __getitem__(self, i):
        if i == 4:
            raise OddError(42, "disk")
        return super().__getitem__(i)


class Slow(TupleSamples):
    def __getitem__(self, i):
        time.sleep(0.002)
        return super().__getitem__(i)


class Dying(TupleSamples):
    def __getitem__(self, i):
        if i == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


class Stuck(TupleSamples):
    def __getitem__(self, i):
        time.sleep(30)
        return super().__getitem__(i)


DATASETS = {
    "get_batch": lambda: data.TensorDataset(*_xy()),
    "getitem_tuple": lambda: TupleSamples(*_xy()),
    "getitem_dict": lambda: DictSamples(*_xy()),
}


# ----------------------------------------------------------------- same batches as num_workers=0
@pytest.mark.parametrize("kind", sorted(DATASETS))
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
def test_workers_give_the_batches_of_num_workers_0(kind, shuffle, drop_last):
    dataset = DATASETS[kind]()
    plain = data.DataLoader(dataset, batch_size=5, shuffle=shuffle, drop_last=drop_last, seed=3)
    workers = data.DataLoader(dataset, batch_size=5, shuffle=shuffle, drop_last=drop_last, seed=3, num_workers=2)
    for _ in range(2):  # the second epoch's order too
        _assert_same_batches(list(plain), list(workers))
    assert len(workers) == (7 if drop_last else 8)


def test_order_from_nerve_random_matches_over_epochs():
    dataset = data.TensorDataset(*_xy())
    epochs = {}
    for num_workers in (0, 2):
        nerve.random.seed(7)
        loader = data.DataLoader(dataset, batch_size=4, shuffle=True, num_workers=num_workers)
        epochs[num_workers] = [list(loader) for _ in range(3)]
        epochs[num_workers].append(nerve.random.generator().integers(1 << 30))  # generator left in the same state
    for a, b in zip(epochs[0][:3], epochs[2][:3]):
        _assert_same_batches(a, b)
    assert epochs[0][3] == epochs[2][3]


@pytest.mark.parametrize("prefetch", [1, 5])
def test_prefetch_sets_batches_in_flight_without_changing_them(prefetch):
    dataset = TupleSamples(*_xy())
    plain = list(data.DataLoader(dataset, batch_size=3, shuffle=True, seed=1))
    ahead = list(data.DataLoader(dataset, batch_size=3, shuffle=True, seed=1, num_workers=3, prefetch=prefetch))
    _assert_same_batches(plain, ahead)


Pair = namedtuple("Pair", "x meta")


def _mixed_collate(samples):
    x = np.stack([s[0] for s in samples])
    return Pair(x, {"names": [f"s{int(s[1])}" for s in samples], "empty": np.zeros((0, 3)), "n": len(samples)})


def test_any_batch_structure_comes_back():
    dataset = TupleSamples(*_xy(10))
    plain = list(data.DataLoader(dataset, batch_size=4, collate_fn=_mixed_collate))
    batches = list(data.DataLoader(dataset, batch_size=4, collate_fn=_mixed_collate, num_workers=2))
    assert [type(b) for b in batches] == [Pair] * 3
    for p, b in zip(plain, batches):
        np.testing.assert_array_equal(p.x, b.x)
        assert b.x.flags.owndata and b.x.flags.writeable
        assert p.meta["names"] == b.meta["names"] and p.meta["n"] == b.meta["n"]
        assert b.meta["empty"].shape == (0, 3)


def _growing_collate(samples):
    """Batches that get wider (more bytes) as the sample indices grow, like padded sequences."""
    labels = np.array([int(s[1]) for s in samples])
    return np.repeat(labels[:, None], 3 * labels.max() + 1, axis=1).astype(np.float32), labels


def test_batches_larger_than_the_first_get_larger_segments():
    dataset = TupleSamples(*_xy(60))
    plain = list(data.DataLoader(dataset, batch_size=4, collate_fn=_growing_collate))
    workers = list(data.DataLoader(dataset, batch_size=4, collate_fn=_growing_collate, num_workers=2, prefetch=2))
    _assert_same_batches(plain, workers)
    assert workers[-1][0].shape == (4, 178)


def test_fewer_batches_than_workers_and_empty_dataset():
    dataset = data.TensorDataset(*_xy(3))
    assert [b[1].tolist() for b in data.DataLoader(dataset, batch_size=2, num_workers=4)] == [[0, 1], [2]]
    empty = data.TensorDataset(np.zeros((0, 2)))
    assert list(data.DataLoader(empty, batch_size=2, num_workers=2)) == []


@pytest.mark.skipif("spawn" not in multiprocessing.get_all_start_methods(), reason="no spawn start method")
def test_spawn_start_method_with_picklable_dataset():
    images = np.random.default_rng(0).uniform(size=(40, 6, 6, 1)).astype(np.float32)
    dataset = transforms.TransformedDataset(data.TensorDataset(images, np.arange(40)), transforms.RandomFlip())
    runs = []
    for context in ("spawn", None):
        nerve.random.seed(2)
        runs.append(list(data.DataLoader(dataset, batch_size=8, shuffle=True, num_workers=1,
                                         multiprocessing_context=context)))
    _assert_same_batches(*runs)


def test_fit_with_a_worker_loader():
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    y = (x.sum(axis=1, keepdims=True) > 0).astype(np.float32)
    model = nerve.Sequential([nerve.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    loader = data.DataLoader(data.TensorDataset(x, y), batch_size=16, shuffle=True, num_workers=2)
    history = model.fit(loader, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


# ----------------------------------------------------------------- random augmentation in workers
def _augmented():
    images = np.random.default_rng(0).uniform(size=(48, 12, 12, 1)).astype(np.float32)
    augment = transforms.Compose([transforms.RandomRotation(0.1), transforms.RandomFlip("horizontal")])
    return images, transforms.TransformedDataset(data.TensorDataset(images, np.arange(48)), augment)


def _augmented_epochs(dataset, num_workers, shuffle=True, epochs=2):
    nerve.random.seed(0)
    loader = data.DataLoader(dataset, batch_size=8, shuffle=shuffle, num_workers=num_workers)
    return [list(loader) for _ in range(epochs)]


def test_augmentation_in_workers_is_reproducible_and_independent_of_num_workers():
    images, dataset = _augmented()
    two = _augmented_epochs(dataset, 2)
    again = _augmented_epochs(dataset, 2)
    one = _augmented_epochs(dataset, 1)
    for epoch in range(2):
        _assert_same_batches(two[epoch], again[epoch])
        _assert_same_batches(two[epoch], one[epoch])
    x, labels = two[0][0]
    assert not np.allclose(x, images[labels])  # the transform did run in the workers
    # the order is still that of num_workers=0
    in_process = _augmented_epochs(dataset, 0)
    assert [b[1].tolist() for b in in_process[0]] == [b[1].tolist() for b in two[0]]


def test_augmentation_differs_between_epochs_and_batches_without_shuffle():
    _, dataset = _augmented()
    first, second = _augmented_epochs(dataset, 2, shuffle=False)
    assert [b[1].tolist() for b in first] == [b[1].tolist() for b in second]
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, second))


# ----------------------------------------------------------------- clean shutdown
def _slow_loader():
    return data.DataLoader(Slow(*_xy(200)), batch_size=4, num_workers=2, prefetch=6)


def test_break_stops_workers_and_frees_unread_segments():
    for batch in _slow_loader():
        assert len(multiprocessing.active_children()) == 2
        deadline = time.monotonic() + 5.0
        while not _segments() and time.monotonic() < deadline:  # batches loaded ahead, not yet read
            time.sleep(0.01)
        assert _segments()
        break
    del batch
    _assert_clean()


def test_exception_in_the_consumer_stops_workers():
    with pytest.raises(ZeroDivisionError):
        for i, batch in enumerate(_slow_loader()):
            if i == 2:
                time.sleep(0.05)
                raise ZeroDivisionError
    _assert_clean()


def test_garbage_collected_iterator_stops_workers():
    iterator = iter(_slow_loader())
    assert multiprocessing.active_children() == []  # nothing starts before the first batch is asked for
    next(iterator)
    assert len(multiprocessing.active_children()) == 2
    del iterator
    _assert_clean()


def test_worker_exception_is_raised_in_the_main_process_with_its_traceback():
    loader = data.DataLoader(Failing(*_xy(20)), batch_size=3, num_workers=2)
    seen = []
    with pytest.raises(KeyError, match="sample 7 is corrupt") as info:
        for batch in loader:
            seen.append(batch[1].tolist())
    assert seen == [[0, 1, 2], [3, 4, 5]]  # the batches before the failing one, in order
    message = str(info.value)
    assert "DataLoader worker" in message and "batch 2" in message and "[6, 7, 8]" in message
    assert "Traceback (most recent call last)" in message and "in __getitem__" in message
    _assert_clean()


def test_worker_exception_that_cannot_be_rebuilt_becomes_runtime_error():
    with pytest.raises(RuntimeError, match=r"OddError: \(42, 'disk'\)[\s\S]*Traceback"):
        list(data.DataLoader(FailingOddly(*_xy(10)), batch_size=2, num_workers=2))


def test_dead_worker_raises_instead_of_hanging():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="DataLoader worker .* exited unexpectedly killed by SIGKILL"):
        list(data.DataLoader(Dying(*_xy(20)), batch_size=2, num_workers=2))
    assert time.monotonic() - start < 10


def test_timeout_raises_for_a_stuck_worker():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match="timeout=0.2"):
        next(iter(data.DataLoader(Stuck(*_xy(8)), batch_size=2, num_workers=1, timeout=0.2)))
    assert time.monotonic() - start < 5


# ----------------------------------------------------------------- arguments
@pytest.mark.parametrize("value", [-1, 1.5, "2", True, None])
def test_bad_num_workers_raises(value):
    with pytest.raises(ValueError, match=r"num_workers .*got " + repr(value).replace(".", r"\.")):
        data.DataLoader(data.TensorDataset(np.arange(3)), num_workers=value)


def test_bad_timeout_and_context_raise():
    dataset = data.TensorDataset(np.arange(3))
    with pytest.raises(ValueError, match="timeout .*got 0"):
        data.DataLoader(dataset, num_workers=1, timeout=0)
    with pytest.raises(ValueError, match="multiprocessing_context .*got 'threads'"):
        data.DataLoader(dataset, num_workers=1, multiprocessing_context="threads")
    assert data.DataLoader(dataset, num_workers=np.int64(2)).num_workers == 2


@pytest.mark.skipif("spawn" not in multiprocessing.get_all_start_methods(), reason="no spawn start method")
def test_spawn_with_an_unpicklable_collate_fn_says_so():
    loader = data.DataLoader(data.TensorDataset(np.arange(4)), batch_size=2, collate_fn=lambda samples: samples,
                             num_workers=1, multiprocessing_context="spawn")
    with pytest.raises(RuntimeError, match="'spawn' start method, which pickles the dataset and collate_fn"):
        next(iter(loader))
