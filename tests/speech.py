"""Synthesised speech for tests and benchmarks: espeak-ng voices, with the true time of every utterance.

`espeak_ng()` finds the espeak-ng program, installing the Debian package with apt-get when it is
missing and we run as root (as tests/test_web_page.py installs Chromium); it returns None and the
reason otherwise, so that a test can skip with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from polyasr import SAMPLE_RATE, load_audio


def espeak_ng() -> tuple[str | None, str]:
    """(path of espeak-ng, "") when it can be used, else (None, why not)."""
    found = shutil.which("espeak-ng")
    if found:
        return found, ""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, "espeak-ng is missing and installing it needs root (apt-get install espeak-ng)"
    if shutil.which("apt-get") is None:
        return None, "espeak-ng is missing and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "espeak-ng"]
    done = None
    for attempt in ([], [["apt-get", "update"]]):  # the package lists may be missing or stale
        for command in attempt + [install]:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        found = shutil.which("espeak-ng")
        if done.returncode == 0 and found:
            return found, ""
    reason = done.stderr.strip().splitlines()[-1] if done is not None and done.stderr.strip() else "apt-get failed"
    return None, f"could not install espeak-ng: {reason}"


def say(program: str, text: str, voice: str = "en", speed: int = 165) -> np.ndarray:
    """`text` spoken by an espeak-ng `voice` (e.g. "en", "en+f3", "de"), 16 kHz float32, silence trimmed."""
    wav = subprocess.run([program, "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, check=True).stdout
    samples = load_audio(wav)
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples


@dataclass(frozen=True)
class Turn:
    """One utterance of a synthetic conversation and where it really is."""

    voice: str
    text: str
    start: float  # seconds
    end: float  # seconds


def conversation(
    program: str, lines: list[tuple[str, str]], pause: float = 0.7, lead: float = 0.5, seed: int = 0
) -> tuple[np.ndarray, list[Turn]]:
    """Utterances (voice, text) one after another with `pause` seconds between them, and their true times.

    A little noise (-60 dBFS) keeps the silences from being digital zeros.
    """
    pieces = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
    turns = []
    at = lead
    for voice, text in lines:
        spoken = say(program, text, voice)
        turns.append(Turn(voice, text, at, at + len(spoken) / SAMPLE_RATE))
        pieces += [spoken, np.zeros(int(pause * SAMPLE_RATE), np.float32)]
        at += len(spoken) / SAMPLE_RATE + pause
    audio = np.concatenate(pieces)
    audio += np.random.default_rng(seed).standard_normal(len(audio)).astype(np.float32) * 1e-3
    return audio.astype(np.float32), turns


def build_speech_detecting_model(folder, program: str):
    """A tiny random checkpoint whose CTC head tells speech from silence, as alignment tests need.

    The random encoder cannot recognise words, but its hidden states separate espeak-ng speech from
    silence (~90 % of frames): a linear probe fitted on a training conversation (Fisher's linear
    discriminant) becomes the blank logit, high on silence and low on speech, and every English letter
    gets logit 0 (the other tokens cannot win). Forced alignment with it puts a segment's letters on speech and its blanks on silence,
    so re-timed subtitles must land on the real utterances. Letters are indistinguishable to it,
    so it cannot tell one utterance from another: tests keep utterances apart by pauses.
    """
    import torch
    from transformers import Wav2Vec2ForCTC

    from tiny_model import VOCAB, build_tiny_model

    build_tiny_model(folder)
    model = Wav2Vec2ForCTC.from_pretrained(folder).eval()
    lines = [("en", "One two three four five."), ("en+f3", "The quick brown fox jumps."),
             ("en+m3", "Over the lazy dog, again and again."), ("de", "Guten Morgen, wie geht es dir?")]
    audio, turns = conversation(program, lines, pause=1.0, seed=7)
    states, labels = [], []
    cuts = [(0.0, None), (0.3, 3.0), (0.2, 6.6), (2.4, 9.1), (4.1, None), (6.2, 11.0), (0.1, 1.9), (5.0, 8.0)]
    for offset, stop in cuts:  # whole, and cut as the aligner cuts regions: their edges look different
        piece = audio[int(offset * SAMPLE_RATE) : None if stop is None else int(stop * SAMPLE_RATE)]
        x = (piece - piece.mean()) / np.sqrt(piece.var() + 1e-7)
        with torch.no_grad():
            states.append(model.wav2vec2(torch.from_numpy(x)[None]).last_hidden_state[0].double().numpy())
        times = offset + (np.arange(len(states[-1])) + 0.5) * 0.02
        labels.append(np.any([(times >= t.start) & (times < t.end) for t in turns], axis=0))
        states.append(np.repeat(states[-1][:4], 40, axis=0))  # an input's first frames, weighted up: they
        labels.append(np.repeat(labels[-1][:4], 40))  # look unlike the rest and must stay blank too
    hidden, speech = np.concatenate(states), np.concatenate(labels)
    scatter = np.cov(hidden.T) + 1e-3 * np.eye(hidden.shape[1])
    direction = np.linalg.solve(scatter, hidden[speech].mean(0) - hidden[~speech].mean(0))
    projected = hidden @ direction
    centre = (projected[speech].mean() + projected[~speech].mean()) / 2
    scale = 8.0 / projected[speech].std()
    weight = torch.zeros_like(model.lm_head.weight)
    bias = torch.zeros_like(model.lm_head.bias)
    weight[0] = -torch.from_numpy(direction * scale).float()  # [PAD], the blank: high on silence
    bias[0] = float(centre * scale)
    live = {"[PAD]", "|", *"abcdefghijklmnopqrstuvwxyz'"}  # English letters only: each ~1/28 on speech
    for index, token in enumerate(VOCAB):
        if token not in live:
            bias[index] = -100.0
    with torch.no_grad():
        model.lm_head.weight.copy_(weight)
        model.lm_head.bias.copy_(bias)
    model.save_pretrained(folder)
    return folder
