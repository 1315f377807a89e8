"""Write real audio and video files with PyAV, for tests: known tones in any codec and container."""

from __future__ import annotations

import io
import pathlib

import av
import numpy as np


def _encoder(*names: str) -> str | None:
    """First of `names` this PyAV build can encode with, or None."""
    for name in names:
        try:
            av.Codec(name, "w")
            return name
        except Exception:
            continue
    return None


MP3 = _encoder("libmp3lame", "mp3")
VORBIS = _encoder("libvorbis", "vorbis")  # ffmpeg's native 'vorbis' is experimental and stereo-only
OPUS = _encoder("libopus", "opus")
AAC = _encoder("aac", "libfdk_aac")
VIDEO = _encoder("mpeg4", "libx264")


def tone(freq: float, rate: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(round(rate * seconds)) / rate)


def make_signal(rate: int, channels: int, seconds: float = 1.0) -> np.ndarray:
    """Mono: 440 Hz. Stereo: L = 440 + 660 Hz, R = -440 + 660 Hz, so the mono mix is 660 Hz only."""
    if channels == 1:
        return tone(440, rate, seconds)[None]
    a, b = tone(440, rate, seconds), tone(660, rate, seconds, 0.25)
    return np.stack([a + b, -a + b])


def _as_format(x: np.ndarray, fmt: str) -> np.ndarray:
    """(channels, n) floats in [-1, 1] -> PyAV frame array in sample format `fmt`."""
    base = fmt.rstrip("p")
    if base == "u8":
        y = np.clip(np.round(x * 127) + 128, 0, 255).astype(np.uint8)
    elif base == "s16":
        y = np.round(x * 32767).astype(np.int16)
    elif base == "s32":
        y = np.round(x * (2**31 - 256)).astype(np.int32)
    else:
        y = x.astype(np.float32 if base == "flt" else np.float64)
    return y if fmt.endswith("p") else y.T.reshape(1, -1).copy()


def write_audio(path, codec: str, rate: int, signal: np.ndarray, *, video: str | None = None,
                fmt: str | None = None, chunk: int = 4096) -> pathlib.Path:
    """Encode `signal` (channels, n) with `codec` at `rate` into `path` (container from the suffix)."""
    options = {"strict": "experimental"} if codec in ("vorbis", "opus") else {}
    with av.open(str(path), "w", format=fmt) as out:
        if video:
            vs = out.add_stream(video, rate=10)
            vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        st = out.add_stream(codec, rate=rate, layout="mono" if len(signal) == 1 else "stereo")
        st.codec_context.options = options
        sfmt = st.codec_context.codec.audio_formats[0].name
        st.codec_context.format = sfmt
        for i in range(0, signal.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(_as_format(signal[:, i : i + chunk], sfmt), format=sfmt,
                                               layout=st.codec_context.layout.name)
            frame.sample_rate, frame.pts = rate, i
            out.mux(st.encode(frame))
        out.mux(st.encode(None))
        if video:
            for k in range(int(signal.shape[1] / rate * 10)):
                vf = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k % 255, np.uint8), format="rgb24")
                vf.pts = k
                out.mux(vs.encode(vf))
            out.mux(vs.encode(None))
    return pathlib.Path(path)


def voiced(seconds: float, rate: int = 16_000, f0: float = 120.0) -> np.ndarray:
    """Speech-like sound: a glottal pulse train through three vowel formants, at syllable rate (4 Hz).

    Voice activity detectors take it for speech; tones and noise they do not.
    """
    n = int(seconds * rate)
    t = np.arange(n) / rate
    phase = np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t))) / rate
    source = np.zeros(n)
    source[1:][np.diff(np.floor(phase)) > 0] = 1.0
    out = np.zeros(n)
    for formant, bandwidth in ((700, 80), (1200, 90), (2600, 120)):
        r = np.exp(-np.pi * bandwidth / rate)
        a1, a2 = -2 * r * np.cos(2 * np.pi * formant / rate), r * r
        y = np.zeros(n)
        for i in range(2, n):
            y[i] = source[i] - a1 * y[i - 1] - a2 * y[i - 2]
        out += y
    out *= 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def remux(data: bytes, fmt: str) -> bytes:
    """The audio stream of `data` copied, without re-encoding, into a `fmt` container."""
    out = io.BytesIO()
    with av.open(io.BytesIO(data)) as source, av.open(out, "w", format=fmt) as target:
        stream = source.streams.audio[0]
        copy = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                target.mux(packet)
    return out.getvalue()


def silent_flac(hours: float, rate: int = 8000, noise: int = 0) -> bytes:
    """Hours of digital silence as FLAC: a few MB that decode to hours of samples (a decompression bomb).

    `noise`: uniform noise of +-`noise` LSB instead (seeded), which FLAC cannot pack as tightly."""
    out, block = io.BytesIO(), rate * 60
    rng = np.random.default_rng(0)
    with av.open(out, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        stream.codec_context.format = "s16"
        for i in range(int(hours * 60)):
            samples = rng.integers(-noise, noise + 1, (1, block)).astype(np.int16) if noise else np.zeros((1, block), np.int16)
            frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, i * block
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def without_length(flac: bytes) -> bytes:
    """The FLAC with STREAMINFO's sample count set to 0 ("unknown", as a FLAC encoder writing to a pipe
    leaves it), so only decoding finds out how long it is."""
    data = bytearray(flac)  # "fLaC", block header (4), STREAMINFO: 10 bytes, then
    field = int.from_bytes(data[18:26], "big")  # rate (20 bits), channels (3), bits (5), samples (36)
    data[18:26] = (field & ~((1 << 36) - 1)).to_bytes(8, "big")
    return bytes(data)
