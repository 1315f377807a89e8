"""benchmarks/accuracy.py against a baseline: a regression makes the run exit non-zero (a real run on the tiny model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from audio_factory import write_audio

ROOT = Path(__file__).resolve().parents[1]


def run_report(tmp_path: Path, model: Path, baseline: dict) -> tuple[subprocess.CompletedProcess, dict]:
    data = tmp_path / "data"
    (data / "speech").mkdir(parents=True, exist_ok=True)
    noise = 0.1 * np.random.default_rng(3).standard_normal(16_000)
    write_audio(data / "speech" / "a.wav", "pcm_s16le", 16_000, noise[None])
    # a language the model does not have: "auto" can never find it, so lid_accuracy is 0.0
    row = {"audio": "speech/a.wav", "text": "x", "language": "xx", "id": "xx-0"}
    (data / "heldout.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    (tmp_path / "baseline.json").write_text(json.dumps(baseline), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "accuracy.py"), "--model", str(model), "--data", str(data),
         "--json", str(tmp_path / "report.json"), "--sections", "lid_accuracy", "--skip-dev", "0",
         "--per-language", "1", "--baseline", str(tmp_path / "baseline.json")],
        capture_output=True, text=True, timeout=300,
    )
    return done, json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))


def test_a_regression_against_the_baseline_fails_the_run(tmp_path, tiny_model_dir) -> None:
    done, report = run_report(tmp_path, tiny_model_dir, {"lid_accuracy": 50.0})
    assert report["lid_accuracy"] == 0.0  # the report is still written
    assert "| lid_accuracy | 50 | 0 | -50.00 | REGRESSION |" in done.stdout
    assert done.returncode == 1, done.stdout + done.stderr
    assert "regressions against" in done.stderr and "lid_accuracy" in done.stderr


def test_within_the_tolerance_the_run_passes(tmp_path, tiny_model_dir) -> None:
    done, report = run_report(tmp_path, tiny_model_dir, {"lid_accuracy": 0.5})  # worse by 0.5, tolerance 1.0
    assert report["lid_accuracy"] == 0.0
    assert "| lid_accuracy | 0.5 | 0 | -0.50 | ok |" in done.stdout
    assert done.returncode == 0, done.stdout + done.stderr
