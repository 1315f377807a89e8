"""The decoding core against the model card's reference algorithms, and hand-made CTC sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polyasr.decoding.ctc import (
    TokenSpan,
    Vocabulary,
    collapse_repeats,
    frame_tokens,
    greedy_decode,
)

BLANK = 0


def card_predict_frame_ids(logit: torch.Tensor) -> torch.Tensor:
    """The model card's `predict`, up to the ids handed to processor.decode (copied from the card)."""
    pred_ids = torch.argmax(logit, dim=-1)
    mask = pred_ids.ge(1).unsqueeze(-1).expand(logit.size())
    vocab_size = logit.size()[-1]
    voice_prob = torch.nn.functional.softmax((torch.masked_select(logit, mask).view(-1, vocab_size)), dim=-1)
    return torch.argmax(voice_prob, dim=-1)


def card_lang_specific_frame_ids(logit: torch.Tensor, lang_ids: list[int]) -> torch.Tensor:
    """The model card's `predict_lang_specific`, up to the ids handed to processor.decode."""
    pred_ids = torch.argmax(logit, dim=-1)
    mask = ~pred_ids.eq(BLANK).unsqueeze(-1).expand(logit.size())
    vocab_size = logit.size()[-1]
    voice_prob = torch.nn.functional.softmax((torch.masked_select(logit, mask).view(-1, vocab_size)), dim=-1)
    lang_mask = torch.empty(voice_prob.shape[-1]).fill_(0)
    lang_mask.index_fill_(0, torch.tensor(sorted(lang_ids)), 1)
    return torch.argmax(lang_mask * voice_prob, dim=-1)


def random_logits(seed: int, frames: int = 400, vocab: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(frames, vocab)).astype(np.float32)
    logits[rng.random(frames) < 0.4, BLANK] += 4.0  # plenty of blank frames, as real CTC output has
    return logits


@pytest.mark.parametrize("seed", range(5))
def test_auto_frame_choices_equal_the_cards_predict(seed: int) -> None:
    logits = random_logits(seed)
    ours = frame_tokens(logits, BLANK)
    card = card_predict_frame_ids(torch.from_numpy(logits)).numpy()
    # The card drops blank frames before its choice; we keep them as blanks. Same choice elsewhere.
    np.testing.assert_array_equal(ours[ours != BLANK], card)
    assert (ours == BLANK).sum() > 50  # the comparison above really skipped blank frames


@pytest.mark.parametrize("seed", range(5))
def test_language_frame_choices_equal_the_cards_predict_lang_specific(seed: int) -> None:
    logits = random_logits(seed)
    lang_ids = list(range(20, 40)) + [5]
    ours = frame_tokens(logits, BLANK, allowed_ids=lang_ids)
    card = card_lang_specific_frame_ids(torch.from_numpy(logits), lang_ids).numpy()
    np.testing.assert_array_equal(ours[ours != BLANK], card)
    assert set(np.unique(ours)) <= set(lang_ids) | {BLANK}
    # frames that are blank for us are exactly the frames whose unrestricted argmax is blank
    np.testing.assert_array_equal(ours == BLANK, logits.argmax(-1) == BLANK)


def make_vocabulary() -> Vocabulary:
    tokens = ("[PAD]", "<s>", "[UNK]", "|", "h", "e", "l", "o", "w", "r", "d")
    return Vocabulary(tokens=tokens, blank_id=0, word_delimiter_id=3, hidden_ids=frozenset({0, 1, 2}))


def one_hot(ids: list[int], vocab: int = 11) -> np.ndarray:
    logits = np.full((len(ids), vocab), -5.0, dtype=np.float32)
    logits[np.arange(len(ids)), ids] = 5.0
    return logits


def test_blank_between_equal_letters_keeps_the_double_letter() -> None:
    vocabulary = make_vocabulary()
    _, h, e, l, o = 0, 4, 5, 6, 7
    frames = [h, h, e, l, l, 0, l, o, o, 0]  # "h e l _ l o": the blank separates two l's
    decoded = greedy_decode(one_hot(frames), vocabulary)
    assert decoded.text == "hello"
    # The card's decode drops blank frames first, then merges repeats: it would read "helo".
    card_ids = card_predict_frame_ids(torch.from_numpy(one_hot(frames))).tolist()
    merged = [t for i, t in enumerate(card_ids) if i == 0 or t != card_ids[i - 1]]
    assert "".join(vocabulary.tokens[t] for t in merged) == "helo"


def test_spans_carry_frames_and_text_uses_the_delimiter() -> None:
    vocabulary = make_vocabulary()
    frames = [0, 4, 4, 5, 3, 3, 8, 0, 0, 7]  # "he|wo"
    decoded = greedy_decode(one_hot(frames), vocabulary)
    assert decoded.text == "he wo"
    assert decoded.spans == (
        TokenSpan(4, 1, 3), TokenSpan(5, 3, 4), TokenSpan(3, 4, 6), TokenSpan(8, 6, 7), TokenSpan(7, 9, 10)
    )
    assert decoded.num_frames == 10


def test_special_tokens_and_extra_delimiters_are_not_printed() -> None:
    vocabulary = make_vocabulary()
    frames = [3, 1, 4, 2, 3, 3, 0, 3, 5, 3]  # "| <s> h <unk> | _ | e |"
    assert greedy_decode(one_hot(frames), vocabulary).text == "h e"


def test_language_restriction_maps_non_blank_frames_into_the_language() -> None:
    vocabulary = make_vocabulary()
    logits = one_hot([4, 0, 8])  # h, blank, w
    logits[0, 5] = 4.0  # second best of frame 0: e
    logits[2, 7] = 3.0  # second best of frame 2: o
    assert greedy_decode(logits, vocabulary, allowed_ids=[5, 7]).text == "eo"
    assert greedy_decode(logits, vocabulary).text == "hw"


def test_collapse_repeats_of_empty_and_all_blank() -> None:
    assert collapse_repeats([], BLANK) == []
    assert collapse_repeats([0, 0, 0], BLANK) == []


def test_torch_logits_are_accepted() -> None:
    vocabulary = make_vocabulary()
    logits = torch.from_numpy(one_hot([4, 5])).to(torch.bfloat16)
    assert greedy_decode(logits, vocabulary).text == "he"


def test_bad_shapes_and_ids_are_clear_errors() -> None:
    vocabulary = make_vocabulary()
    with pytest.raises(ValueError, match=r"shape \(frames, vocabulary\), got shape \(2, 3, 11\)"):
        greedy_decode(np.zeros((2, 3, 11)), vocabulary)
    with pytest.raises(ValueError, match="12 classes but the vocabulary has 11"):
        greedy_decode(np.zeros((2, 12)), vocabulary)
    with pytest.raises(ValueError, match="must lie in"):
        frame_tokens(np.zeros((2, 11)), BLANK, allowed_ids=[3, 11])


def test_a_skipped_frame_is_certain_silence_and_reducers_have_no_fill_of_their_own() -> None:
    from polyasr.decoding.ctc import SKIPPED_LOGIT, GreedyReducer, log_softmax, skipped_logits

    logits = skipped_logits(3, 5, blank_id=2)
    assert logits.shape == (3, 5) and (logits.argmax(-1) == 2).all()
    log_probs = log_softmax(logits)
    assert np.allclose(log_probs[:, 2], 0.0) and np.allclose(np.delete(log_probs, 2, axis=1), SKIPPED_LOGIT)
    reducer = GreedyReducer(blank_id=2)
    reducer.add(0, logits[:2])
    with pytest.raises(ValueError, match="frame 2 of 3 was never added"):
        reducer.finish(3)  # a frame nobody handed over is an error, not a silent default
    reducer.add(2, logits[2:])
    frames = reducer.finish(3)
    assert frames.tokens.tolist() == [2, 2, 2] and np.allclose(frames.probs, 1.0)
