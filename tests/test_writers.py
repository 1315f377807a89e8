from __future__ import annotations

import json
from datetime import timedelta

import pytest
import srt
import webvtt

from polyasr.errors import OptionsError
from polyasr.results import Char, Segment, SpeakerTurn, Transcription, Word
from polyasr.output.base import ResultWriter, WriterOptions
from polyasr.output.cues import Cue, build_cues
from polyasr.output.stems import output_stem
from polyasr.output.subtitles import WriteSRT, WriteVTT
from polyasr.output.text_formats import WriteJSON, WriteTSV, WriteTXT
from polyasr.output.timestamps import format_timestamp
from polyasr.output.writers import FORMATS, WRITERS, get_writer, get_writers


def words_from(text: str, start: float, step: float) -> tuple[Word, ...]:
    """One word per whitespace token, `step` seconds each, back to back from `start`."""
    out = []
    t = start
    for token in text.split():
        chars = tuple(Char(c, round(t + i * 0.01, 3), round(t + (i + 1) * 0.01, 3), 0.9) for i, c in enumerate(token))
        out.append(Word(token, round(t, 3), round(t + step * 0.8, 3), 0.9, chars))
        t += step
    return tuple(out)


LONG_TEXT = " ".join(f"word{i:02d}" for i in range(50))  # 50 words of 6 letters, 349 characters
CHINESE = "今天天气很好我们一起去公园散步然后吃午饭晚上再回家看电视休息一下明天继续工作学习今天晚上我们吃饺子吧好的"  # 52


def sample() -> Transcription:
    segments = (
        Segment(0, 0.0, 2.0, "Hello world.", words_from("Hello world.", 0.0, 1.0)),
        Segment(1, 2.0, 27.0, LONG_TEXT, words_from(LONG_TEXT, 2.0, 0.5)),  # 25 s, many words
        Segment(
            2,
            27.0,
            31.0,
            "This rather long sentence without word timestamps must certainly be wrapped onto two lines",
        ),
        Segment(3, 30.0, 32.0, "overlapping start"),  # starts before the previous segment ends
        Segment(4, 33.0, 33.0, "zero length"),
        Segment(5, 34.0, 40.0, CHINESE),  # no spaces, no words
        Segment(6, 41.0, 42.0, "   "),  # nothing to show
    )
    return Transcription(
        text=" ".join(s.text.strip() for s in segments if s.text.strip()),
        language=None,
        duration=45.0,
        source="dir/talk.mp3",
        segments=segments,
    )


def td(seconds: float) -> timedelta:
    return timedelta(milliseconds=round(seconds * 1000))


# ---------------------------------------------------------------------------------------------


def test_lookup_and_formats() -> None:
    assert FORMATS == ("txt", "json", "srt", "vtt", "tsv", "rttm", "all")
    assert set(WRITERS) == set(FORMATS) - {"all"}
    expected = {"txt": WriteTXT, "json": WriteJSON, "srt": WriteSRT, "vtt": WriteVTT, "tsv": WriteTSV}
    for name, cls in expected.items():
        writer = get_writer(name)
        assert type(writer) is cls and writer.extension == name
        assert writer.options == WriterOptions()
        assert [type(w) for w in get_writers(name)] == [cls]
    options = WriterOptions(max_line_width=20)
    assert get_writer("srt", options=options).options is options
    all_writers = get_writers("all", options)
    assert [w.extension for w in all_writers] == ["txt", "json", "srt", "vtt", "tsv"]
    assert all(w.options is options for w in all_writers)


def test_unknown_format() -> None:
    with pytest.raises(ValueError) as info:
        get_writer("docx")
    assert str(info.value) == "unknown output format 'docx'; choose one of: txt, json, srt, vtt, tsv, rttm, all"
    with pytest.raises(ValueError, match="txt, json, srt, vtt, tsv, rttm, all"):
        get_writers("docx")
    with pytest.raises(ValueError, match="get_writers"):
        get_writer("all")


def test_options_defaults_and_validation() -> None:
    options = WriterOptions()
    assert (options.max_line_width, options.max_line_count, options.max_cue_seconds, options.include_words) == (42, 2, 7.0, True)
    with pytest.raises(Exception):
        options.max_line_width = 10  # type: ignore[misc]
    for bad in ({"max_line_width": 0}, {"max_line_count": 0}, {"max_cue_seconds": 0.0}):
        with pytest.raises(OptionsError, match=next(iter(bad))):
            WriterOptions(**bad)


def test_format_timestamp() -> None:
    assert format_timestamp(3661500, ",") == "01:01:01,500"
    assert format_timestamp(0) == "00:00:00.000"
    assert format_timestamp(360_000_000) == "100:00:00.000"


def test_hand_made_srt_and_vtt_timestamps() -> None:
    result = Transcription(
        text="a b",
        language="en",
        duration=4000.0,
        source="<bytes>",
        segments=(Segment(0, 3661.5, 3662.0004, "a"), Segment(1, 3662.0015, 3663.9996, "b")),
    )
    assert get_writer("srt").format(result) == (
        "1\n01:01:01,500 --> 01:01:02,000\na\n\n2\n01:01:02,002 --> 01:01:04,000\nb\n\n"
    )
    assert get_writer("vtt").format(result) == (
        "WEBVTT\n\n01:01:01.500 --> 01:01:02.000\na\n\n01:01:02.002 --> 01:01:04.000\nb\n\n"
    )


def check_cues(cues: list[tuple[timedelta, timedelta, str]]) -> None:
    previous_end = timedelta(0)
    for start, end, text in cues:
        assert start >= previous_end
        assert end > start
        assert text.strip()
        previous_end = end


def test_srt_rules() -> None:
    result = sample()
    output = get_writer("srt").format(result)
    subs = list(srt.parse(output))
    assert [s.index for s in subs] == list(range(1, len(subs) + 1))
    assert srt.compose(subs) == output
    check_cues([(s.start, s.end, s.content) for s in subs])
    for sub in subs:
        lines = sub.content.split("\n")
        assert 1 <= len(lines) <= 2
        assert all(0 < len(line) <= 42 for line in lines)
        assert sub.end - sub.start <= timedelta(seconds=7)

    # first segment untouched
    assert (subs[0].start, subs[0].end, subs[0].content) == (td(0), td(2), "Hello world.")

    # the 25 s segment is split at word boundaries, every word kept, in order, at word times
    long_subs = [s for s in subs if s.content.startswith("word")]
    assert len(long_subs) >= 4
    assert " ".join(s.content.replace("\n", " ") for s in long_subs) == LONG_TEXT
    assert long_subs[0].start == td(2.0)
    assert long_subs[-1].end == td(2.0 + 49 * 0.5 + 0.4)
    for sub in long_subs:
        first = int(sub.content.split()[0][4:])
        last = int(sub.content.split()[-1][4:])
        assert sub.start == td(2.0 + first * 0.5)
        assert sub.end == td(2.0 + last * 0.5 + 0.4)

    # a long line without words is split in proportion to characters and wrapped at spaces
    index = next(i for i, sub in enumerate(subs) if sub.content.startswith("This rather"))
    assert [sub.content for sub in subs[index : index + 2]] == [
        "This rather long sentence without word\ntimestamps must certainly be wrapped onto",
        "two lines",
    ]
    assert subs[index].start == td(27.0) and subs[index + 1].end == td(31.0)
    assert subs[index].end == subs[index + 1].start == td(27.0 + 4.0 * 81 / 90)  # "two" is at 81 of 90 characters

    # overlapping start moved to the previous end
    overlap = next(s for s in subs if s.content == "overlapping start")
    before = subs[subs.index(overlap) - 1]
    assert overlap.start == before.end and overlap.end == td(32.0)

    # zero-length segment gets 1 ms
    zero = next(s for s in subs if s.content == "zero length")
    assert (zero.start, zero.end) == (td(33.0), td(33.001))

    # Chinese without spaces: wrapped by characters, all text kept
    chinese = [s for s in subs if s.start >= td(34.0)]
    assert "".join(s.content.replace("\n", "") for s in chinese) == CHINESE
    assert [s.content for s in chinese] == [CHINESE[:42] + "\n" + CHINESE[42:]]
    assert chinese[0].start == td(34.0) and chinese[-1].end == td(40.0)

    # the blank segment is skipped
    assert subs[-1] is chinese[-1]


def test_chinese_wrapping_exact() -> None:
    segment = Segment(0, 0.0, 6.0, CHINESE)
    result = Transcription(CHINESE, "zh", 6.0, "zh.wav", (segment,))
    cues = build_cues(result, WriterOptions(max_line_width=10, max_line_count=2))
    assert all(len(line) <= 10 for cue in cues for line in cue.text.split("\n"))
    assert [len(cue.text.replace("\n", "")) for cue in cues] == [20, 20, 12]
    assert cues[0].text == CHINESE[:10] + "\n" + CHINESE[10:20]
    assert (cues[0].start_ms, cues[-1].end_ms) == (0, 6000)
    assert cues[1].start_ms == cues[0].end_ms == round(6000 * 20 / 52)


def test_chinese_with_words() -> None:
    text = "你好世界"
    words = tuple(Word(c, i * 3.0, i * 3.0 + 2.5, 0.8) for i, c in enumerate(text))
    result = Transcription(text, "zh", 12.0, "zh.wav", (Segment(0, 0.0, 12.0, text, words),))
    cues = build_cues(result)
    assert [(c.start_ms, c.end_ms, c.text) for c in cues] == [(0, 5500, "你好"), (6000, 11500, "世界")]


def test_a_word_wider_than_a_cue_is_split_into_line_wide_pieces() -> None:
    word = "x" * 60 + "y" * 60  # 120 characters: 3 pieces of 40, more than one cue's 2 lines hold
    result = Transcription(word, "en", 3.0, "a.wav", (Segment(0, 0.0, 3.0, f"{word} end"),))
    cues = build_cues(result)
    assert all(len(line) <= 42 for cue in cues for line in cue.text.split("\n"))
    assert all(len(cue.text.split("\n")) <= 2 for cue in cues)
    assert [c.text for c in cues] == ["x" * 40 + "\n" + "x" * 20 + "y" * 20, "y" * 40 + "\nend"]
    # timed in proportion to characters: the word (and its space) holds 121 of 124, and the first
    # cue 80 of the word's 120 characters
    assert (cues[0].start_ms, cues[0].end_ms, cues[1].end_ms) == (0, round(3000 * 121 / 124 * 80 / 120), 3000)


def test_a_word_longer_than_a_cue_is_split_in_time() -> None:
    long_word = Word("supercalifragilistic", 1.0, 21.0, 0.9)  # 20 characters held for 20 s
    segment = Segment(0, 0.0, 22.0, "a supercalifragilistic b", (Word("a", 0.0, 0.5, 0.9), long_word, Word("b", 21.0, 22.0, 0.9)))
    cues = build_cues(Transcription(segment.text, "en", 22.0, "a.wav", (segment,)))
    assert all(cue.end_ms - cue.start_ms <= 7000 for cue in cues)
    assert "".join(c.text for c in cues) == "asupercalifragilisticb"
    assert [c.text for c in cues] == ["a", "superca", "lifrag", "ilistic", "b"]  # 20 letters in 3 pieces of ~6.7 s
    one_letter = Segment(0, 0.0, 10.0, "o", (Word("o", 0.0, 10.0, 0.9),))  # cannot be split: cut short
    assert build_cues(Transcription("o", "en", 10.0, "a.wav", (one_letter,))) == [Cue(0, 7000, "o")]


def test_vtt_escapes_cue_text_but_srt_does_not() -> None:
    text = "R&B <b>not bold</b> a > b"
    result = Transcription(text, "en", 2.0, "a.wav", (Segment(0, 0.0, 2.0, text),))
    vtt = get_writer("vtt").format(result)
    assert vtt.split("\n")[3] == "R&amp;B &lt;b&gt;not bold&lt;/b&gt; a &gt; b"
    assert list(webvtt.from_string(vtt).captions)[0].raw_text == "R&amp;B &lt;b&gt;not bold&lt;/b&gt; a &gt; b"
    assert list(srt.parse(get_writer("srt").format(result)))[0].content == text


def test_json_times_are_whole_milliseconds() -> None:
    noisy = 552 * 0.02  # 11.040000000000001
    word = Word("hi", noisy, 0.1 + 0.2, 0.5, (Char("h", noisy, 11.06, 0.5),))
    result = Transcription("hi", "en", 12.3456789, "a.wav", (Segment(0, noisy, 0.1 + 0.2, "hi", (word,)),))
    text = get_writer("json").format(result)
    assert "11.040000000000001" not in text and "0.30000000000000004" not in text
    data = json.loads(text)
    assert (data["duration"], data["segments"][0]["start"], data["segments"][0]["end"]) == (12.346, 11.04, 0.3)
    assert data["segments"][0]["words"][0]["chars"][0]["start"] == 11.04


def test_vtt_rules() -> None:
    result = sample()
    output = get_writer("vtt").format(result)
    assert output.startswith("WEBVTT\n\n")
    vtt = webvtt.from_string(output)
    captions = list(vtt.captions)
    subs = list(srt.parse(get_writer("srt").format(result)))
    assert len(captions) == len(subs)
    for caption, sub in zip(captions, subs):
        assert caption.start == format_timestamp(sub.start // timedelta(milliseconds=1))
        assert caption.end == format_timestamp(sub.end // timedelta(milliseconds=1))
        assert caption.text == sub.content
    assert (captions[0].start, captions[0].end, captions[0].text) == ("00:00:00.000", "00:00:02.000", "Hello world.")
    zero = next(c for c in captions if c.text == "zero length")
    assert (zero.start, zero.end) == ("00:00:33.000", "00:00:33.001")


def test_text_without_segments_and_empty() -> None:
    result = Transcription("just some text", "en", 3.25, "<array>", ())
    assert get_writer("srt").format(result) == "1\n00:00:00,000 --> 00:00:03,250\njust some text\n\n"
    assert get_writer("vtt").format(result) == "WEBVTT\n\n00:00:00.000 --> 00:00:03.250\njust some text\n\n"
    assert get_writer("txt").format(result) == "just some text\n"
    assert get_writer("tsv").format(result) == "start\tend\ttext\n0\t3250\tjust some text\n"

    long = Transcription(LONG_TEXT, "en", 20.0, "<array>", ())
    cues = build_cues(long)
    assert len(cues) >= 3 and cues[0].start_ms == 0 and cues[-1].end_ms == 20000
    assert all(c.end_ms - c.start_ms <= 7000 for c in cues)
    assert " ".join(c.text.replace("\n", " ") for c in cues) == LONG_TEXT

    empty = Transcription("", None, 0.0, "<bytes>", ())
    assert get_writer("srt").format(empty) == ""
    assert list(srt.parse(get_writer("srt").format(empty))) == []
    assert get_writer("vtt").format(empty) == "WEBVTT\n\n"
    assert list(webvtt.from_string(get_writer("vtt").format(empty)).captions) == []
    assert get_writer("txt").format(empty) == ""
    assert get_writer("tsv").format(empty) == "start\tend\ttext\n"
    assert json.loads(get_writer("json").format(empty))["segments"] == []


def test_tsv_exact() -> None:
    result = Transcription(
        "Hi there. Bye",
        "en",
        5.0,
        "x.wav",
        (Segment(0, 0.0, 1.2345, " Hi\tthere. "), Segment(1, 1.5, 4.9996, "Bye"), Segment(2, 5.0, 5.0, "")),
    )
    assert get_writer("tsv").format(result) == "start\tend\ttext\n0\t1235\tHi there.\n1500\t5000\tBye\n"


def test_txt() -> None:
    assert get_writer("txt").format(sample()).split("\n")[:2] == ["Hello world.", LONG_TEXT]
    assert get_writer("txt").format(sample()).count("\n") == 6


def test_json_round_trip() -> None:
    result = sample()
    text = get_writer("json").format(result)
    assert CHINESE in text  # UTF-8, not \\u escapes
    data = json.loads(text)
    assert data == json.loads(json.dumps(result.to_dict()))
    first = data["segments"][0]
    assert first["words"][0]["word"] == "Hello"
    assert first["words"][1]["chars"][0] == {"char": "w", "start": 1.0, "end": 1.01, "score": 0.9}
    assert data["warnings"] == [] and data["source"] == "dir/talk.mp3"
    rebuilt = Transcription(
        **{
            **data,
            "segments": tuple(
                Segment(
                    **{
                        **s,
                        "words": tuple(Word(**{**w, "chars": tuple(Char(**c) for c in w["chars"])}) for w in s["words"]),
                    }
                )
                for s in data["segments"]
            ),
            "warnings": tuple(data["warnings"]),
            "turns": tuple(SpeakerTurn(**t) for t in data["turns"]),
        }
    )
    assert rebuilt == result

    lean = json.loads(get_writer("json", WriterOptions(include_words=False)).format(result))
    assert all("words" not in s for s in lean["segments"])
    assert [s["text"] for s in lean["segments"]] == [s.text for s in result.segments]


def test_write_all(tmp_path) -> None:
    result = sample()
    paths = [writer.write(result, tmp_path / "out") for writer in get_writers("all")]
    assert [p.name for p in paths] == ["talk.txt", "talk.json", "talk.srt", "talk.vtt", "talk.tsv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    for path, writer in zip(paths, get_writers("all")):
        assert path.read_text(encoding="utf-8") == writer.format(result)
    assert get_writer("srt").write(Transcription("x", None, 1.0, "<bytes>"), tmp_path).name == "audio.srt"
    assert output_stem("a/b/c.d.wav") == "c.d"


def test_base_class_and_cue_type() -> None:
    with pytest.raises(NotImplementedError):
        ResultWriter().format(sample())
    cue = build_cues(sample())[0]
    assert cue == Cue(0, 2000, "Hello world.")


def test_punctuation_words_stay_with_previous_word() -> None:
    words = (Word("Hello", 0.0, 1.0, 1.0), Word(",", 1.0, 1.1, 1.0), Word("world", 1.2, 2.0, 1.0))
    result = Transcription("Hello, world", None, 2.0, "a.wav", (Segment(0, 0.0, 2.0, "", words),))
    assert build_cues(result) == [Cue(0, 2000, "Hello, world")]
    split = build_cues(result, WriterOptions(max_cue_seconds=1.5))
    assert split == [Cue(0, 1100, "Hello,"), Cue(1200, 2000, "world")]


def test_low_confidence_words_are_underlined_in_srt_and_vtt_without_taking_room() -> None:
    words = (Word("we", 0.0, 0.3, 0.9), Word("met", 0.4, 0.7, 0.3), Word("in", 0.8, 0.9, 0.95), Word("Zwickau", 1.0, 1.6, 0.1))
    result = Transcription("we met in Zwickau", "en", 2.0, "x.wav", (Segment(0, 0.0, 1.6, "we met in Zwickau", words),))
    options = WriterOptions(highlight_below=0.5, max_line_width=17, max_line_count=1)
    assert WriteSRT(options).format(result) == "1\n00:00:00,000 --> 00:00:01,600\nwe <u>met</u> in <u>Zwickau</u>\n\n"
    assert WriteVTT(options).format(result).endswith("00:00:00.000 --> 00:00:01.600\nwe <u>met</u> in <u>Zwickau</u>\n\n")
    assert "<u>" not in WriteSRT(WriterOptions(max_line_width=17, max_line_count=1)).format(result)
    assert [c.text for c in build_cues(result, WriterOptions(highlight_below=0.2, max_line_width=9, max_line_count=1))] == [
        "we met in", "\x01Zwickau\x02"]  # split at the same places as without marks
    with pytest.raises(OptionsError, match="highlight_below"):
        WriterOptions(highlight_below=1.5)
