"""CTC forced alignment against hand-made paths, a naive reference Viterbi, and a long synthetic input."""

from __future__ import annotations

import itertools
import math
import time
import tracemalloc

import numpy as np
import pytest

from polyasr.decoding.forced_align import AlignedToken, Alignment, forced_align, min_frames, path_to_spans
from polyasr.errors import AlignmentError

BLANK = 0


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def peaked(frame_labels: list[int], n_cols: int, p: float = 0.9) -> np.ndarray:
    probs = np.full((len(frame_labels), n_cols), (1 - p) / (n_cols - 1))
    probs[np.arange(len(frame_labels)), frame_labels] = p
    return np.log(probs)


def reference_viterbi(lp: np.ndarray, targets: list[int], blank: int = 0) -> tuple[float, list[tuple[int, int]]]:
    """Readable O(T*S) Viterbi with Python loops: same tie rules (stay, s-1, s-2; last blank at the end)."""
    ext = [blank]
    for tok in targets:
        ext += [tok, blank]
    n_states, n_frames = len(ext), lp.shape[0]
    score = [[-math.inf] * n_states for _ in range(n_frames)]
    back = [[0] * n_states for _ in range(n_frames)]
    for s in range(min(2, n_states)):
        score[0][s] = lp[0, ext[s]]
    for t in range(1, n_frames):
        for s in range(n_states):
            options = [score[t - 1][s]]
            options.append(score[t - 1][s - 1] if s >= 1 else -math.inf)
            can_skip = s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]
            options.append(score[t - 1][s - 2] if can_skip else -math.inf)
            k = options.index(max(options))
            score[t][s] = options[k] + lp[t, ext[s]]
            back[t][s] = k
    end = n_states - 1
    if n_states > 1 and score[-1][end - 1] > score[-1][end]:
        end -= 1
    path = [end]
    for t in range(n_frames - 1, 0, -1):
        path.append(path[-1] - back[t][path[-1]])
    path.reverse()
    spans = []
    for k in range(len(targets)):
        frames = [t for t, s in enumerate(path) if s == 2 * k + 1]
        spans.append((frames[0], frames[-1] + 1))
    return score[-1][end], spans


def spans(alignment: Alignment) -> list[tuple[int, int]]:
    return [(tok.start_frame, tok.end_frame) for tok in alignment.tokens]


def random_targets(rng: np.random.Generator, length: int, n_cols: int) -> list[int]:
    out = [int(rng.integers(1, n_cols))]
    while len(out) < length:
        out.append(out[-1] if rng.random() < 0.25 else int(rng.integers(1, n_cols)))
    return out


def test_crafted_path_with_repeated_letters() -> None:
    frame_labels = [1, 1, 0, 2, 2, 0, 0, 2, 3, 3, 0, 0]
    lp = peaked(frame_labels, 4)
    result = forced_align(lp, [1, 2, 2, 3])
    assert spans(result) == [(0, 2), (3, 5), (7, 8), (8, 10)]
    assert [tok.index for tok in result.tokens] == [0, 1, 2, 3]
    assert [tok.score for tok in result.tokens] == pytest.approx([0.9] * 4)
    assert result.log_likelihood == pytest.approx(12 * math.log(0.9))
    assert result.tokens[2] == AlignedToken(index=2, start_frame=7, end_frame=8, score=pytest.approx(0.9))


def test_tight_fit_skips_every_blank_but_the_one_between_repeats() -> None:
    lp = log_softmax(np.random.default_rng(3).normal(size=(5, 4)))
    result = forced_align(lp, [1, 2, 2, 3])  # needs exactly 5 frames: 1 2 _ 2 3
    assert spans(result) == [(0, 1), (1, 2), (3, 4), (4, 5)]
    assert result.log_likelihood == pytest.approx(lp[0, 1] + lp[1, 2] + lp[2, 0] + lp[3, 2] + lp[4, 3])


@pytest.mark.parametrize("seed", range(8))
def test_matches_reference_viterbi_on_random_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cols = int(rng.integers(3, 7))
    targets = random_targets(rng, int(rng.integers(5, 16)), n_cols)
    n_frames = int(rng.integers(max(30, min_frames(targets)), 61))
    lp = log_softmax(rng.normal(scale=2.0, size=(n_frames, n_cols)))
    expected_ll, expected_spans = reference_viterbi(lp, targets)
    result = forced_align(lp, targets)
    assert result.log_likelihood == pytest.approx(expected_ll, rel=1e-9)
    assert spans(result) == expected_spans
    assert all(0.0 <= tok.score <= 1.0 for tok in result.tokens)


def test_reference_equals_exhaustive_search() -> None:
    rng = np.random.default_rng(11)
    targets = [1, 1, 2]
    lp = log_softmax(rng.normal(scale=2.0, size=(7, 3)))
    best = -math.inf
    for labels in itertools.product(range(3), repeat=7):
        collapsed = [k for k, _ in itertools.groupby(labels)]
        if [k for k in collapsed if k != BLANK] == targets:
            best = max(best, sum(lp[t, k] for t, k in enumerate(labels)))
    assert reference_viterbi(lp, targets)[0] == pytest.approx(best)
    assert forced_align(lp, targets).log_likelihood == pytest.approx(best)


def test_float32_input_and_blank_elsewhere() -> None:
    rng = np.random.default_rng(5)
    lp = log_softmax(rng.normal(scale=2.0, size=(40, 5))).astype(np.float32)
    targets = [0, 1, 1, 3, 0, 2]  # blank is column 4 here
    expected_ll, expected_spans = reference_viterbi(lp.astype(np.float64), targets, blank=4)
    result = forced_align(lp, np.array(targets), blank=4)
    assert result.log_likelihood == pytest.approx(expected_ll, rel=1e-6)
    assert spans(result) == expected_spans


def test_empty_targets_is_all_blank() -> None:
    lp = log_softmax(np.random.default_rng(0).normal(size=(9, 3)))
    result = forced_align(lp, [])
    assert result.tokens == ()
    assert result.log_likelihood == pytest.approx(lp[:, BLANK].sum())
    assert forced_align(np.zeros((0, 3)), []) == Alignment((), 0.0)


def test_too_few_frames_names_the_numbers() -> None:
    lp = peaked([1, 2, 2], 4)
    with pytest.raises(AlignmentError, match=r"at least 5 frames \(4 characters plus 1 blanks.*only 3 \(0\.06 s\)"):
        forced_align(lp, [1, 2, 2, 3])


@pytest.mark.parametrize(
    ("log_probs", "targets", "blank", "message"),
    [
        (np.zeros(5), [1], 0, "2-D|frames, columns"),
        (np.zeros((5, 0)), [], 0, "at least one column"),
        (np.zeros((5, 3), dtype=np.int64), [1], 0, "float"),
        (np.full((5, 3), np.nan), [1], 0, "NaN"),
        (np.zeros((5, 3)), [1], 3, "blank column 3 is outside"),
        (np.zeros((5, 3)), [1, 0, 2], 0, "must not contain the blank column 0, but position 1"),
        (np.zeros((5, 3)), [1, 3], 0, r"\[0, 3\), but position 1 is 3"),
        (np.zeros((5, 3)), [1, -1], 0, "position 1 is -1"),
        (np.zeros((5, 3)), [[1, 2]], 0, "1-D"),
        (np.zeros((5, 3)), [1.0, 2.0], 0, "1-D sequence of column indices"),
    ],
)
def test_invalid_input_raises(log_probs: np.ndarray, targets: list, blank: int, message: str) -> None:
    with pytest.raises(AlignmentError, match=message):
        forced_align(log_probs, targets, blank)


def test_zero_probability_everywhere_raises() -> None:
    lp = np.full((4, 3), -np.inf)
    lp[:, BLANK] = 0.0  # every frame is certainly blank
    with pytest.raises(AlignmentError, match="non-zero probability"):
        forced_align(lp, [1])


def synthetic(rng: np.random.Generator, n_frames: int, n_cols: int, noise: float = 1.0, peak: float = 4.0):
    """Log-probs peaked on a known path: tokens of 2-8 frames, 0-5 blank frames between (>= 1 for repeats)."""
    labels = np.zeros(n_frames, dtype=np.intp)
    targets: list[int] = []
    true_spans: list[tuple[int, int]] = []
    t = int(rng.integers(0, 20))
    while True:
        tok = int(rng.integers(1, n_cols))
        gap = int(rng.integers(0, 6))
        if targets and tok == targets[-1]:
            gap = max(gap, 1)
        dur = int(rng.integers(2, 9))
        if t + gap + dur > n_frames - 5:
            break
        t += gap
        labels[t : t + dur] = tok
        targets.append(tok)
        true_spans.append((t, t + dur))
        t += dur
    logits = rng.normal(scale=noise, size=(n_frames, n_cols)).astype(np.float32)
    logits[np.arange(n_frames), labels] += peak
    return log_softmax(logits), targets, true_spans


def test_split_alignment_equals_whole_alignment() -> None:
    lp, targets, true_spans = synthetic(np.random.default_rng(1), 3000, 24)
    whole = forced_align(lp, targets)
    split = forced_align(lp, targets, max_cells=100_000)
    assert len(targets) * 2 * 3000 > 10 * 100_000  # really split
    assert spans(split) == spans(whole)
    assert split.log_likelihood == pytest.approx(whole.log_likelihood)


def test_banded_fallback_when_no_anchor_helps() -> None:
    # one repeated letter everywhere: no boundary between different labels to cut at
    rng = np.random.default_rng(2)
    frame_labels = ([1, 1, 1, 0, 0] * 200)[:1000]
    lp = log_softmax(np.log(np.exp(peaked(frame_labels, 3)) + 0.01 * rng.random((1000, 3))))
    whole = forced_align(lp, [1] * 200)
    banded = forced_align(lp, [1] * 200, max_cells=40_000)  # a band of 40 states out of 401
    assert spans(banded) == spans(whole) == [(5 * k, 5 * k + 3) for k in range(200)]
    assert banded.log_likelihood == pytest.approx(whole.log_likelihood)


def test_band_excluding_every_path_raises() -> None:
    # 300 frames of certain silence, then 50 letters of 2 frames each; no usable argmax anchors
    n_frames, targets = 400, [1 + k % 3 for k in range(50)]
    lp = np.full((n_frames, 5), -np.inf)
    lp[:300, BLANK] = 0.0
    lp[300:, 4] = math.log(0.6)  # the argmax: a column no target uses
    for k, tok in enumerate(targets):
        lp[300 + 2 * k : 302 + 2 * k, tok] = math.log(0.4)
    whole = forced_align(lp, targets)
    assert spans(whole)[0] == (300, 302) and spans(whole)[-1] == (398, 400)
    with pytest.raises(AlignmentError, match="the alignment failed.*split the audio"):
        forced_align(lp, targets, max_cells=4_000)


def test_path_to_spans_rejects_a_path_that_skips_a_token() -> None:
    lp = peaked([1, 0, 0], 3)
    with pytest.raises(AlignmentError, match="never visits target 1"):
        path_to_spans(np.array([1, 2, 4]), lp, [1, 2])


def test_long_input_is_split_fast_and_small() -> None:
    n_frames, max_cells = 60_000, 2_000_000
    lp, targets, true_spans = synthetic(np.random.default_rng(7), n_frames, 32)
    n_tok = len(targets)
    assert 7_000 < n_tok < 9_500
    started = time.perf_counter()
    result = forced_align(lp, targets, max_cells=max_cells)
    elapsed = time.perf_counter() - started
    tracemalloc.start()  # a second run: tracemalloc slows numpy's many small allocations ~10x
    again = forced_align(lp, targets, max_cells=max_cells)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert again == result
    got = np.array(spans(result))
    want = np.array(true_spans)
    close = np.all(np.abs(got - want) <= 1, axis=1).mean()
    print(f"\nlong: T={n_frames} L={n_tok} {elapsed:.2f} s, peak {peak / 1e6:.1f} MB "
          f"(full trellis {n_frames * (2 * n_tok + 1) / 1e6:.0f} MB), within 1 frame {close:.4f}")
    assert close >= 0.99
    assert peak < 3 * max_cells + 64 * n_frames  # backpointers of one piece plus a few per-frame arrays
    assert peak < n_frames * (2 * n_tok + 1) / 50
    assert elapsed < 5
    true_ll = float(lp[np.arange(n_frames), _labels_from(true_spans, targets, n_frames)].sum())
    assert result.log_likelihood >= true_ll - 1e-6


def _labels_from(true_spans: list[tuple[int, int]], targets: list[int], n_frames: int) -> np.ndarray:
    labels = np.zeros(n_frames, dtype=np.intp)
    for (start, end), tok in zip(true_spans, targets):
        labels[start:end] = tok
    return labels
