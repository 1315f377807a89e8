"""Decoding a container with PyAV: opening a path, bytes or file object (:func:`open_container`),
and its first audio stream's frames as mono float32 at the stream's own rate (:func:`native_mono`).

Isolated undecodable packets are skipped, as ffmpeg does (a run of 20 is an error); NaN and
infinite samples are repaired before channels are averaged. With a duration budget, a container
that declares its own length and declares more is refused before anything is decoded.
"""

from __future__ import annotations

import io
import os
from typing import Iterator

import av
import numpy as np

from ..errors import AudioNotFoundError, AudioTooLongError, CorruptAudioError, EmptyAudioError, UnsupportedAudioError
from .repairs import SampleRepairs
from .sources import AudioInput, unreadable_error

__all__ = ["native_mono", "open_container"]

_MAX_BAD_PACKETS = 20  # consecutive undecodable packets tolerated before giving up
_CONVERT_SAMPLES = 16384  # samples per converted frame handed to numpy and soxr
# Containers whose declared length comes from the stream itself (FLAC's STREAMINFO sample count, an MP4
# track's duration, the last Ogg/Matroska timestamps), not from the file size or bit rate (WAV
# written to a pipe declares its maximum size; MP3 is estimated): load_audio(max_seconds=) refuses
# these at once when they declare more, instead of decoding up to the limit first.
_DECLARED_LENGTH_FORMATS = ("flac", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm")


def open_container(source: AudioInput, name: str) -> av.container.InputContainer:
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
        raise unreadable_error(source, name, lambda kind: CorruptAudioError(
            f"{name}: looks like {kind} but cannot be read: {_reason(exc)} (file truncated or corrupt?)"
        )) from None


def _declared_seconds(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    """The length the stream declares, else the container's (Matroska/WebM declare it only there)."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else None


_WAV_SLACK_BYTES = 64 * 1024  # chunks a WAV may carry after its data (LIST, id3, cue) without a warning


def _source_size(source: AudioInput) -> int | None:
    """The size in bytes of a path, bytes or seekable file object; None when it cannot be told."""
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    try:
        here = source.tell()
        size = source.seek(0, io.SEEK_END)
        source.seek(here)
        return size
    except (AttributeError, OSError, ValueError):
        return None


def _check_wav_length(source: AudioInput, name: str, payload: int, seconds: float, repairs: SampleRepairs) -> None:
    """Note in `repairs` a WAV whose header declares less data than the file holds (only the declared part decodes)."""
    size = _source_size(source)
    if size is None or seconds <= 0 or payload <= 0:
        return
    extra = size - payload
    bytes_per_second = payload / seconds
    if extra > max(_WAV_SLACK_BYTES, bytes_per_second):
        repairs.note(f"{name}: the WAV header declares {seconds:.1f} s of audio, but the file holds {extra / 1e6:.1f} MB "
                     f"more (about {extra / bytes_per_second:.0f} s at the same rate); only the declared "
                     f"{seconds:.1f} s were decoded (a header written before the recording ended?)")


def _reason(exc: BaseException) -> str:
    """ffmpeg's own message for an exception, without PyAV's errno/filename decoration."""
    return str(getattr(exc, "strerror", None) or exc).rstrip(".")


def native_mono(
    source: AudioInput, name: str, repairs: SampleRepairs, max_seconds: float | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (sample rate, mono float32 samples) per decoded frame, at the stream's real rate.

    Non-finite samples are repaired in every channel before the channels are averaged and before
    resampling (which would spread one NaN over its filter's length). With `max_seconds`, a
    container that declares its own length (see _DECLARED_LENGTH_FORMATS) and declares more is
    refused before anything is decoded."""
    with open_container(source, name) as container:
        if not container.streams.audio:
            raise unreadable_error(source, name, lambda kind: UnsupportedAudioError(
                f"{name}: no audio stream found (not an audio or video file?)"))
        stream = container.streams.audio[0]
        declared = _declared_seconds(container, stream)
        if max_seconds is not None and container.format.name in _DECLARED_LENGTH_FORMATS and declared:
            if declared > max_seconds + 1.0:  # a second of slack for containers' rounding
                raise AudioTooLongError(f"{name}: longer than the limit of {max_seconds:g} s "
                                        f"(it declares {declared:.1f} s)")
        if stream.codec_context is None:
            raise unreadable_error(source, name, lambda kind: UnsupportedAudioError(
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
                raise (error if samples else unreadable_error(source, name, lambda kind: error)) from None
            for f in out:
                planes = repairs.repair(f.to_ndarray(), seconds_out, f.sample_rate)  # (channels, samples) float32
                seconds_out += planes.shape[1] / f.sample_rate
                samples += planes.shape[1]
                mono = planes.mean(axis=0, dtype=np.float32) if len(planes) > 1 else planes[0].copy()
                yield f.sample_rate, mono
            if packet is None:
                break
        if container.format.name == "wav" and samples:
            _check_wav_length(source, name, payload, seconds, repairs)
        declared = (container.duration or 0) / av.time_base
        if samples == 0 and (payload > 0 or declared > 0):
            what = f"declares {declared:.1f} s" if declared > 0 else f"holds {payload} bytes"
            raise unreadable_error(source, name, lambda kind: CorruptAudioError(
                f"{name}: {what} of audio but none of it decodes (file truncated or corrupt?)"
            ))
        if samples == 0:
            raise unreadable_error(source, name, lambda kind: EmptyAudioError(f"{name}: audio is empty (0 samples)"))
