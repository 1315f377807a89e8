"""Reading subtitles and other tools' transcripts: every format, markup removed, malformed files named by line."""

from __future__ import annotations

import json

import pytest

from polyasr.errors import TranscriptError
from polyasr.align.transcripts import TranscriptSegment, read_transcript

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> there,

2
00:00:03,000 --> 00:00:04,250
{\\an8}general
Kenobi!
"""


def test_srt_cues_become_segments_without_markup(tmp_path) -> None:
    path = tmp_path / "a.srt"
    path.write_text("\ufeff" + SRT.replace("\n", "\r\n"), encoding="utf-8")  # BOM and CRLF, as Windows tools write
    assert read_transcript(path) == [
        TranscriptSegment("Hello there,", 1.0, 2.5), TranscriptSegment("general Kenobi!", 3.0, 4.25),
    ]


def test_vtt_cues_with_ids_notes_settings_voices_and_entities(tmp_path) -> None:
    path = tmp_path / "b.vtt"
    path.write_text(
        "WEBVTT - a title\nKind: captions\n\nNOTE a comment\nspanning lines\n\nSTYLE\n::cue { color: red }\n\n"
        "intro\n00:01.000 --> 00:02.500 align:start position:10%\n<v Roger Bingham>We are &amp; here\n\n"
        "01:00:03.000 --> 01:00:04.000\n<c.yellow>Second</c> line\n",
        encoding="utf-8",
    )
    assert read_transcript(path) == [
        TranscriptSegment("We are & here", 1.0, 2.5, speaker="Roger Bingham"),
        TranscriptSegment("Second line", 3603.0, 3604.0),
    ]


@pytest.mark.parametrize("layout", ["whisper", "whisperx", "verbose_json", "faster_whisper_list"])
def test_json_of_whisper_family(tmp_path, layout: str) -> None:
    segments = [{"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": " Hallo Welt.", "tokens": [1, 2]},
                {"id": 1, "start": 2.0, "end": 3.0, "text": " Wie geht's?"}]
    data: object
    if layout == "whisper":
        data = {"text": "Hallo Welt. Wie geht's?", "segments": segments, "language": "de"}
    elif layout == "whisperx":
        segments = [dict(s, speaker=f"SPEAKER_0{i}", words=[{"word": "x", "start": 0, "end": 1}]) for i, s in enumerate(segments)]
        data = {"segments": segments, "word_segments": [], "language": "de"}
    elif layout == "verbose_json":
        data = {"task": "transcribe", "language": "german", "duration": 3.0, "text": "...", "segments": segments}
    else:
        data = segments  # faster-whisper segments dumped as a list (no language)
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    found = read_transcript(path)
    assert [(s.text, s.start, s.end) for s in found] == [("Hallo Welt.", 0.0, 1.5), ("Wie geht's?", 2.0, 3.0)]
    expected_language = {"whisper": "de", "whisperx": "de", "verbose_json": "german", "faster_whisper_list": None}[layout]
    assert {s.language for s in found} == {expected_language}
    assert [s.speaker for s in found] == (["SPEAKER_00", "SPEAKER_01"] if layout == "whisperx" else [None, None])


def test_plain_text_gives_untimed_segments_per_line(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("First  line.\n\n  Second line\n", encoding="utf-8")
    assert read_transcript(path) == [TranscriptSegment("First line."), TranscriptSegment("Second line")]


def test_format_is_sniffed_without_a_known_extension(tmp_path) -> None:
    (tmp_path / "a.subs").write_text(SRT, encoding="utf-8")
    (tmp_path / "b.subs").write_text("WEBVTT\n\n00:01.000 --> 00:02.000\nhi\n", encoding="utf-8")
    assert read_transcript(tmp_path / "a.subs")[0].start == 1.0
    assert read_transcript(tmp_path / "b.subs") == [TranscriptSegment("hi", 1.0, 2.0)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.srt", SRT.replace("00:00:03,000 -->", "00:00:03,000 ->"), r"bad\.srt:5: expected an SRT cue .*'2'"),
        ("back.srt", SRT.replace("00:00:04,250", "00:00:02,000"), r"back\.srt:6: the cue ends \(2\.000 s\) before it starts"),
        ("bad.vtt", "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\n00:03.000 --> 00:0x.000\nlost\n", r"bad\.vtt:6: expected a cue timing line"),
        ("nohead.vtt", "00:01.000 --> 00:02.000\nhi\n", r"nohead\.vtt:1: expected the WebVTT header"),
        ("block.vtt", "WEBVTT\n\njust text\nmore\n", r"block\.vtt:4: expected a cue timing line"),
        ("bad.json", '{"segments": [\n{"start": 0, "end": 1,, "text": "a"}]}', r"bad\.json:2: not valid JSON"),
        ("field.json", '{"segments": [{"start": 0, "end": 1, "text": "a"}, {"start": 2, "end": "3", "text": "b"}]}',
         r"field\.json: segments\[1\]\.end must be a number of seconds"),
        ("shape.json", '{"text": "no segments"}', r"shape\.json: expected a 'segments' list"),
        ("empty.srt", "\n\n", r"empty\.srt:1: expected SRT cues, found none"),
        ("latin1.txt", None, r"latin1\.txt:2: the transcript is not UTF-8"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is None:
        path.write_bytes("line one\nna\xefve\n".encode("latin-1"))
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(TranscriptError, match=message):
        read_transcript(path)


def test_missing_file_and_textless_transcript(tmp_path) -> None:
    with pytest.raises(TranscriptError, match=r"nope\.srt: cannot read the transcript"):
        read_transcript(tmp_path / "nope.srt")
    (tmp_path / "blank.json").write_text('[{"start": 0, "end": 1, "text": "  "}]', encoding="utf-8")
    with pytest.raises(TranscriptError, match="holds no text"):
        read_transcript(tmp_path / "blank.json")
