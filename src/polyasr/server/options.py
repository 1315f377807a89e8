"""ServerOptions: the limits and behaviour of the HTTP service (re-exported by polyasr.server)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..transcriber import TranscribeOptions
from ..writers import WriterOptions


@dataclass(frozen=True)
class ServerOptions:
    """Limits and behaviour of the HTTP service."""

    model_alias: str = "xlsr-56"  # the model id GET /v1/models lists (requests may name any model)
    api_keys: tuple[str, ...] = ()  # accepted bearer keys for /v1/*; empty: no authentication
    max_upload_mb: float = 100.0  # largest upload in MiB (413 above); the whole request may be 64 KiB larger
    max_audio_seconds: float = 3 * 3600.0  # longest decoded audio (413 above)
    timeout_seconds: float = 600.0  # per request: decoding, waiting and inference (408 above)
    queue_size: int = 64  # requests waiting for the model at most (503 with Retry-After above)
    max_batch: int = 8  # transcription requests the model runs together at most
    batch_wait_ms: float = 10.0  # how long the worker waits for more requests to fill a batch
    retry_after_seconds: int = 2  # the Retry-After header of a 503
    writer: WriterOptions = field(default_factory=WriterOptions)  # subtitle layout of srt and vtt
    transcribe: TranscribeOptions | None = None  # windows, segments, VAD of every transcription (None: defaults)

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_audio_seconds", "timeout_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)}")
        if self.queue_size < 1 or self.max_batch < 1:
            raise ValueError(f"queue_size and max_batch must be at least 1, not {self.queue_size} and {self.max_batch}")
        if not self.batch_wait_ms >= 0 or self.retry_after_seconds < 0:
            raise ValueError("batch_wait_ms and retry_after_seconds must be 0 or more")
        if isinstance(self.api_keys, str):
            raise TypeError("api_keys must be a tuple of keys, not one string")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


