"""ModelSpec and ScalingOptions: what `polyasr serve --ray` runs on each model replica, and how many (no Ray import).

Each replica loads `ModelSpec` and runs one Batcher; `ScalingOptions` says how many replicas (a
fixed number, or autoscaled between `min_replicas` and `max_replicas` by the requests in progress
per replica, after `upscale_delay_seconds` / `downscale_delay_seconds` of a mean over
`look_back_seconds`), what each reserves (CPUs, GPUs, custom resources such as a node's
`{"asr_slot": 1}`, which place replicas on the nodes that have them) and where (a new local Ray
instance, or a cluster).
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
    replica_resources: tuple[tuple[str, float], ...] = ()  # custom Ray resources each replica reserves: (name, amount)
    upscale_delay_seconds: float = 30.0  # autoscaling: demand above the target this long adds replicas (Ray Serve's default)
    downscale_delay_seconds: float = 600.0  # autoscaling: demand below the target this long removes replicas (Ray Serve's default)
    look_back_seconds: float = 30.0  # autoscaling: the requests in progress are averaged over this (Ray Serve's default)

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
        for name, amount in self.replica_resources:
            if not name or name in ("CPU", "GPU") or not amount > 0:
                raise OptionsError(f"a replica resource needs a custom name (not CPU or GPU) and an amount > 0, not {name!r}={amount}")
        for field in ("upscale_delay_seconds", "downscale_delay_seconds", "look_back_seconds"):
            if not getattr(self, field) > 0:
                raise OptionsError(f"{field} must be positive, not {getattr(self, field)}")

    def autoscaling_config(self) -> dict[str, float | int] | None:
        """Ray Serve's autoscaling_config for these options; None for a fixed number of replicas."""
        if not self.autoscaling:
            return None
        return {"min_replicas": self.min_replicas, "max_replicas": self.max_replicas,  # type: ignore[dict-item]
                "target_ongoing_requests": self.target_ongoing_requests, "upscale_delay_s": self.upscale_delay_seconds,
                "downscale_delay_s": self.downscale_delay_seconds, "look_back_period_s": self.look_back_seconds}

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
