"""Build tiny random CTC checkpoints with the real models' structure, for tests and examples.

The default layout is voidful/wav2vec2-xlsr-multilingual-56's: Wav2Vec2ForCTC with stable layer
norm, a 7-layer conv front end of total stride 320, a Wav2Vec2CTCTokenizer whose [PAD] (id 0) is the
CTC blank and "|" the word delimiter, <s> and </s> inside the vocabulary, a feature extractor that
returns attention masks, and a lang_ids.pk in the real file's format (defaultdict of lists of numpy
int64). Other layouts that real checkpoints use (see LAYOUTS) change only the tokenizer files;
other architectures (see ARCHITECTURES) change the network and its front end, as the public
checkpoints of each do. `build_tiny_adapter_model` writes an MMS-style checkpoint with per-language
adapters.
"""

from __future__ import annotations

import collections
import json
import pickle
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoConfig, AutoModelForCTC, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
    Wav2Vec2Processor,
)

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


# architecture -> (config.model_type, its settings, the feature extractor's return_attention_mask), as in the
# public CTC checkpoints of each (XLSR and hubert-large-ft: layer norm; wav2vec2-base, WavLM base+,
# UniSpeech-SAT base and SEW: group norm without attention masks)
LAYER_NORM = {"feat_extract_norm": "layer", "do_stable_layer_norm": True}
GROUP_NORM = {"feat_extract_norm": "group", "do_stable_layer_norm": False}
ARCHITECTURES: dict[str, tuple[str, dict, bool]] = {
    "wav2vec2": ("wav2vec2", {**LAYER_NORM, "conv_bias": True}, True),  # XLSR-53 and its fine-tunings
    "wav2vec2-group": ("wav2vec2", {**GROUP_NORM, "conv_bias": False}, False),  # wav2vec2-base-960h
    "hubert": ("hubert", {**LAYER_NORM, "conv_bias": True}, True),  # hubert-large-ls960-ft
    "wavlm": ("wavlm", {**GROUP_NORM, "num_buckets": 32, "max_bucket_distance": 80}, False),
    "data2vec-audio": ("data2vec-audio", {"num_conv_pos_embeddings": 5, "conv_pos_kernel_size": 5}, True),
    "unispeech-sat": ("unispeech-sat", GROUP_NORM, False),
    "sew": ("sew", {"feat_extract_norm": "group", "squeeze_factor": 2}, False),
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


def tiny_config(architecture: str = "wav2vec2", **overrides) -> object:
    """A tiny config of `architecture` (ARCHITECTURES) with the real 7-layer front end of stride 320."""
    model_type, settings, _ = ARCHITECTURES[architecture]
    base = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        ctc_loss_reduction="mean",
    )
    return AutoConfig.for_model(model_type, **{**base, **settings, **overrides})


def build_tiny_model(
    folder: Path, seed: int = 0, head_scale: float = 30.0, live_tokens: str | None = None, layout: str = "polyasr",
    architecture: str = "wav2vec2", language_table: bool = True, card_language: str | None = None,
) -> Path:
    """Save a tiny random checkpoint to `folder` and return it.

    `head_scale` multiplies the CTC head so that output distributions are peaked. `live_tokens`
    (e.g. "ab|") keeps only the blank and those tokens able to win: with few competitors the
    top-1/top-2 margins are wide, so bf16 or int8 rounding does not flip the argmax (random
    weights otherwise give margins that any rounding flips here and there). `layout` names the
    tokenizer layout (LAYOUTS); the model's head has exactly one class per vocab.json entry.
    `architecture` names the network (ARCHITECTURES); `language_table=False` leaves out lang_ids.pk
    and `card_language` writes a README.md whose front matter declares that language, as a
    single-language fine-tune's card does.
    """
    tokens, arguments = LAYOUTS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), **arguments)
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16_000, padding_value=0.0, do_normalize=True,
        return_attention_mask=ARCHITECTURES[architecture][2],
    )
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(folder)
    blank = tokens.index(arguments["pad_token"])
    # vocab_size as the XLSR recipe sets it: len(vocab.json), not len(tokenizer)
    config = tiny_config(architecture, vocab_size=len(tokens), pad_token_id=blank)
    torch.manual_seed(seed)
    model = AutoModelForCTC.from_config(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(head_scale)
        if live_tokens is not None:
            live = {blank} | {tokens.index(t) for t in live_tokens}
            model.lm_head.bias.copy_(torch.tensor([0.0 if i in live else -100.0 for i in range(len(tokens))]))
    model.save_pretrained(folder)
    if language_table:
        table = collections.defaultdict(list)
        for code, ids in language_ids(layout).items():
            table[code] = [np.int64(i) for i in ids]
        with open(folder / "lang_ids.pk", "wb") as handle:
            pickle.dump(table, handle)
    if card_language is not None:
        (folder / "README.md").write_text(f"---\nlanguage: {card_language}\nlicense: apache-2.0\n---\n# A tiny test model\n",
                                          encoding="utf-8")
    return folder


# MMS-style adapters: language -> its characters (each adapter has its own vocabulary and head size)
ADAPTER_LANGUAGES = {"eng": list("abcdefghijklmnopqrstuvwxyz'"), "fra": list("abcdefghijklmnopqrstuvwxyzàâçéèêëîïôûùüÿœ'")}
MMS_SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "|"]  # as MMS vocabularies begin


def adapter_vocab(language: str) -> list[str]:
    return MMS_SPECIAL + ADAPTER_LANGUAGES[language]


def build_tiny_adapter_model(folder: Path, seed: int = 0, head_scale: float = 30.0, default: str | None = "eng") -> Path:
    """Save a tiny MMS-style checkpoint: nested vocab.json, adapter layers, adapter.<lang>.safetensors per language.

    The main weights hold the `default` language's adapter (as mms-1b-all's hold English), and the
    tokenizer's target_lang names it (None: no target_lang, as some MMS fine-tunes are saved).
    """
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    nested = {lang: {t: i for i, t in enumerate(adapter_vocab(lang))} for lang in ADAPTER_LANGUAGES}
    (folder / "vocab.json").write_text(json.dumps(nested, ensure_ascii=False), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|", target_lang=default or "eng")
    if default is None:
        tokenizer.init_kwargs["target_lang"] = None
    feature_extractor = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(folder)
    first = default or "eng"
    config = tiny_config("wav2vec2", vocab_size=len(adapter_vocab(first)), pad_token_id=1, adapter_attn_dim=8)
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(config).eval()
    for index, language in enumerate(ADAPTER_LANGUAGES):
        torch.manual_seed(seed + 1 + index)
        weights = {}
        for name, parameter in model._get_adapters().items():
            if name.startswith("lm_head"):
                rows = len(adapter_vocab(language))
                shape = (rows, *parameter.shape[1:])
                weights[name] = (torch.randn(shape) * (0.1 * head_scale if name.endswith("weight") else 0.0)).contiguous()
            else:
                weights[name] = (torch.randn(parameter.shape) * 0.5).contiguous()
        save_file(weights, str(folder / f"adapter.{language}.safetensors"))
        if language == first:
            with torch.no_grad():
                for name, parameter in model._get_adapters().items():
                    parameter.copy_(weights[name])
    model.save_pretrained(folder)
    return folder


def transformers_reference(folder: Path, x: np.ndarray, target_lang: str | None = None) -> tuple[np.ndarray, str]:
    """Logits and text as transformers' own model and tokenizer give them (the ASR pipeline's way).

    Special tokens are removed from the decoded text, not before decoding: skip_special_tokens
    would drop them before merging repeats and so merge "a </s> a" into one "a", where CTC emitted two.
    """
    extra = {} if target_lang is None else {"target_lang": target_lang}
    network = AutoModelForCTC.from_pretrained(folder, **extra).eval()
    tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(folder, **extra)
    normalized = ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)
    with torch.no_grad():
        logits = network(torch.from_numpy(normalized)[None]).logits[0].numpy()
    text = tokenizer.decode(logits.argmax(-1))
    for token in set(tokenizer.all_special_tokens) - {tokenizer.word_delimiter_token}:
        text = text.replace(token, "")
    return logits, " ".join(text.split())
