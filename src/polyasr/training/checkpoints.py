"""Checkpoint folders: complete models that polyasr loads as they are, plus what --resume needs.

    <output>/checkpoint-0000500/   config.json, model.safetensors, vocab.json, tokenizer and
                                   feature-extractor files, lang_ids.json, README.md (card),
                                   dev/ (hypotheses and results), training/ (resume state)
    <output>/best/                 the checkpoint with the lowest dev CER, without training/
    <output>/initial/              the base with the run's vocabulary, before any step

A checkpoint is written under a `.tmp` name and renamed when complete, so a crash while saving
leaves the previous checkpoint as the newest. The resume state is plain tensors and numbers
(`torch.load(weights_only=True)` reads it; nothing is unpickled).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..language.table import LanguageTable, write_language_table_json

PREFIX = "checkpoint-"
STATE_DIR = "training"  # inside a checkpoint: optimizer, scheduler, RNG, sampler position
BEST = "best"
INITIAL = "initial"
CARD = "README.md"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)")


def checkpoint_path(output: Path, step: int) -> Path:
    return output / f"{PREFIX}{step:07d}"


def list_checkpoints(output: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (with a resume state) in `output`, oldest first."""
    found = []
    if output.is_dir():
        for entry in output.iterdir():
            match = _NAME.fullmatch(entry.name)
            if match and (entry / STATE_DIR / "state.json").is_file():
                found.append((int(match.group(1)), entry))
    return sorted(found)


def save_model_folder(folder: Path, model: Any, tokenizer: Any, feature_extractor: Any, table: LanguageTable, card: str) -> None:
    """Everything `polyasr.load(folder)` needs, and the card."""
    from transformers import Wav2Vec2Processor

    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(str(folder))
    write_language_table_json(table, folder / "lang_ids.json")
    (folder / CARD).write_text(card, encoding="utf-8")


def write_training_state(folder: Path, settings: dict[str, Any], progress: dict[str, Any], tensors: dict[str, Any]) -> None:
    """state.json (settings the run must keep, and where it stands) and state.pt (optimizer, scheduler, ...)."""
    target = folder / STATE_DIR
    target.mkdir(parents=True, exist_ok=True)
    torch.save(tensors, target / "state.pt")
    (target / "state.json").write_text(json.dumps({"settings": settings, "progress": progress}, indent=1), encoding="utf-8")


def read_training_state(folder: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(settings, progress, tensors) of a checkpoint."""
    meta = json.loads((folder / STATE_DIR / "state.json").read_text(encoding="utf-8"))
    tensors = torch.load(folder / STATE_DIR / "state.pt", weights_only=True, map_location="cpu")
    return meta["settings"], meta["progress"], tensors


def capture_rng() -> dict[str, Any]:
    """This process's random states (torch CPU and CUDA, numpy's global one, Python's) as tensors."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_position": int(position), "numpy_has_gauss": int(has_gauss), "numpy_gauss": float(gauss),
        "python": torch.tensor(python_state, dtype=torch.int64), "python_version": int(version),
        "python_gauss": python_gauss,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_position"], state["numpy_has_gauss"], state["numpy_gauss"]))
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_rng(folder: Path, rank: int, state: dict[str, Any]) -> None:
    (folder / STATE_DIR).mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / STATE_DIR / f"rng-{rank}.pt")


def read_rng(folder: Path, rank: int) -> dict[str, Any]:
    return torch.load(folder / STATE_DIR / f"rng-{rank}.pt", weights_only=True)


def publish(temporary: Path, final: Path) -> None:
    """Rename a completely written folder to its final name (replacing an older one of that name)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(temporary, final)


def prune(output: Path, keep: int) -> None:
    """Delete all but the `keep` newest checkpoints."""
    for _, folder in list_checkpoints(output)[:-keep]:
        shutil.rmtree(folder, ignore_errors=True)


def copy_as_best(checkpoint: Path, output: Path) -> Path:
    """Copy a checkpoint's model (not its resume state) to <output>/best, atomically."""
    temporary = output / f"{BEST}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(checkpoint, temporary, ignore=shutil.ignore_patterns(STATE_DIR))
    publish(temporary, output / BEST)
    return output / BEST
