"""Fair scheduling by pass (issue 23): long uploads advance one forward pass at a time, shortest
first, so a short request waits about one pass; no result waits for another request's input;
stream=true sends deltas while the upload is still being transcribed; a client that leaves stops
its job's passes. The model's forward passes are counted (and slowed) on a private recognizer."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
pytest.importorskip("uvicorn")

import polyasr  # noqa: E402
from load_clients import wav_bytes  # noqa: E402
from polyasr.decoding.ctc import GreedyReducer, Vocabulary, decode_frames  # noqa: E402
from polyasr.decoding.prefix import PrefixTextReducer  # noqa: E402
from polyasr.language.choice import AUTO  # noqa: E402
from polyasr.server.batcher import Batcher  # noqa: E402
from test_server_limits import serving  # noqa: E402


def noise(seconds: float, seed: int) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(seconds * 16000))).clip(-1, 1).astype(np.float32)


def counted(model_dir: Path, delay: float = 0.0) -> tuple[Any, list[float]]:
    """A recognizer of its own whose forward passes are timed (time.monotonic() at each start) and slowed by `delay`."""
    recognizer = polyasr.load(str(model_dir), device="cpu", dtype="fp32")
    passes: list[float] = []
    logits = recognizer.model.iter_logits  # the engine's way to the model

    def timed(*args: Any, **kwargs: Any) -> Any:
        passes.append(time.monotonic())
        time.sleep(delay)
        return logits(*args, **kwargs)

    recognizer.model.iter_logits = timed
    return recognizer, passes


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def test_a_short_request_waits_about_one_pass_while_a_long_upload_runs(tiny_model_dir: Path) -> None:
    # before: the queue was FIFO by job: a 5 s request waited for every pass of the upload running
    recognizer, passes = counted(tiny_model_dir, delay=0.05)
    long, short = noise(1200.0, 1), noise(5.0, 2)
    batcher = Batcher(recognizer)
    try:
        upload = batcher.submit_transcription(long, AUTO)
        wait_for(lambda: len(passes) >= 2)
        arrived = len(passes)
        request = batcher.submit_transcription(short, AUTO)
        when_done: list[tuple[int, bool]] = []
        request.add_done_callback(lambda _: when_done.append((len(passes), upload.done())))
        result, long_result = request.result(60), upload.result(120)
    finally:
        batcher.stop()
    passes_waited, upload_done = when_done[0]
    assert not upload_done and passes_waited - arrived <= 3, (arrived, passes_waited, len(passes))  # its own, one running (+1: a race)
    assert len(passes) >= 10  # the upload's passes (20 min in windows of 15 s)
    assert result.text == recognizer.transcribe(short, sampling_rate=16000).text  # the same as alone
    assert long_result.text == recognizer.transcribe(long, sampling_rate=16000).text


def test_a_short_job_queued_beside_a_long_one_is_not_held_back(tiny_model_dir: Path) -> None:
    # before: both went into one transcribe_iter call, whose results come in input order: the short one
    # waited for the long one's last pass
    recognizer, passes = counted(tiny_model_dir, delay=0.05)
    long, short = noise(900.0, 3), noise(4.0, 4)
    batcher = Batcher(recognizer)
    try:
        gate = threading.Event()
        busy = batcher.submit(lambda: gate.wait(30))  # both wait together, as one batch would take them
        upload = batcher.submit_transcription(long, AUTO)
        request = batcher.submit_transcription(short, AUTO)
        gate.set()
        busy.result(30)
        done: list[bool] = []
        request.add_done_callback(lambda _: done.append(upload.done()))
        result, long_result = request.result(60), upload.result(120)
        stats = batcher.stats()
    finally:
        batcher.stop()
    assert done == [False], "the short job's result waited for the long one"
    assert stats.model_calls == 2 and stats.jobs == 2  # the long job ran alone
    assert (result.text, result.segments) == (lambda t: (t.text, t.segments))(recognizer.transcribe(short, sampling_rate=16000))
    assert long_result.text == recognizer.transcribe(long, sampling_rate=16000).text


def test_stream_true_sends_deltas_while_the_upload_is_transcribed(tiny_model_dir: Path) -> None:
    # before: every delta was sent after the whole upload was transcribed
    recognizer, passes = counted(tiny_model_dir, delay=0.1)
    audio = wav_bytes(600.0, seed=6, rate=8000)  # 10 min: 25 windows, 5 passes
    with serving(recognizer) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
        plain = client.audio.transcriptions.create(model="xlsr-56", file=("a.wav", audio))
        del passes[:]
        received: list[tuple[float, Any]] = []
        for item in client.audio.transcriptions.create(model="xlsr-56", file=("a.wav", audio), stream=True):
            received.append((time.monotonic(), item))
    events = [e for _, e in received]
    assert [e.type for e in events[-1:]] == ["transcript.text.done"] and all(e.type == "transcript.text.delta" for e in events[:-1])
    assert "".join(e.delta for e in events[:-1]) == events[-1].text == plain.text
    first_delta = received[0][0]
    assert first_delta < passes[-1], "the first delta came after the last forward pass had begun"
    assert sum(t < passes[-1] for t, _ in received) >= 2  # several deltas while the upload was still transcribed


def test_a_client_that_leaves_stops_its_uploads_passes(tiny_model_dir: Path) -> None:
    # before: a job that had started ran all its passes after its client had gone
    recognizer, passes = counted(tiny_model_dir, delay=0.3)
    with serving(recognizer) as (url, app):
        with pytest.raises(httpx.ReadTimeout):  # the client gives up once the upload is being transcribed
            httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("long.wav", wav_bytes(1200.0, seed=7, rate=8000))},
                       timeout=httpx.Timeout(30.0, read=1.5))
        wait_for(lambda: app.state.batcher.stats().cancelled == 1)
        count = len(passes)
        time.sleep(1.0)
        stats = app.state.batcher.stats()
    assert len(passes) == count and count < 10, (count, len(passes))  # stopped well before its 10 passes
    assert stats.jobs == 0 and stats.queued_audio_seconds == 0


def test_the_text_so_far_is_always_a_prefix_of_the_final_text() -> None:
    # characters with "|" as the space; windows arrive out of order, as passes sorted by length hand them over
    vocabulary = Vocabulary(tokens=("<pad>", "|", "a", "b", "c"), blank_id=0, word_delimiter_id=1, hidden_ids=frozenset({0}))
    rng = np.random.default_rng(0)
    for trial in range(20):
        frames = rng.integers(50, 400)
        logits = rng.standard_normal((frames, 5)).astype(np.float32) * 3
        cuts = sorted(set(rng.integers(1, frames, size=6).tolist()) | {0, int(frames)})
        windows = list(zip(cuts[:-1], cuts[1:]))
        order = rng.permutation(len(windows))
        texts: list[str] = []
        reducer = PrefixTextReducer(GreedyReducer(0), vocabulary, texts.append)
        for i in order:
            start, end = windows[i]
            reducer.add(start, logits[start:end])
        final = decode_frames(reducer.finish(int(frames)), vocabulary).text
        assert texts and all(final.startswith(text) for text in texts), (trial, texts, final)
        assert all(len(a) < len(b) for a, b in zip(texts, texts[1:]))  # reported only when it grows
