"""Evaluation reports: a Markdown table, CSV and JSON files, optionally beside the model card's numbers."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .card_results import CardResult, card_results
from .errors import PolyasrError
from .evaluation import EvalResult
from .scoring import LanguageScore


def _rate(value: float) -> float | None:
    """A rate rounded to 2 decimals, or None where it is undefined (NaN)."""
    return None if math.isnan(value) else round(value, 2)


def _rows(result: EvalResult, compare_card: bool) -> list[dict[str, Any]]:
    card = card_results() if compare_card else {}
    scores: list[LanguageScore] = list(result.report.languages)
    scores += [s for s in (result.report.pooled, result.report.macro) if s is not None]
    rows = []
    for s in scores:
        row: dict[str, Any] = {
            "language": s.language,
            "utterances": s.utterances,
            "hours": round(s.hours, 3),
            "wer": _rate(s.wer),
            "cer": _rate(s.cer),
            "wer_meaningful": s.wer_meaningful,
        }
        if compare_card:
            reference: CardResult | None = card.get(s.language)
            row["card_wer"] = reference.wer if reference else None
            row["card_cer"] = reference.cer if reference else None
            row["wer_diff"] = _rate(s.wer - reference.wer) if reference else None
            row["cer_diff"] = _rate(s.cer - reference.cer) if reference else None
        rows.append(row)
    return rows


def _cell(value: float | None, sign: str = "") -> str:
    return "–" if value is None else f"{value:{sign}.2f}"


def markdown_table(result: EvalResult, compare_card: bool = False) -> str:
    """The results as a Markdown table; WER of languages without word spaces is marked with *."""
    rows = _rows(result, compare_card)
    header = ["language", "utterances", "hours", "WER", "CER"]
    if compare_card:
        header += ["card WER", "card CER", "Δ WER", "Δ CER"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        wer = _cell(row["wer"]) + ("" if row["wer_meaningful"] else "*")
        cells = [row["language"], str(row["utterances"]), f"{row['hours']:.2f}", wer, _cell(row["cer"])]
        if compare_card:
            cells += [_cell(row["card_wer"]), _cell(row["card_cer"])]
            cells += [_cell(row["wer_diff"], "+"), _cell(row["cer_diff"], "+")]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if any(not row["wer_meaningful"] for row in rows):
        notes.append("\\* WER is not meaningful for languages written without spaces between words (zh, ja, th).")
    notes.append("pooled: all utterances together (WER over languages with words); macro: mean of the languages.")
    if result.failed:
        notes.append(f"{len(result.failed)} utterances could not be decoded and are not scored.")
    if result.report.skipped_empty:
        notes.append(f"{result.report.skipped_empty} utterances have an empty reference after normalisation and are not scored.")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def write_reports(result: EvalResult, output_dir: str | Path, compare_card: bool = False) -> list[Path]:
    """results.md, results.csv and results.json in output_dir (hypotheses.jsonl is already there)."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows = _rows(result, compare_card)
    paths = [folder / "results.md", folder / "results.csv", folder / "results.json"]
    paths[0].write_text(markdown_table(result, compare_card), encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["language"])
    writer.writeheader()
    writer.writerows(rows)
    paths[1].write_text(buffer.getvalue(), encoding="utf-8")
    summary = {
        "languages": rows,
        "failed": [asdict(r) for r in result.failed],
        "skipped_empty_references": result.report.skipped_empty,
        "resumed_from_cache": result.resumed,
        "warnings": list(result.warnings),
    }
    paths[2].write_text(json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
    return paths


def plot_cer(result: EvalResult, path: str | Path, compare_card: bool = True) -> Path:
    """A bar chart of CER per language, the card's beside ours (needs matplotlib: polyasr[plot])."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PolyasrError("the CER chart needs matplotlib: pip install 'polyasr[plot]'") from error
    rows = [r for r in _rows(result, compare_card) if r["language"] not in ("pooled", "macro") and r["cer"] is not None]
    positions = range(len(rows))
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(rows) + 2), 4))
    width = 0.4 if compare_card else 0.8
    axes.bar([p - width / 2 if compare_card else p for p in positions], [r["cer"] for r in rows], width, label="this run")
    if compare_card:
        card = [r["card_cer"] if r["card_cer"] is not None else 0.0 for r in rows]
        axes.bar([p + width / 2 for p in positions], card, width, label="model card")
    axes.set_xticks(list(positions), [r["language"] for r in rows], rotation=45, ha="right")
    axes.set_ylabel("CER (%)")
    axes.set_title("Character error rate per language")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
