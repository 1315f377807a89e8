"""Issue 11's findings, measured against `polyasr serve` from a source tree: run it on two checkouts to compare.

    .venv/bin/python benchmarks/server_findings.py                          # this checkout
    .venv/bin/python benchmarks/server_findings.py --src /path/to/old/src   # another one (only common options)
    .venv/bin/python benchmarks/server_findings.py --serve-args "--upload-timeout-seconds 5"

Each finding runs against a fresh server subprocess (tiny random model unless --model), whose RSS is
sampled from /proc every 10 ms; what each one sends and measures is in server_probes.py:

1. bomb: a 4 MB FLAC of 6 h of silence (8 kHz), posted once, then twice at once: status, seconds, RSS.
2. frames: one stream sending 60 x 8 MiB frames while a 5 s transcription is timed; floods: two
   streams sending 256 KiB messages as fast as they can (a new one when one is closed, at most 480 MiB
   each) while 5 s transcriptions are timed; close codes, RSS, latency against idle.
3. slow: 100 uploads trickling 10 bytes every 0.5 s: how many are still open after --slow-seconds;
   then 1,500 connections that sent half of a 1 MB upload: RSS.
4. keys: the API key sent in query strings (HTTP and WebSocket): how often it appears in the log.
5. origin: a cross-site POST and a WebSocket handshake with a foreign Origin: answered or refused.
6. names: the error message for a random-bytes upload named "noise.bin".

Issue 23 (--only idle,header,matroska,wav,spellings,rebinding,keyless,values,sigterm,health,long,undeclared):
idle sockets against /health, an unterminated header line, a Matroska file declaring 6 h, a WAV
header shorter than its data, key spellings at debug level, DNS rebinding, keyless WebSockets
against the stream slots, nan/inf hotword weights and the openai client's stream=True, SIGTERM with
a stalled upload, what /health, /health/ready and /metrics show a caller without a key; a long upload
(--long-minutes) against a live stream's update gaps, and ten ~4 MB FLAC uploads of undeclared length
against a 5 s request.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bench_models import build_model
from server_probes import (KEY, bad_values, bomb, floods, frames, header_line, health, idle_sockets, key_spellings,
                           keyless_streams, keys_and_origins, long_vs_stream, matroska, rebinding, sigterm, slow,
                           undeclared, wav_header)
from server_process import Server, cpu_flags

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the polyasr source tree the server runs")
    parser.add_argument("--model", default="tiny", help="tiny, full (random XLSR-53 large) or a checkpoint PATH")
    parser.add_argument("--serve-args", default="", help="more `polyasr serve` options for every server")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="how long the trickling uploads trickle")
    parser.add_argument("--long-minutes", type=float, default=150.0, help="the upload's length for 'long' (2.5 h)")
    parser.add_argument("--only", default="bomb,frames,floods,slow,keys", help="which findings to run")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-server-load"))
    args = parser.parse_args()
    model = Path(args.model) if args.model not in ("tiny", "full") else args.workdir / f"model-{args.model}"
    if args.model in ("tiny", "full") and not (model / "COMPLETE").exists():
        build_model(args.model, model)
    print(f"CPU: {cpu_flags()}; server: {args.src}, model {args.model}", flush=True)
    extra = args.serve_args.split()
    report: dict[str, dict] = {}
    issue23 = {"idle": idle_sockets, "header": header_line, "matroska": matroska, "wav": wav_header,
               "spellings": key_spellings, "rebinding": rebinding, "keyless": keyless_streams, "values": bad_values,
               "sigterm": sigterm, "health": health, "undeclared": undeclared,
               "long": lambda server: long_vs_stream(server, args.long_minutes)}
    for finding in args.only.split(","):
        keyed = finding in ("keys", "spellings", "keyless", "health")
        level = "debug" if finding == "spellings" else "info" if keyed else "warning"
        server = Server(args.src, model, 2, extra + (["--api-key", KEY] if keyed else []), level)
        try:
            if finding in issue23:
                report[finding] = issue23[finding](server)
            elif finding == "bomb":
                report[finding] = bomb(server)
            elif finding == "frames":
                report[finding] = frames(server)
            elif finding == "floods":
                report[finding] = floods(server)
            elif finding == "slow":
                report[finding] = slow(server, args.slow_seconds)
            else:
                report[finding] = keys_and_origins(server)
        finally:
            server.stop()
        if finding in ("keys", "spellings"):
            report[finding]["key_in_log"] = "".join(server.log).count(KEY)
        print(f"{finding}: {json.dumps(report[finding])}", flush=True)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    logging.getLogger("websockets").setLevel(logging.CRITICAL)  # flooding clients end with reset connections
    sys.exit(main())
