"""cnnviz.datasets: the offline digits, the Keras datasets' download/parse/cache path
(through the loopback server of test_cache), and the errors a person sees."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from test_cache import Loopback, cache_root, server  # noqa: F401 - fixtures shared with test_cache

from cnnviz import datasets
from cnnviz.datasets import DatasetDownloadError, DatasetError, DatasetOfflineError, FileRecord


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- digits (offline stand-in)

def test_digits_offline_shapes_and_label():
    d = datasets.load("digits")  # CNNVIZ_OFFLINE=1 here: digits never needs the network
    sizes = d.sizes()
    assert sum(sizes.values()) == 1797
    assert d.x_train.shape[1:] == (32, 32, 3) and d.x_train.dtype == np.float32
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0 and d.x_train.max() > 0.9
    assert set(np.unique(d.y_train)) == set(range(10))
    assert d.offline_standin and d.class_names == tuple("0123456789")
    from cnnviz.i18n import translate

    assert "offline" in translate(d.description, "en") and "sin conexión" in translate(d.description, "es")
    # the three channels are the same grey scan, and the split is disjoint (no image twice)
    assert np.array_equal(d.x_train[..., 0], d.x_train[..., 2])


def test_digits_subset_and_seed_are_deterministic():
    a = datasets.load("digits", subset=300, seed=3, val_split=0.25)
    b = datasets.load("digits", subset=300, seed=3, val_split=0.25)
    c = datasets.load("digits", subset=300, seed=4, val_split=0.25)
    assert a.sizes()["train"] + a.sizes()["val"] == 300 and a.sizes()["val"] == 75
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.y_train, c.y_train)
    assert datasets.load("digits", size=16).x_train.shape[1:] == (16, 16, 3)


@pytest.mark.parametrize("kwargs, key", [
    ({"name": "imagenet"}, "datasets.error.unknown"),
    ({"subset": 100_000}, "datasets.error.subset_large"),
    ({"subset": 1}, "datasets.error.subset_small"),
    ({"val_split": 1.0}, "datasets.error.val_split"),
])
def test_bad_settings_are_clear_value_errors(kwargs, key):
    with pytest.raises(DatasetError) as info:
        datasets.load(**{"name": "digits", **kwargs})
    assert isinstance(info.value, ValueError) and info.value.key == key
    assert str(info.value) != info.value.message("es")  # translated, not a copy of the English
    if key == "datasets.error.subset_large":
        assert "1438" in str(info.value) and "100000" in str(info.value)


def test_module_does_not_import_tensorflow():
    code = "import sys, cnnviz.datasets; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# --------------------------------------------------------------------------- the Keras datasets

def test_records_are_keras_own_urls_and_hashes():
    (cifar,) = datasets.RECORDS["cifar10"]
    assert cifar.url == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert cifar.file_hash == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    (mnist,) = datasets.RECORDS["mnist"]
    assert mnist.url.endswith("tf-keras-datasets/mnist.npz") and mnist.hash_algo == "sha256"
    assert len(datasets.RECORDS["fashion_mnist"]) == 4
    assert all(r.hash_algo == "md5" and len(r.file_hash) == 32 for r in datasets.RECORDS["fashion_mnist"])


def test_offline_names_the_dataset_and_suggests_digits():
    with pytest.raises(DatasetOfflineError) as info:
        datasets.load("cifar10")
    msg = str(info.value)
    assert "cifar10" in msg and "digits" in msg and "CNNVIZ_OFFLINE" in msg and "mirror" in msg.lower()
    assert "digits" in info.value.message("es") and "sin conexión" in info.value.message("es")


def cifar_tar(n_per_batch: int = 6, seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A CIFAR-10-format archive: 5 data batches + test batch, Python pickles with bytes keys."""
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    all_x, all_y = [], []
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            x = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
            y = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
            all_x.append(x)
            all_y.append(y)
            raw = pickle.dumps({b"batch_label": name.encode(), b"labels": y, b"data": x}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue(), np.concatenate(all_x), np.concatenate(all_y)


def pin(monkeypatch, name: str, data: bytes, file_name: str, url: str) -> FileRecord:
    record = FileRecord(name, file_name, url, sha256(data))
    monkeypatch.setitem(datasets.RECORDS, name, (record,))
    return record


def test_cifar_archive_downloaded_parsed_and_cached(server, monkeypatch, cache_root):  # noqa: F811
    data, x, y = cifar_tar()
    record = pin(monkeypatch, "cifar10", data, "cifar-10-python.tar.gz",
                 "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
    server.serve(record, data)
    seen = []
    d = datasets.load("cifar10", val_split=0.2, size=32, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (len(data), len(data))
    assert server.requests == ["/mirror/www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]
    assert d.sizes() == {"train": 24, "val": 6, "test": 6}
    # channel-first rows → HWC images, exactly as Keras' cifar10.load_data does
    train_rows = x[:30].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    pool = np.concatenate([d.x_train, d.x_val])
    assert sorted(map(bytes, (pool * 255).round().astype(np.uint8))) == sorted(map(bytes, train_rows))
    assert sorted(np.concatenate([d.y_train, d.y_val]).tolist()) == sorted(y[:30].tolist())
    assert d.class_names[0] == "airplane" and not d.offline_standin
    # the arrays are kept as .npz: a second load neither downloads nor re-reads the archive
    npz = cache_root / "datasets" / "cifar10" / "cifar10.npz"
    assert npz.is_file()
    record.path.unlink()
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    again = datasets.load("cifar10", val_split=0.2)
    assert np.array_equal(again.x_train, d.x_train) and len(server.requests) == 1


def test_wrong_hash_is_refused_and_nothing_kept(server, monkeypatch, cache_root):  # noqa: F811
    data, _, _ = cifar_tar()
    record = pin(monkeypatch, "cifar10", data, "cifar-10-python.tar.gz",
                 "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
    server.serve(record, data[:-10] + b"0123456789")  # a lying mirror
    with pytest.raises(DatasetDownloadError) as info:
        datasets.load("cifar10")
    assert info.value.key == "datasets.error.hash" and record.file_hash in str(info.value)
    assert not record.path.exists()
    assert [p.name for p in record.path.parent.iterdir()] == []


def test_truncated_download_is_refused_and_nothing_kept(server, monkeypatch, cache_root):  # noqa: F811
    data = np.arange(200_000, dtype=np.uint8).tobytes()
    record = pin(monkeypatch, "mnist", data, "mnist.npz", datasets.RECORDS["mnist"][0].url)
    server.serve(record, data, mode="truncate")
    with pytest.raises(DatasetDownloadError) as info:
        datasets._fetch(record)
    assert info.value.key == "datasets.error.interrupted"
    assert not record.path.exists() and [p.name for p in record.path.parent.iterdir()] == []


def test_unreachable_server_is_an_offline_error(monkeypatch, cache_root):  # noqa: F811
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("CNNVIZ_OFFLINE", raising=False)
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", f"http://127.0.0.1:{port}/mirror/")
    with pytest.raises(DatasetOfflineError) as info:
        datasets.load("mnist")
    assert "mnist" in str(info.value) and "digits" in str(info.value)


def test_mnist_npz_through_the_mirror(server, monkeypatch, cache_root):  # noqa: F811
    rng = np.random.default_rng(1)
    arrays = {"x_train": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, 20).astype(np.uint8),
              "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, 5).astype(np.uint8)}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    record = pin(monkeypatch, "mnist", data, "mnist.npz", datasets.RECORDS["mnist"][0].url)
    server.serve(record, data)
    d = datasets.load("mnist", val_split=0.25)
    assert d.x_train.shape[1:] == (32, 32, 3)
    # 28×28 is zero-padded to 32×32 (LeNet's way), not stretched
    assert float(np.abs(d.x_test[:, :2]).max()) == 0.0
    assert np.allclose(d.x_test[0, 2:30, 2:30, 0], arrays["x_test"][0] / 255.0)


def test_fashion_idx_parser_reads_gz_files(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    labels = np.array([1, 5, 9], np.uint8)
    paths = []
    for name, arr, magic in (("train-images-idx3-ubyte.gz", images, 0x0803), ("train-labels-idx1-ubyte.gz", labels, 0x0801),
                             ("t10k-images-idx3-ubyte.gz", images[:2], 0x0803), ("t10k-labels-idx1-ubyte.gz", labels[:2], 0x0801)):
        header = magic.to_bytes(4, "big") + b"".join(int(n).to_bytes(4, "big") for n in arr.shape)
        path = tmp_path / name
        path.write_bytes(gzip.compress(header + arr.tobytes()))
        paths.append(path)
    out = datasets.parse_fashion(paths)  # the order of RECORDS: train images, train labels, test images, labels
    assert np.array_equal(out["x_train"], images) and np.array_equal(out["y_train"], labels)
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x09\x99" + b"\x00" * 20))
    with pytest.raises(DatasetError):
        datasets.parse_fashion([bad, bad, bad, bad])
