"""MNIST / Fashion-MNIST / CIFAR-10 loaders, on small files in the real formats written by the tests (no internet)."""

import gzip
import hashlib
import io
import re
import struct
import tarfile
import urllib.error

import numpy
import pytest

from nerve.training.datasets import images as image_datasets
from nerve.training.datasets.images import DatasetError, load_cifar10, load_fashion_mnist, load_mnist


def _idx_bytes(array):
    """The IDX encoding of a uint8 array: 0 0 0x08 rank, big-endian sizes, raw bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(numpy.uint8).tobytes()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def offline(monkeypatch):
    """No network: every download attempt fails like urllib does offline; the attempted URLs are recorded."""
    attempts = []

    def fail(url, destination):
        attempts.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(image_datasets, "_download", fail)
    return attempts


def _write_idx_dataset(folder, rng, n_train=5, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, size=n_train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, size=n_test),
    }
    checksums = {}
    for name, array in arrays.items():
        data = gzip.compress(_idx_bytes(array))
        (folder / name).write_bytes(data)
        checksums[name] = _sha(data)
    return arrays, checksums


@pytest.mark.parametrize("dataset, loader", [("mnist", load_mnist), ("fashion-mnist", load_fashion_mnist)])
def test_idx_loaders_read_gzip_idx_files(dataset, loader, tmp_path, rng, monkeypatch, offline):
    arrays, checksums = _write_idx_dataset(tmp_path / dataset, rng)
    monkeypatch.setitem(image_datasets.CHECKSUMS, dataset, checksums)
    (x_train, y_train), (x_test, y_test) = loader(data_dir=tmp_path)
    assert x_train.dtype == numpy.uint8 and y_train.dtype == numpy.uint8
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28) and y_test.shape == (3,)
    numpy.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    numpy.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    numpy.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte.gz"])
    numpy.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert offline == []  # everything was in the cache: no download attempted
    x_train[0, 0, 0] = 1  # the arrays are the caller's to modify


def test_the_environment_variable_sets_the_cache_directory(tmp_path, rng, monkeypatch, offline):
    arrays, checksums = _write_idx_dataset(tmp_path / "env" / "mnist", rng)
    monkeypatch.setitem(image_datasets.CHECKSUMS, "mnist", checksums)
    monkeypatch.setenv("NERVE_DATA_DIR", str(tmp_path / "env"))
    (x_train, _), _ = load_mnist()
    numpy.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    monkeypatch.delenv("NERVE_DATA_DIR")
    assert str(image_datasets.data_home()).endswith("nerve/datasets")


def test_offline_error_names_the_files_and_where_to_put_them(tmp_path, offline):
    with pytest.raises(DatasetError) as error:
        load_mnist(data_dir=tmp_path)
    message = str(error.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert f"{tmp_path / 'mnist'}/" in message
    assert "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz" in message
    assert "Temporary failure in name resolution" in message
    assert len(offline) == len(image_datasets.SOURCES["mnist"])  # every mirror was tried
    assert not list((tmp_path / "mnist").glob("*.part"))


def test_download_false_does_not_touch_the_network(tmp_path, offline):
    with pytest.raises(DatasetError, match=r"cifar-10-binary.tar.gz is missing and download=False"):
        load_cifar10(data_dir=tmp_path, download=False)
    assert offline == []


def test_checksum_mismatch_in_the_cache_is_reported(tmp_path, rng, monkeypatch, offline):
    _, checksums = _write_idx_dataset(tmp_path / "mnist", rng)
    checksums["t10k-images-idx3-ubyte.gz"] = "0" * 64
    monkeypatch.setitem(image_datasets.CHECKSUMS, "mnist", checksums)
    with pytest.raises(DatasetError) as error:
        load_mnist(data_dir=tmp_path)
    message = str(error.value)
    assert "checksum mismatch" in message and "t10k-images-idx3-ubyte.gz" in message
    assert "expected SHA-256 " + "0" * 64 in message
    assert re.search(r"got [0-9a-f]{64}", message)


def test_download_keeps_only_verified_files_and_tries_the_mirrors(tmp_path, rng, monkeypatch):
    source = tmp_path / "server"
    arrays, checksums = _write_idx_dataset(source, rng)
    monkeypatch.setitem(image_datasets.CHECKSUMS, "mnist", checksums)
    calls = []

    def fake_download(url, destination):
        calls.append(url)
        if url.startswith(image_datasets.SOURCES["mnist"][0]):
            raise urllib.error.HTTPError(url, 403, "Forbidden", None, None)
        destination.write_bytes((source / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(image_datasets, "_download", fake_download)
    (x_train, _), _ = load_mnist(data_dir=tmp_path / "cache")
    numpy.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    assert len(calls) == 8  # the first mirror failed for each of the 4 files, the second served them
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(checksums)


def test_a_download_with_the_wrong_checksum_is_discarded(tmp_path, monkeypatch):
    monkeypatch.setattr(image_datasets, "_download", lambda url, destination: destination.write_bytes(b"<html>"))
    with pytest.raises(DatasetError) as error:
        load_fashion_mnist(data_dir=tmp_path)
    assert f"its SHA-256 is {_sha(b'<html>')}" in str(error.value)
    assert list((tmp_path / "fashion-mnist").iterdir()) == []


def test_a_corrupt_idx_file_gives_a_clear_error(tmp_path, rng, monkeypatch, offline):
    _, checksums = _write_idx_dataset(tmp_path / "mnist", rng)
    truncated = gzip.compress(_idx_bytes(numpy.zeros((4, 28, 28)))[:-10])
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(truncated)
    checksums["train-images-idx3-ubyte.gz"] = _sha(truncated)
    monkeypatch.setitem(image_datasets.CHECKSUMS, "mnist", checksums)
    with pytest.raises(DatasetError, match=r"announces shape \(4, 28, 28\) \(3136 bytes of data\).*3126 bytes"):
        load_mnist(data_dir=tmp_path)


# ------------------------------------------------------------------ CIFAR-10
def _cifar_batch(rng, n):
    labels = rng.integers(0, 10, size=n).astype(numpy.uint8)
    images = rng.integers(0, 256, size=(n, 32, 32, 3)).astype(numpy.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(n, 3072)  # R plane, G plane, B plane, row by row
    records = numpy.concatenate([labels[:, None], planes], axis=1)
    return images, labels, records.tobytes()


def _cifar_files(rng):
    files, train, test = {}, [], None
    for i in range(1, 6):
        images, labels, data = _cifar_batch(rng, 2)
        files[f"data_batch_{i}.bin"] = data
        train.append((images, labels))
    images, labels, data = _cifar_batch(rng, 3)
    files["test_batch.bin"] = data
    test = (images, labels)
    files["batches.meta.txt"] = b"airplane\nautomobile\n"
    return files, train, test


def _check_cifar(loaded, train, test):
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == numpy.uint8 and y_train.shape == (10,)
    numpy.testing.assert_array_equal(x_train, numpy.concatenate([t[0] for t in train]))
    numpy.testing.assert_array_equal(y_train, numpy.concatenate([t[1] for t in train]))
    numpy.testing.assert_array_equal(x_test, test[0])
    numpy.testing.assert_array_equal(y_test, test[1])


def test_cifar10_reads_binary_records_from_the_archive(tmp_path, rng, monkeypatch, offline):
    files, train, test = _cifar_files(rng)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    folder = tmp_path / "cifar-10"
    folder.mkdir()
    (folder / "cifar-10-binary.tar.gz").write_bytes(buffer.getvalue())
    monkeypatch.setitem(image_datasets.CHECKSUMS, "cifar-10", {"cifar-10-binary.tar.gz": _sha(buffer.getvalue())})
    _check_cifar(load_cifar10(data_dir=tmp_path), train, test)
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-binary.tar.gz"]  # nothing extracted


def test_cifar10_pixel_layout_is_red_green_blue_planes():
    record = numpy.zeros(3073, dtype=numpy.uint8)
    record[0] = 7
    record[1 + 0 * 1024 + 1 * 32 + 2] = 10  # red plane, row 1, column 2
    record[1 + 2 * 1024 + 31 * 32 + 0] = 30  # blue plane, row 31, column 0
    images, labels = image_datasets._cifar_records(record.tobytes(), "test")
    assert labels.tolist() == [7] and images[0, 1, 2, 0] == 10 and images[0, 31, 0, 2] == 30
    assert int(images.sum()) == 40


def test_cifar10_uses_extracted_binary_files(tmp_path, rng, offline):
    files, train, test = _cifar_files(rng)
    folder = tmp_path / "cifar-10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    _check_cifar(load_cifar10(data_dir=tmp_path), train, test)
    (folder / "test_batch.bin").write_bytes(files["test_batch.bin"][:-1])
    with pytest.raises(DatasetError, match="not a whole number of CIFAR-10 records of 3073 bytes"):
        load_cifar10(data_dir=tmp_path)


def test_cifar10_offline_error(tmp_path, offline):
    with pytest.raises(DatasetError) as error:
        load_cifar10(data_dir=tmp_path)
    message = str(error.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in message
    assert f"{tmp_path / 'cifar-10'}/" in message


def test_checksum_table_is_complete_and_well_formed():
    for dataset, table in image_datasets.CHECKSUMS.items():
        assert dataset in image_datasets.SOURCES
        for name, digest in table.items():
            assert re.fullmatch(r"[0-9a-f]{64}", digest), (dataset, name)
    assert set(image_datasets.CHECKSUMS["mnist"]) == set(image_datasets._IDX_FILES)
    assert set(image_datasets.CHECKSUMS["fashion-mnist"]) == set(image_datasets._IDX_FILES)
