"""Grouping speaker embeddings into speakers: agglomerative clustering with scikit-learn.

Embeddings are compared by cosine distance and merged bottom-up by average linkage (the mean
distance between two groups' members), a standard choice for speaker embeddings because it needs
no assumption about cluster shape or size. When the number of speakers is not fixed, merging
stops at `threshold`: two groups further apart than that are different people. The count is then
clamped to [min_speakers, max_speakers].
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionsError


def cluster_speakers(
    embeddings: np.ndarray, min_speakers: int = 1, max_speakers: int | None = None, threshold: float = 0.3
) -> np.ndarray:
    """A speaker label (0, 1, ...) per unit-length embedding row, numbered in order of first appearance."""
    count = len(embeddings)
    if min_speakers < 1 or (max_speakers is not None and max_speakers < min_speakers):
        raise OptionsError(f"need 1 <= min_speakers <= max_speakers, got {min_speakers} and {max_speakers}")
    if count < 2:
        return np.zeros(count, np.int64)
    from sklearn.cluster import AgglomerativeClustering

    high = min(count, max_speakers if max_speakers is not None else count)
    low = min(min_speakers, high)
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
    ).fit_predict(embeddings)
    found = int(labels.max()) + 1
    if not low <= found <= high:
        labels = AgglomerativeClustering(n_clusters=min(max(found, low), high), metric="cosine", linkage="average").fit_predict(embeddings)
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first))  # relabel so the first speaker to appear is 0
    return order[labels]
