"""Issue 22: the intake's safety — server roots, regular files only, duplicate names and case-only
classes, zip bombs by ratio, the decode budget — and its memory, measured in a subprocess (RSS)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from PIL import Image
from test_homework_intake import good_members, make_zip, png

from cnnviz import homework, images
from cnnviz.homework import intake
from cnnviz.i18n import translate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_tree(base, members):
    for name, data in members.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def both_languages(key, **params):
    en, es = translate(key, "en", **params), translate(key, "es", **params)
    assert en and es and en != es and "{" not in en + es
    return en, es


def test_server_folder_only_under_configured_roots(tmp_path, monkeypatch):
    root = tmp_path / "shared"
    write_tree(root / "class1", {f"apples/a{i}.png": png((200, 30, 30), seed=i) for i in range(5)})
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "grades.xlsx").write_bytes(b"x")
    (root / "escape").symlink_to(tmp_path / "secret")
    monkeypatch.delenv(intake.ROOTS_VAR, raising=False)
    assert homework.server_roots() == []
    with pytest.raises(homework.DatasetError) as err:
        homework.server_folder("class1")
    assert err.value.key == "homework.error.no_roots"
    monkeypatch.setenv(intake.ROOTS_VAR, f"{root}{os.pathsep}{tmp_path / 'missing'}")
    assert homework.server_roots() == [root.resolve()]
    assert homework.server_folder("class1") == (root / "class1").resolve()
    assert homework.server_folder(str(root / "class1")) == (root / "class1").resolve()
    for bad in ("../secret", str(tmp_path / "secret"), "escape", "~", "~/x", "class1/../../secret", "/etc"):
        with pytest.raises(homework.DatasetError) as err:
            homework.server_folder(bad)
        assert err.value.key == "homework.error.outside_roots", bad
        assert err.value.message("es") != str(err.value)
    with pytest.raises(homework.DatasetError) as err:
        homework.server_folder("nope")
    assert err.value.key == "homework.error.not_found"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_fifo_and_device_in_a_folder_are_refused_within_a_second(tmp_path):
    members = {k: v for k, v in good_members().items() if not k.startswith("__MACOSX")}
    write_tree(tmp_path / "ds", members)
    os.mkfifo(tmp_path / "ds" / "apples" / "pipe.jpg")
    (tmp_path / "ds" / "pears" / "zero.png").symlink_to("/dev/zero")  # a link: refused as such
    t0 = time.monotonic()
    ds = homework.load_dataset(tmp_path / "ds")
    assert time.monotonic() - t0 < 10  # the whole small dataset; the FIFO itself is never opened
    keys = {r.path: r.key for r in ds.refused}
    assert keys["apples/pipe.jpg"] == "homework.refused.not_regular"
    assert keys["pears/zero.png"] == "homework.refused.link"
    assert ds.counts() == {"apples": 5, "pears": 5}
    both_languages("homework.refused.not_regular")
    # Opened directly (a file swapped for a FIFO after the walk): O_NONBLOCK + fstat, no hang.
    t0 = time.monotonic()
    with pytest.raises(OSError):
        intake.read_regular(tmp_path / "ds" / "apples" / "pipe.jpg", 1000)
    with pytest.raises(OSError):
        intake.read_regular("/dev/zero", 1000)
    assert time.monotonic() - t0 < 1.0


def test_duplicate_member_names_and_case_only_classes_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        for i in range(5):
            zf.writestr(f"apples/a{i}.png", png((200, 30, 30), seed=i))
            zf.writestr(f"pears/p{i}.png", png((30, 200, 30), seed=20 + i))
            zf.writestr(f"plums/p{i}.png", png((90, 30, 200), seed=40 + i))
            zf.writestr(f"Cat/c{i}.png", png((9, 9, 9), seed=60 + i))
            zf.writestr(f"cat/k{i}.png", png((250, 250, 9), seed=80 + i))
        zf.writestr("apples/a0.png", png((1, 1, 1), seed=99))  # the same name again
        zf.writestr("pears/P1.png", png((2, 2, 2), seed=98))   # the same name but for case
    ds = homework.load_dataset(buf.getvalue())
    assert ds.class_names == ["apples", "pears", "plums"]
    refused = [(r.path, r.key) for r in ds.refused]
    assert refused.count(("apples/a0.png", "homework.refused.duplicate_name")) == 1
    # names are taken in sorted order: "P1.png" sorts before "p1.png", which is refused naming it
    assert [r.params for r in ds.refused if r.path == "pears/p1.png"] == [{"first": "pears/P1.png"}]
    assert ("pears/p1.png", "homework.refused.duplicate_name") in refused
    assert {p for p, k in refused if k == "homework.refused.case_class"} == \
        {f"Cat/c{i}.png" for i in range(5)} | {f"cat/k{i}.png" for i in range(5)}
    assert len({it.path for it in ds.items}) == len(ds.items) == 15
    for r in ds.refused:
        assert r.message("en") != r.message("es")


def test_ratio_on_every_member_and_on_the_whole_archive():
    members = {**good_members(), "apples/zeros.png": bytes(512 * 1024)}  # small but 500:1
    ds = homework.load_dataset(make_zip(members))
    assert {r.path: r.key for r in ds.refused}["apples/zeros.png"] == "homework.refused.compresses_too_well"
    many = {f"c{i % 2}/z{i}.bin": bytes(64 * 1024 - i) for i in range(60)}  # each under MAX_RATIO, together not
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in many.items():
            zf.writestr(name, data)
    infos = zipfile.ZipFile(io.BytesIO(buf.getvalue())).infolist()
    if max(i.file_size / i.compress_size for i in infos) <= intake.MAX_RATIO:
        with pytest.raises(homework.ArchiveError) as err:
            homework.load_dataset(buf.getvalue())
        assert err.value.key == "homework.error.archive_ratio"
    both_languages("homework.error.archive_ratio", name="x.zip", ratio=900, limit=20)


def test_decode_budget_by_bytes_of_the_mode():
    buf = io.BytesIO()
    Image.new("RGBA", (8000, 8000), (1, 2, 3, 4)).save(buf, "PNG")  # 64 MP: under MAX_PIXELS, 244 MB RGBA
    t0 = time.monotonic()
    with pytest.raises(images.ImageError) as err:
        images.load_image(buf.getvalue())
    assert err.value.key == "images.error.too_much_memory" and time.monotonic() - t0 < 1.0
    assert err.value.message("es") != err.value.message("en")
    buf = io.BytesIO()
    Image.new("I;16", (6000, 6000)).save(buf, "PNG")  # 72 MB of 16-bit grey
    with pytest.raises(images.ImageError) as err:
        images.load_image(buf.getvalue())
    assert err.value.key == "images.error.too_much_memory"
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (9, 9, 9)).save(buf, "PNG")  # a 12 MP screenshot: 34 MB, fine
    assert images.load_image(buf.getvalue(), max_side=256).size == (256, 192)


def test_kept_at_the_budgeted_side_with_progress_and_stop():
    data = make_zip({f"c{c}/{i}.png": png((40 * c, 90, 200 - 40 * c), size=(640, 480), seed=10 * c + i)
                     for c in range(3) for i in range(6)})
    seen = []
    ds = homework.load_dataset(data, budget=18 * 120 * 120 * 3, on_progress=seen.append)
    assert ds.side == 120 and all(it.image.size == (120, 120) for it in ds.items)
    assert [w["key"] for w in ds.warnings][-1] == "homework.warn.small_side"
    assert [p["done"] for p in seen] == list(range(1, 19)) and seen[-1]["accepted"] == 18
    assert seen[-1]["eta_s"] == 0 and all(p["total"] == 18 for p in seen)
    assert homework.load_dataset(data).side == intake.MAX_SIDE
    with pytest.raises(homework.IntakeStopped) as err:
        homework.load_dataset(data, should_stop=lambda: len(seen) >= 20, on_progress=seen.append)
    assert err.value.key == "homework.error.stopped"
    both_languages("homework.error.stopped", done=2, total=18)


def test_folder_upload_files_are_read_like_the_zip():
    class Up(io.BytesIO):
        def __init__(self, name, data):
            super().__init__(data)
            self.name, self.size = name, len(data)

    members = {k: v for k, v in good_members().items() if v is not None}
    files = [Up("my_dataset/" + k, v) for k, v in members.items()]
    a = homework.load_dataset(files, name="my_dataset")
    b = homework.load_dataset(make_zip(members, wrapper="my_dataset/"))
    assert [(i.path, i.digest) for i in a.items] == [(i.path, i.digest) for i in b.items]
    assert {r.path: r.key for r in a.refused} == {r.path: r.key for r in b.refused}
    with pytest.raises(homework.ArchiveError):
        homework.load_dataset([Up("../x/y.png", png((0, 0, 0)))])


# --------------------------------------------------------------------------- memory, in a subprocess

HOSTILE = r'''
import io, json, resource, sys, zipfile, gc
import numpy as np
from PIL import Image
from cnnviz import homework

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

def peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024

kind = sys.argv[1]
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    if kind == "zeros":   # 400 members of 1 MiB of zeros
        for i in range(400):
            zf.writestr(f"c{i % 5}/z{i}.png", bytes(1024 * 1024))
    else:                 # 1,000 distinct flat 448x448 PNGs
        for i in range(1000):
            b = io.BytesIO()
            Image.new("RGB", (448, 448), (i % 256, (i // 256) * 40, 7)).save(b, "PNG")
            zf.writestr(f"c{i % 5}/f{i}.png", b.getvalue())
data = buf.getvalue()
gc.collect()
base, base_peak = rss_mb(), peak_mb()
out = {"zip_mb": len(data) / 2**20}
try:
    ds = homework.load_dataset(data)
    out.update(result="accepted", images=len(ds.items), side=ds.side, refused=len(ds.refused))
except homework.DatasetError as exc:
    out.update(result="refused", key=exc.key)
    ds = None
gc.collect()
out.update(held_mb=rss_mb() - base, peak_growth_mb=peak_mb() - base)
print(json.dumps(out))
'''


@pytest.mark.parametrize("kind", ["zeros", "flat_pngs"])
def test_hostile_zips_cost_at_most_200_mb(kind):
    proc = subprocess.run([sys.executable, "-c", HOSTILE, kind], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(kind, out)
    assert out["peak_growth_mb"] <= 200 and out["held_mb"] <= 200, out
    if kind == "zeros":
        assert out == {**out, "result": "refused", "key": "homework.error.archive_ratio"}
    else:
        assert out["result"] == "accepted" and out["images"] + out["refused"] == 1000


def test_a_finished_run_drops_its_reference_to_the_dataset(monkeypatch):
    import gc
    import weakref

    ds = homework.load_dataset(make_zip(good_members()))
    ref = weakref.ref(ds)

    class Manager:
        def submit(self, fn, **kw):
            self.fn = fn
            return types_run

    types_run = object()
    manager = Manager()
    got = []
    monkeypatch.setattr(homework, "run", lambda dataset, *a, **k: got.append(dataset.name) or {"ok": True})
    assert homework.start(manager, ds, ["mobilenetv3small"]) is types_run
    del ds
    gc.collect()
    assert ref() is not None  # queued: the job still needs it
    assert manager.fn(None) == {"ok": True} and got == ["dataset.zip"]
    gc.collect()
    assert ref() is None  # the manager may keep the job; the dataset is gone
