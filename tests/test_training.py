"""`polyasr train` on the tiny model, with speech synthesised by espeak-ng in English and Polish.

Polish brings characters the tiny vocabulary lacks (ł ó ć ę ń ź ż), so every run here extends the
vocabulary and adds a language. espeak-ng comes from the Debian package (tests/speech.py installs it
with apt-get when it is missing and the tests run as root; the tests skip with the reason otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("accelerate")
pytest.importorskip("jiwer")

from safetensors.torch import load_file  # noqa: E402

import polyasr  # noqa: E402
from audio_factory import tone, write_audio  # noqa: E402
from polyasr.cli.main import main  # noqa: E402
from polyasr.errors import PolyasrError  # noqa: E402
from polyasr.training import DataOptions, DataSource, TrainOptions, train  # noqa: E402
from polyasr.training.events import StepDone  # noqa: E402

ENGLISH = ["hello world", "the cat sat on the mat", "good morning to you", "open the door", "a big red ball",
           "we go home now", "seven green trees"]
POLISH = ["dzień dobry", "żółta łódź", "mała ćma", "pięć kół", "proszę bardzo", "zielony żuk", "dobra noc"]
# 30 steps of 2-3 clips at a high learning rate: the loss of the tiny random model falls fast.
FAST = TrainOptions(max_steps=30, save_every=15, learning_rate=1e-3, warmup_steps=0, precision="fp32", eval_dtype="fp32")
SMALL_BATCHES = DataOptions(batch_seconds=6.0, max_seconds=6.0)
NO_RANDOMNESS = dict(dropout=0.0, layerdrop=0.0, mask_time_prob=0.0)


def _say(espeak: str, voice: str, text: str, path: Path) -> Path:
    subprocess.run([espeak, "-v", voice, "-s", "190", "-w", str(path), text], check=True, capture_output=True, timeout=60)
    return path


def _manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def speech(espeak: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """train.jsonl (6 English + 6 Polish sentences), dev.jsonl (1 + 1 others)."""
    folder = tmp_path_factory.mktemp("speech")
    train_rows, dev_rows = [], []
    for language, sentences in (("en", ENGLISH), ("pl", POLISH)):
        for i, sentence in enumerate(sentences):
            clip = _say(espeak, language, sentence, folder / f"{language}{i}.wav")
            row = {"audio": clip.name, "text": sentence, "language": language, "id": f"{language}-{i}"}
            (dev_rows if i == len(sentences) - 1 else train_rows).append(row)
    return {"train": _manifest(folder / "train.jsonl", train_rows), "dev": _manifest(folder / "dev.jsonl", dev_rows),
            "folder": folder}


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, speech: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 30-step run with checkpoints (and dev scores) at steps 15 and 30."""
    output = tmp_path_factory.mktemp("runs") / "uninterrupted"
    outcome = train(str(tiny_model_dir), DataSource(manifest=str(speech["train"])), output,
                    DataSource(manifest=str(speech["dev"])), SMALL_BATCHES, FAST)
    assert outcome.steps == 30 and not outcome.interrupted
    return output


def test_loss_is_finite_and_falls_by_30_percent_in_30_steps(trained: Path) -> None:
    losses = [row["loss"] for row in _log(trained)]
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert losses[-1] <= 0.7 * losses[0], losses


def test_checkpoint_is_a_complete_model_that_transcribes_through_model_option(trained: Path, speech, tiny_model_dir, capsys) -> None:
    checkpoint = trained / "checkpoint-0000030"
    assert {"config.json", "model.safetensors", "vocab.json", "lang_ids.json", "README.md"} <= {p.name for p in checkpoint.iterdir()}
    clip = str(speech["folder"] / f"pl{len(POLISH) - 1}.wav")
    assert main(["transcribe", clip, "--model", str(checkpoint), "--language", "pl", "--dtype", "fp32"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == polyasr.load(str(checkpoint), device="cpu", dtype="fp32").transcribe(clip, language="pl").text
    assert main(["transcribe", clip, "--model", str(tiny_model_dir), "--language", "pl"]) == 1  # the base lacks Polish
    history = [json.loads(line) for line in (trained / "dev_history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [0, 15, 30]
    assert history[-1]["macro"]["cer"] < history[0]["macro"]["cer"]  # the dev CER fell
    card = (checkpoint / "README.md").read_text()
    assert "| pl (Polish, new) |" in card and "| en (English) |" in card
    assert (trained / "best" / "model.safetensors").is_file() and not (trained / "best" / "training").exists()


def test_extended_vocabulary_keeps_old_rows_and_old_language_text(trained: Path, speech, tiny_model_dir) -> None:
    base, extended = load_file(tiny_model_dir / "model.safetensors"), load_file(trained / "initial" / "model.safetensors")
    rows = base["lm_head.weight"].shape[0]
    assert extended["lm_head.weight"].shape[0] == rows + 7  # ł ó ć ę ń ź ż
    assert torch.equal(extended["lm_head.weight"][:rows], base["lm_head.weight"])
    assert torch.equal(extended["lm_head.bias"][:rows], base["lm_head.bias"])
    old_vocab = json.loads((tiny_model_dir / "vocab.json").read_text())
    new_vocab = json.loads((trained / "initial" / "vocab.json").read_text())
    assert {t: new_vocab[t] for t in old_vocab} == old_vocab and set(new_vocab) - set(old_vocab) == set("łóćęńźż")
    tables = json.loads((trained / "initial" / "lang_ids.json").read_text())
    assert sorted(new_vocab[c] for c in "łóćęńźż") == [i for i in tables["pl"] if i >= rows]
    before, after = (polyasr.load(str(p), device="cpu", dtype="fp32") for p in (tiny_model_dir, trained / "initial"))
    assert tuple(tables["en"]) == before.model.language_table.ids["en"]
    clips = [str(speech["folder"] / f"en{i}.wav") for i in range(3)]
    for language in ("en", "auto"):
        assert [r.text for r in after.transcribe_batch(clips, language=language)] == [r.text for r in before.transcribe_batch(clips, language=language)]


def test_resumed_run_continues_exactly(trained: Path, tiny_model_dir: Path, speech, tmp_path: Path) -> None:
    """Crash at step 17 (after the checkpoint at 15), resume: steps 16-30 are the uninterrupted run's."""

    class Crash(Exception):
        pass

    def crash(event: object) -> None:
        if isinstance(event, StepDone) and event.step == 17:
            raise Crash

    run = tmp_path / "run"
    args = (str(tiny_model_dir), DataSource(manifest=str(speech["train"])), run, DataSource(manifest=str(speech["dev"])),
            SMALL_BATCHES)
    with pytest.raises(Crash):
        train(*args, FAST, on_event=crash)
    with pytest.raises(PolyasrError, match="learning_rate: 0.001 then, 0.002 now"):
        train(*args, replace(FAST, learning_rate=2e-3), resume=True)
    outcome = train(*args, FAST, resume=True)
    assert outcome.steps == 30
    resumed, uninterrupted = _log(run), _log(trained)
    assert [r["step"] for r in resumed] == list(range(1, 31))
    assert resumed[15]["loss"] == uninterrupted[15]["loss"]  # step 16
    assert [r["loss"] for r in resumed] == [r["loss"] for r in uninterrupted]
    a, b = load_file(run / "checkpoint-0000030" / "model.safetensors"), load_file(trained / "checkpoint-0000030" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_preflight_reports_each_bad_utterance_by_id(tiny_model_dir: Path, espeak: str, tmp_path: Path, capsys) -> None:
    fine = _say(espeak, "en", "good morning", tmp_path / "fine.wav")  # ~1 s: ~50 frames of the tiny model
    (tmp_path / "broken.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)
    silence = write_audio(tmp_path / "blip.wav", "pcm_s16le", 16_000, tone(200, 16_000, 0.2)[None])
    rows = [
        {"id": "too-many-letters", "audio": fine.name, "text": "a" * 40 + "b" * 40, "language": "en"},
        {"id": "corrupt", "audio": "broken.mp3", "text": "hello", "language": "en"},
        {"id": "klingon", "audio": fine.name, "text": "good morning", "language": "klingon"},
        {"id": "no-language", "audio": fine.name, "text": "good morning"},
        {"id": "only-punctuation", "audio": fine.name, "text": "?!", "language": "en"},
        {"id": "too-short", "audio": silence.name, "text": "hm", "language": "en"},
        {"id": "good", "audio": fine.name, "text": "good morning", "language": "en"},
    ]
    manifest = _manifest(tmp_path / "train.jsonl", rows)
    code = main(["train", "--base", str(tiny_model_dir), "--manifest", str(manifest), "--output", str(tmp_path / "run"), "--check-only"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "dropped 1 (ctc infeasible):" in err and "too-many-letters: " in err
    frames = int(err.split("too-many-letters: ")[1].split(" frames")[0])
    assert frames < 158 and f"too-many-letters: {frames} frames for 80 labels + 78 repeats" in err  # 39 + 39 doubled
    assert "corrupt: " in err and "klingon: unknown language 'klingon'" in err
    assert "no-language: the row has no language" in err and "only-punctuation: nothing is left of '?!'" in err
    assert "too-short: 0.20 s < 0.5 s" in err
    assert "kept 1 utterances" in err
    assert (tmp_path / "run" / "preflight.txt").read_text().count("\n  ") >= 6


def test_a_base_that_is_not_a_speech_model_is_refused(speech, tmp_path: Path, capsys) -> None:
    from transformers import BertConfig

    BertConfig().save_pretrained(tmp_path / "bert")
    code = main(["train", "--base", str(tmp_path / "bert"), "--manifest", str(speech["train"]), "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith(f"polyasr: error: base model '{tmp_path / 'bert'}' is a 'bert' model") and "\n" not in err


def test_an_encoder_without_ctc_head_gets_a_vocabulary_from_the_data(tiny_model_dir: Path, speech, tmp_path: Path) -> None:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config.from_pretrained(tiny_model_dir)
    config.architectures = None
    Wav2Vec2Model(config).save_pretrained(tmp_path / "encoder")  # no head, no vocab.json, no preprocessor config
    options = TrainOptions(max_steps=2, save_every=2, learning_rate=1e-3, warmup_steps=0, precision="fp32")
    outcome = train(str(tmp_path / "encoder"), DataSource(manifest=str(speech["train"])), tmp_path / "run", None, SMALL_BATCHES, options)
    vocab = json.loads((outcome.last_checkpoint / "vocab.json").read_text())
    letters = set("".join(ENGLISH[:-1] + POLISH[:-1]).replace(" ", ""))
    tokens = sorted(vocab, key=vocab.__getitem__)
    assert tokens[:5] == ["[PAD]", "<s>", "</s>", "[UNK]", "|"] and set(tokens[5:]) == letters
    assert sorted(vocab.values()) == list(range(len(vocab)))
    recognizer = polyasr.load(str(outcome.last_checkpoint), device="cpu", dtype="fp32")
    assert recognizer.languages() == ["en", "pl"] and recognizer.model.vocabulary.blank_id == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ddp_processes_train_the_same_steps_as_one(tiny_model_dir: Path, speech, tmp_path: Path) -> None:
    """torchrun, 2 CPU processes (gloo), 1 micro-batch each = 1 process accumulating 2 micro-batches."""
    common = ["train", "--base", str(tiny_model_dir), "--manifest", str(speech["train"]), "--max-steps", "3",
              "--save-every", "3", "--lr", "1e-3", "--warmup-steps", "0", "--batch-seconds", "6", "--max-seconds", "6",
              "--precision", "fp32", "--dropout", "0", "--layerdrop", "0", "--mask-time-prob", "0", "--no-dev",
              "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(polyasr.__file__).parents[1]), os.environ.get("PYTHONPATH")]))}
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
              "--master-port", str(_free_port()), "-m", "polyasr", *common, "--output", str(tmp_path / "two")]
    done = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    options = TrainOptions(max_steps=3, save_every=3, learning_rate=1e-3, warmup_steps=0, precision="fp32", grad_accum=2,
                           device="cpu", **NO_RANDOMNESS)
    train(str(tiny_model_dir), DataSource(manifest=str(speech["train"])), tmp_path / "one", None, SMALL_BATCHES, options,
          cache_dir=tmp_path / "cache")
    one, two = _log(tmp_path / "one"), _log(tmp_path / "two")
    assert [r["step"] for r in two] == [1, 2, 3]
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-5)
    assert [r["audio_seconds"] for r in two] == pytest.approx([r["audio_seconds"] for r in one])
    a, b = (load_file(p / "checkpoint-0000003" / "model.safetensors") for p in (tmp_path / "one", tmp_path / "two"))
    assert [r["grad_norm"] for r in two] == pytest.approx([r["grad_norm"] for r in one], rel=1e-4)
    # Adam divides by the root of the second moments, so gradients that are rounding noise move by the
    # learning rate whatever their bits: the attention key bias (softmax ignores a constant added to every
    # score, so its true gradient is 0). Every other tensor must have moved the same way.
    start = load_file(tmp_path / "one" / "initial" / "model.safetensors")
    moved = [k for k in a if not torch.equal(a[k], start[k]) and not k.endswith("k_proj.bias")]
    assert "lm_head.weight" in moved and len(moved) > 20
    assert all(float((a[k] - b[k]).norm() / (a[k] - start[k]).norm()) < 1e-2 for k in moved)


def test_a_step_with_non_finite_gradients_changes_nothing_and_is_counted(tiny_model_dir, speech, tmp_path, monkeypatch) -> None:
    import polyasr.training.trainer as trainer_module

    calls, real = [], trainer_module.utterance_losses

    def poisoned(*args, **kwargs):  # the third micro-batch (= step 3) gets a NaN loss
        calls.append(1)
        return real(*args, **kwargs) * (float("nan") if len(calls) == 3 else 1.0)

    monkeypatch.setattr(trainer_module, "utterance_losses", poisoned)
    options = replace(FAST, max_steps=4, save_every=1, keep_checkpoints=4, grad_accum=1)
    outcome = train(str(tiny_model_dir), DataSource(manifest=str(speech["train"])), tmp_path / "run", None, DataOptions(), options)
    log = _log(tmp_path / "run")
    assert [r["skipped"] for r in log] == [False, False, True, False] and outcome.skipped_steps == 1
    assert not np.isfinite(log[2]["loss"])
    weights = [load_file(tmp_path / "run" / f"checkpoint-000000{s}" / "model.safetensors") for s in (2, 3, 4)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])  # step 3 changed nothing
    assert not torch.equal(weights[1]["lm_head.weight"], weights[2]["lm_head.weight"])  # step 4 did


def test_a_stop_request_saves_a_checkpoint_at_once(tiny_model_dir, speech, tmp_path) -> None:
    steps = []
    outcome = train(str(tiny_model_dir), DataSource(manifest=str(speech["train"])), tmp_path / "run", None, SMALL_BATCHES,
                    FAST, on_event=lambda e: steps.append(e.step) if isinstance(e, StepDone) else None,
                    stop=lambda: len(steps) >= 4)
    assert outcome.interrupted and outcome.steps == 4 and outcome.last_checkpoint.name == "checkpoint-0000004"
    with pytest.raises(PolyasrError, match="pass --resume"):
        train(str(tiny_model_dir), DataSource(manifest=str(speech["train"])), tmp_path / "run", None, SMALL_BATCHES, FAST)


def test_common_voice_layout_with_the_base_languages_on_the_dev_set(tiny_model_dir, speech, tmp_path, capsys) -> None:
    """--languages pl: the dev set holds Polish (none here) and the base's languages found (English)."""
    header = "client_id\tpath\tsentence\tup_votes\n"
    for language, split, indices in (("pl", "train", range(3)), ("en", "train", range(2)), ("en", "dev", [5])):
        clips = tmp_path / "cv" / language / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in indices:
            shutil.copy(speech["folder"] / f"{language}{i}.wav", clips / f"{language}{i}.wav")
            rows.append(f"x\t{language}{i}.wav\t{(POLISH if language == 'pl' else ENGLISH)[i]}\t2\n")
        (tmp_path / "cv" / language / f"{split}.tsv").write_text(header + "".join(rows), encoding="utf-8")
    code = main(["train", "--base", str(tiny_model_dir), "--dataset", str(tmp_path / "cv"), "--languages", "pl",
                 "--output", str(tmp_path / "run"), "--check-only"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "polyasr: kept 3 utterances" in err and "pl (Polish): " in err and "dev set: 1 utterances" in err


def test_the_xlsr_recipe_layout_is_extended_after_its_head(speech, tmp_path) -> None:
    """vocab.json without <s>/</s> (the tokenizer appends them beyond the head): new characters follow the head."""
    from tiny_model import build_tiny_model, layout_vocab

    base = build_tiny_model(tmp_path / "recipe", layout="xlsr-recipe")
    head = len(layout_vocab("xlsr-recipe"))  # characters, "|", [UNK], [PAD] (the blank, last)
    options = replace(FAST, max_steps=2, save_every=2)
    outcome = train(str(base), DataSource(manifest=str(speech["train"])), tmp_path / "run", None, SMALL_BATCHES, options)
    vocabulary = polyasr.load(str(outcome.last_checkpoint), device="cpu", dtype="fp32").model.vocabulary
    assert vocabulary.tokens[:head] == tuple(layout_vocab("xlsr-recipe")) and vocabulary.blank_id == head - 1
    assert set(vocabulary.tokens[head:]) == set("łóćęńźż") and len(vocabulary) == head + 7
    extended, original = load_file(tmp_path / "run" / "initial" / "model.safetensors"), load_file(base / "model.safetensors")
    assert torch.equal(extended["lm_head.weight"][:head], original["lm_head.weight"])
