"""torch.compile against eager PyTorch through polyasr's own forward path, side by side in one process.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/compile_speed.py --model /tmp/i26/model-full
    .venv/bin/python benchmarks/compile_speed.py --model MODEL --seconds 5 --repeats 1 --no-freezing

The loaded network (`polyasr.load(..., dtype=)`, time-major front end, fp32 positional convolution
and head) is compiled with inductor, `dynamic=False` (windows are padded to bucket lengths, so
shapes repeat) and, unless `--no-freezing`, `torch._inductor.config.freezing = True` (weights as
constants, so oneDNN can prepack them). For each clip length: the first compiled call (the compile
time), then the RTF of eager and compiled, alternating, median of `--repeats` runs after a warm-up
(this machine's timings vary by up to half between runs, so the paths are never timed in separate
runs), and the compiled logits against eager's as speed.py reports them (max |difference|, frame
argmax agreement on all frames and on the tenth with the largest top-1/top-2 margin). Results: docs/speed.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench_models import alternating_rtf, bench_signal
from speed import logit_errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model folder")
    parser.add_argument("--dtype", default="bf16", help="polyasr.load's dtype")
    parser.add_argument("--seconds", default="5,15", help="clip lengths, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-freezing", action="store_true")
    parser.add_argument("--mode", help="torch.compile's mode, e.g. max-autotune-no-cudagraphs")
    args = parser.parse_args()

    import torch
    import torch._inductor.config

    import polyasr
    from polyasr.model.runtime import cpu_features

    torch.set_num_threads(args.threads)
    torch._inductor.config.freezing = not args.no_freezing
    rec = polyasr.load(args.model, device="cpu", dtype=args.dtype, threads=args.threads)
    backend = rec.model.backend
    eager = backend.network
    compiled = torch.compile(eager, dynamic=False, mode=args.mode)
    print(f"torch {torch.__version__}; CPU flags: {' '.join(cpu_features()) or 'none of the speed flags'}; "
          f"{rec.model.describe().speed}; freezing {not args.no_freezing}, mode {args.mode}", flush=True)

    def logits(network, clip: np.ndarray) -> np.ndarray:
        backend.network = network
        try:
            return rec.model.logits([clip])[0]
        finally:
            backend.network = eager

    logits(eager, bench_signal(1.0))  # warm-up
    for seconds in (float(s) for s in args.seconds.split(",")):
        clip = bench_signal(seconds)
        reference = logits(eager, clip)
        start = time.perf_counter()
        out = logits(compiled, clip)
        print(f"{seconds:g} s: first compiled call (compiles) {time.perf_counter() - start:.1f} s", flush=True)
        logits(compiled, clip)
        runs = {"eager": lambda: logits(eager, clip), "compiled": lambda: logits(compiled, clip)}
        print(f"{seconds:g} s: {alternating_rtf(runs, seconds, args.repeats)}", flush=True)
        print(f"{seconds:g} s: compiled against eager: {logit_errors(reference, out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
