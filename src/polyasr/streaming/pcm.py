"""Raw PCM bytes from a live client -> 16 kHz mono float32: `PcmDecoder`, `PCM_FORMATS`."""

from __future__ import annotations

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..audio.resample import StreamResampler
from ..errors import OptionsError

PCM_FORMATS: dict[str, tuple[str, float]] = {  # format name -> (numpy dtype, scale to [-1, 1])
    "pcm_s16le": ("<i2", 1 / 32768),
    "f32le": ("<f4", 1.0),
}


class PcmDecoder:
    """Raw little-endian PCM bytes, split anywhere, -> 16 kHz mono float32."""

    def __init__(self, format: str = "pcm_s16le", sample_rate: int = SAMPLE_RATE, channels: int = 1) -> None:
        if format not in PCM_FORMATS:
            raise OptionsError(f"unsupported PCM format {format!r}; use one of: {', '.join(PCM_FORMATS)}")
        if not 1 <= channels <= 8:
            raise OptionsError(f"unsupported channel count {channels}; use 1 to 8 interleaved channels")
        self._resample = StreamResampler(sample_rate)
        self.dtype, self.scale = PCM_FORMATS[format]
        self.channels = channels
        self._frame_bytes = np.dtype(self.dtype).itemsize * channels
        self._rest = b""  # bytes of an incomplete sample frame, kept for the next message

    def decode(self, data: bytes) -> np.ndarray:
        """The 16 kHz samples these bytes complete (possibly none)."""
        data = self._rest + bytes(data)
        usable = len(data) - len(data) % self._frame_bytes
        self._rest = data[usable:]
        values = np.frombuffer(data[:usable], dtype=self.dtype).astype(np.float32) * np.float32(self.scale)
        return self._resample(values.reshape(-1, self.channels).mean(axis=1, dtype=np.float32))

    def flush(self) -> np.ndarray:
        """The resampler's last samples, at the end of the stream."""
        self._rest = b""
        return self._resample.flush()
