"""Full image datasets: MNIST, Fashion-MNIST and CIFAR-10, downloaded once into a cache directory.

Each loader returns NumPy arrays like Keras: ``(x_train, y_train), (x_test, y_test)``
with ``x`` uint8 pixels (N, 28, 28) or (N, 32, 32, 3) and ``y`` uint8 labels 0-9,
shape (N,) (Keras gives CIFAR-10 labels the shape (N, 1); nerve keeps them flat).

Where the files live: the ``data_dir`` argument, else the ``NERVE_DATA_DIR``
environment variable, else ``~/.cache/nerve/datasets``; each dataset has a
sub-directory (``mnist/``, ``fashion-mnist/``, ``cifar-10/``). A missing file is
downloaded with ``urllib`` from the official URL (or a mirror), written under
a temporary name and kept only if its SHA-256 matches :data:`CHECKSUMS`. Files
already in the cache are checked too. Offline, or on a checksum mismatch, the
loader raises :class:`DatasetError` naming the files to place and where, so a
machine without internet can be given the files by hand.

Formats, read with NumPy only (nothing is ever unpickled):

* MNIST and Fashion-MNIST: the original gzip-compressed IDX files
  (``train-images-idx3-ubyte.gz``...): a big-endian header (magic number
  ``0x00000803`` for images, ``0x00000801`` for labels, then the sizes) and
  the raw bytes.
* CIFAR-10: the official *binary version* ``cifar-10-binary.tar.gz``, whose
  ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin`` hold
  10,000 records of 3,073 bytes each: 1 label byte, then 1,024 red, 1,024
  green and 1,024 blue pixel bytes, each plane row by row. The better known
  "python version" is a set of pickle files, and unpickling a downloaded file
  can run arbitrary code, so nerve does not read it. The members are read
  straight out of the archive (nothing is extracted); alternatively put the
  six ``.bin`` files in ``cifar-10/cifar-10-batches-bin/``.

Example (needs the files or an internet connection, so not run here):
    >>> from nerve.training.datasets.images import load_mnist  # doctest: +SKIP
    >>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
    >>> x_train.shape, x_train.dtype, y_test.shape  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), (10000,))
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import tarfile
import urllib.error
import urllib.request

import numpy

__all__ = ["load_mnist", "load_fashion_mnist", "load_cifar10", "data_home", "DatasetError", "CHECKSUMS", "SOURCES"]

#: SHA-256 of every file nerve downloads, by dataset and file name. These are
#: the digests of the files as published (MNIST from the TensorFlow/PyTorch
#: mirrors of LeCun's files; Fashion-MNIST from Zalando Research; CIFAR-10 from
#: the Toronto page, whose published MD5 c32a1d4ab5d03f1284b67883e8d87530 is
#: of the same archive), as recorded by several independent projects. To add a
#: file or fix a digest, edit this table: ``{dataset: {file name: sha256}}``.
CHECKSUMS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
    "cifar-10": {
        "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    },
}

#: Base URLs tried in order for each dataset (a file's URL is base + file name).
SOURCES = {
    "mnist": [
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's mirror
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's mirror
        "https://yann.lecun.com/exdb/mnist/",  # the original page
    ],
    "fashion-mnist": [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
    "cifar-10": ["https://www.cs.toronto.edu/~kriz/"],
}

_IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
_CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-bin"
_CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_TEST = ("test_batch.bin",)
_CIFAR_RECORD = 1 + 32 * 32 * 3


class DatasetError(OSError):
    """A dataset file is missing and cannot be downloaded, or its checksum is wrong.

    The message names the files, where they come from and the folder to put them in.

    Examples:
        >>> try:
        ...     raise DatasetError("place train-images-idx3-ubyte.gz in ~/.cache/nerve/datasets/mnist")
        ... except OSError as error:
        ...     print(type(error).__name__)
        DatasetError
    """


def data_home(data_dir=None):
    """The cache directory: ``data_dir``, else ``$NERVE_DATA_DIR``, else ``~/.cache/nerve/datasets``.

    Examples:
        >>> str(data_home("/tmp/my-data"))
        '/tmp/my-data'
    """
    if data_dir is None:
        data_dir = os.environ.get("NERVE_DATA_DIR") or pathlib.Path.home() / ".cache" / "nerve" / "datasets"
    return pathlib.Path(data_dir).expanduser()


# --------------------------------------------------------------- the cache
def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url, destination):
    """Copy ``url`` to the file ``destination`` (urllib; raises ``OSError`` when offline)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:  # noqa: S310 - https
        for chunk in iter(lambda: response.read(1 << 20), b""):
            out.write(chunk)


def _manual_instructions(dataset, folder, names):
    urls = "\n".join(f"  {base}{name}" for name in names for base in SOURCES[dataset][:1])
    return (f"Download these files on a machine with internet access:\n{urls}\n"
            f"and place them, unchanged, in {folder}/ (the directory is the data_dir argument, else "
            f"$NERVE_DATA_DIR, else ~/.cache/nerve/datasets, plus '{dataset}/').")


def _verify(dataset, path):
    expected = CHECKSUMS[dataset][path.name]
    actual = _sha256(path)
    return actual == expected, expected, actual


def _fetch(dataset, names, data_dir, download):
    """Paths of the verified dataset files ``names``, downloading the missing ones."""
    folder = data_home(data_dir) / dataset
    paths = []
    for name in names:
        path = folder / name
        if not path.exists():
            if not download:
                raise DatasetError(
                    f"{dataset}: file {path} is missing and download=False.\n"
                    + _manual_instructions(dataset, folder, [name]))
            _download_verified(dataset, name, folder)
        ok, expected, actual = _verify(dataset, path)
        if not ok:
            raise DatasetError(
                f"{dataset}: checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}. The file is "
                f"damaged or not the published one; delete it to download it again, or replace it by hand.\n"
                + _manual_instructions(dataset, folder, [name]))
        paths.append(path)
    return paths


def _download_verified(dataset, name, folder):
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / (name + ".part")
    errors = []
    for base in SOURCES[dataset]:
        url = base + name
        try:
            _download(url, partial)
        except (OSError, urllib.error.URLError, ValueError) as error:  # offline, HTTP error, bad URL
            errors.append(f"  {url}: {error}")
            continue
        expected, actual = CHECKSUMS[dataset][name], _sha256(partial)
        if actual == expected:
            partial.replace(folder / name)
            return
        errors.append(f"  {url}: downloaded, but its SHA-256 is {actual}, expected {expected}")
    if partial.exists():
        partial.unlink()
    raise DatasetError(
        f"{dataset}: could not download {name}:\n" + "\n".join(errors) + "\n"
        + _manual_instructions(dataset, folder, [name]))


# ------------------------------------------------------------------ parsers
_IDX_TYPES = {0x08: numpy.uint8, 0x09: numpy.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path):
    """Read a (gzip-compressed) IDX file into a NumPy array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetError(f"{path}: not an IDX file (its first bytes are {data[:4]!r}, expected 00 00 <type> <rank>)")
    rank = data[3]
    shape = tuple(int(v) for v in numpy.frombuffer(data, dtype=">u4", count=rank, offset=4))
    dtype = numpy.dtype(_IDX_TYPES[data[2]])
    body = 4 + 4 * rank
    expected = int(numpy.prod(shape)) * dtype.itemsize
    if len(data) - body != expected:
        raise DatasetError(f"{path}: the IDX header announces shape {shape} ({expected} bytes of data), "
                           f"but the file holds {len(data) - body} bytes after the header")
    return numpy.frombuffer(data, dtype=dtype, offset=body).reshape(shape).astype(dtype.newbyteorder("="))


def _load_idx_dataset(dataset, data_dir, download):
    train_x, train_y, test_x, test_y = (_read_idx(p) for p in _fetch(dataset, _IDX_FILES, data_dir, download))
    for images, labels, split in ((train_x, train_y, "train"), (test_x, test_y, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetError(f"{dataset}: {split} images have shape {images.shape} and labels {labels.shape}; "
                               "expected (N, rows, cols) images and N labels")
    return (train_x, train_y), (test_x, test_y)


def _cifar_records(data, source):
    if len(data) % _CIFAR_RECORD:
        raise DatasetError(f"{source}: {len(data)} bytes is not a whole number of CIFAR-10 records of "
                           f"{_CIFAR_RECORD} bytes (1 label byte + 3072 pixel bytes)")
    records = numpy.frombuffer(data, dtype=numpy.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].copy()
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # planes -> channels last
    return images, labels


def _cifar_split(read, names):
    parts = [_cifar_records(read(name), name) for name in names]
    return numpy.concatenate([p[0] for p in parts]), numpy.concatenate([p[1] for p in parts])


# ------------------------------------------------------------------ loaders
def load_mnist(data_dir=None, download=True):
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grey.

    Args:
        data_dir: cache directory (default ``$NERVE_DATA_DIR`` or ``~/.cache/nerve/datasets``);
            the files go in its ``mnist/`` sub-directory.
        download: fetch missing files (checked against :data:`CHECKSUMS`).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 28, 28) in [0, 255]
        and uint8 labels (N,). Scale with ``x / 255`` and add a channel axis
        (``x[..., None]``) for convolutional networks.

    Raises:
        DatasetError: a file is missing and cannot be downloaded, or has the wrong checksum;
            the message lists the files and where to put them.

    Examples:
        >>> (x_train, y_train), (x_test, y_test) = load_mnist()  # doctest: +SKIP
        >>> x_train.shape, y_train[:5].tolist()  # doctest: +SKIP
        ((60000, 28, 28), [5, 0, 4, 1, 9])
    """
    return _load_idx_dataset("mnist", data_dir, download)


def load_fashion_mnist(data_dir=None, download=True):
    """Fashion-MNIST (Zalando): 60,000 + 10,000 28x28 grey images of clothes in 10 classes.

    Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
    6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot. Same format and arguments as
    :func:`load_mnist` (files in the ``fashion-mnist/`` sub-directory).

    Examples:
        >>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()  # doctest: +SKIP
        >>> x_test.shape  # doctest: +SKIP
        (10000, 28, 28)
    """
    return _load_idx_dataset("fashion-mnist", data_dir, download)


def load_cifar10(data_dir=None, download=True):
    """CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, in 10 classes.

    Classes: 0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog, 6 frog,
    7 horse, 8 ship, 9 truck. Read from the official binary version
    (``cifar-10-binary.tar.gz``, in the ``cifar-10/`` sub-directory), never
    from the pickled "python version". If ``cifar-10/cifar-10-batches-bin/``
    already holds the six extracted ``.bin`` files, they are used as they are
    (no archive checksum can be checked then, only the record layout).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: uint8 images (N, 32, 32, 3),
        channels last, and uint8 labels (N,).

    Examples:
        >>> (x_train, y_train), (x_test, y_test) = load_cifar10()  # doctest: +SKIP
        >>> x_train.shape, y_train.shape  # doctest: +SKIP
        ((50000, 32, 32, 3), (50000,))
    """
    extracted = data_home(data_dir) / "cifar-10" / _CIFAR_FOLDER
    if all((extracted / name).exists() for name in _CIFAR_TRAIN + _CIFAR_TEST):
        def read(name):
            return (extracted / name).read_bytes()

        return _cifar_split(read, _CIFAR_TRAIN), _cifar_split(read, _CIFAR_TEST)
    (archive,) = _fetch("cifar-10", [_CIFAR_ARCHIVE], data_dir, download)
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}

        def read(name):
            member = members.get(f"{_CIFAR_FOLDER}/{name}")
            if member is None:
                raise DatasetError(f"{archive}: member {_CIFAR_FOLDER}/{name} is missing; is this the CIFAR-10 "
                                   "binary version (cifar-10-binary.tar.gz)?")
            return tar.extractfile(member).read()  # read in memory: nothing is written to disk

        return _cifar_split(read, _CIFAR_TRAIN), _cifar_split(read, _CIFAR_TEST)
