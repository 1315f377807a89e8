"""Where the memory goes: RSS per phase (import, load, warm-up, a long file), source trees side by side.

    .venv/bin/python benchmarks/memory.py --model full --src OLD/src --src src   # OLD: a checkout of the old code
    .venv/bin/python benchmarks/memory.py --model tiny --seconds 60            # a quick smoke run

Each source tree (`--src`, default: this checkout's src/) runs in a fresh interpreter, so its peaks
are its own; `--model full` is the XLSR-53 large architecture with random weights (benchmarks/
bench_models.py), saved as a model folder in the workdir as speed.py does, `--model PATH` any model
folder. The child reads /proc/self/status after each phase: VmRSS (now), VmHWM (the peak so far),
RssAnon (memory the process allocated: tensors, arrays) and RssFile (pages of mapped files:
shared libraries and memory-mapped weights), and times the phases:

    import      `import polyasr` (what every command imports)
    load        `polyasr.load(model, device="cpu")`: config, weights, tokenizer
    warm-up     a 1 s transcription (kernels chosen, weights paged in)
    long file   `transcribe(FILE)` of `--seconds` of 44.1 kHz stereo FLAC (generated once; default 10 min)

then `python -m polyasr transcribe` of a 5 s clip in a fresh process, end to end (wall seconds).

Linux only (it reads /proc). The exit code is 0 either way; compare the columns.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from long_audio import CODECS, generate_audio, model_folder

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def status_mib() -> dict[str, float]:
    """This process's VmRSS, VmHWM, RssAnon and RssFile in MiB (/proc/self/status)."""
    values = {}
    with open("/proc/self/status", encoding="utf-8") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in FIELDS:
                values[key] = int(rest.split()[0]) / 1024
    return values


def child(model: str, audio: str, threads: int) -> None:
    """Run the phases and print one JSON line: {phase: {field: MiB, "s": seconds}}."""
    import numpy as np

    phases: dict[str, dict[str, float]] = {"start": {**status_mib(), "s": 0.0}}
    begin = time.perf_counter()
    import polyasr

    phases["import"] = {**status_mib(), "s": time.perf_counter() - begin}
    begin = time.perf_counter()
    recognizer = polyasr.load(model, device="cpu", threads=threads)
    phases["load"] = {**status_mib(), "s": time.perf_counter() - begin}
    begin = time.perf_counter()
    recognizer.transcribe(np.zeros(16_000, np.float32), sampling_rate=16_000)
    phases["warm-up"] = {**status_mib(), "s": time.perf_counter() - begin}
    begin = time.perf_counter()
    result = recognizer.transcribe(audio)
    phases["long file"] = {**status_mib(), "s": time.perf_counter() - begin, "audio_s": result.duration}
    phases["describe"] = str(recognizer.model.describe().speed)  # type: ignore[assignment]
    print(json.dumps(phases))


def measure(src: str, model: Path, audio: Path, clip: Path, threads: int) -> dict:
    """The phases in a fresh interpreter, then `polyasr transcribe CLIP` end to end (wall seconds)."""
    environment = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    done = subprocess.run([sys.executable, __file__, "--child", str(model), str(audio), "--threads", str(threads)],
                          check=True, capture_output=True, text=True, env=environment)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    begin = time.perf_counter()
    subprocess.run([sys.executable, "-m", "polyasr", "transcribe", str(clip), "--model", str(model), "--threads",
                    str(threads)], check=True, capture_output=True, env=environment)
    result["cli"] = time.perf_counter() - begin
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="full", help="tiny, full (random XLSR-53 large) or a model folder")
    parser.add_argument("--src", action="append", help="a source tree to measure (repeat it; default: src/)")
    parser.add_argument("--seconds", type=int, default=600, help="length of the long file")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-long-audio"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.threads)
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.model, args.workdir)
    audio = args.workdir / f"audio-{args.seconds}s.flac"
    if not audio.exists():
        generate_audio(audio, args.seconds, CODECS["flac"])
    clip = args.workdir / "audio-5s.flac"
    if not clip.exists():
        generate_audio(clip, 5, CODECS["flac"])
    sources = args.src or [str(ROOT / "src")]
    results = {}
    for src in sources:
        print(f"measuring {src} ...", flush=True)
        results[src] = measure(src, model, audio, clip, args.threads)
    sys.path.insert(0, str(ROOT / "src"))
    from polyasr.model.runtime import cpu_features

    print(f"\nCPU flags: {' '.join(cpu_features()) or 'none of the speed flags'}; {args.threads} threads; model "
          f"{args.model}; long file {args.seconds} s of 44.1 kHz stereo FLAC")
    for src, phases in results.items():
        print(f"  {src}: {phases['describe']}")
    width = max(len(s) for s in sources) + 2
    print(f"\n{'phase':<10} {'MiB (peak so far / now / anon / file), seconds':<48}")
    for phase in ("start", "import", "load", "warm-up", "long file"):
        for i, src in enumerate(sources):
            r = results[src][phase]
            label = phase if i == 0 else ""
            print(f"{label:<10} {src:<{width}} peak {r['VmHWM']:>6.0f}  now {r['VmRSS']:>6.0f}  anon "
                  f"{r['RssAnon']:>6.0f}  file {r['RssFile']:>6.0f}  {r['s']:>7.2f} s")
    if len(sources) > 1:
        first, last = results[sources[0]], results[sources[-1]]
        for phase in ("load", "long file"):
            print(f"peak after {phase}: {first[phase]['VmHWM']:.0f} -> {last[phase]['VmHWM']:.0f} MiB "
                  f"(x{last[phase]['VmHWM'] / first[phase]['VmHWM']:.2f})")
        print(f"import + load: {first['import']['s'] + first['load']['s']:.2f} -> "
              f"{last['import']['s'] + last['load']['s']:.2f} s")
    for src in sources:
        print(f"`polyasr transcribe` of a 5 s clip, end to end ({src}): {results[src]['cli']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
