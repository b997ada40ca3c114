"""Data sets: the packaged ones (shapes, ranges, split, shards) and the IDX
loader (plain and gzipped files written here, and malformed ones)."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import tifed_models
from tifed.errors import ConfigError
from tifed.training import datasets
from tifed.training.datasets import DataError


def test_digits_shapes_ranges_and_split():
    d = datasets.load("digits", seed=0)
    assert d.x_train.dtype == np.int8 and d.x_test.dtype == np.int8
    assert d.x_train.shape[1] == d.x_test.shape[1] == 64
    assert d.x_train.shape[0] + d.x_test.shape[0] == 1797
    assert d.classes == 10
    # pixels min(16 v, 255) - 128: v = 0 -> -128, v = 16 -> 127, all steps of 16 below that
    values = np.unique(np.concatenate([d.x_train.ravel(), d.x_test.ravel()]).astype(np.int64))
    assert values.min() == -128 and values.max() == 127
    assert set(values.tolist()) <= {16 * v - 128 for v in range(16)} | {127}
    # stratified 80/20: each class contributes round(20 %) to the test set
    from sklearn.datasets import load_digits

    per_class = np.bincount(load_digits().target)
    assert np.array_equal(np.bincount(d.y_test, minlength=10), np.round(0.2 * per_class).astype(int))


def test_split_is_seeded():
    a, b, c = datasets.load("digits", 0), datasets.load("digits", 0), datasets.load("digits", 1)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def test_mnist5k_shapes():
    d = datasets.load("mnist5k", 0)
    assert d.x_train.shape == (4000, 784) and d.x_test.shape == (1000, 784)
    assert d.classes == 10 and d.x_train.dtype == np.int8


def test_shards_equal_disjoint_and_seeded():
    n = 103  # rows tagged by their index, so shards can be traced back
    x = np.repeat(np.arange(n)[:, None], 2, axis=1).astype(np.int8)
    d = datasets.Dataset("tagged", x, np.arange(n) % 10, x[:1], np.zeros(1, dtype=np.int64), 10)
    shards = d.shards(4, seed=3)
    assert [s[0].shape for s in shards] == [(25, 2)] * 4  # 103 // 4; 3 samples left out
    tags = np.concatenate([s[0][:, 0] for s in shards]).astype(int)
    assert len(set(tags.tolist())) == 100  # disjoint
    for sx, sy in shards:  # labels travel with their images
        assert np.array_equal(sy, sx[:, 0].astype(int) % 10)
    assert np.array_equal(d.shards(4, 3)[0][0], shards[0][0])
    assert not np.array_equal(d.shards(4, 4)[0][0], shards[0][0])


def test_too_many_shards():
    d = datasets.load("digits", 0)
    with pytest.raises(datasets.ConfigError, match="only 1438 training samples"):
        d.shards(2000, 0)


def test_unknown_name():
    with pytest.raises(datasets.ConfigError, match="unknown data set 'cifar'"):
        datasets.load("cifar", 0)


# --- IDX ---------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    head = struct.pack(">HBB", 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(">u1" if type_code == 0x08 else ">i4").tobytes()


def write_idx_set(folder, gz: bool, n_train=12, n_test=5, rows=3, cols=4, sep="-"):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, rows, cols)),
        "train-labels": rng.integers(0, 10, n_train),
        "t10k-images": rng.integers(0, 256, (n_test, rows, cols)),
        "t10k-labels": rng.integers(0, 10, n_test),
    }
    arrays["train-labels"][0] = 9  # classes = max label + 1 = 10
    folder.mkdir(exist_ok=True)
    for stem, a in arrays.items():
        kind = "idx3-ubyte" if a.ndim == 3 else "idx1-ubyte"
        data = idx_bytes(a)
        name = f"{stem}{sep}{kind}" + (".gz" if gz else "")
        (folder / name).write_bytes(gzip.compress(data) if gz else data)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_loader_reads_plain_and_gzipped(tmp_path, gz):
    arrays = write_idx_set(tmp_path / "set", gz)
    d = datasets.load(f"idx:{tmp_path / 'set'}", seed=0)
    assert d.x_train.shape == (12, 12) and d.x_test.shape == (5, 12) and d.classes == 10
    # the test set keeps the file's order; pixels p become p - 128
    assert np.array_equal(d.x_test.astype(int), arrays["t10k-images"].reshape(5, 12) - 128)
    assert np.array_equal(d.y_test, arrays["t10k-labels"])
    # the training set is shuffled, but every (image, label) pair survives
    pairs = sorted((tuple(x), y) for x, y in zip(arrays["train-images"].reshape(12, 12) - 128, arrays["train-labels"]))
    assert sorted((tuple(x.astype(int)), y) for x, y in zip(d.x_train, d.y_train)) == pairs


def test_idx_loader_accepts_dotted_names(tmp_path):
    write_idx_set(tmp_path / "set", gz=False, sep=".")
    assert datasets.load(f"idx:{tmp_path / 'set'}", 0).x_train.shape == (12, 12)


def _only_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_idx_missing_directory(tmp_path):
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'nowhere'}", 0)
    assert "not a readable directory" in _only_line(e)


def test_idx_missing_file(tmp_path):
    write_idx_set(tmp_path / "set", gz=False)
    (tmp_path / "set" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert "missing t10k-labels-idx1-ubyte" in _only_line(e)


def test_idx_bad_magic(tmp_path):
    write_idx_set(tmp_path / "set", gz=False)
    path = tmp_path / "set" / "train-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert "bad magic" in _only_line(e) and str(path) in str(e.value)


def test_idx_truncated_data(tmp_path):
    write_idx_set(tmp_path / "set", gz=False)
    path = tmp_path / "set" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert "need 144 data bytes, file has 139" in _only_line(e)


def test_idx_counts_disagree(tmp_path):
    write_idx_set(tmp_path / "set", gz=False)
    (tmp_path / "set" / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(11) % 10))
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert "12 train images but 11 labels" in _only_line(e)


def test_idx_wrong_element_type(tmp_path):
    write_idx_set(tmp_path / "set", gz=False)
    (tmp_path / "set" / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(5), type_code=0x0C))
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert "labels must be a vector of unsigned bytes" in _only_line(e)


def test_idx_corrupt_gzip(tmp_path):
    write_idx_set(tmp_path / "set", gz=True)
    path = tmp_path / "set" / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert _only_line(e).startswith(f"cannot read {path}")


def test_idx_image_sizes_disagree(tmp_path):
    write_idx_set(tmp_path / "set", gz=False)
    (tmp_path / "set" / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((5, 4, 4), dtype=int)))
    with pytest.raises(DataError) as e:
        datasets.load(f"idx:{tmp_path / 'set'}", 0)
    assert "train images are (3, 4) but test images (4, 4)" in _only_line(e)


# --- fashion-mnist and mnist:DIR ---------------------------------------------------


def test_fashion_mnist_from_a_named_folder_or_the_environment(tmp_path, monkeypatch):
    arrays = write_idx_set(tmp_path / "fm", gz=True)
    named = datasets.load(f"fashion-mnist:{tmp_path / 'fm'}", 0)
    assert named.x_train.shape == (12, 12) and np.array_equal(named.y_test, arrays["t10k-labels"])
    monkeypatch.setenv(datasets.FASHION_MNIST_ENV, str(tmp_path / "fm"))
    from_env = datasets.load("fashion-mnist", 0)
    assert np.array_equal(from_env.x_train, named.x_train) and from_env.name == "fashion-mnist"


@pytest.mark.parametrize("name", ["fashion-mnist", "fashion-mnist:{tmp}/nowhere"])
def test_fashion_mnist_absent_says_how_to_get_it_in_one_line(tmp_path, monkeypatch, name):
    monkeypatch.setattr(datasets, "FASHION_MNIST_DIR", tmp_path / "not-installed")
    monkeypatch.delenv(datasets.FASHION_MNIST_ENV, raising=False)
    with pytest.raises(DataError) as e:
        datasets.load(name.format(tmp=tmp_path), 0)
    line = _only_line(e)
    assert "apt-get install dataset-fashion-mnist" in line and "fashion-mnist:DIR" in line


@pytest.mark.skipif(not datasets.FASHION_MNIST_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_the_installed_fashion_mnist():
    d = datasets.load("fashion-mnist", 0)
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784) and d.classes == 10
    assert d.x_train.dtype == np.int8 and np.bincount(d.y_test).tolist() == [1000] * 10


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_dir_reads_idx_files_like_idx_dir(tmp_path, gz):
    write_idx_set(tmp_path / "m", gz=gz)
    a, b = datasets.load(f"mnist:{tmp_path / 'm'}", 3), datasets.load(f"idx:{tmp_path / 'm'}", 3)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)


def test_pool_is_the_floor_of_the_pixel_mean():
    """--pool 2: each 2x2 block of pixels p becomes floor(mean(p)), then the
    -128 shift: computed here on pixels, the loader does it on x = p - 128."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(3, 6, 6))
    x = tifed_models.to_input(pixels.reshape(3, 36))
    data = datasets.Dataset("t", x, np.zeros(3, np.int64), x[:1], np.zeros(1, np.int64), 2)
    pooled = datasets.pooled(data, 2)
    want = tifed_models.to_input(pixels.reshape(3, 3, 2, 3, 2).sum(axis=(2, 4)) // 4).reshape(3, 9)
    assert pooled.x_train.dtype == np.int8 and np.array_equal(pooled.x_train, want)
    assert pooled.inputs == 9 and np.array_equal(pooled.x_test, want[:1])
    assert datasets.pooled(data, 1) is data
    assert datasets.pooled(data, 3).inputs == 4
    with pytest.raises(ConfigError, match="--pool 4 needs square images whose side 4 divides"):
        datasets.pooled(data, 4)
