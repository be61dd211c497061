"""Homework intake: a zip the test builds, every outcome exact (no TensorFlow here)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnnviz import homework
from cnnviz.homework import intake


def png(color, size=(40, 30), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    a = np.clip(np.array(color)[None, None] + rng.normal(0, 20, (size[1], size[0], 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def jpeg(color, seed=0) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(png(color, seed=seed))).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def pixel_bomb() -> bytes:
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")  # 81 megapixels in a few KB
    return buf.getvalue()


def make_zip(members: dict[str, bytes | None], *, wrapper: str = "") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(wrapper + name.rstrip("/") + "/"), b"")
            else:
                zf.writestr(wrapper + name, data)
    return buf.getvalue()


def good_members() -> dict[str, bytes | None]:
    m: dict[str, bytes | None] = {}
    for i in range(5):
        m[f"apples/a{i}.png"] = png((200, 30, 30), seed=i)
        m[f"pears/p{i}.jpg"] = jpeg((40, 190, 40), seed=10 + i)
    m["apples/notes.txt"] = b"my homework notes\n"
    m["pears/broken.jpg"] = jpeg((40, 190, 40), seed=99)[:200]
    m["apples/huge.png"] = pixel_bomb()
    dup = png((1, 2, 3), seed=7)
    m["apples/same.png"] = dup
    m["pears/same_too.png"] = dup
    m["apples/a0_copy.png"] = m["apples/a0.png"]
    m["readme.md"] = b"# dataset"
    m["__MACOSX/apples/._a0.png"] = b"\x00\x05\x16\x07"
    m["apples/.DS_Store"] = b"\x00\x00"
    return m


EXPECTED_REFUSED = {
    "apples/a0_copy.png": "homework.refused.duplicate",
    "apples/huge.png": "images.error.too_many_pixels",
    "apples/notes.txt": "images.error.not_an_image",
    "apples/same.png": "homework.refused.duplicate_across",
    "pears/broken.jpg": "images.error.damaged",
    "pears/same_too.png": "homework.refused.duplicate_across",
    "readme.md": "homework.refused.no_class_folder",
}


def test_good_zip_with_bad_files_lists_each_refusal_exactly():
    ds = homework.load_dataset(make_zip(good_members(), wrapper="my_dataset/"))
    assert ds.class_names == ["apples", "pears"]
    assert ds.counts() == {"apples": 5, "pears": 5}
    assert sorted(it.path for it in ds.items) == sorted([f"apples/a{i}.png" for i in range(5)]
                                                        + [f"pears/p{i}.jpg" for i in range(5)])
    assert {r.path: r.key for r in ds.refused} == EXPECTED_REFUSED
    assert ds.ignored_system == 2
    assert sorted(map(sorted, ds.duplicates)) == [["apples/a0.png", "apples/a0_copy.png"],
                                                 ["apples/same.png", "pears/same_too.png"]]
    assert [w["key"] for w in ds.warnings] == ["homework.warn.few_classes", "homework.warn.duplicates"]
    for r in ds.refused:  # every reason reads in both languages
        assert r.message("en") and r.message("es") and r.message("en") != r.message("es")
    assert all(it.image.mode == "RGB" and max(it.image.size) <= intake.MAX_SIDE for it in ds.items)


def test_empty_class_refuses_the_dataset_and_names_it():
    members = {**good_members(), "plums/": None}
    with pytest.raises(homework.DatasetError) as err:
        homework.load_dataset(make_zip(members))
    assert err.value.key == "homework.error.too_few_images"
    assert "plums (0)" in str(err.value) and "apples" not in str(err.value)
    assert {r.path: r.key for r in err.value.dataset.refused} == EXPECTED_REFUSED
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("bad, key", [
    ({"../evil.png": png((0, 0, 0))}, "homework.error.escaping_member"),
    ({"/etc/evil.png": png((0, 0, 0))}, "homework.error.escaping_member"),
    ({"apples/more.zip": make_zip({"x/y.png": png((0, 0, 0))})}, "homework.error.nested_archive"),
    ({"apples/zeros.bmp": bytes(60 * 1024 * 1024)}, "homework.error.zip_bomb"),
])
def test_archive_level_refusals(bad, key):
    with pytest.raises(homework.ArchiveError) as err:
        homework.load_dataset(make_zip({**good_members(), **bad}))
    assert err.value.key == key
    assert err.value.message("es") != str(err.value)


def test_limits_on_member_count_and_declared_size(monkeypatch):
    data = make_zip(good_members())
    monkeypatch.setattr(intake, "MAX_MEMBERS", 5)
    with pytest.raises(homework.ArchiveError) as err:
        homework.load_dataset(data)
    assert err.value.key == "homework.error.too_many_files"
    monkeypatch.setattr(intake, "MAX_MEMBERS", 10_000)
    monkeypatch.setattr(intake, "MAX_TOTAL_BYTES", 1000)
    with pytest.raises(homework.ArchiveError) as err:
        homework.load_dataset(data)
    assert err.value.key == "homework.error.archive_inflates"


def test_not_a_zip_and_too_few_classes(tmp_path):
    with pytest.raises(homework.ArchiveError) as err:
        homework.load_dataset(b"this is not a zip")
    assert err.value.key == "homework.error.not_a_zip"
    with pytest.raises(homework.DatasetError) as err:
        homework.load_dataset(make_zip({f"only/{i}.png": png((9, 9, 9), seed=i) for i in range(6)}))
    assert err.value.key == "homework.error.too_few_classes"
    with pytest.raises(homework.DatasetError) as err:
        homework.load_dataset(tmp_path / "nope")
    assert err.value.key == "homework.error.not_found"


def test_server_folder_gives_the_same_as_the_zip(tmp_path):
    members = {k: v for k, v in good_members().items() if not k.startswith("__MACOSX")}
    for name, data in members.items():
        path = tmp_path / "ds" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tmp_path / "ds" / "pears" / "link.png").symlink_to(tmp_path / "ds" / "pears" / "p0.jpg")
    ds = homework.load_dataset(tmp_path / "ds")
    assert ds.counts() == {"apples": 5, "pears": 5}
    assert {r.path: r.key for r in ds.refused} == {**EXPECTED_REFUSED, "pears/link.png": "homework.refused.link"}


def test_split_is_stratified_seeded_and_disjoint():
    members = {f"c{c}/{i}.png": png((40 * c, 100, 200 - 40 * c), seed=100 * c + i) for c in range(5) for i in range(10)}
    ds = homework.load_dataset(make_zip(members))
    assert ds.warnings == []
    a, b, other = ds.split(0), ds.split(0), ds.split(1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], other[k]) for k in a)
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(50))
    assert ds.split_counts(0) == {f"c{c}": {"train": 6, "val": 2, "test": 2} for c in range(5)}


def test_demo_dataset_is_offline_real_and_labelled():
    ds = homework.load_sample()
    assert ds.demo and ds.description == "homework.sample.description"
    assert ds.num_classes == 5 and set(ds.counts().values()) == {20} and ds.refused == []
    assert len({it.digest for it in ds.items}) == len(ds.items)  # distinct scans, not crops of one picture
