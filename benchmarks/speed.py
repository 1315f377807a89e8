"""Speed of every runtime path, side by side in one run, against the model card's code path.

    .venv/bin/python benchmarks/speed.py                      # full-size random model, ~15 min on 2 cores
    .venv/bin/python benchmarks/speed.py --model tiny --repeats 1   # a quick smoke run

Paths: `card` is the model card's code as written (Wav2Vec2Processor + Wav2Vec2ForCTC in fp32,
one file per call, its `predict` decode); the others are polyasr's full pipeline (decoding,
windows, batching, timestamps) through `polyasr.load`: PyTorch fp32, bf16 and int8 (the
transformer's linear layers as int8 products, model/int8.py; the rest as "auto" picks), and ONNX Runtime
fp32 and int8 (folders written by `polyasr export`, cached in the workdir). Cases: one clip of 5 s,
15 s and 60 s, and a mixed batch of 8 clips (2-12 s, 56 s in all; the card's path loops over
them). Each path runs in a fresh process so that its peak RSS is its own; times are medians of
`--repeats` runs after a warm-up (this machine's timings vary by up to half between identical
runs). Beside every path: how far it is from the matmul floor, the model's FLOPs per audio second
(counted by torch's FlopCounterMode over one 15 s pass) divided by the rate at which this CPU
multiplies 1500x1024 by 1024x4096 matrices in bf16 (measured in the same run). Logit errors are measured on the 15 s clip against polyasr's
fp32 logits (equal to the card's within 1e-4): max |difference|, the same relative to the largest
fp32 logit, and frame argmax agreement. Random weights give flat logits whose argmax flips on any
rounding, so agreement is also reported on the "confident" frames: the tenth of frames with the
largest fp32 top-1/top-2 margin.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_models import bench_signal, build_model, peak_rss_mib

CASES = {"5 s": [5.0], "15 s": [15.0], "60 s": [60.0], "batch 8": [2.0, 3.0, 4.0, 5.0, 7.0, 9.0, 12.0, 14.0]}
PATHS = ("card", "torch-fp32", "torch-bf16", "torch-int8", "onnx-fp32", "onnx-int8")
CONFIDENT_SHARE = 0.1  # frames with the largest fp32 margins on which argmax agreement is reported


def case_audio(name: str) -> list[np.ndarray]:
    return [bench_signal(seconds, seed=i) for i, seconds in enumerate(CASES[name])]


def card_runner(model_dir: str):
    """The model card's code path: processor, model, its `predict` decode; one file per call."""
    import torch
    from transformers import Wav2Vec2ForCTC, Wav2Vec2Processor

    processor = Wav2Vec2Processor.from_pretrained(model_dir)
    model = Wav2Vec2ForCTC.from_pretrained(model_dir).eval()

    def predict(speech: np.ndarray) -> tuple[str, np.ndarray]:
        features = processor(speech, sampling_rate=16_000, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(features.input_values, attention_mask=features.attention_mask).logits
            logit = logits[0]
            pred_ids = torch.argmax(logit, dim=-1)
            mask = pred_ids.ge(1).unsqueeze(-1).expand(logit.size())
            voice_prob = torch.nn.functional.softmax(torch.masked_select(logit, mask).view(-1, logit.size(-1)), dim=-1)
            return processor.decode(torch.argmax(voice_prob, dim=-1)), logit.numpy()

    return lambda clips: [predict(c)[0] for c in clips], lambda clip: predict(clip)[1]


def polyasr_runner(model_dir: str, dtype: str):
    import polyasr

    rec = polyasr.load(model_dir, device="cpu", dtype=dtype)
    return lambda clips: [r.text for r in rec.transcribe_batch(clips, sampling_rate=16_000)], lambda clip: rec.model.logits([clip])[0]


def child(path: str, model_dir: str, export_dir: str, repeats: int, threads: int, out: str) -> None:
    import torch

    torch.set_num_threads(threads)
    if path == "card":
        run, logits = card_runner(model_dir)
    elif path.startswith("torch"):
        run, logits = polyasr_runner(model_dir, path.split("-")[1])
    else:
        run, logits = polyasr_runner(str(Path(export_dir) / path), "auto")
    run([bench_signal(1.0)])  # warm-up: weights resident, kernels chosen
    seconds, best = {}, {}
    for name in CASES:
        clips = case_audio(name)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(clips)
            times.append(time.perf_counter() - start)
        seconds[name], best[name] = statistics.median(times), min(times)
    np.save(out, logits(case_audio("15 s")[0]))
    print(json.dumps({"seconds": seconds, "best": best, "rss_mib": peak_rss_mib()}))


def floor_child(model_dir: str, threads: int) -> None:
    """The matmul floor: this CPU's measured matmul rate (1500x1024 by 1024x4096, bf16, fp32 and int8) and the
    model's FLOPs per audio second (torch's FlopCounterMode over one 15 s forward pass in fp32)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import polyasr

    torch.set_num_threads(threads)
    rates = {}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32), ("int8", torch.int8)):
        if dtype == torch.int8:  # int8 products with int32 sums, as the torch-int8 path's linear layers (model/int8.py)
            a, b = torch.randint(-127, 128, (1500, 1024), dtype=dtype), torch.randint(-127, 128, (4096, 1024), dtype=dtype).t()
            product = torch._int_mm
        else:
            a, b, product = torch.randn(1500, 1024, dtype=dtype), torch.randn(1024, 4096, dtype=dtype), torch.matmul
        for _ in range(3):
            product(a, b)
        start, runs = time.perf_counter(), 20
        for _ in range(runs):
            product(a, b)
        rates[name] = 2 * 1500 * 1024 * 4096 * runs / (time.perf_counter() - start) / 1e9
    rec = polyasr.load(model_dir, device="cpu", dtype="fp32")
    for module in rec.model.backend.network.modules():  # FlopCounterMode cannot run weight norm's parametrization
        if torch.nn.utils.parametrize.is_parametrized(module, "weight"):
            torch.nn.utils.parametrize.remove_parametrizations(module, "weight")
    clip = case_audio("15 s")[0]
    with FlopCounterMode(display=False) as counter:
        rec.model.logits([clip])
    print(json.dumps({"gflops": rates, "gflop_per_audio_s": counter.get_total_flops() / 1e9 / 15.0}))


def export(model_dir: Path, workdir: Path, threads: int) -> Path:
    folder = workdir / "exports"
    for name, quantize in (("onnx-fp32", "none"), ("onnx-int8", "int8")):
        if not (folder / name / "model.onnx").exists():
            print(f"exporting {name} ...", flush=True)
            subprocess.run([sys.executable, "-m", "polyasr", "export", str(model_dir), "--quantize", quantize,
                            "--output", str(folder / name)], check=True)
    return folder


def logit_errors(reference: np.ndarray, other: np.ndarray) -> str:
    difference = np.abs(other - reference)
    top2 = np.sort(reference, axis=-1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    confident = margin >= np.quantile(margin, 1 - CONFIDENT_SHARE)
    agree = (other.argmax(-1) == reference.argmax(-1))
    return (f"max |Δ| {difference.max():.4f}  relative {difference.max() / np.abs(reference).max():.2e}  "
            f"argmax agreement {agree[confident].mean():.4f} on the {confident.sum()} most confident frames "
            f"(margin >= {margin[confident].min():.3f}), {agree.mean():.4f} on all {len(agree)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="full", help="full, tiny, or a checkpoint folder")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default="/tmp/polyasr-speed")
    parser.add_argument("--child", nargs=5, metavar=("PATH", "MODEL", "EXPORTS", "REPEATS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--src", action="append", help="a source tree to time every path with (repeat it: before/after)")
    parser.add_argument("--floor", metavar="MODEL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor_child(args.floor, args.threads)
        return 0
    if args.build:
        build_model(args.build[0], Path(args.build[1]))
        return 0
    if args.child:
        path, model, exports, repeats, out = args.child
        child(path, model, exports, int(repeats), args.threads, out)
        return 0
    workdir = Path(args.workdir)
    model_dir = Path(args.model) if args.model not in ("full", "tiny") else workdir / f"model-{args.model}"
    if args.model in ("full", "tiny") and not (model_dir / "COMPLETE").exists():
        print(f"building the {args.model} model ...", flush=True)
        subprocess.run([sys.executable, __file__, "--build", args.model, str(model_dir)], check=True)
    paths = args.paths.split(",")
    exports = export(model_dir, workdir, args.threads) if any(p.startswith("onnx") for p in paths) else workdir
    done = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--floor", str(model_dir)],
                          check=True, capture_output=True, text=True)
    floor = json.loads(done.stdout.strip().splitlines()[-1])
    results = {}
    sources = args.src or [None]
    for number, src in enumerate(sources, 1):
        environment = {**os.environ, "PYTHONPATH": str(Path(src).resolve())} if src else None
        for path in paths:
            label = path if len(sources) == 1 else f"{path}@{number}"
            print(f"timing {label} ...", flush=True)
            out = workdir / f"logits-{label}.npy"
            done = subprocess.run([sys.executable, __file__, "--threads", str(args.threads), "--child", path,
                                   str(model_dir), str(exports), str(args.repeats), str(out)], check=True,
                                  capture_output=True, text=True, env=environment)
            results[label] = json.loads(done.stdout.strip().splitlines()[-1])
    if len(sources) > 1:
        print("\n" + "; ".join(f"@{n} = {src}" for n, src in enumerate(sources, 1)))
    audio = {name: sum(CASES[name]) for name in CASES}
    base = next((r for label, r in results.items() if label.split("@")[0] == "card"), None)
    from polyasr.model.runtime import cpu_features

    print(f"\nCPU flags: {' '.join(cpu_features()) or 'none of the speed flags'}")
    print(f"model {args.model}, {args.threads} threads; RTF = seconds / audio seconds, median of {args.repeats} runs "
          "(x = speed-up of the medians over the card's path), [f] how far from the floor")
    rate = floor["gflops"]
    floor_rtf = {kind: floor["gflop_per_audio_s"] / rate[kind] for kind in rate}
    print(f"matmul floor: the model needs {floor['gflop_per_audio_s']:.1f} GFLOP per audio second; this CPU multiplied "
          f"1500x1024 by 1024x4096 at {rate['bf16']:.0f} GFLOP/s in bf16, {rate['fp32']:.0f} in fp32, {rate['int8']:.0f} "
          f"GOP/s in int8 (torch._int_mm): floor RTF {floor_rtf['bf16']:.3f} (bf16), {floor_rtf['fp32']:.3f} (fp32), "
          f"{floor_rtf['int8']:.3f} (all int8); [f] = a path's RTF / the bf16 floor")
    print(f"{'path':<14}" + "".join(f"{name:>24}" for name in CASES) + f"{'60 s/15 s':>10}{'peak RSS MiB':>14}")
    for path, result in results.items():
        cells = []
        for name in CASES:
            rtf = result["seconds"][name] / audio[name]
            ratio = f" x{base['seconds'][name] / result['seconds'][name]:.2f}" if base else ""
            cells.append(f"{rtf:.3f}{ratio} [f{rtf / floor_rtf['bf16']:.1f}]")
        per_second = (result["seconds"]["60 s"] / 60) / (result["seconds"]["15 s"] / 15)
        print(f"{path:<14}" + "".join(f"{c:>24}" for c in cells) + f"{per_second:>10.2f}{result['rss_mib']:>14.0f}")
    reference = np.load(workdir / "logits-torch-fp32.npy") if "torch-fp32" in results else None  # one source only
    if reference is not None:
        print("\nlogits of the 15 s clip against polyasr torch-fp32 (random weights give flat logits: flips on frames"
              " with small fp32 top-1/top-2 margins say little about a trained model, whose frames are mostly confident):")
        for path in results:
            if path != "torch-fp32":
                print(f"  {path:<11} {logit_errors(reference, np.load(workdir / f'logits-{path}.npy'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
