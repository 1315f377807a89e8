"""Many live streams, one forward pass: the updates due across sessions run the model together.

Every update's window is its new audio plus the same left context (and lookahead), so streams of
one model in steady state have windows of one length, and `CTCModel.logits` runs inputs of one
padded length in one pass: the weights are read once for all of them. Sessions of different models
(an MMS adapter per language) get a pass per model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .events import Event
from .session import StreamingSession, Update

__all__ = ["update_together"]


def update_together(sessions: Sequence[StreamingSession]) -> list[list[Event]]:
    """One update of each session whose update is due (`update_due`), the model passes shared; each session's events.

    A session with no update due gets []. Exceptions of the model pass are raised (every session's
    update is then lost, as a failed `feed` loses its own)."""
    updates: dict[int, Update] = {}
    for index, session in enumerate(sessions):
        if session.update_due:
            updates[index] = session.begin_update()
    logits: dict[int, np.ndarray | None] = {index: None for index in updates}
    by_model: dict[int, list[int]] = {}
    for index, update in updates.items():
        if update.samples is not None:
            by_model.setdefault(id(sessions[index].model), []).append(index)
    for group in by_model.values():
        model = sessions[group[0]].model
        outputs = model.logits([updates[i].samples for i in group], [updates[i].level for i in group])  # type: ignore[misc]
        for index, output in zip(group, outputs):
            logits[index] = output
            sessions[index].model_calls += 1
    return [sessions[i].end_update(updates[i], logits[i]) if i in updates else [] for i in range(len(sessions))]
