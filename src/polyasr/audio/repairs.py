"""Sample repairs made while an input is decoded: NaN and infinite samples replaced by silence,
counted for the result's warnings (:class:`SampleRepairs`)."""

from __future__ import annotations

import numpy as np

__all__ = ["SampleRepairs"]


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
        self.notes: list[str] = []  # other sentences about the decoding (a WAV header that disagrees with its data)

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

    def note(self, sentence: str) -> None:
        """Keep one more sentence for the warning (something the decoder noticed about the input)."""
        self.notes.append(sentence)

    def warning(self, name: str) -> str | None:
        """One sentence for the user (more when the decoder noted something), or None when all was well."""
        sentences = list(self.notes)
        if self.count:
            what = "sample was" if self.count == 1 else "samples were"
            sentences.insert(0, f"{name}: {self.count} NaN or infinite {what} replaced by silence "
                                f"(first at {self.first_seconds:.2f} s)")
        return "; ".join(sentences) or None
