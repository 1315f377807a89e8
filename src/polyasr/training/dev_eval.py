"""Dev evaluation during training, with polyasr's own evaluation core, and the model card.

Each checkpoint folder is loaded with `polyasr.load`, exactly as a user will load it, and scored
with `evaluation.evaluate` (decoding restricted to each utterance's language). The table puts every
language's CER beside its CER before training, so that forgetting of the base's languages shows.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from ..evaluation.data import EvalDataset
from ..evaluation.report import write_reports
from ..evaluation.run import EvalOptions, evaluate
from ..language.catalogue import language_name
from ..evaluation.scoring import LanguageScore
from ..recognizer import load
from .preflight import duration

HISTORY = "dev_history.jsonl"


@dataclass(frozen=True)
class DevScores:
    """Dev results of one model state."""

    step: int  # optimizer steps done (0: before training)
    languages: tuple[LanguageScore, ...]
    macro: LanguageScore | None  # mean of the languages' rates
    failed: int  # utterances whose audio did not decode

    @property
    def cer(self) -> float:
        """Macro CER (percent): the number the best checkpoint is chosen by."""
        return self.macro.cer if self.macro is not None else math.nan

    def to_json(self) -> str:
        return json.dumps({"step": self.step, "languages": [asdict(s) for s in self.languages],
                           "macro": asdict(self.macro) if self.macro else None, "failed": self.failed})

    @classmethod
    def from_json(cls, line: str) -> "DevScores":
        row = json.loads(line)
        macro = LanguageScore(**row["macro"]) if row["macro"] else None
        return cls(row["step"], tuple(LanguageScore(**s) for s in row["languages"]), macro, row["failed"])


def evaluate_folder(folder: Path, dev: EvalDataset, step: int, device: str, dtype: str) -> DevScores:
    """Load a saved model folder and score it on `dev`; results go to <folder>/dev/."""
    recognizer = load(str(folder), device=device, dtype=dtype)
    result = evaluate(recognizer, dev, folder / "dev", EvalOptions(decode="language"))
    write_reports(result, folder / "dev")
    return DevScores(step, result.report.languages, result.report.macro, len(result.failed))


def append_history(output: Path, scores: DevScores) -> None:
    with open(output / HISTORY, "a", encoding="utf-8") as handle:
        handle.write(scores.to_json() + "\n")


def read_history(output: Path, up_to_step: int) -> list[DevScores]:
    """Dev results of steps <= `up_to_step` (later ones belong to steps a resumed run repeats)."""
    path = output / HISTORY
    if not path.exists():
        return []
    rows = [DevScores.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [r for r in rows if r.step <= up_to_step]
    if len(kept) != len(rows):
        path.write_text("".join(r.to_json() + "\n" for r in kept), encoding="utf-8")
    return kept


def _cell(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f}"


def dev_table(now: DevScores, before: DevScores | None, new_languages: Sequence[str]) -> str:
    """Markdown: per language, utterances, CER before training, CER now, the change, WER now."""
    earlier = {s.language: s for s in before.languages} if before else {}
    lines = ["| language | utterances | CER before | CER now | Δ CER | WER now |", "|---|---|---|---|---|---|"]
    for s in now.languages:
        name = f"{s.language} ({language_name(s.language)}{', new' if s.language in new_languages else ''})"
        old = earlier.get(s.language)
        change = None if old is None else s.cer - old.cer
        wer = _cell(s.wer) + ("" if s.wer_meaningful else "*")
        lines.append(f"| {name} | {s.utterances} | {_cell(old.cer if old else None)} | {_cell(s.cer)} | "
                     f"{'–' if change is None else f'{change:+.2f}'} | {wer} |")
    if now.macro is not None:
        old_macro = before.cer if before else None
        lines.append(f"| macro | {now.macro.utterances} | {_cell(old_macro)} | {_cell(now.cer)} | "
                     f"{'–' if old_macro is None else f'{now.cer - old_macro:+.2f}'} | {_cell(now.macro.wer)} |")
    notes = ["CER and WER in percent, decoding restricted to each utterance's language; a rising CER of an old "
             "language is forgetting."]
    if any(not s.wer_meaningful for s in now.languages):
        notes.append("\\* WER is not meaningful for languages written without spaces.")
    if now.failed:
        notes.append(f"{now.failed} dev utterances could not be decoded and are not scored.")
    return "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def model_card(title: str, base: str, step: int, total_steps: int, seconds_by_language: dict[str, float],
               added: Sequence[str], new_languages: Sequence[str], table: str | None) -> str:
    """The README.md of a checkpoint."""
    hours = ", ".join(f"{code} {duration(s)}" for code, s in seconds_by_language.items())
    lines = [
        f"# {title}", "",
        f"Fine-tuned from `{base}` with `polyasr train`: step {step} of {total_steps}, on {hours}.", "",
        f"- characters added to the base vocabulary: {len(added)}" + (f" ({''.join(added)})" if added else ""),
        f"- languages added to lang_ids.json: {', '.join(new_languages) or 'none'}",
        "", "## Dev set", "",
        table if table is not None else "Not evaluated (no dev set).", "",
        "## Use", "",
        "```",
        "polyasr transcribe --model THIS_FOLDER --language CODE audio.wav",
        "polyasr serve --model THIS_FOLDER",
        "```", "",
    ]
    return "\n".join(lines)
