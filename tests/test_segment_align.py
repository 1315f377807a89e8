"""Aligning subtitles and whisper JSON segment by segment (Recognizer.align_segments, `polyasr align`).

The tiny random test model cannot recognise words, so the end-to-end tests use one whose CTC head
was fitted to tell espeak-ng speech from silence (tests/speech.py): the aligner must then put each
segment's letters on its real utterance, which lets the tests check re-timed cues against the
known truth. Letters all look alike to it, so utterances are kept apart by pauses. The search
logic itself (a wrong span found by the wider search) is also tested on hand-made log-probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import polyasr
from polyasr.cli.main import main
from polyasr.decoding.ctc import Vocabulary
from polyasr.errors import AlignmentError
from polyasr.align.segments import (
    SegmentAlignOptions, SpanEmissions, align_groups, group_segments, prepare_group,
)
from polyasr.align.transcripts import TranscriptSegment

from audio_factory import write_audio
from speech import build_speech_detecting_model, conversation

TOKENS = ("[PAD]", "|", "a", "b", "c")
VOCAB = Vocabulary(tokens=TOKENS, blank_id=0, word_delimiter_id=1, hidden_ids=frozenset({0}))
COLUMNS = np.arange(len(TOKENS))
LINES = [("en", "Hello there, how are you today?"), ("en+f3", "I am fine, thank you."),
         ("en", "Good to hear that."), ("en+f3", "See you tomorrow.")]
TOLERANCE = 0.25  # seconds between a re-timed cue edge and the true utterance edge


def _emissions(num_frames: int, spoken: dict[int, str]) -> np.ndarray:
    """Log-probs where frame f says the letter spoken[f] (probability 0.9), blank elsewhere."""
    probs = np.full((num_frames, len(TOKENS)), 0.1 / (len(TOKENS) - 1))
    probs[:, 0] = 0.9
    for frame, letter in spoken.items():
        probs[frame] = 0.1 / (len(TOKENS) - 1)
        probs[frame, TOKENS.index(letter)] = 0.9
    return np.log(probs).astype(np.float32)


def _groups(segments: list[TranscriptSegment]):
    return [prepare_group(g, span, VOCAB, None, None) for g, span in group_segments(segments)]


def test_a_segment_with_wrong_times_is_found_by_the_wider_search() -> None:
    # "ab" is really said at frames 100-103 and "c" at 300-301, but the second segment claims 2.0-2.2 s (100-110)
    spoken = {100: "a", 101: "a", 102: "b", 103: "b", 300: "c", 301: "c"}
    log_probs = _emissions(400, spoken)
    emissions = SpanEmissions((0,), (log_probs,), 400)
    segments = [TranscriptSegment("ab", 1.9, 2.1), TranscriptSegment("c!", 2.0, 2.2)]
    options = SegmentAlignOptions(margin_seconds=0.3, wide_margin_seconds=5.0, min_char_score=0.5)
    fetched: list[list[tuple[int, int]]] = []

    def fetch(spans):
        fetched.append(spans)
        return emissions

    aligned, warnings = align_groups(_groups(segments), emissions, fetch, COLUMNS, VOCAB, 0.02, options)
    assert [(s.text, s.start, s.end) for s in aligned] == [("ab", 2.0, 2.08), ("c!", 6.0, 6.04)]  # frames x 0.02 s
    # the wide window starts 0.1 s (5 frames) after the first segment's words and reaches 2.2 + 5 s
    assert fetched == [[(109, 361)]]
    assert warnings == ["segment at 00:02.000 found outside its own times (searched up to 5 s around them)"]
    # without the wider search the second segment stays where its letters scored poorly
    narrow = SegmentAlignOptions(margin_seconds=0.3, wide_margin_seconds=0.3, min_char_score=0.5)
    aligned, warnings = align_groups(_groups(segments), emissions, fetch, COLUMNS, VOCAB, 0.02, narrow)
    assert aligned[1].words[0].score < 0.5 and warnings == [] and len(fetched) == 1


def test_unalignable_segments_keep_their_times_with_a_warning() -> None:
    emissions = SpanEmissions((0,), (_emissions(100, {10: "a"}),), 100)  # 2 s of audio
    options = SegmentAlignOptions(margin_seconds=0.0, wide_margin_seconds=0.1)
    for segment, reason in [(TranscriptSegment("abcabcabc abcabc", 0.5, 0.52), "needs at least 16 frames"),  # 13 at most
                            (TranscriptSegment("a", 9.0, 9.5), "beyond the end of the audio")]:
        aligned, warnings = align_groups(_groups([segment]), emissions, lambda spans: emissions, COLUMNS, VOCAB, 0.02, options)
        assert [(s.start, s.end, s.text) for s in aligned] == [(segment.start, segment.end, segment.text)]
        assert [w.word for w in aligned[0].words] == segment.text.split()
        assert len(warnings) == 1 and reason in warnings[0] and "keeps its own times" in warnings[0]


def test_untimed_segments_fill_the_gap_between_timed_neighbours() -> None:
    segments = [TranscriptSegment("a", 0.0, 1.0), TranscriptSegment("b"), TranscriptSegment("c"), TranscriptSegment("a", 5.0, 6.0)]
    plans = group_segments(segments)
    assert [(len(g), span) for g, span in plans] == [(1, (0.0, 1.0)), (2, (1.0, 5.0)), (1, (5.0, 6.0))]
    assert [(len(g), span) for g, span in group_segments([TranscriptSegment("x"), TranscriptSegment("y")])] == [(2, (0.0, None))]
    log_probs = _emissions(300, {20: "a", 100: "b", 101: "b", 150: "|", 200: "c", 270: "a"})
    emissions = SpanEmissions((0,), (log_probs,), 300)
    aligned, _ = align_groups(_groups(segments), emissions, lambda s: emissions, COLUMNS, VOCAB, 0.02)
    assert [(s.text, round(s.start, 6), round(s.end, 6)) for s in aligned] == [
        ("a", 0.4, 0.42), ("b", 2.0, 2.04), ("c", 4.0, 4.02), ("a", 5.4, 5.42)]


def test_bad_segments_are_clear_errors(recognizer) -> None:
    x = np.zeros(16_000, np.float32)
    with pytest.raises(AlignmentError, match="segment 1 ends"):
        recognizer.align_segments(x, [{"start": 0, "end": 1, "text": "a"}, {"start": 2, "end": 1, "text": "b"}], sampling_rate=16_000)
    with pytest.raises(AlignmentError, match="segment 0 needs both start and end"):
        recognizer.align_segments(x, [{"start": 0, "text": "a"}], sampling_rate=16_000)
    with pytest.raises(AlignmentError, match="no segments with text"):
        recognizer.align_segments(x, [{"start": 0, "end": 1, "text": " "}], sampling_rate=16_000)
    with pytest.raises(polyasr.LanguageError, match="klingon"):
        recognizer.align_segments(x, [TranscriptSegment("a", 0, 1, language="klingon")], sampling_rate=16_000)


# --- end to end, on synthesised speech ------------------------------------------------------------


@pytest.fixture(scope="session")
def speech_model_dir(espeak: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_speech_detecting_model(tmp_path_factory.mktemp("speech-model"), espeak)


@pytest.fixture(scope="session")
def speech_recognizer(speech_model_dir: Path):
    return polyasr.load(str(speech_model_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="session")
def dialogue(espeak: str):
    return conversation(espeak, LINES, pause=2.0, lead=1.5)


def _assert_near_truth(segments, turns) -> None:
    for segment, turn in zip(segments, turns, strict=True):
        assert segment.text == turn.text
        assert abs(segment.start - turn.start) < TOLERANCE and abs(segment.end - turn.end) < TOLERANCE, (segment, turn)
        assert all(turn.start - TOLERANCE <= w.start <= w.end <= turn.end + TOLERANCE for w in segment.words)


def test_shifted_srt_is_retimed_by_the_cli(speech_model_dir, dialogue, tmp_path) -> None:
    srt = pytest.importorskip("srt")
    audio, turns = dialogue
    wav = write_audio(tmp_path / "talk.wav", "pcm_s16le", 16_000, audio[None].astype(np.float64))
    # cue 1 late by 0.4 s, cue 2 early by 0.5 s (within the 1 s margin), cue 3 late by 1.3 s (beyond it)
    shifts = [0.4, -0.5, 1.3, 0.0]
    cues = [srt.Subtitle(i + 1, _delta(t.start + s), _delta(t.end + s), t.text) for i, (t, s) in enumerate(zip(turns, shifts))]
    (tmp_path / "talk.srt").write_text(srt.compose(cues), encoding="utf-8")
    code = main(["align", str(wav), str(tmp_path / "talk.srt"), "--model", str(speech_model_dir), "--dtype", "fp32",
                 "-l", "en", "-f", "srt,json", "-o", str(tmp_path / "out")])
    assert code == 0 and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["talk.json", "talk.srt"]
    retimed = list(srt.parse((tmp_path / "out" / "talk.srt").read_text(encoding="utf-8")))
    assert [c.content for c in retimed] == [t.text for t in turns]  # text and punctuation kept, one cue each
    for cue, turn in zip(retimed, turns):
        assert abs(cue.start.total_seconds() - turn.start) < TOLERANCE and abs(cue.end.total_seconds() - turn.end) < TOLERANCE
    data = json.loads((tmp_path / "out" / "talk.json").read_text(encoding="utf-8"))
    assert [[w["word"] for w in s["words"]] for s in data["segments"]] == [t.text.split() for t in turns]
    assert [s["language"] for s in data["segments"]] == ["en"] * 4
    assert data["warnings"] == ["segment at 00:10.057 found outside its own times (searched up to 10 s around them)"]


def test_whisper_json_segments_get_words_inside_their_utterances(speech_recognizer, dialogue, tmp_path) -> None:
    audio, turns = dialogue
    whisper = {"text": " ".join(t.text for t in turns), "language": "en",
               "segments": [{"id": i, "seek": 0, "start": round(t.start - 0.3, 2), "end": round(t.end + 0.2, 2),
                             "text": " " + t.text, "tokens": []} for i, t in enumerate(turns)]}
    path = tmp_path / "whisper.json"
    path.write_text(json.dumps(whisper), encoding="utf-8")
    result = speech_recognizer.align_segments(audio, polyasr.read_transcript(path), sampling_rate=16_000)
    assert result.language == "en" and result.warnings == ()
    _assert_near_truth(result.segments, turns)
    assert result.text == " ".join(t.text for t in turns)


def test_plain_text_lines_are_aligned_over_the_whole_file(speech_recognizer, dialogue) -> None:
    audio, turns = dialogue
    segments = [TranscriptSegment(turns[0].text), TranscriptSegment(turns[1].text)]
    result = speech_recognizer.align_segments(audio[: int(7.5 * 16_000)], segments, language="en", sampling_rate=16_000)
    assert [s.text for s in result.segments] == [turns[0].text, turns[1].text]
    assert result.segments[0].start == pytest.approx(turns[0].start, abs=TOLERANCE)
    assert result.segments[1].end == pytest.approx(turns[1].end, abs=TOLERANCE)


def test_the_model_runs_over_the_segments_spans_only(speech_recognizer, espeak, monkeypatch) -> None:
    audio, turns = conversation(espeak, LINES[:2], pause=50.0, lead=10.0)  # 2 utterances in ~65 s of near-silence
    seen: list[int] = []
    logits = speech_recognizer.model.iter_logits

    def counting(batch, stats=None):
        seen.extend(len(x) for x in batch)
        return logits(batch, stats)

    monkeypatch.setattr(speech_recognizer.model, "iter_logits", counting)  # the engine's way to the model
    segments = [TranscriptSegment(t.text, t.start, t.end) for t in turns]
    result = speech_recognizer.align_segments(audio, segments, language="en", sampling_rate=16_000)
    _assert_near_truth(result.segments, turns)
    covered = sum(t.end - t.start + 2 * (1.0 + 0.5) for t in turns)  # each span, 1 s margin and 0.5 s context a side
    assert sum(seen) / 16_000 == pytest.approx(covered, abs=0.1)
    assert sum(seen) < 0.2 * len(audio)


def _delta(seconds: float):
    from datetime import timedelta

    return timedelta(milliseconds=round(seconds * 1000))
