"""Options of a batch job (pure dataclasses: the CLI reads their defaults without importing Ray or pyarrow).

Bad values raise OptionsError when the options are made; BatchJobError is for jobs that cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import OptionsError
from ..engine.inference import BatchOptions
from ..model.runtime import RuntimeOptions
from ..options import TranscribeOptions

FORMATS = ("parquet", "jsonl")  # output file formats
INPUTS_PER_SHARD = 1000  # default shard size on a job's first run


@dataclass(frozen=True)
class BatchJobOptions:
    """What a batch job computes and how it lays out its output."""

    model: str | None = None  # Hub id or folder (every node must reach it); None: $POLYASR_MODEL or the default
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)  # language (for inputs without one), words, windows, VAD, decoder
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)  # per actor; device "auto": cuda if it has a GPU
    batch: BatchOptions = field(default_factory=BatchOptions)  # forward passes inside each actor
    output_format: str = "parquet"  # "parquet" or "jsonl"
    shards: int | None = None  # None: one per 1000 inputs on the first run; reruns keep the first run's count
    files_per_batch: int = 16  # inputs per decode task and per actor call
    inline_seconds: float = 120.0  # inputs up to this long are decoded by CPU tasks; longer ones streamed by actors

    def __post_init__(self) -> None:
        if self.output_format not in FORMATS:
            raise OptionsError(f"output_format must be one of {', '.join(FORMATS)}, not {self.output_format!r}")
        if self.shards is not None and self.shards < 1:
            raise OptionsError(f"shards must be at least 1, not {self.shards}")
        if self.files_per_batch < 1:
            raise OptionsError(f"files_per_batch must be at least 1, not {self.files_per_batch}")
        if not self.inline_seconds > 0:
            raise OptionsError(f"inline_seconds must be positive, not {self.inline_seconds}")


@dataclass(frozen=True)
class ClusterOptions:
    """Where the job runs and what each model replica gets."""

    address: str | None = None  # None: start a local Ray instance; "auto" or "host:port": join that cluster
    actors: int = 1  # model replicas (the actor pool's size)
    gpus_per_actor: float = 0.0  # GPUs per actor; 0.5 puts two actors on a GPU; 0: CPU actors
    cpus_per_actor: float = 1.0  # CPUs reserved per actor (torch's threads on CPU actors)
    local_cpus: int | None = None  # CPUs of a local instance; None: this machine's, at least what the actors need
    object_store_mb: int | None = None  # object store of a local instance; None: Ray's default
    verbose: bool = False  # let Ray's own logs and progress bars through

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise OptionsError(f"actors must be at least 1, not {self.actors}")
        for name in ("gpus_per_actor", "cpus_per_actor"):
            value = getattr(self, name)
            if not value >= 0:
                raise OptionsError(f"{name} cannot be negative, not {value}")
        for name in ("local_cpus", "object_store_mb"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionsError(f"{name} must be at least 1 (or None for the default), not {value}")
