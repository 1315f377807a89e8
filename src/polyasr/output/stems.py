"""Output file names: the stem of one input (:func:`output_stem`) and distinct stems for several
inputs, so that no output replaces another (:func:`output_stems`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

__all__ = ["output_stem", "output_stems"]


def output_stem(source: str) -> str:
    """File name stem for an input: 'talk' for 'dir/talk.mp3', 'audio' for '<bytes>' and the like."""
    if source.startswith("<"):
        return "audio"
    return Path(source).stem or "audio"


def _stem_candidates(source: str) -> list[str]:
    """Ever longer names for an input: 'a', 'a.wav', 'd1_a', 'x_d1_a' (for 'x/d1/a.wav')."""
    if source.startswith("<"):
        return ["audio"]
    path = Path(source)
    folders = [part for part in path.parent.parts if part not in (path.anchor, ".", "..")]
    names = [output_stem(source), path.name or "audio"]
    names += ["_".join([*folders[-k:], output_stem(source)]) for k in range(1, len(folders) + 1)]
    return list(dict.fromkeys(names))


def output_stems(sources: list[str]) -> list[str]:
    """A distinct file stem for each input, so that one run never writes two outputs to one name.

    Each input gets its stem ('talk' for 'dir/talk.mp3'); inputs sharing one get their file names
    ('en.wav', 'en.mp3'), then their folders too ('d1_a', 'd2_a' for d1/a.wav and d2/a.wav); an
    input given twice gets '-2', '-3', ...
    """
    candidates = [_stem_candidates(source) for source in sources]
    level = [0] * len(sources)
    while True:
        chosen = [names[k] for names, k in zip(candidates, level)]
        counts = Counter(chosen)
        movable = [i for i, name in enumerate(chosen) if counts[name] > 1 and level[i] + 1 < len(candidates[i])]
        if not movable:
            break
        for i in movable:
            level[i] += 1
    seen: Counter[str] = Counter()
    stems = []
    for name in chosen:
        seen[name] += 1
        stems.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return stems
