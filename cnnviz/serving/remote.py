"""The HTTP client of a remote inference cluster (Ray Serve, :mod:`cnnviz.serving.ray_app`).

The app talks to the cluster over HTTP when ``CNNVIZ_INFERENCE_URL`` is set (:class:`InferenceClient`),
and answers in-process with a banner when that URL is unreachable (a URL found down is retried
after :data:`REMOTE_RETRY_S`).

Protocol (one application per model, route prefix ``/<model>``)::

    POST {CNNVIZ_INFERENCE_URL}/<model>?runs=N      body: the image (PNG/JPEG bytes)
    → 200 JSON: cnnviz.infer.Prediction.to_dict(include_probs=True)
    → 4xx/5xx JSON: {"error": message, "key": catalog key}

Nothing here imports Ray, TensorFlow or Streamlit.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from cnnviz.errors import UserFacingError
from cnnviz.infer import Prediction

#: Environment variable that points the app at a Ray Serve cluster (e.g. http://head:8000).
ENV_URL = "CNNVIZ_INFERENCE_URL"
#: Ray Serve's own liveness route on its HTTP proxy.
HEALTH_ROUTE = "/-/healthz"


class RemoteInferenceError(UserFacingError):
    """The inference server could not be reached or answered with an error."""

    def __init__(self, url: str, error: str) -> None:
        super().__init__("serving.remote_down", url=url, error=error)

#: Seconds a URL found unreachable is skipped before it is tried again.
REMOTE_RETRY_S = 30.0
_DOWN: dict[str, float] = {}
_DOWN_LOCK = threading.Lock()


def inference_url() -> str | None:
    """``CNNVIZ_INFERENCE_URL`` without a trailing slash, or None when inference is in-process."""
    url = os.environ.get(ENV_URL, "").strip().rstrip("/")
    return url or None


def encode_image(image) -> bytes:
    """Lossless PNG bytes of a PIL image (the replica decodes exactly the same pixels)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class InferenceClient:
    """Classifies through a Ray Serve cluster (the app uses it when ``CNNVIZ_INFERENCE_URL`` is set).

    Args:
        url: the Serve HTTP proxy, e.g. ``http://head:8000``.
        timeout: seconds per request.
    """

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(self.url + HEALTH_ROUTE, timeout=timeout) as r:
                return r.status == 200
        except (OSError, ValueError):
            return False

    def usable(self) -> bool:
        """False for :data:`REMOTE_RETRY_S` after :meth:`mark_down` (the app answers in-process meanwhile)."""
        with _DOWN_LOCK:
            since = _DOWN.get(self.url)
        return since is None or time.monotonic() - since > REMOTE_RETRY_S

    def mark_down(self) -> None:
        """Remember (process-wide) that this URL did not answer."""
        with _DOWN_LOCK:
            _DOWN[self.url] = time.monotonic()

    def classify(self, name: str, image, runs: int = 1) -> Prediction:
        """Model ``name``'s :class:`~cnnviz.infer.Prediction` for ``image``.

        Raises:
            RemoteInferenceError: unreachable, timed out, or an answer that is not a prediction.
        """
        query = urllib.parse.urlencode({"runs": int(runs)})
        req = urllib.request.Request(f"{self.url}/{name}?{query}", data=encode_image(image), method="POST",
                                     headers={"Content-Type": "image/png"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                data = json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read().decode("utf-8")).get("error") or str(exc)
            except Exception:  # a proxy's HTML error page
                detail = str(exc)
            raise RemoteInferenceError(self.url, detail) from exc
        except (OSError, ValueError) as exc:
            raise RemoteInferenceError(self.url, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(data, dict) or "top5" not in data:
            raise RemoteInferenceError(self.url, "the answer is not a prediction")
        return Prediction.from_dict(data)


def client() -> InferenceClient | None:
    """An :class:`InferenceClient` for ``CNNVIZ_INFERENCE_URL``, or None when it is not set."""
    url = inference_url()
    return InferenceClient(url) if url else None


__all__ = ["ENV_URL", "HEALTH_ROUTE", "InferenceClient", "REMOTE_RETRY_S", "RemoteInferenceError", "client",
           "encode_image", "inference_url"]
