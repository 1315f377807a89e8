"""Mixed-language speech: where the spoken language changes, from the frames language identification keeps.

`language="multi"` runs the same pass as "detect" (langid.LanguageReducer with its per-frame rows,
beside the decoder's own summary) and then, instead of one language for the whole input:

1. per-frame evidence of each candidate language: on a speech frame, the log-probability of the
   language's best character, minus log(table size) where a character starts (the inventory prior of
   langid.py); 0 on blank frames;
2. a sliding span (`span_seconds`) sums the evidence around each frame, so that a language is judged
   on a stretch of speech and not on one character;
3. hysteresis: the best sequence of languages over the frames (Viterbi), where changing language costs
   `switch_penalty` nats of summed evidence: a language must out-score the current one over more than
   a word to take over, so one word does not flip it;
4. each change is moved to the middle of the longest pause near it (within `snap_seconds`), so that
   no word is cut; spans shorter than `min_seconds` of speech join a neighbour.

Each span then gets its language's probability from langid's own `LanguageFrames.probabilities` over
its frames, and is decoded restricted to its language by the caller (the Recognizer).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

import numpy as np

from .langid import LanguageCalibration, LanguageFrames
from ..errors import OptionsError

Summary = TypeVar("Summary")


@dataclass(frozen=True)
class SpanOptions:
    """How mixed-language speech is cut into single-language spans (defaults chosen on the proxy model)."""

    span_seconds: float = 1.0  # evidence summed over this much audio around each frame
    switch_penalty: float = 8.0  # nats of summed evidence a change of language costs
    snap_seconds: float = 0.6  # a change moves to the longest pause within this distance
    min_seconds: float = 0.5  # a span with less speech than this joins its neighbour

    def __post_init__(self) -> None:
        for name in ("span_seconds", "switch_penalty", "snap_seconds", "min_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < float("inf")):
                raise OptionsError(f"{name} must be a finite number, 0 or more, not {value!r}")


@dataclass(frozen=True)
class LanguageSpan:
    """Frames [start, end) spoken in one language."""

    start: int
    end: int
    code: str
    probability: float  # of `code` over these frames (langid's calibration)


def language_spans(
    frames: LanguageFrames, frame_seconds: float, options: SpanOptions = SpanOptions(),
    calibration: LanguageCalibration = LanguageCalibration(),
) -> list[LanguageSpan]:
    """The input cut where its language changes, each span with its language; [] without speech."""
    if frames.best_log_probs is None:
        raise ValueError("language spans need the per-frame rows: LanguageReducer(keep_frames=True)")
    speech = frames.speech()
    count = len(speech)
    if not speech.any() or not frames.codes:
        return []
    evidence = _evidence(frames, speech, calibration.inventory_weight)
    width = max(1, int(round(options.span_seconds / frame_seconds)))
    kernel = np.ones(width, np.float64)
    smoothed = np.stack([np.convolve(row, kernel, mode="same") for row in evidence])
    states = _viterbi(smoothed / width, options.switch_penalty / width)
    cuts = _snapped(states, speech, int(round(options.snap_seconds / frame_seconds)))
    bounds = [0, *cuts, count]
    pieces = [(a, b, frames.codes[int(np.bincount(states[a:b], minlength=len(frames.codes)).argmax())])
              for a, b in zip(bounds, bounds[1:]) if b > a]
    pieces = _merged(pieces, speech, max(1, int(round(options.min_seconds / frame_seconds))))
    spans = []
    for a, b, code in pieces:
        ranked = dict(frames_between(frames, a, b).probabilities(calibration))
        spans.append(LanguageSpan(a, b, code, float(ranked.get(code, 0.0))))
    return spans


def frames_between(frames: LanguageFrames, start: int, end: int) -> LanguageFrames:
    """`frames` of [start, end) only, with the per-language sums of those frames."""
    part = sliced(frames.unrestricted, start, end)
    best_ids = None if frames.best_ids is None else frames.best_ids[:, start:end]
    best_log_probs = None if frames.best_log_probs is None else frames.best_log_probs[:, start:end]
    acoustic = frames.acoustic
    if best_log_probs is not None:
        speech = part.tokens != frames.blank_id
        acoustic = best_log_probs[:, speech].sum(axis=1, dtype=np.float64)
    return replace(frames, unrestricted=part, best_ids=best_ids, best_log_probs=best_log_probs, acoustic=acoustic)


def sliced(summary: Summary, start: int, end: int) -> Summary:
    """A frame summary (FrameChoices, TopTokens: dataclasses of frame-first arrays) of [start, end) only."""
    changes: dict[str, Any] = {}
    for item in fields(summary):  # type: ignore[arg-type]
        value = getattr(summary, item.name)
        if isinstance(value, np.ndarray):
            changes[item.name] = value[start:end]
    return replace(summary, **changes)  # type: ignore[type-var]


def _evidence(frames: LanguageFrames, speech: np.ndarray, inventory_weight: float) -> np.ndarray:
    """(languages, frames): each language's best-character log-probability on speech frames, with the
    inventory prior (times its weight) where a character starts; 0 elsewhere. Centred per frame."""
    assert frames.best_log_probs is not None
    tokens = frames.unrestricted.tokens
    starts = np.r_[True, tokens[1:] != tokens[:-1]] & speech
    prior = -inventory_weight * np.log(np.maximum(np.asarray(frames.table_sizes, np.float64), 1.0))[:, None] * starts[None, :]
    evidence = np.where(speech[None, :], frames.best_log_probs.astype(np.float64), 0.0) + prior
    return evidence - evidence.mean(axis=0, keepdims=True)


def _viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """The best state per frame of (states, frames) scores when changing state costs `penalty`."""
    states, count = scores.shape
    total = scores[:, 0].copy()
    back = np.zeros((count, states), np.int32)
    for t in range(1, count):
        best = int(total.argmax())
        switch = total[best] - penalty
        stay = total >= switch
        back[t] = np.where(stay, np.arange(states), best)
        total = np.where(stay, total, switch) + scores[:, t]
    path = np.empty(count, np.int64)
    path[-1] = int(total.argmax())
    for t in range(count - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _snapped(states: np.ndarray, speech: np.ndarray, reach: int) -> list[int]:
    """Frames where the state changes, each moved to the middle of the longest pause within `reach`."""
    cuts = []
    for change in np.flatnonzero(states[1:] != states[:-1]) + 1:
        a, b = max(0, change - reach), min(len(speech), change + reach)
        quiet = ~speech[a:b]
        edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(np.int8), 0]))
        runs = list(zip(edges[::2], edges[1::2]))
        cut = int(change)
        if runs:
            longest = max(runs, key=lambda r: (r[1] - r[0], -abs(a + (r[0] + r[1]) // 2 - change)))
            cut = a + (longest[0] + longest[1]) // 2
        if not cuts or cut > cuts[-1]:
            cuts.append(int(cut))
    return cuts


def _merged(pieces: list[tuple[int, int, str]], speech: np.ndarray, least: int) -> list[tuple[int, int, str]]:
    """Spans with fewer than `least` speech frames joined to the neighbour before (else after); then
    neighbours of one language joined."""
    out: list[tuple[int, int, str]] = []
    for a, b, code in pieces:
        if out and (int(speech[a:b].sum()) < least or out[-1][2] == code):
            out[-1] = (out[-1][0], b, out[-1][2])
        elif out and int(speech[out[-1][0]:out[-1][1]].sum()) < least:
            out[-1] = (out[-1][0], b, code)
        else:
            out.append((a, b, code))
    return out
