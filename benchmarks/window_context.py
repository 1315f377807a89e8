"""What shorter windows and less context cost in accuracy, on a trained model and long files.

    .venv/bin/python benchmarks/window_context.py --model runs/x/best --manifest heldout.jsonl
    .venv/bin/python benchmarks/window_context.py ... --settings 30/3,20/2,30/1.5,15/1.5 --seconds 60

Clips of a manifest (`audio`, `text`, `language`, relative paths relative to it) are joined, with
0.3 s of silence between them, into `--files` long recordings per language of about `--seconds`
each (clips drawn at random, so window edges fall in different places), and each recording is
transcribed, restricted to its language, with every window/context setting, and with one window
over the whole recording ("whole"). Printed per setting: CER and WER against the joined
references (polyasr's normaliser and jiwer, pooled over all recordings), and how many
recordings' texts differ from the "whole" pass. Speed is `benchmarks/speed.py`'s job.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np


def recordings(manifest: Path, files: int, seconds: float, seed: int) -> list[tuple[str, np.ndarray, str]]:
    """(language, 16 kHz samples, reference) for `files` joined recordings per language."""
    from polyasr.audio.decode import SAMPLE_RATE, load_audio

    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_language: dict[str, list[tuple[np.ndarray, str]]] = {}
    for row in rows:
        audio = Path(row["audio"]) if Path(row["audio"]).is_absolute() else manifest.parent / row["audio"]
        by_language.setdefault(row["language"], []).append((load_audio(str(audio)), row["text"]))
    gap = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
    rng = random.Random(seed)
    out = []
    for language, clips in sorted(by_language.items()):
        for _ in range(files):
            parts, texts, total = [], [], 0
            while total < seconds * SAMPLE_RATE:
                samples, text = rng.choice(clips)
                parts += [samples, gap]
                texts.append(text)
                total += len(samples) + len(gap)
            out.append((language, np.concatenate(parts), " ".join(texts)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a trained checkpoint folder or Hub id")
    parser.add_argument("--manifest", required=True, type=Path, help="JSONL with audio, text, language")
    parser.add_argument("--settings", default="30/3,20/2,30/1.5,15/1.5", help="window/context seconds, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each joined recording")
    parser.add_argument("--files", type=int, default=8, help="recordings per language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="fp32")
    args = parser.parse_args()

    import jiwer

    import polyasr
    from polyasr import TranscribeOptions
    from polyasr.language.normalize import normalize_text
    from polyasr.engine.windows import WindowOptions

    rec = polyasr.load(args.model, device="cpu", dtype=args.dtype)
    data = recordings(args.manifest, args.files, args.seconds, args.seed)
    longest = max(len(samples) for _, samples, _ in data) / 16_000
    settings = [tuple(map(float, s.split("/"))) for s in args.settings.split(",")]
    runs = {"whole": WindowOptions(window_seconds=longest + 1.0, context_seconds=0.0)}
    runs.update({f"{w:g} s / {c:g} s": WindowOptions(window_seconds=w, context_seconds=c) for w, c in settings})
    texts: dict[str, list[str]] = {}
    for name, windows in runs.items():
        options = TranscribeOptions(windows=windows)
        texts[name] = [rec.transcribe(samples, language=lang, sampling_rate=16_000, options=options).text
                       for lang, samples, _ in data]
    references = [normalize_text(ref, lang) for lang, _, ref in data]
    audio_seconds = sum(len(s) for _, s, _ in data) / 16_000
    print(f"{len(data)} recordings, {audio_seconds:.0f} s of audio, model {args.model}, {args.dtype}")
    print("| windows / context | CER | WER | texts unlike one whole-file window |")
    print("|---|---|---|---|")
    for name, hyps in texts.items():
        normalized = [normalize_text(h, lang) for (lang, _, _), h in zip(data, hyps)]
        cer = jiwer.cer(references, normalized)
        wer = jiwer.wer(references, normalized)
        differ = sum(a != b for a, b in zip(hyps, texts["whole"]))
        print(f"| {name} | {100 * cer:.2f} % | {100 * wer:.2f} % | {differ} / {len(hyps)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
