"""Voice activity detection: speech regions, and the model run on speech only."""

from __future__ import annotations

import numpy as np
import pytest

from audio_factory import voiced
from polyasr import TranscribeOptions, VadOptions
from polyasr.decoding.ctc import GreedyReducer
from polyasr.engine.inference import run_inference
from polyasr.audio.vad import SileroDetector, merge_regions, region_blocks
from polyasr.engine.windows import WindowOptions

SR = 16_000


def test_merge_regions_joins_close_ones_and_sorts() -> None:
    assert merge_regions([(500, 900), (0, 100), (120, 300), (300, 300)], min_gap=50) == [(0, 300), (500, 900)]


def test_region_blocks_cut_regions_out_of_blocks() -> None:
    x = np.arange(100, dtype=np.float32)
    blocks = [x[i : i + 30] for i in range(0, 100, 30)]
    pieces = list(region_blocks(iter(blocks), [(10, 40), (55, 58), (70, 100)]))
    assert [(i, p.tolist()) for i, p in pieces if i == 1] == [(1, [55.0, 56.0, 57.0])]
    joined = {i: np.concatenate([p for j, p in pieces if j == i]) for i in range(3)}
    np.testing.assert_array_equal(joined[0], x[10:40])
    np.testing.assert_array_equal(joined[2], x[70:100])


@pytest.fixture(scope="module")
def speech_in_silence() -> np.ndarray:
    x = np.zeros(12 * SR, np.float32)
    x[3 * SR : 7 * SR] = voiced(4.0)
    return x + (0.001 * np.random.default_rng(1).standard_normal(len(x))).astype(np.float32)


def test_silero_finds_the_speech_and_nothing_else(speech_in_silence) -> None:
    regions = SileroDetector(VadOptions())(speech_in_silence)
    assert regions, "no speech found"
    assert all(2.7 * SR <= start and end <= 7.3 * SR for start, end in regions)
    assert sum(end - start for start, end in regions) >= 1.5 * SR


class FakeDetector:
    """Speech at 5-12 s and 30-33 s of the input, wherever the block boundaries fall."""

    def __init__(self) -> None:
        self.offset = 0
        self.regions = [(5 * SR, 12 * SR), (30 * SR, 33 * SR)]

    def __call__(self, block: np.ndarray) -> list[tuple[int, int]]:
        start, end = self.offset, self.offset + len(block)
        self.offset = end
        return [(max(a, start) - start, min(b, end) - start) for a, b in self.regions if a < end and b > start]


def test_only_speech_regions_reach_the_model(recognizer, monkeypatch) -> None:
    model = recognizer.model
    x = (0.2 * np.random.default_rng(3).standard_normal(40 * SR)).astype(np.float32)
    seen: list[int] = []
    original = model.iter_logits

    def counting(batch, stats=None):
        seen.extend(len(b) for b in batch)
        return original(batch, stats)

    monkeypatch.setattr(model, "iter_logits", counting)  # the engine's way to the model
    options = WindowOptions(window_seconds=6.0, context_seconds=1.0)
    (result,) = run_inference(model, [x], lambda: GreedyReducer(0), options, sampling_rate=SR, detector=FakeDetector())
    frames = result.value
    assert result.num_samples == 40 * SR and frames.num_frames == model.frames_for_samples(40 * SR)
    assert sum(seen) == 12 * SR  # windows 0-6 s and 4-7 s of the 7 s region, then the 3 s one; not 40 s
    speech = np.zeros(frames.num_frames, bool)
    speech[250:600] = speech[1500:1650] = True  # 5-12 s and 30-33 s in 20 ms frames
    assert (frames.tokens[~speech] == 0).all() and (frames.probs[~speech] == 1).all()
    assert (frames.tokens[speech] != 0).any()


def test_transcribe_with_vad_keeps_segments_inside_the_speech(recognizer, speech_in_silence) -> None:
    result = recognizer.transcribe(speech_in_silence, sampling_rate=SR, options=TranscribeOptions(vad=VadOptions()))
    assert result.duration == 12.0
    assert result.segments and all(2.7 <= s.start and s.end <= 7.3 for s in result.segments)


@pytest.fixture()
def fake_vad(recognizer, monkeypatch):
    """The recognizer's VAD replaced by FakeDetector (speech at 5-12 s and 30-33 s): TranscribeOptions to use."""
    options = TranscribeOptions(vad=VadOptions(), windows=WindowOptions(window_seconds=6.0, context_seconds=1.0))
    monkeypatch.setitem(recognizer._detectors, options.vad, FakeDetector())
    return options


def _in_speech(start: float, end: float) -> bool:
    return (5.0 <= start and end <= 12.0) or (30.0 <= start and end <= 33.0)


def test_alignment_with_vad_puts_words_in_speech_not_in_skipped_silence(recognizer, fake_vad) -> None:
    """Skipped frames used to hold log-probability 0 for every column: letters cost nothing there,
    so the whole transcript was aligned into the silence at 0 s."""
    x = (0.2 * np.random.default_rng(3).standard_normal(40 * SR)).astype(np.float32)
    result = recognizer.align(x, "hello world again", sampling_rate=SR, options=fake_vad)
    assert [w.word for w in result.words] == ["hello", "world", "again"]
    chars = [c for w in result.words for c in w.chars]
    assert len(chars) == 15 and all(_in_speech(c.start, c.end) for c in chars), [(c.start, c.end) for c in chars]


def test_language_detection_with_vad_counts_speech_regions_only(recognizer, fake_vad) -> None:
    from polyasr.decoding.ctc import SKIPPED_LOGIT

    x = (0.2 * np.random.default_rng(4).standard_normal(40 * SR)).astype(np.float32)
    progress: list[float] = []
    (item,) = recognizer.detect_language_iter([x], sampling_rate=SR, options=fake_vad,
                                              on_progress=lambda source, done, total: progress.append(done))
    assert progress[0] == 30.0 and progress[-1] == 40.0  # the skipped 30 s count as done at once
    frames = item.value
    speech = np.zeros(frames.unrestricted.num_frames, bool)
    speech[250:600] = speech[1500:1650] = True
    assert not frames.speech()[~speech].any() and frames.speech()[speech].any()
    assert (frames.unrestricted.probs[~speech] == 1).all()
    # a skipped frame's best in-language token has log-probability SKIPPED_LOGIT: never speech, never free
    assert np.allclose(frames.best_log_probs[:, ~speech], SKIPPED_LOGIT)
    recognizer._detectors[fake_vad.vad] = FakeDetector()  # it counts samples from the start of one input
    (detected,) = recognizer.transcribe_batch([x], language="detect", word_timestamps=True, sampling_rate=SR, options=fake_vad)
    assert detected.text and detected.language in recognizer.languages()
    assert all(_in_speech(c.start, c.end) for w in detected.words for c in w.chars)


def test_a_recognizer_and_its_detector_may_be_shared_between_threads(recognizer, monkeypatch) -> None:
    """Two threads asking for VAD at once get one detector, and Silero (stateful) runs one call at a time."""
    import threading
    import time

    from polyasr.audio import vad
    from polyasr.recognizer import recognizer as transcriber

    created: list[object] = []
    inside = {"now": 0, "most": 0}

    def slow_detect(audio, model, **kwargs):
        inside["now"] += 1
        inside["most"] = max(inside["most"], inside["now"])
        time.sleep(0.05)
        inside["now"] -= 1
        return [{"start": 0, "end": len(audio)}]

    class SlowToLoad(vad.SileroDetector):
        def __init__(self, options):
            time.sleep(0.05)
            super().__init__(options)
            self._detect = slow_detect
            created.append(self)

    monkeypatch.setattr(transcriber, "SileroDetector", SlowToLoad)
    options = VadOptions(threshold=0.123)  # a key no other test uses
    block = np.zeros(SR, np.float32)
    found: list[list[tuple[int, int]]] = []
    threads = [threading.Thread(target=lambda: found.append(recognizer._detector(options)(block))) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        recognizer._detectors.pop(options, None)
    assert len(created) == 1 and inside["most"] == 1
    assert found == [[(0, SR)]] * 4
