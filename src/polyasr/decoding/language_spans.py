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
   no word is cut; the input is also cut in the middle of every pause of `pause_seconds` or more;
5. each piece between cuts is judged by langid's full evidence over its frames
   (`LanguageFrames.probabilities`: the acoustic sums fused with the language of the piece's own
   text, text_langid.py), weighted by its speech (a piece with less than `span_seconds` of speech
   counts in proportion), and a second Viterbi pass over the pieces, where a change of language costs
   `piece_switch_penalty` nats, chooses their languages; neighbours of one language are joined and
   spans shorter than `min_seconds` of speech join a neighbour.

Step 5 is what separates languages that share a script: the per-frame character evidence of steps
1-3 alone found the right language for 10 % of the clip time on the proxy model's de/en/es/fr/it/nl/
pl/pt recordings (docs/languages.md). Each span then gets its language's probability from the same
`LanguageFrames.probabilities` over its pieces, and is decoded restricted to its language by the
caller (the Recognizer).

The pieces are best judged on frames the model computed for each piece alone (`piece_spans` with a
second pass, recognizer/multi.py): in one pass over the whole input the model's self-attention sees
the other languages, and its text drifts towards them ("pubblicato" read as "publikato" beside
German). On the proxy's mixed recordings the pieces cut by steps 1-4 are the clips (63 of 64 true
boundaries found), yet judged on the one-pass frames only 67 of 96 clips got their language; judged
alone, 87 of 96. `language_spans` is the one-pass version (the frames of each piece sliced out).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Sequence, TypeVar

import numpy as np

from .ctc import FrameChoices
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
    pause_seconds: float = 0.3  # the input is also cut in the middle of every pause this long
    piece_switch_penalty: float = 1.0  # nats of a piece's log-probability a change of language costs

    def __post_init__(self) -> None:
        for name in ("span_seconds", "switch_penalty", "snap_seconds", "min_seconds", "pause_seconds",
                     "piece_switch_penalty"):
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
    pieces: tuple[int, ...] = ()  # the indices of the pieces (language_cuts) it joins


def language_spans(
    frames: LanguageFrames, frame_seconds: float, options: SpanOptions = SpanOptions(),
    calibration: LanguageCalibration = LanguageCalibration(),
) -> list[LanguageSpan]:
    """The input cut where its language changes, each span with its language; [] without speech.
    One pass: each piece is judged on its slice of `frames` (see the module's note on a second pass)."""
    pieces = language_cuts(frames, frame_seconds, options, calibration)
    return piece_spans(pieces, [frames_between(frames, a, b) for a, b in pieces], frame_seconds, options, calibration)


def language_cuts(
    frames: LanguageFrames, frame_seconds: float, options: SpanOptions = SpanOptions(),
    calibration: LanguageCalibration = LanguageCalibration(),
) -> list[tuple[int, int]]:
    """Steps 1-4: the input's frames [start, end) cut at its pauses and where its language seems to
    change, as consecutive pieces covering all of it; [] without speech."""
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
    cuts = sorted(set(cuts) | set(_pause_cuts(speech, max(1, int(round(options.pause_seconds / frame_seconds))))))
    bounds = [0, *[c for c in cuts if 0 < c < count], count]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def piece_spans(
    pieces: Sequence[tuple[int, int]], parts: Sequence[LanguageFrames | None], frame_seconds: float,
    options: SpanOptions = SpanOptions(), calibration: LanguageCalibration = LanguageCalibration(),
) -> list[LanguageSpan]:
    """Step 5: consecutive pieces [start, end) (in order, not overlapping), each judged on its own
    frames `parts[i]` (None: no speech), joined into spans of one language; [] without speech."""
    spoken = [0 if part is None else int(part.speech().sum()) for part in parts]
    judged = [i for i, count in enumerate(spoken) if count]
    if not judged:
        return []
    codes = parts[judged[0]].codes  # type: ignore[union-attr]
    chosen = _piece_languages(codes, parts, spoken, frame_seconds, options, calibration)
    least = max(1, int(round(options.min_seconds / frame_seconds)))
    spans = []
    for members, code in _merged([((i,), code) for i, code in enumerate(chosen)], spoken, least):
        evidence = [parts[i] for i in members if spoken[i]]
        ranked = dict(joined(evidence).probabilities(calibration)) if evidence else {}  # type: ignore[arg-type]
        spans.append(LanguageSpan(pieces[members[0]][0], pieces[members[-1]][1], code,
                                  float(ranked.get(code, 0.0)), members))
    return spans


def joined(parts: Sequence[LanguageFrames]) -> LanguageFrames:
    """Consecutive frames (pieces of one input, each with its own sums) as one LanguageFrames."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    rows = lambda name: None if getattr(first, name) is None else np.concatenate(  # noqa: E731
        [getattr(p, name) for p in parts], axis=1)
    unrestricted = FrameChoices(np.concatenate([p.unrestricted.tokens for p in parts]),
                                np.concatenate([p.unrestricted.probs for p in parts]))
    return replace(first, unrestricted=unrestricted, acoustic=np.sum([p.acoustic for p in parts], axis=0),
                   best_ids=rows("best_ids"), best_log_probs=rows("best_log_probs"))


def frames_between(frames: LanguageFrames, start: int, end: int) -> LanguageFrames:
    """`frames` of [start, end) only, with the per-language sums of those frames."""
    part = sliced(frames.unrestricted, start, end)
    best_ids = None if frames.best_ids is None else frames.best_ids[:, start:end]
    best_log_probs = None if frames.best_log_probs is None else frames.best_log_probs[:, start:end]
    acoustic = frames.acoustic
    if best_log_probs is not None:
        speech = part.tokens != frames.blank_id
        acoustic = best_log_probs[:, speech].sum(axis=1, dtype=np.float64)
    samples = None if frames.samples is None else frames.samples[start:end]
    return replace(frames, unrestricted=part, best_ids=best_ids, best_log_probs=best_log_probs, acoustic=acoustic,
                   samples=samples)


def sliced(summary: Summary, start: int, end: int) -> Summary:
    """A frame summary (FrameChoices, TopTokens: dataclasses of frame-first arrays) of [start, end) only."""
    changes: dict[str, Any] = {}
    for item in fields(summary):  # type: ignore[arg-type]
        value = getattr(summary, item.name)
        if isinstance(value, np.ndarray):
            changes[item.name] = value[start:end]
    return replace(summary, **changes)  # type: ignore[type-var]


def _pause_cuts(speech: np.ndarray, least: int) -> list[int]:
    """The middle of every run of non-speech frames at least `least` long, between two stretches of speech."""
    edges = np.flatnonzero(np.diff(np.r_[0, (~speech).astype(np.int8), 0]))
    return [int((a + b) // 2) for a, b in zip(edges[::2], edges[1::2]) if b - a >= least and a > 0 and b < len(speech)]


def _piece_languages(
    codes: tuple[str, ...], parts: Sequence[LanguageFrames | None], spoken: list[int], frame_seconds: float,
    options: SpanOptions, calibration: LanguageCalibration,
) -> list[str]:
    """Each piece's language: langid's fused log-probabilities per piece (weighted by its speech, up to
    `span_seconds`), then the best sequence when a change costs `piece_switch_penalty` nats."""
    scores = np.zeros((len(codes), len(parts)), np.float64)
    for column, part in enumerate(parts):
        if part is None or not spoken[column]:
            continue
        ranked = dict(part.probabilities(calibration))
        weight = min(1.0, spoken[column] * frame_seconds / options.span_seconds) if options.span_seconds > 0 else 1.0
        scores[:, column] = weight * np.log(np.maximum([ranked.get(c, 0.0) for c in codes], 1e-12))
    return [codes[int(i)] for i in _viterbi(scores, options.piece_switch_penalty)]


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


def _merged(pieces: list[tuple[tuple[int, ...], str]], spoken: list[int], least: int) -> list[tuple[tuple[int, ...], str]]:
    """Runs of pieces (their indices) with fewer than `least` speech frames joined to the run before
    (else after); then neighbours of one language joined."""
    out: list[tuple[tuple[int, ...], str]] = []
    speech = lambda members: sum(spoken[i] for i in members)  # noqa: E731
    for members, code in pieces:
        if out and (speech(members) < least or out[-1][1] == code):
            out[-1] = (out[-1][0] + members, out[-1][1])
        elif out and speech(out[-1][0]) < least:
            out[-1] = (out[-1][0] + members, code)
        else:
            out.append((members, code))
    return out
