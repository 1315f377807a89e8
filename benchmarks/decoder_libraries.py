"""Which CTC beam-search library polyasr uses: the candidates side by side on the same emissions.

    pip install --target /tmp/candidates --no-deps pyctcdecode==0.5.0 pygtrie ctc-beam-decoder==0.2.0 \
        flashlight-text==0.0.7 kenlm==0.3.0          # kenlm builds from source (2-3 minutes)
    PYTHONPATH=/tmp/candidates .venv/bin/python benchmarks/decoder_libraries.py

Emissions are simulated from held-out German sentences (`simulated_emissions.py`); the language
model is a 4-gram built by `polyasr lm build` from the other sentences. Each library decodes the
same logits with beam 32: restricted to the language's columns (blank, letters, delimiter: what
`--language de` hands the decoder) and over the whole 9,910-class vocabulary (`auto`), without
and with the LM, and with hotwords where the library has them. Times are decoding only
(milliseconds per audio second); WER is against the sentences. A library that is not installed
is reported as such.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from simulated_emissions import ALPHABETS, SimulatedModel, read_sentences, simulate, split_sentences

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyasr.decoding.lm_build import LmBuildOptions, build_arpa  # noqa: E402
from polyasr.decoding.ctc import greedy_decode, log_softmax  # noqa: E402

BEAM = 32


def labels_for(tokens: tuple[str, ...]) -> list[str]:
    """pyctcdecode-style labels: blank "", delimiter " ", other specials kept distinct."""
    out = []
    for token in tokens:
        out.append({"[PAD]": "", "|": " "}.get(token, token))
    return out


def pyctcdecode_runner(labels: list[str], arpa: str | None, hotwords: list[str] | None) -> Callable[[np.ndarray], str]:
    import pyctcdecode

    decoder = pyctcdecode.build_ctcdecoder(labels, kenlm_model_path=arpa, alpha=0.5, beta=1.0)
    return lambda lp: decoder.decode(lp, beam_width=BEAM, hotwords=hotwords, hotword_weight=10.0)


def ctc_beam_decoder_runner(labels: list[str], arpa: str | None, hotwords: list[str] | None) -> Callable[[np.ndarray], str]:
    import ctc_beam_decoder

    decoder = ctc_beam_decoder.build_ctcdecoder(labels, kenlm_model_path=arpa, alpha=0.5, beta=1.0)
    return lambda lp: decoder.decode(lp, beam_width=BEAM, hotwords=hotwords, hotword_weight=10.0)


def flashlight_runner(labels: list[str], arpa: str | None, hotwords: list[str] | None) -> Callable[[np.ndarray], str]:
    """flashlight-text: lexicon-free beam without an LM; with a word LM only the lexicon decoder
    works, whose output is limited to the lexicon's words (here: the LM's unigrams)."""
    if hotwords:
        raise NotImplementedError("no hotword biasing")
    from flashlight.lib.text import decoder as fl
    from flashlight.lib.text.dictionary import Dictionary

    tokens = ["<blank>" if t == "" else "|" if t == " " else t for t in labels]
    token_dict = Dictionary(tokens)
    blank, sil = tokens.index("<blank>"), tokens.index("|")
    if arpa is None:
        options = fl.LexiconFreeDecoderOptions(beam_size=BEAM, beam_size_token=len(tokens), beam_threshold=25.0,
                                               lm_weight=0.0, sil_score=0.0, log_add=False,
                                               criterion_type=fl.CriterionType.CTC)
        decoder = fl.LexiconFreeDecoder(options, fl.ZeroLM(), sil, blank, [])
    else:
        words = [line.split("\t")[1] for line in _unigram_lines(arpa)]
        lexicon = {w: [list(w)] for w in words if w not in ("<s>", "</s>", "<unk>") and all(c in tokens for c in w)}
        word_dict = Dictionary()
        for word in [*lexicon, "<unk>"]:
            word_dict.add_entry(word)
        word_dict.set_default_index(word_dict.get_index("<unk>"))
        lm = fl.KenLM(arpa, word_dict)
        trie = fl.Trie(len(tokens), sil)
        start = lm.start(False)
        for word, spellings in lexicon.items():
            index = word_dict.get_index(word)
            _, score = lm.score(start, index)
            for spelling in spellings:
                trie.insert([token_dict.get_index(t) for t in spelling + ["|"]], index, score)
        trie.smear(fl.SmearingMode.MAX)
        options = fl.LexiconDecoderOptions(beam_size=BEAM, beam_size_token=len(tokens), beam_threshold=25.0,
                                           lm_weight=0.5, word_score=1.0, unk_score=float("-inf"), sil_score=0.0,
                                           log_add=False, criterion_type=fl.CriterionType.CTC)
        decoder = fl.LexiconDecoder(options, trie, lm, sil, blank, word_dict.get_index("<unk>"), [], False)

    def run(lp: np.ndarray) -> str:
        x = np.ascontiguousarray(lp, dtype=np.float32)
        best = decoder.decode(x.ctypes.data, x.shape[0], x.shape[1])[0]
        ids = [i for i in best.tokens if i >= 0]
        text, last = [], None
        for i in ids:
            if i != last and i != blank:
                text.append(" " if i == sil else tokens[i])
            last = i
        return " ".join("".join(text).split())

    return run


def _unigram_lines(arpa: str) -> list[str]:
    lines, inside = [], False
    for line in open(arpa, encoding="utf-8"):
        if line.startswith("\\1-grams:"):
            inside = True
        elif line.startswith("\\2-grams:"):
            break
        elif inside and "\t" in line:
            lines.append(line.rstrip("\n"))
    return lines


RUNNERS = {"pyctcdecode 0.5.0": pyctcdecode_runner, "ctc-beam-decoder 0.2.0": ctc_beam_decoder_runner,
           "flashlight-text 0.0.7": flashlight_runner}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=40, help="held-out sentences decoded per case")
    args = parser.parse_args()
    import jiwer

    sentences = read_sentences("de")
    test, train = split_sentences(sentences, args.sentences, seed=0)
    model = SimulatedModel.for_letters(ALPHABETS["de"])
    rng = np.random.default_rng(1)
    emissions = [log_softmax(simulate(s, model, rng)) for s in test]
    seconds = sum(len(e) for e in emissions) * 0.02
    columns = np.r_[model.vocabulary.blank_id, model.language_ids]
    restricted = [e[:, columns] - np.logaddexp.reduce(e[:, columns], axis=1, keepdims=True) for e in emissions]
    greedy = [greedy_decode(e, model.vocabulary, model.language_ids).text for e in emissions]
    print(f"{len(test)} sentences, {seconds:.0f} s of simulated audio; greedy (restricted) WER {jiwer.wer(test, greedy):.3f}")
    # hotwords: five words of the test sentences that the LM never saw, as names would be
    train_words = {w for s in train for w in s.split()}
    hotwords = sorted({w for s in test for w in s.split() if w not in train_words and len(w) > 4})[:5]
    with tempfile.TemporaryDirectory() as tmp:
        arpa = str(Path(tmp) / "de.arpa")
        build_arpa(train, arpa, LmBuildOptions(order=4, language="de"))
        print(f"hotwords: {hotwords}")
        print("| library | columns | LM | hotwords | ms per audio s | WER |")
        print("|---|---|---|---|---|---|")
        for name, make in RUNNERS.items():
            for label, inputs, tokens in (("de (32)", restricted, [model.vocabulary.tokens[i] for i in columns]),
                                          ("all (9,910)", emissions, list(model.vocabulary.tokens))):
                for lm, hot in ((None, None), (arpa, None), (None, hotwords)):
                    try:
                        run = make(labels_for(tuple(tokens)), lm, hot)
                    except (ImportError, NotImplementedError) as error:
                        print(f"| {name} | {label} | {'yes' if lm else 'no'} | {'yes' if hot else 'no'} | - | {error} |")
                        continue
                    run(inputs[0])  # warm-up (LM load, caches)
                    start = time.perf_counter()
                    hyps = [run(x) for x in inputs]
                    took = time.perf_counter() - start
                    print(f"| {name} | {label} | {'yes' if lm else 'no'} | {'yes' if hot else 'no'} | "
                          f"{1000 * took / seconds:.1f} | {jiwer.wer(test, hyps):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
