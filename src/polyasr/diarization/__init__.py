"""Speaker diarization, offline: who spoke when, and a speaker on every segment and word.

    from polyasr.diarization import Diarizer, DiarizationOptions
    turns = Diarizer(SileroDetector(VadOptions()), DiarizationOptions(max_speakers=4))("meeting.m4a")
    result = rec.transcribe("meeting.m4a", diarization=DiarizationOptions())   # segments and words get .speaker

Needs `pip install 'polyasr[diarize]'` (scikit-learn, silero-vad); the speaker encoder's weights ship
in polyasr (data/speaker_encoder.safetensors, see encoder.py).

Modules: options.py, features.py, encoder.py, clustering.py, pipeline.py (Diarizer), resegment.py
(Viterbi resegmentation over cluster centroids), assign.py (a speaker on every word).
"""

from .assign import assign_speakers
from .options import DiarizationOptions
from .pipeline import Diarizer, SpeakerTurn

__all__ = ["DiarizationOptions", "Diarizer", "SpeakerTurn", "assign_speakers"]
