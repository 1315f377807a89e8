"""Live streaming: StreamingSession events and PcmDecoder.

Exactness tests use a frame-local fake model (each 20 ms frame's logits depend on that frame's
samples only), so a stream decoded in pieces must give exactly the characters and times of one
decode of the whole stream. The tiny checkpoint checks the real model path.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from audio_factory import voiced
from polyasr import LanguageError, OptionsError, Recognizer
from polyasr.decoding.ctc import Vocabulary, choose_frames, decode_frames
from polyasr.language.table import LanguageTable
from polyasr.streaming.events import (
    DoneEvent, ErrorEvent, Event, FinalEvent, PartialEvent, ReadyEvent, StreamSegment, StreamWord,
)
from polyasr.streaming.endpoint import EndpointOptions
from polyasr.streaming.session import PcmDecoder, StreamingOptions, StreamingSession
from polyasr.output.timing import words_from_spans

SPF = 320
TOKENS = ("[PAD]", "<s>", "</s>", "[UNK]", "|") + tuple("abcdefghijklmnopqrstuvwxyz")
ID = {t: i for i, t in enumerate(TOKENS)}


@dataclass
class FrameLocalModel:
    """Stands in for CTCModel: frame i's token is round(100 x mean of its 320 samples)."""

    vocabulary: Vocabulary = field(default_factory=lambda: Vocabulary(TOKENS, 0, 4, frozenset({0, 1, 2, 3})))
    language_table: LanguageTable = field(
        default_factory=lambda: LanguageTable.from_mapping({"en": [ID[c] for c in "abcdefghijklm|"]})
    )
    samples_per_frame: int = SPF
    frame_seconds: float = SPF / 16_000
    min_samples: int = SPF
    calls: list[int] = field(default_factory=list)  # input length of every forward pass
    adapters: None = None  # a model with a language table: no MMS adapters
    single_language: None = None

    def logits(self, batch, stats=None):
        self.calls += [len(x) for x in batch]
        out = []
        for x in batch:
            ids = np.clip(np.round(x[: len(x) // SPF * SPF].reshape(-1, SPF).mean(axis=1) * 100), 0, len(TOKENS) - 1)
            scores = np.zeros((len(ids), len(TOKENS)), np.float32)
            scores[np.arange(len(ids)), ids.astype(int)] = 10.0
            scores[:, ID["k"]] = 9.0  # second best everywhere: what a language restriction picks instead
            out.append(scores)
        return out


def frames_signal(tokens: list[int]) -> np.ndarray:
    return np.repeat(np.asarray(tokens, np.float32) / 100, SPF)


def speech(text: str, rng: np.random.Generator, pause_frames: int = 40) -> list[int]:
    """Frame tokens of `text`: 1-3 frames per character, 1-2 blanks after each; '/' is a pause."""
    out: list[int] = [0] * 5
    for char in text:
        if char == "/":
            out += [0] * (pause_frames // 2) + [ID["|"]] + [0] * (pause_frames // 2)
        elif char == " ":
            out += [0, ID["|"], 0]
        else:
            out += [ID[char]] * int(rng.integers(1, 4)) + [0] * int(rng.integers(1, 3))
    return out + [0] * 5


def stream(session: StreamingSession, samples: np.ndarray, chunk: int) -> list[Event]:
    events = []
    for i in range(0, len(samples), chunk):
        events += session.feed(samples[i : i + chunk])
    return events + session.finish()


def finals(events: list[Event]) -> list[StreamSegment]:
    return [e.segment for e in events if isinstance(e, FinalEvent)]


def squeeze(text: str) -> str:
    return "".join(text.split())


def whole_decode(model: FrameLocalModel, samples: np.ndarray):
    (logits,) = model.logits([samples])
    return decode_frames(choose_frames(logits, 0), model.vocabulary)


def test_finals_hold_exactly_the_characters_and_times_of_a_whole_stream_decode() -> None:
    model = FrameLocalModel()
    text = "hello world/this is a test/of live streaming/no text is lost or doubled"
    samples = frames_signal(speech(text, np.random.default_rng(1)))
    events = stream(StreamingSession(Recognizer(model)), samples, 1600)  # 0.1 s chunks
    segments = finals(events)
    assert [s.text for s in segments] == ["hello world", "this is a test", "of live streaming", "no text is lost or doubled"]
    whole = whole_decode(model, samples)
    assert "".join(s.text for s in segments).replace(" ", "") == whole.text.replace(" ", "")
    expected = [(w.word, round(w.start, 3), round(w.end, 3)) for w in words_from_spans(whole, model.vocabulary, 0.02)]
    assert [(w.word, w.start, w.end) for s in segments for w in s.words] == expected
    assert [s.id for s in segments] == [0, 1, 2, 3]
    json.dumps([event.to_json() for event in events])


def test_without_catch_up_events_do_not_depend_on_how_the_stream_is_split() -> None:
    model = FrameLocalModel()
    samples = frames_signal(speech("abc def/ghi/jkl mno pq", np.random.default_rng(2)))
    options = StreamingOptions(catch_up=False)
    runs = [stream(StreamingSession(Recognizer(model), options=options), samples, chunk) for chunk in (160, 1600, 5923, len(samples))]
    assert all(run == runs[0] for run in runs[1:])


def test_catch_up_decodes_what_one_feed_brings_in_one_pass_and_loses_nothing() -> None:
    model = FrameLocalModel()
    options = StreamingOptions(update_seconds=0.5, max_buffer_seconds=6.0, pause_seconds=5.0)
    words = " ".join("abcdefghijklmnopqrstuvwxyz"[i % 26 : i % 26 + 3] for i in range(40))
    samples = frames_signal(speech(f"{words}/{words}", np.random.default_rng(7), pause_frames=300))
    for chunk in (8000, 16_000 * 4, len(samples)):
        model.calls.clear()
        segments = finals(stream(StreamingSession(Recognizer(model), options=options), samples, chunk))
        assert max(model.calls) <= 6.0 * 16_000
        # one pass per feed, of at most half the buffer less the margin (2.5 s), and one at the end
        assert len(model.calls) <= math.ceil(len(samples) / chunk) * math.ceil(chunk / 40_000) + 1
        assert squeeze("".join(s.text for s in segments)) == squeeze(whole_decode(model, samples).text)


def test_partials_grow_until_a_final_replaces_them_and_events_are_ordered() -> None:
    model = FrameLocalModel()
    samples = frames_signal(speech("the quick brown fox/jumps over", np.random.default_rng(3)))
    events = stream(StreamingSession(Recognizer(model)), samples, 800)
    assert isinstance(events[-1], FinalEvent)
    previous = ""
    for event in events:
        if isinstance(event, PartialEvent):
            assert event.text.startswith(previous) and event.text != previous
            assert event.start <= event.end
            previous = event.text
        else:
            assert event.segment.text.startswith(previous)
            previous = ""
    segments = finals(events)
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))
    assert all(w.start < w.end for s in segments for w in s.words)


def test_a_full_buffer_is_cut_at_a_blank_frame_and_the_model_never_sees_more_than_the_maximum() -> None:
    model = FrameLocalModel()
    options = StreamingOptions(update_seconds=0.2, max_buffer_seconds=2.0, pause_seconds=5.0, cut_margin_seconds=0.4)
    words = " ".join("abcdefghijklmnopqrstuvwxyz"[i % 26 : i % 26 + 3] for i in range(40))
    samples = frames_signal(speech(words, np.random.default_rng(4)))  # ~20 s, no pause
    events = stream(StreamingSession(Recognizer(model), options=options), samples, 3000)
    assert max(model.calls) <= 2.0 * 16_000
    segments = finals(events)
    assert len(segments) >= 8
    assert "".join(s.text for s in segments).replace(" ", "") == whole_decode(model, samples).text.replace(" ", "")


def test_speech_without_blank_frames_is_cut_between_two_different_characters() -> None:
    model = FrameLocalModel()
    options = StreamingOptions(update_seconds=0.2, max_buffer_seconds=1.0, pause_seconds=5.0, cut_margin_seconds=0.2)
    tokens = [ID[c] for c in "aabbccdd" * 100]  # 16 s, never blank
    samples = frames_signal(tokens)
    segments = finals(stream(StreamingSession(Recognizer(model), options=options), samples, 4000))
    assert "".join(s.text for s in segments) == whole_decode(model, samples).text == "abcd" * 100


def test_long_silence_is_dropped_without_finals() -> None:
    model = FrameLocalModel()
    samples = np.r_[np.zeros(16_000 * 30, np.float32), frames_signal(speech("hi", np.random.default_rng(5)))]
    events = stream(StreamingSession(Recognizer(model)), samples, 16_000)
    assert max(model.calls) < 16_000 * 2  # the silence never piles up in the buffer
    assert [s.text for s in finals(events)] == ["hi"]
    assert finals(events)[0].start == pytest.approx(30.1, abs=0.1)


def test_a_language_restriction_decodes_like_transcribe() -> None:
    model = FrameLocalModel()
    samples = frames_signal(speech("az by", np.random.default_rng(6)))
    events = stream(StreamingSession(Recognizer(model), language="en"), samples, 1600)
    assert [s.text for s in finals(events)] == ["ak bk"]  # z and y are not English here: the runner-up k


def test_events_are_typed_and_their_json_is_the_wire_format() -> None:
    """What the WebSocket sends (and server/static/app.js reads), key for key."""
    word = StreamWord("hallo", 0.1, 0.5, 0.93)
    final = FinalEvent(StreamSegment(id=2, start=0.1, end=0.5, text="hallo", words=(word,)))
    assert final.to_json() == {"type": "final", "segment": {"id": 2, "start": 0.1, "end": 0.5, "text": "hallo", "words": [
        {"word": "hallo", "start": 0.1, "end": 0.5, "probability": 0.93}]}}
    assert list(final.to_json()["segment"]) == ["id", "start", "end", "text", "words"]
    assert PartialEvent("hal", 0.0, 0.6).to_json() == {"type": "partial", "text": "hal", "start": 0.0, "end": 0.6, "stable": 0}
    assert PartialEvent("hal", 0.0, 0.6, 2).to_json()["stable"] == 2  # a field added: older clients ignore it
    assert ReadyEvent(None, 16_000).to_json() == {"type": "ready", "language": None, "sample_rate": 16_000}
    assert DoneEvent(1.5).to_json() == {"type": "done", "duration": 1.5}
    assert ErrorEvent("too big").to_json() == {"type": "error", "message": "too big"}
    assert [cls.type for cls in (PartialEvent, FinalEvent, ReadyEvent, DoneEvent, ErrorEvent)] == [
        "partial", "final", "ready", "done", "error"]
    json.dumps(final.to_json())


def test_bad_languages_and_options_raise() -> None:
    rec = Recognizer(FrameLocalModel())  # type: ignore[arg-type]
    with pytest.raises(LanguageError):
        StreamingSession(rec, language="xx")
    with pytest.raises(LanguageError):
        StreamingSession(rec, language="detect")
    with pytest.raises(OptionsError, match="max_buffer_seconds"):
        StreamingOptions(update_seconds=2.0, max_buffer_seconds=3.0)
    session = StreamingSession(rec)
    session.finish()
    with pytest.raises(RuntimeError):
        session.feed(np.zeros(10, np.float32))


def test_tiny_model_stream_is_deterministic_and_a_short_stream_equals_transcribe(recognizer) -> None:
    samples = np.r_[voiced(1.5), np.zeros(8000, np.float32), voiced(1.0)]
    runs = [stream(StreamingSession(recognizer, options=StreamingOptions(catch_up=False)), samples, chunk) for chunk in (1600, 7000)]
    assert runs[0] == runs[1]
    # a lookahead longer than the stream commits nothing before the end, and without the silence endpoint
    # (no blank frames from the random model) the stream is one final, decoded as one pass
    whole = StreamingOptions(catch_up=False, lookahead_seconds=5.0, endpoint=EndpointOptions(silence_seconds=0))
    events = stream(StreamingSession(recognizer, options=whole), samples, 1600)
    assert [s.text for s in finals(events)] == [recognizer.transcribe(samples, sampling_rate=16_000).text]


def test_tiny_model_long_stream_keeps_buffer_bounded(recognizer) -> None:
    options = StreamingOptions(update_seconds=0.5, max_buffer_seconds=3.0, cut_margin_seconds=0.5)
    samples = voiced(8.0)
    session = StreamingSession(recognizer, language="de", options=options)
    events = stream(session, samples, 4000)
    segments = finals(events)
    assert len(segments) >= 3
    assert all(a.end <= b.start for a, b in zip(segments, segments[1:]))
    assert segments[-1].end <= 8.0
    allowed = set("abcdefghijklmnopqrstuvwxyz'äöüß ")
    assert set("".join(s.text for s in segments)) <= allowed


@pytest.mark.parametrize("rate", [16_000, 44_100, 8_000])
def test_pcm_decoder_reassembles_split_samples_and_resamples(rate: int) -> None:
    t = np.arange(rate) / rate
    x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = (x * 32767).astype("<i2").tobytes()
    decoder = PcmDecoder("pcm_s16le", rate)
    pieces = [decoder.decode(data[i : i + 1001]) for i in range(0, len(data), 1001)]  # odd sizes split samples
    out = np.concatenate(pieces + [decoder.flush()])
    assert abs(len(out) - 16_000) <= 2
    assert np.abs(out[2000:14000]).max() == pytest.approx(0.5, abs=0.02)
    stereo = np.repeat(x, 2).astype("<f4").tobytes()
    assert np.allclose(PcmDecoder("f32le", rate, channels=2).decode(stereo)[:100], PcmDecoder("f32le", rate).decode(x.tobytes())[:100])


def test_pcm_decoder_rejects_bad_parameters() -> None:
    for args in (("mp3", 16_000), ("pcm_s16le", 100), ("f32le", 1_000_000)):
        with pytest.raises(ValueError):
            PcmDecoder(*args)
