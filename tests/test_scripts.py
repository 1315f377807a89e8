"""scripts/bootstrap.sh: switching between scripts/polyasr, scripts/test and POLYASR_EXTRAS=server
re-installed every time (7-10 s). Run against a stand-in venv whose pip only records its calls."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    # "import torch" succeeds; the check of an extra's packages (python - EXTRA) finds them missing
    (venv / "bin" / "python").write_text('#!/bin/sh\n[ "$1" = "-m" ] && exit 1\nexit 0\n')
    (venv / "bin" / "pip").write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path / 'pip-calls'}\necho \"pip says: $*\"\n")
    (venv / "bin" / "polyasr").write_text('#!/bin/sh\necho "polyasr of this venv: $POLYASR_LAUNCHER $*"\n')
    for name in ("python", "pip", "polyasr"):
        (venv / "bin" / name).chmod(0o755)
    return venv


def _installs(calls: Path) -> list[str]:
    calls_without_flags = [line.replace("--progress-bar off ", "") for line in calls.read_text().splitlines()]
    return [line for line in calls_without_flags if line.startswith("install -e")]


def _bootstrap(venv: Path, extras: str) -> str:
    env = {**os.environ, "POLYASR_VENV": str(venv)}
    done = subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/bootstrap.sh" "{extras}"'], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_switching_extras_installs_only_what_is_missing(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    calls = tmp_path / "pip-calls"
    assert "installing into" in _bootstrap(venv, "dev,eval")  # scripts/test, first run
    for extras in ("", "dev,eval", "", "eval", "dev"):  # scripts/polyasr, scripts/test, ...: nothing new
        assert _bootstrap(venv, extras) == ""
    assert _installs(calls) == [f"install -e {ROOT}[dev,eval]"]
    assert "new extras: server" in _bootstrap(venv, "server")  # once, keeping what was there
    assert _bootstrap(venv, "server") == "" and _bootstrap(venv, "dev,eval") == ""
    assert _installs(calls) == [f"install -e {ROOT}[dev,eval]", f"install -e {ROOT}[dev,eval,server]"]


def test_the_first_install_shows_pips_progress(tmp_path: Path) -> None:
    """It printed one line ("installing into ...") and nothing else for minutes."""
    err = _bootstrap(_fake_venv(tmp_path), "").splitlines()
    assert err[0].startswith("polyasr: installing into") and "progress follows" in err[0]
    assert err[1:] == [f"pip says: install --progress-bar off -e {ROOT}"]  # pip's own lines, as they come
    assert (tmp_path / "venv" / "install.log").read_text().splitlines() == err[1:]


def test_scripts_polyasr_runs_the_venv_of_polyasr_venv(tmp_path: Path) -> None:
    venv = _fake_venv(tmp_path)
    _bootstrap(venv, "")
    env = {**os.environ, "POLYASR_VENV": str(venv)}
    env.pop("POLYASR_LAUNCHER", None)
    done = subprocess.run([str(ROOT / "scripts" / "polyasr"), "--version"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.strip() == f"polyasr of this venv: {ROOT / 'scripts' / 'polyasr'} --version"


def test_extras_the_dev_install_already_has_install_nothing() -> None:
    """After scripts/test (dev,eval), POLYASR_EXTRAS=vad (or server, onnx, ...) finds its packages there: no pip run."""
    import sys

    import hashlib

    venv = Path(sys.prefix)
    stamp = venv / ".polyasr-installed"
    assert stamp.exists(), f"{venv} was not made by scripts/bootstrap.sh"
    before = stamp.read_text()
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    if not before.startswith(digest):  # only a hand-made venv: scripts/test installs again before running pytest
        pytest.skip("this venv predates pyproject.toml; scripts/test reinstalls it before the tests")
    assert _bootstrap(venv, "vad,server,onnx,plot,diarize,lm,ray,listen,train,languages,all") == ""
    assert stamp.read_text() == before
