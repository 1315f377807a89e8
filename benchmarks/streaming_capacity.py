"""How many live streams `polyasr serve` holds: N real-time WebSocket streams at once, and their lag.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/streaming_capacity.py --model full --streams 1,2,4
    .venv/bin/python benchmarks/streaming_capacity.py --model full --src /path/to/main/src --src src   # before / after

Each `--src` tree runs as its own server subprocess (`python -m polyasr serve`, server_process.Server)
with the same model: `full` is the XLSR-53 large architecture with random weights (bench_models.py;
only timing counts), `tiny` the test model, or a checkpoint folder. Per N, N clients each send
`--seconds` of audio (bench_signal's speech-like noise and tones, 3.5 s at a time, with 1 s pauses
of near silence) in 100 ms PCM messages at exactly real time, all starting together, and measure:

- partial lag: arrival of a partial minus the moment the audio up to its `end` was sent (median, p95);
- final lag: per pause, arrival of the first final that reaches the speech before it, minus the moment
  the end of that speech was sent (median, max; `missed`: pauses without a final before the next speech);
- with `--upload S`: uploads of S s POSTed one after the other throughout each phase (`uploads`:
  how many ran, `upload_request_s`: their median request time), so the lags show how long streams wait behind an upload's forward passes;
- closed: streams the server closed with an error; CPU: the server process's CPU seconds per second;
  RSS: its resident memory after the phase;
- updates per pass, seconds per pass: how the streams' updates were grouped into shared calls, and
  what one call took (the lag a stream waits behind a call in progress);
- multiplier: model worker time per audio second over the offline real-time factor (one POST of the
  same length, best of two): what streaming costs compared with transcribing the file afterwards.

Printed side by side per tree, with the CPU flags, and one JSON line with everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402
import psutil  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench_models import bench_signal, build_model  # noqa: E402
from load_clients import timed_post, wav_bytes  # noqa: E402
from server_process import Server, cpu_flags, rss_mib  # noqa: E402

SR = 16_000
CHUNK = SR // 10
SPEECH, PAUSE = 3.5, 1.0
PASS_COUNTERS = ("polyasr_stream_passes", "polyasr_stream_updates", "polyasr_stream_model_seconds")  # how updates were grouped


def stream_audio(seconds: float, seed: int) -> tuple[np.ndarray, list[float]]:
    """Speech-like signal in stretches of SPEECH s with PAUSE s of near silence between; where each stretch ends."""
    pieces, ends, position = [], [], 0.0
    rng = np.random.default_rng(seed)
    while position < seconds:
        pieces += [bench_signal(SPEECH, seed=seed * 100 + len(ends)), rng.standard_normal(int(PAUSE * SR)).astype(np.float32) * 1e-3]
        position += SPEECH + PAUSE
        ends.append(position - PAUSE)
    return np.concatenate(pieces), ends


async def one_stream(ws_url: str, audio: np.ndarray, ends: list[float], start_at: float) -> dict:
    """Send `audio` at real time from `start_at` (monotonic); the lags of what comes back."""
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    sent: list[float] = []  # when chunk k (audio up to (k + 1) x 0.1 s) was sent
    partial_lags: list[float] = []
    final_lags: dict[int, float] = {}
    closed: str | None = None
    async with connect(ws_url, max_size=None, open_timeout=60) as ws:
        ready = json.loads(await ws.recv())
        if ready.get("type") != "ready":
            return {"partial_lags": [], "final_lags": [], "missed": len(ends), "closed": str(ready)}

        async def sender() -> None:
            for k in range(math.ceil(len(audio) / CHUNK)):
                await asyncio.sleep(max(0.0, start_at + (k + 1) * 0.1 - time.monotonic()))
                await ws.send(pcm[2 * k * CHUNK: 2 * (k + 1) * CHUNK])
                sent.append(time.monotonic())
            await ws.send(json.dumps({"type": "end"}))

        def sent_at(seconds: float) -> float | None:
            k = math.ceil(seconds * 10 - 1e-6) - 1
            return sent[k] if 0 <= k < len(sent) else None

        task = asyncio.create_task(sender())
        try:
            async for message in ws:
                event, now = json.loads(message), time.monotonic()
                if event["type"] == "partial" and event["text"]:
                    when = sent_at(event["end"])
                    if when is not None:
                        partial_lags.append(now - when)
                elif event["type"] == "final":
                    for index, end in enumerate(ends):
                        when = sent_at(end)
                        if index not in final_lags and when is not None and event["segment"]["end"] >= end - 0.5:
                            final_lags[index] = now - when
                elif event["type"] == "error":
                    closed = event["message"]
                elif event["type"] == "done":
                    break
        finally:
            task.cancel()
    # a pause counts as missed when its final came only after the next stretch of speech was sent
    missed = sum(1 for i in range(len(ends)) if i not in final_lags or final_lags[i] > SPEECH)
    return {"partial_lags": partial_lags, "final_lags": list(final_lags.values()), "missed": missed, "closed": closed}


def metric(url: str, name: str) -> float | None:
    for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class BusyClock:
    """The model worker's busy seconds, from polyasr_worker_busy_ratio (busy / seconds since the app started):
    two readings while idle give the app's start, after which each reading gives busy seconds."""

    def __init__(self, url: str) -> None:
        self.url = url
        r1, t1 = metric(url, "polyasr_worker_busy_ratio") or 0.0, time.monotonic()
        time.sleep(1.0)
        r2, t2 = metric(url, "polyasr_worker_busy_ratio") or 0.0, time.monotonic()
        self.offset = (r2 * t2 - r1 * t1) / (r1 - r2) if r1 > r2 else 0.0  # monotonic + offset = seconds since start

    def busy(self) -> float:
        ratio, now = metric(self.url, "polyasr_worker_busy_ratio") or 0.0, time.monotonic()
        return ratio * (now + self.offset)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class Uploads:
    """Uploads of `seconds` of audio POSTed one after the other from a thread, so that one always runs while
    the streams do (`--upload`): how long the streams wait behind an upload's forward passes."""

    def __init__(self, url: str, seconds: float) -> None:
        self.url, self.clip = url, wav_bytes(seconds, seed=11)
        self.done: list[float] = []  # each upload's request time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._post, daemon=True)

    def _post(self) -> None:
        with httpx.Client(timeout=600) as http:
            while not self._stop.is_set():
                self.done.append(timed_post(http, self.url, self.clip))

    def __enter__(self) -> "Uploads":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_phase(server: Server, streams: int, seconds: float, clock: BusyClock, upload: float = 0.0) -> dict:
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream?language=auto"
    proc = psutil.Process(server.pid)
    cpu0, busy0, wall0 = sum(proc.cpu_times()[:2]), clock.busy(), time.monotonic()
    counters0 = {name: metric(server.url, name) or 0.0 for name in PASS_COUNTERS}

    async def all_streams() -> list[dict]:
        start_at = time.monotonic() + 1.0
        made = [stream_audio(seconds, seed=i + 1) for i in range(streams)]
        return await asyncio.gather(*(one_stream(ws_url, audio, ends, start_at) for audio, ends in made))

    if upload:
        with Uploads(server.url, upload) as uploads:
            time.sleep(1.0)  # the first upload's passes have begun when the streams start
            results = asyncio.run(all_streams())
    else:
        results = asyncio.run(all_streams())
    wall = time.monotonic() - wall0
    counters = {name: (metric(server.url, name) or 0.0) - counters0[name] for name in PASS_COUNTERS}
    passes = max(counters["polyasr_stream_passes"], 1.0)
    partial = [x for r in results for x in r["partial_lags"]]
    final = [x for r in results for x in r["final_lags"]]
    audio_seconds = streams * len(stream_audio(seconds, 1)[0]) / SR
    return {"streams": streams, "partial_lag_median": statistics.median(partial) if partial else float("nan"),
            "partial_lag_p95": pct(partial, 95), "partials": len(partial),
            "final_lag_median": statistics.median(final) if final else float("nan"), "final_lag_max": max(final, default=float("nan")),
            "missed_finals": sum(r["missed"] for r in results), "closed": sum(1 for r in results if r["closed"]),
            "close_messages": sorted({r["closed"] for r in results if r["closed"]}),
            "cpu_cores": (sum(proc.cpu_times()[:2]) - cpu0) / wall, "rss_mib": rss_mib(server.pid),
            "model_s_per_audio_s": (clock.busy() - busy0) / audio_seconds,
            "updates_per_pass": counters["polyasr_stream_updates"] / passes,
            "uploads": len(uploads.done) if upload else 0,
            "upload_request_s": statistics.median(uploads.done) if upload and uploads.done else float("nan"),
            "seconds_per_pass": counters["polyasr_stream_model_seconds"] / passes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="full", help="full (random XLSR-53 large), tiny, or a checkpoint folder")
    parser.add_argument("--src", type=Path, action="append", help="polyasr source tree(s) to serve (default: this checkout's)")
    parser.add_argument("--streams", default="1,2,4", help="concurrent streams per phase")
    parser.add_argument("--seconds", type=float, default=18.0, help="audio per stream")
    parser.add_argument("--upload", type=float, default=0.0,
                        help="also POST uploads of this many seconds one after the other during every phase (0: none)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="auto", help="the server's --dtype (auto: bf16 on CPUs with AVX-512 BF16 or AMX)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-streaming"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    model = args.workdir / f"model-{args.model}" if args.model in ("full", "tiny") else Path(args.model)
    if args.model in ("full", "tiny") and not (model / "COMPLETE").exists():
        model.mkdir(parents=True, exist_ok=True)
        build_model(args.model, model)
    trees = [tree.resolve() for tree in (args.src or [ROOT / "src"])]
    report: dict = {"cpu": cpu_flags(), "model": str(model), "threads": args.threads, "dtype": args.dtype,
                    "upload_seconds": args.upload, "trees": {}}
    print(f"CPU: {report['cpu']}; torch threads {args.threads}; dtype {args.dtype}; model {model}", flush=True)
    for tree in trees:
        server = Server(tree, model, args.threads, ["--max-streams", "64", "--dtype", args.dtype])
        try:
            clip = wav_bytes(args.seconds, seed=9)
            with httpx.Client(timeout=600) as http:
                offline = min(timed_post(http, server.url, clip) for _ in range(2)) / args.seconds
            clock = BusyClock(server.url)
            rows = []
            for n in [int(x) for x in args.streams.split(",")]:
                row = run_phase(server, n, args.seconds, clock, args.upload)
                row["multiplier"] = row["model_s_per_audio_s"] / offline
                rows.append(row)
                print(f"{tree}: {json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})}", flush=True)
        finally:
            server.stop()
        report["trees"][str(tree)] = {"offline_rtf": offline, "phases": rows}
    uploading = f"; uploads of {args.upload:g} s running throughout" if args.upload else ""
    print(f"\nCPU: {report['cpu']}; dtype {args.dtype}; {args.seconds:g} s per stream, 100 ms messages at real time{uploading}")
    header = "| tree | N | partial lag median / p95 (s) | final lag median / max (s) | missed | closed | CPU cores | RSS MiB | model s per audio s | x offline |"
    print(header)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for tree, result in report["trees"].items():
        for r in result["phases"]:
            print(f"| {Path(tree).parent.name}/{Path(tree).name} | {r['streams']} | {r['partial_lag_median']:.2f} / {r['partial_lag_p95']:.2f} | "
                  f"{r['final_lag_median']:.2f} / {r['final_lag_max']:.2f} | {r['missed_finals']} | {r['closed']} | {r['cpu_cores']:.2f} | "
                  f"{r['rss_mib']:.0f} | {r['model_s_per_audio_s']:.2f} | {r['multiplier']:.1f} (RTF {result['offline_rtf']:.3f}) |")
    if len(report["trees"]) == 2:
        (a, ra), (b, rb) = report["trees"].items()
        for x, y in zip(ra["phases"], rb["phases"]):
            print(f"N={x['streams']}: p95 partial lag {x['partial_lag_p95']:.2f} -> {y['partial_lag_p95']:.2f} s "
                  f"(x{y['partial_lag_p95'] / x['partial_lag_p95']:.2f}), model s per audio s {x['model_s_per_audio_s']:.2f} -> "
                  f"{y['model_s_per_audio_s']:.2f} (x{y['model_s_per_audio_s'] / max(x['model_s_per_audio_s'], 1e-9):.2f})")
    for tree, result in report["trees"].items():
        fit = [r["streams"] for r in result["phases"] if r["closed"] == 0 and r["partial_lag_p95"] <= 1.0]
        print(f"{tree}: capacity (p95 partial lag <= 1.0 s, none closed): {max(fit) if fit else 0} of {args.streams}")
    print(json.dumps(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
