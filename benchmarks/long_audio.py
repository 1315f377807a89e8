"""Peak memory of transcribing long audio: does it stay flat as the audio grows?

    .venv/bin/python benchmarks/long_audio.py                       # tiny random model, 10 s / 10 min / 60 min
    .venv/bin/python benchmarks/long_audio.py --model full          # XLSR-53 large shape, random weights
    .venv/bin/python benchmarks/long_audio.py --lengths 10,600 --format mp3 --workdir /tmp/polyasr-bench

Generated audio (noise and tones of slowly varying loudness, 44.1 kHz stereo, so it is decoded,
mixed to mono and resampled like real input) is written once per length into the workdir. Each
length is then transcribed with `word_timestamps=True` in a fresh subprocess, which reports its
peak RSS (ru_maxrss). The check: peak(longest) <= 1.5 x peak(10 min), i.e. memory does not grow
with the audio's length beyond the result itself. The exit code is 0 either way; look for PASS/FAIL.

The parent never imports torch: a child's ru_maxrss starts at its parent's RSS (it survives
fork/exec), so the models are built in a subprocess too. The baseline ("RSS load") is taken
after loading the model and a 1 s warm-up, since safetensors weights are mapped in lazily.
`--model full` is slow on a small CPU: 60 min takes 20+ minutes with 2 threads.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np

from bench_models import build_model, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
RATE, CHUNK_SECONDS, FRAME = 44_100, 10, 4096
CODECS = {"flac": "flac", "wav": "pcm_s16le", "mp3": "libmp3lame", "m4a": "aac"}


def model_folder(spec: str, workdir: Path) -> Path:
    """The checkpoint folder for tiny, full or a PATH, built in a subprocess when not cached."""
    if spec not in ("tiny", "full"):
        return Path(spec)
    folder = workdir / f"model-{spec}"
    if not (folder / "COMPLETE").exists():
        print(f"building the {spec} model in {folder} ...", flush=True)
        subprocess.run([sys.executable, __file__, "--build", spec, str(folder)], check=True)
    return folder


def _frame_array(x: np.ndarray, fmt: str) -> np.ndarray:
    """(channels, n) floats in [-1, 1] -> a PyAV frame array in sample format `fmt` (packed or planar)."""
    base = fmt.rstrip("p")
    scale = {"s16": (32767, np.int16), "s32": (2**31 - 256, np.int32)}
    y = np.round(x * scale[base][0]).astype(scale[base][1]) if base in scale else x.astype(np.float32)
    return y if fmt.endswith("p") else y.T.reshape(1, -1).copy()


def generate_audio(path: Path, seconds: int, codec: str) -> None:
    """Write `seconds` of stereo noise + tones with slowly varying loudness, CHUNK_SECONDS at a time."""
    rng = np.random.default_rng(seconds)
    partial = path.with_name("partial-" + path.name)
    with av.open(str(partial), "w") as out:
        stream = out.add_stream(codec, rate=RATE, layout="stereo")
        fmt = stream.codec_context.codec.audio_formats[0].name
        stream.codec_context.format = fmt
        for start in range(0, seconds * RATE, CHUNK_SECONDS * RATE):
            t = (start + np.arange(min(CHUNK_SECONDS * RATE, seconds * RATE - start))) / RATE
            loud = 0.35 + 0.25 * np.sin(2 * np.pi * t / 47.0) * np.sin(2 * np.pi * t / 5.3)
            tones = sum(np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * np.sin(2 * np.pi * t / p)) for f, p in
                        ((220.0, 3.1), (330.0, 4.7), (523.3, 7.9)))
            left = loud * (0.2 * tones + 0.3 * rng.standard_normal(t.size))
            right = loud * (0.2 * tones + 0.3 * rng.standard_normal(t.size))
            signal = np.clip(np.stack([left, right]) * 0.8, -1.0, 1.0)
            for i in range(0, signal.shape[1], FRAME):
                frame = av.AudioFrame.from_ndarray(_frame_array(signal[:, i : i + FRAME], fmt), format=fmt,
                                                   layout="stereo")
                frame.sample_rate, frame.pts = RATE, start + i
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    partial.rename(path)


def child(model: str, audio: str, threads: int) -> None:
    """Load the model, transcribe one file and print one JSON line of measurements."""
    import torch

    torch.set_num_threads(threads)
    import polyasr

    begin = time.perf_counter()
    recognizer = polyasr.load(model, device="cpu", threads=threads)
    recognizer.transcribe(np.zeros(16_000, np.float32), sampling_rate=16_000)  # page in the mmapped weights
    loaded, after_load = time.perf_counter(), peak_rss_mib()
    result = recognizer.transcribe(audio, word_timestamps=True)
    seconds = time.perf_counter() - loaded
    print(json.dumps({
        "load_s": loaded - begin, "wall_s": seconds, "audio_s": result.duration, "rtf": seconds / result.duration,
        "rss_load": after_load, "rss_peak": peak_rss_mib(), "segments": len(result.segments),
        "words": len(result.words), "chars": len(result.text),
    }))


def measure(model: Path, audio: Path, threads: int) -> dict[str, float]:
    """Run `child` in a fresh interpreter and return its measurements."""
    done = subprocess.run([sys.executable, __file__, "--child", str(model), str(audio), "--threads", str(threads)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, full (random XLSR-53 large) or a checkpoint PATH")
    parser.add_argument("--lengths", default="10,600,3600", help="audio lengths in seconds, comma-separated")
    parser.add_argument("--format", default="flac", choices=sorted(CODECS))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-long-audio"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build_model(args.build[0], Path(args.build[1]))
        return 0
    if args.child:
        child(*args.child, args.threads)
        return 0

    lengths = sorted(int(x) for x in args.lengths.split(","))
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.model, args.workdir)
    if args.model == "full" and lengths[-1] >= 1800:
        print("note: the full model takes 20+ minutes for 60 min of audio on a 2-core CPU", flush=True)
    rows: dict[int, dict[str, float]] = {}
    for seconds in lengths:
        audio = args.workdir / f"audio-{seconds}s.{args.format}"
        if not audio.exists():
            begin = time.perf_counter()
            generate_audio(audio, seconds, CODECS[args.format])
            print(f"generated {audio.name} ({audio.stat().st_size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - begin:.1f} s", flush=True)
        rows[seconds] = measure(model, audio, args.threads)
        print(f"measured {seconds} s: {json.dumps(rows[seconds])}", flush=True)

    print(f"\nmodel {args.model} ({model}), {args.format} 44.1 kHz stereo, {args.threads} threads, word_timestamps=True")
    print(f"{'audio':>8} {'load s':>7} {'transcribe s':>12} {'RTF':>6} {'RSS load MiB':>12} {'peak MiB':>9} "
          f"{'added MiB':>9} {'segments':>8} {'words':>7} {'chars':>8}")
    for seconds, r in rows.items():
        print(f"{seconds:>7}s {r['load_s']:>7.1f} {r['wall_s']:>12.1f} {r['rtf']:>6.3f} {r['rss_load']:>12.0f} "
              f"{r['rss_peak']:>9.0f} {r['rss_peak'] - r['rss_load']:>9.0f} {r['segments']:>8} {r['words']:>7} "
              f"{r['chars']:>8}")
    if len(lengths) > 1:
        reference = 600 if 600 in rows and lengths[-1] != 600 else lengths[-2]
        ratio = rows[lengths[-1]]["rss_peak"] / rows[reference]["rss_peak"]
        verdict = "PASS" if ratio <= 1.5 else "FAIL"
        print(f"\npeak({lengths[-1]} s) / peak({reference} s) = {ratio:.2f} (limit 1.5): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
