"""Models and measurements shared by the benchmarks (not a test helper: tests build their own).

The full-size model is the XLSR-53 large architecture of voidful/wav2vec2-xlsr-multilingual-56 with
random weights: its speed and memory are those of the real model, its outputs are not.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FULL_VOCAB = 9910  # classes of voidful/wav2vec2-xlsr-multilingual-56


def peak_rss_mib() -> float:
    """This process's peak resident set size so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def build_model(kind: str, folder: Path) -> None:
    """Save the tiny test checkpoint, or the full XLSR-53 large architecture with random weights."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_model import VOCAB, build_tiny_model

    build_tiny_model(folder)  # processor files and lang_ids.pk; the full model replaces vocab and weights
    if kind == "full":
        extra = [chr(0x4E00 + i) for i in range(FULL_VOCAB - len(VOCAB))]  # CJK, as most of the real vocab
        (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB + extra)}, ensure_ascii=False))
        Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="[UNK]", pad_token="[PAD]",
                             word_delimiter_token="|").save_pretrained(folder)
        config = Wav2Vec2Config(
            vocab_size=FULL_VOCAB, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
            intermediate_size=4096, conv_dim=(512,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2),
            conv_kernel=(10, 3, 3, 3, 3, 2, 2), feat_extract_norm="layer", do_stable_layer_norm=True,
            conv_bias=True, num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16, pad_token_id=0,
        )
        torch.manual_seed(0)
        model = Wav2Vec2ForCTC(config).eval()
        model.save_pretrained(folder)
    (folder / "COMPLETE").touch()



def bench_signal(seconds: float, seed: int = 0, rate: int = 16_000) -> np.ndarray:
    """Deterministic audio-like test signal: noise and tones with a slowly varying level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    level = 0.2 + 0.15 * np.sin(2 * np.pi * 0.3 * t)
    tones = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(150, 2500, 3)) / 3
    return (level * (0.5 * tones + 0.5 * rng.standard_normal(t.size))).astype(np.float32)


def alternating_rtf(runs: dict[str, Callable[[], object]], seconds: float, repeats: int) -> str:
    """Each of `runs` (one call each over `seconds` of audio) timed in turn, `repeats` rounds, in one
    process, so this machine's drift stays out of the comparison: "RTF a 0.1 (runs ...), b ...: a / b 1.2"
    (the median RTF of each, its runs, and the first's over the second's)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / seconds)
    rtf = {name: statistics.median(values) for name, values in times.items()}
    first, second = list(runs)[:2]
    return ("RTF " + ", ".join(f"{name} {rtf[name]:.4f} (runs {', '.join(f'{t:.4f}' for t in times[name])})" for name in runs)
            + f": {first} / {second} {rtf[first] / rtf[second]:.2f}")

