"""Dataset intake of a real homework: 250 phone photos (12 MP JPEGs, ~1 GB) as a zip, a folder
and a folder upload, each read by :func:`cnnviz.homework.load_dataset` in a fresh subprocess that
reports its wall time and peak RSS (``VmHWM``) over its RSS before reading.

The photos are built from scikit-image's sample photographs (astronaut, coffee, chelsea, rocket,
...), resized to 4032×3024, with sensor-like noise so each JPEG weighs what a phone's does
(~4 MB at quality 88, ~1 GB in all): 25 distinct photos, each file made distinct by a JPEG comment (its own
hash, the same decoding work), so building them takes a minute, not half an hour. They are written once under ``<tmp>/cnnviz-bench-intake/`` (reused).
Targets (issue 22): ≤ 60 s on the 2-core machine; peak growth ≤ 800 MB over the bytes read
(for the folder upload, the uploaded bytes are in memory before the intake starts: the
baseline includes them). Runs only with ``CNNVIZ_BENCH_INTAKE=1`` (minutes to build the photos).

``python -m cnnviz.bench.intake [N]`` prints the JSON of :func:`measure_all` without TensorFlow.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from cnnviz import settings
from cnnviz.bench.base import Context, Section

PHOTOS, CLASSES, SIZE, DISTINCT = 250, 5, (4032, 3024), 25


def photo_folder(n: int = PHOTOS, classes: int = CLASSES) -> Path:
    """``n`` phone-size JPEGs in ``classes`` folders (built once; reused)."""
    import numpy as np
    from PIL import Image
    from skimage import data as skdata

    root = Path(tempfile.gettempdir()) / "cnnviz-bench-intake" / f"photos-{n}"
    done = root / ".complete"
    if done.is_file():
        return root
    names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"]
    bases = []
    for name in names:
        try:
            a = getattr(skdata, name)()
        except Exception:  # a sample that needs a download (pooch) when offline
            continue
        if a.ndim == 3 and a.shape[2] == 3:
            bases.append(Image.fromarray(a).resize(SIZE, Image.Resampling.BICUBIC))
    rng = np.random.default_rng(0)
    distinct = []  # 25 distinct photos (encoding 12 MP is what takes the time to build them) ...
    for k in range(min(n, DISTINCT)):
        base = bases[k % len(bases)]
        a = np.asarray(base.rotate(int(rng.integers(-8, 8)), resample=Image.Resampling.BILINEAR), dtype=np.int16)
        a = np.clip(a + rng.normal(0, 9, (SIZE[1], SIZE[0], 1)).astype(np.int16), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "JPEG", quality=88)
        distinct.append(buf.getvalue())
    for i in range(n):
        # ... and each file its own bytes (a JPEG comment after SOI): distinct hashes, the same decoding work
        jpeg = distinct[i % len(distinct)]
        note = f"cnnviz bench photo {i}".encode()
        body = jpeg[:2] + b"\xff\xfe" + (len(note) + 2).to_bytes(2, "big") + note + jpeg[2:]
        out = root / f"class{i % classes}" / f"IMG_{i:04d}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(body)
    done.write_text("ok")
    return root


def photo_zip(folder: Path) -> Path:
    """The folder as a stored zip (scratch data in the temp folder: a marker says it is complete)."""
    path, done = folder.with_suffix(".zip"), folder.with_suffix(".zip-complete")
    if not done.is_file():
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            for f in sorted(folder.rglob("*.jpg")):
                zf.write(f, "photos/" + str(f.relative_to(folder)))
        done.write_text("ok")
    return path


_CHILD = r'''
import io, json, sys, time, gc
from pathlib import Path
from cnnviz import homework
from cnnviz.bench.machine import rss_mb

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024

mode, path = sys.argv[1], Path(sys.argv[2])
src, read = path, path.stat().st_size
if mode == "upload":  # what a folder upload hands the page: every file's bytes in memory
    class Up(io.BytesIO):
        def __init__(self, name, data):
            super().__init__(data); self.name, self.size = name, len(data)
    src = [Up("photos/" + str(f.relative_to(path)), f.read_bytes()) for f in sorted(path.rglob("*.jpg"))]
    read = sum(f.size for f in src)
elif mode == "folder":
    read = sum(f.stat().st_size for f in path.rglob("*.jpg"))
gc.collect()
base = rss_mb()
t0 = time.perf_counter()
ds = homework.load_dataset(src)
secs = time.perf_counter() - t0
peak = hwm()
print(json.dumps({"mode": mode, "seconds": round(secs, 1), "images": len(ds.items), "side": ds.side,
                  "read_mb": round(read / 2**20), "rss_before_mb": round(base), "peak_growth_mb": round(peak - base),
                  "held_after_mb": round(rss_mb() - base)}))
'''


def measure_one(mode: str, path: Path) -> dict:
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path)], capture_output=True, text=True,
                          cwd=root, timeout=1800)
    if proc.returncode != 0:
        return {"mode": mode, "error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_all(n: int = PHOTOS) -> dict:
    folder = photo_folder(n)
    out = {"photos": n, "load": os.getloadavg()[0], "cpus": os.cpu_count(),
           "runs": [measure_one("zip", photo_zip(folder)), measure_one("folder", folder),
                    measure_one("upload", folder)]}
    out["load_after"] = os.getloadavg()[0]
    return out


def measure(ctx: Context) -> dict:
    ctx.log("intake: building/reading 250 phone photos (subprocesses)")
    return {"intake": measure_all()}


def lines(report: dict) -> list[str]:
    r = report.get("intake") or {}
    out = [f"\nintake ({r.get('photos')} phone photos, load {r.get('load', 0):.1f} → {r.get('load_after', 0):.1f}, "
           f"{r.get('cpus')} CPUs; targets ≤ 60 s, peak growth ≤ 800 MB over what is read):"]
    for run in r.get("runs", []):
        if "error" in run:
            out.append(f"  {run['mode']:<7} error: {run['error']}")
            continue
        out.append(f"  {run['mode']:<7} {run['seconds']:6.1f} s · {run['images']} images at {run['side']} px · read "
                   f"{run['read_mb']} MB · RSS before {run['rss_before_mb']} MB, peak +{run['peak_growth_mb']} MB, "
                   f"held +{run['held_after_mb']} MB")
    return out


SECTION = Section("intake", measure, lines, when=lambda ctx: settings.env_bool("CNNVIZ_BENCH_INTAKE", False))

if __name__ == "__main__":
    print(json.dumps(measure_all(int(sys.argv[1]) if len(sys.argv) > 1 else PHOTOS), indent=2))
