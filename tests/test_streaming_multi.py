"""Language "multi" in live streaming: each finalised utterance identified on its own (its audio through the
Recognizer once more with "detect"), its text restricted to its language, `language` in the final message."""

from __future__ import annotations

import json

import numpy as np

from polyasr.streaming.events import FinalEvent
from polyasr.streaming.session import StreamingSession

from speech import say

SR = 16_000


def _finals(session: StreamingSession, samples: np.ndarray) -> list[FinalEvent]:
    events = []
    for i in range(0, len(samples), SR // 10):  # 0.1 s chunks, as a microphone sends them
        events += session.feed(samples[i: i + SR // 10])
    return [e for e in events + session.finish() if isinstance(e, FinalEvent)]


def test_each_final_utterance_carries_its_own_language(recognizer, espeak) -> None:
    gap = np.zeros(SR, np.float32)
    audio = np.concatenate([gap, say(espeak, "hello world, how are you", "en"), gap,
                            say(espeak, "guten Morgen, wie geht es", "de"), gap])
    session = StreamingSession(recognizer, "multi", candidates=("en", "de"))
    assert session.language is None  # partials: every character
    finals = _finals(session, audio)
    assert len(finals) >= 2 and session.model_calls > len(finals)  # one more pass per utterance
    table, tokens = recognizer.model.language_table, recognizer.model.vocabulary.tokens
    for final in finals:
        segment = final.segment
        assert segment.language in ("en", "de") and 0 < segment.language_probability <= 1
        assert set(segment.text.replace(" ", "")) <= {tokens[i] for i in table.token_ids(segment.language)}
        assert "".join(w.word for w in segment.words) == segment.text.replace(" ", "")
        message = final.to_json()["segment"]
        assert message["language"] == segment.language and message["language_probability"] == segment.language_probability
        json.dumps(message)
    plain = _finals(StreamingSession(recognizer, "auto"), audio)
    assert plain and all("language" not in f.to_json()["segment"] for f in plain)
