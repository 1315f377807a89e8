"""Language identification on the proxy model: acoustic evidence, text identifiers, and their fusion.

One forward pass over held-out clips (the engine's `run_inference`, the clip's logits kept); then,
from the same logits, through polyasr's LanguageReducer and LanguageFrames, side by side:

- `acoustic`: the character evidence alone (LanguageCalibration(text_weight=0));
- `py3langid`, `lingua`: the greedy (unrestricted) transcript's text alone, each restricted to the candidates;
- `greedy text tw=W`: the fusion with the greedy transcript's language (LanguageReducer(text_samples=0),
  LanguageCalibration(text_weight=W)): what polyasr did before transcripts were drawn;
- `N drawn tw=W`: the fusion with the language averaged over N transcripts drawn from the
  per-frame distributions (LanguageReducer(text_samples=N): polyasr's default is 32 with text_weight 8).

Two splits: `tune` (the 12 held-out clips per language before the accuracy report's and the 8
after them: 160 clips) chose text_weight and the number of draws; `test` (the 40 per language of
the accuracy report's `lid_accuracy`, 320 clips) reports, and was never used to choose. Also the
time per clip of each text identifier and of the fusion (the reducer's work beyond the forward pass
plus the probabilities), with the CPU in the output.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/langid_text.py --model PROXY/model
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import read_rows  # noqa: E402

WEIGHTS = (1.0, 2.0, 4.0, 8.0, 16.0)
DRAWS = (0, 16, 32, 64)  # 0: the greedy text


class KeptLogits:
    """FrameReducer keeping a clip's logits (small clips: the benchmark replays them through variants)."""

    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.parts[first_frame] = np.asarray(logits, np.float32)

    def finish(self, num_frames: int) -> np.ndarray:
        from polyasr.decoding.ctc import stitch_frames

        width = next(iter(self.parts.values())).shape[1]
        return stitch_frames(self.parts, num_frames, np.float32, (width,))


def lingua_detector(codes: list[str]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.split("-")[0].upper())) for c in codes]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def cpu_flags() -> str:
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
    return f"{platform.machine()}, {os.cpu_count()} cores, " + " ".join(f for f in wanted if f in flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", help="default: <model>/../data")
    args = parser.parse_args()

    import polyasr
    from polyasr import LanguageCalibration
    from polyasr.decoding.langid import LanguageReducer
    from polyasr.engine.inference import run_inference
    from polyasr.model.languages import identification_table

    model = Path(args.model)
    data = Path(args.data) if args.data else model.resolve().parent / "data"
    rec = polyasr.load(str(model), device="cpu", dtype="fp32")
    codes = rec.languages()
    identifier = rec.text_identifier()
    if identifier is None:
        raise SystemExit("py3langid is not installed (pip install polyasr[langid])")
    table, vocabulary = identification_table(rec.model), rec.model.vocabulary
    lingua = lingua_detector(codes)
    methods: dict[str, dict[str, list[bool]]] = {}
    timings: dict[str, float] = {}
    clips = 0
    splits = {"tune": [*read_rows(data, 0, 12).values(), *read_rows(data, 52, 8).values()],
              "test": list(read_rows(data, 12, 40).values())}
    for split, groups in splits.items():
        rows = [r for items in groups for r in items]
        logits_of = run_inference(rec.model, [r["path"] for r in rows], KeptLogits)
        for row, item in zip(rows, logits_of):
            logits, true = item.value, row["language"]
            clips += 1
            found: dict[str, str | None] = {}
            for draws in DRAWS:
                began = time.perf_counter()
                reducer = LanguageReducer(table, vocabulary.blank_id, codes, False, vocabulary, identifier, draws)
                reducer.add(0, logits)
                frames = reducer.finish(len(logits))
                found[f"{draws} drawn tw=8" if draws else "greedy text tw=2"] = frames.probabilities(
                    LanguageCalibration(text_weight=8.0 if draws else 2.0))[0][0]
                timings[f"fusion, {draws} drawn" if draws else "fusion, greedy text"] = timings.get(
                    f"fusion, {draws} drawn" if draws else "fusion, greedy text", 0.0) + time.perf_counter() - began
                if not draws:
                    found["acoustic"] = frames.probabilities(LanguageCalibration(text_weight=0))[0][0]
                    text = frames.text()
                    began = time.perf_counter()
                    text_lp = identifier.log_probabilities(text, frames.codes)
                    timings["py3langid"] = timings.get("py3langid", 0.0) + time.perf_counter() - began
                    found["py3langid"] = frames.codes[int(np.argmax(text_lp))] if text_lp is not None else None
                    began = time.perf_counter()
                    best = lingua.detect_language_of(text)
                    timings["lingua"] = timings.get("lingua", 0.0) + time.perf_counter() - began
                    found["lingua"] = best.iso_code_639_1.name.lower() if best is not None else None
                for weight in WEIGHTS:
                    name = f"{draws} drawn tw={weight:g}" if draws else f"greedy text tw={weight:g}"
                    found[name] = frames.probabilities(LanguageCalibration(text_weight=weight))[0][0]
            for name, code in found.items():
                methods.setdefault(name, {}).setdefault(split, []).append(code == true)
    print(f"{model}: {len(codes)} languages ({' '.join(codes)}); CPU: {cpu_flags()}")
    counts = {split: len(found) for split, found in next(iter(methods.values())).items()}
    print(f"| method | tune ({counts['tune']} clips) | test ({counts['test']} clips) |\n|---|---|---|")
    for name, found in sorted(methods.items(), key=lambda item: _order(item[0])):
        print(f"| {name} | {100 * np.mean(found['tune']):.2f} % | {100 * np.mean(found['test']):.2f} % |")
    print("time per clip: " + ", ".join(f"{name} {1e6 * seconds / clips:.0f} us" for name, seconds in timings.items())
          + f" (lingua / py3langid {timings['lingua'] / max(timings['py3langid'], 1e-9):.0f}x; "
          f"32 drawn / greedy text {timings['fusion, 32 drawn'] / max(timings['fusion, greedy text'], 1e-9):.1f}x)")
    print(f"languages py3langid does not know among the model's: {identifier.uncovered(codes) or 'none'}")


def _order(name: str) -> tuple:
    head = name.split(" tw=")[0]
    rank = {"acoustic": 0, "py3langid": 1, "lingua": 2}.get(head, 3)
    draws = int(head.split()[0]) if head[0].isdigit() else 0
    weight = float(name.split("tw=")[1]) if "tw=" in name else 0.0
    return rank, draws, weight


if __name__ == "__main__":
    main()
