"""Prometheus metrics (prometheus-client, one registry per app) served at ``/metrics``, and the readiness check.

Counters and histograms are recorded by :class:`MetricsMiddleware`, the outermost ASGI layer, from
what the app sends: each HTTP request's route and status, its latency, and the close code of each
WebSocket. Refusals are counted by reason: ``413``, ``408``, ``503``, ``431`` (HTTP statuses),
``1009``, ``1013`` (stream close codes) and ``header_timeout`` (sockets closed before a request
head arrived, server/http.py). Gauges are read when scraped: the model queue (length, queued audio
seconds), decode-slot waiters, the worker's busy ratio, open streams and requests in progress.
Routes are labelled by their template (``/v1/models/{model_id}``), never by the raw path.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from .guard import ASGIApp, Message, Receive, Scope, Send

REFUSED_STATUSES = {408, 413, 431, 503}
REFUSED_CLOSES = {1009, 1013}
ROUTES = ("/v1/audio/transcriptions", "/v1/audio/language", "/v1/audio/stream", "/v1/models", "/v1/languages",
          "/health", "/health/ready", "/metrics", "/")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def route_label(path: str) -> str:
    """The route a path belongs to, with bounded cardinality."""
    if path.startswith("/v1/models/"):
        return "/v1/models/{model_id}"
    if path.startswith("/static/"):
        return "/static"
    return path if path in ROUTES else "other"


class Metrics:
    """The app's metrics; `gauges` are callables read at each scrape."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self.open_streams: set[Any] = set()  # the WebSocket streams open now (stream_route.py keeps it)
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("polyasr_requests", "HTTP requests and WebSocket streams by route and status (or close code)",
                                ("route", "status"), registry=self.registry)
        self.latency = Histogram("polyasr_request_seconds", "Time to the end of each HTTP response, by route", ("route",),
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.audio = Counter("polyasr_audio_seconds", "Seconds of audio transcribed or identified", registry=self.registry)
        self.refusals = Counter("polyasr_refusals", "Requests and streams refused by a limit, by reason", ("reason",),
                                registry=self.registry)
        for name, (description, read) in gauges.items():
            Gauge(name, description, registry=self.registry).set_function(read)
        self.socket_counters: dict[str, int] = {}  # server/http.py's counts of sockets it closed, by reason
        self.registry.register(_SocketCollector(self.socket_counters))

    def refused(self, reason: str | int, count: int = 1) -> None:
        self.refusals.labels(str(reason)).inc(count)

    def text(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class _SocketCollector(Collector):
    """Sockets closed before the app saw a request (header deadline, header size, idle-socket cap)."""

    def __init__(self, counters: dict[str, int]) -> None:
        self.counters = counters

    def collect(self) -> Any:
        family = CounterMetricFamily("polyasr_sockets_closed", "Sockets closed before a request reached the app, by reason",
                                     labels=("reason",))
        for reason, count in sorted(self.counters.items()):
            family.add_metric((reason,), count)
        yield family

    def describe(self) -> Any:
        return []


class MetricsMiddleware:
    """Counts every HTTP response (route, status, latency) and every WebSocket's close code."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        route, started, outcome = route_label(scope.get("path", "")), time.perf_counter(), {"status": None}

        async def watched(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                outcome["status"] = message["status"]
            elif kind == "websocket.close":
                outcome["status"] = message.get("code", 1000)
            elif kind == "websocket.accept":
                outcome["status"] = 101
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            status: Any = outcome["status"]
            if status is None:
                status = "disconnected" if scope["type"] == "http" else 1000
            self.metrics.requests.labels(route, str(status)).inc()
            if scope["type"] == "http":
                self.metrics.latency.labels(route).observe(time.perf_counter() - started)
            if status in REFUSED_STATUSES or status in REFUSED_CLOSES:
                self.metrics.refused(status)
