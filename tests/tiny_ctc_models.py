"""Tiny random checkpoints of the 2025-26 CTC models, saved by transformers' own classes and processors.

Each folder looks as a user's download does: config.json, model.safetensors, the processor's
processor_config.json and tokenizer files (tokenizer.json for the SentencePiece models, vocab.json
for w2v-BERT), so polyasr loads them exactly as it loads a real checkpoint.

- omniasr: OmniASRForCTC (raw audio, audio_config with the 320-sample conv stack), a
  ParakeetTokenizer of SentencePiece pieces whose blank is config.blank_token_id = 0.
- parakeet: ParakeetForCTC (80 mel bins, 8x subsampling: 80 ms frames), blank = last id (the pad).
- lasr: LasrForCTC (128 mel bins, two stride-2 convolutions: 40 ms frames), LasrTokenizer, blank 0.
- w2v-bert: Wav2Vec2BertForCTC (SeamlessM4T features: 2 stacked 10 ms frames, 20 ms), characters.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import transformers as T
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

LATIN = list("abcdefghijklmnopqrstuvwxyz")
CYRILLIC = list("абвгдежзийклмнопрстуфхцчшщъыьэюя")
WORDS = ["▁the", "▁and", "▁hello", "▁world", "▁big", "▁при", "▁мир", "er", "ing", "st", "'"]
SUBWORD_MODELS = ("omniasr", "parakeet", "lasr")
MODELS = SUBWORD_MODELS + ("w2v-bert",)
FRAME_SECONDS = {"omniasr": 0.02, "parakeet": 0.08, "lasr": 0.04, "w2v-bert": 0.02}
TINY = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16}


def pieces(specials: list[str]) -> list[tuple[str, float]]:
    """A SentencePiece unigram vocabulary: specials, "▁", a few words, letters, "▁"+letter."""
    return ([(s, 0.0) for s in specials] + [("▁", -2.0)] + [(w, -3.0) for w in WORDS]
            + [(c, -5.0) for c in LATIN + CYRILLIC + ["ä", "ö", "ü", "ß"]] + [("▁" + c, -5.5) for c in LATIN + CYRILLIC])


def spm_tokenizer(specials: list[str]) -> tuple[Tokenizer, int]:
    vocab = pieces(specials)
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=specials.index("<unk>"), byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    return tokenizer, len(vocab)


def _sharpen(model: torch.nn.Module, head: str, scale: float) -> None:
    """A larger head so random logits are peaked (frames not all one token) and decoding is stable."""
    with torch.no_grad():
        getattr(model, head).weight.mul_(scale)


def build(folder: Path, name: str, seed: int = 0) -> Path:
    """Save the tiny checkpoint `name` (MODELS) to `folder` and return it."""
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "omniasr":
        from transformers.models.omniasr.configuration_omniasr import OmniASRAudioConfig

        tok, size = spm_tokenizer(["<s>", "<pad>", "</s>", "<unk>"])
        tokenizer = T.ParakeetTokenizer(tokenizer_object=tok, unk_token="<unk>", pad_token="<s>", eos_token="</s>",
                                        extra_special_tokens=["<pad>"])  # config.pad_token_id: special, never a word
        audio = OmniASRAudioConfig(**TINY, conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
        model = T.OmniASRForCTC(T.OmniASRCTCConfig(audio_config=audio.to_dict(), vocab_size=size, blank_token_id=0,
                                                   pad_token_id=1))
        processor = T.OmniASRCTCProcessor(feature_extractor=T.OmniASRFeatureExtractor(), tokenizer=tokenizer)
        head = "ctc_head"
    elif name == "parakeet":
        tok, size = spm_tokenizer(["<unk>"])
        tok.add_special_tokens(["<pad>"])  # the blank: the last id
        tokenizer = T.ParakeetTokenizer(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
        encoder = T.ParakeetEncoderConfig(**TINY, subsampling_conv_channels=8)
        model = T.ParakeetForCTC(T.ParakeetCTCConfig(encoder_config=encoder.to_dict(), vocab_size=size + 1, pad_token_id=size))
        processor = T.ParakeetProcessor(feature_extractor=T.ParakeetFeatureExtractor(), tokenizer=tokenizer)
        head = "ctc_head"
    elif name == "lasr":
        vocab = pieces(["<pad>", "</s>", "<unk>"])
        encoder = T.LasrEncoderConfig(**TINY, subsampling_conv_channels=8)
        model = T.LasrForCTC(T.LasrCTCConfig(encoder_config=encoder.to_dict(), vocab_size=len(vocab)))
        processor = T.LasrProcessor(feature_extractor=T.LasrFeatureExtractor(), tokenizer=T.LasrTokenizer(vocab=vocab, extra_ids=0))
        head = "ctc_head"
    elif name == "w2v-bert":
        vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, **{c: 5 + i for i, c in enumerate(LATIN + ["'"])}}
        (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        tokenizer = T.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"))
        config = T.Wav2Vec2BertConfig(**TINY, output_hidden_size=16, vocab_size=len(vocab), pad_token_id=0)
        model = T.Wav2Vec2BertForCTC(config)
        processor = T.Wav2Vec2BertProcessor(feature_extractor=T.SeamlessM4TFeatureExtractor(), tokenizer=tokenizer)
        head = "lm_head"
    else:
        raise ValueError(f"unknown tiny model {name!r}; choose one of {MODELS}")
    _sharpen(model, head, 4.0)
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def reference(folder: Path, x: np.ndarray) -> tuple[np.ndarray, str]:
    """Logits and greedy text as transformers gives them: its processor's features, its model, and
    `processor.decode(argmax)`; special tokens removed from the text afterwards (as for wav2vec2 in
    tiny_model.transformers_reference), whitespace collapsed."""
    processor = T.AutoProcessor.from_pretrained(folder)
    network = T.AutoModelForCTC.from_pretrained(folder).eval()
    inputs = processor.feature_extractor(x, sampling_rate=16_000, return_tensors="pt")
    with torch.no_grad():
        logits = network(**inputs).logits[0].numpy()
    text = processor.decode(logits.argmax(-1))
    for token in set(processor.tokenizer.all_special_tokens) - {getattr(processor.tokenizer, "word_delimiter_token", None)}:
        text = text.replace(token, "")
    return logits, " ".join(text.split())


def network_frames(folder: Path, num_samples: int) -> int:
    """Frames transformers' own network emits for `num_samples` samples through its processor."""
    processor = T.AutoProcessor.from_pretrained(folder)
    network = T.AutoModelForCTC.from_pretrained(folder).eval()
    x = 0.01 * np.random.default_rng(num_samples).standard_normal(num_samples).astype(np.float32)
    with torch.no_grad():
        return int(network(**processor.feature_extractor(x, sampling_rate=16_000, return_tensors="pt")).logits.shape[1])
