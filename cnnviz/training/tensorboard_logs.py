"""TensorBoard logs of a run: where they go, reading them back, a zip to download, the view command.

The ``tensorboard`` callback option writes Keras' ``TensorBoard`` event files under the run's
folder, ``<run>/tensorboard/<model>/{train,validation}/`` (memory-only runs of the CLI:
``<cache root>/tensorboard/<run_id>/<model>/``). Writing needs only TensorFlow: the
``tensorboard`` pip package (TF 2.21 no longer installs it) is needed to *view* the logs,
not to write them (see :class:`cnnviz.training.fit.TensorBoardLogs`). No TensorFlow at import.
"""

from __future__ import annotations

import importlib.util
import io
import shlex
import zipfile
from pathlib import Path

from cnnviz import cache

DIRNAME = "tensorboard"


def log_root(run_dir: Path | None, run_id: str) -> Path:
    """Where a run's TensorBoard logs go (one sub-folder per model)."""
    return Path(run_dir) / DIRNAME if run_dir is not None else cache.cache_dir() / DIRNAME / run_id


def event_files(root: Path) -> list[Path]:
    """The event files under ``root`` (``events.out.tfevents.*``), sorted."""
    root = Path(root)
    return sorted(p for p in root.rglob("events.out.tfevents.*") if p.is_file()) if root.is_dir() else []


def viewer_installed() -> bool:
    """True when the ``tensorboard`` command (the pip package) is installed here."""
    return importlib.util.find_spec("tensorboard") is not None


def view_command(root: Path) -> str:
    """The shell command that opens the logs: ``tensorboard --logdir <root>``."""
    return f"tensorboard --logdir {shlex.quote(str(root))}"


def zip_logs(root: Path) -> bytes:
    """Every file under ``root`` as zip bytes, paths relative to ``root``'s parent (``tensorboard/...``)."""
    root = Path(root)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(root.parent).as_posix())
    return buf.getvalue()


def read_scalars(root: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """The scalars of every event file under ``root``: {"<model>/<train|validation>": {tag: [(step, value)]}}.

    Reads with TensorFlow's own event reader (no ``tensorboard`` package needed).
    """
    import tensorflow as tf  # heavy: only when logs are read back (tests, a notebook)

    root = Path(root)
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in event_files(root):
        series = out.setdefault(path.parent.relative_to(root).as_posix(), {})
        scalar_tags: set[str] = set()  # a tag's metadata (its plugin) may come with its first value only
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    scalar_tags.add(value.tag)
                if value.tag not in scalar_tags:
                    continue
                number = float(tf.make_ndarray(value.tensor)) if value.HasField("tensor") else value.simple_value
                series.setdefault(value.tag, []).append((int(event.step), number))
    return out
