"""espeak-ng conversations with known turns, for the diarization tests and benchmarks/diarization.py.

make_conversation: 2-4 voices taking turns of whole sentences with pauses; make_hard_conversation:
1-5 s turns, short backchannels by another voice and overlapping changes. Both return the audio and
the true (start, end, speaker) of every turn.
"""

from __future__ import annotations

import numpy as np

from polyasr import SAMPLE_RATE
from speech import say

VOICES = ["en+m3", "en+f2", "en+m7", "en+f4"]
SENTENCES = [
    "I think we should look at the numbers again before we decide.",
    "That sounds reasonable to me.",
    "The report is due on Friday, and we still need the figures from sales.",
    "Can you send me the draft by tomorrow morning?",
    "Sure, I will have it ready.",
    "We also have to talk about the budget for next year.",
    "Let us keep it short today.",
    "I agree with what was said about the timeline.",
    "Who is going to present the results to the board?",
    "Maybe we can split the work between the three teams.",
    "That will not be easy, but we can try.",
    "Thanks everyone, see you next week.",
]


def make_conversation(program: str, speakers: int, turns: int, rng: np.random.Generator):
    """Audio and the true (start, end, speaker) of every turn."""
    pieces = [np.zeros(int(0.5 * SAMPLE_RATE), np.float32)]
    truth = []
    at = 0.5
    previous = -1
    for _ in range(turns):
        who = int(rng.choice([s for s in range(speakers) if s != previous]))
        previous = who
        text = " ".join(rng.choice(SENTENCES, size=int(rng.integers(1, 3)), replace=False))
        spoken = say(program, text, VOICES[who], speed=int(rng.integers(150, 180)))
        truth.append((at, at + len(spoken) / SAMPLE_RATE, f"S{who}"))
        pause = float(rng.uniform(0.3, 0.9))
        pieces += [spoken, np.zeros(int(pause * SAMPLE_RATE), np.float32)]
        at += len(spoken) / SAMPLE_RATE + pause
    audio = np.concatenate(pieces)
    audio += rng.standard_normal(len(audio)).astype(np.float32) * 1e-3
    return audio, truth


BACKCHANNELS = ["yes", "mhm", "okay", "right", "yeah", "sure", "uh huh", "I see"]


def make_hard_conversation(program: str, speakers: int, turns: int, rng: np.random.Generator,
                           backchannel: float = 0.4, overlap: float = 0.25):
    """Audio and the true (start, end, speaker) of every turn and backchannel (they may overlap).

    Each turn lasts 1-5 s (words of SENTENCES from a random place, cut at the drawn length); after
    it, with probability `backchannel`, another voice says a 0.3-0.8 s backchannel, either over the
    turn's last seconds or in the pause; with probability `overlap` the next turn starts 0.2-0.6 s
    before the current one ends.
    """
    words = " ".join(SENTENCES).replace(",", "").replace(".", "").replace("?", "").split()
    events: list[tuple[float, np.ndarray, int]] = []
    at, previous = 0.5, -1
    for _ in range(turns):
        who = int(rng.choice([s for s in range(speakers) if s != previous]))
        length = float(rng.uniform(1.0, 5.0))
        first = int(rng.integers(len(words)))
        text = " ".join(words[(first + i) % len(words)] for i in range(int(length * 3) + 2))
        spoken = say(program, text, VOICES[who], speed=int(rng.integers(150, 180)))[: int(length * SAMPLE_RATE)]
        if events and previous >= 0 and rng.random() < overlap:
            at = max(events[-1][0] + 0.5, at - float(rng.uniform(0.2, 0.6)))
        events.append((at, spoken, who))
        end = at + len(spoken) / SAMPLE_RATE
        previous = who
        pause = float(rng.uniform(0.3, 0.9))
        if rng.random() < backchannel:
            other = int(rng.choice([s for s in range(speakers) if s != who]))
            short = say(program, str(rng.choice(BACKCHANNELS)), VOICES[other], speed=int(rng.integers(150, 180)))
            short = short[: int(float(rng.uniform(0.3, 0.8)) * SAMPLE_RATE)]
            over = end - at > 2.0 and rng.random() < 0.5
            start = end - float(rng.uniform(0.5, 1.5)) if over else end + 0.25
            events.append((start, short, other))
            if not over:
                end = start + len(short) / SAMPLE_RATE
                pause = max(pause, 0.3)
        at = end + pause
    total = int((max(s + len(x) / SAMPLE_RATE for s, x, _ in events) + 0.5) * SAMPLE_RATE)
    audio = np.zeros(total, np.float32)
    truth = []
    for start, spoken, who in sorted(events, key=lambda e: e[0]):
        first = int(round(start * SAMPLE_RATE))
        audio[first: first + len(spoken)] += spoken
        truth.append((first / SAMPLE_RATE, (first + len(spoken)) / SAMPLE_RATE, f"S{who}"))
    audio += rng.standard_normal(len(audio)).astype(np.float32) * 1e-3
    return audio, truth
