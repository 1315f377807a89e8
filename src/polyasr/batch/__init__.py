"""Cluster-scale batch transcription on Ray Data: `polyasr batch` (pip install 'polyasr[ray]').

    from polyasr.batch import BatchJobOptions, ClusterOptions, run_batch
    summary = run_batch("recordings/**/*.mp3", "out/", BatchJobOptions(transcribe=TranscribeOptions(language="detect")))
    summary.rtfx, summary.failed

Inputs are listed on the driver (inputs.py); CPU tasks decode, actors run polyasr's own engine
(workers.py); results land in deterministic shards written atomically, so a rerun resumes
(shards.py); pipeline.py ties them together with Ray Data; summary.py reports the run.
"""

from .inputs import InputList, read_inputs
from .options import BatchJobOptions, ClusterOptions
from .pipeline import run_batch
from .summary import BatchProgress, BatchSummary

__all__ = ["BatchJobOptions", "BatchProgress", "BatchSummary", "ClusterOptions", "InputList", "read_inputs", "run_batch"]
