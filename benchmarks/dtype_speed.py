"""Two `polyasr.load` dtypes through the full pipeline, alternating in one process, with ratios.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/dtype_speed.py --model /tmp/i26/model-full --dtypes bf16,int8

Both models are loaded once; for each clip length (`bench_signal`) `transcribe` runs with each
dtype in turn, `--repeats` times after a warm-up, and the median RTF of each and their ratio are
printed with the CPU flags. Alternating in one process keeps this machine's drift (timings vary by
up to half between runs) out of the comparison; `benchmarks/speed.py` gives each path its own
process (and peak RSS) instead. Results: docs/speed.md.
"""

from __future__ import annotations

import argparse
import sys

from bench_models import alternating_rtf, bench_signal


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model folder")
    parser.add_argument("--dtypes", default="bf16,int8", help="two of polyasr.load's dtypes, comma-separated")
    parser.add_argument("--seconds", default="5,15,60", help="clip lengths, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import polyasr
    from polyasr.model.runtime import cpu_features

    first, second = args.dtypes.split(",")
    recs = {dtype: polyasr.load(args.model, device="cpu", dtype=dtype, threads=args.threads) for dtype in (first, second)}
    print(f"CPU flags: {' '.join(cpu_features()) or 'none of the speed flags'}; "
          + "; ".join(rec.model.describe().speed for rec in recs.values()), flush=True)
    for rec in recs.values():
        rec.transcribe(bench_signal(1.0), sampling_rate=16_000)  # warm-up
    for seconds in (float(s) for s in args.seconds.split(",")):
        clip = bench_signal(seconds)
        runs = {dtype: (lambda rec=rec: rec.transcribe(clip, sampling_rate=16_000)) for dtype, rec in recs.items()}
        print(f"{seconds:g} s: {alternating_rtf(runs, seconds, args.repeats)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
