"""Throughput of `polyasr batch` on Ray against `polyasr transcribe`, side by side in one run.

    .venv/bin/python benchmarks/batch_throughput.py                    # full-size random model, 24 x 15 s mp3
    .venv/bin/python benchmarks/batch_throughput.py --model tiny --files 200 --seconds 5
    .venv/bin/python benchmarks/batch_throughput.py --actors 1,2 --gpus-per-worker 0.5   # on a GPU machine

The same mp3 files (noise and tones, 44.1 kHz stereo, so every path decodes, mixes and resamples)
go through `polyasr transcribe` (one process, files in order) and through `polyasr batch` with each
actor count. Every command runs as a fresh subprocess and is timed from launch to exit, so model
loading, and for batch the start of a local Ray instance and its actors, are included. RTFx is the
Open ASR Leaderboard's: total audio seconds / total wall seconds. `batch` also reports its own RTFx
(from listing the inputs to the last shard, without Python's start-up), printed in brackets.

On a CPU machine the cores are shared: with C cores, 1 actor gets C torch threads, N actors get
C / N each (--cpus-per-worker), and decode tasks take what the actors leave. On a GPU machine pass
--gpus-per-worker (and --device cuda for transcribe is implied by "auto").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from bench_models import bench_signal, build_model

ROOT = Path(__file__).resolve().parents[1]
RATE = 44_100


def write_mp3(path: Path, seconds: float, seed: int) -> None:
    """An mp3 of `seconds` of the benchmark signal, 44.1 kHz stereo."""
    mono = bench_signal(seconds, seed, RATE)
    stereo = np.stack([mono, 0.8 * mono]).astype(np.float32)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=RATE, layout="stereo")
        for start in range(0, stereo.shape[1], 4608):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo[:, start : start + 4608]), format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = RATE, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def polyasr(*args: str) -> tuple[float, str]:
    """Run the polyasr CLI in a subprocess; returns (wall seconds, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "polyasr", *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"polyasr {' '.join(args[:3])} ... failed:\n{done.stderr[-3000:]}")
    return wall, done.stderr


def cpu_flags() -> str:
    try:
        flags = open("/proc/cpuinfo").read().split("flags", 2)[1].split("\n")[0].split()
    except (OSError, IndexError):
        return "unknown"
    wanted = ("avx512_bf16", "amx_bf16", "avx512_vnni", "avx512f", "avx2")
    return " ".join(f for f in wanted if f in flags) or "none of " + ", ".join(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="full", help="full (XLSR-53 large, random weights), tiny, or a folder")
    parser.add_argument("--files", type=int, default=24, help="how many mp3 files")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each file")
    parser.add_argument("--actors", default="1,2", help="actor counts to run batch with")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per actor (0: CPU actors)")
    parser.add_argument("--dtype", default="auto", help="model precision for every path")
    parser.add_argument("--workdir", default="/tmp/polyasr-batch-bench", help="generated model and audio are kept here")
    args = parser.parse_args()

    work = Path(args.workdir)
    model = Path(args.model)
    if args.model in ("full", "tiny"):
        model = work / f"model-{args.model}"
        if not (model / "COMPLETE").exists():
            print(f"building the {args.model} model in {model} ...", flush=True)
            build_model(args.model, model)
    audio = work / f"audio-{args.files}x{args.seconds:g}s"
    if not audio.exists():
        partial = audio.with_name(audio.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for i in range(args.files):
            write_mp3(partial / f"clip-{i:04d}.mp3", args.seconds, i)
        partial.rename(audio)
    files = sorted(str(p) for p in audio.glob("*.mp3"))
    total = args.files * args.seconds
    cores = os.cpu_count() or 1
    print(f"{len(files)} mp3 files, {total:.0f} s of audio; model {model}; dtype {args.dtype}; "
          f"{cores} cores; CPU flags: {cpu_flags()}", flush=True)

    results: list[tuple[str, float, str]] = []
    out = work / "transcribe-out"
    shutil.rmtree(out, ignore_errors=True)
    wall, _ = polyasr("transcribe", *files, "--model", str(model), "--dtype", args.dtype, "-f", "json", "-o", str(out))
    results.append(("polyasr transcribe (one process)", wall, ""))
    print(f"  transcribe: {wall:.1f} s", flush=True)
    for actors in [int(a) for a in args.actors.split(",")]:
        out = work / f"batch-out-{actors}"
        shutil.rmtree(out, ignore_errors=True)
        cpus = max(1.0, cores / actors) if args.gpus_per_worker == 0 else 1.0
        wall, _ = polyasr("batch", str(audio), "--output", str(out), "--model", str(model), "--dtype", args.dtype,
                          "--actors", str(actors), "--cpus-per-worker", f"{cpus:g}",
                          "--gpus-per-worker", f"{args.gpus_per_worker:g}", "--object-store-mb", "500")
        summary = json.loads((out / "summary.json").read_text())
        assert summary["complete"] and summary["failed"] == 0 and summary["transcribed"] == len(files), summary
        results.append((f"polyasr batch, {actors} actor(s) x {cpus:g} CPU", wall, f" ({summary['rtfx']:.1f})"))
        print(f"  batch, {actors} actor(s): {wall:.1f} s", flush=True)

    base = results[0][1]
    print("\n| path | wall s | RTFx | vs transcribe |\n|---|---|---|---|")
    for name, wall, inner in results:
        print(f"| {name} | {wall:.1f} | {total / wall:.1f}{inner} | x{base / wall:.2f} |")


if __name__ == "__main__":
    main()
