"""`polyasr serve --ray` on a real local Ray instance: the same answers as `polyasr serve`, 40 requests
at once, a model replica SIGKILLed under load, a live stream through the ingress.

Ray on 2 cores is slow to start, so one `serve --ray --replicas 2` process (its own Ray instance, 3
logical CPUs) is shared by the tests of this module, beside one `polyasr serve`. Replica processes
are found among the descendants of that process only (ray_processes.replica_pids).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

pytest.importorskip("ray.serve")
pytest.importorskip("grpc")  # ray.serve imports it at start
openai = pytest.importorskip("openai")
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from audio_factory import write_audio  # noqa: E402
from load_clients import wav_bytes  # noqa: E402
from ray_processes import MAX_BATCH, SRC, model_dir, replica_pids, serve_ray, single_server  # noqa: E402,F401 - fixtures



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ray_server(model_dir: Path) -> Iterator[tuple[str, subprocess.Popen, list[str]]]:
    """`polyasr serve --ray --replicas 2` on 127.0.0.1 (its own local Ray instance), stopped with SIGINT."""
    temp = tempfile.mkdtemp(prefix="polyasr-rs-", dir="/tmp")  # Ray's socket paths must stay short
    try:
        with serve_ray(["--ray", "--replicas", "2", "--ray-cpus", "3", "--model", str(model_dir), "--device", "cpu",
                        "--dtype", "fp32", "--max-batch", str(MAX_BATCH), "--batch-wait-ms", "20"],
                       "127.0.0.1", _free_port(), env={"RAY_TMPDIR": temp}) as served:
            yield served
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _client(url: str) -> "openai.OpenAI":
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=120)


def _transcribe(url: str, data: bytes, **kwargs) -> object:
    return _client(url).audio.transcriptions.create(model="whisper-1", file=("clip.wav", data), **kwargs)


CLIPS = {f"clip{seed}": wav_bytes(0.8 + 0.45 * seed, seed=seed) for seed in range(6)}


def test_same_answers_as_polyasr_serve(ray_server, single_server: str) -> None:
    url, _, _ = ray_server
    for name, data in CLIPS.items():
        mine = _transcribe(url, data, response_format="verbose_json", timestamp_granularities=["word"])
        single = _transcribe(single_server, data, response_format="verbose_json", timestamp_granularities=["word"])
        assert mine.text == single.text and mine.text, name
        assert [w.end for w in mine.words] == [w.end for w in single.words]
    ranked = httpx.post(f"{url}/v1/audio/language", files={"file": ("a.wav", CLIPS["clip1"])}, timeout=60)
    assert ranked.status_code == 200 and ranked.json() == httpx.post(
        f"{single_server}/v1/audio/language", files={"file": ("a.wav", CLIPS["clip1"])}, timeout=60).json()
    for path in ("/v1/models", "/v1/languages"):
        assert httpx.get(url + path).json() == httpx.get(single_server + path).json() or path == "/v1/models"
    assert httpx.get(url + "/v1/models").json()["data"][0]["model_name"] == httpx.get(single_server + "/v1/models").json()["data"][0]["model_name"]
    # limits are the ingress's: an empty upload and a bad language get polyasr serve's answers
    for files, data in (({"file": ("e.wav", b"")}, {}), ({"file": ("a.wav", CLIPS["clip0"])}, {"language": "xx-nope"})):
        mine, single = (httpx.post(f"{u}/v1/audio/transcriptions", files=files, data=data, timeout=60) for u in (url, single_server))
        assert (mine.status_code, mine.json()) == (single.status_code, single.json()) and mine.status_code == 400
    assert httpx.get(url + "/health/ready").json() == {"status": "ready"}
    assert "polyasr_queue_length" in httpx.get(url + "/metrics").text and "<" in httpx.get(url + "/").text


def test_forty_concurrent_requests_all_answered(ray_server, single_server: str) -> None:
    url, _, _ = ray_server
    expected = {name: _transcribe(single_server, data).text for name, data in CLIPS.items()}
    jobs = [list(CLIPS)[i % len(CLIPS)] for i in range(40)]
    with ThreadPoolExecutor(40) as pool:
        texts = list(pool.map(lambda name: _transcribe(url, CLIPS[name]).text, jobs))
    assert texts == [expected[name] for name in jobs]


def _post(url: str, data: bytes) -> tuple[int, str | None, str]:
    response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("clip.wav", data)}, timeout=120)
    text = response.json().get("text", "") if response.status_code == 200 else response.text
    return response.status_code, response.headers.get("retry-after"), text


def _in_progress(url: str) -> float:
    """Requests the ingress handed to replicas and not yet answered (its polyasr_queue_length gauge)."""
    found = re.search(r"^polyasr_queue_length (\S+)$", httpx.get(url + "/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0


def test_replica_killed_under_load_loses_no_request_that_had_not_started(ray_server, single_server: str, tmp_path: Path) -> None:
    """Each replica is kept busy by a long upload while 40 short ones queue behind them; one replica is SIGKILLed."""
    url, process, _ = ray_server
    before = replica_pids(process.pid)
    assert len(before) == 2, before
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(16_000 * 1800) / 16_000)
    long_clip = write_audio(tmp_path / "long.flac", "flac", 16_000, tone[None], chunk=65536).read_bytes()  # 30 min, 10 MB
    short_clip = wav_bytes(1.0, seed=12)
    expected = {_transcribe(single_server, clip).text: clip for clip in (long_clip, short_clip)}
    with ThreadPoolExecutor(42) as pool:
        blockers = []
        for _ in range(2):  # one on each replica: Ray Serve routes to the one with fewer requests in progress
            blockers.append(pool.submit(_post, url, long_clip))
            time.sleep(0.5)
        futures = blockers + [pool.submit(_post, url, short_clip) for _ in range(40)]
        # requests decoded and handed to the replicas; the replicas' batchers run short jobs between the long
        # ones' passes (shortest first), so the load is flowing once a few short ones are answered
        deadline = time.monotonic() + 30
        while (_in_progress(url) < 10 and sum(f.done() for f in futures[2:]) < 3) and time.monotonic() < deadline:
            time.sleep(0.02)
        long_running_at_kill = sum(not f.done() for f in blockers)
        os.kill(before[0], signal.SIGKILL)
        results = [f.result(timeout=180) for f in futures]  # every request is answered: none hangs
    assert long_running_at_kill >= 1  # killed mid-load: a 30 min upload was still being transcribed
    ok = [r for r in results if r[0] == 200]
    lost = [r for r in results if r[0] != 200]
    assert all(text in expected for _, _, text in ok)
    assert all(status == 503 and retry and int(retry) >= 1 and "replica_lost" in text for status, retry, text in lost)
    assert len(lost) <= MAX_BATCH, lost  # at most the batch that ran on the killed replica
    deadline = time.monotonic() + 120  # Ray Serve replaces the replica
    while time.monotonic() < deadline and len(replica_pids(process.pid)) < 2:
        time.sleep(1)
    after = replica_pids(process.pid)
    assert len(after) == 2 and before[0] not in after
    assert httpx.get(url + "/health/ready").status_code == 200


def _stream(url: str, samples: np.ndarray) -> list[dict]:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    events = []
    with connect(url.replace("http://", "ws://") + "/v1/audio/stream?language=de", open_timeout=30) as ws:
        events.append(json.loads(ws.recv(timeout=30)))
        for i in range(0, len(data), 6400):
            ws.send(data[i : i + 6400])
        ws.send(json.dumps({"type": "end"}))
        try:
            while True:
                events.append(json.loads(ws.recv(timeout=60)))
        except ConnectionClosed:
            pass
    return events


def test_stream_through_the_ingress_equals_polyasr_serve(ray_server, single_server: str) -> None:
    url, _, _ = ray_server
    samples = np.clip(0.3 * np.random.default_rng(5).standard_normal(16_000 * 4), -1, 1).astype(np.float32)
    mine, single = _stream(url, samples), _stream(single_server, samples)
    assert mine[0]["type"] == "ready" and mine[-1]["type"] == "done"
    finals = [[e["segment"]["text"] for e in events if e["type"] == "final"] for events in (mine, single)]
    assert finals[0] == finals[1] and "".join(finals[0])
    assert mine[-1] == single[-1]


def test_replica_options_need_ray(model_dir: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "polyasr", "serve", "--model", str(model_dir), "--replicas", "2"],
                          env={**os.environ, "PYTHONPATH": str(SRC)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and re.search(r"--replicas needs --ray", done.stderr), done.stderr
