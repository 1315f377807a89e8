"""How well can the language table alone tell the model's 56 languages apart?

Simulates CTC emissions of an ideal acoustic model: each speech frame's best token is a character
drawn from the true language's table (uniformly), on top of Gaussian logit noise, with blank frames
between. Runs polyasr's language identification (LanguageReducer, the same code as
`polyasr detect-language`) over every language and reports top-1 accuracy, top-1 "tied" (the true
language among those with the best score), and the most frequent confusions.

This is an upper bound for the method, not a measurement on speech: real acoustic models make
mistakes, and real text does not draw characters uniformly. It shows which languages the table
cannot separate at all (one table contained in another).

    .venv/bin/python benchmarks/langid_separability.py [--table tests/data/lang_ids.json]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from polyasr.language.table import read_language_table
from polyasr.decoding.langid import LanguageCalibration, LanguageReducer


def simulate(ids: np.ndarray, vocab: int, frames: int, rng: np.random.Generator, margin: float) -> np.ndarray:
    logits = rng.normal(0.0, 1.0, (frames, vocab)).astype(np.float32)
    speech = rng.random(frames) < 0.5
    logits[~speech, 0] += margin
    logits[np.flatnonzero(speech), rng.choice(ids, size=int(speech.sum()))] += margin
    return logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / "tests" / "data" / "lang_ids.json"  # the model's table
    parser.add_argument("--table", default=str(default))
    parser.add_argument("--trials", type=int, default=20, help="utterances per language")
    parser.add_argument("--frames", type=int, default=250, help="frames per utterance (250 = 5 s)")
    parser.add_argument("--margin", type=float, default=8.0, help="logit margin of the true token")
    parser.add_argument("--inventory-weight", type=float, default=1.0, help="0 turns the character-inventory prior off")
    args = parser.parse_args()
    calibration = LanguageCalibration(inventory_weight=args.inventory_weight)
    table = read_language_table(args.table)
    codes = table.codes()
    vocab = max(max(ids) for ids in table.ids.values() if ids) + 1
    rng = np.random.default_rng(0)
    correct = tied = total = 0
    confusions: Counter[tuple[str, str]] = Counter()
    for code in codes:
        for _ in range(args.trials):
            reducer = LanguageReducer(table, blank_id=0)
            logits = simulate(table.token_ids(code), vocab, args.frames, rng, args.margin)
            reducer.add(0, logits)
            scores = reducer.finish(len(logits)).scores(calibration)
            best = max(scores.values())
            winners = [c for c, s in scores.items() if s >= best - 1e-3]
            top = max(scores, key=scores.get)
            total += 1
            correct += top == code
            tied += code in winners
            if top != code:
                confusions[(code, top)] += 1
    print(f"{len(codes)} languages x {args.trials} simulated utterances of {args.frames} frames, vocabulary {vocab}, "
          f"inventory weight {args.inventory_weight}")
    print(f"top-1 accuracy: {correct / total:.3f}   true language among the best-scoring (ties): {tied / total:.3f}")
    print("most frequent confusions (true -> chosen: count):")
    for (truth, chosen), count in confusions.most_common(15):
        print(f"  {truth} -> {chosen}: {count}")


if __name__ == "__main__":
    main()
