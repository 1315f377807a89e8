"""ServerOptions, BatcherOptions and StreamLimits: the limits and behaviour of the HTTP service.

Re-exported by polyasr.server. Every limit is an option of `polyasr serve` (cli/serve.py); docs/server.md
lists what a client sees when it hits one, and the memory ceiling they set together. The model
worker's queue and batching (`BatcherOptions`) are defined once, here: the server holds one as
`ServerOptions.batcher` and hands it to its `Batcher` unchanged. Bad values raise OptionsError
when the options are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OptionsError
from ..options import TranscribeOptions
from ..output.base import WriterOptions


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")  # the default allowed Host names: a server on loopback


@dataclass(frozen=True)
class BatcherOptions:
    """How requests are queued and grouped for the model (the server's model worker, `Batcher`)."""

    queue_size: int = 64  # items (requests, calls) waiting for the model at most; more: QueueFullError (503 with Retry-After)
    max_queued_audio_seconds: float = 4 * 3600.0  # audio of the items waiting and running at most; more: QueueFullError (503)
    max_batch: int = 8  # transcription requests the worker runs together at most
    batch_wait_ms: float = 10.0  # how long the worker waits for more requests to fill a batch
    transcribe: TranscribeOptions | None = None  # windows, segments, VAD, decoder of every transcription (None: defaults)

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise OptionsError(f"queue_size must be at least 1, not {self.queue_size}")
        if not self.max_queued_audio_seconds > 0:
            raise OptionsError(f"max_queued_audio_seconds must be positive, not {self.max_queued_audio_seconds}")
        if self.max_batch < 1:
            raise OptionsError(f"max_batch must be at least 1, not {self.max_batch}")
        if not self.batch_wait_ms >= 0:
            raise OptionsError(f"batch_wait_ms must be 0 or more, not {self.batch_wait_ms}")


@dataclass(frozen=True)
class StreamLimits:
    """What one WebSocket client may do (each limit ends the stream with an error event and a close code)."""

    # streams open at once at most; more are closed with 1013 (try again later). Measured capacity
    # (benchmarks/streaming_capacity.py, full-size XLSR-53 architecture, bf16, 2 AMD EPYC cores with
    # avx512_bf16, no AMX): 6 real-time streams at p95 partial lag 1.03 s, none closed (docs/streaming.md)
    max_streams: int = 6
    message_kb: float = 256.0  # largest message in KiB (close 1009); 0.1 s of 48 kHz 16-bit audio is 9.4 KiB
    backlog_seconds: float = 30.0  # audio received but not yet decoded, per stream, at most (close 1013)
    idle_seconds: float = 30.0  # a stream that sends nothing (or no key) for this long is closed (1001)
    max_seconds: float = 3 * 3600.0  # a stream is closed this long after it opened (1008)
    auth_seconds: float = 5.0  # a stream must present its API key within this, before it takes a stream slot (1008)

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise OptionsError(f"max_streams must be at least 1, not {self.max_streams}")
        for name in ("message_kb", "backlog_seconds", "idle_seconds", "max_seconds", "auth_seconds"):
            value = getattr(self, name)
            if not value > 0:
                raise OptionsError(f"stream limit {name} must be positive, not {value}")

    @property
    def message_bytes(self) -> int:
        return int(self.message_kb * 1024)


@dataclass(frozen=True)
class ServerOptions:
    """Limits and behaviour of the HTTP service."""

    model_alias: str = ""  # the model id GET /v1/models lists (requests may name any model); "": app.model_alias
    api_keys: tuple[str, ...] = ()  # accepted bearer keys for /v1/*; empty: no authentication
    max_upload_mb: float = 100.0  # largest upload in MiB (413 above); the whole request may be 64 KiB larger
    max_spool_mb: float = 1024.0  # request bodies of all uploads in progress (temporary files) at most, in MiB (503 above)
    max_audio_seconds: float = 3 * 3600.0  # longest decoded audio (413 above; decoding stops there)
    timeout_seconds: float = 600.0  # per request: decoding, waiting and inference (408 above)
    decode_slots: int = 2  # uploads decoded at once at most; the others wait (within timeout_seconds)
    upload_timeout_seconds: float = 120.0  # a request body must arrive within this (408, connection closed)
    max_connections: int = 100  # requests and streams in progress at most (503 above; /health* and /metrics always answered)
    keep_alive_seconds: float = 5.0  # an idle keep-alive connection is closed after this (uvicorn's timeout_keep_alive)
    header_timeout_seconds: float = 10.0  # a connection's request line and headers must arrive within this (closed otherwise)
    max_header_kb: float = 64.0  # request line and headers at most, in KiB (431 and closed above)
    max_sockets: int = 1000  # open TCP connections at most; beyond, the one idle longest is closed
    shutdown_timeout_seconds: float = 30.0  # on SIGTERM, requests in progress may finish within this; then they are cancelled
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES  # names the Host header may carry (400/403 otherwise; "*": any)
    cors_origins: tuple[str, ...] = ()  # other origins whose pages may call the API ("*": any); the server's own page always may
    streams: StreamLimits = field(default_factory=StreamLimits)  # limits of WebSocket streams
    batcher: BatcherOptions = field(default_factory=BatcherOptions)  # the model queue, batching and transcription options
    retry_after_seconds: int = 2  # the Retry-After header of a 503
    writer: WriterOptions = field(default_factory=WriterOptions)  # subtitle layout of srt and vtt

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_spool_mb", "max_audio_seconds", "timeout_seconds", "upload_timeout_seconds", "keep_alive_seconds",
                     "header_timeout_seconds", "max_header_kb", "shutdown_timeout_seconds"):
            value = getattr(self, name)
            if not value > 0:
                raise OptionsError(f"{name} must be positive, not {value}")
        for name in ("decode_slots", "max_connections", "max_sockets"):
            value = getattr(self, name)
            if value < 1:
                raise OptionsError(f"{name} must be at least 1, not {value}")
        if not self.batcher.max_queued_audio_seconds >= self.max_audio_seconds:
            raise OptionsError(f"max_queued_audio_seconds ({self.batcher.max_queued_audio_seconds:g}) must be at least "
                               f"max_audio_seconds ({self.max_audio_seconds:g}), or the longest upload could never run")
        if self.max_spool_mb < self.max_upload_mb:
            raise OptionsError(f"max_spool_mb ({self.max_spool_mb:g}) must be at least max_upload_mb ({self.max_upload_mb:g}), "
                               "or the largest upload could never be received")
        if self.retry_after_seconds < 0:
            raise OptionsError(f"retry_after_seconds must be 0 or more, not {self.retry_after_seconds}")
        for name in ("api_keys", "cors_origins", "allowed_hosts"):
            if isinstance(getattr(self, name), str):
                raise OptionsError(f"{name} must be a tuple of strings, not one string ({getattr(self, name)!r})")
        if not self.allowed_hosts:
            raise OptionsError("allowed_hosts is empty: no request could be served (use '*' for any host)")
        for origin in self.cors_origins:
            if origin != "*" and "://" not in origin:
                raise OptionsError(f"cors_origins holds {origin!r}; each must be '*' or scheme://host[:port], "
                                   "e.g. https://example.com")

    @property
    def max_spool_bytes(self) -> int:
        return int(self.max_spool_mb * 1024 * 1024)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
