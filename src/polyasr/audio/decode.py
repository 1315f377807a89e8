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

This module owns the 16 kHz result: load_audio (whole input, under an optional duration budget),
stream_audio (fixed-size blocks), resample, and numpy input. Opening and demuxing containers is
container.py's; what an input is called and how unreadable bytes are classified, sources.py's;
NaN/inf repairs, repairs.py's.
"""

from __future__ import annotations

from contextlib import closing
from typing import Iterator

import numpy as np
import soxr

from ..errors import AudioTooLongError, EmptyAudioError, UnsupportedAudioError
from .container import native_mono
from .repairs import SampleRepairs
from .sources import AudioInput, source_name
from .resample import SAMPLE_RATE, SOXR_QUALITY, resample  # one definition of each (resample.py); re-exported here

__all__ = ["SAMPLE_RATE", "load_audio", "resample", "stream_audio"]


_MAX_ARRAY_CHANNELS = 16
_GROW_MIN, _GROW_MAX = 1 << 16, 1 << 24  # samples load_audio's buffer grows by at least / at most (4 s / 17 min)




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


def _decode_pieces(
    source: AudioInput, name: str, repairs: SampleRepairs, max_seconds: float | None = None
) -> Iterator[np.ndarray]:
    """Yield 16 kHz mono float32 pieces of any size; a rate change flushes soxr and starts anew."""
    rate = 0
    rs: soxr.ResampleStream | None = None
    for frame_rate, mono in native_mono(source, name, repairs, max_seconds):
        if frame_rate != rate:
            if rs is not None:
                yield rs.resample_chunk(np.zeros(0, np.float32), last=True)
            rate = frame_rate
            rs = None if rate == SAMPLE_RATE else soxr.ResampleStream(rate, SAMPLE_RATE, 1, "float32", SOXR_QUALITY)
        yield mono if rs is None else rs.resample_chunk(mono)
    if rs is not None:
        yield rs.resample_chunk(np.zeros(0, np.float32), last=True)
