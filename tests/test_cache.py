"""The weights cache, for real: downloads from a loopback HTTP server this file starts.

How these tests work: :class:`Loopback` is an ``http.server.ThreadingHTTPServer`` on
127.0.0.1 (a thread of the test process) that serves bytes the tests build -- small
byte strings, HDF5 files written with h5py, and one real Keras weights file saved
from a random-weights MobileNetV3Small. ``CNNVIZ_WEIGHTS_MIRROR`` points the cache at
it (so every request also proves the mirror mapping: the server records the path it
saw), and the table's hash for the model under test is monkeypatched to the hash of
the served bytes. The server can misbehave on purpose: announce more bytes than it
sends and hang up (truncated download), omit Content-Length, stall before or during
the body, hold a response until the test releases it (concurrency), or answer 404.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import http.server
import inspect
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from cnnviz import cache, fileio, zoo
from cnnviz.zoo import pretrained
from cnnviz.errors import UserFacingError

ROOT = Path(__file__).resolve().parents[1]

ZOO_KERAS_NAMES = """resnet50 resnet101 resnet152 resnet50v2 resnet101v2 resnet152v2 vgg16 vgg19 inceptionv3
xception inceptionresnetv2 densenet121 densenet169 densenet201 mobilenetv2 mobilenetv3small mobilenetv3large
efficientnetb0 efficientnetb1 efficientnetb2 efficientnetb3 efficientnetv2b0 convnexttiny convnextsmall""".split()


# --------------------------------------------------------------------------- loopback server

class Loopback:
    """A tiny HTTP server on 127.0.0.1 that serves ``files`` and records every request path.

    ``modes[path]`` makes one path misbehave: "truncate" (Content-Length larger than the
    body, then hang up), "no_length" (no Content-Length, body cut in half), "stall"
    (headers, then silence), "silent" (no response at all), "hold" (whole body, but only
    after :attr:`release` is set; :attr:`arrived` is set when the request comes in).
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, str] = {}
        self.requests: list[str] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.closing = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                owner.requests.append(path)
                mode = owner.modes.get(path)
                if mode == "silent":
                    owner.closing.wait(30)
                    return
                data = owner.files.get(path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                if mode == "hold":
                    owner.arrived.set()
                    owner.release.wait(30)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if mode == "truncate":
                    self.send_header("Content-Length", str(len(data) + 4096))
                elif mode != "no_length":
                    self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                if mode == "stall":
                    self.wfile.flush()
                    owner.closing.wait(30)
                    return
                body = data[: len(data) // 2] if mode in ("truncate", "no_length") else data
                for start in range(0, len(body), 64 * 1024):
                    self.wfile.write(body[start:start + 64 * 1024])
                self.wfile.flush()
                self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="loopback", daemon=True)
        self.thread.start()

    @property
    def mirror(self) -> str:
        """The value for ``CNNVIZ_WEIGHTS_MIRROR``: a folder on this server."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/mirror/"

    def path_for(self, entry: cache.FileRecord) -> str:
        """The request path a mirror download of ``entry`` must use."""
        return "/mirror/" + entry.mirror_path

    def serve(self, entry: cache.FileRecord, data: bytes, mode: str | None = None) -> str:
        path = self.path_for(entry)
        self.files[path] = data
        if mode:
            self.modes[path] = mode
        return path

    def close(self) -> None:
        self.closing.set()
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder of this test only."""
    root = tmp_path / "models_cache"
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(root))
    return root


@pytest.fixture
def server(cache_root, monkeypatch):
    """A running loopback server, online mode, the mirror pointing at it."""
    srv = Loopback()
    monkeypatch.delenv("CNNVIZ_OFFLINE", raising=False)
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", srv.mirror)
    yield srv
    srv.close()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def pin(monkeypatch, name: str, data: bytes, include_top: bool = True, *, digest: str | None = "md5") -> cache.FileRecord:
    """Make the zoo spec of ``name`` expect ``data`` for its top (or notop) file; returns the record.

    ``digest``: "md5", "sha256" (the ConvNeXt style) or None (no pinned hash, MobileNetV2 style).
    """
    from cnnviz.zoo import registry

    spec = zoo.get_spec(name)
    value = None if digest is None else hashlib.new(digest, data).hexdigest()
    old = spec.pretrained.file(include_top)
    record = dataclasses.replace(old, file_hash=value, hash_algo="")
    weights = dataclasses.replace(spec.pretrained, **{"top" if include_top else "notop": record})
    monkeypatch.setitem(registry._SPECS, name, dataclasses.replace(spec, pretrained=weights))
    return pretrained.weights_file(name, include_top)


def pin_labels(monkeypatch, data: bytes) -> cache.FileRecord:
    record = dataclasses.replace(pretrained.IMAGENET_CLASS_INDEX, file_hash=md5(data), hash_algo="")
    monkeypatch.setattr(pretrained, "IMAGENET_CLASS_INDEX", record)
    return pretrained.labels_file()


def h5_bytes(tmp_path: Path, size: int = 300_000, libver: str = "earliest", seed: int = 0) -> bytes:
    """A genuine HDF5 file of about ``size`` bytes (random payload)."""
    import h5py
    import numpy as np

    path = tmp_path / f"blob_{libver}_{seed}_{size}.h5"
    with h5py.File(path, "w", libver=libver) as f:
        f.create_dataset("payload", data=np.random.default_rng(seed).integers(0, 255, size, dtype=np.uint8))
    return path.read_bytes()


def class_index_bytes() -> bytes:
    """An ImageNet-style class index: {"0": [wnid, name], ...}, 1000 classes."""
    names = {0: "tench", 1: "goldfish", 281: "tabby", 235: "German_shepherd", 999: "toilet_tissue"}
    index = {str(i): [f"n{i:08d}", names.get(i, f"class_{i}")] for i in range(1000)}
    return json.dumps(index).encode()


def leftovers(folder: Path) -> list[str]:
    """Files in the cache folder that look like weights or partial downloads."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != cache.SIDECAR)


def run_with_deadline(fn, seconds: float = 60):
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it does not return.

    A no-hang guard, not a speed measurement: the bound is far above the few seconds
    the code needs.
    """
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s: the download hangs"
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --------------------------------------------------------------------------- the table

def test_table_covers_every_keras_model_of_the_zoo():
    # Keras' downloadable models, plus those whose weights ship in an installed package (no record to fetch).
    assert sorted(pretrained.pretrained_models()) == sorted(ZOO_KERAS_NAMES + pretrained.installed_models())
    files = pretrained.all_records()
    assert len(files) == 2 * len(ZOO_KERAS_NAMES) + 1
    assert len({f.filename for f in files}) == len(files), "two entries share a file name"
    for f in files:
        assert f.url.startswith("https://storage.googleapis.com/")
        assert f.url.endswith("/" + f.filename)
        if f.file_hash is None:
            assert f.name == "mobilenetv2"  # the only keras.applications file keras pins no hash for
        else:
            assert len(f.file_hash) in (32, 64) and int(f.file_hash, 16) >= 0
            assert f.hash_algo == ("sha256" if len(f.file_hash) == 64 else "md5")
    assert pretrained.weights_file("convnexttiny").hash_algo == "sha256"
    assert pretrained.weights_file("resnet50").hash_algo == "md5"
    assert pretrained.weights_file("ResNet50 ").name == "resnet50"


def _get_file_calls(module) -> list[dict]:
    """Every ``file_utils.get_file(...)`` call in ``module``'s source: fname, origin, file_hash."""
    calls = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "get_file":
            args = list(node.args)
            kw = {k.arg: k.value for k in node.keywords}
            fname = args[0] if args else kw.get("fname")
            origin = args[1] if len(args) > 1 else kw.get("origin")
            file_hash = kw.get("file_hash")
            calls.append({
                "fname": fname.value if isinstance(fname, ast.Constant) else None,
                "origin": origin.id if isinstance(origin, ast.Name) else None,
                "file_hash": file_hash.value if isinstance(file_hash, ast.Constant) else
                ("<expr>" if file_hash is not None else None),
            })
    return calls


def _inline(module, origin_name: str) -> tuple[str, str | None, str | None]:
    """(url, fname, hash) of the get_file call that downloads module.<origin_name>."""
    [call] = [c for c in _get_file_calls(module) if c["origin"] == origin_name]
    return getattr(module, origin_name), call["fname"], call["file_hash"]


def keras_expected(name: str) -> dict[bool, tuple[str, str | None]]:
    """{include_top: (url, hash)} re-derived from the installed keras' source constants."""
    from keras.src.applications import (convnext, densenet, efficientnet, imagenet_utils, inception_v3,  # noqa: F401
                                        mobilenet_v2, mobilenet_v3, resnet, vgg16)

    if name == "resnet50":
        h = resnet.WEIGHTS_HASHES["resnet50"]
        base = resnet.BASE_WEIGHTS_PATH
        return {True: (base + "resnet50_weights_tf_dim_ordering_tf_kernels.h5", h[0]),
                False: (base + "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", h[1])}
    if name == "efficientnetb0":
        h = efficientnet.WEIGHTS_HASHES["b0"]
        return {True: (efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0.h5", h[0]),
                False: (efficientnet.BASE_WEIGHTS_PATH + "efficientnetb0_notop.h5", h[1])}
    if name == "mobilenetv3small":
        key = "small_224_1.0_float"
        h = mobilenet_v3.WEIGHTS_HASHES[key]
        return {True: (f"{mobilenet_v3.BASE_WEIGHT_PATH}weights_mobilenet_v3_{key}.h5", h[0]),
                False: (f"{mobilenet_v3.BASE_WEIGHT_PATH}weights_mobilenet_v3_{key}_no_top_v2.h5", h[1])}
    if name == "convnexttiny":
        h = convnext.WEIGHTS_HASHES["convnext_tiny"]
        return {True: (convnext.BASE_WEIGHTS_PATH + "convnext_tiny.h5", h[0]),
                False: (convnext.BASE_WEIGHTS_PATH + "convnext_tiny_notop.h5", h[1])}
    module, top_const, notop_const = {
        "vgg16": (vgg16, "WEIGHTS_PATH", "WEIGHTS_PATH_NO_TOP"),
        "inceptionv3": (inception_v3, "WEIGHTS_PATH", "WEIGHTS_PATH_NO_TOP"),
        "densenet121": (densenet, "DENSENET121_WEIGHT_PATH", "DENSENET121_WEIGHT_PATH_NO_TOP"),
    }.get(name, (None, None, None))
    if module is not None:
        out = {}
        for top, const in ((True, top_const), (False, notop_const)):
            url, fname, file_hash = _inline(module, const)
            assert fname is None or url.endswith("/" + fname)
            out[top] = (url, file_hash)
        return out
    if name == "mobilenetv2":
        # keras pins no hash for MobileNetV2: no get_file call of the module passes file_hash.
        assert all(c["file_hash"] is None for c in _get_file_calls(mobilenet_v2))
        base = mobilenet_v2.BASE_WEIGHT_PATH
        return {True: (base + "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", None),
                False: (base + "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None)}
    raise AssertionError(f"no derivation for {name}")


REPRESENTATIVE = ["resnet50", "efficientnetb0", "mobilenetv3small", "convnexttiny", "vgg16", "densenet121",
                  "inceptionv3", "mobilenetv2"]


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_table_matches_installed_keras_sources(name):
    expected = keras_expected(name)
    for include_top in (True, False):
        entry = pretrained.weights_file(name, include_top)
        assert (entry.url, entry.file_hash) == expected[include_top], (name, include_top)


def test_labels_entry_matches_keras_decode_predictions():
    from keras.src.applications import imagenet_utils

    [call] = [c for c in _get_file_calls(imagenet_utils) if c["origin"] == "CLASS_INDEX_PATH"]
    entry = pretrained.labels_file()
    assert entry.url == imagenet_utils.CLASS_INDEX_PATH
    assert (entry.filename, entry.file_hash) == (call["fname"], call["file_hash"])


@pytest.mark.filterwarnings("ignore:`input_shape` is undefined")
@pytest.mark.parametrize("name,ctor", [("mobilenetv3small", "MobileNetV3Small"), ("convnexttiny", "ConvNeXtTiny"),
                                       ("mobilenetv2", "MobileNetV2")])
def test_table_is_what_keras_applications_would_download(name, ctor, monkeypatch):
    """End to end for the cheap builds: call the real constructor with weights="imagenet"
    and catch what it hands to ``get_file`` (file name, URL, hash) before any network."""
    import keras
    from keras.src.utils import file_utils

    class Asked(Exception):
        pass

    def fake_get_file(fname, origin=None, **kwargs):
        raise Asked(fname, origin, kwargs.get("file_hash"))

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    for include_top in (True, False):
        with pytest.raises(Asked) as asked:
            getattr(keras.applications, ctor)(weights="imagenet", include_top=include_top)
        keras.backend.clear_session()
        fname, origin, file_hash = asked.value.args
        entry = pretrained.weights_file(name, include_top)
        assert (entry.filename, entry.url, entry.file_hash) == (fname, origin, file_hash)


# --------------------------------------------------------------------------- configuration

def test_cache_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNVIZ_CACHE_DIR")
    assert cache.cache_dir() == ROOT / "models_cache"
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache.cache_dir() == tmp_path / "elsewhere"
    assert pretrained.weights_file("resnet50").path == tmp_path / "elsewhere" / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"


def test_mirror_replaces_only_the_prefix(monkeypatch):
    entry = pretrained.weights_file("efficientnetb0", include_top=False)
    assert entry.fetch_url == entry.url == "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", "http://10.0.0.5:8000/keras")
    assert entry.fetch_url == "http://10.0.0.5:8000/keras/keras-applications/efficientnetb0_notop.h5"
    assert entry.url == "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", "ftp://nope/")
    with pytest.raises(cache.CacheError) as err:
        entry.fetch_url
    assert "ftp://nope/" in str(err.value)


def test_mirror_mapping_is_general(monkeypatch):
    """Datasets (keras' tf-keras-datasets, or another host) map into the same mirror tree."""
    mnist = cache.FileRecord("https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz", "mnist.npz",
                             "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1", name="mnist")
    cifar = cache.FileRecord("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "cifar-10-python.tar.gz",
                             "c58f30108f718f92721af3b95e74349a", name="cifar10")
    assert (mnist.hash_algo, cifar.hash_algo) == ("sha256", "md5")
    assert mnist.mirror_path == "tensorflow/tf-keras-datasets/mnist.npz"
    assert cifar.mirror_path == "www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", "file:///media/usb/keras/")
    assert mnist.fetch_url == "file:///media/usb/keras/tensorflow/tf-keras-datasets/mnist.npz"
    assert cifar.fetch_url == "file:///media/usb/keras/www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert (mnist.label, mnist.include_top) == ("mnist", None)


@pytest.mark.parametrize("kwargs", [dict(filename="../x.h5"), dict(filename=""), dict(url="storage/x.h5"),
                                    dict(hash_algo="sha1")])
def test_file_record_refuses_bad_fields(kwargs):
    base = dict(url="https://example.org/x.h5", filename="x.h5", file_hash=None)
    with pytest.raises(ValueError):
        cache.FileRecord(**{**base, **kwargs})


def test_derived_files_are_listed_and_cleared(cache_root):
    """The hook for files cnnviz makes itself (converted models): status lists them, clear frees them."""
    assert cache.derived_status() == [] and cache.clear_derived() == []
    folder = cache.derived_dir("litert")
    assert folder == cache_root / "derived" / "litert" and not folder.exists()
    (folder / "sub").mkdir(parents=True)
    (folder / "resnet50.tflite").write_bytes(b"x" * 10)
    (folder / "sub" / "b.tflite").write_bytes(b"y" * 3)
    listed = cache.derived_status()
    assert [(e.name, e.file_name, e.size, e.state) for e in listed] == [
        ("litert", "resnet50.tflite", 10, "cached"), ("litert", "sub/b.tflite", 3, "cached")]
    assert cache.derived_status("other") == []
    removed = cache.clear_derived()
    assert sorted(r.size for r in removed) == [3, 10] and not list(folder.rglob("*"))
    with pytest.raises(ValueError):
        cache.derived_dir("../up")


def test_unknown_model_has_no_weights():
    with pytest.raises(zoo.NoPretrainedWeightsError) as err:
        pretrained.fetch_weights("lenet5")
    # One exception for "no weights", the zoo's: the same class create_model raises.
    assert isinstance(err.value, zoo.ZooError) and isinstance(err.value, UserFacingError)
    assert isinstance(err.value, KeyError) and isinstance(err.value, zoo.InvalidModelOptions)
    with pytest.raises(zoo.NoPretrainedWeightsError):
        pretrained.weights_file("notamodel")
    assert "lenet5" in str(err.value) and "resnet50" in str(err.value)
    assert "lenet5" in err.value.message("es") and "pesos aleatorios" in err.value.message("es")


def test_module_does_not_import_tensorflow():
    code = ("import sys, cnnviz.cache as c, cnnviz.zoo.pretrained as p; p.status(); c.status(p.all_records()); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'streamlit')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- downloads

def test_download_ok_through_mirror_with_progress(server, monkeypatch, cache_root):
    data = os.urandom(700_000)
    entry = pin(monkeypatch, "resnet50", data)
    path_seen = server.serve(entry, data)
    calls = []
    path = pretrained.fetch_weights("resnet50", progress=lambda done, total: calls.append((done, total)))
    assert path == cache_root / "resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    assert path.read_bytes() == data
    # the mirror kept Keras' path under the prefix
    assert server.requests == [path_seen]
    assert path_seen == "/mirror/tensorflow/keras-applications/resnet/resnet50_weights_tf_dim_ordering_tf_kernels.h5"
    # progress: starts at 0, never goes back, ends at the total
    dones = [d for d, _ in calls]
    assert dones[0] == 0 and dones[-1] == len(data) and dones == sorted(dones) and len(set(dones)) > 2
    assert {t for _, t in calls} == {len(data)}
    [state] = pretrained.status(["resnet50"])
    assert (state.state, state.size, state.verified) == ("cached", len(data), True)
    assert leftovers(cache_root) == [path.name]
    # second call: served from the cache, no new request
    assert pretrained.fetch_weights("resnet50") == path
    assert len(server.requests) == 1


def test_sha256_pinned_file(server, monkeypatch, cache_root):
    data = os.urandom(50_000)
    entry = pin(monkeypatch, "convnexttiny", data, digest="sha256")
    server.serve(entry, data)
    assert entry.hash_algo == "sha256"
    assert pretrained.fetch_weights("convnexttiny").read_bytes() == data


def test_notop_file_is_a_separate_entry(server, monkeypatch, cache_root):
    data = os.urandom(10_000)
    entry = pin(monkeypatch, "efficientnetb0", data, include_top=False)
    server.serve(entry, data)
    path = pretrained.fetch_weights("efficientnetb0", include_top=False)
    assert path.name == "efficientnetb0_notop.h5"
    assert server.requests == ["/mirror/keras-applications/efficientnetb0_notop.h5"]
    states = {(s.name, s.include_top): s.state for s in pretrained.status()}
    assert states[("efficientnetb0", False)] == "cached" and states[("efficientnetb0", True)] == "missing"


def test_wrong_hash_is_refused_and_nothing_valid_left(server, monkeypatch, cache_root):
    entry = pin(monkeypatch, "resnet50", b"the bytes keras expects")
    server.serve(entry, b"something else entirely" * 1000)
    with pytest.raises(cache.HashMismatchError) as err:
        pretrained.fetch_weights("resnet50")
    assert entry.file_hash in str(err.value) and md5(b"something else entirely" * 1000) in str(err.value)
    assert not entry.path.exists()
    assert leftovers(cache_root) == []
    assert pretrained.status(["resnet50"])[0].state == "missing"


def test_truncated_download_leaves_nothing(server, monkeypatch, cache_root):
    data = os.urandom(400_000)
    entry = pin(monkeypatch, "resnet50", data)
    server.serve(entry, data, mode="truncate")
    with pytest.raises(cache.DownloadError) as err:
        pretrained.fetch_weights("resnet50")
    assert "resnet50" in str(err.value) and "nothing was kept" in str(err.value)
    assert leftovers(cache_root) == []
    assert pretrained.status(["resnet50"])[0].state == "missing"


def test_unpinned_file_cut_short_without_length_is_refused(server, monkeypatch, cache_root, tmp_path):
    """MobileNetV2 has no pinned hash: the HDF5 structure check catches a body cut short."""
    data = h5_bytes(tmp_path)
    entry = pin(monkeypatch, "mobilenetv2", data, digest=None)
    assert entry.file_hash is None
    server.serve(entry, data, mode="no_length")
    with pytest.raises(cache.DownloadError):
        pretrained.fetch_weights("mobilenetv2")
    assert leftovers(cache_root) == []
    # the complete file is accepted, and its digest remembered for later checks
    server.modes.clear()
    path = pretrained.fetch_weights("mobilenetv2")
    assert path.read_bytes() == data
    record = json.loads((cache_root / cache.SIDECAR).read_text())[entry.filename]
    assert record["trusted_digest"] == hashlib.sha256(data).hexdigest()
    # a later change of content is reported by verify
    raw = bytearray(data)
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    [state] = [s for s in pretrained.verify(["mobilenetv2"]) if s.include_top]
    assert (state.state, state.problem) == ("corrupt", "hash")


def test_file_url_mirror_from_a_usb_stick(monkeypatch, cache_root, tmp_path):
    """CNNVIZ_WEIGHTS_MIRROR=file:///media/usb/keras/ : a copy of the storage.googleapis.com tree on disk."""
    data = os.urandom(30_000)
    entry = pin(monkeypatch, "densenet121", data)
    stick = tmp_path / "usb" / "keras"
    (stick / entry.mirror_path).parent.mkdir(parents=True)
    (stick / entry.mirror_path).write_bytes(data)
    monkeypatch.delenv("CNNVIZ_OFFLINE")
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", stick.as_uri())
    seen = []
    assert pretrained.fetch_weights("densenet121", progress=lambda d, t: seen.append(t)).read_bytes() == data
    assert seen[-1] == len(data)
    with pytest.raises(cache.DownloadError):
        pretrained.fetch_weights("densenet121", include_top=False)  # not on the stick


def test_http_error_is_a_download_error(server, monkeypatch, cache_root):
    pin(monkeypatch, "vgg16", b"never served")
    with pytest.raises(cache.DownloadError) as err:
        pretrained.fetch_weights("vgg16")
    assert "404" in str(err.value) and server.mirror in str(err.value)
    assert leftovers(cache_root) == []


def test_server_down_gives_offline_error_fast(cache_root, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("CNNVIZ_OFFLINE")
    monkeypatch.setenv("CNNVIZ_WEIGHTS_MIRROR", f"http://127.0.0.1:{port}/m/")
    with pytest.raises(cache.OfflineError) as err:
        run_with_deadline(lambda: pretrained.fetch_weights("resnet50"))
    message = str(err.value)
    assert "127.0.0.1" in message and str(cache_root / "resnet50_weights_tf_dim_ordering_tf_kernels.h5") in message
    assert "cache prefetch resnet50" in message and "cache import" in message and "CNNVIZ_WEIGHTS_MIRROR" in message


def test_silent_server_times_out(server, monkeypatch, cache_root):
    """A server that accepts but never answers (captive portal, dead proxy) must not hang a page."""
    monkeypatch.setenv("CNNVIZ_DOWNLOAD_TIMEOUT", "1")
    entry = pin(monkeypatch, "resnet50", b"x")
    server.serve(entry, b"x", mode="silent")
    with pytest.raises(cache.OfflineError):
        run_with_deadline(lambda: pretrained.fetch_weights("resnet50"))


def test_stalled_body_times_out(server, monkeypatch, cache_root):
    monkeypatch.setenv("CNNVIZ_DOWNLOAD_TIMEOUT", "1")
    entry = pin(monkeypatch, "resnet50", b"y" * 1000)
    server.serve(entry, b"y" * 1000, mode="stall")
    with pytest.raises(cache.DownloadError):
        run_with_deadline(lambda: pretrained.fetch_weights("resnet50"))
    assert leftovers(cache_root) == []


def test_offline_mode_never_touches_the_network(server, monkeypatch, cache_root):
    entry = pin(monkeypatch, "resnet50", b"data")
    server.serve(entry, b"data")
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    with pytest.raises(cache.OfflineError) as err:
        pretrained.fetch_weights("resnet50")
    assert server.requests == []
    assert not cache_root.exists()  # nothing created either
    assert "CNNVIZ_OFFLINE=1" in str(err.value) and str(entry.path) in str(err.value)
    es = err.value.message("es")
    assert "sin conexión" in es and str(entry.path) in es and "cache import cache.zip" in es
    with pytest.raises(cache.OfflineError):
        pretrained.fetch_labels()


def test_two_threads_download_once(server, monkeypatch, cache_root):
    data = os.urandom(300_000)
    entry = pin(monkeypatch, "efficientnetb0", data)
    server.serve(entry, data, mode="hold")
    results, errors = [], []

    def fetch():
        try:
            results.append(pretrained.fetch_weights("efficientnetb0"))
        except Exception as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    first = threading.Thread(target=fetch)
    first.start()
    assert server.arrived.wait(30), "the first download never reached the server"
    second = threading.Thread(target=fetch)
    second.start()
    # Give the second thread ample time to send its own request if the lock did not stop it.
    time.sleep(1.0)
    assert len(server.requests) == 1
    server.release.set()
    first.join(30)
    second.join(30)
    assert errors == [] and len(results) == 2 and results[0] == results[1] == entry.path
    assert server.requests == [server.path_for(entry)]
    assert entry.path.read_bytes() == data and leftovers(cache_root) == [entry.path.name]


def test_two_processes_download_once(server, monkeypatch, cache_root):
    """The flock half of the lock: a second process waits, then finds the file cached.

    The subprocesses use the real table, so this uses MobileNetV2's file (Keras pins no
    hash for it) served as a genuine HDF5 file.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = h5_bytes(Path(tmp), size=200_000)
    entry = pretrained.weights_file("mobilenetv2")
    server.serve(entry, data, mode="hold")
    code = "import cnnviz.zoo.pretrained as p; print('start', flush=True); print(p.fetch_weights('mobilenetv2'))"
    env = {**os.environ}
    first = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert server.arrived.wait(60), "the first process never reached the server"
        second = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert second.stdout.readline().strip() == "start"
            time.sleep(1.5)  # room for a (wrong) second request
            assert len(server.requests) == 1
            server.release.set()
            out1, err1 = first.communicate(timeout=60)
            out2, err2 = second.communicate(timeout=60)
        finally:
            second.kill()
    finally:
        first.kill()
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert out1.strip().splitlines()[-1] == out2.strip().splitlines()[-1] == str(entry.path)
    assert server.requests == [server.path_for(entry)]
    assert entry.path.read_bytes() == data


def test_corrupt_cached_file_is_detected_and_replaced(server, monkeypatch, cache_root, tmp_path):
    data = h5_bytes(tmp_path, size=5_000_000)  # above the "always hash" size: status must not hash it
    entry = pin(monkeypatch, "resnet50", data)
    server.serve(entry, data)
    pretrained.fetch_weights("resnet50")
    # Same size, one flipped byte in the payload: structurally fine, so only a hash finds it.
    raw = bytearray(data)
    raw[len(raw) - 1000] ^= 0xFF
    entry.path.write_bytes(bytes(raw))
    [quick] = pretrained.status(["resnet50"])
    assert (quick.state, quick.verified) == ("cached", False)  # cheap check: not hashed
    [full] = pretrained.status(["resnet50"], verify=True)
    assert (full.state, full.problem) == ("corrupt", "hash")
    [remembered] = pretrained.status(["resnet50"])  # the failed check is remembered: no re-hash needed
    assert (remembered.state, remembered.verified) == ("corrupt", True)
    # offline: reported, not silently used
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    with pytest.raises(cache.OfflineError) as err:
        pretrained.fetch_weights("resnet50")
    assert "damaged" in str(err.value)
    # online again: the next download replaces it
    monkeypatch.delenv("CNNVIZ_OFFLINE")
    assert pretrained.fetch_weights("resnet50").read_bytes() == data
    assert len(server.requests) == 2
    assert pretrained.status(["resnet50"])[0].state == "cached"


def test_truncated_cached_file_is_corrupt_without_hashing(server, monkeypatch, cache_root, tmp_path):
    data = h5_bytes(tmp_path, size=5_000_000, libver="latest")
    entry = pin(monkeypatch, "resnet50", data)
    cache_root.mkdir(parents=True, exist_ok=True)
    entry.path.write_bytes(data[: len(data) - 100_000])  # e.g. a copy that stopped early
    hashed = []
    real_hash = fileio.hash_file
    monkeypatch.setattr(fileio, "hash_file", lambda p, a: hashed.append(p) or real_hash(p, a))
    [state] = pretrained.status(["resnet50"])
    assert (state.state, state.problem, state.verified) == ("corrupt", "truncated", False)
    assert hashed == []
    server.serve(entry, data)
    assert pretrained.fetch_weights("resnet50").read_bytes() == data


def test_status_of_verified_big_file_does_not_hash(server, monkeypatch, cache_root, tmp_path):
    data = os.urandom(5_000_000)
    entry = pin(monkeypatch, "vgg16", data)
    server.serve(entry, data)
    pretrained.fetch_weights("vgg16")
    monkeypatch.setattr(fileio, "hash_file", lambda *a: pytest.fail("status hashed a big file"))
    [state] = pretrained.status(["vgg16"])
    assert (state.state, state.verified, state.size) == ("cached", True, len(data))


def test_hand_copied_file_is_hash_checked_once_then_trusted(server, monkeypatch, cache_root, tmp_path):
    data = h5_bytes(tmp_path, size=5_000_000)
    entry = pin(monkeypatch, "resnet50", data)
    cache_root.mkdir(parents=True)
    entry.path.write_bytes(data)  # e.g. copied from ~/.keras/models by hand: no sidecar record
    assert pretrained.status(["resnet50"])[0].verified is False
    assert pretrained.fetch_weights("resnet50") == entry.path
    assert server.requests == []
    assert pretrained.status(["resnet50"])[0].verified is True


def test_read_only_cache_still_serves_its_files(server, monkeypatch, cache_root, tmp_path):
    """A cache folder prepared by a teacher and mounted read-only: no lock, no sidecar, still usable."""
    data = h5_bytes(tmp_path, size=5_000_000)
    entry = pin(monkeypatch, "resnet50", data)
    cache_root.mkdir(parents=True)
    entry.path.write_bytes(data)

    def no_lock(name):
        raise cache.CacheError("cache.error.write", path=str(cache_root), reason="Read-only file system")

    monkeypatch.setattr(cache, "file_lock", no_lock)
    assert pretrained.fetch_weights("resnet50") == entry.path
    assert server.requests == []


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_hdf5_structure_check(tmp_path, libver):
    data = h5_bytes(tmp_path, size=100_000, libver=libver)
    good = tmp_path / "good.h5"
    good.write_bytes(data)
    assert cache._hdf5_problem(good, good.stat().st_size) is None
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[:-5000])
    assert cache._hdf5_problem(cut, cut.stat().st_size) == "truncated"
    html = tmp_path / "portal.h5"
    html.write_bytes(b"<html>Please log in to the campus Wi-Fi</html>" * 10)
    assert cache._hdf5_problem(html, html.stat().st_size) == "format"


def test_unwritable_cache_dir_is_a_clear_error(server, monkeypatch, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CNNVIZ_CACHE_DIR", str(blocker / "cache"))
    entry = pin(monkeypatch, "resnet50", b"z")
    server.serve(entry, b"z")
    with pytest.raises(cache.CacheError) as err:
        pretrained.fetch_weights("resnet50")
    assert "CNNVIZ_CACHE_DIR" in str(err.value) and str(blocker) in str(err.value)


def test_full_disk_is_a_clear_error(server, monkeypatch, cache_root):
    import collections

    data = os.urandom(2000)
    entry = pin(monkeypatch, "resnet50", data)
    server.serve(entry, data)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(cache.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(cache.CacheError) as err:
        pretrained.fetch_weights("resnet50")
    assert "disk space" in str(err.value)
    assert leftovers(cache_root) == []


def test_progress_callback_may_abort(server, monkeypatch, cache_root):
    """A page that goes away mid-download (its callback raises) leaves no partial file."""
    data = os.urandom(600_000)
    entry = pin(monkeypatch, "resnet50", data)
    server.serve(entry, data)

    def progress(done, total):
        if done > 100_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrained.fetch_weights("resnet50", progress=progress)
    assert leftovers(cache_root) == []


# --------------------------------------------------------------------------- labels

def test_labels_fetch_and_load(server, monkeypatch, cache_root):
    # Keras' index absent: no download attempt, and the names come from the installed package.
    assert pretrained.keras_labels() is None and pretrained.load_labels() == pretrained.installed_labels()
    assert server.requests == []
    data = class_index_bytes()
    entry = pin_labels(monkeypatch, data)
    server.serve(entry, data)
    path = pretrained.fetch_labels()
    assert path.name == "imagenet_class_index.json"
    assert server.requests == ["/mirror/download.tensorflow.org/data/imagenet_class_index.json"]
    labels = pretrained.load_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench" and labels[281] == "tabby" and labels[235] == "German shepherd"
    assert labels[999] == "toilet tissue"
    # damaged index: not read (the installed names again), and status says corrupt
    path.write_bytes(data[:-10])
    assert pretrained.keras_labels() is None and pretrained.load_labels() == pretrained.installed_labels()
    assert pretrained.status([pretrained.LABELS])[0].state == "corrupt"


# --------------------------------------------------------------------------- prefetch, clear

def test_prefetch_defaults_to_homework_models_and_labels(server, monkeypatch, cache_root):
    import cnnviz

    for i, name in enumerate(cnnviz.HOMEWORK_MODELS):
        data = f"weights of {name}".encode() * (i + 1)
        server.serve(pin(monkeypatch, name, data), data)
    labels = class_index_bytes()
    server.serve(pin_labels(monkeypatch, labels), labels)
    seen = []
    paths = pretrained.prefetch(progress=lambda entry, done, total: seen.append(entry.name))
    assert len(paths) == 5 and all(p.exists() for p in paths)
    assert set(seen) == {*cnnviz.HOMEWORK_MODELS, "labels"}
    assert len(server.requests) == 5
    assert pretrained.prefetch() == paths and len(server.requests) == 5  # nothing left to fetch


def test_prefetch_keeps_going_after_a_bad_file(server, monkeypatch, cache_root):
    good = b"good weights"
    server.serve(pin(monkeypatch, "vgg16", good), good)
    pin(monkeypatch, "resnet50", b"expected")  # not served: 404
    with pytest.raises(cache.DownloadError):
        pretrained.prefetch(["resnet50", "vgg16"])
    assert pretrained.status(["vgg16"])[0].state == "cached"


def test_clear_removes_only_cnnviz_files(server, monkeypatch, cache_root):
    a, b = b"a" * 1000, b"b" * 2000
    server.serve(pin(monkeypatch, "resnet50", a), a)
    server.serve(pin(monkeypatch, "vgg16", b), b)
    pretrained.prefetch(["resnet50", "vgg16"], labels=False)
    (cache_root / "README.md").write_text("keep me")
    (cache_root / "notes.txt").write_text("mine")
    stale = cache_root / ".resnet50_weights_tf_dim_ordering_tf_kernels.h5.123.456.part"
    stale.write_bytes(b"half")
    removed = pretrained.clear(["resnet50"])
    assert {r.path.name for r in removed} == {"resnet50_weights_tf_dim_ordering_tf_kernels.h5", stale.name}
    assert sum(r.size for r in removed) == 1000 + 4
    assert pretrained.status(["vgg16"])[0].state == "cached"
    pretrained.clear()
    assert sorted(p.name for p in cache_root.iterdir() if not p.name.startswith(".")) == ["README.md", "notes.txt"]
    installed = set(pretrained.installed_models())  # shipped in a package: never cleared by cnnviz
    assert all(s.state == "missing" for s in pretrained.status() if s.name not in installed)


# --------------------------------------------------------------------------- export / import

def _fill(server, monkeypatch, tmp_path) -> dict[str, bytes]:
    contents = {"resnet50": os.urandom(100_000), "convnexttiny": os.urandom(50_000),
                "mobilenetv2": h5_bytes(tmp_path, size=80_000)}
    for name, data in contents.items():
        digest = {"convnexttiny": "sha256", "mobilenetv2": None}.get(name, "md5")
        server.serve(pin(monkeypatch, name, data, digest=digest), data)
    labels = class_index_bytes()
    server.serve(pin_labels(monkeypatch, labels), labels)
    pretrained.prefetch(list(contents), labels=True)
    return contents


def test_export_import_round_trip(server, monkeypatch, cache_root, tmp_path):
    contents = _fill(server, monkeypatch, tmp_path)
    target = tmp_path / "out" / "cache.zip"
    exported = cache.export_zip(target, pretrained.all_records())
    assert {e.name for e in exported} == {*contents, "labels"}
    with zipfile.ZipFile(target) as zf:
        assert sorted(zf.namelist()) == sorted([pretrained.weights_file(n).filename for n in contents]
                                               + ["imagenet_class_index.json", cache.MANIFEST])
    pretrained.clear()
    assert all(s.state == "missing" for s in pretrained.status([*contents, "labels"]))
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")  # the classroom machine
    imported = cache.import_zip(target, pretrained.all_records())
    assert {e.name for e in imported} == {*contents, "labels"}
    for name, data in contents.items():
        assert pretrained.fetch_weights(name).read_bytes() == data
    assert all(s.state == "cached" for s in pretrained.verify())
    assert pretrained.load_labels()[281] == "tabby"
    assert leftovers(cache_root) == sorted([pretrained.weights_file(n).filename for n in contents]
                                           + ["imagenet_class_index.json"])


def test_export_leaves_out_corrupt_files_and_refuses_an_empty_cache(server, monkeypatch, cache_root, tmp_path):
    with pytest.raises(cache.CacheError) as err:
        cache.export_zip(tmp_path / "empty.zip", pretrained.all_records())
    assert "cache prefetch" in str(err.value) and not (tmp_path / "empty.zip").exists()
    a = os.urandom(1000)
    server.serve(pin(monkeypatch, "resnet50", a), a)
    pretrained.fetch_weights("resnet50")
    b = os.urandom(1000)
    server.serve(pin(monkeypatch, "vgg16", b), b)
    pretrained.fetch_weights("vgg16")
    pretrained.weights_file("vgg16").path.write_bytes(b"rotten")
    exported = cache.export_zip(tmp_path / "c.zip", pretrained.all_records())
    assert [e.name for e in exported] == ["resnet50"]


def _zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


@pytest.mark.parametrize("evil", ["../resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                                  "models_cache/../../resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                                  "/tmp/resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                                  "..\\resnet50_weights_tf_dim_ordering_tf_kernels.h5"])
def test_import_refuses_entries_escaping_the_cache(monkeypatch, cache_root, tmp_path, evil):
    data = b"payload"
    pin(monkeypatch, "resnet50", data)
    good = pretrained.labels_file().filename
    z = _zip(tmp_path / "evil.zip", {good: b"{}", evil: data})
    with pytest.raises(cache.ZipImportError) as err:
        cache.import_zip(z, pretrained.all_records())
    assert evil in str(err.value)
    assert leftovers(cache_root) == []
    assert not (tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5").exists()


def test_import_refuses_symlinks_and_unknown_files(monkeypatch, cache_root, tmp_path):
    z = _zip(tmp_path / "link.zip", {}, {"resnet50_weights_tf_dim_ordering_tf_kernels.h5": "/etc/passwd"})
    with pytest.raises(cache.ZipImportError) as err:
        cache.import_zip(z, pretrained.all_records())
    assert "symbolic link" in str(err.value)
    z = _zip(tmp_path / "unknown.zip", {"evil.sh": b"rm -rf ~"})
    with pytest.raises(cache.ZipImportError) as err:
        cache.import_zip(z, pretrained.all_records())
    assert "evil.sh" in str(err.value)
    assert leftovers(cache_root) == []
    not_zip = tmp_path / "photo.zip"
    not_zip.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    with pytest.raises(cache.ZipImportError):
        cache.import_zip(not_zip, pretrained.all_records())
    with pytest.raises(cache.ZipImportError):
        cache.import_zip(tmp_path / "missing.zip", pretrained.all_records())


def test_import_checks_hashes_all_or_nothing(monkeypatch, cache_root, tmp_path):
    good, expected = b"good", b"expected"
    pin(monkeypatch, "vgg16", good)
    pin(monkeypatch, "resnet50", expected)
    z = _zip(tmp_path / "mixed.zip", {pretrained.weights_file("vgg16").filename: good,
                                      pretrained.weights_file("resnet50").filename: b"tampered"})
    with pytest.raises(cache.HashMismatchError) as err:
        cache.import_zip(z, pretrained.all_records())
    assert "resnet50" in str(err.value)
    assert leftovers(cache_root) == []  # the good file was not installed either


def test_import_accepts_a_zipped_models_cache_folder(monkeypatch, cache_root, tmp_path):
    data = b"w" * 5000
    pin(monkeypatch, "resnet50", data)
    z = _zip(tmp_path / "folder.zip", {"models_cache/": b"", "models_cache/README.md": b"readme",
                                       "models_cache/resnet50_weights_tf_dim_ordering_tf_kernels.h5": data})
    [entry] = cache.import_zip(z, pretrained.all_records())
    assert entry.name == "resnet50" and entry.state == "cached"
    assert pretrained.fetch_weights("resnet50").read_bytes() == data


# --------------------------------------------------------------------------- a real Keras file

def test_real_keras_weights_file_round_trip(server, monkeypatch, cache_root, tmp_path):
    """A genuine Keras weights file (legacy HDF5, the format of Keras' downloads) built from a
    random-weights MobileNetV3Small, downloaded through the cache, loads into Keras."""
    import h5py
    import keras
    import numpy as np
    from keras.src.legacy.saving import legacy_h5_format

    source = keras.applications.MobileNetV3Small(weights=None)
    saved = tmp_path / "mnv3s.h5"
    with h5py.File(saved, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    data = saved.read_bytes()
    entry = pin(monkeypatch, "mobilenetv3small", data)
    server.serve(entry, data)
    path = pretrained.fetch_weights("mobilenetv3small")
    assert path.name == "weights_mobilenet_v3_small_224_1.0_float.h5"
    loaded = keras.applications.MobileNetV3Small(weights=str(path))
    for a, b in zip(source.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    [state] = pretrained.status(["mobilenetv3small"], verify=True)
    assert state.state == "cached"
    keras.backend.clear_session()


def test_every_cache_key_used_exists_in_both_languages():
    from cnnviz.i18n import catalog

    used = set()
    for path in (ROOT / "cnnviz" / "cache.py", ROOT / "cnnviz" / "commands" / "cache.py"):
        used |= set(__import__("re").findall(r"""["'](cache\.(?:error|hint|cli|state|problem)\.[a-z_]+)["']""",
                                             path.read_text()))
    assert len(used) > 20
    used |= {f"cache.state.{s}" for s in ("cached", "missing", "corrupt")}  # built from EntryStatus fields
    used |= {f"cache.problem.{p}" for p in ("hash", "truncated", "format")}
    for lang in ("en", "es"):
        assert used - set(catalog(lang)) == set(), lang
