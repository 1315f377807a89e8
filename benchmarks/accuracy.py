"""The accuracy report: the whole toolkit measured on a model and held-out synthetic speech.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/accuracy.py --model proxy/model --json accuracy.json
    .venv/bin/python benchmarks/accuracy.py --model proxy/model --json a.json --baseline benchmarks/accuracy_baseline.json
    .venv/bin/python benchmarks/accuracy.py ... --write-baseline benchmarks/accuracy_baseline.json

Data: the folder `benchmarks/proxy_model.py` wrote beside the model (`--data`, default <model>/../data):
held-out sentences (never in training; the first `--skip-dev` of each language, which chose the
best checkpoint, are left out), LM text (in neither) and the word lists. Sections of the JSON
report, each with what it measured:

- `cer`: CER per language (%), decoding restricted to the clip's language, and their macro mean.
- `lid_accuracy`: % of held-out clips whose identified language ("auto") is the spoken one.
- `windows`: CER of ~60 s recordings (held-out clips joined with 0.3-0.7 s pauses) decoded whole,
  with the default windows (15 s, 1.5 s context; before: 30 s, 3 s) and with others.
- `streaming`: CER of the same recordings through StreamingSession (fed in 0.1 s pieces) vs offline, a
  sweep of update intervals, contexts and lookaheads, the silence endpoints' final lag, and streaming
  vs offline with beam search + the `beam_lm` section's LM (benchmarks/streaming_accuracy.py).
- `beam_lm`: CER of greedy, beam (32) and beam + a 3-gram LM built from the LM text, on the held-out clips.
- `align_boundary_median_ms`: recordings of separately spoken words (espeak-ng, one call per word)
  with known offsets; `Recognizer.align` with the true text; median |found - true| of word starts and ends.
- `diarization_der`: conversations of 2, 3, 4 voices (turns of 1-5 s, benchmarks/diarization.py's),
  DER with a 0.25 s collar; and `word_speaker_error` (%): words of the proxy's transcript whose
  speaker (mapped to the true voice) is not the voice speaking at the word's middle; `hard_overall`
  and `hard_per_conversation`: DER of harder conversations (`--conversations` each of 2, 3, 4 voices:
  turns of 1-5 s, 0.3-0.8 s backchannels by another voice, overlapping turn changes; diarization.py --hard).
- `mixed_language`: recordings of three held-out clips in three different languages (0.5 s
  pauses), transcribed with `language="multi"`: the share of each clip's time whose segment has the
  clip's language (`language_accuracy`, %; segments hold words, so the clips' own leading and trailing
  silence caps it at `segment_coverage`, the share of clip time any segment covers), the share of the
  time segments cover that has the right language (`speech_language_accuracy`, %), recordings whose
  segments give the three languages in order
  (`order_correct`, %), and the CER of the whole text with "multi", with "detect" (one language for
  the recording) and with each clip decoded alone in its own language (`oracle`).
- `calibration`: word confidence (`Word.score`) against correctness (the word is an exact match
  in jiwer's alignment to the reference), in 5 bins, and the expected calibration error, for greedy
  decoding (the `cer` section's words) and, under `beam_lm`, for beam + LM (the `beam_lm` section's);
  with `--figure`, a reliability diagram (matplotlib).

Every value is computed, none assumed; a section that fails is reported with its error and the
run exits 1. Regressions: values worse than the baseline by more than the tolerances in `WORSE`;
with `--baseline`, a regression also makes the run exit 1 (after writing the report and the table).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from streaming_accuracy import section_streaming  # noqa: E402

SR = 16_000
# metric -> (direction, tolerance): "low" means lower is better; a change worse than the tolerance is a regression
WORSE = {"cer.macro": ("low", 1.0), "lid_accuracy": ("high", 1.0), "windows.default": ("low", 1.0),
         "streaming.streaming": ("low", 1.0), "beam_lm.beam_lm": ("low", 1.0),
         "align_boundary_median_ms": ("low", 10.0), "diarization_der.overall": ("low", 1.0),
         "diarization_der.hard_overall": ("low", 1.0),
         "diarization_der.word_speaker_error": ("low", 2.0), "calibration.ece": ("low", 0.02),
         "calibration.beam_lm.ece": ("low", 0.02), "mixed_language.language_accuracy": ("high", 2.0),
         "mixed_language.multi_cer": ("low", 1.0)}


def read_rows(data: Path, skip: int, per_language: int) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for line in (data / "heldout.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows.setdefault(row["language"], []).append({**row, "path": str(data / row["audio"])})
    return {lang: items[skip: skip + per_language] for lang, items in sorted(rows.items())}


def cer(references: list[str], hypotheses: list[str], language: str) -> float:
    from polyasr.evaluation.scoring import ScoredUtterance, score_language

    items = [ScoredUtterance(language, r, h, 1.0) for r, h in zip(references, hypotheses)]
    return round(score_language(language, items).cer, 2)


def section_cer(rec, rows) -> tuple[dict, list]:
    """CER per language (restricted decoding) and the words with scores for calibration."""
    out, scored = {}, []
    for lang, items in rows.items():
        results = rec.transcribe_batch([r["path"] for r in items], language=lang, word_timestamps=True)
        out[lang] = cer([r["text"] for r in items], [x.text for x in results], lang)
        scored += [(r["text"], x) for r, x in zip(items, results)]
    out["macro"] = round(float(np.mean([out[k] for k in rows])), 2)
    return out, scored


def section_lid(rec, rows) -> float:
    paths = [r["path"] for items in rows.values() for r in items]
    truth = [r["language"] for items in rows.values() for r in items]
    found = [x.language for x in rec.transcribe_batch(paths, language="auto")]
    return round(100 * float(np.mean([a == b for a, b in zip(found, truth)])), 2)


def long_recordings(rows, seconds: float, seed: int) -> list[tuple[str, np.ndarray, str]]:
    """Per language, one recording of at least `seconds` from held-out clips and 0.3-0.7 s pauses."""
    from polyasr import load_audio

    rng = np.random.default_rng(seed)
    made = []
    for lang, items in rows.items():
        pieces, texts, total = [np.zeros(SR // 2, np.float32)], [], 0.5
        for row in items:
            clip = load_audio(row["path"])
            pause = np.zeros(int(rng.uniform(0.3, 0.7) * SR), np.float32)
            pieces += [clip, pause]
            texts.append(row["text"])
            total += (len(clip) + len(pause)) / SR
            if total >= seconds:
                break
        audio = np.concatenate(pieces)
        made.append((lang, audio + rng.standard_normal(len(audio)).astype(np.float32) * 1e-3, " ".join(texts)))
    return made


def section_windows(rec, recordings) -> dict:
    from polyasr import WindowOptions

    configs = {"whole_file": WindowOptions(window_seconds=max(len(a) for _, a, _ in recordings) / SR + 1, context_seconds=0.0),
               "default": WindowOptions(), "w30_c3": WindowOptions(30.0, 3.0), "w20_c1": WindowOptions(20.0, 1.0),
               "w15_c1.5": WindowOptions(15.0, 1.5), "w15_c1": WindowOptions(15.0, 1.0), "w15_c0.5": WindowOptions(15.0, 0.5),
               "w10_c1": WindowOptions(10.0, 1.0), "w5_c0.5": WindowOptions(5.0, 0.5), "w10_c0": WindowOptions(10.0, 0.0)}
    out = {}
    for name, windows in configs.items():
        rates = [cer([text], [rec.transcribe(audio, sampling_rate=SR, language=lang, windows=windows).text], lang)
                 for lang, audio, text in recordings]
        out[name] = round(float(np.mean(rates)), 2)
    out["recording_seconds"] = round(float(np.mean([len(a) / SR for _, a, _ in recordings])), 1)
    return out


def proxy_lm(data: Path, work: Path, lang: str) -> Path:
    """The 3-gram LM of `lang` built from the proxy's LM text, written into `work`."""
    from polyasr.decoding.lm_build import LmBuildOptions, build_arpa

    arpa = work / f"{lang}.arpa"
    build_arpa(data / "lm" / f"{lang}.txt", arpa, LmBuildOptions(order=3, language=lang))
    return arpa


def section_beam_lm(rec, rows, data: Path, work: Path) -> tuple[dict, list]:
    """CER of greedy, beam and beam + LM, and beam + LM's words with scores for calibration."""
    from polyasr import DecoderOptions
    from polyasr.decoding.options import BeamOptions

    out: dict = {"greedy": [], "beam": [], "beam_lm": []}
    scored = []
    for lang, items in rows.items():
        arpa = proxy_lm(data, work, lang)
        paths, refs = [r["path"] for r in items], [r["text"] for r in items]
        for name, decoder in (("greedy", DecoderOptions()),
                              ("beam", DecoderOptions("beam", BeamOptions(checkpoint_lm=False))),
                              ("beam_lm", DecoderOptions("beam", BeamOptions(lm=str(arpa))))):
            results = rec.transcribe_batch(paths, language=lang, decoder=decoder, word_timestamps=name == "beam_lm")
            out[name].append(cer(refs, [x.text for x in results], lang))
            scored += list(zip(refs, results)) if name == "beam_lm" else []
    return {k: round(float(np.mean(v)), 2) for k, v in out.items()}, scored


def section_align(rec, data: Path, languages: list[str], per_language: int, seed: int) -> dict:
    """Recordings of words spoken one by one, joined with known gaps; aligned with the true text."""
    from speech import espeak_ng, say

    program, why = espeak_ng()
    if program is None:
        raise RuntimeError(f"needs espeak-ng: {why}")
    rng = random.Random(seed)
    errors: list[float] = []
    for lang in languages:
        words = (data / "words" / f"{lang}.txt").read_text(encoding="utf-8").split()
        for _ in range(per_language):
            chosen = [rng.choice(words) for _ in range(rng.randint(5, 8))]
            voice = lang + rng.choice(["", "+m3", "+f2"])
            pieces, truth, at = [np.zeros(int(0.4 * SR), np.float32)], [], 0.4
            for word in chosen:
                spoken = say(program, word, voice, speed=rng.randint(150, 190))
                truth.append((at, at + len(spoken) / SR))
                gap = rng.uniform(0.1, 0.4)
                pieces += [spoken, np.zeros(int(gap * SR), np.float32)]
                at += len(spoken) / SR + gap
            audio = np.concatenate(pieces)
            audio += np.random.default_rng(rng.randint(0, 10**6)).standard_normal(len(audio)).astype(np.float32) * 1e-3
            found = rec.align(audio, " ".join(chosen), sampling_rate=SR, language=lang).words
            if len(found) != len(truth):
                raise RuntimeError(f"{lang}: aligned {len(found)} words of {len(truth)}")
            errors += [abs(w.start - s) for w, (s, _) in zip(found, truth)]
            errors += [abs(w.end - e) for w, (_, e) in zip(found, truth)]
    return {"median_ms": round(1000 * float(np.median(errors)), 1), "p90_ms": round(1000 * float(np.quantile(errors, 0.9)), 1),
            "boundaries": len(errors)}


def section_diarization(rec, conversations: int, seed: int) -> dict:
    """DER of the diarizer and the word-level speaker error of the proxy's diarized transcript; and DER
    on harder conversations (1-5 s turns, backchannels, overlaps: benchmarks/diarization.py --hard)."""
    from conversations import make_conversation, make_hard_conversation
    from diarization import der
    from speech import espeak_ng

    from polyasr import DiarizationOptions

    program, _ = espeak_ng()
    rng = np.random.default_rng(seed)
    ders, seconds, words, wrong = [], [], 0, 0
    for speakers in (2, 3, 4):
        for _ in range(conversations):
            audio, truth = make_conversation(program, speakers, 10, rng)
            result = rec.transcribe(audio, sampling_rate=SR, language="en", word_timestamps=True,
                                    diarization=DiarizationOptions())
            duration = len(audio) / SR
            ders.append(der(truth, result.turns, 0.25, duration))
            seconds.append(duration)
            names = {}  # each found speaker -> the true voice it overlaps most
            for turn in result.turns:
                cover = {}
                for s, e, who in truth:
                    cover[who] = cover.get(who, 0.0) + max(0.0, min(e, turn.end) - max(s, turn.start))
                names.setdefault(turn.speaker, {})
                for who, c in cover.items():
                    names[turn.speaker][who] = names[turn.speaker].get(who, 0.0) + c
            mapping = {k: max(v, key=v.get) for k, v in names.items() if v}
            for word in result.words:
                middle = (word.start + word.end) / 2
                speaking = [who for s, e, who in truth if s <= middle <= e]
                if speaking:
                    words += 1
                    wrong += mapping.get(word.speaker) != speaking[0]
    overall = sum(d * s for d, s in zip(ders, seconds)) / sum(seconds)
    hard, hard_speech = [], []
    for speakers in (2, 3, 4):
        for _ in range(conversations):
            audio, truth = make_hard_conversation(program, speakers, 12, rng)
            turns = rec.transcribe(audio, sampling_rate=SR, language="en", diarization=DiarizationOptions()).turns
            parts: dict = {}
            hard.append((speakers, der(truth, turns, 0.25, len(audio) / SR, parts), len({t.speaker for t in turns})))
            hard_speech.append(parts["total"])
    hard_overall = sum(d * s for (_, d, _), s in zip(hard, hard_speech)) / sum(hard_speech)
    return {"overall": round(100 * overall, 2), "per_conversation": [round(100 * d, 2) for d in ders],
            "word_speaker_error": round(100 * wrong / max(words, 1), 2), "words": words,
            "hard_overall": round(100 * hard_overall, 2),
            "hard_per_conversation": [{"voices": k, "der": round(100 * d, 2), "speakers_found": n} for k, d, n in hard]}


def section_mixed_language(rec, rows, recordings: int, seed: int, languages: list[str] | None = None,
                           candidates: tuple[str, ...] | None = None) -> dict:
    """Three clips of three languages per recording; "multi" against "detect" and the clips alone.
    `languages`: the languages drawn from (default: all); `candidates`: given to "multi" and "detect"."""
    from polyasr import load_audio

    rng = random.Random(seed)
    languages = sorted(languages or rows)
    accuracy, in_order, exact, texts = [], 0, 0, {"multi": [], "detect": [], "oracle": []}
    spoken, ceiling = [], []  # right language in the time segments cover; time segments cover at all
    references = []
    for n in range(recordings):
        chosen = rng.sample(languages, 3)
        clips = [rows[lang][(n + i) % len(rows[lang])] for i, lang in enumerate(chosen)]
        pieces, truth, at = [np.zeros(SR // 2, np.float32)], [], 0.5
        for lang, clip in zip(chosen, clips):
            audio = load_audio(clip["path"])
            truth.append((lang, at, at + len(audio) / SR))
            pieces += [audio, np.zeros(SR // 2, np.float32)]
            at += len(audio) / SR + 0.5
        audio = np.concatenate(pieces)
        multi = rec.transcribe(audio, sampling_rate=SR, language="multi", language_candidates=candidates)
        for lang, start, end in truth:
            right = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in multi.segments if s.language == lang)
            accuracy.append(min(1.0, right / (end - start)))
            covered = sum(max(0.0, min(end, s.end) - max(start, s.start)) for s in multi.segments)
            spoken.append(min(1.0, right / covered) if covered > 0 else 0.0)
            ceiling.append(min(1.0, covered / (end - start)))
        order = [s.language for s in multi.segments if s.text.strip()]
        order = [code for i, code in enumerate(order) if i == 0 or code != order[i - 1]]
        in_order += order == chosen
        exact += [s.language for s in multi.segments if s.text.strip()] == chosen  # three segments, right languages
        references.append(" ".join(c["text"] for c in clips))
        texts["multi"].append(multi.text)
        texts["detect"].append(rec.transcribe(audio, sampling_rate=SR, language="detect",
                                             language_candidates=candidates).text)
        texts["oracle"].append(" ".join(rec.transcribe(c["path"], language=lang).text for lang, c in zip(chosen, clips)))
    out = {"recordings": recordings, "language_accuracy": round(100 * float(np.mean(accuracy)), 2),
           "speech_language_accuracy": round(100 * float(np.mean(spoken)), 2),
           "segment_coverage": round(100 * float(np.mean(ceiling)), 2),
           "order_correct": round(100 * in_order / recordings, 2),
           "three_segments_correct": round(100 * exact / recordings, 2)}
    for name, hyps in texts.items():
        out[f"{name}_cer"] = cer(references, hyps, "und")
    return out


def section_calibration(scored, scored_lm, figure: Path | None) -> dict:
    """Greedy's calibration, with beam + LM's under "beam_lm" (when that section ran)."""
    out = calibration(scored, figure)
    if scored_lm:
        out["beam_lm"] = calibration(scored_lm, None)
    return out


def calibration(scored, figure: Path | None) -> dict:
    import jiwer

    from polyasr import normalize_text

    scores, correct = [], []
    for reference, result in scored:
        hyp_words = [w for w in result.words if normalize_text(w.word, result.language)]
        hyp = [normalize_text(w.word, result.language) for w in hyp_words]
        ref = normalize_text(reference, result.language).split()
        if not hyp or not ref:
            continue
        ok = [False] * len(hyp)
        for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
            if chunk.type == "equal":
                for i in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                    ok[i] = True
        scores += [w.score for w in hyp_words]
        correct += ok
    if not scores:
        raise RuntimeError("no transcribed words to calibrate")
    s, c = np.array(scores), np.array(correct, float)
    bins = []
    ece = 0.0
    for low in np.arange(0, 1, 0.2):
        inside = (s >= low) & (s < low + 0.2 if low < 0.8 else s <= 1.0)
        if inside.any():
            bins.append({"range": [round(float(low), 1), round(float(low) + 0.2, 1)], "words": int(inside.sum()),
                         "mean_score": round(float(s[inside].mean()), 3), "accuracy": round(float(c[inside].mean()), 3)})
            ece += inside.mean() * abs(s[inside].mean() - c[inside].mean())
    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], "k:", label="calibrated")
        ax.plot([b["mean_score"] for b in bins], [b["accuracy"] for b in bins], "o-", label="proxy model")
        ax.set_xlabel("word score (mean per bin)")
        ax.set_ylabel("fraction of words correct")
        ax.legend()
        fig.tight_layout()
        fig.savefig(figure, dpi=100)
    return {"words": int(len(s)), "ece": round(float(ece), 4), "bins": bins}


def flatten(report: dict) -> dict[str, float]:
    flat = {}
    for key in WORSE:
        value = report
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (int, float)):
            flat[key] = float(value)
    return flat


def regressions(report: dict, baseline: dict) -> list[str]:
    now, before = flatten(report), flatten(baseline)
    lines = []
    for key, (direction, tolerance) in WORSE.items():
        if key in now and key in before:
            change = now[key] - before[key]
            worse = change > tolerance if direction == "low" else -change > tolerance
            lines.append(f"| {key} | {before[key]:g} | {now[key]:g} | {change:+.2f} | {'REGRESSION' if worse else 'ok'} |")
        elif key in now:
            lines.append(f"| {key} | (not in the baseline) | {now[key]:g} | | new |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--json", required=True, help="the report")
    parser.add_argument("--data", help="proxy data folder (default: <model>/../data)")
    parser.add_argument("--per-language", type=int, default=40, help="held-out clips per language")
    parser.add_argument("--skip-dev", type=int, default=12, help="first held-out clips per language (the dev set) left out")
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--align-recordings", type=int, default=4, help="per language")
    parser.add_argument("--conversations", type=int, default=1, help="per number of speakers (2, 3, 4)")
    parser.add_argument("--mixed-recordings", type=int, default=32, help="recordings of three languages each")
    parser.add_argument("--mixed-languages", help="comma-separated languages the mixed recordings draw from (default: all)")
    parser.add_argument("--candidates", help="comma-separated languages \"multi\" and \"detect\" choose among")
    parser.add_argument("--sections", default="cer,lid_accuracy,windows,streaming,beam_lm,align,diarization,mixed_language,"
                                              "calibration")
    parser.add_argument("--baseline", help="an earlier report: regressions are shown against it")
    parser.add_argument("--write-baseline", help="also write the report here")
    parser.add_argument("--figure", help="reliability diagram PNG (needs matplotlib)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import polyasr

    model = Path(args.model)
    data = Path(args.data) if args.data else model.resolve().parent / "data"
    rec = polyasr.load(str(model), device="cpu", dtype="fp32")
    rows = read_rows(data, args.skip_dev, args.per_language)
    wanted = set(args.sections.split(","))
    report: dict = {"model": str(model), "data": str(data), "clips_per_language": {k: len(v) for k, v in rows.items()},
                    "seconds": {}}
    failed = []
    work = Path(args.json).resolve().parent / "accuracy-work"
    work.mkdir(parents=True, exist_ok=True)
    scored: list = []
    scored_lm: list = []
    recordings = long_recordings(rows, args.long_seconds, args.seed) if wanted & {"windows", "streaming"} else []
    jobs = {
        "cer": lambda: section_cer(rec, rows),
        "lid_accuracy": lambda: section_lid(rec, rows),
        "windows": lambda: section_windows(rec, recordings),
        "streaming": lambda: section_streaming(rec, recordings, rows, cer, args.seed, lambda lang: proxy_lm(data, work, lang)),
        "beam_lm": lambda: section_beam_lm(rec, rows, data, work),
        "align": lambda: section_align(rec, data, list(rows), args.align_recordings, args.seed),
        "diarization": lambda: section_diarization(rec, args.conversations, args.seed),
        "mixed_language": lambda: section_mixed_language(
            rec, rows, args.mixed_recordings, args.seed, args.mixed_languages.split(",") if args.mixed_languages else None,
            tuple(args.candidates.split(",")) if args.candidates else None),
        "calibration": lambda: section_calibration(scored, scored_lm, Path(args.figure) if args.figure else None),
    }
    for name, job in jobs.items():
        if name not in wanted:
            continue
        began = time.monotonic()
        try:
            value = job()
        except Exception as error:  # a failing section is reported, the others still run
            failed.append(name)
            report[name] = {"error": f"{type(error).__name__}: {error}"}
            print(f"{name}: FAILED: {error}", flush=True)
            continue
        if name == "cer":
            value, scored = value
        if name == "beam_lm":
            value, scored_lm = value
        key = {"align": "align_boundary_median_ms", "diarization": "diarization_der"}.get(name, name)
        if name == "align":
            report["align_boundary"] = value
            value = value["median_ms"]
        report[key] = value
        report["seconds"][name] = round(time.monotonic() - began, 1)
        print(f"{key}: {json.dumps(value)} ({report['seconds'][name]:.0f} s)", flush=True)
    numbers = [v for v in flatten(report).values()]
    report["all_finite"] = all(math.isfinite(v) for v in numbers) and not failed
    Path(args.json).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.write_baseline:
        Path(args.write_baseline).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n| metric | value |\n|---|---|")
    for key, value in flatten(report).items():
        print(f"| {key} | {value:g} |")
    regressed = []
    if args.baseline:
        lines = regressions(report, json.loads(Path(args.baseline).read_text(encoding="utf-8")))
        print("\n| metric | baseline | now | change | |\n|---|---|---|---|---|")
        print("\n".join(lines))
        regressed = [line.split(" | ")[0].strip("| ") for line in lines if line.endswith("| REGRESSION |")]
        if regressed:
            print(f"regressions against {args.baseline}: {', '.join(regressed)}", file=sys.stderr)
    return 1 if failed or not report["all_finite"] or regressed else 0


if __name__ == "__main__":
    sys.exit(main())
