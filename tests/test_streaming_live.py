"""Live streaming that stays live: bounded cost per update, endpoints by silence, stable partials,
updates of many streams in one forward pass, per-stream endpoint rules over the WebSocket."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from polyasr import Recognizer
from polyasr.streaming.endpoint import EndpointOptions, EnergyEndpoint
from polyasr.streaming.events import FinalEvent, PartialEvent
from polyasr.streaming.passes import update_together
from polyasr.streaming.session import StreamingOptions, StreamingSession
from test_streaming import ID, SPF, TOKENS, FrameLocalModel, finals, frames_signal, speech, squeeze, stream, whole_decode

SR = 16_000


@dataclass
class RightContextModel(FrameLocalModel):
    """A spoken frame's token is right only with at least `need` frames of its window after it; before that it reads
    'z' (as a real model's last frames change once it hears what follows). Records every pass's batch."""

    need: int = 12
    batches: list[list[int]] = field(default_factory=list)

    def logits(self, batch, stats=None):
        self.batches.append([len(x) for x in batch])
        out = super().logits(batch, stats)
        for scores in out:
            late = scores[max(0, len(scores) - self.need):]
            spoken = late.argmax(axis=1) != 0  # silence stays silence
            late[spoken, :] = 0.0
            late[spoken, ID["z"]] = 10.0
        return out


@dataclass
class NeverBlankModel(FrameLocalModel):
    """Writes a character in every frame, silence included (random weights do): no pause of the model ever."""

    def logits(self, batch, stats=None):
        self.calls += [len(x) for x in batch]
        out = []
        for x in batch:
            frames = len(x) // SPF
            scores = np.zeros((frames, len(TOKENS)), np.float32)
            scores[np.arange(frames), ID["a"] + np.arange(frames) % 2] = 10.0  # a, b, a, b: never merged
            out.append(scores)
        return out


def test_each_update_runs_the_model_on_the_new_audio_and_a_fixed_context_however_long_the_talk() -> None:
    model = FrameLocalModel()
    options = StreamingOptions(update_seconds=0.5, context_seconds=1.0, lookahead_seconds=0.2, pause_seconds=5.0,
                               catch_up=False)
    words = " ".join("abcdefghijklmnopqrstuvwxyz"[i % 26: i % 26 + 3] for i in range(120))
    samples = frames_signal(speech(words, np.random.default_rng(11)))  # ~60 s without a pause
    segments = finals(stream(StreamingSession(Recognizer(model), options=options), samples, 1600))
    window = (1.0 + 0.5 + 0.2) * SR
    # the old session ran every update over the whole unfinalised buffer (up to 20 s)
    assert max(model.calls) <= window
    assert sum(model.calls) <= (window / (0.5 * SR) + 0.1) * len(samples)  # 3.4 s of model input per 0.5 s of audio
    assert squeeze("".join(s.text for s in segments)) == squeeze(whole_decode(FrameLocalModel(), samples).text)


def test_partials_say_which_prefix_is_stable_and_the_finals_never_contradict_it() -> None:
    model = RightContextModel()
    options = StreamingOptions(update_seconds=0.2, context_seconds=0.6, lookahead_seconds=0.3, pause_seconds=0.6)
    samples = frames_signal(speech("the quick brown fox/jumps over the lazy dog/again and again", np.random.default_rng(5)))
    samples = np.r_[samples, np.zeros(8000, np.float32)]  # the last frames need audio after them too
    events = stream(StreamingSession(Recognizer(model), options=options), samples, 1600)
    partials = [e for e in events if isinstance(e, PartialEvent) and e.text]
    assert any(p.stable < len(p.text) for p in partials)  # some tails are tentative ...
    assert any("z" in p.text[p.stable:] for p in partials)  # ... and some of them are wrong for now
    for index, event in enumerate(events):
        if isinstance(event, PartialEvent):
            assert 0 <= event.stable <= len(event.text)
            later = squeeze(" ".join(e.segment.text for e in events[index:] if isinstance(e, FinalEvent)))
            assert later.startswith(squeeze(event.text[: event.stable]))
            assert event.to_json()["stable"] == event.stable
    assert [s.text for s in finals(events)] == ["the quick brown fox", "jumps over the lazy dog", "again and again"]


def test_a_pause_in_the_audio_sends_a_final_within_a_second_whatever_the_model_writes() -> None:
    model = NeverBlankModel()
    rng = np.random.default_rng(3)
    pieces, ends = [], []
    for _ in range(3):
        pieces += [0.1 * rng.standard_normal(3 * SR).astype(np.float32), 1e-4 * rng.standard_normal(SR).astype(np.float32)]
        ends.append(sum(len(p) for p in pieces[:-1]) / SR)
    samples = np.concatenate(pieces)
    session = StreamingSession(Recognizer(model))
    arrivals = []  # (audio seconds fed when the final came, its end)
    for start in range(0, len(samples), 1600):
        arrivals += [((start + 1600) / SR, e.segment.end) for e in session.feed(samples[start:start + 1600])
                     if isinstance(e, FinalEvent)]
    assert len(arrivals) == 3  # the old session finalised nothing before its 20 s buffer was full
    for (fed, end), speech_end in zip(arrivals, ends):
        assert speech_end - 0.1 <= end <= speech_end + 0.5  # the cut lies in the silence after the speech
        assert fed - speech_end <= 1.0


def test_the_energy_endpoint_follows_the_noise_floor_and_can_be_turned_off() -> None:
    rng = np.random.default_rng(4)
    noise = 0.02 * rng.standard_normal(10 * SR).astype(np.float32)
    detector = EnergyEndpoint(EndpointOptions(), SPF, 0.02)
    detector.add(noise[: 5 * SR])  # the floor rises from -55 dB to the noise (-34 dB) within seconds
    detector.reset()
    detector.add(noise[5 * SR:])  # then steady noise is not speech, however loud
    assert detector.speech_frames == 0 and not detector.due()
    loud = noise[: 2 * SR] + 0.3 * rng.standard_normal(2 * SR).astype(np.float32)  # ~24 dB above the noise
    detector.add(loud)
    assert detector.speech_frames > 80 and not detector.due()
    detector.add(noise[: SR // 2 + SPF])
    assert detector.due()
    detector.reset()
    assert not detector.due()
    off = EnergyEndpoint(EndpointOptions(silence_seconds=0), SPF, 0.02)
    off.add(np.r_[loud, noise])
    assert not off.due()
    with pytest.raises(ValueError, match="silence_seconds"):
        EndpointOptions(silence_seconds=-1)


def test_updates_of_many_streams_share_one_forward_pass_and_give_each_stream_its_own_events() -> None:
    texts = ["hello there/general", "abc def/ghi", "streams share passes"]
    signals = [frames_signal(speech(t, np.random.default_rng(i))) for i, t in enumerate(texts)]
    options = StreamingOptions(update_seconds=0.5, context_seconds=1.0, catch_up=False)
    alone = []
    for samples in signals:
        alone.append(stream(StreamingSession(Recognizer(RightContextModel()), options=options), samples, 8000))
    shared_model = RightContextModel()
    recognizer = Recognizer(shared_model)
    sessions = [StreamingSession(recognizer, options=options) for _ in signals]
    together: list[list] = [[] for _ in signals]
    for start in range(0, max(len(s) for s in signals), 8000):
        for session, samples in zip(sessions, signals):
            if start < len(samples):
                session.add(samples[start:start + 8000])
        for events, new in zip(together, update_together(sessions)):
            events += new
    for session, events in zip(sessions, together):
        events += session.finish()
    assert together == alone
    shared = [batch for batch in shared_model.batches if len(batch) > 1]
    assert shared and max(len(batch) for batch in shared) == 3  # the three streams' updates in one call
    assert all(len(set(batch)) == 1 for batch in shared[1:])  # of one window length once the context is full


def test_a_stream_sets_its_own_endpoint_rules_and_bad_ones_close_it(recognizer) -> None:
    from live_server import live_server
    from polyasr.server import create_app
    from test_stream_route import pcm16, talk
    from audio_factory import voiced

    samples = np.r_[voiced(1.5), np.zeros(SR, np.float32), voiced(1.0)]
    with live_server(create_app(recognizer)) as url:
        base = url.replace("http://", "ws://") + "/v1/audio/stream?language=de"
        events, code = talk(base + "&endpoint_seconds=0.3", pcm16(samples, 3200))
        assert code == 1000
        assert [e for e in events if e["type"] == "partial"] and all("stable" in e for e in events if e["type"] == "partial")
        segments = [e["segment"] for e in events if e["type"] == "final"]
        assert len(segments) == 2 and segments[0]["end"] <= 1.9  # the silence ended the first one
        events, code = talk(base + "&endpoint_seconds=0", pcm16(samples, 3200))
        assert len([e for e in events if e["type"] == "final"]) == 1  # the random model never pauses: one final
        events, code = talk(base + "&endpoint_seconds=soon", [])
        assert code == 1008 and "endpoint_seconds" in events[-1]["message"]
        events, code = talk(base + "&max_utterance_seconds=0.5", [])
        assert code == 1008 and "max_buffer_seconds" in events[-1]["message"]
        metrics = json.dumps(__import__("httpx").get(url + "/metrics").text)
        assert "polyasr_stream_updates" in metrics


def test_listen_shows_the_lag_before_the_partial_text() -> None:
    import io

    from polyasr.cli.listen import LivePrinter

    out = io.StringIO()
    LivePrinter(out, live=True).show(PartialEvent("hallo welt", 0.0, 1.5, 6), lag=0.43)
    assert out.getvalue() == "(0.4 s) hallo welt"


def test_the_server_runs_updates_of_concurrent_streams_in_shared_calls(recognizer) -> None:
    import asyncio
    import time
    from concurrent.futures import ThreadPoolExecutor

    from fastapi import FastAPI

    from audio_factory import voiced
    from live_server import live_server
    from polyasr.server.stream_passes import StreamPasses
    from polyasr.server.stream_route import add_streaming_route
    from test_stream_route import pcm16, talk

    def slow_worker(fn):  # a busy model worker: each call waits its turn for 0.3 s
        def run():
            time.sleep(0.3)
            return fn()
        return asyncio.to_thread(run)

    app = FastAPI()
    passes = StreamPasses(slow_worker)
    add_streaming_route(app, recognizer, slow_worker, passes=passes)
    samples = voiced(3.0)
    with live_server(app) as url, ThreadPoolExecutor(3) as pool:
        ws = url.replace("http://", "ws://") + "/v1/audio/stream"
        results = list(pool.map(lambda _: talk(ws, pcm16(samples, 3200)), range(3)))
    assert [code for _, code in results] == [1000, 1000, 1000]
    assert all(any(e["type"] == "final" for e in events) for events, _ in results)
    assert passes.updates >= 3  # the audio arrives at once: an update may catch up on all of it
    assert passes.passes < passes.updates  # ... in fewer calls: the streams' updates were shared
    assert 3 * 2.5 <= passes.audio_seconds <= 3 * 3.0 and passes.model_seconds > 0


def test_streams_falling_due_a_moment_apart_share_one_call_and_a_silent_stream_holds_a_call_back_at_most_briefly() -> None:
    import asyncio
    import time

    from polyasr.server.stream_passes import GATHER_SECONDS, StreamPasses

    recognizer = Recognizer(FrameLocalModel())
    options = StreamingOptions(update_seconds=0.5, catch_up=False)
    a, b = StreamingSession(recognizer, options=options), StreamingSession(recognizer, options=options)
    signal = frames_signal(speech("hello there general kenobi", np.random.default_rng(0)))
    step = a.step_samples

    async def idle_worker(fn):  # a model worker with nothing else to do: the call runs at once
        return await asyncio.to_thread(fn)

    async def scenario() -> tuple[list[int], float]:
        passes = StreamPasses(idle_worker)

        async def update(session: StreamingSession, k: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            session.add(signal[k * step:(k + 1) * step])
            await passes.update(session)

        began = time.monotonic()
        counts = []
        for k in range(2):  # a step every 0.5 s, as real time sends it; B's message 30 ms after A's
            await asyncio.gather(update(a, k, began + 0.5 * k), update(b, k, began + 0.5 * k + 0.03))
            counts.append(passes.passes)
        before = time.monotonic()
        await update(a, 2, began + 1.03)  # B stops sending just when its next step was expected
        held = time.monotonic() - max(before, began + 1.03)
        assert passes.updates == 5
        return counts, held

    counts, held = asyncio.run(scenario())
    # the first steps: two calls (nothing known of B yet); the next: one call (before, A's ran before B's came: two)
    assert counts == [2, 3]
    assert held < GATHER_SECONDS + 0.2  # the silent stream was waited for at most GATHER_SECONDS


def test_a_stream_closed_while_its_update_waits_costs_no_model_pass() -> None:
    """A flood of streams that are closed (backlog over the limit) while their updates wait for a busy worker:
    the closed ones are dropped from the call instead of each costing a pass (the worker's queue grew without bound
    and 5 s requests took 50 s while two clients flooded; benchmarks/server_findings.py --only floods)."""
    import asyncio

    from polyasr.server.stream_passes import StreamPasses

    recognizer = Recognizer(FrameLocalModel())
    options = StreamingOptions(update_seconds=0.5, catch_up=False)
    signal = frames_signal(speech("hello there general kenobi", np.random.default_rng(0)))
    sessions = [StreamingSession(recognizer, options=options) for _ in range(3)]

    async def scenario() -> tuple[int, list[bool]]:
        release = asyncio.Event()

        async def busy_worker(fn):  # the worker is busy until released
            await release.wait()
            return await asyncio.to_thread(fn)

        passes = StreamPasses(busy_worker, gather_seconds=0.0)
        tasks = []
        for session in sessions:
            session.add(signal[:session.step_samples])
            tasks.append(asyncio.create_task(passes.update(session)))
        await asyncio.sleep(0.05)
        tasks[0].cancel()  # two of the three streams are closed while they wait
        tasks[2].cancel()
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        return passes.updates, [task.cancelled() for task in tasks]

    updates, cancelled = asyncio.run(scenario())
    assert cancelled == [True, False, True]
    assert updates == 1  # only the open stream was updated
    assert [s.pending_samples for s in sessions] == [sessions[0].step_samples, 0, sessions[2].step_samples]
