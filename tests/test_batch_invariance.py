"""An input's logits do not depend on what it is batched with, in every dtype."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import polyasr
from polyasr.model.buckets import BUCKET_ANCHOR, bucket_length
from polyasr.engine.inference import BatchOptions, run_inference
from tiny_model import ARCHITECTURES, build_tiny_model

SR = 16_000


class KeepLogits:
    """A FrameReducer that keeps every frame's logits."""

    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.parts[first_frame] = logits.copy()

    def finish(self, num_frames: int) -> np.ndarray:
        return np.concatenate([self.parts[f] for f in sorted(self.parts)])


def noise(seconds: float, seed: int, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_bucket_lengths_pad_little_and_keep_full_windows() -> None:
    assert bucket_length(BUCKET_ANCHOR, 320) == BUCKET_ANCHOR  # a full 30 s window is not padded
    assert bucket_length(BUCKET_ANCHOR // 2, 320) == BUCKET_ANCHOR // 2
    # (15 s, 30 s] in steps of 30 s / 32 = 15,000 samples: 20 s -> 22 x 15,000 = 330,000 samples,
    # then up to whole frames of 320: 1,032 x 320 = 330,240
    assert bucket_length(320_000, 320) == 330_240
    assert bucket_length(480_001, 320) == 510_080  # above the anchor: steps of 30,000, then whole frames
    lengths = range(400, 40 * SR, 997)
    buckets = [bucket_length(n, 320) for n in lengths]
    assert all(b % 320 == 0 and n <= b <= n * 17 / 16 + 320 for n, b in zip(lengths, buckets))
    assert buckets == sorted(buckets)
    assert len({b for n, b in zip(lengths, buckets) if SR <= n <= 30 * SR}) <= 16 * 5 + 1  # 16 per octave


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


# Lengths in several buckets, two in one (2.01 s and 2.0 s), one over a window (two windows).
INPUTS = [(2.01, 1), (9.3, 2), (0.7, 3), (2.0, 4, 0.5), (34.0, 5), (5.5, 6, 0.02)]


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "int8"])  # int8: per-row scales, exact integer sums
def test_batched_logits_equal_alone_bit_for_bit(tiny_dir: Path, dtype: str) -> None:
    model = polyasr.load(str(tiny_dir), device="cpu", dtype=dtype).model
    inputs = [noise(*spec) for spec in INPUTS]
    alone = [next(run_inference(model, [x], KeepLogits, sampling_rate=SR)).value for x in inputs]
    for batch in (BatchOptions(), BatchOptions(batch_seconds=5.0, max_batch_size=2)):
        together = [r.value for r in run_inference(model, inputs, KeepLogits, batch=batch, sampling_rate=SR)]
        for one, joint in zip(alone, together):
            assert np.array_equal(one, joint)
    # and through the model directly, batch-mates of the same bucket and of others
    for x, joint in zip(inputs, model.logits(inputs)):
        assert np.array_equal(model.logits([x])[0], joint)


def test_recognizer_text_does_not_depend_on_batch_mates(tiny_dir: Path) -> None:
    rec = polyasr.load(str(tiny_dir), device="cpu", dtype="bf16")
    inputs = [noise(*spec) for spec in INPUTS]
    alone = [rec.transcribe(x, sampling_rate=SR) for x in inputs]
    together = rec.transcribe_batch(inputs, sampling_rate=SR)
    assert [t.text for t in together] == [t.text for t in alone]
    assert [t.segments for t in together] == [t.segments for t in alone]


@pytest.fixture(scope="module")
def architectures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("architectures")
    return {name: build_tiny_model(root / name, architecture=name, language_table=False) for name in ARCHITECTURES}


def padding_error(model, x: np.ndarray, extra: int) -> float:
    """Largest logit change when `x` is zero-padded by `extra` samples (masked when the model takes a mask)."""
    x = model.normalize(x)
    masked = model.feature_extractor.return_attention_mask
    values = np.zeros((1, len(x) + extra), np.float32)
    values[0, : len(x)] = x
    mask = (np.arange(values.shape[1]) < len(x)).astype(np.int64)[None]
    padded = model.backend.forward(values, mask if masked else None)[0, : model.frames_for_samples(len(x))]
    alone = model.backend.forward(x[None], np.ones((1, len(x)), np.int64) if masked else None)[0]
    return float(np.abs(padded - alone).max())


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_every_architecture_batches_bit_for_bit_and_pads_only_where_padding_is_transparent(
    architecture: str, architectures: dict[str, Path]
) -> None:
    transparent = architecture in ("wav2vec2", "hubert")  # the others hear padding (no mask, group norm, data2vec's stack)
    inputs = [noise(1.0, 1), noise(1.5, 2), noise(1.0, 3), noise(1.5, 4), noise(1.02, 5)]
    for dtype in ("fp32", "bf16"):
        model = polyasr.load(str(architectures[architecture]), device="cpu", dtype=dtype).model
        assert model.pads_transparently == transparent
        assert model.backend.batch_invariant == model.backend.time_major_features
        padded = [model.padded_length(len(x)) for x in inputs]
        assert padded == ([bucket_length(len(x), 320) for x in inputs] if transparent else [len(x) for x in inputs])
        if dtype == "fp32":  # why: padding changes a non-transparent model's logits, not a transparent one's
            error = padding_error(model, inputs[0], SR // 2)
            assert error < 1e-4 if transparent else error > 1e-3
        for x, joint in zip(inputs, model.logits(inputs)):
            (one,) = model.logits([x])
            assert np.array_equal(one, joint)
        together = [r.value for r in run_inference(model, inputs, KeepLogits, sampling_rate=SR)]
        for x, joint in zip(inputs, together):
            assert np.array_equal(next(run_inference(model, [x], KeepLogits, sampling_rate=SR)).value, joint)


def test_server_batcher_gives_every_request_its_alone_result_in_bf16(tiny_dir: Path) -> None:
    from polyasr.language.choice import AUTO
    from polyasr.server.batcher import Batcher, BatcherOptions

    rec = polyasr.load(str(tiny_dir), device="cpu", dtype="bf16")
    # identical requests (as in the report: 32 copies of one) among others of other lengths
    audio = [noise(2.01, 1)] * 6 + [noise(*spec) for spec in INPUTS[1:]]
    alone = [rec.transcribe(x, sampling_rate=SR) for x in audio]
    batcher = Batcher(rec, BatcherOptions(max_batch=len(audio)))
    batcher.start()
    try:
        gate = threading.Event()
        busy = batcher.submit(lambda: gate.wait(30))  # the requests pile up, then run as one group
        futures = [batcher.submit_transcription(x, AUTO) for x in audio]
        gate.set()
        busy.result(30)
        served = [f.result(60) for f in futures]
    finally:
        batcher.stop()
    assert batcher.stats().largest_group == len(audio)
    assert [(t.text, t.segments) for t in served] == [(t.text, t.segments) for t in alone]


def test_each_engine_step_is_one_forward_pass_on_a_cpu_so_the_server_interleaves_streams_between_them(tiny_dir: Path) -> None:
    from polyasr.engine.inference import inference_steps

    model = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32").model
    forward, passes = model.backend.forward, []

    def counted(values, mask):
        passes.append(values.shape)
        return forward(values, mask)

    model.backend.forward = counted  # the instance's own attribute: the tiny model's backend, this test only
    inputs = [noise(100.0, 7), noise(2.0, 8), noise(2.01, 9)]
    steps = list(inference_steps(model, inputs, KeepLogits, sampling_rate=SR))
    markers = sum(1 for step in steps if step is None)
    # the long input's 15 s windows (up to CPU_PASS_SAMPLES a pass on a CPU) and the two 2 s inputs together (one
    # bucket), and a step after each pass (before: one step for a 160 s batch of several windows, each its own pass)
    assert markers == len(passes) >= 4, (passes, markers)
    assert sum(1 for shape in passes if shape[0] == 2 and shape[1] < 3 * SR) == 1
    values = [step.value for step in steps if step is not None]
    for x, joint in zip(inputs, values):
        assert np.array_equal(next(run_inference(model, [x], KeepLogits, sampling_rate=SR)).value, joint)


def test_a_stream_update_that_comes_during_an_upload_pass_runs_between_its_layers_and_changes_no_result(
    tiny_dir: Path,
) -> None:
    from polyasr.language.choice import AUTO
    from polyasr.server.batcher import Batcher, BatcherOptions
    from polyasr.streaming.session import StreamingSession

    rec = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32")
    upload, speech = noise(40.0, 21), noise(1.0, 22)
    alone_text = rec.transcribe(upload, sampling_rate=SR)
    alone_events = StreamingSession(rec).feed(speech)
    backend, session = rec.model.backend, StreamingSession(rec)
    batcher = Batcher(rec, BatcherOptions())
    stream: list = []  # the stream call's future, submitted from inside the upload's first pass
    done_at_end: list[bool] = []  # was it done when the upload's pass returned?

    def arrives(module, inputs, output):  # after layer 0 of the upload's pass, a stream's update comes in
        if not stream and inputs[0].shape[1] > 500:  # the upload's 15 s windows: 750 frames
            stream.append(batcher.submit(lambda: session.feed(speech), stream=True))

    forward = backend.forward

    def watched(values, mask):
        out = forward(values, mask)
        if values.shape[1] >= 10 * SR and stream and not done_at_end:
            done_at_end.append(stream[0].done())
        return out

    hook = backend.network.base_model.encoder.layers[0].register_forward_hook(arrives)
    backend.forward = watched  # this test's own recognizer
    batcher.start()
    try:
        served = batcher.submit_transcription(upload, AUTO).result(120)
        events = stream[0].result(30)
    finally:
        batcher.stop()
        hook.remove()
    assert done_at_end == [True]  # it ran inside the upload's pass (before: after the whole step)
    assert (served.text, served.segments) == (alone_text.text, alone_text.segments)
    assert events == alone_events
