"""RTF and peak RSS of the 2025-26 CTC architectures beside XLSR-53, full size with random weights.

    .venv/bin/python benchmarks/ctc_models_2025.py --workdir /tmp/ctc2025      # ~10 min on 2 cores
    .venv/bin/python benchmarks/ctc_models_2025.py --models xlsr-53 parakeet-0.6b --seconds 15

Architectures (transformers' default configs, which are the published sizes): XLSR-53 large (300M,
raw audio, 20 ms), omniASR-CTC 300M (raw audio, 20 ms), Parakeet-CTC 0.6B (FastConformer, log-mel,
80 ms), LASR-CTC (log-mel, 40 ms), w2v-BERT 2.0 (600M, log-mel, 20 ms). The tokenizers are the small
ones of tests/tiny_ctc_models.py (the head's size barely matters next to the encoder). Each model
runs in a fresh process (its peak RSS is its own) through `polyasr.load` in fp32 on the CPU: one
warm-up second, then each duration once (the full pipeline: windows of 30 s with 3 s context,
greedy decoding, word timestamps). RTF = seconds of compute / seconds of audio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("xlsr-53", "omniasr-300m", "parakeet-0.6b", "lasr", "w2v-bert-2.0")


def build(name: str, folder: Path) -> None:
    """Save a full-size random checkpoint of `name` (skipped when one is there)."""
    if (folder / "COMPLETE").exists():
        return
    import torch
    import transformers as T

    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    if name == "xlsr-53":
        from bench_models import build_model

        build_model("full", folder)
        return
    import tiny_ctc_models as tiny

    tiny_name = {"omniasr-300m": "omniasr", "parakeet-0.6b": "parakeet", "lasr": "lasr", "w2v-bert-2.0": "w2v-bert"}[name]
    tiny.build(folder, tiny_name)  # processor files; the weights are replaced below
    config = T.AutoConfig.from_pretrained(folder)
    torch.manual_seed(0)
    if name == "omniasr-300m":
        full = T.OmniASRCTCConfig(audio_config=type(config.audio_config)().to_dict(), vocab_size=config.vocab_size,
                                  blank_token_id=0, pad_token_id=1)
    elif name == "parakeet-0.6b":
        full = T.ParakeetCTCConfig(encoder_config=T.ParakeetEncoderConfig().to_dict(), vocab_size=config.vocab_size,
                                   pad_token_id=config.pad_token_id)
    elif name == "lasr":
        full = T.LasrCTCConfig(encoder_config=T.LasrEncoderConfig().to_dict(), vocab_size=config.vocab_size)
    else:
        full = T.Wav2Vec2BertConfig(vocab_size=config.vocab_size, pad_token_id=0)
    T.AutoModelForCTC.from_config(full).eval().save_pretrained(folder)
    (folder / "COMPLETE").touch()


def measure(folder: Path, seconds: list[float], threads: int) -> dict:
    """In this process: load, warm up, transcribe each duration once."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import polyasr
    from bench_models import bench_signal, peak_rss_mib

    rec = polyasr.load(str(folder), device="cpu", dtype="fp32", threads=threads)
    rec.transcribe(bench_signal(1.0), sampling_rate=16_000)
    out = {"facts": str(rec.model.describe()), "params_m": round(sum(p.numel() for p in rec.model.backend.network.parameters()) / 1e6)}
    for duration in seconds:
        audio = bench_signal(duration, seed=1)
        start = time.perf_counter()
        result = rec.transcribe(audio, sampling_rate=16_000, word_timestamps=True)
        elapsed = time.perf_counter() - start
        assert all(s.end <= duration for s in result.segments)
        out[f"rtf_{duration:g}s"] = round(elapsed / duration, 3)
    out["peak_rss_mib"] = round(peak_rss_mib())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-ctc2025"))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--seconds", nargs="+", type=float, default=[15.0, 60.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.seconds, args.threads)))
        return
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    wanted = [f for f in flags.split() if f in {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni"}]
    print(f"CPU flags: {' '.join(wanted)}; threads={args.threads}; fp32")
    for name in args.models:
        folder = args.workdir / name
        build(name, folder)
        run = subprocess.run([sys.executable, __file__, "--child", str(folder), "--threads", str(args.threads),
                              "--seconds", *map(str, args.seconds)], capture_output=True, text=True, cwd=ROOT)
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        print(name, lines[-1] if lines else run.stderr[-2000:], flush=True)


if __name__ == "__main__":
    main()
