"""Does an input's text depend on what it is batched with? Alone versus batched, and the speed cost.

    .venv/bin/python benchmarks/batch_invariance.py --dtype bf16          # full-size random model, ~4 min
    .venv/bin/python benchmarks/batch_invariance.py --model tiny --clips 8
    PYTHONPATH=OTHER/src .venv/bin/python benchmarks/batch_invariance.py ...   # another polyasr, e.g. before the fix

Each of `--clips` mixed clips (2-20 s, and two long ones of 35 and 45 s that take several windows)
is transcribed alone, then all of them together through the same engine (`run_inference` with the
default batch options, as `transcribe_batch`, `evaluate` and the server use it). Reported: how many
texts are identical, how many inputs have bit-identical logits, the largest |logit difference|, and
the seconds of both runs. `--model` may name an ONNX export folder (its dtype is its own).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_models import bench_signal

LONG_CLIPS = (35.0, 45.0)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "?")
    except OSError:
        return "?"


def cpu_features() -> tuple[str, ...]:
    try:
        from polyasr.model.runtime import cpu_features as features
    except ImportError:  # an older polyasr (measuring the code before the fix): read the flags here
        flags = open("/proc/cpuinfo", encoding="utf-8").read().split("flags", 2)[1].split("\n")[0].split()
        return tuple(f for f in ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni") if f in flags)
    return features()


class KeepLogits:
    """A FrameReducer that keeps every frame's logits."""

    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.parts[first_frame] = logits.copy()

    def finish(self, num_frames: int) -> np.ndarray:
        return np.concatenate([self.parts[f] for f in sorted(self.parts)])[:num_frames]


def clips(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    seconds = list(rng.uniform(2.0, 20.0, max(0, count - len(LONG_CLIPS)))) + list(LONG_CLIPS)[:count]
    return [bench_signal(round(s, 2), seed=seed + i) for i, s in enumerate(seconds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="full", help="full, tiny, or a checkpoint / ONNX export folder")
    parser.add_argument("--dtype", default="auto", help="auto, fp32, bf16 (PyTorch models)")
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/polyasr-speed")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    model_dir = Path(args.model) if args.model not in ("full", "tiny") else workdir / f"model-{args.model}"
    if args.model in ("full", "tiny") and not (model_dir / "COMPLETE").exists():
        speed = Path(__file__).with_name("speed.py")
        subprocess.run([sys.executable, str(speed), "--build", args.model, str(model_dir)], check=True)

    import polyasr
    from polyasr.decoding.ctc import greedy_decode
    from polyasr.engine.inference import run_inference

    rec = polyasr.load(str(model_dir), device="cpu", dtype=args.dtype, threads=args.threads)
    audio = clips(args.clips, args.seed)
    model = rec.model
    list(run_inference(model, audio[:2], KeepLogits, sampling_rate=16_000))  # warm-up: weights resident, kernels chosen
    start = time.perf_counter()
    alone = [next(run_inference(model, [x], KeepLogits, sampling_rate=16_000)).value for x in audio]
    alone_seconds = time.perf_counter() - start
    start = time.perf_counter()
    batched = [r.value for r in run_inference(model, audio, KeepLogits, sampling_rate=16_000)]
    batched_seconds = time.perf_counter() - start
    same_text = same_bits = 0
    worst = 0.0
    for one, joint in zip(alone, batched):
        same_text += greedy_decode(one, model.vocabulary).text == greedy_decode(joint, model.vocabulary).text
        same_bits += bool(np.array_equal(one, joint))
        worst = max(worst, float(np.abs(one - joint).max()))
    total = sum(len(x) for x in audio) / 16_000
    print(f"{model.describe()}; polyasr from {Path(polyasr.__file__).parent}")
    print(f"CPU: {cpu_name()}; flags: {' '.join(cpu_features()) or 'none of the speed flags'}; {len(audio)} clips, {total:.0f} s of audio")
    print(f"texts identical alone and batched: {same_text}/{len(audio)}; logits bit-identical: {same_bits}/{len(audio)}; "
          f"max |logit difference| {worst:.4g}")
    print(f"alone: {alone_seconds:.1f} s (RTF {alone_seconds / total:.4f}); batched: {batched_seconds:.1f} s "
          f"(RTF {batched_seconds / total:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
