"""The homework's acceptance criterion, evaluated on measured numbers (no TensorFlow).

Class 130: "ConvNeXt o EfficientNet deben ganar en accuracy; MobileNet en velocidad de
inference. ResNet sirve de baseline." Accuracy is the test accuracy after fine-tuning (after
feature extraction when fine-tuning did not run); speed is the median inference time per image.
"""

from __future__ import annotations

from cnnviz import HOMEWORK_MODELS, zoo
from cnnviz.i18n import translate

#: The criterion, once (the Classify page checks its own measurements against it too): these
#: families must win accuracy, this one speed; this one is the baseline.
ACCURACY_FAMILIES = ("ConvNeXt", "EfficientNet")
SPEED_FAMILIES = ("MobileNet",)
BASELINE_FAMILY = "ResNet"


def family(name: str) -> str | None:
    """The zoo family of ``name`` ("MobileNet" for "mobilenetv3small"); None outside the zoo."""
    try:
        return zoo.get_spec(name).family
    except Exception:  # a name the zoo does not know
        return None


def wins_accuracy(name: str) -> bool:
    """True when ``name`` is of a family the criterion wants to win accuracy (ConvNeXt, EfficientNet):
    the check of a page that compares any zoo models (Classify). A homework run's verdict holds
    its own four to the letter: :data:`ACCURACY_WINNERS`, :data:`SPEED_WINNER`."""
    return family(name) in ACCURACY_FAMILIES


def wins_speed(name: str) -> bool:
    """True when ``name`` is of the family the criterion wants to win speed (MobileNet)."""
    return family(name) in SPEED_FAMILIES


def _homework(families: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n for n in HOMEWORK_MODELS if family(n) in families)


FOUR = tuple(HOMEWORK_MODELS)
ACCURACY_WINNERS = _homework(ACCURACY_FAMILIES)            # ("efficientnetb0", "convnexttiny")
SPEED_WINNER = _homework(SPEED_FAMILIES)[0]                # "mobilenetv3small"
BASELINE = _homework((BASELINE_FAMILY,))[0]                # "resnet50"
_BY_FAMILY = {family(n): n for n in HOMEWORK_MODELS}


def display(name: str) -> str:
    try:
        return zoo.get_spec(name).display_name
    except Exception:  # a name the zoo does not know: itself
        return name


def final_accuracy(entry: dict) -> float | None:
    for key in ("ft_accuracy", "fe_accuracy"):
        v = entry.get(key)
        if v is not None and v == v:  # not NaN
            return float(v)
    return None


def evaluate(models: dict[str, dict], *, test_images: int | None = None, device: str = "CPU",
             random_weights: bool = False, seeds: int = 1) -> dict:
    """The verdict on ``models`` ({name: {"fe_accuracy", "ft_accuracy", "inference_ms", ...}}).

    Returns:
        {"status": "met" | "not_met" | "incomplete", "accuracy_winner", "accuracy_ok", "speed_winner",
        "speed_ok", "baseline", "reasons": [{"key", "params"}], "caveats": [{"key", "params"}]}.
        ``reasons`` explain the status; ``text(verdict, lang)`` renders it.
    """
    acc = {n: final_accuracy(m) for n, m in models.items()}
    acc = {n: a for n, a in acc.items() if a is not None}
    speed = {n: float(m["inference_ms"]) for n, m in models.items() if m.get("inference_ms") is not None}
    out: dict = {"status": "incomplete", "accuracy_winner": None, "accuracy_ok": None, "speed_winner": None,
                 "speed_ok": None, "baseline": None, "reasons": [], "caveats": []}
    missing = [n for n in FOUR if n not in acc or n not in speed]
    if acc:
        best = max(acc.values())
        tied = [n for n, a in acc.items() if abs(a - best) < 1e-9]
        out["accuracy_winner"] = tied[0] if len(tied) == 1 else tied
        out["accuracy_ok"] = any(n in ACCURACY_WINNERS for n in tied)
    if speed:
        out["speed_winner"] = min(speed, key=speed.get)
        out["speed_ok"] = out["speed_winner"] == SPEED_WINNER
    if missing:
        out["reasons"].append({"key": "homework.verdict.missing", "params": {"models": ", ".join(map(display, missing))}})
    else:
        best = max(acc.values())
        tied = [n for n, a in acc.items() if abs(a - best) < 1e-9]
        win_names = " = ".join(display(n) for n in tied)
        if out["accuracy_ok"]:
            key = "homework.verdict.acc_ok_tie" if len(tied) > 1 else "homework.verdict.acc_ok"
        else:
            key = "homework.verdict.acc_bad"
        out["reasons"].append({"key": key, "params": {"winner": win_names, "acc": f"{100 * best:.1f}",
                                                      "convnext": f"{100 * acc[_BY_FAMILY['ConvNeXt']]:.1f}",
                                                      "efficientnet": f"{100 * acc[_BY_FAMILY['EfficientNet']]:.1f}"}})
        fastest = out["speed_winner"]
        out["reasons"].append({"key": "homework.verdict.speed_ok" if out["speed_ok"] else "homework.verdict.speed_bad",
                               "params": {"winner": display(fastest), "ms": f"{speed[fastest]:.1f}",
                                          "mobilenet_ms": f"{speed[SPEED_WINNER]:.1f}"}})
        base = acc[BASELINE]
        out["baseline"] = {"model": BASELINE, "accuracy": base, "inference_ms": speed[BASELINE]}
        deltas = ", ".join(f"{display(n)} {100 * (a - base):+.1f}" for n, a in acc.items() if n != BASELINE)
        out["reasons"].append({"key": "homework.verdict.baseline", "params": {"acc": f"{100 * base:.1f}",
                                                                           "deltas": deltas}})
        out["status"] = "met" if out["accuracy_ok"] and out["speed_ok"] else "not_met"
    if random_weights:
        out["caveats"].append({"key": "homework.caveat.random", "params": {}})
    if test_images is not None:
        step = 100.0 / max(1, test_images)
        out["caveats"].append({"key": "homework.caveat.size", "params": {"n": test_images, "step": f"{step:.1f}"}})
    out["caveats"].append({"key": "homework.caveat.seed", "params": {"seeds": seeds}})
    out["caveats"].append({"key": "homework.caveat.device", "params": {"device": device}})
    return out


def text(verdict: dict, lang: str = "en") -> str:
    """One paragraph: the status line, then the reasons."""
    head = translate(f"homework.verdict.status_{verdict['status']}", lang)
    reasons = [translate(r["key"], lang, **r["params"]) for r in verdict.get("reasons", [])]
    return " ".join([head, *reasons])


def caveats(verdict: dict, lang: str = "en") -> list[str]:
    return [translate(c["key"], lang, **c["params"]) for c in verdict.get("caveats", [])]
