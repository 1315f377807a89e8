"""ModelSpec and ScalingOptions: what `polyasr serve --ray` runs on each model replica, and how many (no Ray import).

Each replica loads `ModelSpec` and runs one Batcher; `ScalingOptions` says how many replicas (a
fixed number, or autoscaled between `min_replicas` and `max_replicas` by the requests in progress
per replica), what each reserves (CPUs, GPUs) and where (a new local Ray instance, or a cluster).
Bad values raise OptionsError when the options are made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import OptionsError


@dataclass(frozen=True)
class ModelSpec:
    """The model every replica loads (the arguments of polyasr.load)."""

    model: str | None = None  # Hub id or folder (None: $POLYASR_MODEL or the default); a folder must exist on every node
    device: str = "auto"
    dtype: str = "auto"
    threads: int | None = None  # torch threads per replica (None: the replica's CPUs, at least 1)


@dataclass(frozen=True)
class ScalingOptions:
    """How many model replicas, what each reserves, and which Ray."""

    address: str | None = None  # None: start a local Ray instance; else ray.init's address ("auto", "host:6379", "ray://host:10001")
    replicas: int = 1  # fixed number of replicas (when min_replicas/max_replicas are not given)
    min_replicas: int | None = None  # autoscaling: at least this many
    max_replicas: int | None = None  # autoscaling: at most this many
    target_ongoing_requests: float = 4.0  # autoscaling: requests in progress per replica it aims at
    replica_cpus: float = 1.0  # CPUs each replica reserves
    replica_gpus: float = 0.0  # GPUs each replica reserves (with --device cuda)
    local_cpus: int | None = None  # logical CPUs of a new local instance (None: this machine's, at least what the replicas reserve)

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise OptionsError(f"replicas must be at least 1, not {self.replicas}")
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise OptionsError("autoscaling needs both min_replicas and max_replicas")
        if self.min_replicas is not None and not 1 <= self.min_replicas <= self.max_replicas:  # type: ignore[operator]
            raise OptionsError(f"need 1 <= min_replicas <= max_replicas, not {self.min_replicas} and {self.max_replicas}")
        if not self.target_ongoing_requests > 0:
            raise OptionsError(f"target_ongoing_requests must be positive, not {self.target_ongoing_requests}")
        if not self.replica_cpus > 0 or not self.replica_gpus >= 0:
            raise OptionsError(f"a replica needs CPUs > 0 and GPUs >= 0, not {self.replica_cpus} and {self.replica_gpus}")

    @property
    def autoscaling(self) -> bool:
        return self.min_replicas is not None

    @property
    def most_replicas(self) -> int:
        """Replicas there can be at once."""
        return self.max_replicas if self.max_replicas is not None else self.replicas

    def needed_cpus(self) -> int:
        """Logical CPUs the replicas reserve at most (a local instance gets at least these)."""
        return math.ceil(self.most_replicas * self.replica_cpus)
