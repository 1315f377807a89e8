"""What a user meets in a base install (`pip install polyasr`, what scripts/polyasr installs): a real
venv with polyasr's base dependencies only, installed from the wheel built from this repository
(`pip wheel . --no-deps`); the last test adds the diarize extra to it with the very command polyasr
names, as a user would."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from audio_factory import write_audio

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the CPU build on this machine's disk (scripts/bootstrap.sh installs the same)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """polyasr's wheel, built from a copy of the sources (building in place would leave build/ behind)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "polyasr"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(folder / "dist"), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = (folder / "dist").glob("polyasr-*.whl")
    return built


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    venv = tmp_path_factory.mktemp("base") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    for spec in (TORCH, str(wheel)):
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
    # this venv is not on PATH, so its own pip is named; the wheel came from an index or a file: by name
    hint = f"{shlex.quote(str(base_venv / 'bin' / 'python'))} -m pip install 'polyasr[{extra}]'"
    assert len(lines) == 1 and f"needs the {extra} extra" in lines[0] and lines[0].endswith(hint), done.stderr


def test_a_base_install_transcribes(base_venv: Path, tiny_model_dir: Path, recognizer, tmp_path: Path) -> None:
    import json

    audio = write_audio(tmp_path / "clip.flac", "flac", 44_100, (0.1 * np.random.default_rng(3).standard_normal(88_200))[None])
    done = _polyasr(base_venv, "transcribe", str(audio), "--model", str(tiny_model_dir), "--dtype", "fp32", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == recognizer.transcribe(str(audio)).text  # the full install's result
    assert [line for line in done.stderr.splitlines() if not line.startswith("Detected language: ")] == []


def test_the_wheel_holds_the_speaker_encoder_and_the_web_page(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"polyasr/data/speaker_encoder.safetensors", "polyasr/data/speaker_encoder.LICENSE",
            "polyasr/server/static/index.html", "polyasr/server/static/app.js"} <= names


def test_the_diarize_extra_alone_makes_diarize_work(base_venv: Path, tiny_model_dir: Path, espeak: str, tmp_path: Path) -> None:
    """`pip install 'polyasr[diarize]'` also needed `pip install --no-deps resemblyzer` (the encoder's weights).
    Runs last: it installs the extra into the module's venv, with the command polyasr's error names."""
    from speech import conversation

    audio, truth = conversation(espeak, [("en+m3", "Good morning, how are you today?"), ("en+f4", "I am fine, thank you.")])
    wav = write_audio(tmp_path / "talk.wav", "pcm_s16le", 16_000, audio[None].astype(np.float64))
    argv = ["transcribe", str(wav), "--model", str(tiny_model_dir), "--dtype", "fp32", "--diarize", "-f", "rttm", "-o", str(tmp_path)]
    refused = _polyasr(base_venv, *argv)
    (line,) = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and "'--diarize' needs the diarize extra" in line, refused.stderr
    command = line.rsplit("; ", 1)[1]  # the exact command, run as printed
    assert command.endswith("install 'polyasr[diarize]'")
    installed = subprocess.run(command + " -q --disable-pip-version-check", shell=True, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    done = _polyasr(base_venv, *argv)
    assert done.returncode == 0, done.stderr
    speakers = [line.split()[7] for line in (tmp_path / "talk.rttm").read_text().splitlines()]
    assert len(truth) == 2 and speakers == ["SPEAKER_00", "SPEAKER_01"]
