"""What beam search and an n-gram LM gain over greedy decoding, and what they cost beside the model.

    apt-get install fortunes-de fortunes-es fortunes-it     # the text (real sentences, no internet)
    .venv/bin/python benchmarks/lm_gain.py                  # ~5 min on 2 cores (the full-size model is built once)
    .venv/bin/python benchmarks/lm_gain.py --model-rtf 0.07 # skip measuring the model

For German, Spanish and Italian: held-out sentences become simulated emissions
(`simulated_emissions.py`, a character confusion model over the real model's 9,910 classes); a
4-gram LM is built by polyasr's own `build_arpa` from the *other* sentences of the same
collection. Each utterance is decoded by polyasr's decoders (`DecoderCache.decoder(...)
.decode_logits`, the code transcribe uses: frame summary, language filter, search, alignment,
timestamps), restricted to the language: greedy, beam 32 without LM, beam 32 with the LM. WER and
CER (jiwer) side by side; decoding time per audio second against the model's own time per audio
second, measured here with the full-size architecture (random weights) through `polyasr.load`.
The LM weights are the defaults (alpha 0.5, beta 1.0), not tuned on these sentences.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

from simulated_emissions import ALPHABETS, EmissionOptions, SimulatedModel, read_sentences, simulate, split_sentences

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyasr.decoding import BeamOptions, DecoderCache, DecoderOptions, LmBuildOptions, build_arpa  # noqa: E402
from polyasr.language.table import LanguageTable  # noqa: E402
from polyasr.model.languages import language_target  # noqa: E402

FRAME_SECONDS = 0.02


def model_rtf(workdir: Path, seconds: float = 15.0, repeats: int = 3) -> tuple[float, str]:
    """Best-of-`repeats` real-time factor of the full-size model through polyasr.load (auto dtype)."""
    from bench_models import bench_signal, build_model

    import polyasr

    folder = workdir / "full-model"
    if not (folder / "COMPLETE").exists():
        build_model("full", folder)
    recognizer = polyasr.load(str(folder))
    audio = bench_signal(seconds)
    recognizer.transcribe(audio, sampling_rate=16_000)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        recognizer.transcribe(audio, sampling_rate=16_000)
        best = min(best, time.perf_counter() - start)
    return best / seconds, recognizer.model.describe()


def cpu_flags() -> str:
    flags = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return ", ".join(f for f in ("avx512_bf16", "amx_bf16", "avx512_vnni") if f in flags) or "none of avx512_bf16/amx_bf16/avx512_vnni"


def ngram_overlap(test: list[str], train: list[str], n: int = 4) -> float:
    """Share of the test sentences' word n-grams that occur in the training text (leakage check)."""
    seen = {tuple(s.split()[i : i + n]) for s in train for i in range(len(s.split()) - n + 1)}
    grams = [tuple(s.split()[i : i + n]) for s in test for i in range(len(s.split()) - n + 1)]
    return sum(g in seen for g in grams) / max(1, len(grams))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default="de,es,it")
    parser.add_argument("--sentences", type=int, default=200, help="held-out sentences per language")
    parser.add_argument("--beam-size", type=int, default=32)
    parser.add_argument("--model-rtf", type=float, default=None, help="the model's RTF, if already measured")
    parser.add_argument("--workdir", default="/tmp/polyasr-lm-gain")
    args = parser.parse_args()
    import jiwer

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"CPU flags: {cpu_flags()}")
    if args.model_rtf is None:
        rtf, path = model_rtf(workdir)
        print(f"model: full-size XLSR-53 architecture (random weights), {path}: RTF {rtf:.3f} on 15 s (best of 3)")
    else:
        rtf = args.model_rtf
        print(f"model: RTF {rtf:.3f} (given)")
    print()
    print("| language | test sentences (audio) | 4-gram overlap / OOV | decoder | WER | CER | rel. WER vs greedy | "
          "decode ms per audio s | share of model time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for language in args.languages.split(","):
        sentences = read_sentences(language)
        test, train = split_sentences(sentences, args.sentences, seed=0)
        simulated = SimulatedModel.for_letters(ALPHABETS[language])
        model = types.SimpleNamespace(
            vocabulary=simulated.vocabulary, name="simulated", frame_seconds=FRAME_SECONDS, adapters=None,
            single_language=None, language_table=LanguageTable.from_mapping({language: simulated.language_ids.tolist()}),
        )
        rng = np.random.default_rng(1)
        emissions = [simulate(s, simulated, rng, EmissionOptions()) for s in test]
        seconds = sum(len(e) for e in emissions) * FRAME_SECONDS
        vocabulary = {w for s in train for w in s.split()}
        oov = sum(w not in vocabulary for s in test for w in s.split()) / sum(len(s.split()) for s in test)
        overlap = ngram_overlap(test, train)
        with tempfile.TemporaryDirectory() as tmp:
            arpa = Path(tmp) / f"{language}.arpa"
            build_arpa(train, arpa, LmBuildOptions(order=4, language=language))
            cache = DecoderCache()
            rows = {
                "greedy": DecoderOptions("greedy"),
                f"beam {args.beam_size}": DecoderOptions("beam", BeamOptions(beam_size=args.beam_size)),
                f"beam {args.beam_size} + 4-gram LM": DecoderOptions("beam", BeamOptions(beam_size=args.beam_size, lm=str(arpa))),
            }
            baseline = None
            for name, options in rows.items():
                decoder = cache.decoder(language_target(model, language), options)
                decoder.decode_logits(emissions[0])  # warm-up: LM loaded, caches filled
                start = time.perf_counter()
                hyps = [decoder.decode_logits(e).text for e in emissions]
                took = time.perf_counter() - start
                wer, cer = jiwer.wer(test, hyps), jiwer.cer(test, hyps)
                baseline = wer if baseline is None else baseline
                ms = 1000 * took / seconds
                print(f"| {language} | {len(test)} ({seconds / 60:.1f} min) | {overlap:.0%} / {oov:.1%} | {name} | "
                      f"{100 * wer:.1f} | {100 * cer:.1f} | {100 * (baseline - wer) / baseline:+.0f} % | {ms:.1f} | "
                      f"{ms / (1000 * rtf):.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
