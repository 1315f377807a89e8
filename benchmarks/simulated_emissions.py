"""Real text and simulated CTC emissions, for the decoder benchmarks (not a test helper).

Text: Debian's fortune-cookie collections (`apt-get install fortunes-de fortunes-es fortunes-it`),
real quotations, jokes and proverbs, split into sentences and normalised with the language's own
normaliser (`polyasr.normalize_text`). No internet is needed.

Emissions: what a CTC model's logits look like for a sentence, made up from its characters by a
character confusion model, so that decoders can be compared on the same input:

* every character (and the word delimiter between words) gets one or two "peak" frames, followed
  by a few blank frames (about 13 characters per second, as in read speech);
* on a peak frame the true character leads (p ~ 0.9), the blank and a few of the language's other
  characters follow, and the rest of the 9,910 classes lie far below (logits ~14 lower);
* with probability `confusion` the character competes with an acoustically similar one (vowels
  among themselves, voiced/unvoiced pairs, nasals, liquids, letters with and without accent),
  whose logit is drawn around the true one's: the greedy choice is then wrong about half the time,
  but the true character stays the runner-up, as in a real model's near misses;
* with probability `deletion` the blank wins over the character (a swallowed letter), and word
  delimiters are sometimes missed (two words run together);
* some frames hand a few points to characters of other scripts (the model's 9,910 classes mostly
  belong to other languages), which language restriction must keep out.

This is a simulation, not speech: it says how much a decoder can repair near misses of the kind
described, not what a real model will gain. Its parameters are chosen so that greedy decoding
lands near the model card's CER for these languages (5-9 %).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyasr.decoding.ctc import Vocabulary  # noqa: E402
from polyasr.language.normalize import normalize_text  # noqa: E402

FORTUNES = Path("/usr/share/games/fortunes")
FULL_VOCAB = 9910  # classes of voidful/wav2vec2-xlsr-multilingual-56
ALPHABETS = {  # letters of each benchmark language (sentences with others, e.g. French quotations, are left out)
    "de": "abcdefghijklmnopqrstuvwxyzäöüß'",
    "es": "abcdefghijklmnopqrstuvwxyzáéíóúüñ",
    "it": "abcdefghijklmnopqrstuvwxyzàèéìíòóù'",
}
SPECIAL = ("[PAD]", "<s>", "</s>", "[UNK]", "|")

# Groups of characters a CTC model confuses: a confused character's rival is drawn from its groups.
CONFUSABLE = (
    "aeiouyäöüàèéìòùáíóúâêîôû", "ei", "ou", "aä", "oö", "uü", "eéèê", "aàá", "oòó", "iìí", "uùú",
    "bp", "dt", "gkc", "vfw", "szß", "mn", "lr", "jy", "hx", "qk", "cz", "ñn", "çcs",
)


def read_sentences(language: str, minimum_words: int = 4, maximum_words: int = 20) -> list[str]:
    """Normalised, de-duplicated sentences of the fortune collection of `language` (de, es, it)."""
    folder = FORTUNES / language
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: apt-get install fortunes-{language}")
    seen: dict[str, None] = {}
    allowed = set(ALPHABETS[language]) | {" "}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".dat", ".u8") or path.is_symlink() or not path.is_file() or path.name.endswith("-pre"):
            continue
        raw = path.read_bytes().decode("utf-8", errors="replace")
        for cookie in raw.split("\n%\n"):
            lines = [line for line in cookie.splitlines() if not line.strip().startswith("--")]
            for sentence in re.split(r"(?<=[.!?;:])\s+", " ".join(lines)):
                text = normalize_text(sentence, language)
                words = text.split()
                if minimum_words <= len(words) <= maximum_words and set(text) <= allowed:
                    seen.setdefault(text)
    return list(seen)


def split_sentences(sentences: list[str], test_count: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(held-out test sentences, the others): no sentence is in both."""
    order = np.random.default_rng(seed).permutation(len(sentences))
    test = [sentences[i] for i in order[:test_count]]
    held = set(test)
    return test, [sentences[i] for i in order[test_count:] if sentences[i] not in held]


@dataclass(frozen=True)
class SimulatedModel:
    """A vocabulary like the real model's: specials, the language's letters, then other scripts."""

    vocabulary: Vocabulary
    language_ids: np.ndarray  # the language's letters and the word delimiter, as a language table lists them

    @classmethod
    def for_letters(cls, letters: str, size: int = FULL_VOCAB) -> "SimulatedModel":
        own = sorted(set(letters) - {" "})
        accented = [c for c in "àáâãäåçèéêëìíîïñòóôõöùúûüýÿßæœøđłśźżčřšž" if c not in own]
        other = [chr(0x4E00 + i) for i in range(max(0, size - len(SPECIAL) - len(own) - len(accented)))]
        tokens = (*SPECIAL, *own, *accented, *other)[:size]
        vocabulary = Vocabulary(tokens=tokens, blank_id=0, word_delimiter_id=4, hidden_ids=frozenset({0, 1, 2, 3}))
        ids = np.array([4] + [tokens.index(c) for c in own], dtype=np.int64)
        return cls(vocabulary, np.sort(ids))


@dataclass(frozen=True)
class EmissionOptions:
    """How noisy the simulated model is."""

    confusion: float = 0.08  # share of characters that compete with a similar one
    rival_margin: float = 0.2  # mean (logit) lead of the rival over the true character when confused
    rival_spread: float = 1.0  # standard deviation of that lead
    deletion: float = 0.02  # share of characters the blank swallows
    missed_space: float = 0.04  # share of word delimiters the blank swallows
    foreign: float = 0.05  # share of peak frames where a character of another script comes close


def simulate(sentence: str, model: SimulatedModel, rng: np.random.Generator, options: EmissionOptions = EmissionOptions()) -> np.ndarray:
    """Logits (frames x vocabulary, float32) a CTC model could emit for `sentence`."""
    vocabulary = model.vocabulary
    index = {t: i for i, t in enumerate(vocabulary.tokens)}
    targets = [vocabulary.word_delimiter_id if c == " " else index[c] for c in sentence]
    own = model.language_ids[model.language_ids != vocabulary.word_delimiter_id]
    frames: list[np.ndarray] = []
    size = len(vocabulary)
    blank = vocabulary.blank_id

    def frame() -> np.ndarray:  # unrelated classes far below the peak, as a trained model's are
        return rng.normal(-4.0, 1.5, size).astype(np.float32)

    frames.append(_blank_frame(frame(), blank, rng))
    for target in targets:
        is_space = target == vocabulary.word_delimiter_id
        swallowed = rng.random() < (options.missed_space if is_space else options.deletion)
        rival, lead = None, rng.normal(options.rival_margin, options.rival_spread)
        if not is_space and rng.random() < options.confusion:
            rival = _rival(vocabulary.tokens[target], index, own, rng)
        for _ in range(1 + int(rng.random() < 0.3)):
            logits = frame()
            logits[target] = 10.0 + rng.normal(0, 0.5)
            logits[blank] = 6.0 + rng.normal(0, 1.0)
            logits[rng.choice(own, 2)] += 4.0
            if swallowed:
                logits[blank] = logits[target] + abs(rng.normal(0.8, 0.6))
            if rival is not None:
                logits[rival] = logits[target] + lead + rng.normal(0, 0.2)
            if rng.random() < options.foreign:
                logits[rng.integers(len(SPECIAL) + len(own), size)] = logits[target] - abs(rng.normal(0.3, 0.5))
            frames.append(logits)
        for _ in range(int(rng.geometric(0.55))):
            frames.append(_blank_frame(frame(), blank, rng))
    frames.append(_blank_frame(frame(), blank, rng))
    return np.stack(frames)


def _blank_frame(logits: np.ndarray, blank: int, rng: np.random.Generator) -> np.ndarray:
    logits[blank] = 10.0 + rng.normal(0, 0.5)
    return logits


def _rival(char: str, index: dict[str, int], own: np.ndarray, rng: np.random.Generator) -> int:
    """A character confusable with `char` (one of the language's own when the group has one)."""
    candidates = sorted({c for group in CONFUSABLE if char in group for c in group} - {char})
    known = [index[c] for c in candidates if c in index and index[c] in set(own.tolist())]
    if known:
        return int(rng.choice(known))
    return int(rng.choice(own))
