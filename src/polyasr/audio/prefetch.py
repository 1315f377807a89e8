"""Decoding many inputs ahead of their use, in threads, in order (:func:`prefetch_audio`)."""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator

import numpy as np

from ..errors import AudioError
from .decode import load_audio
from .sources import AudioInput

__all__ = ["prefetch_audio"]


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
