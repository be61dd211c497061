"""cnnviz.fileio: atomic writes leave the old file or the new one, never half; errors are typed."""

from __future__ import annotations

import errno
import json
import threading

import pytest

from cnnviz import fileio
from cnnviz.i18n import translate


def test_write_json_replaces_whole_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "a.json"
    fileio.write_json(target, {"b": 1, "a": [1, 2]}, sort_keys=True)
    assert json.loads(target.read_text()) == {"a": [1, 2], "b": 1}
    fileio.write_json(target, {"c": "ñ"}, ensure_ascii=False)
    assert json.loads(target.read_text(encoding="utf-8")) == {"c": "ñ"}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_a_failing_block_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.bin"
    fileio.write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_writer(target) as out:
            out.write(b"half")
            raise RuntimeError("writer died")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]
    with pytest.raises(TypeError):  # not serializable: nothing written at all
        fileio.write_json(target, {"x": object()})
    assert target.read_bytes() == b"old"


@pytest.mark.parametrize("code, cls, key", [(errno.ENOSPC, fileio.DiskFullError, "fileio.error.disk_full"),
                                            (errno.EACCES, fileio.FileWriteError, "fileio.error.write")])
def test_os_errors_become_one_typed_error(tmp_path, code, cls, key):
    target = tmp_path / "a.txt"
    with pytest.raises(cls) as info:
        with fileio.atomic_path(target):
            raise OSError(code, "boom")
    err = info.value
    assert type(err) is cls and isinstance(err, OSError) and err.errno == code and err.key == key
    assert err.message("es") == translate(key, "es", **err.params) != err.message("en")
    assert not any(tmp_path.iterdir())


def test_save_keras_writes_through_a_keras_named_temp(tmp_path):
    seen = []

    class Model:
        def save(self, path):
            seen.append(path)
            assert path.endswith(".keras")
            open(path, "wb").write(b"zip")

    out = fileio.save_keras(Model(), tmp_path / "m.keras")
    assert out.read_bytes() == b"zip" and seen[0] != str(out) and [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_hash_file_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "x"
    p.write_bytes(b"a" * 3_000_000)
    assert fileio.hash_file(p) == hashlib.sha256(p.read_bytes()).hexdigest()
    assert fileio.hash_file(p, "md5", block=1000) == hashlib.md5(p.read_bytes()).hexdigest()


def test_file_lock_excludes_other_threads(tmp_path):
    lock = tmp_path / "locks" / "x.lock"
    order = []
    with fileio.file_lock(lock):
        t = threading.Thread(target=lambda: fileio.file_lock(lock).__enter__() or order.append("other"))
        t.start()
        t.join(0.3)
        order.append("first")
    t.join(5)
    assert order == ["first", "other"] and lock.is_file()
