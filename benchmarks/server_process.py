"""`polyasr serve` in a subprocess for the server benchmarks, and the measurements they share (Linux /proc)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path


def cpu_flags() -> str:
    """The CPU flags that decide model speed (bf16, VNNI, AMX) and the CPU count, for every reported timing."""
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    wanted = ("avx512_bf16", "amx_bf16", "avx512_vnni")
    return ", ".join(f"{flag}: {'yes' if flag in flags else 'no'}" for flag in wanted) + f"; {os.cpu_count()} CPUs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB now (VmRSS)."""
    return _status(pid, "VmRSS:")


def peak_mib(pid: int) -> float:
    """Highest resident memory of a process so far in MiB (VmHWM)."""
    return _status(pid, "VmHWM:")


def _status(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakSampler:
    """The highest VmRSS of a process while the block runs (sampled every 10 ms): a phase's own peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> "PeakSampler":
        self.before = self.peak = rss_mib(self.pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, rss_mib(self.pid))
            except (OSError, ValueError):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Server:
    """`polyasr serve` from the source tree `src` in a subprocess on a free port of 127.0.0.1; its output in `log`."""

    def __init__(self, src: Path, model: Path, threads: int, extra: list[str], log_level: str = "warning") -> None:
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONUNBUFFERED": "1"}
        port = free_port()
        command = [sys.executable, "-m", "polyasr", "serve", "--model", str(model), "--port", str(port), "--device", "cpu",
                   "--dtype", "fp32", "--threads", str(threads), "--log-level", log_level, *extra]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pid = self.process.pid
        self.url = f"http://127.0.0.1:{port}"
        self.log: list[str] = []
        self._reader = threading.Thread(target=lambda: self.log.extend(self.process.stdout), daemon=True)  # type: ignore[arg-type]
        self._reader.start()
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the server did not start:\n" + "".join(self.log)) from None
                time.sleep(0.2)

    def stop(self, wait: float = 30.0) -> None:
        """Stop with SIGINT (as Ctrl-C would) and wait until the output is read."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._reader.join(10)


class RayServer(Server):
    """`polyasr serve --ray --replicas N` (its own local Ray instance) from `src` on a free port; stopped with SIGINT."""

    def __init__(self, src: Path, model: Path, replicas: int, threads: int, extra: list[str]) -> None:
        import tempfile

        self.temp = tempfile.mkdtemp(prefix="polyasr-rb-", dir="/tmp")  # Ray's socket paths must stay short
        env = {**os.environ, "PYTHONPATH": str(src), "PYTHONUNBUFFERED": "1", "RAY_TMPDIR": self.temp}
        port = free_port()
        command = [sys.executable, "-m", "polyasr", "serve", "--ray", "--replicas", str(replicas), "--ray-cpus",
                   str(replicas + 1), "--replica-cpus", "1", "--model", str(model), "--port", str(port), "--device", "cpu",
                   "--dtype", "fp32", "--threads", str(threads), "--log-level", "warning", *extra]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.pid = self.process.pid
        self.url = f"http://127.0.0.1:{port}"
        self.log: list[str] = []
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:  # type: ignore[union-attr]
                self.log.append(line)
                if "serving on http://" in line:
                    ready.set()

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not ready.wait(300) or self.process.poll() is not None:
            self.stop()
            raise RuntimeError("serve --ray did not start:\n" + "".join(self.log[-80:]))

    def stop(self, wait: float = 60.0) -> None:
        import shutil

        super().stop(wait)
        shutil.rmtree(self.temp, ignore_errors=True)
