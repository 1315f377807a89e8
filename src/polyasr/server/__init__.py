"""polyasr's HTTP service: an OpenAI-compatible transcription API (needs the `server` extra).

    from polyasr.server import create_app, ServerOptions
    app = create_app(polyasr.load(), ServerOptions(api_keys=("secret",)))

See app.py (the app), routes.py (/v1), batcher.py (one model worker, shared batches, fair to streams),
errors.py (status codes), guard.py (origins, API keys, size and upload-time limits), stream_route.py (WebSocket),
stream_passes.py (the streams' updates run together in shared passes),
options.py (every limit, the batcher's included), logs.py (secrets redacted from logs, JSON lines), http.py (limits before
the app: header deadline and size, idle sockets, graceful shutdown), metrics.py (/metrics, Prometheus), slots.py (decode slots, smallest upload first), schedule.py (the worker's queues and policy: pass by pass, shortest first), sse.py (stream=true events as windows finish) and cli/serve.py
(`polyasr serve`). `polyasr serve --ray` (the serve-ray extra): ray_serve.py (the Ray Serve application: the ingress
and the model replicas), replicas.py (the ingress's batcher and model with the work on replicas), scaling.py
(ModelSpec, ScalingOptions: replicas, autoscaling, CPUs and GPUs each).
"""

from __future__ import annotations

import importlib
from typing import Any

from .options import BatcherOptions, ServerOptions, StreamLimits

# Imported on first use, so that `polyasr transcribe` (which builds the serve command's parser)
# does not load FastAPI.
_LAZY = {
    "create_app": ".app",
    "Batcher": ".batcher",
    "BatcherStats": ".batcher",
    "QueueFullError": ".batcher",
    "api_key_valid": ".guard",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Batcher", "BatcherOptions", "BatcherStats", "QueueFullError", "ServerOptions", "StreamLimits", "api_key_valid",
           "create_app"]
