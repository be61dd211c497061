"""What inference hands back: the engine that answered (:class:`Engine`), the loaded model's
facts (:class:`LoadedModel`, one immutable record per engine load) and one answer
(:class:`Prediction`, with its JSON form both ways). No TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnviz.device import Device
from cnnviz.i18n import translate

def engine_label(engine: str, device_kind: str = "CPU", lang: str = "en") -> str:
    """An engine's name for people: "LiteRT · XNNPACK · CPU", "TensorFlow · GPU" (in ``lang``).

    ``engine``: "litert", "litert-int8", "litert-dynamic" or "tf"; ``device_kind``: "CPU" or "GPU". The one engine label of the
    pages, the CLI and :meth:`Engine.label`.
    """
    where = translate("infer.engine.gpu" if device_kind == "GPU" else "infer.engine.cpu", lang)
    key = {"litert": "infer.engine.litert", "litert-int8": "infer.engine.litert_int8",
           "litert-dynamic": "infer.engine.litert_dynamic"}.get(engine, "infer.engine.tf")
    return translate(key, lang, device=where)


@dataclass(frozen=True)
class Engine:
    """The runtime that answers for a predictor, and why it was chosen.

    Attributes:
        id: "litert", "litert-int8" (full-integer), "litert-dynamic" (dynamic-range) or "tf"
            (stable, for scripts and JSON).
        device_kind: "CPU" or "GPU" (LiteRT always runs on the CPU here).
        runtime: "ai-edge-litert", "tf.lite" (TensorFlow's fallback interpreter) or "tensorflow".
        requested: the ``engine`` asked for ("auto", "tf", "litert").
        why_key: i18n key saying why TensorFlow answers under "auto" (or a forced LiteRT's
            caveat); None when the choice needs no explanation.
        why_params: its placeholders (technical details stay in English).
        check: the engine check (LiteRT vs TensorFlow on the check image): ``agree``,
            ``reason``, ``max_diff``, ``atol`` (:func:`cnnviz.litert.tolerance` of ``tf_error`` and
            ``p_max``: TensorFlow's own float32 error in log-probability gaps on the check input
            against a float64 run, ``error_basis`` "float64", or against its other batch shape,
            ``tf_spread``, when the model cannot run in float64, "batch"; and its top
            probability), ``flat``; None if never run.
        threads: LiteRT's thread count.
        converted_s: seconds the conversion took when this load converted; None on a cache hit.
    """

    id: str
    device_kind: str
    runtime: str
    requested: str = "auto"
    why_key: str | None = None
    why_params: dict = field(default_factory=dict)
    check: dict | None = None
    threads: int | None = None
    converted_s: float | None = None

    @property
    def is_litert(self) -> bool:
        return self.id.startswith("litert")

    @property
    def is_quantized(self) -> bool:
        """int8 inside: "litert-int8" (full-integer) or "litert-dynamic" (int8 weights)."""
        return self.id in ("litert-int8", "litert-dynamic")

    def label(self, lang: str = "en") -> str:
        """"LiteRT · XNNPACK · CPU", "TensorFlow · GPU" (in ``lang``): :func:`engine_label`."""
        return engine_label(self.id, self.device_kind, lang)

    def reason(self, lang: str = "en") -> str | None:
        """Why this engine answers (a fallback's reason), or None."""
        return translate(self.why_key, lang, **self.why_params) if self.why_key else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label("en"), "device_kind": self.device_kind, "runtime": self.runtime,
                "requested": self.requested, "reason": self.reason("en"), "check": self.check,
                "threads": self.threads, "converted_s": self.converted_s}



@dataclass(frozen=True)
class LoadedModel:
    """What one engine load produced (immutable): the facts a :class:`Prediction` repeats.

    Attributes:
        engine: the :class:`Engine` that answers (and why).
        input_size: (H, W) the model takes.
        classes: length of its output vector.
        device: where it runs.
        first_call_ms: the first call after loading (tracing + compile, or LiteRT's first invoke).
        output_dtype: "float32", or "float16" under mixed precision (the probability-sum check's tolerance).
        applied_softmax: whether a softmax was added to a logits model.
    """

    engine: Engine
    input_size: tuple[int, int]
    classes: int
    device: Device
    first_call_ms: float
    output_dtype: str = "float32"
    applied_softmax: bool = False


@dataclass
class Prediction:
    """One model's answer for one image, with its timings.

    Attributes:
        model: registry name.
        display_name: name for people.
        weights: "imagenet" or None (random weights: the classes are meaningless).
        top5: ``[(label, probability, class index)]``, most probable first.
        probs: the full probability vector (float32, sums to 1).
        preprocess_ms: resize + crop + preprocess_input, in milliseconds.
        inference_ms: median of the ``runs`` timed calls of the compiled function.
        times_ms: every timed call, in order.
        runs: number of timed calls.
        first_call_ms: the first call when the predictor was built (tracing + compile).
        device: device label ("CPU", "GPU NVIDIA ... (16 GB)"), English.
        device_kind: "CPU" or "GPU".
        input_size: (H, W) the model saw.
        labels_available: whether the ImageNet class names were in the cache (otherwise
            labels read "class N").
        prob_sum: the sum of ``probs`` before any rounding, as a check.
        engine: the engine that answered: "litert" or "tf" (see :class:`Engine`).
        engine_label: its name for people, English ("LiteRT · XNNPACK · CPU", "TensorFlow · GPU").
        engine_note: why that engine answers (a fallback's reason, English), or None.
    """

    model: str
    display_name: str
    weights: str | None
    top5: list[tuple[str, float, int]]
    probs: np.ndarray
    preprocess_ms: float
    inference_ms: float
    times_ms: list[float]
    runs: int
    first_call_ms: float
    device: str
    device_kind: str
    input_size: tuple[int, int]
    labels_available: bool
    prob_sum: float
    engine: str = "tf"
    engine_label: str = "TensorFlow · CPU"
    engine_note: str | None = None

    @property
    def top1(self) -> tuple[str, float, int]:
        return self.top5[0]

    @property
    def random_weights(self) -> bool:
        return self.weights is None

    def to_dict(self, *, include_probs: bool = False) -> dict[str, Any]:
        """JSON-ready dict (the full probability vector only when asked)."""
        out = {
            "model": self.model,
            "display_name": self.display_name,
            "weights": self.weights or "random",
            "top5": [{"label": lbl, "prob": round(float(p), 6), "index": int(i)} for lbl, p, i in self.top5],
            "preprocess_ms": round(self.preprocess_ms, 3),
            "inference_ms": round(self.inference_ms, 3),
            "times_ms": [round(v, 3) for v in self.times_ms],
            "runs": self.runs,
            "first_call_ms": round(self.first_call_ms, 3),
            "device": self.device,
            "device_kind": self.device_kind,
            "input_size": list(self.input_size),
            "labels_available": self.labels_available,
            "prob_sum": round(self.prob_sum, 6),
            "engine": self.engine,
            "engine_label": self.engine_label,
            "engine_note": self.engine_note,
        }
        if include_probs:
            out["probs"] = [float(v) for v in self.probs]
        return out


    @classmethod
    def from_dict(cls, d: dict) -> "Prediction":
        """The inverse of :meth:`to_dict` (``include_probs=True``; without ``probs`` the vector is empty)."""
        return cls(
            model=d["model"], display_name=d["display_name"],
            weights=None if d.get("weights") in (None, "random") else d["weights"],
            top5=[(r["label"], float(r["prob"]), int(r["index"])) for r in d["top5"]],
            probs=np.asarray(d.get("probs", []), dtype=np.float32),
            preprocess_ms=float(d["preprocess_ms"]), inference_ms=float(d["inference_ms"]),
            times_ms=[float(v) for v in d["times_ms"]], runs=int(d["runs"]),
            first_call_ms=float(d["first_call_ms"]), device=d["device"], device_kind=d["device_kind"],
            input_size=tuple(d["input_size"]), labels_available=bool(d["labels_available"]),
            prob_sum=float(d["prob_sum"]), engine=d.get("engine") or "tf",
            engine_label=d.get("engine_label") or "TensorFlow · CPU", engine_note=d.get("engine_note"),
        )
