"""CTC forced alignment: the most likely CTC path of a known transcript through per-frame scores.

Viterbi over the standard CTC trellis, in numpy. With L targets the trellis has S = 2L+1 states:
blank, t1, blank, t2, ..., tL, blank. A path starts in the first blank or t1, ends in the last
blank or tL, and at each frame stays, advances one state, or skips the blank between two
*different* tokens. The recursion is vectorised over states (a Python loop over frames only) and
keeps one uint8 backpointer per (frame, state) cell: 0 stay, 1 from s-1, 2 from s-2. Ties prefer
stay, then s-1, then s-2; at the end the last blank wins a tie with the last token.

Long inputs. Backpointers for the whole trellis take T x S bytes (one hour, 180,000 frames by
50,000 characters: 18 GB), so when T x S exceeds `max_cells` the problem is split at anchors:

1. the argmax path: each frame's best column; merge runs, drop blanks -> the tokens the model
   "heard", each with its frames;
2. anchors: every run of `ANCHOR_LENGTH` (8) tokens occurring exactly once in the heard tokens and
   exactly once in the targets (unique k-grams, hashed as tuples), kept only where consistent with
   the order of both sequences (longest increasing subsequence, as in patience diff). This is
   O(n log n), where difflib.SequenceMatcher degrades to ~quadratic on a small alphabet;
3. cut candidates: inside an anchor (two tokens away from its ends), a boundary between two
   matched tokens with *different* labels, at the middle of the blank gap the argmax path shows
   between them; candidates are kept strictly increasing in both frames and tokens;
4. greedily the furthest cut whose piece has at most `max_cells` cells and enough frames on both
   sides. Each piece is aligned with the full trellis and the paths are concatenated: a piece ends
   in its last blank or last token, the next starts in its first blank or first token, and the
   two tokens differ, so the joined path is a valid CTC path of the whole transcript (the best one
   through the cuts).

A piece that anchors cannot make small enough (no anchors, e.g. a very poor model) is aligned in a
band of W = max_cells // T_piece states around the diagonal of its trellis; when no path fits in
the band, AlignmentError says the alignment failed. Peak memory is about max_cells bytes plus a
few arrays of length T.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import AlignmentError

FRAME_SECONDS = 0.02  # wav2vec2 frame step at 16 kHz, used in error messages
ANCHOR_LENGTH = 8  # tokens per anchor k-gram


@dataclass(frozen=True)
class AlignedToken:
    index: int  # position in `targets`
    start_frame: int  # first frame of the token's state
    end_frame: int  # exclusive
    score: float  # mean probability (exp of log-prob) of the token over its frames, 0..1


@dataclass(frozen=True)
class Alignment:
    tokens: tuple[AlignedToken, ...]  # one per target, in order
    log_likelihood: float  # of the best path


def min_frames(targets: Sequence[int] | np.ndarray) -> int:
    """Fewest frames a CTC path of `targets` needs: one per token plus a blank between repeats."""
    tg = np.asarray(targets).reshape(-1)
    return int(tg.size + np.count_nonzero(tg[1:] == tg[:-1]))


def forced_align(
    log_probs: np.ndarray,
    targets: Sequence[int] | np.ndarray,
    blank: int = 0,
    *,
    max_cells: int = 20_000_000,
    frame_seconds: float = FRAME_SECONDS,
) -> Alignment:
    """Align `targets` to `log_probs` along the most likely CTC path.

    log_probs: (T, C) float log-softmax scores (C columns: any subset of a vocabulary; the caller
    maps token ids to columns). targets: (L,) column indices, none equal to `blank`. max_cells
    bounds the trellis size (frames x states, one byte each) aligned in one piece; larger problems
    are split at anchors (see the module docstring). Raises AlignmentError on invalid or
    impossible input.
    """
    lp, tg = _validate(log_probs, targets, blank)
    if max_cells < 1:
        raise AlignmentError(f"max_cells must be a positive number of trellis cells, got {max_cells}")
    n_frames, n_tok = lp.shape[0], tg.size
    need = min_frames(tg)
    if n_frames < need:
        raise AlignmentError(
            f"the transcript needs at least {need} frames ({n_tok} characters plus {need - n_tok} "
            f"blanks between repeated letters) but the audio has only {n_frames} "
            f"({n_frames * frame_seconds:.2f} s)"
        )
    if n_frames == 0:
        return Alignment((), 0.0)
    states = np.empty(n_frames, dtype=np.intp)
    total = 0.0
    for f0, f1, j0, j1 in _pieces(lp, tg, blank, max_cells):
        size = (f1 - f0) * (2 * (j1 - j0) + 1)
        width = None if size <= max_cells else max_cells // (f1 - f0)
        path, score = _viterbi(lp[f0:f1], tg[j0:j1], blank, width)
        if not np.isfinite(score):
            if width is None and (f0, f1) == (0, n_frames):
                raise AlignmentError("no alignment of the transcript has non-zero probability under these log-probs")
            raise AlignmentError(
                f"the alignment failed: no path with non-zero probability fits the search limits for frames "
                f"{f0}-{f1} ({f0 * frame_seconds:.2f}-{f1 * frame_seconds:.2f} s); split the audio into "
                f"shorter segments (or raise max_cells) and align them separately"
            )
        states[f0:f1] = path + 2 * j0
        total += score
    return Alignment(path_to_spans(states, lp, tg), float(total))


def path_to_spans(
    states: np.ndarray, log_probs: np.ndarray, targets: Sequence[int] | np.ndarray
) -> tuple[AlignedToken, ...]:
    """Token spans along a CTC state path (state 2k+1 is targets[k], even states are blanks).

    `states` holds one non-decreasing state index per frame, as a valid path does.
    """
    st = np.asarray(states)
    tg = np.asarray(targets, dtype=np.intp).reshape(-1)
    ids = 2 * np.arange(tg.size) + 1
    starts = np.searchsorted(st, ids, side="left")
    ends = np.searchsorted(st, ids, side="right")
    counts = ends - starts
    if tg.size and counts.min() < 1:
        raise AlignmentError(f"the state path never visits target {int(np.argmin(counts))}, so it is not a CTC path")
    frames = np.flatnonzero(st % 2 == 1)
    k = st[frames] // 2
    probs = np.exp(np.asarray(log_probs)[frames, tg[k]].astype(np.float64))
    sums = np.bincount(k, weights=probs, minlength=tg.size)
    return tuple(
        AlignedToken(i, int(starts[i]), int(ends[i]), float(sums[i] / counts[i])) for i in range(tg.size)
    )


def _validate(log_probs: np.ndarray, targets: Sequence[int] | np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    lp = np.asarray(log_probs)
    if lp.ndim != 2 or lp.shape[1] == 0 or not np.issubdtype(lp.dtype, np.floating):
        raise AlignmentError(
            f"log_probs must be a float (frames, columns) array with at least one column, "
            f"got {lp.dtype} of shape {lp.shape}"
        )
    total = lp.sum(dtype=np.float64)
    if np.isnan(total) or total == np.inf:
        raise AlignmentError("log_probs must be log-probabilities, but it holds NaN or +inf")
    n_cols = lp.shape[1]
    if not 0 <= blank < n_cols:
        raise AlignmentError(f"the blank column {blank} is outside the {n_cols} columns of log_probs")
    tg = np.asarray(targets)
    if tg.size == 0:
        return lp, np.zeros(0, dtype=np.intp)
    if tg.ndim != 1 or not np.issubdtype(tg.dtype, np.integer):
        raise AlignmentError(f"targets must be a 1-D sequence of column indices, got {tg.dtype} of shape {tg.shape}")
    bad = np.flatnonzero((tg < 0) | (tg >= n_cols))
    if bad.size:
        raise AlignmentError(
            f"targets must be column indices in [0, {n_cols}), but position {bad[0]} is {int(tg[bad[0]])}"
        )
    blanks = np.flatnonzero(tg == blank)
    if blanks.size:
        raise AlignmentError(f"targets must not contain the blank column {blank}, but position {blanks[0]} does")
    return lp, tg.astype(np.intp)


def _viterbi(lp: np.ndarray, targets: np.ndarray, blank: int, width: int | None) -> tuple[np.ndarray, float]:
    """Best path (state per frame) and its log-likelihood; -inf when no path fits.

    width=None uses all 2L+1 states; otherwise only `width` states around the diagonal per frame.
    """
    n_frames, n_states = lp.shape[0], 2 * targets.size + 1
    ext = np.full(n_states, blank, dtype=np.intp)
    ext[1::2] = targets
    skip_pen = np.full(n_states, -np.inf)
    skip_pen[3::2][targets[1:] != targets[:-1]] = 0.0
    w = n_states if width is None else min(width, n_states)
    if w < min(2, n_states):
        return np.zeros(n_frames, dtype=np.intp), -np.inf
    if w == n_states:
        lo = [0] * n_frames
    else:
        centre = np.rint(np.arange(n_frames) * ((n_states - 1) / max(n_frames - 1, 1))).astype(np.intp)
        lo = np.clip(centre - w // 2, 0, n_states - w).tolist()
    step = max((b - a for a, b in zip(lo, lo[1:])), default=0)
    buf = np.full(w + 2 + step, -np.inf)  # [-inf, -inf, alpha..., -inf * step]: shifted reads
    bp = np.zeros((n_frames, w), dtype=np.uint8)
    alpha = np.full(w, -np.inf)
    first = min(2, n_states)
    alpha[:first] = lp[0, ext[:first]]
    for t in range(1, n_frames):
        d, low = lo[t] - lo[t - 1], lo[t]
        buf[2 : 2 + w] = alpha
        stay, one = buf[2 + d : 2 + d + w], buf[1 + d : 1 + d + w]
        two = buf[d : d + w] + skip_pen[low : low + w]
        row = bp[t]
        np.greater(one, stay, out=row.view(np.bool_))
        best = np.maximum(stay, one)
        better = two > best
        row[better] = 2
        np.copyto(best, two, where=better)
        alpha = best + lp[t, ext[low : low + w]]
    last = n_states - 1 - lo[-1]
    end = n_states - 1
    if n_states > 1 and alpha[last - 1] > alpha[last]:
        end -= 1
    score = float(alpha[end - lo[-1]])
    path = np.empty(n_frames, dtype=np.intp)
    if not np.isfinite(score):
        return path, score
    s = end
    for t in range(n_frames - 1, 0, -1):
        path[t] = s
        s -= int(bp[t, s - lo[t]])
    path[0] = s
    return path, score


def _pieces(lp: np.ndarray, targets: np.ndarray, blank: int, max_cells: int) -> list[tuple[int, int, int, int]]:
    """(frame start, frame end, target start, target end) of consecutive pieces covering the problem."""
    n_frames, n_tok = lp.shape[0], targets.size
    if n_frames * (2 * n_tok + 1) <= max_cells:
        return [(0, n_frames, 0, n_tok)]
    cut_f, cut_j = _anchor_cuts(lp, targets, blank)
    rp = np.concatenate(([0], np.cumsum(targets[1:] == targets[:-1])))  # repeats up to each target
    pieces: list[tuple[int, int, int, int]] = []
    f0 = j0 = 0
    while (n_frames - f0) * (2 * (n_tok - j0) + 1) > max_cells:
        p = int(np.searchsorted(cut_j, j0, side="right"))
        cf, cj = cut_f[p:], cut_j[p:]
        ok = (cf - f0 >= cj - j0 + rp[cj - 1] - rp[j0]) & (n_frames - cf >= n_tok - cj + rp[-1] - rp[cj])
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            break
        fits = idx[(cf[idx] - f0) * (2 * (cj[idx] - j0) + 1) <= max_cells]
        k = fits[-1] if fits.size else idx[0]
        pieces.append((f0, int(cf[k]), j0, int(cj[k])))
        f0, j0 = int(cf[k]), int(cj[k])
    pieces.append((f0, n_frames, j0, n_tok))
    return pieces


def _anchor_cuts(lp: np.ndarray, targets: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut points (frame, first target of the next piece) from anchors on the argmax path."""
    best = lp.argmax(axis=1)
    change = np.flatnonzero(best[1:] != best[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [best.size]))
    keep = best[starts] != blank
    heard, h_start, h_end = best[starts][keep], starts[keep], ends[keep]
    k = ANCHOR_LENGTH
    grams_t = _unique_grams(targets.tolist(), k)
    pairs = sorted((i, grams_t[g]) for g, i in _unique_grams(heard.tolist(), k).items() if g in grams_t)
    candidates = sorted(
        {(j + m, i + m) for i, j in _increasing_chain(pairs) for m in range(2, k - 1)
         if targets[j + m - 1] != targets[j + m]}
    )
    cut_f: list[int] = []
    cut_j: list[int] = []
    last_i = -1
    for j, i in candidates:
        if i > last_i and (not cut_j or j > cut_j[-1]):
            cut_f.append(int(h_end[i - 1] + h_start[i]) // 2)
            cut_j.append(j)
            last_i = i
    return np.asarray(cut_f, dtype=np.int64), np.asarray(cut_j, dtype=np.int64)


def _unique_grams(seq: list[int], k: int) -> dict[tuple[int, ...], int]:
    """Each k-gram occurring exactly once in `seq`, with its position."""
    seen: dict[tuple[int, ...], int] = {}
    for pos, gram in enumerate(zip(*(seq[m:] for m in range(k)))):
        seen[gram] = -1 if gram in seen else pos
    return {g: p for g, p in seen.items() if p >= 0}


def _increasing_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Longest subsequence of `pairs` (sorted by first item, unique) with strictly increasing second item."""
    tails: list[int] = []
    tail_at: list[int] = []
    prev = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_at.append(n)
        else:
            tails[pos] = j
            tail_at[pos] = n
        prev[n] = tail_at[pos - 1] if pos else -1
    chain: list[tuple[int, int]] = []
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        chain.append(pairs[n])
        n = prev[n]
    return chain[::-1]
