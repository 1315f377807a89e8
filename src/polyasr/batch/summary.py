"""Progress and the end-of-run summary of a batch job (also written to the output folder as summary.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class BatchProgress:
    """Where a running job stands; handed to the progress callback after every batch of results."""

    done: int  # inputs with a row this run (succeeded or failed)
    total: int  # inputs this run has to do (the listed ones minus those finished earlier)
    failed: int  # of `done`, how many failed
    audio_seconds: float  # audio of the inputs that succeeded
    shards_written: int  # shard files written this run


@dataclass(frozen=True)
class BatchSummary:
    """What a run did. Throughput counts this run only: its audio over its whole wall time."""

    output: str  # the output folder or URL
    inputs: int  # inputs listed
    resumed: int  # of them, finished by an earlier run and skipped
    transcribed: int  # inputs this run wrote a row for (succeeded or failed)
    failed: int  # of `transcribed`, rows with an error
    audio_seconds: float  # audio of this run's inputs that succeeded
    wall_seconds: float  # this run: listing inputs, starting Ray and the actors, transcribing, writing
    shards_written: int  # shard files this run wrote
    output_files: int  # shard files in the output folder after this run
    output_failed: int  # rows with an error in the whole output folder
    output_audio_seconds: float  # audio of the succeeded rows in the whole output folder
    failure_types: dict[str, int] = field(default_factory=dict)  # this run's failures by error class
    first_failures: tuple[tuple[str, str], ...] = ()  # (id, error) of this run's first failures, at most 20
    skipped_rows: tuple[str, ...] = ()  # manifest rows that name no input
    complete: bool = True  # every listed input has exactly one row in the output

    @property
    def audio_hours(self) -> float:
        return self.audio_seconds / 3600

    @property
    def rtfx(self) -> float:
        """Inverse real-time factor as the Open ASR Leaderboard defines it: audio seconds / wall seconds."""
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def audio_hours_per_hour(self) -> float:
        """Audio hours transcribed per wall-clock hour (the same ratio as RTFx, in other units)."""
        return self.rtfx

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_failures"] = [{"id": uid, "error": error} for uid, error in self.first_failures]
        data["skipped_rows"] = list(self.skipped_rows)
        data |= {"audio_hours": self.audio_hours, "rtfx": self.rtfx, "audio_hours_per_hour": self.audio_hours_per_hour}
        return data

    def lines(self) -> list[str]:
        """A few human-readable lines (the CLI prints them)."""
        lines = [
            f"{self.inputs} inputs: {self.transcribed} transcribed now, {self.resumed} done by an earlier run; "
            f"{self.failed} failed now ({', '.join(f'{k} {v}' for k, v in sorted(self.failure_types.items())) or 'none'})",
            f"{self.audio_hours:.3f} audio hours in {self.wall_seconds:.1f} s wall time: "
            f"{self.audio_hours_per_hour:.1f} audio hours per hour, RTFx {self.rtfx:.1f}",
            f"{self.shards_written} shard files written; {self.output} holds {self.output_files} "
            f"({self.output_failed} failed rows, {self.output_audio_seconds / 3600:.3f} audio hours)",
        ]
        if not self.complete:
            lines.append("interrupted: rerun the same command to finish (finished shards are kept)")
        return lines
