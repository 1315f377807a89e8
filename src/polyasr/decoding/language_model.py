"""Where a beam search's n-gram language model comes from: a file, or a checkpoint's folder.

Checkpoints made with transformers' `Wav2Vec2ProcessorWithLM` (common among XLSR fine-tunes) ship
a `language_model/` folder: one KenLM model (`*.arpa`, `*.arpa.gz` or a binary `*.bin`),
`unigrams.txt` (the words the model knows, one per line) and `attrs.json` (pyctcdecode's `alpha`,
`beta`, `unk_score_offset`, `score_boundary`). polyasr reads that folder as it is.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .lm_build import LanguageModelError

LM_FOLDER = "language_model"
LM_SUFFIXES = (".arpa", ".arpa.gz", ".bin", ".binary", ".klm")
DEFAULT_ALPHA = 0.5
DEFAULT_BETA = 1.0


@dataclass(frozen=True)
class LanguageModelFile:
    """A KenLM model and the settings it came with."""

    path: Path  # the .arpa / .arpa.gz / binary file KenLM loads
    unigrams: tuple[str, ...] | None  # its words (None: unknown, e.g. a binary without unigrams.txt)
    alpha: float | None = None  # weight its folder's attrs.json recommends
    beta: float | None = None  # word bonus its folder's attrs.json recommends
    unk_score_offset: float | None = None  # from attrs.json
    score_boundary: bool = True  # score sentence start and end (attrs.json's score_boundary)


def read_language_model(path: str | os.PathLike[str]) -> LanguageModelFile:
    """A model file, or a `language_model/` folder (or a checkpoint folder that contains one)."""
    location = Path(path).expanduser()
    if location.is_dir():
        folder = location / LM_FOLDER if (location / LM_FOLDER).is_dir() else location
        return _read_folder(folder)
    if not location.is_file():
        raise LanguageModelError(f"{location}: no such language model file or folder")
    return LanguageModelFile(location, _arpa_unigrams(location))


def checkpoint_language_model(model: str) -> LanguageModelFile | None:
    """The `language_model/` folder of a checkpoint (a local folder, or the Hub cache), if any."""
    local = Path(model).expanduser()
    if local.is_dir():
        return _read_folder(local / LM_FOLDER) if (local / LM_FOLDER).is_dir() else None
    try:
        from huggingface_hub import snapshot_download

        snapshot = Path(snapshot_download(model, allow_patterns=[f"{LM_FOLDER}/*"], local_files_only=True))
    except Exception:  # not cached (polyasr never fetches a language model behind the user's back)
        return None
    return _read_folder(snapshot / LM_FOLDER) if (snapshot / LM_FOLDER).is_dir() else None


def _read_folder(folder: Path) -> LanguageModelFile:
    models = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(LM_SUFFIXES))
    if len(models) != 1:
        found = ", ".join(p.name for p in models) or "none"
        raise LanguageModelError(
            f"{folder}: expected exactly one KenLM model ({', '.join(LM_SUFFIXES)}), found {found}"
        )
    attrs: dict = {}
    if (folder / "attrs.json").is_file():
        try:
            attrs = json.loads((folder / "attrs.json").read_text(encoding="utf-8"))
        except (ValueError, OSError) as error:
            raise LanguageModelError(f"{folder / 'attrs.json'}: not readable JSON ({error})") from error
        if not isinstance(attrs, dict):
            raise LanguageModelError(f"{folder / 'attrs.json'}: expected a JSON object")
    unigrams = None
    if (folder / "unigrams.txt").is_file():
        text = (folder / "unigrams.txt").read_text(encoding="utf-8", errors="replace")
        unigrams = tuple(w for w in (line.strip() for line in text.splitlines()) if w)
    else:
        unigrams = _arpa_unigrams(models[0])
    return LanguageModelFile(
        models[0], unigrams, _number(attrs, "alpha", folder), _number(attrs, "beta", folder),
        _number(attrs, "unk_score_offset", folder), bool(attrs.get("score_boundary", True)),
    )


def _number(attrs: dict, key: str, folder: Path) -> float | None:
    value = attrs.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise LanguageModelError(f"{folder / 'attrs.json'}: '{key}' must be a number, not {value!r}")
    return float(value)


def _arpa_unigrams(path: Path) -> tuple[str, ...] | None:
    """The words of an ARPA file's 1-gram section (None for a binary model)."""
    if not path.name.endswith((".arpa", ".arpa.gz")):
        return None
    opener = gzip.open if path.name.endswith(".gz") else open
    words: list[str] = []
    inside = False
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:  # type: ignore[operator]
            for line in handle:
                if line.startswith("\\1-grams:"):
                    inside = True
                elif line.startswith("\\"):
                    if inside:
                        break
                elif inside:
                    fields = line.split("\t")
                    if len(fields) >= 2 and fields[1].strip() not in ("<s>", "</s>", "<unk>"):
                        words.append(fields[1].strip())
    except (OSError, EOFError) as error:
        raise LanguageModelError(f"{path}: cannot read the ARPA file ({error})") from error
    if not inside:
        raise LanguageModelError(f"{path}: not an ARPA file (no \\1-grams: section)")
    return tuple(words)
