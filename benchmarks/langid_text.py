"""Language identification on the proxy model: acoustic evidence, text identifiers, and their fusion.

One pass over held-out clips (polyasr's `detect_language_iter`, the LanguageFrames every entry
point uses); then, from the same frames, side by side:

- `acoustic`: the character evidence alone (LanguageCalibration(text_weight=0));
- `py3langid`, `lingua`: the unrestricted transcript's text alone, each restricted to the candidates;
- `fused tw=W`: polyasr's probabilities with LanguageCalibration(text_weight=W) (py3langid).

Two splits: `tune` (the first 12 held-out clips per language, which the accuracy report leaves out)
chose text_weight; `test` (the next 40, the accuracy report's clips) reports. Also the time per clip
of each text identifier (CPU noted in the output).

    flock /tmp/cpu.lock .venv/bin/python benchmarks/langid_text.py --model PROXY/model
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import read_rows  # noqa: E402

WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0)


def lingua_detector(codes: list[str]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.split("-")[0].upper())) for c in codes]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", help="default: <model>/../data")
    args = parser.parse_args()

    import polyasr
    from polyasr import LanguageCalibration

    model = Path(args.model)
    data = Path(args.data) if args.data else model.resolve().parent / "data"
    rec = polyasr.load(str(model), device="cpu", dtype="fp32")
    codes = rec.languages()
    identifier = rec.text_identifier()
    if identifier is None:
        raise SystemExit("py3langid is not installed (pip install polyasr[langid])")
    lingua = lingua_detector(codes)
    methods: dict[str, dict[str, list[bool]]] = {}
    timings = {"py3langid": 0.0, "lingua": 0.0}
    clips = 0
    for split, skip, count in (("tune", 0, 12), ("test", 12, 40)):
        rows = read_rows(data, skip, count)
        paths = [r["path"] for items in rows.values() for r in items]
        truth = [r["language"] for items in rows.values() for r in items]
        for item, true in zip(rec.detect_language_iter(paths), truth):
            frames, text = item.value, item.value.text()
            clips += 1
            found = {"acoustic": frames.probabilities(LanguageCalibration(text_weight=0))[0][0]}
            began = time.perf_counter()
            text_lp = identifier.log_probabilities(text, frames.codes)
            timings["py3langid"] += time.perf_counter() - began
            found["py3langid"] = frames.codes[int(np.argmax(text_lp))] if text_lp is not None else None
            began = time.perf_counter()
            best = lingua.detect_language_of(text)
            timings["lingua"] += time.perf_counter() - began
            found["lingua"] = best.iso_code_639_1.name.lower() if best is not None else None
            for weight in WEIGHTS:
                found[f"fused tw={weight:g}"] = frames.probabilities(LanguageCalibration(text_weight=weight))[0][0]
            for name, code in found.items():
                methods.setdefault(name, {}).setdefault(split, []).append(code == true)
    print(f"{model}: {len(codes)} languages ({' '.join(codes)}); CPU: {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores")
    print("| method | tune (12/language) | test (40/language) |\n|---|---|---|")
    for name, splits in methods.items():
        print(f"| {name} | {100 * np.mean(splits['tune']):.2f} % | {100 * np.mean(splits['test']):.2f} % |")
    print(f"text identifier time per clip: py3langid {1e6 * timings['py3langid'] / clips:.0f} us, "
          f"lingua {1e6 * timings['lingua'] / clips:.0f} us "
          f"(ratio {timings['lingua'] / max(timings['py3langid'], 1e-9):.0f}x)")
    print(f"languages py3langid does not know among the model's: {identifier.uncovered(codes) or 'none'}")


if __name__ == "__main__":
    main()
