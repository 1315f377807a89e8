"""Extend the proxy model with a language the way a user would: espeak-ng speech of the new language
(made by proxy_model.py's functions), mixed with some of the base's training clips so the old
languages are kept, and `polyasr train --base <proxy model>` with `--vocabulary extend` (the default:
the new letters become new tokens, the new language gets its `lang_ids.json` entry).

    flock /tmp/cpu.lock timeout 660 .venv/bin/python benchmarks/extend_proxy.py \\
        --base /tmp/d22/proxy/model --language ru --output /tmp/s4/proxy-ru --minutes 9.5

`<output>/data` holds the new language's train/held-out clips, `lm/` and `words/`, and manifests
whose old-language rows point at the base's data by absolute path (`heldout.jsonl` has every
held-out clip of the base too, so `benchmarks/accuracy.py --model <output>/model` scores all
languages on the same clips as before). The base's data folder is only read. `<output>/model` is the
best checkpoint; `<output>/data.json` records what was made and the dev CER by step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from proxy_model import synthesise, train  # the proxy's data recipe and training call (benchmarks/ is on sys.path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def absolute(rows: list[dict], folder: Path) -> list[dict]:
    return [{**r, "audio": str((folder / r["audio"]).resolve())} for r in rows]


def first_per_language(rows: list[dict], count: int) -> list[dict]:
    seen: dict[str, int] = {}
    kept = []
    for row in rows:
        if seen.get(row["language"], 0) < count:
            seen[row["language"]] = seen.get(row["language"], 0) + 1
            kept.append(row)
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the proxy model folder (its data: <base>/../data)")
    parser.add_argument("--base-data", help="the base's data folder (default: <base>/../data)")
    parser.add_argument("--language", required=True, help="espeak-ng voice and wordfreq code of the new language")
    parser.add_argument("--output", required=True, help="folder for data/, run/ and model/")
    parser.add_argument("--seed", type=int, default=1, help="not the base's seed: new sentences and voices")
    parser.add_argument("--minutes", type=float, default=9.5, help="training time budget")
    parser.add_argument("--sentences", type=int, default=600, help="training sentences of the new language")
    parser.add_argument("--held-out", type=int, default=60)
    parser.add_argument("--lm-sentences", type=int, default=3000)
    parser.add_argument("--keep-per-language", type=int, default=100, help="base training clips kept per old language")
    parser.add_argument("--dev-per-language", type=int, default=12)
    parser.add_argument("--max-steps", type=int, default=800)
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--batch-seconds", type=float, default=40.0)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--data-only", action="store_true", help="make the data and stop (train in a later run)")
    args = parser.parse_args()

    base = Path(args.base).resolve()
    base_data = Path(args.base_data).resolve() if args.base_data else base.parent / "data"
    out = Path(args.output).resolve()
    if out == base.parent or out == base_data or base_data in out.parents:
        sys.exit(f"extend_proxy: --output {out} must not be inside the base's folders")
    data, run, model = out / "data", out / "run", out / "model"
    started = time.monotonic()
    if not (data / "summary.json").exists():
        summary = synthesise(data, args.sentences, args.held_out, args.lm_sentences, args.seed, [args.language])
        new_train, new_heldout = read_jsonl(data / "train.jsonl"), read_jsonl(data / "heldout.jsonl")
        kept = first_per_language(absolute(read_jsonl(base_data / "train.jsonl"), base_data), args.keep_per_language)
        write_jsonl(data / "train.jsonl", new_train + kept)
        write_jsonl(data / "heldout.jsonl", absolute(read_jsonl(base_data / "heldout.jsonl"), base_data) + new_heldout)
        summary["kept_base_training_clips"] = len(kept)
        (data / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    summary = json.loads((data / "summary.json").read_text(encoding="utf-8"))
    print(f"extend: {args.language} data made in {time.monotonic() - started:.0f} s "
          f"({summary['kept_base_training_clips']} base training clips kept)", flush=True)
    if args.data_only:
        return 0
    shutil.rmtree(run, ignore_errors=True)
    trained_at = time.monotonic()
    code = train(args, data, base, run)
    minutes = (time.monotonic() - trained_at) / 60
    if not (run / "best").exists():
        print(f"extend: training ended ({code}) without a best checkpoint", file=sys.stderr)
        return 1
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(run / "best", model)
    history = [json.loads(line) for line in (run / "dev_history.jsonl").read_text().splitlines()]
    record = {**summary, "base": str(base), "training_minutes": round(minutes, 1), "train_exit_code": code,
              "dev_history": [{"step": h["step"], "macro_cer": h["macro"]["cer"] if h.get("macro") else None,
                               "per_language": {x["language"]: round(x["cer"], 2) for x in h.get("languages", [])}}
                              for h in history],
              "threads": os.cpu_count(), "args": vars(args)}
    (out / "data.json").write_text(json.dumps(record, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"extend: model in {model} after {minutes:.1f} min of training; dev CER by step: "
          + ", ".join(f"{h['step']}: {h['macro_cer']:.1f} %" for h in record["dev_history"] if h["macro_cer"] is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
