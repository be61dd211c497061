"""The Ray Serve application: inference for a department that outgrows one machine.

The same predictors as the app (:func:`cnnviz.infer.load_predictor`), wrapped as Ray Serve
deployments, ONE per model, each with ``@serve.batch`` (dynamic batching) and its own
replicas/autoscaling from a config file (``deploy/serve_config.yaml``). The app is their client
(:mod:`cnnviz.serving.remote`; the protocol is in its docstring).

Ray is an optional extra (``pip install -r requirements-serve.txt``): this module imports it
only inside functions, so the default install never needs it. Run it with::

    serve run deploy/serve_config.yaml                 # one machine (a local Ray is started)
    ray start --head; serve deploy deploy/serve_config.yaml   # a cluster (or KubeRay's RayService)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from cnnviz import HOMEWORK_MODELS, images, infer
from cnnviz.errors import UserFacingError
from cnnviz.serving.pool import default_weights
from cnnviz.serving.queue import predict_many
from cnnviz.training import trained


def make_predictor(name: str, weights: str | None = "auto", **options: Any):
    """The predictor a replica serves: ``weights`` "auto" (ImageNet when cached on this node,
    else random), "imagenet", None/"random", a model trained in a run ("run:<run_id>/<model>"),
    or a path to a ``.weights.h5`` file."""
    if weights == "auto":
        weights = default_weights([name])[name]
    file = model = None
    if trained.is_ref(weights):  # the run's .keras (the one parser of "run:<id>/<model>")
        model, weights = trained.load_model(weights), None
    elif weights not in (None, "random", "none", "imagenet"):
        file, weights = str(weights), None
    elif weights in ("random", "none"):
        weights = None
    if file is not None:
        from cnnviz import zoo

        model = zoo.create_model(name, weights=None)
        model.load_weights(file)
    return infer.load_predictor(name, weights, model=model, **options)


MAX_RUNS = 100  # ?runs= a request may ask for (timed repeats of one image)


class BadRequestError(UserFacingError):
    """A request the Serve app answers 400 (a bad parameter)."""


def parse_runs(value: str | None) -> int:
    """``?runs=``: a whole number 1..MAX_RUNS (blank: 1); anything else is a :class:`BadRequestError` (400)."""
    text = (value or "").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_RUNS:
        raise BadRequestError("serving.error.bad_param", name="runs", value=text[:40], accepted=f"1..{MAX_RUNS}")
    return int(text)


async def read_body(request, limit: int | None = None) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (``images.MAX_UPLOAD_BYTES``): a
    declared Content-Length over it before reading anything, a streamed body while it is read
    (:class:`cnnviz.images.ImageError` "too_large", answered 413), so a huge upload never sits in memory."""
    limit = images.MAX_UPLOAD_BYTES if limit is None else limit

    def too_large(size: int) -> images.ImageError:
        return images.ImageError("images.error.too_large", size_mb=f"{size / 2**20:.1f}", limit_mb=f"{limit / 2**20:.0f}")

    declared = (request.headers.get("content-length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared))
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large(total)
        chunks.append(chunk)
    return b"".join(chunks)


def _deployment_class(max_batch_size: int, batch_wait_timeout_s: float):
    from ray import serve  # optional extra: only where a deployment is built

    class ModelServer:
        """One model behind HTTP, batching concurrent requests (``@serve.batch``)."""

        def __init__(self, name: str, weights: str | None = "auto", engine: str = "auto") -> None:
            self.predictor = make_predictor(name, weights, engine=engine)

        @serve.batch(max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s)
        async def classify(self, images: list) -> list:
            import asyncio

            try:
                preds = await asyncio.to_thread(predict_many, self.predictor, images)
            except UserFacingError as exc:
                return [exc] * len(images)
            return [p.to_dict(include_probs=True) for p in preds]

        async def __call__(self, request):
            from starlette.responses import JSONResponse

            from cnnviz import images as imgs

            try:
                runs = parse_runs(request.query_params.get("runs"))
                image = imgs.load_image(await read_body(request))
                if runs != 1:
                    import asyncio

                    out = (await asyncio.to_thread(self.predictor.predict, image, runs)).to_dict(include_probs=True)
                else:
                    out = await self.classify(image)
                if isinstance(out, UserFacingError):
                    raise out
            except UserFacingError as exc:
                status = 413 if exc.key == "images.error.too_large" else 400
                return JSONResponse({"error": str(exc), "key": exc.key}, status_code=status)
            return JSONResponse(out)

    return ModelServer


def build_app(name: str, weights: str | None = "auto", *, engine: str = "auto", max_batch_size: int = 8,
              batch_wait_timeout_s: float = 0.005, num_replicas: int | str = 1, num_cpus: float = 1.0,
              max_ongoing_requests: int = 32):
    """The Ray Serve application of model ``name`` (bind it with ``serve.run`` or a config file).

    ``engine``: as :func:`cnnviz.infer.load_predictor`'s; "auto" follows ``CNNVIZ_ENGINE`` in the
    replica's environment (:func:`replica_env` forwards the driver's for a local Ray).
    """
    from ray import serve  # optional extra

    cls = _deployment_class(max_batch_size, batch_wait_timeout_s)
    deployment = serve.deployment(
        cls, name=f"cnnviz-{name}", num_replicas=num_replicas, max_ongoing_requests=max_ongoing_requests,
        ray_actor_options={"num_cpus": num_cpus},
    )
    return deployment.bind(name, weights, engine)


def app_builder(args: dict) -> Any:
    """Entry point for ``deploy/serve_config.yaml`` (``import_path: cnnviz.serving.ray_app:app_builder``).

    ``args``: ``model`` (required), ``weights`` ("auto"), ``engine`` ("auto": the replica's
    ``CNNVIZ_ENGINE``; "litert" or "tf" to choose), ``max_batch_size`` (8),
    ``batch_wait_timeout_s`` (0.005), ``num_cpus`` (1).
    """
    args = dict(args or {})
    name = args.pop("model")
    return build_app(name, args.pop("weights", "auto"), engine=str(args.pop("engine", "auto")),
                     max_batch_size=int(args.pop("max_batch_size", 8)),
                     batch_wait_timeout_s=float(args.pop("batch_wait_timeout_s", 0.005)),
                     num_cpus=float(args.pop("num_cpus", 1.0)))


def replica_env(root: str | None = None) -> dict[str, str]:
    """Environment for a local Ray's workers: this checkout on ``PYTHONPATH`` (replicas import
    this very cnnviz, not another installed copy) and every ``CNNVIZ_*`` setting of this process
    (``CNNVIZ_ENGINE``, ``CNNVIZ_CACHE_DIR``...), which Ray does not pass on by itself."""
    root = root or str(Path(__file__).resolve().parents[2])
    env = {k: v for k, v in os.environ.items() if k.startswith("CNNVIZ_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return env


def serve_local(names: Sequence[str] = HOMEWORK_MODELS, *, weights: str | dict | None = "auto", port: int = 8000,
                num_cpus: int = 2, max_batch_size: int = 8, batch_wait_timeout_s: float = 0.005,
                replica_cpus: float = 0.5) -> str:
    """Start a local Ray (``num_cpus`` capped) and Serve on ``port``, one app per model.

    Returns:
        The base URL to put in ``CNNVIZ_INFERENCE_URL``.
    """
    import ray
    from ray import serve

    if not ray.is_initialized():
        for attempt in range(3):
            try:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": replica_env()})
                break
            except Exception as exc:  # Ray gives its raylet 30 s to register: not enough on a loaded machine
                ray.shutdown()
                if attempt == 2 or "timed out during startup" not in str(exc):
                    raise
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    for name in names:
        w = weights.get(name, "auto") if isinstance(weights, dict) else weights
        serve.run(build_app(name, w, max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s,
                            num_cpus=replica_cpus),
                  name=name, route_prefix=f"/{name}", blocking=False)
    return f"http://127.0.0.1:{port}"


def shutdown_local() -> None:
    import contextlib
    import sys

    import ray
    from ray import serve

    # Ray's log monitor prints its actors' farewells on stdout: keep a --json report clean.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            serve.shutdown()
        finally:
            ray.shutdown()



__all__ = ["BadRequestError", "MAX_RUNS", "parse_runs", "read_body", "app_builder", "build_app", "make_predictor", "replica_env", "serve_local", "shutdown_local"]
