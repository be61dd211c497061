"""Which compute device the models run on, told cheaply.

``probe()`` never imports TensorFlow: pages that need no model call it to fill
the sidebar. If TensorFlow is already loaded (a model page ran), it is asked
directly; otherwise ``nvidia-smi`` is queried once (2 s limit) and the answer
cached. ``CNNVIZ_FORCE_CPU=1`` hides any GPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "GPU" or "CPU"
    name: str  # e.g. "NVIDIA A100-SXM4-40GB" or "CPU"
    memory_mb: int | None = None
    source: str = "none"  # "tensorflow", "nvidia-smi" or "none"

    @property
    def is_gpu(self) -> bool:
        return self.kind == "GPU"


CPU = DeviceInfo("CPU", "CPU", None, "none")


def force_cpu() -> bool:
    return os.environ.get("CNNVIZ_FORCE_CPU", "").strip().lower() in {"1", "true", "yes"}


@lru_cache(maxsize=1)
def _nvidia_smi() -> DeviceInfo | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=2, check=True,
        ).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out:
        return None
    name, _, mem = out[0].partition(",")
    try:
        memory = int(float(mem.strip()))
    except ValueError:
        memory = None
    return DeviceInfo("GPU", name.strip(), memory, "nvidia-smi")


def nvidia_smi() -> DeviceInfo | None:
    """The first GPU as ``nvidia-smi`` reports it (name, total memory), or None. Cached."""
    return _nvidia_smi()


def _from_tensorflow() -> DeviceInfo | None:
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return None
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception:  # a broken CUDA install must not break the sidebar
        return None
    if not gpus:
        return CPU
    try:
        details = tf.config.experimental.get_device_details(gpus[0])
        name = details.get("device_name", gpus[0].name)
    except Exception:
        name = gpus[0].name
    return DeviceInfo("GPU", name, None, "tensorflow")


def probe() -> DeviceInfo:
    """The device models will use, without importing TensorFlow."""
    if force_cpu():
        return CPU
    return _from_tensorflow() or _nvidia_smi() or CPU
