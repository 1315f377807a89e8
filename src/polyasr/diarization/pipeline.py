"""Who spoke when: speech regions -> speaker embeddings on sliding windows -> clusters -> turns.

1. Speech regions come from the voice activity detector (Silero, as `--vad` uses).
2. Every region is cut into 1.6 s excerpts (the encoder's training length) every `step_seconds`;
   a shorter region is one zero-padded excerpt. Quiet audio is first raised to -30 dBFS.
3. Each excerpt gets a GE2E embedding (`Diarizer.excerpts`); `Diarizer.turns` does the rest.
4. The excerpts are over-clustered (at OVERCLUSTER_THRESHOLD, so two similar voices stay apart) and
   resegmented (resegment.py: a Viterbi path over the centroids, surplus clusters dropped, centroids
   re-estimated from excerpts that straddle no change) to K speakers: the K given
   (min_speakers == max_speakers), else every K in [min_speakers, max_speakers or MAX_ESTIMATED]
   and the one with the best penalised fit (resegment.best_count: mean frame similarity minus
   speaker_cost * K / sqrt(frames)). Measured on benchmarks/diarization.py --hard this took the
   estimated count from 7-24 % DER to <= 4.2 % on seeds 0 and 1 (docs/diarization.md).
5. Under MIN_SELECTION_FRAMES of speech (20 s), too little to choose among counts, the number is
   estimated as before: agglomerative clustering stops at `threshold`; each 10 ms frame takes the
   speaker whose centroid its covering excerpts resemble most; a "speaker" heard only in runs
   shorter than one excerpt, each between two different speakers, is a blend of them and is dropped.
Either way, turns shorter than `min_turn_seconds` join their longer neighbour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..audio.decode import SAMPLE_RATE, load_audio
from ..audio.sources import AudioInput
from ..audio.vad import SpeechDetector, merge_regions
from ..results import SpeakerTurn
from .clustering import cluster_speakers
from .options import DiarizationOptions
from .resegment import best_count
from .encoder import PARTIAL_FRAMES, SpeakerEncoder
from .features import HOP, mel_frames, raise_volume

FRAME_SECONDS = HOP / SAMPLE_RATE  # 10 ms mel frames
OVERCLUSTER_THRESHOLD = 0.15  # first clusters: more than the speakers (two similar voices stay apart); resegmentation drops the surplus
MAX_ESTIMATED = 8  # with no --max-speakers, at most this many speakers are tried
MIN_SELECTION_FRAMES = 2000  # with less speech (20 s), the number of speakers is estimated by threshold and voting


class Diarizer:
    """Finds speaker turns in audio. Loads the speaker encoder once; `detector` finds speech."""

    def __init__(self, detector: SpeechDetector, options: DiarizationOptions = DiarizationOptions(),
                 encoder: SpeakerEncoder | None = None) -> None:
        self.options = options
        self.detector = detector
        self.encoder = encoder or SpeakerEncoder()

    def __call__(self, audio: AudioInput, sampling_rate: int | None = None) -> list[SpeakerTurn]:
        """The speaker turns of one input, in time order."""
        excerpts = self.excerpts(load_audio(audio, sampling_rate))
        return self.turns(excerpts) if excerpts is not None else []

    def excerpts(self, samples: np.ndarray) -> Excerpts | None:
        """Speech regions of 16 kHz `samples` and the GE2E embedding of every excerpt (None: no speech)."""
        regions = merge_regions(self.detector(samples), min_gap=1)
        if not regions:
            return None
        speech = np.concatenate([samples[a:b] for a, b in regions])
        gain = float(np.max(np.abs(raise_volume(speech)))) / max(float(np.max(np.abs(speech))), 1e-12)
        step = max(1, round(self.options.step_seconds / FRAME_SECONDS))
        mels, owners, spans = [], [], []
        for index, (a, b) in enumerate(regions):
            mel = mel_frames(samples[a:b] * gain)
            for start in _starts(len(mel), step):
                piece = mel[start : start + PARTIAL_FRAMES]
                mels.append(np.pad(piece, ((0, PARTIAL_FRAMES - len(piece)), (0, 0))))
                owners.append(index)
                spans.append((start, start + len(piece)))
        return Excerpts(regions, self.encoder.embed(np.stack(mels)), owners, spans)

    def turns(self, excerpts: Excerpts) -> list[SpeakerTurn]:
        """Speaker turns from embedded excerpts (see the module's steps)."""
        o, (regions, embeddings, owners, spans) = self.options, excerpts.parts()
        low = o.min_speakers or 1
        high = o.max_speakers if o.max_speakers is not None else max(low, MAX_ESTIMATED)
        lengths = [max(1, round((b - a) / HOP)) for a, b in regions]
        given = o.min_speakers is not None and o.min_speakers == o.max_speakers
        if not given and sum(lengths) < MIN_SELECTION_FRAMES:  # too little speech to choose among counts
            labels = cluster_speakers(embeddings, low, o.max_speakers, o.threshold)
            return _voted_turns(regions, embeddings, labels, owners, spans, o.min_turn_seconds, low)
        labels = cluster_speakers(embeddings, low, None, OVERCLUSTER_THRESHOLD)
        paths = best_count(lengths, embeddings, owners, spans, labels, low, high, o.speaker_cost)
        runs: list[tuple[float, float, int]] = []
        for (a, _), path in zip(regions, paths):
            change = np.flatnonzero(np.diff(path)) + 1
            for s, e in zip(np.r_[0, change], np.r_[change, len(path)]):
                runs.append((a / SAMPLE_RATE + s * FRAME_SECONDS, a / SAMPLE_RATE + e * FRAME_SECONDS, int(path[s])))
        runs = _absorb_short(runs, o.min_turn_seconds)
        return [SpeakerTurn(round(float(s), 3), round(float(e), 3), f"SPEAKER_{k:02d}") for s, e, k in _renumber(runs)]


@dataclass(frozen=True)
class Excerpts:
    """Speech regions (sample ranges) and their embedded 1.6 s excerpts: owner region and mel-frame span of each."""

    regions: list[tuple[int, int]]
    embeddings: np.ndarray  # (excerpts, 256), unit length
    owners: list[int]
    spans: list[tuple[int, int]]

    def parts(self) -> tuple[list[tuple[int, int]], np.ndarray, list[int], list[tuple[int, int]]]:
        """(regions, embeddings, owners, spans)."""
        return self.regions, self.embeddings, self.owners, self.spans


def _starts(frames: int, step: int) -> list[int]:
    """Excerpt starts covering `frames` mel frames: every `step`, the last one ending at the end."""
    if frames <= PARTIAL_FRAMES:
        return [0]
    starts = list(range(0, frames - PARTIAL_FRAMES, step))
    return starts + [frames - PARTIAL_FRAMES]


def _voted_turns(
    regions: list[tuple[int, int]], embeddings: np.ndarray, labels: np.ndarray, owners: list[int],
    spans: list[tuple[int, int]], min_turn_seconds: float, min_speakers: int = 1,
) -> list[SpeakerTurn]:
    """Frame-level speakers from the excerpts that cover each frame, joined into turns."""
    speakers = int(labels.max()) + 1
    centroids = np.stack([embeddings[labels == k].mean(axis=0) for k in range(speakers)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    similarity = embeddings @ centroids.T  # (excerpts, speakers)
    runs = _frame_runs(regions, similarity, owners, spans)
    blends = _blends(runs, speakers)
    if blends and speakers - len(blends) >= min_speakers:
        kept = [k for k in range(speakers) if k not in blends]
        runs = [(s, e, kept[k]) for s, e, k in _frame_runs(regions, similarity[:, kept], owners, spans)]
    runs = _absorb_short(runs, min_turn_seconds)
    return [SpeakerTurn(round(float(s), 3), round(float(e), 3), f"SPEAKER_{k:02d}") for s, e, k in _renumber(runs)]


def _frame_runs(
    regions: list[tuple[int, int]], similarity: np.ndarray, owners: list[int], spans: list[tuple[int, int]],
) -> list[tuple[float, float, int]]:
    """(start, end, speaker column) runs of 10 ms frames, each frame to the speaker its excerpts resemble most."""
    runs: list[tuple[float, float, int]] = []
    for index, (a, b) in enumerate(regions):
        frames = max(1, round((b - a) / HOP))
        votes = np.zeros((frames, similarity.shape[1]))
        for row in (i for i, owner in enumerate(owners) if owner == index):
            start, end = spans[row]
            votes[start:min(end, frames)] += similarity[row]
        best = votes.argmax(axis=1)
        change = np.flatnonzero(np.diff(best)) + 1
        for s, e in zip(np.r_[0, change], np.r_[change, frames]):
            runs.append((a / SAMPLE_RATE + s * FRAME_SECONDS, a / SAMPLE_RATE + e * FRAME_SECONDS, int(best[s])))
    return runs


def _blends(runs: list[tuple[float, float, int]], speakers: int) -> set[int]:
    """Speakers heard only in runs shorter than one excerpt, each between two different speakers."""
    if speakers < 3:
        return set()
    excerpt = PARTIAL_FRAMES * FRAME_SECONDS
    merged = _merge_same(runs)
    blends = set()
    for k in range(speakers):
        places = [i for i, run in enumerate(merged) if run[2] == k]
        if places and all(
            0 < i < len(merged) - 1 and merged[i][1] - merged[i][0] < excerpt
            and len({merged[i - 1][2], merged[i + 1][2]} - {k}) == 2
            for i in places
        ):
            blends.add(k)
    return blends


def _absorb_short(runs: list[tuple[float, float, int]], min_seconds: float) -> list[tuple[float, float, int]]:
    """Runs shorter than `min_seconds` take the speaker of their longer neighbour; equal neighbours merge."""
    runs = list(runs)
    while len(runs) > 1:
        short = [i for i, (s, e, _) in enumerate(runs) if e - s < min_seconds]
        if not short:
            break
        i = min(short, key=lambda j: runs[j][1] - runs[j][0])
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        j = max(neighbours, key=lambda n: runs[n][1] - runs[n][0])
        runs[i] = (runs[i][0], runs[i][1], runs[j][2])
        runs = _merge_same(runs)
    return _merge_same(runs)


def _merge_same(runs: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Adjacent runs of one speaker with no more than 0.5 s between them become one."""
    merged: list[tuple[float, float, int]] = []
    for s, e, k in runs:
        if merged and merged[-1][2] == k and s - merged[-1][1] <= 0.5:
            merged[-1] = (merged[-1][0], e, k)
        else:
            merged.append((s, e, k))
    return merged


def _renumber(runs: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Speakers numbered by first appearance, after short turns were absorbed."""
    order: dict[int, int] = {}
    for _, _, k in runs:
        order.setdefault(k, len(order))
    return [(s, e, order[k]) for s, e, k in runs]
