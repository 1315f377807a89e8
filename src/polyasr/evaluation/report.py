"""Evaluation reports: a Markdown table, CSV and JSON files, optionally beside the model card's numbers."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .card import CardResult, card_results
from ..errors import PolyasrError
from .run import EvalResult
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
        notes.append(f"{len(result.failed)} utterance{'' if len(result.failed) == 1 else 's'} could not be decoded and "
                     f"{'is' if len(result.failed) == 1 else 'are'} not scored.")
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
        "produced_by": asdict(result.facts) if result.facts is not None else None,  # what made the hypotheses
        "failed": [asdict(r) for r in result.failed],
        "bad_rows": [asdict(b) for b in result.bad_rows],
        "skipped_empty_references": result.report.skipped_empty,
        "resumed_from_cache": result.resumed,
        "changed_since_cache": result.changed,
        "warnings": list(result.warnings),
    }
    paths[2].write_text(json.dumps(summary, ensure_ascii=False, indent=2, allow_nan=False, default=str) + "\n", encoding="utf-8")
    return paths


def plot_cer(result: EvalResult, path: str | Path, compare_card: bool = True) -> Path:
    """A horizontal bar chart of CER per language, best first, the card's beside ours (needs matplotlib:
    polyasr[plot]). Readable at any number of languages: one row per language, the figure grows
    with them; the axis stops short of outliers, whose bars are cut with their value written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PolyasrError("the CER chart needs matplotlib: pip install 'polyasr[plot]'") from error
    rows = [r for r in _rows(result, compare_card) if r["language"] not in ("pooled", "macro") and r["cer"] is not None]
    rows.sort(key=lambda r: (-r["cer"], r["language"]))  # barh draws bottom-up: the best language on top
    series = [("this run", [r["cer"] for r in rows])]
    if compare_card:
        series.append(("model card", [r["card_cer"] for r in rows]))
    values = [v for _, column in series for v in column if v is not None]
    limit = _axis_limit(values)
    height = 0.8 / len(series)
    figure, axes = plt.subplots(figsize=(8.0, 1.2 + 0.32 * max(len(rows), 1) * len(series) ** 0.5))
    for k, (label, column) in enumerate(series):
        offsets = [i + (k - (len(series) - 1) / 2) * height for i in range(len(rows))]
        shown = [min(v, limit) if v is not None else 0.0 for v in column]
        axes.barh(offsets, shown, height, label=label, color=("tab:blue", "tab:gray")[k])
        for y, value in zip(offsets, column):
            if value is None:
                continue
            text = f"{value:.1f}" + (" ▸" if value > limit else "")
            inside = value > 0.85 * limit
            axes.text(min(value, limit) * (0.99 if inside else 1.0) + (0 if inside else 0.005 * limit), y, text,
                      va="center", ha="right" if inside else "left", fontsize=7, color="white" if inside else "black")
    axes.set_yticks(range(len(rows)), [f"{r['language']} ({r['utterances']})" for r in rows], fontsize=8)
    axes.set_ylim(-0.6, len(rows) - 0.4)
    axes.set_xlim(0, limit)
    axes.set_xlabel("CER (%)" + ("; ▸ cut at the axis end, value written" if any(v > limit for v in values) else ""))
    axes.set_title("Character error rate per language (utterances)")
    axes.grid(axis="x", alpha=0.3)
    if compare_card:
        axes.legend(loc="upper right", fontsize=8)  # the best (shortest) bars are at the top
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def _axis_limit(values: list[float]) -> float:
    """Where the CER axis ends: a little past every value except outliers (more than twice the
    90th percentile), which would squash the other bars."""
    if not values:
        return 1.0
    typical = float(sorted(values)[int(0.9 * (len(values) - 1))])
    usual = [v for v in values if v <= 2.0 * typical] or values
    return max(1.1 * max(usual), 1.0)
