"""Ray processes for tests: a loopback cluster of Ray nodes, `polyasr serve --ray` in a subprocess, the
model replicas' processes found among a process's descendants (from /proc); and the fixtures the
serve --ray tests share (the model, `polyasr serve` to compare with), imported by name.

Everything here is stopped by the test that started it, by PID (the cluster's nodes by
`Cluster.shutdown`, the serve process by SIGINT, then SIGKILL).
"""

from __future__ import annotations

import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

from live_server import serve_command, serve_process
from tiny_model import build_tiny_model

SRC = Path(__file__).resolve().parents[1] / "src"
REPLICA_TITLE = "ServeReplica:polyasr:ModelReplica"  # how Ray names the processes of serve --ray's model replicas
NODE_IP = "127.0.0.2"  # see loopback_cluster
MAX_BATCH = 4  # of the replicas and of the single process they are compared with


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three live tokens: wide top-1 margins, so batching does not flip a frame's token."""
    return build_tiny_model(tmp_path_factory.mktemp("ray-serve-model"), live_tokens="ab|")


@pytest.fixture(scope="module")
def single_server(model_dir: Path) -> Iterator[str]:
    """`polyasr serve` (one process, one model worker) with the same model."""
    with serve_command(model_dir, "--max-batch", str(MAX_BATCH), "--threads", "1") as (url, _, _):  # as each replica
        yield url


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        kids = [child for child, p in parents.items() if p == parent]
        found += kids
        frontier += kids
    return found


def replica_pids(ancestor: int) -> list[int]:
    """The model replicas' processes under `ancestor` (a `serve --ray` process, or a Ray node's raylet)."""
    pids = []
    for pid in children(ancestor):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if REPLICA_TITLE.encode() in cmdline.read():
                    pids.append(pid)
        except OSError:
            continue
    return sorted(pids)


def src_path() -> str:
    """PYTHONPATH with this checkout's src first (Ray's workers import polyasr from it)."""
    return os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])


@contextmanager
def loopback_cluster(temp: Path, head: dict[str, Any], workers: list[dict[str, Any]],
                     env: dict[str, str] | None = None) -> Iterator[Any]:
    """A ray.cluster_utils.Cluster: a head node and worker nodes (ray.init's node arguments each) on loopback.

    The nodes' address is 127.0.0.2: Ray replaces 127.0.0.1 (and "localhost") by the machine's
    network address when a driver connects, so a cluster on 127.0.0.1 is unreachable; any 127/8
    address is loopback all the same. (Ray's gRPC servers bind every interface whatever the node
    address; its token authentication, on by default, guards them.) `env`: more environment for
    the nodes' processes.
    """
    from ray.cluster_utils import Cluster

    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"RAY_TMPDIR": str(temp), "PYTHONPATH": src_path(), **(env or {})}.items():
            patch.setenv(name, value)
        nodes = dict(object_store_memory=80 * 1024 * 1024, include_dashboard=False, node_ip_address=NODE_IP)
        cluster = Cluster(initialize_head=True, head_node_args=dict(nodes, **head))
        try:
            for worker in workers:
                cluster.add_node(**nodes, **worker)
            yield cluster
        finally:
            cluster.shutdown()


def raylet_pid(node: Any) -> int:
    """The raylet process of a Cluster node (the model replicas it hosts are its descendants)."""
    from ray._private import ray_constants

    return node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid


@contextmanager
def serve_ray(args: list[str], host: str, port: int, env: dict[str, str] | None = None,
              timeout: float = 240.0) -> Iterator[tuple[str, subprocess.Popen, list[str]]]:
    """`polyasr serve --ray ...` (`args`) on host:port until it says it serves: (URL, process, its log lines).

    Stopped with SIGINT (it deletes its application; with its own Ray instance it stops it), then SIGKILL.
    """
    with serve_process([*args, "--host", host, "--port", str(port)], rf"serving on (http://{re.escape(host)}:\d+)",
                       env={"PYTHONPATH": src_path(), **(env or {})}, timeout=timeout) as served:
        yield served
