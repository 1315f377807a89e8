"""What a user meets in a base install (`pip install polyasr`, what scripts/polyasr installs): a real
venv with polyasr's base dependencies only, built from this repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_factory import write_audio

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the CPU build on this machine's disk (scripts/bootstrap.sh installs the same)


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("base") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for spec in (TORCH, str(ROOT)):
        done = subprocess.run([*pip, spec], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _polyasr(venv: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "polyasr"), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_version_comes_from_the_package_metadata(base_venv: Path) -> None:
    from importlib import metadata

    done = _polyasr(base_venv, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"polyasr {metadata.version('polyasr')}"


@pytest.mark.parametrize("argv, extra", [
    (["batch", "in/", "--output", "out/", "--actors", "2"], "ray"),  # was: unrecognized arguments: --actors 2
    (["train", "--help"], "train"),
    (["serve", "--port", "0"], "server"),  # was: a traceback ending in No module named 'uvicorn'
    (["listen"], "listen"),
    (["export", "--output", "x"], "onnx"),
    (["evaluate", "--manifest", "m.jsonl"], "eval"),
])
def test_a_command_without_its_extra_says_so_in_one_line(base_venv: Path, argv: list[str], extra: str) -> None:
    done = _polyasr(base_venv, *argv)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"needs the {extra} extra" in lines[0] and f"pip install 'polyasr[{extra}]'" in lines[0], done.stderr


def test_a_base_install_transcribes(base_venv: Path, tiny_model_dir: Path, recognizer, tmp_path: Path) -> None:
    import json

    audio = write_audio(tmp_path / "clip.flac", "flac", 44_100, (0.1 * np.random.default_rng(3).standard_normal(88_200))[None])
    done = _polyasr(base_venv, "transcribe", str(audio), "--model", str(tiny_model_dir), "--dtype", "fp32", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == recognizer.transcribe(str(audio)).text  # the full install's result
    assert [line for line in done.stderr.splitlines() if not line.startswith("Detected language: ")] == []
