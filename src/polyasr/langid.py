"""Spoken-language identification from the CTC model alone, using its language table.

For every speech frame (one whose best token is not the blank) and every candidate language, the
best token among that language's characters and its log-probability are kept. A language's score
is the sum of those log-probabilities over speech frames (the log-likelihood of the card's
language-restricted decoding) plus a character-inventory prior, log(1/table size) per emitted
character, which breaks the ties between a language and one whose characters include all of its
own. Scores become probabilities through `LanguageCalibration` (temperature, prior weight,
per-language biases: uncalibrated defaults today, the place for learned values).

The same frames give the language-restricted decoding of the winner, so `language="detect"`
costs one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .decoding import FrameChoices, log_softmax, stitch_frames
from .lang_ids import LanguageTable


@dataclass(frozen=True)
class LanguageCalibration:
    """Maps scores to probabilities: softmax((acoustic + inventory_weight x prior + bias) / temperature)."""

    temperature: float = 5.0  # frames are not independent (a character spans several): soften by this
    inventory_weight: float = 1.0  # weight of the character-inventory prior (0 turns it off)
    bias: Mapping[str, float] = field(default_factory=dict)  # per-language prior in nats (learned later)


@dataclass(frozen=True)
class LanguageFrames:
    """What language identification keeps per frame (a FrameReducer's summary)."""

    codes: tuple[str, ...]  # candidate languages, in row order
    table_sizes: tuple[int, ...]  # characters in each candidate's table
    unrestricted: FrameChoices  # each frame's argmax, for the blank mask
    best_ids: np.ndarray  # (languages, frames) int32: best token of each language per frame
    best_log_probs: np.ndarray  # (languages, frames) float32: its log-probability
    blank_id: int = 0

    def speech(self) -> np.ndarray:
        """Mask of frames whose best token is not the blank."""
        return self.unrestricted.tokens != self.blank_id

    def acoustic_scores(self) -> dict[str, float]:
        """Summed log-probability of each language's best tokens over speech frames."""
        totals = self.best_log_probs[:, self.speech()].sum(axis=1)
        return {code: float(total) for code, total in zip(self.codes, totals)}

    def inventory_priors(self) -> dict[str, float]:
        """log(1/characters) per emitted character: a uniform character model of each language.

        Without it a language whose table contains another's always scores at least as high, so
        the larger table wins every tie; with it the smallest table that explains the audio does.
        """
        tokens = self.unrestricted.tokens
        starts = np.r_[True, tokens[1:] != tokens[:-1]]
        emitted = int(np.count_nonzero(starts & (tokens != self.blank_id)))
        return {code: -emitted * float(np.log(size)) for code, size in zip(self.codes, self.table_sizes)}

    def scores(self, calibration: LanguageCalibration = LanguageCalibration()) -> dict[str, float]:
        """Each candidate's total score in nats (before the temperature), the features a calibration weighs."""
        acoustic, prior = self.acoustic_scores(), self.inventory_priors()
        return {c: acoustic[c] + calibration.inventory_weight * prior[c] + calibration.bias.get(c, 0.0) for c in self.codes}

    def probabilities(self, calibration: LanguageCalibration = LanguageCalibration()) -> list[tuple[str, float]]:
        """(code, probability) for every candidate, most probable first; sums to 1 (empty without speech)."""
        if not self.speech().any():
            return []
        scores = self.scores(calibration)
        logits = np.array([scores[c] / calibration.temperature for c in self.codes])
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return sorted(zip(self.codes, probs.tolist()), key=lambda item: -item[1])

    def restricted(self, code: str) -> FrameChoices:
        """The card's language-restricted frame choices for `code` (blank frames stay blank)."""
        row = self.codes.index(code)
        speech = self.speech()
        tokens = np.where(speech, self.best_ids[row], self.blank_id).astype(np.int64)
        probs = np.where(speech, np.exp(self.best_log_probs[row]), self.unrestricted.probs).astype(np.float32)
        return FrameChoices(tokens=tokens, probs=probs)


class LanguageReducer:
    """FrameReducer for language identification over `codes` (all non-empty languages by default)."""

    def __init__(self, table: LanguageTable, blank_id: int, codes: Sequence[str] | None = None) -> None:
        self.codes = tuple(codes) if codes is not None else tuple(table.codes())
        self.ids = [table.token_ids(code) for code in self.codes]
        self.blank_id = blank_id
        # per window, frames first: unrestricted token and probability; per language best id and log-prob
        self._parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        log_probs = log_softmax(logits)
        best_ids = np.empty((len(logits), len(self.codes)), np.int32)
        best_lp = np.empty((len(logits), len(self.codes)), np.float32)
        for column, ids in enumerate(self.ids):
            sub = log_probs[:, ids]
            best = sub.argmax(axis=1)
            best_ids[:, column] = ids[best]
            best_lp[:, column] = sub[np.arange(len(sub)), best]
        # the unrestricted choice (the card's `predict`) from the same log-probabilities
        self._parts[first_frame] = (log_probs.argmax(-1), np.exp(log_probs.max(-1)), best_ids, best_lp)

    def finish(self, num_frames: int) -> LanguageFrames:
        def stitched(index: int, dtype: Any, tail: tuple[int, ...] = ()) -> np.ndarray:
            return stitch_frames({f: p[index] for f, p in self._parts.items()}, num_frames, dtype, tail)

        languages = (len(self.codes),)
        unrestricted = FrameChoices(stitched(0, np.int64), stitched(1, np.float32))
        best_ids = stitched(2, np.int32, languages).T
        best_lp = stitched(3, np.float32, languages).T
        sizes = tuple(len(ids) for ids in self.ids)
        return LanguageFrames(self.codes, sizes, unrestricted, best_ids, best_lp, blank_id=self.blank_id)
