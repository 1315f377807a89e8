"""Fine-tuning and new languages: `polyasr train` (needs the `train` extra: accelerate, jiwer).

    from polyasr.training import DataSource, TrainOptions, train
    outcome = train("voidful/wav2vec2-xlsr-multilingual-56", DataSource(dataset="/data/cv", languages=("rw",)),
                    "runs/xlsr-57", dev=DataSource(dataset="/data/cv", split="dev", languages=("rw", "de")),
                    options=TrainOptions(epochs=5))
    outcome.best        # runs/xlsr-57/best: polyasr.load(...) takes it as it is
"""

from .data import DataSource
from .options import DataOptions, TrainOptions
from .preflight import PreflightReport
from .run import TrainOutcome, train

__all__ = ["DataOptions", "DataSource", "PreflightReport", "TrainOptions", "TrainOutcome", "train"]
