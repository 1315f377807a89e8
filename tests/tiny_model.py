"""Build a tiny random wav2vec2 CTC checkpoint with the real model's structure, for tests and examples.

Same layout as voidful/wav2vec2-xlsr-multilingual-56: Wav2Vec2ForCTC with stable layer norm, a
7-layer conv front end of total stride 320, a Wav2Vec2CTCTokenizer whose [PAD] (id 0) is the CTC
blank and "|" the word delimiter, a feature extractor that returns attention masks, and a lang_ids.pk
in the real file's format (defaultdict of lists of numpy int64).
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
VOCAB = SPECIAL + LATIN + GERMAN_EXTRA + CYRILLIC + KANA
DELIMITER_ID = VOCAB.index("|")


def language_ids() -> dict[str, list[int]]:
    """Token ids per language, as the real table lists them (the delimiter included)."""
    ids = {token: i for i, token in enumerate(VOCAB)}
    latin = [ids[c] for c in LATIN] + [DELIMITER_ID]
    return {
        "en": latin,
        "de": latin + [ids[c] for c in GERMAN_EXTRA],
        "ru": [ids[c] for c in CYRILLIC] + [DELIMITER_ID],
        "ja": [ids[c] for c in KANA],
        "rw": [],  # an empty table, as four languages of the real model have
    }


def build_tiny_model(folder: Path, seed: int = 0, head_scale: float = 30.0, live_tokens: str | None = None) -> Path:
    """Save a tiny random checkpoint to `folder` and return it.

    `head_scale` multiplies the CTC head so that output distributions are peaked. `live_tokens`
    (e.g. "ab|") keeps only the blank and those tokens able to win: with few competitors the
    top-1/top-2 margins are wide, so bf16 or int8 rounding does not flip the argmax (random
    weights otherwise give margins that any rounding flips here and there).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(
        str(folder / "vocab.json"), unk_token="[UNK]", pad_token="[PAD]", word_delimiter_token="|"
    )
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(folder)
    config = Wav2Vec2Config(
        vocab_size=len(VOCAB),
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
        pad_token_id=0,
        ctc_loss_reduction="mean",
    )
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
        if live_tokens is not None:
            live = {0} | {VOCAB.index(t) for t in live_tokens}
            model.lm_head.bias.copy_(torch.tensor([0.0 if i in live else -100.0 for i in range(len(VOCAB))]))
    model.save_pretrained(folder)
    table = collections.defaultdict(list)
    for code, ids in language_ids().items():
        table[code] = [np.int64(i) for i in ids]
    with open(folder / "lang_ids.pk", "wb") as handle:
        pickle.dump(table, handle)
    return folder
