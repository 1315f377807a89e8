"""The character vocabulary of the CTC head: text to labels, extension with new characters and languages.

Extending keeps every existing token at its id and every existing row of the head bit-identical;
new characters get ids after the last row. A new row starts as the mean of the old rows with a
bias `NEW_ROW_MARGIN` below their mean bias, so its logit is the mean of the old logits minus
the margin: strictly below their maximum on every frame. Before training, the extended model
therefore chooses exactly the frames, and writes exactly the text, the base model did.

A base model without a CTC head gets a fresh vocabulary built from the training text.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from ..decoding.ctc import Vocabulary
from ..errors import ModelLoadError
from ..language.table import LanguageTable

NEW_ROW_MARGIN = 2.0  # new rows' bias below the mean old bias (any margin > 0 keeps the text)
FRESH_SPECIALS = ("[PAD]", "<s>", "</s>", "[UNK]", "|")  # blank first, as the 56-language model
FRESH = Vocabulary(tokens=FRESH_SPECIALS, blank_id=0, word_delimiter_id=4, hidden_ids=frozenset({0, 1, 2, 3}))


def character_ids(vocabulary: Vocabulary) -> dict[str, int]:
    """Character -> id for every token that text can contain (not special, not the delimiter)."""
    hidden = vocabulary.hidden_ids | {vocabulary.word_delimiter_id}
    return {t: i for i, t in enumerate(vocabulary.tokens) if t and i not in hidden}


def encode(text: str, vocabulary: Vocabulary, ids: Mapping[str, int] | None = None) -> tuple[list[int], list[str]]:
    """Labels of normalised text (a space becomes the delimiter), and the characters that have no id.

    `ids` is `character_ids(vocabulary)`, when the caller has it already.
    """
    lookup = character_ids(vocabulary) if ids is None else ids
    labels: list[int] = []
    missing: list[str] = []
    for char in text:
        if char == " " and vocabulary.word_delimiter_id is not None:
            labels.append(vocabulary.word_delimiter_id)
        elif char in lookup:
            labels.append(lookup[char])
        else:
            missing.append(char)
    return labels, missing


@dataclass(frozen=True)
class VocabularyPlan:
    """The vocabulary and language table training uses, and how they differ from the base's."""

    base: Vocabulary  # one token per class of the base's head ("" for classes without one)
    vocabulary: Vocabulary  # the base's, plus `added`
    added: tuple[str, ...]  # new characters, with ids len(base), len(base) + 1, ...
    table: LanguageTable  # the base's table, plus the data's languages and characters
    table_additions: Mapping[str, tuple[str, ...]]  # characters added to each language's table
    new_languages: tuple[str, ...]  # languages the base's table lacked


def plan_vocabulary(
    base: Vocabulary,
    base_table: LanguageTable | None,
    characters: Mapping[str, Counter[str]],
    extend: bool,
) -> VocabularyPlan:
    """Add the characters of each language's text (`characters`: language -> character counts).

    With `extend`, characters the base lacks become new tokens after every class of its head (most
    frequent first, then by code point); without, they stay missing. Each language's table gains
    the ids of its characters, and the delimiter where its text has spaces.
    """
    known = character_ids(base)
    totals: Counter[str] = Counter()
    for counts in characters.values():
        totals.update({c: n for c, n in counts.items() if c != " " and c not in known})
    added = tuple(sorted(totals, key=lambda c: (-totals[c], c))) if extend else ()
    vocabulary = Vocabulary(base.tokens + added, base.blank_id, base.word_delimiter_id, base.hidden_ids)
    ids = character_ids(vocabulary)
    old = dict(base_table.ids) if base_table is not None else {}
    table = {code: set(old.get(code, ())) for code in old}
    additions: dict[str, tuple[str, ...]] = {}
    for language, counts in sorted(characters.items()):
        wanted = {ids[c] for c in counts if c in ids}
        if " " in counts and base.word_delimiter_id is not None:
            wanted.add(base.word_delimiter_id)
        before = table.setdefault(language, set())
        additions[language] = tuple(vocabulary.tokens[i] for i in sorted(wanted - before))
        before |= wanted
    return VocabularyPlan(
        base=base,
        vocabulary=vocabulary,
        added=added,
        table=LanguageTable.from_mapping({code: sorted(i) for code, i in table.items()}),
        table_additions={k: v for k, v in additions.items() if v},
        new_languages=tuple(sorted(set(characters) - set(old))),
    )


def extend_ctc_head(model: Any, rows: int) -> None:
    """Grow the model's CTC head to `rows` classes; old rows are copied bit for bit (see module doc)."""
    head = model.lm_head
    old_rows = head.out_features
    if rows == old_rows:
        return
    if rows < old_rows:
        raise ValueError(f"cannot shrink a CTC head from {old_rows} to {rows} classes")
    grown = torch.nn.Linear(head.in_features, rows, bias=head.bias is not None, device=head.weight.device, dtype=head.weight.dtype)
    with torch.no_grad():
        grown.weight[:old_rows] = head.weight
        grown.weight[old_rows:] = head.weight.mean(dim=0)
        if head.bias is not None:
            grown.bias[:old_rows] = head.bias
            grown.bias[old_rows:] = head.bias.mean() - NEW_ROW_MARGIN
    model.lm_head = grown
    model.config.vocab_size = rows


def save_tokenizer(vocabulary: Vocabulary, folder: Path, base_tokenizer: Any | None) -> Any:
    """Write vocab.json and the tokenizer files for `vocabulary` into `folder`; return the tokenizer.

    Every token keeps its id (checked); the special tokens are the base tokenizer's, or those of a
    fresh vocabulary. Special tokens the base kept beyond its head (the <s> and </s> of the XLSR
    recipe's layout) are appended by the tokenizer again, beyond the new head.
    """
    from transformers import Wav2Vec2CTCTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(vocabulary.tokens) if token}
    path = folder / "vocab.json"
    path.write_text(json.dumps(vocab, ensure_ascii=False, indent=0), encoding="utf-8")
    if base_tokenizer is not None:
        names = ("bos_token", "eos_token", "unk_token", "pad_token", "word_delimiter_token")
        settings = {name: str(getattr(base_tokenizer, name)) for name in names if getattr(base_tokenizer, name, None)}
        settings["do_lower_case"] = bool(getattr(base_tokenizer, "do_lower_case", False))
    else:
        settings = dict(bos_token="<s>", eos_token="</s>", unk_token="[UNK]", pad_token="[PAD]", word_delimiter_token="|")
    tokenizer = Wav2Vec2CTCTokenizer(str(path), **settings)
    written = tokenizer.get_vocab()
    moved = [t for t, i in vocab.items() if written.get(t) != i]
    if moved:
        raise ModelLoadError(f"the tokenizer moved token(s) {moved[:5]} to other ids while saving the vocabulary")
    tokenizer.save_pretrained(str(folder))
    return tokenizer
