"""Resegmentation: every 10 ms frame of speech to a speaker, by a Viterbi path over the clusters' centroids.

The clusters of 1.6 s excerpts are only a first guess: an excerpt over a change of speaker mixes
two voices, and such excerpts can form a "speaker" of their own (a blend). Here, as in the
resegmentation of VBx and pyannote:

1. each frame scores every speaker by the mean cosine similarity between the excerpts that cover
   it and that speaker's centroid;
2. a Viterbi path through the frames of each speech region takes the best score, paying
   CHANGE_PENALTY (summed similarity, i.e. 0.1 better on 30 frames) for every change of speaker,
   so short flickers do not become turns;
3. while there are more than K speakers, the one whose frames it wins by least over the next best
   speaker (a blend of two voices wins by little) is dropped: its frames go to the others, the
   path is found again;
4. centroids are computed again from the excerpts that lie within one run of the path (none
   straddling a change), and steps 1-3 repeat (ITERATIONS times).

`best_count` runs steps 1-4 for every K in a range (K given: a range of one); each result is
scored by its `fit` (the mean over frames of the frame's score for its own speaker, centroids
re-estimated) minus SPEAKER_COST * K / sqrt(frames). A further speaker always
fits a little better (a voice split by what it says, 0.1-0.17 apart in GE2E space, as far as two
similar espeak-ng voices); the cost, shrinking with the square root of the speech, asks more of it.
"""

from __future__ import annotations

import numpy as np

CHANGE_PENALTY = 3.0  # Viterbi cost of one change of speaker, in cosine similarity summed over 10 ms frames
ITERATIONS = 2  # centroid re-estimations
SPEAKER_COST = 0.65  # best_count: one more speaker must raise the mean frame similarity by this / sqrt(speech frames)

Spans = list[tuple[int, int]]


def centroids_of(embeddings: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """(count, dim) unit-length mean embedding of each label (zeros for a label with no rows)."""
    means = np.stack([embeddings[labels == k].mean(axis=0) if np.any(labels == k) else np.zeros(embeddings.shape[1])
                      for k in range(count)])
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def frame_scores(lengths: list[int], embeddings: np.ndarray, owners: list[int], spans: Spans,
                 centroids: np.ndarray) -> list[np.ndarray]:
    """Per region, (frames, speakers): mean cosine similarity of the excerpts covering each frame to each centroid."""
    similarity = embeddings @ centroids.T
    scores = []
    for index, frames in enumerate(lengths):
        votes, count = np.zeros((frames, len(centroids))), np.zeros((frames, 1))
        for row in (i for i, owner in enumerate(owners) if owner == index):
            start, end = spans[row]
            votes[start:min(end, frames)] += similarity[row]
            count[start:min(end, frames)] += 1
        scores.append(votes / np.maximum(count, 1))
    return scores


def viterbi(scores: np.ndarray, penalty: float) -> np.ndarray:
    """The speaker of each frame maximising the summed scores minus `penalty` per change of speaker."""
    frames, speakers = scores.shape
    total, back, stay = scores[0].copy(), np.zeros((frames, speakers), np.int64), np.arange(speakers)
    for t in range(1, frames):
        best = int(total.argmax())
        switch = total[best] - penalty > total
        back[t] = np.where(switch, best, stay)
        total = np.where(switch, total[best] - penalty, total) + scores[t]
    path = np.zeros(frames, np.int64)
    path[-1] = int(total.argmax())
    for t in range(frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _margins(scores: list[np.ndarray], paths: list[np.ndarray], speakers: int) -> np.ndarray:
    """Per speaker, the summed margin by which its frames were won over the next best speaker."""
    margin = np.zeros(speakers)
    for score, path in zip(scores, paths):
        for k in range(speakers):
            mine = path == k
            if mine.any() and speakers > 1:
                margin[k] += float((score[mine, k] - np.delete(score[mine], k, axis=1).max(axis=1)).sum())
    return margin


def _reduce(lengths: list[int], embeddings: np.ndarray, owners: list[int], spans: Spans, centroids: np.ndarray,
            alive: list[int], count: int, seen: dict | None = None) -> list[np.ndarray]:
    """Step 3: drops speakers from `alive` (in place) until `count` remain; the final paths (indices into `alive`).

    `seen`, when given, gets (alive, paths) for every number of speakers passed through.
    """
    while True:
        scores = frame_scores(lengths, embeddings, owners, spans, centroids[alive])
        paths = [viterbi(score, CHANGE_PENALTY) for score in scores]
        if seen is not None:
            seen[len(alive)] = (list(alive), paths)
        if len(alive) <= count:
            return paths
        alive.pop(int(np.argmin(_margins(scores, paths, len(alive)))))


def _reestimate(centroids: np.ndarray, embeddings: np.ndarray, alive: list[int], pure: np.ndarray) -> None:
    """Step 4: each alive speaker's centroid from the excerpts within one of its runs (`pure`: index into `alive`)."""
    for index, k in enumerate(alive):
        if np.any(pure == index):
            centroids[k] = centroids_of(embeddings[pure == index], np.zeros(int(np.sum(pure == index)), np.int64), 1)[0]


def _pure(paths: list[np.ndarray], owners: list[int], spans: Spans, lengths: list[int]) -> np.ndarray:
    """Per excerpt, the speaker of the path over all its frames, or -1 where it straddles a change."""
    pure = np.full(len(owners), -1)
    for row, (owner, (start, end)) in enumerate(zip(owners, spans)):
        piece = paths[owner][start:min(end, lengths[owner])]
        if len(piece) and (piece == piece[0]).all():
            pure[row] = int(piece[0])
    return pure


def fit(lengths: list[int], embeddings: np.ndarray, owners: list[int], spans: Spans, paths: list[np.ndarray],
        count: int) -> float:
    """Mean over frames of the score of the frame's own speaker (labels below `count` in `paths`).

    Centroids come from the excerpts within one run; a speaker with none (short turns) takes the
    excerpts weighted by the share of their frames it holds.
    """
    pure = _pure(paths, owners, spans, lengths)
    centroids = centroids_of(embeddings, pure, count)
    for k in {int(x) for path in paths for x in path} - {int(x) for x in pure}:
        share = np.array([np.mean(paths[o][a:min(b, lengths[o])] == k) if min(b, lengths[o]) > a else 0.0
                          for o, (a, b) in zip(owners, spans)])
        mean = share @ embeddings
        centroids[k] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    scores = frame_scores(lengths, embeddings, owners, spans, centroids)
    return sum(float(score[np.arange(len(path)), path].sum()) for score, path in zip(scores, paths)) / sum(lengths)


def best_count(lengths: list[int], embeddings: np.ndarray, owners: list[int], spans: Spans, labels: np.ndarray,
               low: int, high: int, cost: float = SPEAKER_COST) -> list[np.ndarray]:
    """Per region, the cluster label (of `labels`' numbering) of every frame: the resegmentation with K
    speakers (the module's steps) for the K in [low, high] with the best `fit` - cost * K / sqrt(frames
    of speech); `low` and `high` are clamped to the number of clusters in `labels`.

    The first pass of dropping speakers is the same for every K, so it runs once.
    """
    count = int(labels.max()) + 1
    low, high = min(low, count), max(min(high, count), min(low, count))
    start = centroids_of(embeddings, labels, count)
    seen: dict[int, tuple[list[int], list[np.ndarray]]] = {}
    _reduce(lengths, embeddings, owners, spans, start, list(range(count)), low, seen)
    scored = []
    for k in range(low, high + 1):
        alive, paths = seen[k]
        centroids = start.copy()
        for _ in range(ITERATIONS):
            _reestimate(centroids, embeddings, alive, _pure(paths, owners, spans, lengths))
            paths = _reduce(lengths, embeddings, owners, spans, centroids, alive, k)
        paths = [np.asarray(alive)[path] for path in paths]
        found = len({int(x) for path in paths for x in path})
        scored.append((fit(lengths, embeddings, owners, spans, paths, count) - cost * found / np.sqrt(sum(lengths)), k, paths))
    return max(scored, key=lambda item: (item[0], -item[1]))[2]
