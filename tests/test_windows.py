"""Long audio: windows tile the file exactly, and stitched logits equal one pass over the whole file."""

from __future__ import annotations

import numpy as np
import pytest

from polyasr.errors import OptionsError
from polyasr.engine.inference import BatchOptions, run_inference
from polyasr.engine.windows import WindowOptions, iter_windows

SR = 16_000


class KeepLogits:
    """A FrameReducer that keeps everything, to compare with a single pass."""

    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        assert first_frame not in self.parts
        self.parts[first_frame] = logits

    def finish(self, num_frames: int) -> np.ndarray:
        order = sorted(self.parts)
        stitched = np.concatenate([self.parts[f] for f in order])
        assert order[0] == 0 and len(stitched) == num_frames  # no gap, no overlap, nothing missing
        assert all(a + len(self.parts[a]) == b for a, b in zip(order, order[1:]))
        return stitched


@pytest.mark.parametrize("total", [400, 10_000, 95_999, 96_000, 96_001, 1_000_003])
@pytest.mark.parametrize("block", [7_777, 1_000_000])
def test_windows_cover_the_file_and_their_kept_frames_tile_it(recognizer, total: int, block: int) -> None:
    model = recognizer.model
    x = np.arange(total, dtype=np.float32)
    options = WindowOptions(window_seconds=6.0, context_seconds=1.0)  # 96,000-sample windows, 64,000 step
    windows = list(iter_windows((x[i : i + block] for i in range(0, total, block)), options, 320))
    assert [w.index for w in windows] == list(range(len(windows))) and windows[-1].is_last
    assert not any(w.is_last for w in windows[:-1])
    frames = 0
    for w in windows:
        np.testing.assert_array_equal(w.samples, x[w.start_sample : w.start_sample + len(w.samples)])
        assert w.start_sample % 320 == 0 and len(w.samples) <= 96_000
        kept = len(range(model.frames_for_samples(len(w.samples)))[w.keep_start : w.keep_end])
        assert w.first_frame(320) == frames
        frames += kept
    assert frames == model.frames_for_samples(total)
    assert windows[-1].start_sample + len(windows[-1].samples) == total


def step_noise(seconds: float) -> np.ndarray:
    """Noise that gets 8x louder half-way: windows differ in level, so per-window scaling would show."""
    x = np.random.default_rng(0).standard_normal(int(seconds * SR)).astype(np.float32)
    x[: len(x) // 2] *= 0.05
    x[len(x) // 2 :] *= 0.4
    return x


def test_stitched_logits_equal_a_single_pass_away_from_window_edges(recognizer) -> None:
    model = recognizer.model
    x = step_noise(40.0)
    (single,) = model.logits([x])
    options = WindowOptions(window_seconds=10.0, context_seconds=2.0)
    (result,) = run_inference(model, [x], KeepLogits, options, sampling_rate=SR)
    assert result.error is None and result.value.shape == single.shape == (1999, single.shape[1])
    # Every kept frame is >= 2 s from its window's ends; what differs is attention beyond 10 s.
    np.testing.assert_allclose(result.value, single, atol=0.1)
    assert (result.value.argmax(-1) == single.argmax(-1)).mean() >= 0.99
    # The same windows each scaled by their own level (what a feature extractor does per input)
    # would not match: the comparison above can fail.
    control = KeepLogits()
    for w in iter_windows([x], options, 320):
        (logits,) = model.logits([w.samples])
        control.add(w.first_frame(320), logits[w.keep_start : w.keep_end])
    assert np.abs(control.finish(len(single)) - single).max() > 1.0


def test_windows_of_several_inputs_share_batches_and_keep_results_apart(recognizer) -> None:
    rng = np.random.default_rng(5)
    inputs = [step_noise(25.0), (0.1 * rng.standard_normal(SR // 2)).astype(np.float32), step_noise(13.0)[::-1].copy()]
    options = WindowOptions(window_seconds=6.0, context_seconds=1.0)
    alone = [next(run_inference(recognizer.model, [x], KeepLogits, options, sampling_rate=SR)).value for x in inputs]
    batch = BatchOptions(batch_seconds=30.0, lookahead_batches=2)
    together = list(run_inference(recognizer.model, inputs, KeepLogits, options, batch, sampling_rate=SR))
    assert [r.num_samples for r in together] == [len(x) for x in inputs]
    for one, joint in zip(alone, together):
        np.testing.assert_allclose(joint.value, one, atol=2e-4)


def test_long_transcription_equals_its_single_pass_text(recognizer) -> None:
    x = step_noise(40.0)
    whole = recognizer.transcribe(x, sampling_rate=SR, options=None)  # default 15 s windows
    (logits,) = recognizer.model.logits([x])
    from polyasr.decoding.ctc import greedy_decode

    single_text = greedy_decode(logits, recognizer.model.vocabulary).text
    assert whole.duration == 40.0
    # equal up to the rare frame whose argmax flips (see the logits test above)
    import difflib

    assert difflib.SequenceMatcher(None, whole.text, single_text).ratio() > 0.98


def test_bad_window_options_fail_before_any_work(recognizer) -> None:
    with pytest.raises(OptionsError, match=r"window_seconds \(4.0\) must exceed twice context_seconds \(2.0\)"):
        WindowOptions(4.0, 2.0)  # when made
    rounded = WindowOptions(4.01, 2.0)  # longer than its contexts, but not by a whole frame
    with pytest.raises(OptionsError, match="by at least one frame"):
        list(run_inference(recognizer.model, [np.zeros(SR, np.float32)], KeepLogits, rounded, sampling_rate=SR))


def test_default_windows_keep_a_long_file_near_a_15_s_clip_per_second() -> None:
    # Issue 26: with 30 s / 3 s windows a 60 s file ran 72 s of audio through 30 s attention and cost
    # 1.24x a 15 s clip per second (bf16, full-size model); 15 s / 1.5 s windows are as long as that clip.
    from polyasr.model.buckets import bucket_length

    sixty = np.zeros(60 * SR, np.float32)
    windows = list(iter_windows([sixty[i:i + SR] for i in range(0, len(sixty), SR)], WindowOptions(), 320))
    padded = [bucket_length(len(w.samples), 320) for w in windows]
    assert max(padded) == 15 * SR  # no window's attention spans more than a 15 s clip's, full windows not padded
    assert sum(padded) <= 1.25 * len(sixty)  # the overlap stays under a quarter of the audio
