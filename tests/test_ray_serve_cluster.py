"""`polyasr serve --ray ADDRESS` on a 2-node loopback Ray cluster: one replica per node (a custom
resource each node has once), the same answers as `polyasr serve`, 40 requests at once, a request
provably not started on a replica that dies resent and answered, autoscaling up under load and down
when idle.

One cluster (ray_processes.loopback_cluster: a head and a worker node on 127.0.0.2, each with 2
logical CPUs and one `polyasr_slot`) is shared by the module; the fixed-replica server and the
autoscaled one are deployed on it one after the other (one class each). Replica processes are found
among each node's raylet's descendants.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

pytest.importorskip("ray.serve")
pytest.importorskip("grpc")  # ray.serve imports it at start
openai = pytest.importorskip("openai")

from load_clients import wav_bytes  # noqa: E402
from ray_processes import (MAX_BATCH, NODE_IP, loopback_cluster, model_dir, raylet_pid, replica_pids,  # noqa: E402,F401
                           serve_ray, single_server)  # model_dir, single_server: fixtures

BATCH_WAIT_MS = 1500  # the fixed replicas' batchers hold a request this long for more before they start it
SLOT = "polyasr_slot"  # each node has one: a replica reserving it lands one per node
CLIPS = {f"clip{seed}": wav_bytes(0.8 + 0.45 * seed, seed=seed) for seed in range(6)}
PUSH = "0.5"  # seconds between Ray Serve's autoscaling metric pushes (default 10) in the cluster's processes


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Any, int]]:
    """The two nodes and the port Serve's HTTP proxy keeps for both deployments."""
    temp = tempfile.mkdtemp(prefix="polyasr-rc-", dir="/tmp")  # Ray's socket paths must stay short
    env = {"RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": PUSH,
           "RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": PUSH}
    node = dict(num_cpus=2, resources={SLOT: 1})
    try:
        with loopback_cluster(Path(temp), node, [node], env=env) as ray_cluster:
            with socket.socket() as sock:
                sock.bind((NODE_IP, 0))
                port = sock.getsockname()[1]
            yield ray_cluster, port
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _serve(model_dir: Path, cluster: tuple[Any, int], *scaling: str, batch_wait_ms: int = 20):
    ray_cluster, port = cluster
    return serve_ray(["--ray", ray_cluster.address, *scaling, "--replica-resource", f"{SLOT}=1", "--model", str(model_dir),
                      "--device", "cpu", "--dtype", "fp32", "--max-batch", str(MAX_BATCH),
                      "--batch-wait-ms", str(batch_wait_ms)], NODE_IP, port)


def _nodes(ray_cluster: Any) -> list[Any]:
    return [ray_cluster.head_node, *ray_cluster.worker_nodes]


def _replicas_per_node(ray_cluster: Any) -> list[list[int]]:
    return [replica_pids(raylet_pid(node)) for node in _nodes(ray_cluster)]


def _transcribe(url: str, data: bytes, **kwargs: Any) -> Any:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0, timeout=180)
    return client.audio.transcriptions.create(model="whisper-1", file=("clip.wav", data), **kwargs)


def _post(url: str, data: bytes) -> tuple[int, str]:
    response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("clip.wav", data)}, timeout=180)
    return response.status_code, response.json().get("text", "") if response.status_code == 200 else response.text


def _metric(url: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", httpx.get(url + "/metrics", timeout=30).text, re.M)
    assert found, name
    return float(found.group(1))


def _wait_for(check: Any, seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return False


class TestTwoReplicasOnTwoNodes:
    @pytest.fixture(scope="class")
    def server(self, model_dir: Path, cluster: tuple[Any, int]) -> Iterator[str]:
        with _serve(model_dir, cluster, "--replicas", "2", batch_wait_ms=BATCH_WAIT_MS) as (url, _, _):
            yield url

    def test_one_replica_per_node_same_answers_forty_at_once(self, server: str, cluster: tuple[Any, int],
                                                              single_server: str) -> None:
        ray_cluster, _ = cluster
        assert [len(pids) for pids in _replicas_per_node(ray_cluster)] == [1, 1]
        for name, data in CLIPS.items():
            mine = _transcribe(server, data, response_format="verbose_json", timestamp_granularities=["word"])
            single = _transcribe(single_server, data, response_format="verbose_json", timestamp_granularities=["word"])
            assert mine.text == single.text and mine.text, name
            assert [w.end for w in mine.words] == [w.end for w in single.words]
        expected = {name: _transcribe(single_server, data).text for name, data in CLIPS.items()}
        jobs = [list(CLIPS)[i % len(CLIPS)] for i in range(40)]
        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(lambda name: _post(server, CLIPS[name]), jobs))
        assert answers == [(200, expected[name]) for name in jobs]
        assert _metric(server, "polyasr_model_workers") == 2

    def test_request_queued_on_a_lost_replica_is_resent(self, server: str, cluster: tuple[Any, int],
                                                         single_server: str) -> None:
        """The head node's replica is frozen (SIGSTOP: it takes nothing), so a request is taken by the worker
        node's replica, whose batcher holds it BATCH_WAIT_MS for more before it starts it; the ingress sees it
        queued there and not started (polyasr_replica_queued, from the replica's QUEUED and STARTED messages),
        and the replica is SIGKILLed then: the request is resent (polyasr_requests_resent) and answered, not 503."""
        ray_cluster, _ = cluster
        head_replicas, worker_replicas = _replicas_per_node(ray_cluster)
        clip = CLIPS["clip2"]
        expected = _transcribe(single_server, clip).text
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda _: _post(server, clip), range(8))) == [(200, expected)] * 8
            resent_before = _metric(server, "polyasr_requests_resent")
            assert _metric(server, "polyasr_replica_queued") == 0
            os.kill(head_replicas[0], signal.SIGSTOP)
            try:
                futures: list[Future] = []
                queued = 0.0
                for _ in range(MAX_BATCH - 1):  # fewer than a full batch: the batcher waits its whole BATCH_WAIT_MS
                    futures.append(pool.submit(_post, server, clip))
                    if _wait_for(lambda: _metric(server, "polyasr_replica_queued") >= 1, 4.0, 0.02):
                        queued = _metric(server, "polyasr_replica_queued")
                        os.kill(worker_replicas[0], signal.SIGKILL)
                        break
            finally:
                os.kill(head_replicas[0], signal.SIGCONT)
            answers = [f.result(timeout=180) for f in futures]
        assert queued >= 1, "no request reached the worker node's replica"
        assert answers == [(200, expected)] * len(futures)  # resent and answered: none is 503
        assert _metric(server, "polyasr_requests_resent") - resent_before >= queued
        assert _metric(server, "polyasr_replica_queued") == 0
        # Ray Serve replaces the replica, on the same node (the only one with a free slot)
        assert _wait_for(lambda: [len(p) for p in _replicas_per_node(ray_cluster)] == [1, 1], 120, 1.0)
        head_after, worker_after = _replicas_per_node(ray_cluster)
        assert head_after == head_replicas and worker_after != worker_replicas
        assert _wait_for(lambda: httpx.get(server + "/health/ready").status_code == 200, 30)
        assert _post(server, clip) == (200, expected)


class TestAutoscaling:
    @pytest.fixture(scope="class")
    def server(self, model_dir: Path, cluster: tuple[Any, int]) -> Iterator[str]:
        with _serve(model_dir, cluster, "--min-replicas", "1", "--max-replicas", "2", "--target-ongoing-requests", "1",
                    "--upscale-delay-seconds", "1", "--downscale-delay-seconds", "3",
                    "--scaling-look-back-seconds", "2") as (url, _, _):
            yield url

    def test_scales_up_under_load_and_down_when_idle(self, server: str, cluster: tuple[Any, int],
                                                     single_server: str) -> None:
        ray_cluster, _ = cluster
        assert _wait_for(lambda: _metric(server, "polyasr_model_workers") == 1, 60)
        assert sum(len(p) for p in _replicas_per_node(ray_cluster)) == 1
        clip = wav_bytes(20.0, seed=3)
        expected = _transcribe(single_server, clip).text
        answers: list[tuple[int, str]] = []
        seen: list[float] = []

        def client(deadline: float) -> None:
            while time.monotonic() < deadline and not (seen and seen[-1] == 2):
                answers.append(_post(server, clip))

        deadline = time.monotonic() + 120
        with ThreadPoolExecutor(6) as pool:
            clients = [pool.submit(client, deadline) for _ in range(6)]
            while time.monotonic() < deadline and not (seen and seen[-1] == 2):
                seen.append(_metric(server, "polyasr_model_workers"))
                time.sleep(0.5)
            for done in clients:
                done.result()
        assert seen[-1] == 2, seen  # scaled up under load
        assert [len(p) for p in _replicas_per_node(ray_cluster)] == [1, 1]
        assert answers and all(answer == (200, expected) for answer in answers)
        assert _wait_for(lambda: _metric(server, "polyasr_model_workers") == 1, 120)  # and down when idle
        assert _wait_for(lambda: sum(len(p) for p in _replicas_per_node(ray_cluster)) == 1, 60)
        assert _post(server, clip) == (200, expected)
