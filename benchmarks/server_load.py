"""Load on `polyasr serve`: requests/s and latency of concurrent clients, memory, and the same while a stream floods.

    .venv/bin/python benchmarks/server_load.py                      # tiny random model, 8 clients x 4 requests
    .venv/bin/python benchmarks/server_load.py --model full --clients 4 --requests 2 --lengths 2,5,10
    .venv/bin/python benchmarks/server_load.py --src /path/to/other/checkout/src   # the same load on other code
    .venv/bin/python benchmarks/server_load.py --ray-replicas 1,2   # polyasr serve vs serve --ray with 1 and 2 replicas

The server runs as a subprocess (`python -m polyasr serve`, the code under --src, default this
checkout's), so its memory is its own: RSS is read from /proc/PID/status before and after each phase
(VmRSS), and the peak of the whole run (VmHWM). Phase 1: N clients, each with its own connection, send
`--requests` transcriptions of mixed lengths (cycling through --lengths, 16 kHz wav noise) as fast as
answers come. Phase 2: the same while another process floods ws /v1/audio/stream (256 KiB messages
as fast as the socket takes them, a new stream whenever one is closed; at most --flood-mib per
stream). Printed: requests/s, p50/p99 latency, RSS, the flood's streams and close codes, the CPU
flags, and one JSON line with everything.

With --ray-replicas, instead: the same load phase on `polyasr serve` (--threads) and on `polyasr serve
--ray --replicas N` for each N (each replica --threads/N threads and 1 logical CPU, so the machine's
cores are shared the same way), plus the ingress overhead: one client sending the shortest clip one
request after the other, p50 against `polyasr serve`'s. Side by side, with ratios to `polyasr serve`.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from bench_models import build_model  # noqa: E402
from load_clients import timed_post, wav_bytes  # noqa: E402
from server_process import RayServer, Server, cpu_flags, peak_mib, rss_mib  # noqa: E402


def run_phase(url: str, clients: int, requests: int, clips: list[bytes]) -> dict[str, float]:
    """N clients, each sending `requests` transcriptions one after the other; latencies and throughput."""

    def client(index: int) -> list[float]:
        with httpx.Client(timeout=600) as http:
            return [timed_post(http, url, clips[(index + k) % len(clips)]) for k in range(requests)]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(t for times in pool.map(client, range(clients)) for t in times)
    wall = time.perf_counter() - started
    return {"requests": len(latencies), "wall_s": wall, "requests_per_s": len(latencies) / wall,
            "p50_s": statistics.median(latencies), "p99_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "max_s": latencies[-1]}


def compare_ray(args: argparse.Namespace, model: Path, clips: list[bytes]) -> dict[str, object]:
    """The load phase and a one-client latency on `polyasr serve` and on `serve --ray` with each replica count."""
    rows: dict[str, dict[str, float]] = {}
    counts = [int(n) for n in args.ray_replicas.split(",")]
    for name in ["serve", *(f"ray-{n}" for n in counts)]:
        replicas = int(name.split("-")[1]) if name.startswith("ray-") else 0
        server = (RayServer(args.src, model, replicas, max(1, args.threads // replicas), args.serve_args.split()) if replicas
                  else Server(args.src, model, args.threads, args.serve_args.split()))
        try:
            with httpx.Client(timeout=600) as http:
                for clip in clips:
                    timed_post(http, server.url, clip)  # warm up every length (and every replica's first pass)
            row = run_phase(server.url, args.clients, args.requests, clips)
            single = run_phase(server.url, 1, args.overhead_requests, [min(clips, key=len)])
            rows[name] = {**row, "one_client_p50_s": single["p50_s"]}
        finally:
            server.stop()
    base = rows["serve"]
    print(f"{'server':>8} {'req/s':>7} {'x serve':>7} {'p50 ms':>8} {'p99 ms':>8} {'1-client p50 ms':>16} {'overhead ms':>12}")
    for name, row in rows.items():
        print(f"{name:>8} {row['requests_per_s']:7.2f} {row['requests_per_s'] / base['requests_per_s']:7.2f} "
              f"{row['p50_s'] * 1000:8.0f} {row['p99_s'] * 1000:8.0f} {row['one_client_p50_s'] * 1000:16.1f} "
              f"{(row['one_client_p50_s'] - base['one_client_p50_s']) * 1000:12.1f}")
    return {"cpu": cpu_flags(), "clients": args.clients, "lengths": args.lengths, "threads": args.threads, "servers": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, full (random XLSR-53 large) or a checkpoint PATH")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the polyasr source tree the server runs")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=4, help="requests per client and phase")
    parser.add_argument("--lengths", default="2,5,15,30", help="audio seconds of the requests, cycled")
    parser.add_argument("--threads", type=int, default=2, help="the server's model threads")
    parser.add_argument("--flood-mib", type=int, default=512, help="bytes a flooding stream sends at most")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-server-load"))
    parser.add_argument("--serve-args", default="", help="more `polyasr serve` options, e.g. '--max-streams 4'")
    parser.add_argument("--ray-replicas", default=None, help="compare polyasr serve with serve --ray with these replica counts, e.g. 1,2")
    parser.add_argument("--overhead-requests", type=int, default=30, help="--ray-replicas: one client's requests for the overhead")
    args = parser.parse_args()

    model = Path(args.model) if args.model not in ("tiny", "full") else args.workdir / f"model-{args.model}"
    if args.model in ("tiny", "full") and not (model / "COMPLETE").exists():
        print(f"building the {args.model} model in {model} ...", flush=True)
        build_model(args.model, model)
    clips = [wav_bytes(float(seconds), seed=i) for i, seconds in enumerate(args.lengths.split(","))]
    print(f"CPU: {cpu_flags()}; server: {args.src}, model {args.model}, {args.threads} threads", flush=True)
    if args.ray_replicas:
        print(json.dumps(compare_ray(args, model, clips)))
        return 0

    server = Server(args.src, model, args.threads, args.serve_args.split())
    pid = server.pid
    try:
        with httpx.Client(timeout=600) as http:
            for clip in clips:
                timed_post(http, server.url, clip)  # warm up every length
        report: dict[str, object] = {"cpu": cpu_flags(), "clients": args.clients, "lengths": args.lengths}
        rss_start = rss_mib(pid)
        report["load"] = {**run_phase(server.url, args.clients, args.requests, clips), "rss_before_mib": rss_start,
                          "rss_after_mib": rss_mib(pid)}
        ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
        flood = subprocess.Popen([sys.executable, str(ROOT / "tests" / "load_clients.py"), "flood", ws_url, "3600", "1",
                                  "0", str(args.flood_mib)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(1.0)
        flooded = run_phase(server.url, args.clients, args.requests, clips)
        rss_flood = rss_mib(pid)
        flood.send_signal(signal.SIGINT)
        out, _ = flood.communicate(timeout=120)
        summary = json.loads(out) if out.strip() else {"streams": None, "closes": []}
        codes: dict[str, int] = {}
        for code, _ in summary["closes"]:
            codes[str(code)] = codes.get(str(code), 0) + 1
        report["flood"] = {**flooded, "rss_during_mib": rss_flood, "rss_after_mib": rss_mib(pid),
                           "streams": summary["streams"], "close_codes": codes}
        report["rss_peak_mib"] = peak_mib(pid)
    finally:
        server.stop()

    for phase in ("load", "flood"):
        row = report[phase]  # type: ignore[index]
        print(f"{phase:>5}: {row['requests']} requests in {row['wall_s']:.1f} s = {row['requests_per_s']:.2f}/s, "
              f"p50 {row['p50_s'] * 1000:.0f} ms, p99 {row['p99_s'] * 1000:.0f} ms; RSS "
              + (f"{row['rss_before_mib']:.0f} -> {row['rss_after_mib']:.0f} MiB" if phase == "load" else
                 f"{row['rss_during_mib']:.0f} MiB during, {row['rss_after_mib']:.0f} after; "
                 f"{row['streams']} flooding streams, closes {row['close_codes']}"))
    print(f"p50 while flooding / p50 without: {report['flood']['p50_s'] / report['load']['p50_s']:.2f}; "  # type: ignore[index]
          f"peak RSS of the run {report['rss_peak_mib']:.0f} MiB")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
