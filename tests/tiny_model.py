"""Build tiny random CTC checkpoints with the real models' structure, for tests and examples.

The default layout is voidful/wav2vec2-xlsr-multilingual-56's: Wav2Vec2ForCTC with stable layer
norm, a 7-layer conv front end of total stride 320, a Wav2Vec2CTCTokenizer whose [PAD] (id 0) is the
CTC blank and "|" the word delimiter, <s> and </s> inside the vocabulary, a feature extractor that
returns attention masks, and a lang_ids.pk in the real file's format (defaultdict of lists of numpy
int64). Other layouts that real checkpoints use (see LAYOUTS) change only the tokenizer files.
"""

from __future__ import annotations

import collections
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2Processor

SPECIAL = ["[PAD]", "<s>", "</s>", "[UNK]", "|"]
LATIN = list("abcdefghijklmnopqrstuvwxyz'")
GERMAN_EXTRA = list("äöüß")
CYRILLIC = list("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")
KANA = list("あいうえおかきくけこさしすせそ")
CHARACTERS = LATIN + GERMAN_EXTRA + CYRILLIC + KANA
VOCAB = SPECIAL + CHARACTERS
DELIMITER_ID = VOCAB.index("|")


def _upper(char: str) -> str:
    """Upper case where it is one character ("ß" stays: its upper case is "SS")."""
    return char.upper() if len(char.upper()) == 1 else char


# layout -> (vocab.json tokens in id order, tokenizer arguments)
LAYOUTS: dict[str, tuple[list[str], dict[str, str]]] = {
    # the 56-language model: specials first, <s> and </s> inside vocab.json
    "polyasr": (VOCAB, {"unk_token": "[UNK]", "pad_token": "[PAD]", "word_delimiter_token": "|"}),
    # what the Hugging Face XLSR fine-tuning recipe writes: characters, "|", then [UNK] and [PAD];
    # no <s>/</s> in vocab.json, so the tokenizer appends them after it (ids beyond the model's head)
    "xlsr-recipe": (CHARACTERS + ["|", "[UNK]", "[PAD]"], {"unk_token": "[UNK]", "pad_token": "[PAD]", "word_delimiter_token": "|"}),
    # a fairseq checkpoint converted to transformers (wav2vec2-base-960h): <pad> <s> </s> <unk> |, upper case
    "fairseq": (["<pad>", "<s>", "</s>", "<unk>", "|"] + [_upper(c) for c in CHARACTERS],
                {"unk_token": "<unk>", "pad_token": "<pad>", "word_delimiter_token": "|"}),
    # a tokenizer_config.json whose word delimiter and pad token are not polyasr's defaults
    "custom-delimiter": (["<s>", "</s>", "<unk>"] + CHARACTERS + ["_", "<blank>"],
                         {"unk_token": "<unk>", "pad_token": "<blank>", "word_delimiter_token": "_"}),
}


def layout_vocab(layout: str = "polyasr") -> list[str]:
    """The tokens of vocab.json, in id order, for a layout of LAYOUTS."""
    return LAYOUTS[layout][0]


def language_ids(layout: str = "polyasr") -> dict[str, list[int]]:
    """Token ids per language, as the real table lists them (the delimiter included)."""
    tokens, arguments = LAYOUTS[layout]
    spell = _upper if layout == "fairseq" else str
    ids = {token: i for i, token in enumerate(tokens)}
    delimiter = ids[arguments["word_delimiter_token"]]
    latin = [ids[spell(c)] for c in LATIN] + [delimiter]
    return {
        "en": latin,
        "de": latin + [ids[spell(c)] for c in GERMAN_EXTRA],
        "ru": [ids[spell(c)] for c in CYRILLIC] + [delimiter],
        "ja": [ids[spell(c)] for c in KANA],
        "rw": [],  # an empty table, as four languages of the real model have
    }


def build_tiny_model(
    folder: Path, seed: int = 0, head_scale: float = 30.0, live_tokens: str | None = None, layout: str = "polyasr",
) -> Path:
    """Save a tiny random checkpoint to `folder` and return it.

    `head_scale` multiplies the CTC head so that output distributions are peaked. `live_tokens`
    (e.g. "ab|") keeps only the blank and those tokens able to win: with few competitors the
    top-1/top-2 margins are wide, so bf16 or int8 rounding does not flip the argmax (random
    weights otherwise give margins that any rounding flips here and there). `layout` names the
    tokenizer layout (LAYOUTS); the model's head has exactly one class per vocab.json entry.
    """
    tokens, arguments = LAYOUTS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), **arguments)
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(folder)
    blank = tokens.index(arguments["pad_token"])
    config = Wav2Vec2Config(
        vocab_size=len(tokens),  # as the XLSR recipe sets it: len(vocab.json), not len(tokenizer)
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        feat_extract_norm="layer",
        conv_bias=True,  # as in wav2vec2-large-xlsr-53
        do_stable_layer_norm=True,
        pad_token_id=blank,
        ctc_loss_reduction="mean",
    )
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
        if live_tokens is not None:
            live = {blank} | {tokens.index(t) for t in live_tokens}
            model.lm_head.bias.copy_(torch.tensor([0.0 if i in live else -100.0 for i in range(len(tokens))]))
    model.save_pretrained(folder)
    table = collections.defaultdict(list)
    for code, ids in language_ids(layout).items():
        table[code] = [np.int64(i) for i in ids]
    with open(folder / "lang_ids.pk", "wb") as handle:
        pickle.dump(table, handle)
    return folder
