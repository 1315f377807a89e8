"""Options of the decoding strategies: greedy (the model card's) or beam search with an LM and hotwords."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import OptionsError

GREEDY = "greedy"
BEAM = "beam"
STRATEGIES = (GREEDY, BEAM)
# How a decoder's words are scored (output/timing.py): the product of their characters' scores when
# the acoustics alone chose them, the mean probability of their frames when an LM or hotwords did.
PRODUCT_SCORE = "product"
MEAN_SCORE = "mean"


@dataclass(frozen=True)
class Hotword:
    """A word (or phrase) the beam search favours while it is being spelled."""

    text: str  # spelled with the model's characters, e.g. "müller"; matched in lower case
    weight: float | None = None  # bonus in nats per matched character; None: BeamOptions.hotword_weight


@dataclass(frozen=True)
class BeamOptions:
    """CTC prefix beam search (ctc-beam-decoder, pyctcdecode's algorithm in C++) and what it fuses."""

    beam_size: int = 32  # hypotheses kept per frame
    lm: str | None = None  # ARPA (.arpa, .arpa.gz) or KenLM binary file, or a language_model/ folder
    checkpoint_lm: bool = True  # with lm=None, use the checkpoint's language_model/ folder if it ships one
    lm_weight: float | None = None  # alpha: weight of the LM's log-probability; None: attrs.json's, else 0.5
    word_score: float | None = None  # beta: bonus per word; None: attrs.json's, else 1.0
    unk_score_offset: float = -10.0  # added for a word the LM's vocabulary lacks
    hotwords: tuple[Hotword, ...] = ()  # favoured words (names, jargon)
    hotword_weight: float = 10.0  # weight of hotwords that name none
    token_min_logp: float = -5.0  # tokens below this log-probability in a frame are not extended
    beam_prune_logp: float = -10.0  # hypotheses this far below the best are dropped
    top_k: int = 16  # tokens kept per frame for the search (memory: frames x top_k x 8 bytes)
    pause_seconds: float = 0.8  # the search restarts (LM context included) after this much blank
    max_stretch_seconds: float = 30.0  # longest audio decoded as one search (bounds memory and time)

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise OptionsError(f"beam_size must be at least 1, not {self.beam_size}")
        if self.top_k < 1:
            raise OptionsError(f"top_k must be at least 1, not {self.top_k}")
        if not 0 < self.pause_seconds < self.max_stretch_seconds:
            raise OptionsError(
                f"pause_seconds ({self.pause_seconds}) must be positive and below max_stretch_seconds "
                f"({self.max_stretch_seconds})"
            )
        for word in self.hotwords:
            if not word.text.strip():
                raise OptionsError(f"hotwords holds an empty word ({word.text!r})")
            if word.weight is not None:
                check_hotword_weight(word.weight, f"hotword '{word.text}'")
        check_hotword_weight(self.hotword_weight, "hotword_weight")

    def hotword_groups(self) -> tuple[tuple[str, ...], float]:
        """The hotwords and the one weight the decoder applies to all of them (the largest given)."""
        if not self.hotwords:
            return (), self.hotword_weight
        weights = {self.hotword_weight if w.weight is None else w.weight for w in self.hotwords}
        return tuple(w.text for w in self.hotwords), max(weights)


@dataclass(frozen=True)
class DecoderOptions:
    """Which decoding strategy turns logits into text."""

    strategy: str = GREEDY  # "greedy": each frame's best token (the card's decoding); "beam": beam search
    beam: BeamOptions = field(default_factory=BeamOptions)  # used when strategy is "beam"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise OptionsError(f"unknown decoder '{self.strategy}': strategy must be one of {', '.join(STRATEGIES)}")


MAX_HOTWORD_WEIGHT = 100.0  # nats per matched character; larger weights only break the search (0.5-20 is typical)


def check_hotword_weight(weight: float, what: str) -> None:
    """OptionsError naming `what` unless `weight` is a finite number within +-MAX_HOTWORD_WEIGHT."""
    if not math.isfinite(weight) or abs(weight) > MAX_HOTWORD_WEIGHT:
        raise OptionsError(f"{what}: the weight must be a finite number between {-MAX_HOTWORD_WEIGHT:g} and "
                           f"{MAX_HOTWORD_WEIGHT:g}, not {weight:g}")


def parse_hotwords(text: str | None) -> tuple[Hotword, ...]:
    """"Müller,Zwickau:8" -> (Hotword("müller"), Hotword("zwickau", 8.0)); words are lower-cased.

    Commas or new lines separate entries; ":weight" at the end of an entry gives its weight.
    """
    words: list[Hotword] = []
    for entry in (text or "").replace("\n", ",").split(","):
        entry = entry.strip()
        if not entry:
            continue
        word, sep, weight = entry.rpartition(":")
        if not sep:
            word, weight = entry, ""
        value: float | None = None
        if weight.strip():
            try:
                value = float(weight)
            except ValueError:
                raise OptionsError(f"hotword '{entry}': the weight after ':' must be a number") from None
            check_hotword_weight(value, f"hotword '{entry}'")
        if not word.strip():
            raise OptionsError(f"hotword '{entry}' has no word before its weight")
        words.append(Hotword(" ".join(word.lower().split()), value))
    return tuple(words)
