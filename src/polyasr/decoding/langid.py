"""Spoken-language identification from the CTC model alone, using its language table.

For every speech frame (one whose best token is not the blank) and every candidate language, the
best token among that language's characters and its log-probability are kept. A language's score
is the sum of those log-probabilities over speech frames (the log-likelihood of the card's
language-restricted decoding) plus a character-inventory prior, log(1/table size) per emitted
character, which breaks the ties between a language and one whose characters include all of its
own.
That acoustic evidence cannot separate languages sharing a script (on the proxy model's eight
Latin-script languages it finds 18.75 % of held-out clips), so it is fused with the language of the
transcript's text (`text_langid.py`, py3langid): probabilities are
softmax(scores / temperature + text_weight x log P_text(language | audio)) (`LanguageCalibration`),
where P_text is py3langid's P(language | t) averaged over `text_samples` transcripts t drawn from the
model's per-frame distributions (`transcript_samples.py`: the text evidence marginalised over what the
model may have heard, not read off its one greedy spelling); with text_samples=0, over the greedy text.
Candidates the text identifier does not know, or a reducer made without a vocabulary and an
identifier, or an install without py3langid, fall back to the acoustic evidence alone.

The same frames give the language-restricted decoding of the winner, so `language="detect"`
costs one forward pass; and they give the unrestricted decoding, so `language="auto"` reports the
spoken language from the same pass too (with `keep_frames=False` only the per-language sums are
kept, not a row per language and frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .ctc import FrameChoices, Vocabulary, as_logits, collapse_repeats, log_normalizer, log_softmax, spans_to_text, stitch_frames
from .text_langid import TextLanguageIdentifier
from .transcript_samples import SAMPLES, sample_frames, sampled_texts
from ..errors import OptionsError
from ..language.table import LanguageTable


@dataclass(frozen=True)
class LanguageCalibration:
    """Maps scores to probabilities:
    softmax((acoustic + inventory_weight x prior + bias) / temperature + text_weight x log P_text).

    text_weight 8 was chosen on the proxy model's tuning clips (the 20 held-out clips per language
    that are not in the accuracy report; benchmarks/langid_text.py) with the text of 16 drawn
    transcripts: 1 / 2 / 4 / 8 / 16 found 91.9 / 93.8 / 95.6 / 96.9 / 96.3 % there (the greedy text
    alone had chosen 2; below 4 the acoustic sums, which mostly favour the smallest alphabet, outvote
    the text).
    """

    temperature: float = 5.0  # frames are not independent (a character spans several): soften by this
    inventory_weight: float = 1.0  # weight of the character-inventory prior (0 turns it off)
    bias: Mapping[str, float] = field(default_factory=dict)  # per-language prior in nats (learned later)
    text_weight: float = 8.0  # weight of the transcript's text language (0 turns it off)

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise OptionsError(f"temperature must be positive, not {self.temperature}")
        if not self.inventory_weight >= 0:
            raise OptionsError(f"inventory_weight must be 0 or more, not {self.inventory_weight}")
        if not self.text_weight >= 0:
            raise OptionsError(f"text_weight must be 0 or more, not {self.text_weight}")


@dataclass(frozen=True)
class LanguageFrames:
    """What language identification keeps (a FrameReducer's summary)."""

    codes: tuple[str, ...]  # candidate languages, in row order
    table_sizes: tuple[int, ...]  # characters in each candidate's table
    unrestricted: FrameChoices  # each frame's argmax (the card's `predict`), also the blank mask
    acoustic: np.ndarray  # (languages,) float64: summed best in-language log-probability over speech frames
    best_ids: np.ndarray | None = None  # (languages, frames) int32: best token of each language per frame
    best_log_probs: np.ndarray | None = None  # (languages, frames) float32: its log-probability
    blank_id: int = 0
    vocabulary: Vocabulary | None = None  # turns the unrestricted frames into text for the text identifier
    text_identifier: TextLanguageIdentifier | None = None
    samples: np.ndarray | None = None  # (frames, count) int32: drawn token paths (transcript_samples); None: the greedy text

    def text(self) -> str:
        """The unrestricted decoding's text ("" without a vocabulary)."""
        if self.vocabulary is None:
            return ""
        return spans_to_text(collapse_repeats(self.unrestricted.tokens, self.blank_id), self.vocabulary)

    def texts(self) -> list[str]:
        """The texts the text evidence reads: each drawn path's, or the unrestricted decoding's alone."""
        if self.samples is None or not self.samples.shape[1] or self.vocabulary is None:
            return [self.text()]
        return sampled_texts(self.samples, self.blank_id, self.vocabulary)

    def text_log_probabilities(self) -> np.ndarray | None:
        """log of the mean of P(language | text) over `texts()`, per candidate (row order): a Monte Carlo
        estimate of P(language | audio) under the text identifier; None without text evidence."""
        if self.text_identifier is None:
            return None
        found = [self.text_identifier.log_probabilities(text, self.codes) for text in self.texts()]
        rows = np.array([row for row in found if row is not None])
        if not len(rows):
            return None
        peak = rows.max(axis=0)
        return peak + np.log(np.exp(rows - peak).mean(axis=0))

    def speech(self) -> np.ndarray:
        """Mask of frames whose best token is not the blank."""
        return self.unrestricted.tokens != self.blank_id

    def acoustic_scores(self) -> dict[str, float]:
        """Summed log-probability of each language's best tokens over speech frames."""
        return {code: float(total) for code, total in zip(self.codes, self.acoustic)}

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
        text = self.text_log_probabilities() if calibration.text_weight > 0 else None
        if text is not None:
            logits = logits + calibration.text_weight * text
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        return sorted(zip(self.codes, probs.tolist()), key=lambda item: -item[1])

    def restricted(self, code: str) -> FrameChoices:
        """The card's language-restricted frame choices for `code` (blank frames stay blank)."""
        if self.best_ids is None or self.best_log_probs is None:
            raise ValueError("restricted decoding needs the per-frame rows: LanguageReducer(keep_frames=True)")
        row = self.codes.index(code)
        speech = self.speech()
        tokens = np.where(speech, self.best_ids[row], self.blank_id).astype(np.int64)
        probs = np.where(speech, np.exp(self.best_log_probs[row]), self.unrestricted.probs).astype(np.float32)
        return FrameChoices(tokens=tokens, probs=probs)


class LanguageReducer:
    """FrameReducer for language identification over `codes` (all non-empty languages by default).

    `keep_frames=True` keeps each language's best token per frame, for the restricted decoding of
    the winner ("detect"); False keeps only the unrestricted choice per frame and one sum per
    language ("auto": text unrestricted, language reported), computed on speech frames only.
    With a `vocabulary` and a `text_identifier` the summary also weighs the text's language, read from
    `text_samples` transcripts drawn per input (0: the unrestricted decoding's text alone).
    """

    def __init__(
        self, table: LanguageTable, blank_id: int, codes: Sequence[str] | None = None, keep_frames: bool = True,
        vocabulary: Vocabulary | None = None, text_identifier: TextLanguageIdentifier | None = None,
        text_samples: int = SAMPLES,
    ) -> None:
        self.codes = tuple(codes) if codes is not None else tuple(table.codes())
        self.ids = [table.token_ids(code) for code in self.codes]
        self.blank_id = blank_id
        self.keep_frames = keep_frames
        self.vocabulary, self.text_identifier = vocabulary, text_identifier
        if text_samples < 0:
            raise OptionsError(f"text_samples must be 0 or more, not {text_samples}")
        # drawn paths only where they are read: a text identifier and a vocabulary to spell them
        self.text_samples = text_samples if vocabulary is not None and text_identifier is not None else 0
        self._samples: dict[int, np.ndarray] = {}  # per window: its drawn paths (frames x text_samples)
        self._acoustic = np.zeros(len(self.codes), np.float64)
        # per window, frames first: unrestricted token and probability (and per language best id and log-prob)
        self._parts: dict[int, tuple[np.ndarray, ...]] = {}

    def _best(self, log_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per frame and language: the best in-language token and its log-probability."""
        best_ids = np.empty((len(log_probs), len(self.codes)), np.int32)
        best_lp = np.empty((len(log_probs), len(self.codes)), np.float32)
        for column, ids in enumerate(self.ids):
            sub = log_probs[:, ids]
            best = sub.argmax(axis=1)
            best_ids[:, column] = ids[best]
            best_lp[:, column] = sub[np.arange(len(sub)), best]
        return best_ids, best_lp

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        scores = as_logits(logits)
        if self.text_samples:
            self._samples[first_frame] = sample_frames(scores, self.text_samples, seed=first_frame)
        if not self.keep_frames:
            self._add_sums(first_frame, scores)
            return
        log_probs = log_softmax(scores)
        # the unrestricted choice (the card's `predict`) from the same log-probabilities
        tokens, probs = log_probs.argmax(-1), np.exp(log_probs.max(-1))
        speech = tokens != self.blank_id
        best_ids, best_lp = self._best(log_probs)
        self._acoustic += best_lp[speech].sum(axis=0, dtype=np.float64)
        self._parts[first_frame] = (tokens, probs, best_ids, best_lp)

    def _add_sums(self, first_frame: int, logits: np.ndarray) -> None:
        """keep_frames=False: the same sums without a log-probability matrix: a language's best
        log-probability on a frame is its best logit minus the frame's log-normaliser."""
        tokens = logits.argmax(-1)
        normalizer = log_normalizer(logits)[:, 0]
        probs = np.exp(logits[np.arange(len(tokens)), tokens] - normalizer).astype(np.float32)
        speech = tokens != self.blank_id
        scores = logits[speech]
        for column, ids in enumerate(self.ids):
            self._acoustic[column] += scores[:, ids].max(axis=1).sum(dtype=np.float64)
        self._acoustic -= normalizer[speech].sum(dtype=np.float64)
        self._parts[first_frame] = (tokens, probs)

    def finish(self, num_frames: int) -> LanguageFrames:
        def stitched(index: int, dtype: Any, tail: tuple[int, ...] = ()) -> np.ndarray:
            return stitch_frames({f: p[index] for f, p in self._parts.items()}, num_frames, dtype, tail)

        unrestricted = FrameChoices(stitched(0, np.int64), stitched(1, np.float32))
        sizes = tuple(len(ids) for ids in self.ids)
        samples = stitch_frames(self._samples, num_frames, np.int32, (self.text_samples,)) if self.text_samples else None
        text = {"vocabulary": self.vocabulary, "text_identifier": self.text_identifier, "samples": samples}
        if not self.keep_frames:
            return LanguageFrames(self.codes, sizes, unrestricted, self._acoustic.copy(), blank_id=self.blank_id, **text)
        languages = (len(self.codes),)
        best_ids, best_lp = stitched(2, np.int32, languages).T, stitched(3, np.float32, languages).T
        return LanguageFrames(self.codes, sizes, unrestricted, self._acoustic.copy(), best_ids, best_lp, self.blank_id,
                              **text)
