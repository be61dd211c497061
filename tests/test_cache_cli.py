"""``python -m cnnviz cache ...``: real subprocesses where the process matters (JSON output,
exit codes, no TensorFlow import, offline behaviour, a real download from the loopback
server of tests/test_cache.py), in-process ``cli.main`` where the table must be
monkeypatched to the hashes of the bytes the test serves."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cnnviz import HOMEWORK_MODELS, cache, cli, datasets
from cnnviz.zoo import pretrained
from test_cache import (  # noqa: F401 - cache_root and server are fixtures shared with test_cache
    ZOO_KERAS_NAMES, Loopback, cache_root, class_index_bytes, h5_bytes, pin, pin_labels, server)

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m cnnviz cache <args>`` in a subprocess (``timeout``: a no-hang guard)."""
    return subprocess.run([sys.executable, "-m", "cnnviz", "cache", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The reason line: the last line on stderr, the only "error:" one (progress lines may precede it)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and "Traceback" not in proc.stderr, proc.stderr
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], proc.stderr
    return lines[-1]


# --------------------------------------------------------------------------- subprocesses

def test_status_json_on_a_fresh_cache(cache_root):
    proc = run_cli("status", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["cache_dir"] == str(cache_root) and data["offline"] is True and data["mirror"] is None
    entries = {e["name"]: e for e in data["entries"]}
    installed = set(pretrained.installed_models())  # weights that ship in an installed package
    assert set(entries) == {*ZOO_KERAS_NAMES, "labels", *datasets.RECORDS, *installed}
    for name, e in entries.items():
        if name in installed:  # present with the install, outside the cache, never downloaded
            assert e["state"] == "cached" and e["url"].startswith("pip:") and not e["path"].startswith(str(cache_root))
            continue
        assert e["state"] == "missing" and e["size"] is None
        if name in datasets.RECORDS:
            continue  # test_datasets_in_status_clear_export_import
        expected = pretrained.labels_file() if name == "labels" else pretrained.weights_file(name)
        assert e["path"] == str(cache_root / expected.filename)
        assert e["url"] == expected.url
    assert not cache_root.exists()  # looking does not create anything


def test_status_table_lists_every_model_with_its_path(cache_root):
    proc = run_cli("status")
    assert proc.returncode == 0, proc.stderr
    for name in ZOO_KERAS_NAMES:
        line = next(line for line in proc.stdout.splitlines() if line.split()[0] == name)
        assert "missing" in line and str(cache_root / pretrained.weights_file(name).filename) in line
    n_installed = len(pretrained.installed_models())  # shipped with the install: counted as cached
    assert f"{n_installed} of {25 + n_installed + len(datasets.records())} files cached" in proc.stdout
    assert "CNNVIZ_OFFLINE=1" in proc.stdout


def test_cli_path_does_not_import_tensorflow(cache_root):
    code = ("import sys, io, contextlib\n"
            "from cnnviz.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    rc = main(['cache', 'status', '--json'])\n"
            "    rc2 = main(['cache', 'verify'])\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'streamlit', 'h5py'})\n"
            "print(rc, rc2, heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "0 0 []", proc.stdout + proc.stderr


def test_prefetch_offline_ends_with_a_clear_message(cache_root):
    proc = run_cli("prefetch", timeout=60)
    assert proc.returncode == 1
    line = one_line_error(proc)
    first = HOMEWORK_MODELS[0]
    assert "CNNVIZ_OFFLINE=1" in line and str(cache_root / pretrained.weights_file(first).filename) in line
    assert f"cache prefetch {first}" in line and "cache import" in line and "CNNVIZ_WEIGHTS_MIRROR" in line


def test_prefetch_without_network_ends_with_a_clear_message(cache_root):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli("prefetch", env={"CNNVIZ_OFFLINE": "", "CNNVIZ_WEIGHTS_MIRROR": f"http://127.0.0.1:{port}/"},
                   timeout=60)
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "cannot be reached" in line and "127.0.0.1" in line and "cache import" in line


def test_prefetch_downloads_through_the_mirror(server, cache_root, tmp_path):
    """The real table, end to end: MobileNetV2's file (Keras pins no hash for it) from the loopback mirror."""
    data = h5_bytes(tmp_path, size=150_000)
    entry = pretrained.weights_file("mobilenetv2")
    server.serve(entry, data)
    proc = run_cli("prefetch", "mobilenetv2", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert server.requests == ["/mirror/tensorflow/keras-applications/mobilenet_v2/"
                               "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"]
    assert (cache_root / entry.filename).read_bytes() == data
    assert "Downloading mobilenetv2" in proc.stderr and str(cache_root / entry.filename) in proc.stdout
    status = json.loads(run_cli("status", "--json", "mobilenetv2").stdout)
    assert [e["state"] for e in status["entries"]] == ["cached"]


def test_prefetch_refuses_a_file_with_the_wrong_hash(server, cache_root):
    entry = pretrained.weights_file("resnet50")
    server.serve(entry, b"<html>captive portal login page</html>")
    proc = run_cli("prefetch", "resnet50", timeout=60)
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert entry.file_hash in line and "not kept" in line
    assert not (cache_root / entry.filename).exists()


def test_unknown_model_is_one_line(cache_root):
    proc = run_cli("clear", "alexnet")
    assert proc.returncode == 1
    assert "alexnet" in one_line_error(proc)


def test_missing_action_is_a_usage_error(cache_root):
    proc = run_cli()
    assert proc.returncode == 2 and "ACTION" in proc.stderr


# --------------------------------------------------------------------------- in process (patched table)

def _serve_homework(server, monkeypatch) -> dict[str, bytes]:
    contents = {}
    for i, name in enumerate(HOMEWORK_MODELS):
        data = os.urandom(20_000 * (i + 1))
        server.serve(pin(monkeypatch, name, data), data)
        contents[name] = data
    labels = class_index_bytes()
    server.serve(pin_labels(monkeypatch, labels), labels)
    return contents


def test_prefetch_verify_clear_in_process(server, monkeypatch, cache_root, capsys):
    contents = _serve_homework(server, monkeypatch)
    assert cli.main(["cache", "prefetch"]) == 0
    out, err = capsys.readouterr()
    assert "5 file(s) ready" in out
    for name in HOMEWORK_MODELS:
        assert f"Downloading {name}" in err
        assert (cache_root / pretrained.weights_file(name).filename).read_bytes() == contents[name]
    assert pretrained.load_labels()[281] == "tabby"

    assert cli.main(["cache", "verify"]) == 0
    # the four, the labels, and the weights that ship with the install
    assert f"{5 + len(pretrained.installed_models())} file(s) hash-checked, all intact" in capsys.readouterr().out

    bad = pretrained.weights_file("convnexttiny").path
    bad.write_bytes(b"bit rot")
    assert cli.main(["cache", "verify"]) == 1
    out, err = capsys.readouterr()
    assert "corrupt" in out and bad.name in err and "cache prefetch convnexttiny" in err

    assert cli.main(["cache", "status"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("convnexttiny"))
    assert "corrupt" in line

    assert cli.main(["cache", "prefetch", "convnexttiny"]) == 0  # replaces the damaged copy
    capsys.readouterr()
    assert bad.read_bytes() == contents["convnexttiny"]

    assert cli.main(["cache", "clear", "resnet50"]) == 0
    assert "Removed 1 file(s) (0.0 MB)" in capsys.readouterr().out
    assert not pretrained.weights_file("resnet50").path.exists()
    assert cli.main(["cache", "clear"]) == 0
    assert "Removed 4 file(s)" in capsys.readouterr().out
    installed = set(pretrained.installed_models())  # shipped in a package: cnnviz never clears it
    assert all(s.state == "missing" for s in pretrained.status() if s.name not in installed)


def test_export_import_in_process(server, monkeypatch, cache_root, tmp_path, capsys):
    contents = _serve_homework(server, monkeypatch)
    assert cli.main(["cache", "prefetch"]) == 0
    target = tmp_path / "classroom.zip"
    assert cli.main(["cache", "export", str(target)]) == 0
    assert "Exported 5 file(s)" in capsys.readouterr().out
    assert cli.main(["cache", "clear"]) == 0
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    assert cli.main(["cache", "import", str(target)]) == 0
    assert "Imported 5 file(s)" in capsys.readouterr().out
    for name, data in contents.items():
        assert pretrained.fetch_weights(name).read_bytes() == data

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../etc/cron.d/x", b"* * * * * root rm -rf /")
    assert cli.main(["cache", "import", str(evil)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "../../etc/cron.d/x" in err


def test_status_in_spanish(cache_root, monkeypatch, capsys):
    monkeypatch.setenv("CNNVIZ_LANG", "es")
    assert cli.main(["cache", "status"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["MODELO", "ESTADO", "TAMAÑO"]
    assert "falta" in out and "archivos en caché" in out


# --------------------------------------------------------------------------- datasets

def _serve_dataset(server, monkeypatch, name: str, data: bytes) -> cache.FileRecord:
    """Pin dataset ``name`` to one file of ``data`` (same name and URL as the real one) and serve it."""
    real = datasets.RECORDS[name][0]
    record = cache.FileRecord(real.url, real.filename, pin_hash(data), name=name)
    monkeypatch.setitem(datasets.RECORDS, name, (record,))
    server.serve(record, data)
    return record


def pin_hash(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_datasets_in_status_prefetch_clear_export_import(server, monkeypatch, cache_root, tmp_path, capsys):
    cifar = _serve_dataset(server, monkeypatch, "cifar10", b"cifar archive bytes" * 100)
    mnist = _serve_dataset(server, monkeypatch, "mnist", b"mnist npz bytes" * 100)
    # named by the dataset, as weights are by the model; 'datasets' stands for all of them
    assert cli.main(["cache", "prefetch", "cifar10"]) == 0
    out, err = capsys.readouterr()
    assert "Downloading cifar10" in err and "1 file(s) ready" in out
    assert server.requests == ["/mirror/www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"]  # mirror keeps the host
    assert cli.main(["cache", "status", "--json", "datasets"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    states = {e["name"]: e["state"] for e in entries}
    assert states == {"cifar10": "cached", "mnist": "missing", "fashion_mnist": "missing"}
    assert cli.main(["cache", "status", "--json"]) == 0  # no names: datasets beside the models
    assert {"cifar10": "cached", "labels": "missing"}.items() <= {
        e["name"]: e["state"] for e in json.loads(capsys.readouterr().out)["entries"]}.items()
    assert cli.main(["cache", "prefetch", "datasets"]) == 1  # Fashion-MNIST's files are not served
    capsys.readouterr()
    assert mnist.path.read_bytes() == b"mnist npz bytes" * 100

    # a zip carries them to a machine without network; clear removes the file and its parsed arrays
    target = tmp_path / "classroom.zip"
    assert cli.main(["cache", "export", str(target)]) == 0
    assert "Exported 2 file(s)" in capsys.readouterr().out
    assert sorted(zipfile.ZipFile(target).namelist()) == sorted([cifar.filename, mnist.filename, cache.MANIFEST])
    arrays = datasets.arrays_path("cifar10")
    arrays.parent.mkdir(parents=True)
    arrays.write_bytes(b"parsed")
    assert cli.main(["cache", "clear", "cifar10"]) == 0
    assert "Removed 2 file(s)" in capsys.readouterr().out
    assert not cifar.path.exists() and not arrays.exists() and mnist.path.exists()
    assert cli.main(["cache", "clear"]) == 0
    capsys.readouterr()
    assert not mnist.path.exists()
    monkeypatch.setenv("CNNVIZ_OFFLINE", "1")
    assert cli.main(["cache", "import", str(target)]) == 0
    assert "Imported 2 file(s)" in capsys.readouterr().out
    assert cache.fetch(cifar).read_bytes() == b"cifar archive bytes" * 100
    assert cli.main(["cache", "verify", "datasets"]) == 0
    assert "2 file(s) hash-checked, all intact" in capsys.readouterr().out


def test_cache_help_documents_dataset_names(cache_root):
    proc = run_cli("status", "--help")
    assert proc.returncode == 0 and "cifar10" in proc.stdout and "'datasets'" in proc.stdout
    proc = run_cli("--help")
    assert "fashion_mnist" in proc.stdout and "prefetch" in proc.stdout
