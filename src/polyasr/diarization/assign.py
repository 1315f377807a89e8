"""Putting speaker turns on a transcription: a speaker on every word, segments split where it changes."""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ..results import Segment, Transcription, Word
from ..output.timing import join_words
from .pipeline import SpeakerTurn


def speaker_at(turns: Sequence[SpeakerTurn], start: float, end: float) -> str | None:
    """The speaker of the turn overlapping [start, end] most; the nearest turn when none overlaps."""
    if not turns:
        return None
    overlap = [(min(end, t.end) - max(start, t.start), t.speaker) for t in turns]
    best, speaker = max(overlap, key=lambda item: item[0])
    if best > 0:
        return speaker
    middle = (start + end) / 2
    return min(turns, key=lambda t: min(abs(t.start - middle), abs(t.end - middle))).speaker


def assign_speakers(result: Transcription, turns: Sequence[SpeakerTurn], keep_words: bool = True) -> Transcription:
    """`result` with a speaker on every word and segment; a segment whose words change speaker is split there.

    Segments without words take the speaker they overlap most. `keep_words=False` drops the words
    afterwards (they were only needed to split the segments).
    """
    segments: list[Segment] = []
    for segment in result.segments:
        if not segment.words:
            segments.append(replace(segment, id=len(segments), speaker=speaker_at(turns, segment.start, segment.end)))
            continue
        words = [replace(w, speaker=speaker_at(turns, w.start, w.end)) for w in segment.words]
        runs: list[list[Word]] = []
        for word in words:
            if runs and runs[-1][-1].speaker == word.speaker:
                runs[-1].append(word)
            else:
                runs.append([word])
        for run in runs:
            text = segment.text if len(runs) == 1 else join_words(run)
            segments.append(Segment(len(segments), run[0].start, run[-1].end, text, tuple(run) if keep_words else (),
                                    speaker=run[0].speaker, language=segment.language))
    return replace(result, segments=tuple(segments))
