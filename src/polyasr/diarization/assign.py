"""Putting speaker turns on a transcription: the turns themselves, a speaker on every word (the turn it
overlaps most), segments split where that speaker changes, and a warning for words across a change."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..results import Segment, SpeakerTurn, Transcription, Word
from ..output.timing import join_words, segment_confidence

STRADDLE_SECONDS = 0.1  # a word straddles a change when it overlaps two speakers' turns by at least this each


def speaker_overlaps(turns: Sequence[SpeakerTurn], start: float, end: float) -> dict[str, float]:
    """Seconds of [start, end] inside each speaker's turns (speakers with none left out)."""
    seconds: dict[str, float] = {}
    for turn in turns:
        overlap = min(end, turn.end) - max(start, turn.start)
        if overlap > 0:
            seconds[turn.speaker] = seconds.get(turn.speaker, 0.0) + overlap
    return seconds


def speaker_at(turns: Sequence[SpeakerTurn], start: float, end: float) -> str | None:
    """The speaker whose turns overlap [start, end] most; the nearest turn's when none overlaps."""
    if not turns:
        return None
    seconds = speaker_overlaps(turns, start, end)
    if seconds:
        return max(seconds, key=lambda speaker: seconds[speaker])
    middle = (start + end) / 2
    return min(turns, key=lambda t: min(abs(t.start - middle), abs(t.end - middle))).speaker


def straddles(turns: Sequence[SpeakerTurn], word: Word) -> bool:
    """Whether `word` overlaps the turns of two or more speakers by STRADDLE_SECONDS or more each."""
    return sum(s >= STRADDLE_SECONDS for s in speaker_overlaps(turns, word.start, word.end).values()) >= 2


def assign_speakers(result: Transcription, turns: Sequence[SpeakerTurn], keep_words: bool = True) -> Transcription:
    """`result` with the turns, a speaker on every word and segment; a segment is split where its words' speaker changes.

    Segments without words take the speaker they overlap most. `keep_words=False` drops the words
    afterwards (they were only needed to split the segments). Words across a speaker change are
    counted in one warning: their times (the recogniser's) disagree with the turns (the diarizer's).
    """
    segments: list[Segment] = []
    across: list[Word] = []
    for segment in result.segments:
        if not segment.words:
            segments.append(replace(segment, id=len(segments), speaker=speaker_at(turns, segment.start, segment.end)))
            continue
        words = [replace(w, speaker=speaker_at(turns, w.start, w.end)) for w in segment.words]
        across += [w for w in words if straddles(turns, w)]
        runs: list[list[Word]] = []
        for word in words:
            if runs and runs[-1][-1].speaker == word.speaker:
                runs[-1].append(word)
            else:
                runs.append([word])
        for run in runs:
            text = segment.text if len(runs) == 1 else join_words(run)
            segments.append(Segment(len(segments), run[0].start, run[-1].end, text, tuple(run) if keep_words else (),
                                    speaker=run[0].speaker, language=segment.language, **segment_confidence(run)))
    warnings = result.warnings
    if across:
        first = across[0]
        warnings += (f"{len(across)} word(s) straddle a speaker change (first: {first.word!r} at "
                     f"{first.start:.2f}-{first.end:.2f} s); each has the speaker of the turn it overlaps most",)
    return replace(result, segments=tuple(segments), turns=tuple(turns), warnings=warnings)
