"""Diarization error rate and speed on synthetic conversations of 2-4 espeak-ng voices with known turns.

    flock /tmp/cpu.lock python benchmarks/diarization.py [--conversations 3] [--turns 12] [--collar 0.25]

Each conversation has 2, 3 or 4 speakers (espeak-ng voice variants, e.g. en+m3, en+f2), who take
`--turns` turns of one or two sentences in random order with 0.3-0.9 s pauses, so the true
speaker turns are known to the sample. Diarization runs as `rec.transcribe(..., diarization=DiarizationOptions())`
runs it (Silero VAD, GE2E embeddings, clustering, resegmentation), with the number of speakers
estimated (no bounds) and, separately, with it given. DER comes from pyannote.metrics
(`pip install 'polyasr[benchmarks]'`): (missed speech + false alarm + confusion) / speech,
with a forgiveness collar around each true boundary (0.25 s on each side by default, as in
many published results; --collar 0 for none). Speed: seconds of CPU time per hour of audio.

`--hard` makes the conversations harder (`make_hard_conversation`): turns of 1-5 s (cut from the
sentences' words), short backchannels (0.3-0.8 s "yes", "mhm", "okay" by another voice, half in the
pause after a turn and half over its speech) and overlaps (a turn starting 0.2-0.6 s before the
previous one ends). The true turns then overlap; pyannote counts overlapped speech the diarizer
gives one speaker as missed speech of the other (outside the collar).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conversations import make_conversation, make_hard_conversation  # noqa: E402
from speech import espeak_ng  # noqa: E402

from polyasr import SAMPLE_RATE  # noqa: E402
from polyasr.diarization import DiarizationOptions, Diarizer  # noqa: E402
from polyasr.diarization.encoder import SpeakerEncoder  # noqa: E402
from polyasr.audio.vad import SileroDetector  # noqa: E402

def der(truth, found, collar: float, duration: float, parts: dict | None = None) -> float:
    """DER with `collar` seconds forgiven on each side of a true boundary; `parts` gets its components (seconds)."""
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference, hypothesis = Annotation(), Annotation()
    for start, end, speaker in truth:
        reference[Segment(start, end)] = speaker
    for turn in found:
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    metric = DiarizationErrorRate(collar=2 * collar)  # pyannote's collar is the total width
    detail = metric(reference, hypothesis, uem=Timeline([Segment(0, duration)]), detailed=True)
    if parts is not None:
        parts.update({k: detail[k] for k in ("missed detection", "false alarm", "confusion", "total")})
    return float(detail["diarization error rate"])


def cpu_flags() -> str:
    try:
        flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "lscpu unavailable"
    wanted = ["avx512_bf16", "amx_bf16", "avx512_vnni", "avx2"]
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if line.startswith("Model name")), "?")
    return f"{model}; flags: {' '.join(f for f in wanted if f in flags) or 'none of ' + ','.join(wanted)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=3, help="per number of speakers (2, 3, 4)")
    parser.add_argument("--turns", type=int, default=12, help="turns per conversation")
    parser.add_argument("--collar", type=float, default=0.25, help="seconds forgiven on each side of a true boundary")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hard", action="store_true", help="1-5 s turns, backchannels and overlaps (make_hard_conversation)")
    parser.add_argument("--speaker-cost", type=float, default=DiarizationOptions.speaker_cost,
                        help="when the number of speakers is estimated: what one speaker more must gain (DiarizationOptions)")
    args = parser.parse_args()
    program, why = espeak_ng()
    if program is None:
        sys.exit(f"benchmark needs espeak-ng: {why}")
    import torch

    print(f"# {cpu_flags()}; torch threads {torch.get_num_threads()}; python {platform.python_version()}")
    options = DiarizationOptions(speaker_cost=args.speaker_cost)
    detector, encoder = SileroDetector(options.vad), SpeakerEncoder()
    rng = np.random.default_rng(args.seed)
    rows = []
    for speakers in (2, 3, 4):
        for _ in range(args.conversations):
            make = make_hard_conversation if args.hard else make_conversation
            audio, truth = make(program, speakers, args.turns, rng)
            seconds = len(audio) / SAMPLE_RATE
            for mode, opts in (("estimated", options),
                               ("given", replace(options, min_speakers=speakers, max_speakers=speakers))):
                diarizer = Diarizer(detector, opts, encoder)
                began, cpu = time.perf_counter(), time.process_time()
                found = diarizer(audio, SAMPLE_RATE)
                wall, used = time.perf_counter() - began, time.process_time() - cpu
                parts: dict = {}
                rows.append((speakers, mode, seconds, der(truth, found, args.collar, seconds, parts), len({t.speaker for t in found}), wall, used))
                print(f"{speakers} voices, {mode}: DER {100 * rows[-1][3]:.1f} % of {parts['total']:.1f} s speech: missed "
                      f"{parts['missed detection']:.2f} s, false alarm {parts['false alarm']:.2f} s, confusion "
                      f"{parts['confusion']:.2f} s; {rows[-1][4]} speakers found", flush=True)
    print(f"| speakers | number of speakers | conversations | audio (s) | DER (collar {args.collar:g} s) | speakers found | wall s per audio hour | CPU s per audio hour |")
    print("|---|---|---|---|---|---|---|---|")
    for speakers in (2, 3, 4):
        for mode in ("estimated", "given"):
            part = [r for r in rows if r[0] == speakers and r[1] == mode]
            audio_s = sum(r[2] for r in part)
            rate = sum(r[3] * r[2] for r in part) / audio_s  # DER weighted by duration
            found = ",".join(str(r[4]) for r in part)
            print(f"| {speakers} | {mode} | {len(part)} | {audio_s:.0f} | {100 * rate:.1f} % | {found} | "
                  f"{3600 * sum(r[5] for r in part) / audio_s:.0f} | {3600 * sum(r[6] for r in part) / audio_s:.0f} |")
    everything = sum(r[3] * r[2] for r in rows) / sum(r[2] for r in rows)
    print(f"\nDER over all conversations: {100 * everything:.1f} %")


if __name__ == "__main__":
    main()
