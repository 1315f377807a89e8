"""Third-party native code's own printing on successful runs: KenLM's loading banner ("Loading the LM
will be faster if you build a binary file.", "Reading ...", a row of stars) appeared with every
`--decoder beam --lm` run; Ray's core_worker.cc line is checked in test_batch_ray.py, ONNX export's
warnings in test_backends.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_factory import write_audio

SRC = Path(__file__).resolve().parents[1] / "src"


def test_native_writes_are_kept_and_python_still_reaches_stderr(capfd) -> None:
    from polyasr.decoding.native_output import native_stderr_kept

    with native_stderr_kept(python_stays=True) as kept:
        os.write(2, b"from C++\n")
        print("from Python", file=sys.stderr)
    assert kept == ["from C++\n"]
    with pytest.raises(ValueError), native_stderr_kept() as lost:
        os.write(2, b"before the failure\n")
        raise ValueError("boom")
    assert lost == ["before the failure\n"]
    os.write(2, b"restored\n")
    assert capfd.readouterr().err == "from Python\nrestored\n"


def test_beam_search_with_a_language_model_prints_no_kenlm_banner(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ctc_beam_decoder")
    from test_beam import TINY_ARPA

    arpa = tmp_path / "tiny.arpa"
    arpa.write_text(TINY_ARPA, encoding="utf-8")
    clip = write_audio(tmp_path / "clip.wav", "pcm_s16le", 16_000, (0.1 * np.random.default_rng(5).standard_normal(32_000))[None])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "polyasr", "transcribe", str(clip), "--model", str(tiny_model_dir), "--dtype", "fp32",
                           "--decoder", "beam", "--lm", str(arpa), "--language", "en"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # was: the banner of KenLM's ARPA reader
