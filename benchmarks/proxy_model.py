"""A proxy model to measure the toolkit on: a small wav2vec2 CTC trained with `polyasr train` on
espeak-ng speech of 8 languages, open vocabulary, held-out sentences and LM text kept apart.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/proxy_model.py --output proxy/      # ~35 min on 2 cores
    .venv/bin/python benchmarks/proxy_model.py --output /tmp/p --minutes 2 --sentences 40   # smoke run

Words: the 3,000 most frequent words of each language from wordfreq (`pip install wordfreq`; words
of letters only), so sentences (4-9 words drawn at random) use a vocabulary far larger than the
training set covers: many held-out words never occur in training. Three disjoint sets of sentences
per language: training, held-out (`heldout.jsonl`, spoken like training but never in it) and LM
text (`lm/<lang>.txt`, for beam + LM measurements, in neither). Speech: espeak-ng with a random
voice variant, speed (130-210 wpm), pitch (30-70) and white noise at 15-40 dB SNR (a quarter of
the clips clean). Everything is drawn from `--seed`, so a rerun makes the same data; training is
seeded too (torch on CPU is deterministic for a thread count, not across machines).

The base is a randomly initialised 4-layer wav2vec2 encoder (hidden 192) without a head; `polyasr
train` gives it a fresh vocabulary from the training text and a `lang_ids.json`. Training stops at
`--max-steps` or after `--minutes` (SIGINT: `polyasr train` saves a checkpoint and stops). The
checkpoint with the lowest held-out CER is copied to `<output>/model`, a normal model folder:
`polyasr transcribe x.wav --model <output>/model`. `<output>/data.json` records what was made.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

from train_synthetic import build_encoder  # the same small random wav2vec2 encoder (benchmarks/ is on sys.path)

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pt", "pl"]  # espeak-ng voices of the same names
VARIANTS = ["", "+m3", "+f2", "+m7", "+f4", "+m1", "+f3"]
TOP_WORDS = 3000


def word_list(language: str) -> list[str]:
    """The most frequent words of letters only, lower case, in frequency order."""
    from wordfreq import top_n_list

    words = [w for w in top_n_list(language, TOP_WORDS * 2) if w.isalpha() and w == w.lower()]
    return words[:TOP_WORDS]


def sentences(words: list[str], count: int, rng: random.Random, taken: set[str]) -> list[str]:
    """`count` new sentences of 4-9 random words, none of them in `taken` (which grows)."""
    made: list[str] = []
    while len(made) < count:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 9)))
        if sentence not in taken:
            taken.add(sentence)
            made.append(sentence)
    return made


def speak(espeak: str, text: str, voice: str, speed: int, pitch: int, snr_db: float | None, path: Path,
          rng: np.random.Generator) -> float:
    """Write `text` spoken by espeak-ng to `path` (16-bit wav), with white noise at `snr_db`; its seconds."""
    raw = subprocess.run([espeak, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                         check=True, capture_output=True).stdout
    with wave.open(__import__("io").BytesIO(raw)) as source:
        rate = source.getframerate()
        samples = np.frombuffer(source.readframes(source.getnframes()), np.int16).astype(np.float64)
    if snr_db is not None and samples.size:
        power = float(np.mean(samples ** 2)) or 1.0
        samples = samples + rng.standard_normal(samples.size) * np.sqrt(power / 10 ** (snr_db / 10))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.clip(samples, -32768, 32767).astype(np.int16).tobytes())
    return samples.size / rate


def synthesise(folder: Path, count: int, held_out: int, lm_sentences: int, seed: int,
               languages: list[str] = LANGUAGES) -> dict:
    """train.jsonl, heldout.jsonl, lm/<lang>.txt and words/<lang>.txt under `folder` for `languages`; a summary."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is missing: apt-get install espeak-ng")
    rng, noise = random.Random(seed), np.random.default_rng(seed)
    for sub in ("speech", "lm", "words"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"train": [], "heldout": []}
    summary: dict = {"seed": seed, "languages": {}}
    for language in languages:
        words = word_list(language)
        (folder / "words" / f"{language}.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
        taken: set[str] = set()
        split_text = {"train": sentences(words, count, rng, taken), "heldout": sentences(words, held_out, rng, taken)}
        lm_text = sentences(words, lm_sentences, rng, taken)  # disjoint from both: `taken` holds them
        (folder / "lm" / f"{language}.txt").write_text("\n".join(lm_text) + "\n", encoding="utf-8")
        seconds = {}
        for split, texts in split_text.items():
            total = 0.0
            for index, text in enumerate(texts):
                path = folder / "speech" / f"{language}-{split}-{index}.wav"
                snr = None if rng.random() < 0.25 else rng.uniform(15, 40)
                total += speak(espeak, text, language + rng.choice(VARIANTS), rng.randint(130, 210),
                               rng.randint(30, 70), snr, path, noise)
                rows[split].append({"audio": f"speech/{path.name}", "text": text, "language": language,
                                    "id": path.stem})
            seconds[split] = round(total, 1)
        train_words = {w for t in split_text["train"] for w in t.split()}
        held_words = [w for t in split_text["heldout"] for w in t.split()]
        summary["languages"][language] = {
            "vocabulary": len(words), "train_sentences": count, "heldout_sentences": held_out,
            "lm_sentences": lm_sentences, "seconds": seconds, "train_word_types": len(train_words),
            "heldout_words_unseen_in_training": round(sum(w not in train_words for w in held_words) / len(held_words), 3),
        }
    for split, items in rows.items():
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items),
                                               encoding="utf-8")
    return summary


def dev_manifest(folder: Path, per_language: int) -> Path:
    """The first `per_language` held-out rows of each language: the dev set scored during training."""
    rows = [json.loads(line) for line in (folder / "heldout.jsonl").read_text(encoding="utf-8").splitlines()]
    kept, seen = [], {}
    for row in rows:
        if seen.get(row["language"], 0) < per_language:
            seen[row["language"]] = seen.get(row["language"], 0) + 1
            kept.append(row)
    path = folder / "dev.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    return path


def train(args: argparse.Namespace, data: Path, base: Path, run: Path) -> int:
    """`polyasr train` as a user runs it, interrupted (SIGINT) when the time budget is spent."""
    command = [
        sys.executable, "-m", "polyasr.cli.main", "train", "--base", str(base), "--manifest", str(data / "train.jsonl"),
        "--dev", str(dev_manifest(data, args.dev_per_language)), "--output", str(run), "--max-steps", str(args.max_steps),
        "--learning-rate", str(args.learning_rate), "--warmup-steps", str(min(300, args.max_steps // 10)),
        "--batch-seconds", str(args.batch_seconds), "--max-seconds", "15", "--train-feature-encoder",
        "--mask-time-prob", "0.05", "--save-every", str(args.save_every), "--keep-checkpoints", "1",
        "--eval-dtype", "fp32", "--seed", str(args.seed), "--precision", args.precision,
    ]
    print("+", " ".join(command), flush=True)
    process = subprocess.Popen(command, cwd=data)
    deadline = time.monotonic() + args.minutes * 60
    while process.poll() is None:
        if time.monotonic() > deadline:
            print(f"proxy: {args.minutes:g} minutes spent: stopping training (SIGINT)", flush=True)
            process.send_signal(signal.SIGINT)
            return process.wait()
        time.sleep(2)
    return process.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder for data/, run/ and model/ (the proxy model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=30.0, help="training time budget")
    parser.add_argument("--sentences", type=int, default=500, help="training sentences per language")
    parser.add_argument("--held-out", type=int, default=60, help="held-out sentences per language")
    parser.add_argument("--lm-sentences", type=int, default=3000, help="LM text sentences per language")
    parser.add_argument("--dev-per-language", type=int, default=12, help="held-out sentences scored at checkpoints")
    parser.add_argument("--max-steps", type=int, default=3000, help="step budget (the learning rate decays over it)")
    parser.add_argument("--save-every", type=int, default=400)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-seconds", type=float, default=40.0)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = parser.parse_args()

    out = Path(args.output).resolve()
    data, run, model = out / "data", out / "run", out / "model"
    started = time.monotonic()
    if not (data / "heldout.jsonl").exists():
        summary = synthesise(data, args.sentences, args.held_out, args.lm_sentences, args.seed)
        (data / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    summary = json.loads((data / "summary.json").read_text(encoding="utf-8"))
    print(f"proxy: data for {', '.join(LANGUAGES)} made in {time.monotonic() - started:.0f} s", flush=True)
    base = build_encoder(out / "encoder", args.seed)
    shutil.rmtree(run, ignore_errors=True)
    trained_at = time.monotonic()
    code = train(args, data, base, run)
    minutes = (time.monotonic() - trained_at) / 60
    best = run / "best"
    if not best.exists():
        print(f"proxy: training ended ({code}) without a best checkpoint", file=sys.stderr)
        return 1
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(best, model)
    history = [json.loads(line) for line in (run / "dev_history.jsonl").read_text().splitlines()]
    record = {**summary, "training_minutes": round(minutes, 1), "train_exit_code": code,
              "dev_history": [{"step": h["step"], "macro_cer": h["macro"]["cer"] if h.get("macro") else None}
                              for h in history],
              "threads": os.cpu_count(), "args": vars(args)}
    (out / "data.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    print(f"proxy: model in {model} after {minutes:.1f} min of training; dev CER by step: "
          + ", ".join(f"{h['step']}: {h['macro_cer']:.1f} %" for h in record["dev_history"] if h["macro_cer"] is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
