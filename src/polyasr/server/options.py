"""ServerOptions and StreamLimits: the limits and behaviour of the HTTP service (re-exported by polyasr.server).

Every limit is an option of `polyasr serve` (cli_serve.py); README lists what a client sees when it
hits one, and the memory ceiling they set together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..options import TranscribeOptions
from ..output.base import WriterOptions


@dataclass(frozen=True)
class StreamLimits:
    """What one WebSocket client may do (each limit ends the stream with an error event and a close code)."""

    max_streams: int = 8  # streams open at once at most; more are closed with 1013 (try again later)
    message_kb: float = 256.0  # largest message in KiB (close 1009); 0.1 s of 48 kHz 16-bit audio is 9.4 KiB
    backlog_seconds: float = 30.0  # audio received but not yet decoded, per stream, at most (close 1013)
    idle_seconds: float = 30.0  # a stream that sends nothing (or no key) for this long is closed (1001)
    max_seconds: float = 3 * 3600.0  # a stream is closed this long after it opened (1008)

    def __post_init__(self) -> None:
        if self.max_streams < 1:
            raise ValueError(f"max_streams must be at least 1, not {self.max_streams}")
        for name in ("message_kb", "backlog_seconds", "idle_seconds", "max_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"stream {name} must be positive, not {getattr(self, name)}")

    @property
    def message_bytes(self) -> int:
        return int(self.message_kb * 1024)


@dataclass(frozen=True)
class ServerOptions:
    """Limits and behaviour of the HTTP service."""

    model_alias: str = "xlsr-56"  # the model id GET /v1/models lists (requests may name any model)
    api_keys: tuple[str, ...] = ()  # accepted bearer keys for /v1/*; empty: no authentication
    max_upload_mb: float = 100.0  # largest upload in MiB (413 above); the whole request may be 64 KiB larger
    max_audio_seconds: float = 3 * 3600.0  # longest decoded audio (413 above; decoding stops there)
    timeout_seconds: float = 600.0  # per request: decoding, waiting and inference (408 above)
    queue_size: int = 64  # requests waiting for the model at most (503 with Retry-After above)
    max_queued_audio_seconds: float = 4 * 3600.0  # audio of waiting and running requests at most (503 above)
    decode_slots: int = 2  # uploads decoded at once at most; the others wait (within timeout_seconds)
    upload_timeout_seconds: float = 120.0  # a request body must arrive within this (408, connection closed)
    max_connections: int = 100  # open connections at most, streams included (uvicorn's limit_concurrency: 503)
    keep_alive_seconds: float = 5.0  # an idle keep-alive connection is closed after this (uvicorn's timeout_keep_alive)
    cors_origins: tuple[str, ...] = ()  # other origins whose pages may call the API ("*": any); the server's own page always may
    streams: StreamLimits = field(default_factory=StreamLimits)  # limits of WebSocket streams
    max_batch: int = 8  # transcription requests the model runs together at most
    batch_wait_ms: float = 10.0  # how long the worker waits for more requests to fill a batch
    retry_after_seconds: int = 2  # the Retry-After header of a 503
    writer: WriterOptions = field(default_factory=WriterOptions)  # subtitle layout of srt and vtt
    transcribe: TranscribeOptions | None = None  # windows, segments, VAD of every transcription (None: defaults)

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_audio_seconds", "timeout_seconds", "upload_timeout_seconds", "keep_alive_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.queue_size < 1 or self.max_batch < 1 or self.decode_slots < 1 or self.max_connections < 1:
            raise ValueError(f"queue_size, max_batch, decode_slots and max_connections must be at least 1, not "
                             f"{self.queue_size}, {self.max_batch}, {self.decode_slots} and {self.max_connections}")
        if not self.max_queued_audio_seconds >= self.max_audio_seconds:
            raise ValueError(f"max_queued_audio_seconds ({self.max_queued_audio_seconds:g}) must be at least "
                             f"max_audio_seconds ({self.max_audio_seconds:g}), or the longest upload could never run")
        if not self.batch_wait_ms >= 0 or self.retry_after_seconds < 0:
            raise ValueError("batch_wait_ms and retry_after_seconds must be 0 or more")
        for name in ("api_keys", "cors_origins"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a tuple of strings, not one string")
        for origin in self.cors_origins:
            if origin != "*" and "://" not in origin:
                raise ValueError(f"CORS origin {origin!r} must be '*' or scheme://host[:port], e.g. https://example.com")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
