"""Turn any audio input into mono float32 samples at 16 kHz.

Files, bytes and binary file objects are decoded with PyAV (the ffmpeg bundled in its wheel),
converted to float planar at their native rate, averaged to mono, and resampled with soxr (HQ).
Numpy arrays are scaled, mixed to mono and resampled the same way.

Errors (all :class:`polyasr.errors.AudioError` subclasses, one sentence naming the input):

* :class:`AudioNotFoundError`: the path does not exist or is not a regular file.
* :class:`UnsupportedAudioError`: not audio (no container recognised, no audio stream, no decoder),
  or an unusable array (bad shape or dtype, NaN/inf).
* :class:`EmptyAudioError`: a 0-byte file, empty bytes or array, or a well-formed input with no samples.
* :class:`CorruptAudioError`: the input starts like a known format (or ffmpeg recognised it) but cannot
  be opened, decoding fails part-way, or its audio data decodes to nothing. Like ffmpeg, isolated
  undecodable packets are skipped (a run of 20 is an error), so most truncated or damaged files
  decode up to where the data ends or around the damage; that is not an error.

A file's own sample rate, taken from each decoded frame, is always used; a rate change mid-stream
flushes the resampler and continues at the new rate.
"""

from __future__ import annotations

import io
import os
from collections import deque
from contextlib import closing
from dataclasses import dataclass
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, Callable, Iterable, Iterator, Union

import av
import numpy as np
import soxr

from ..errors import (
    AudioError, AudioNotFoundError, AudioTooLongError, CorruptAudioError, EmptyAudioError, UnsupportedAudioError,
)
from .resample import SAMPLE_RATE, resample  # one definition of both (resample.py); re-exported here

__all__ = [
    "SAMPLE_RATE", "AudioInput", "AudioStats", "LevelMeter", "SampleRepairs", "load_audio", "measure_audio",
    "prefetch_audio", "stream_audio", "resample", "source_name",
]

AudioInput = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, np.ndarray]

_MAX_ARRAY_CHANNELS = 16
_MAX_BAD_PACKETS = 20  # consecutive undecodable packets tolerated before giving up
_CONVERT_SAMPLES = 16384  # samples per converted frame handed to numpy and soxr
_GROW_MIN, _GROW_MAX = 1 << 16, 1 << 24  # samples load_audio's buffer grows by at least / at most (4 s / 17 min)
# Containers whose declared length comes from the stream itself (FLAC's STREAMINFO sample count, an MP4
# track's duration, the last Ogg/Matroska timestamps), not from the file size or bit rate (WAV
# written to a pipe declares its maximum size; MP3 is estimated): load_audio(max_seconds=) refuses
# these at once when they declare more, instead of decoding up to the limit first.
_DECLARED_LENGTH_FORMATS = ("flac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")


def source_name(source: AudioInput) -> str:
    """Name used in messages and results: the path as given, or '<bytes>', '<file object>', '<array>'."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, np.ndarray):
        return "<array>"
    return "<file object>"


class SampleRepairs:
    """What was repaired while one input was decoded: NaN and infinite samples, replaced by silence.

    A NaN or infinite sample (a float WAV written by a broken filter, say) would otherwise turn the
    whole input's normalisation into NaN and its transcript into nothing. Replacing it by 0 changes
    one sample of one channel, inaudibly, so the rest of the recording is kept; `warning()` says
    how many there were and where the first one was, for Transcription.warnings.
    """

    def __init__(self) -> None:
        self.count = 0  # samples replaced, counting each channel's sample
        self.first_seconds: float | None = None  # time of the first one in the input

    def repair(self, samples: np.ndarray, start_seconds: float, rate: int) -> np.ndarray:
        """`samples` (frames last: (n,) or (channels, n)) with non-finite values set to 0."""
        bad = ~np.isfinite(samples)
        if not bad.any():
            return samples
        if self.first_seconds is None:
            first = int(np.flatnonzero(bad.any(axis=0) if bad.ndim == 2 else bad)[0])
            self.first_seconds = round(start_seconds + first / rate, 3)
        self.count += int(bad.sum())
        return np.where(bad, np.float32(0.0), samples).astype(np.float32, copy=False)

    def warning(self, name: str) -> str | None:
        """One sentence for the user, or None when nothing was repaired."""
        if not self.count:
            return None
        what = "sample was" if self.count == 1 else "samples were"
        return (f"{name}: {self.count} NaN or infinite {what} replaced by silence "
                f"(first at {self.first_seconds:.2f} s)")


def load_audio(
    source: AudioInput, sampling_rate: int | None = None, repairs: SampleRepairs | None = None, *,
    max_seconds: float | None = None, name: str | None = None,
) -> np.ndarray:
    """Whole input as 1-D float32 mono at 16 kHz.

    `sampling_rate` is required for numpy input (ValueError if missing) and ignored for files, bytes
    and file objects, whose real stream rate is always used. NaN and infinite samples, in any
    channel, become silence; pass `repairs` to learn how many there were. `max_seconds`: decoding
    stops as soon as the audio is longer, with AudioTooLongError, so no more than that much is ever
    held (a small file of hours of silence costs no more). `name`: what errors call the input
    (default: :func:`source_name`), e.g. an upload's file name.
    """
    name = name or source_name(source)
    repairs = repairs if repairs is not None else SampleRepairs()
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds!r}")
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    if isinstance(source, np.ndarray):
        out = _array_to_16k(source, sampling_rate, name, repairs)
        if limit is not None and out.size > limit:
            seconds = out.size / SAMPLE_RATE
            del out  # as below: not kept alive by the error's traceback
            raise AudioTooLongError(f"{name}: longer than the limit of {max_seconds:g} s ({seconds:.1f} s)")
        return out
    out, total = np.zeros(0, np.float32), 0
    with closing(_decode_pieces(source, name, repairs, max_seconds)) as decoded:
        for piece in decoded:
            if limit is not None and total + piece.size > limit:
                del out  # not kept alive by the error's traceback (a server keeps errors for a while)
                raise AudioTooLongError(f"{name}: longer than the limit of {max_seconds:g} s (decoding stopped there)")
            if total + piece.size > out.size:  # grown in place (realloc): no second copy while joining pieces
                size = total + piece.size + min(max(out.size // 2, _GROW_MIN), _GROW_MAX)
                out.resize(size if limit is None else max(min(size, limit), total + piece.size), refcheck=False)
            out[total : total + piece.size] = piece
            total += piece.size
    out.resize(total, refcheck=False)  # one large block, returned to the system when freed
    if out.size == 0:
        raise EmptyAudioError(f"{name}: audio is empty (0 samples)")
    return out


def stream_audio(
    source: AudioInput, sampling_rate: int | None = None, block_seconds: float = 30.0,
    repairs: SampleRepairs | None = None,
) -> Iterator[np.ndarray]:
    """Decode incrementally and yield consecutive 16 kHz mono float32 blocks of `block_seconds`.

    Every block but the last holds exactly round(block_seconds * 16000) samples, so memory stays
    bounded for long files; concatenating the blocks equals ``load_audio(source, sampling_rate)``.
    `block_seconds` is checked at once (ValueError); audio errors, including EmptyAudioError when
    the whole input yields no samples, are raised while iterating. NaN and infinite samples become
    silence, counted in `repairs` when given (see SampleRepairs).
    """
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, got {block_seconds!r}")
    repairs = repairs if repairs is not None else SampleRepairs()
    return _blocks(source, sampling_rate, max(1, round(block_seconds * SAMPLE_RATE)), repairs)


@dataclass(frozen=True)
class AudioStats:
    """Length and level of a whole input at 16 kHz, for normalising it window by window."""

    num_samples: int
    mean: float
    variance: float


class LevelMeter:
    """Accumulates AudioStats over consecutive blocks (float64 sums)."""

    def __init__(self) -> None:
        self.count, self.total, self.squares = 0, 0.0, 0.0

    def add(self, block: np.ndarray) -> None:
        values = block.astype(np.float64)
        self.count += values.size
        self.total += float(values.sum())
        self.squares += float(np.square(values).sum())

    def stats(self) -> AudioStats:
        mean = self.total / max(1, self.count)
        return AudioStats(self.count, mean, max(0.0, self.squares / max(1, self.count) - mean * mean))


def measure_audio(source: AudioInput, sampling_rate: int | None = None, block_seconds: float = 30.0) -> AudioStats:
    """Decode the input once, keeping only its sample count, mean and variance."""
    meter = LevelMeter()
    for block in stream_audio(source, sampling_rate, block_seconds):
        meter.add(block)
    return meter.stats()


def prefetch_audio(
    sources: Iterable[AudioInput], workers: int = 2, ahead: int = 16
) -> Iterator[tuple[AudioInput, np.ndarray | AudioError]]:
    """load_audio over `sources` in `workers` threads, up to `ahead` inputs in advance, in order.

    For many short files (evaluation, batch jobs): decoding overlaps the model's work (FFmpeg and
    soxr release the GIL). Yields (source, samples) or (source, the AudioError it raised).
    """

    def load(source: AudioInput) -> np.ndarray | AudioError:
        try:
            return load_audio(source)
        except AudioError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[tuple[AudioInput, Future]] = deque()
        for source in sources:
            pending.append((source, pool.submit(load, source)))
            if len(pending) >= max(1, ahead):
                done_source, future = pending.popleft()
                yield done_source, future.result()
        while pending:
            done_source, future = pending.popleft()
            yield done_source, future.result()


def _blocks(source: AudioInput, sampling_rate: int | None, block: int, repairs: SampleRepairs) -> Iterator[np.ndarray]:
    """Generator behind :func:`stream_audio`."""
    name = source_name(source)
    if isinstance(source, np.ndarray):
        whole = _array_to_16k(source, sampling_rate, name, repairs)
        for start in range(0, whole.size, block):
            yield whole[start : start + block]
        return
    pending: list[np.ndarray] = []
    have = total = 0
    for piece in _decode_pieces(source, name, repairs):
        pending.append(piece)
        have += piece.size
        if have >= block:
            buf = np.concatenate(pending)
            n_full = buf.size // block * block
            for start in range(0, n_full, block):
                yield buf[start : start + block].copy()
            pending, have, total = [buf[n_full:].copy()], buf.size - n_full, total + n_full
    if have:
        yield np.concatenate(pending)
    elif total == 0:
        raise EmptyAudioError(f"{name}: audio is empty (0 samples)")


def _array_to_16k(array: np.ndarray, sampling_rate: int | None, name: str, repairs: SampleRepairs) -> np.ndarray:
    """Validate, scale to float, repair, mix to mono and resample a numpy array."""
    if sampling_rate is None:
        raise ValueError(f"{name}: sampling_rate is required for numpy input (e.g. sampling_rate=16000)")
    if isinstance(sampling_rate, bool) or int(sampling_rate) != sampling_rate or sampling_rate <= 0:
        raise ValueError(f"{name}: sampling_rate must be a positive integer, got {sampling_rate!r}")
    if array.ndim not in (1, 2):
        raise UnsupportedAudioError(f"{name}: expected a 1-D or 2-D array, got shape {array.shape}")
    if array.size == 0:
        raise EmptyAudioError(f"{name}: audio is empty (0 samples)")
    kind = array.dtype.kind
    if kind == "f":
        x = array.astype(np.float32)
    elif kind in "iu":
        bits = array.dtype.itemsize * 8
        offset = 2.0 ** (bits - 1) if kind == "u" else 0.0
        x = ((array.astype(np.float64) - offset) / 2.0 ** (bits - 1)).astype(np.float32)
    else:
        raise UnsupportedAudioError(f"{name}: unsupported dtype {array.dtype} (expected integer or float)")
    if x.ndim == 2:
        channel_axis = 0 if x.shape[0] <= x.shape[1] else 1
        if x.shape[channel_axis] > _MAX_ARRAY_CHANNELS:
            raise UnsupportedAudioError(
                f"{name}: cannot tell channels from frames in shape {array.shape} (at most "
                f"{_MAX_ARRAY_CHANNELS} channels on either axis)"
            )
        x = repairs.repair(x if channel_axis == 0 else x.T, 0.0, int(sampling_rate))
        x = x.mean(axis=0, dtype=np.float32)
    else:
        x = repairs.repair(x, 0.0, int(sampling_rate))
    return np.ascontiguousarray(resample(x, int(sampling_rate), SAMPLE_RATE))


def _open(source: AudioInput, name: str) -> av.container.InputContainer:
    """Open a path, bytes or binary file object as a PyAV input container."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise AudioNotFoundError(f"{name}: not a file (no such path)")
        if not os.path.isfile(path):
            raise AudioNotFoundError(f"{name}: not a file (is a directory or special file)")
        if os.path.getsize(path) == 0:
            raise EmptyAudioError(f"{name}: audio is empty (0-byte file)")
        target: object = path
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyAudioError(f"{name}: audio is empty (0 bytes)")
        target = io.BytesIO(source)
    elif isinstance(source, io.TextIOBase) or not hasattr(source, "read"):
        raise UnsupportedAudioError(
            f"{name}: expected a path, bytes, a binary file object or a numpy array, "
            f"got {type(source).__name__}"
        )
    else:
        target = source
    try:
        return av.open(target, "r", metadata_errors="ignore")
    except (av.FFmpegError, OSError) as exc:
        raise _unreadable(source, name, lambda kind: CorruptAudioError(
            f"{name}: looks like {kind} but cannot be read: {_reason(exc)} (file truncated or corrupt?)"
        )) from None


def _unreadable(source: AudioInput, name: str, known: Callable[[str], AudioError]) -> AudioError:
    """The error for an input none of which decodes: `known(kind)` if its first bytes name a
    container kind, else "not a recognised format". The bytes alone decide (not whether they came as
    a path, whose suffix steers ffmpeg's guess, or as bytes), so the same bytes get the same error."""
    kind = _sniff(source)
    return known(kind) if kind else UnsupportedAudioError(f"{name}: not a recognised audio or video format")


_SIGNATURES = ((0, b"RIFF", "WAV"), (0, b"fLaC", "FLAC"), (0, b"ID3", "MP3"), (0, b"OggS", "Ogg"),
               (4, b"ftyp", "MP4/M4A"), (0, b"\x1aE\xdf\xa3", "WebM/Matroska"), (0, b"FORM", "AIFF"),
               (0, b"#!AMR", "AMR"), (0, b"caff", "CAF"), (0, b".snd", "AU"), (0, b"\x00\x00\x01\xba", "MPEG-PS"))


def _sniff(source: AudioInput) -> str | None:
    """Container kind named by the first bytes (used only to word errors), or None if unknown."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                head = fh.read(12)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            head = bytes(source[:12])
        else:
            source.seek(0)
            head = source.read(12)
    except (OSError, AttributeError, ValueError):
        return None
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return "MP3/AAC" if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 else None


def _reason(exc: BaseException) -> str:
    """ffmpeg's own message for an exception, without PyAV's errno/filename decoration."""
    return str(getattr(exc, "strerror", None) or exc).rstrip(".")


def _decode_pieces(
    source: AudioInput, name: str, repairs: SampleRepairs, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 pieces of any size; a rate change flushes soxr and starts anew."""
    rate = 0
    rs: soxr.ResampleStream | None = None
    for frame_rate, mono in _native_mono(source, name, repairs, max_seconds):
        if frame_rate != rate:
            if rs is not None:
                yield rs.resample_chunk(np.zeros(0, np.float32), last=True)
            rate = frame_rate
            rs = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, "float32", "HQ")
        yield mono if rs is None else rs.resample_chunk(mono)
    if rs is not None:
        yield rs.resample_chunk(np.zeros(0, np.float32), last=True)


def _native_mono(
    source: AudioInput, name: str, repairs: SampleRepairs, max_seconds: float | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (sample rate, mono float32 samples) per decoded frame, at the stream's real rate.

    Non-finite samples are repaired in every channel before the channels are averaged and before
    resampling (which would spread one NaN over its filter's length). With `max_seconds`, a
    container that declares its own length (see _DECLARED_LENGTH_FORMATS) and declares more is
    refused before anything is decoded."""
    with _open(source, name) as container:
        if not container.streams.audio:
            raise _unreadable(source, name, lambda kind: UnsupportedAudioError(
                f"{name}: no audio stream found (not an audio or video file?)"))
        stream = container.streams.audio[0]
        if max_seconds is not None and container.format.name in _DECLARED_LENGTH_FORMATS and stream.duration:
            declared = float(stream.duration * stream.time_base)
            if declared > max_seconds + 1.0:  # a second of slack for containers' rounding
                raise AudioTooLongError(f"{name}: longer than the limit of {max_seconds:g} s "
                                        f"(it declares {declared:.1f} s)")
        if stream.codec_context is None:
            raise _unreadable(source, name, lambda kind: UnsupportedAudioError(
                f"{name}: no decoder for this audio codec in this ffmpeg build"))
        packets = container.demux(stream)
        key: tuple | None = None
        converter: av.AudioResampler | None = None
        seconds, payload, samples, bad = 0.0, 0, 0, 0  # decoded s / packet bytes / samples / bad run
        seconds_out = 0.0  # seconds of samples yielded so far
        while True:
            try:
                packet = next(packets, None)  # demux ends with empty flush packets, then stops
                out: list[av.AudioFrame] = []
                if packet is None:
                    out += converter.resample(None) if converter is not None else []
                else:
                    payload += packet.size
                    try:
                        frames, bad = packet.decode(), 0
                    except av.error.InvalidDataError:  # skip a damaged packet, as ffmpeg does
                        bad += 1
                        if bad < _MAX_BAD_PACKETS:
                            continue
                        raise
                    for frame in frames:
                        frame_key = (frame.format.name, frame.layout.name, frame.sample_rate)
                        if frame_key != key:  # first frame, or the format changed mid-stream
                            out += converter.resample(None) if converter is not None else []
                            # frames of _CONVERT_SAMPLES: codecs' small frames (576 samples in FLAC) cost
                            # per-frame Python work below; fewer, larger frames decode 2.5x faster
                            converter = av.AudioResampler(format="fltp", rate=frame.sample_rate, frame_size=_CONVERT_SAMPLES)
                            key = frame_key
                        out += converter.resample(frame)
                        seconds += frame.samples / frame.sample_rate
            except (av.FFmpegError, ValueError) as exc:
                error = CorruptAudioError(
                    f"{name}: decoding failed after {seconds:.1f} s: {_reason(exc)} (file truncated or corrupt?)"
                )
                raise (error if samples else _unreadable(source, name, lambda kind: error)) from None
            for f in out:
                planes = repairs.repair(f.to_ndarray(), seconds_out, f.sample_rate)  # (channels, samples) float32
                seconds_out += planes.shape[1] / f.sample_rate
                samples += planes.shape[1]
                mono = planes.mean(axis=0, dtype=np.float32) if len(planes) > 1 else planes[0].copy()
                yield f.sample_rate, mono
            if packet is None:
                break
        declared = (container.duration or 0) / av.time_base
        if samples == 0 and (payload > 0 or declared > 0):
            what = f"declares {declared:.1f} s" if declared > 0 else f"holds {payload} bytes"
            raise _unreadable(source, name, lambda kind: CorruptAudioError(
                f"{name}: {what} of audio but none of it decodes (file truncated or corrupt?)"
            ))
        if samples == 0:
            raise _unreadable(source, name, lambda kind: EmptyAudioError(f"{name}: audio is empty (0 samples)"))
