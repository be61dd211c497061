"""Which compute device the models run on: one :class:`Device` type, told two ways.

* :func:`probe` never imports TensorFlow: pages that need no model call it to fill the
  sidebar. If TensorFlow is already loaded (a model page ran), it is asked directly;
  otherwise ``nvidia-smi`` is queried once (2 s limit) and the answer cached.
* :func:`select_device` asks TensorFlow (importing it) for the device new predictors use:
  the first GPU (name, memory, compute capability, mixed precision), or the CPU and why.

``CNNVIZ_FORCE_CPU=1`` hides any GPU from both. Mixed precision (float16 compute, float32
variables) is chosen only on a GPU with compute capability ≥ 7.0 (tensor cores), unless
``CNNVIZ_MIXED_PRECISION=0``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache

from cnnviz import settings
from cnnviz.i18n import translate

#: Minimum compute capability for mixed precision to pay off (tensor cores: Volta, 7.0).
MIXED_PRECISION_MIN_CC = (7, 0)


@dataclass(frozen=True)
class Device:
    """A compute device: what the sidebar shows and where a predictor runs.

    Attributes:
        kind: "GPU" or "CPU".
        name: the GPU's name (``"NVIDIA A100-SXM4-40GB"``) or "CPU".
        tf_name: TensorFlow device string (``"/GPU:0"``, ``"/CPU:0"``).
        memory_mb: total GPU memory if known.
        compute_capability: (major, minor) of the GPU if known.
        mixed_precision: float16 compute with float32 variables and outputs.
        forced_cpu: the CPU was chosen by ``CNNVIZ_FORCE_CPU`` or a toggle although a GPU
            might exist.
        fallback: why a GPU was not used after all (English, for logs), or "".
        source: who told: "tensorflow", "nvidia-smi" or "none".
    """

    kind: str
    name: str
    tf_name: str = "/CPU:0"
    memory_mb: int | None = None
    compute_capability: tuple[int, int] | None = None
    mixed_precision: bool = False
    forced_cpu: bool = False
    fallback: str = ""
    source: str = "none"

    @property
    def is_gpu(self) -> bool:
        return self.kind == "GPU"

    def label(self, lang: str = "en") -> str:
        """Short human description: ``GPU NVIDIA T4 (15 GB, mixed precision)`` or ``CPU``."""
        if self.is_gpu:
            extras = []
            if self.memory_mb:
                extras.append(f"{self.memory_mb / 1024:.0f} GB")
            if self.mixed_precision:
                extras.append(translate("infer.device.mixed", lang))
            detail = f" ({', '.join(extras)})" if extras else ""
            return translate("infer.device.gpu", lang, name=self.name, detail=detail)
        if self.forced_cpu:
            return translate("infer.device.cpu_forced", lang)
        if self.fallback:
            return translate("infer.device.cpu_fallback", lang)
        return translate("infer.device.cpu", lang)


CPU = Device("CPU", "CPU", "/CPU:0")


def cpu_fallback(reason: str) -> Device:
    """The CPU, with why a GPU was not used (English, for logs)."""
    return Device("CPU", "CPU", "/CPU:0", fallback=reason)


def _env_forces_cpu() -> bool:
    return settings.env_bool("CNNVIZ_FORCE_CPU", False)


def force_cpu() -> bool:
    """Whether ``CNNVIZ_FORCE_CPU`` hides the GPU."""
    return _env_forces_cpu()


def mixed_precision_for(cc: tuple[int, int] | None) -> bool:
    """Mixed precision pays off from compute capability 7.0 (tensor cores), unless ``CNNVIZ_MIXED_PRECISION=0``."""
    return bool(cc and cc >= MIXED_PRECISION_MIN_CC) and settings.env_bool("CNNVIZ_MIXED_PRECISION", True)


def _parse_cc(text: str) -> tuple[int, int] | None:
    major, _, minor = text.strip().partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _nvidia_smi() -> Device | None:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    out = None
    # compute_cap needs a driver from 2021 on (510+); an older one refuses the field: ask without it.
    for fields in ("name,memory.total,compute_cap", "name,memory.total"):
        try:
            out = subprocess.run(
                [exe, f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=2, check=True,
            ).stdout.strip().splitlines()
            break
        except (OSError, subprocess.SubprocessError):
            continue
    if not out:
        return None
    parts = [p.strip() for p in out[0].split(",")]
    try:
        memory = int(float(parts[1])) if len(parts) > 1 else None
    except ValueError:
        memory = None
    cc = _parse_cc(parts[2]) if len(parts) > 2 else None
    return Device("GPU", parts[0], "/GPU:0", memory, compute_capability=cc, mixed_precision=mixed_precision_for(cc),
                  source="nvidia-smi")


def nvidia_smi() -> Device | None:
    """The first GPU as ``nvidia-smi`` reports it (name, total memory, compute capability), or None. Cached."""
    return _nvidia_smi()


def _from_tensorflow() -> Device | None:
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
        details = tf.config.experimental.get_device_details(gpus[0]) or {}
    except Exception:
        details = {}
    name = str(details.get("device_name") or gpus[0].name)
    cc = details.get("compute_capability")
    cc = tuple(int(v) for v in cc) if cc else None
    return Device("GPU", name, "/GPU:0", compute_capability=cc, mixed_precision=mixed_precision_for(cc),
                  source="tensorflow")


def probe() -> Device:
    """The device models will use, without importing TensorFlow."""
    if force_cpu():
        return CPU
    return _from_tensorflow() or _nvidia_smi() or CPU


def select_device(force_cpu: bool | None = None) -> Device:
    """The device new predictors use (imports TensorFlow unless the CPU is forced).

    Args:
        force_cpu: True forces the CPU; None reads ``CNNVIZ_FORCE_CPU``.

    Never raises: a broken CUDA setup means the CPU.
    """
    if force_cpu is None:
        force_cpu = _env_forces_cpu()
    if force_cpu:
        return Device("CPU", "CPU", "/CPU:0", forced_cpu=True)
    import tensorflow as tf  # heavy: TF, only when a model is about to run

    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception as exc:  # a broken driver must not take the app down
        return cpu_fallback(f"listing GPUs failed: {type(exc).__name__}: {exc}")
    if not gpus:
        return CPU
    try:
        details = tf.config.experimental.get_device_details(gpus[0]) or {}
    except Exception:
        details = {}
    name = str(details.get("device_name") or gpus[0].name)
    cc = details.get("compute_capability")
    cc = tuple(int(v) for v in cc) if cc else None
    try:  # total memory: TensorFlow only reports usage
        info = nvidia_smi()
        memory = info.memory_mb if info else None
    except Exception:
        memory = None
    mixed = mixed_precision_for(cc)
    return Device("GPU", name, "/GPU:0", memory_mb=memory, compute_capability=cc, mixed_precision=mixed,
                  source="tensorflow")
