"""The accuracy report's `streaming` section (benchmarks/accuracy.py): what live decoding costs in CER.

- `streaming` / `offline`: CER of the long recordings (held-out clips joined by 0.3-0.7 s pauses)
  through StreamingSession with the default options, fed in 0.1 s pieces, and through transcribe.
- `sweep`: the same CER for other update intervals (`u`), left contexts (`c`) and lookaheads (`l`),
  with the compute each costs: `passes_seconds` = model input seconds per audio second (window
  length / update interval; the offline path runs ~1.0).
- `endpoint`: recordings of held-out clips joined by 1.0 s pauses, quiet (noise 1e-3) and noisy
  (white noise 15 dB below the speech): per pause, the audio time from the end of the speech to
  the first final after it that holds speech before it (`final_lag_*`, fed in 0.1 s pieces:
  compute time not counted),
  pauses without such a final within 1.5 s, and finals inside clips (`splits`: a clip cut in two).
- `beam_lm`: the long recordings' CER with beam search and the proxy's 3-gram LM (the `beam_lm`
  section's), streaming (default options: each update's window decoded by beam + LM) vs offline.
"""

from __future__ import annotations

import numpy as np

SR = 16_000
CHUNK = SR // 10
SWEEP = {  # name -> (update_seconds, context_seconds, lookahead_seconds)
    "u0.5_c2_l0.2": (0.5, 2.0, 0.2), "u0.5_c1_l0.2": (0.5, 1.0, 0.2), "u0.5_c4_l0.2": (0.5, 4.0, 0.2),
    "u0.5_c2_l0": (0.5, 2.0, 0.0), "u0.5_c2_l0.5": (0.5, 2.0, 0.5), "u0.25_c2_l0.2": (0.25, 2.0, 0.2),
    "u1_c2_l0.2": (1.0, 2.0, 0.2), "u1_c1_l0.2": (1.0, 1.0, 0.2), "u0.5_c0.5_l0.2": (0.5, 0.5, 0.2),
}


def stream_events(rec, audio: np.ndarray, language: str, options, decoder=None) -> list[tuple[float, object]]:
    """(audio seconds fed when it came, event) for every event of a stream fed in 0.1 s pieces (`decoder`:
    DecoderOptions, default greedy)."""
    from polyasr.decoding.options import DecoderOptions
    from polyasr.streaming import StreamingSession

    session = StreamingSession(rec, language=language, options=options, decoder=decoder or DecoderOptions())
    out = []
    for start in range(0, len(audio), CHUNK):
        out += [(min(start + CHUNK, len(audio)) / SR, e) for e in session.feed(audio[start: start + CHUNK])]
    return out + [(len(audio) / SR, e) for e in session.finish()]


def final_text(events) -> str:
    from polyasr.streaming.events import FinalEvent

    return " ".join(e.segment.text for _, e in events if isinstance(e, FinalEvent))


def section_streaming(rec, recordings, rows, cer, seed: int, lm_for=None) -> dict:
    """`lm_for(language)`: the path of that language's LM (the `beam_lm` part needs it; None leaves it out)."""
    from polyasr.streaming import StreamingOptions

    out: dict = {}
    offline = [cer([text], [rec.transcribe(audio, sampling_rate=SR, language=lang).text], lang) for lang, audio, text in recordings]
    live = [cer([text], [final_text(stream_events(rec, audio, lang, StreamingOptions()))], lang) for lang, audio, text in recordings]
    out["streaming"], out["offline"] = round(float(np.mean(live)), 2), round(float(np.mean(offline)), 2)
    sweep = {}
    for name, (update, context, lookahead) in SWEEP.items():
        options = StreamingOptions(update_seconds=update, context_seconds=context, lookahead_seconds=lookahead)
        rates = [cer([text], [final_text(stream_events(rec, audio, lang, options))], lang) for lang, audio, text in recordings]
        sweep[name] = {"cer": round(float(np.mean(rates)), 2), "passes_seconds": round((update + context + lookahead) / update, 1)}
    out["sweep"] = sweep
    out["endpoint"] = endpoint_check(rec, rows, seed)
    if lm_for is not None:
        out["beam_lm"] = beam_lm_check(rec, recordings, cer, lm_for)
    return out


def beam_lm_check(rec, recordings, cer, lm_for) -> dict:
    """CER of the long recordings with beam search + each language's LM: streaming vs offline, the same audio."""
    from polyasr import DecoderOptions
    from polyasr.decoding.options import BeamOptions
    from polyasr.streaming import StreamingOptions

    live, offline = [], []
    for lang, audio, text in recordings:
        decoder = DecoderOptions("beam", BeamOptions(lm=str(lm_for(lang))))
        offline.append(cer([text], [rec.transcribe(audio, sampling_rate=SR, language=lang, decoder=decoder).text], lang))
        live.append(cer([text], [final_text(stream_events(rec, audio, lang, StreamingOptions(), decoder))], lang))
    return {"streaming": round(float(np.mean(live)), 2), "offline": round(float(np.mean(offline)), 2)}


def paused_recording(rows, language: str, noise_db: float | None, seed: int) -> tuple[np.ndarray, list[float]]:
    """Held-out clips of `language` joined by 1.0 s pauses (noise 1e-3, or white noise `noise_db` below the
    speech); the times where each clip's speech ends."""
    from polyasr import load_audio

    rng = np.random.default_rng(seed)
    pieces, ends, position = [np.zeros(SR // 2, np.float32)], [], SR // 2
    for row in rows[language][:6]:
        clip = load_audio(row["path"])
        loud = np.flatnonzero(np.abs(clip) > 0.02 * np.abs(clip).max())
        ends.append((position + (loud[-1] if len(loud) else len(clip))) / SR)
        pieces += [clip, np.zeros(SR, np.float32)]
        position += len(clip) + SR
    audio = np.concatenate(pieces)
    if noise_db is None:
        return audio + rng.standard_normal(len(audio)).astype(np.float32) * 1e-3, ends
    speech_rms = float(np.sqrt(np.mean(np.concatenate(pieces[1::2]) ** 2)))
    return audio + rng.standard_normal(len(audio)).astype(np.float32) * speech_rms * 10 ** (-noise_db / 20), ends


def endpoint_check(rec, rows, seed: int) -> dict:
    from polyasr.streaming import StreamingOptions
    from polyasr.streaming.events import FinalEvent

    out = {}
    for label, noise in (("quiet", None), ("noisy_15db", 15.0)):
        lags, missed, splits = [], 0, 0
        for language in rows:
            audio, ends = paused_recording(rows, language, noise, seed)
            finals = [(t, e.segment) for t, e in stream_events(rec, audio, language, StreamingOptions()) if isinstance(e, FinalEvent)]
            for index, end in enumerate(ends):
                after = [t for t, segment in finals if t >= end and segment.start < end]  # the first final after the pause
                lag = (after[0] - end) if after else None
                if lag is None or lag > 1.5:
                    missed += 1
                if lag is not None:
                    lags.append(lag)
                start = ends[index - 1] + 0.5 if index else 0.5
                splits += sum(1 for t, segment in finals if start < segment.end < end - 0.4)
        out[label] = {"final_lag_median": round(float(np.median(lags)), 2), "final_lag_max": round(float(np.max(lags)), 2),
                      "pauses": sum(len(r[:6]) for r in rows.values()), "missed_1_5s": missed, "splits": splits}
    return out
