"""Does `polyasr train` learn? A small wav2vec2 trained from scratch on espeak-ng speech in three languages.

    .venv/bin/python benchmarks/train_synthetic.py                  # ~20 min on a 2-core CPU
    .venv/bin/python benchmarks/train_synthetic.py --minutes 5 --sentences 60
    .venv/bin/python benchmarks/train_synthetic.py --help

Sentences are random sequences of 3-6 words from a word list per language (English, German,
Russian), spoken by espeak-ng with a random voice variant, speed and pitch. The held-out sentences
are other random sequences of the same words, spoken with their own random voice settings: the
model must recognise new sentences, not new words. The base is a randomly initialised wav2vec2
encoder without a CTC head (the "fresh vocabulary" path of `polyasr train`), trained with its
feature encoder; the held-out set is the run's dev set, so its CER comes from polyasr's own
evaluation before the first step and at every checkpoint. The aim: held-out CER at least halved
within 20 minutes. The run stops at the step budget or the time budget, whichever comes first.

Needs espeak-ng (Debian: apt-get install espeak-ng) and polyasr[train].
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

WORDS = {
    "en": "the a red green blue small big old new cat dog bird fish house tree river road city school book door "
          "window table water bread milk sun moon star day night morning evening runs sees finds opens likes "
          "eats drinks reads writes quickly slowly today".split(),
    "de": "der die das ein eine rot grün blau klein groß alt neu katze hund vogel fisch haus baum fluss straße "
          "stadt schule buch tür fenster tisch wasser brot milch sonne mond stern tag nacht morgen abend läuft "
          "sieht findet öffnet mag isst trinkt liest schreibt schnell langsam heute".split(),
    "ru": "красный зелёный синий маленький большой старый новый кот собака птица рыба дом дерево река дорога "
          "город школа книга дверь окно стол вода хлеб молоко солнце луна звезда день ночь утро вечер бежит "
          "видит находит открывает любит ест пьёт читает пишет быстро медленно сегодня".split(),
}
VARIANTS = ["", "+m3", "+f3", "+m7", "+f2"]


def cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    return ", ".join(f for f in ("avx512_bf16", "amx_bf16", "avx512_vnni") if f in flags) or "none of avx512_bf16/amx_bf16/avx512_vnni"


def synthesise(folder: Path, count: int, held_out: int, seed: int) -> tuple[Path, Path]:
    """train.jsonl and heldout.jsonl with espeak-ng speech."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is missing: apt-get install espeak-ng")
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict]] = {"train": [], "heldout": []}
    seen: set[str] = set()
    for language, words in WORDS.items():
        for split, n in (("train", count), ("heldout", held_out)):
            made = 0
            while made < n:
                sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 6)))
                if sentence in seen:
                    continue
                seen.add(sentence)
                path = folder / f"{language}-{split}-{made}.wav"
                voice = language + rng.choice(VARIANTS)
                subprocess.run([espeak, "-v", voice, "-s", str(rng.randint(150, 200)), "-p", str(rng.randint(35, 65)),
                                "-w", str(path), sentence], check=True, capture_output=True)
                rows[split].append({"audio": path.name, "text": sentence, "language": language, "id": path.stem})
                made += 1
    paths = []
    for split, items in rows.items():
        path = folder / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


def build_encoder(folder: Path, seed: int) -> Path:
    """A random wav2vec2 encoder (no CTC head), the 56-language model's structure at a small size."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=192, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
        conv_dim=(96,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=8, feat_extract_norm="layer", conv_bias=True,
        do_stable_layer_norm=True, layerdrop=0.0, hidden_dropout=0.05, attention_dropout=0.05, activation_dropout=0.05,
        feat_proj_dropout=0.0, final_dropout=0.0,
    )
    torch.manual_seed(seed)
    Wav2Vec2Model(config).save_pretrained(folder)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/polyasr-train-bench", help="speech, model and run folders")
    parser.add_argument("--sentences", type=int, default=100, help="training sentences per language")
    parser.add_argument("--held-out", type=int, default=15, help="held-out sentences per language")
    parser.add_argument("--minutes", type=float, default=18.0, help="training time budget (the aim is 20 min in all)")
    parser.add_argument("--max-steps", type=int, default=1600, help="step budget (the learning rate decays over it)")
    parser.add_argument("--save-every", type=int, default=500, help="steps between checkpoints and held-out scores")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-seconds", type=float, default=40.0)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from transformers.utils import logging as hf_logging

    from polyasr.training import DataOptions, DataSource, TrainOptions, train
    from polyasr.training.events import CheckpointSaved, StepDone

    hf_logging.set_verbosity_error()  # the headless encoder's "lm_head newly initialised" report is expected
    hf_logging.disable_progress_bar()

    work = Path(args.workdir)
    started = time.monotonic()
    train_manifest, held_out = synthesise(work / "speech", args.sentences, args.held_out, args.seed)
    base = build_encoder(work / "encoder", args.seed)
    print(f"data: {args.sentences} training and {args.held_out} held-out sentences per language "
          f"({', '.join(WORDS)}), made in {time.monotonic() - started:.0f} s", flush=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    deadline = time.monotonic() + args.minutes * 60
    steps: list[StepDone] = []

    def show(event: object) -> None:
        if isinstance(event, StepDone):
            steps.append(event)
            if event.step % 100 == 0:
                window = steps[-100:]
                print(f"step {event.step}: loss {sum(s.loss for s in window) / len(window):.3f}, "
                      f"{sum(s.audio_seconds for s in window) / sum(s.seconds for s in window):.1f} audio s/s, "
                      f"{(time.monotonic() - started) / 60:.1f} min", flush=True)
        elif isinstance(event, CheckpointSaved) and event.scores is not None:
            print(f"step {event.step}: held-out CER {event.scores.cer:.2f} %", flush=True)

    options = TrainOptions(
        max_steps=args.max_steps, learning_rate=args.learning_rate, warmup_steps=min(300, args.max_steps // 10),
        precision=args.precision, freeze_feature_encoder=False, mask_time_prob=0.05, save_every=args.save_every,
        keep_checkpoints=1, seed=args.seed, eval_dtype="fp32",
    )
    data = DataOptions(batch_seconds=args.batch_seconds, max_seconds=15.0)
    trained_at = time.monotonic()
    outcome = train(str(base), DataSource(manifest=str(train_manifest)), work / "run", DataSource(manifest=str(held_out)),
                    data, options, on_event=show, stop=lambda: time.monotonic() > deadline)
    training_seconds = time.monotonic() - trained_at
    history = [json.loads(line) for line in (work / "run" / "dev_history.jsonl").read_text().splitlines()]
    before, after = history[0], min(history[1:], key=lambda h: h["macro"]["cer"])
    audio = sum(s.audio_seconds for s in steps)
    print()
    print(f"CPU flags: {cpu_flags()}; torch threads: {__import__('torch').get_num_threads()}")
    print(f"steps: {outcome.steps} of {args.max_steps} ({'time budget reached' if outcome.interrupted else 'all'}), "
          f"{outcome.skipped_steps} skipped; training wall time {training_seconds / 60:.1f} min "
          f"(all, with data and scoring: {(time.monotonic() - started) / 60:.1f} min)")
    print(f"audio seconds per second (training steps): {audio / sum(s.seconds for s in steps):.1f}")
    print("| language | held-out CER before | after (best checkpoint, step %d) |" % after["step"])
    print("|---|---|---|")
    rows_after = {r["language"]: r for r in after["languages"]}
    for row in before["languages"]:
        print(f"| {row['language']} | {row['cer']:.2f} | {rows_after[row['language']]['cer']:.2f} |")
    print(f"| macro | {before['macro']['cer']:.2f} | {after['macro']['cer']:.2f} |")
    print("(the random model's CER exceeds 100 % because it inserts characters; writing nothing would score 100 %)")
    halved = after["macro"]["cer"] <= before["macro"]["cer"] / 2
    print(f"aim (held-out CER at least halved): {'PASS' if halved else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
