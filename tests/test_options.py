"""Every options dataclass checks itself when made and raises OptionsError naming the field and the bad value."""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest

import polyasr
from polyasr.errors import OptionsError, PolyasrError

SRC = Path(polyasr.__file__).resolve().parent
CLASS_LINE = re.compile(r"^class (\w+Options|StreamLimits|LanguageCalibration)\b", re.MULTILINE)

# (module:Class, bad settings, text the message must hold: the field's name and the bad value)
CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("polyasr.engine.windows:WindowOptions", {"window_seconds": 0.0}, ("window_seconds", "0.0")),
    ("polyasr.engine.windows:WindowOptions", {"window_seconds": math.nan}, ("window_seconds", "nan")),
    ("polyasr.engine.windows:WindowOptions", {"context_seconds": -1.0}, ("context_seconds", "-1.0")),
    ("polyasr.engine.windows:WindowOptions", {"window_seconds": 6.0, "context_seconds": 3.0}, ("window_seconds", "6.0", "context_seconds", "3.0")),
    ("polyasr.output.timing:SegmentOptions", {"pause_seconds": -0.1}, ("pause_seconds", "-0.1")),
    ("polyasr.output.timing:SegmentOptions", {"max_segment_seconds": 0.0}, ("max_segment_seconds", "0.0")),
    ("polyasr.audio.vad:VadOptions", {"threshold": 1.5}, ("threshold", "1.5")),
    ("polyasr.audio.vad:VadOptions", {"threshold": 0.0}, ("threshold", "0.0")),
    ("polyasr.audio.vad:VadOptions", {"min_speech_seconds": -1.0}, ("min_speech_seconds", "-1.0")),
    ("polyasr.audio.vad:VadOptions", {"min_silence_seconds": -1.0}, ("min_silence_seconds", "-1.0")),
    ("polyasr.audio.vad:VadOptions", {"speech_pad_seconds": -0.5}, ("speech_pad_seconds", "-0.5")),
    ("polyasr.engine.inference:BatchOptions", {"batch_seconds": 0.0}, ("batch_seconds", "0.0")),
    ("polyasr.engine.inference:BatchOptions", {"max_batch_size": 0}, ("max_batch_size", "0")),
    ("polyasr.engine.inference:BatchOptions", {"lookahead_batches": 0}, ("lookahead_batches", "0")),
    ("polyasr.engine.inference:BatchOptions", {"block_seconds": -3.0}, ("block_seconds", "-3.0")),
    ("polyasr.decoding.langid:LanguageCalibration", {"temperature": 0.0}, ("temperature", "0.0")),
    ("polyasr.decoding.langid:LanguageCalibration", {"inventory_weight": -1.0}, ("inventory_weight", "-1.0")),
    ("polyasr.model.runtime:RuntimeOptions", {"threads": 0}, ("threads", "0")),
    ("polyasr.model.runtime:RuntimeOptions", {"dtype": "fp64"}, ("dtype", "fp64")),
    ("polyasr.model.runtime:RuntimeOptions", {"device": ""}, ("device", "''")),
    ("polyasr.decoding.options:BeamOptions", {"beam_size": 0}, ("beam_size", "0")),
    ("polyasr.decoding.options:BeamOptions", {"top_k": 0}, ("top_k", "0")),
    ("polyasr.decoding.options:BeamOptions", {"pause_seconds": 40.0}, ("pause_seconds", "40.0", "max_stretch_seconds")),
    ("polyasr.decoding.options:DecoderOptions", {"strategy": "viterbi"}, ("strategy", "viterbi")),
    ("polyasr.diarization.options:DiarizationOptions", {"min_speakers": 3, "max_speakers": 2}, ("min_speakers", "3", "max_speakers", "2")),
    ("polyasr.diarization.options:DiarizationOptions", {"threshold": 2.5}, ("threshold", "2.5")),
    ("polyasr.diarization.options:DiarizationOptions", {"speaker_cost": -1.0}, ("speaker_cost", "-1.0")),
    ("polyasr.diarization.options:DiarizationOptions", {"step_seconds": 2.0}, ("step_seconds", "2.0")),
    ("polyasr.diarization.options:DiarizationOptions", {"min_turn_seconds": -1.0}, ("min_turn_seconds", "-1.0")),
    ("polyasr.batch.options:BatchJobOptions", {"output_format": "csv"}, ("output_format", "csv")),
    ("polyasr.batch.options:BatchJobOptions", {"shards": 0}, ("shards", "0")),
    ("polyasr.batch.options:BatchJobOptions", {"files_per_batch": 0}, ("files_per_batch", "0")),
    ("polyasr.batch.options:BatchJobOptions", {"inline_seconds": 0.0}, ("inline_seconds", "0.0")),
    ("polyasr.batch.options:ClusterOptions", {"actors": 0}, ("actors", "0")),
    ("polyasr.batch.options:ClusterOptions", {"gpus_per_actor": -0.5}, ("gpus_per_actor", "-0.5")),
    ("polyasr.batch.options:ClusterOptions", {"cpus_per_actor": -1.0}, ("cpus_per_actor", "-1.0")),
    ("polyasr.batch.options:ClusterOptions", {"local_cpus": 0}, ("local_cpus", "0")),
    ("polyasr.batch.options:ClusterOptions", {"object_store_mb": 0}, ("object_store_mb", "0")),
    ("polyasr.batch.workers:WorkerOptions", {"gpus": -1.0}, ("gpus", "-1.0")),
    ("polyasr.batch.workers:WorkerOptions", {"cpus": -1.0}, ("cpus", "-1.0")),
    ("polyasr.server.options:BatcherOptions", {"queue_size": 0}, ("queue_size", "0")),
    ("polyasr.server.scaling:ScalingOptions", {"replicas": 0}, ("replicas", "0")),
    ("polyasr.server.scaling:ScalingOptions", {"min_replicas": 3, "max_replicas": 2}, ("min_replicas", "3", "2")),
    ("polyasr.server.scaling:ScalingOptions", {"replica_cpus": 0.0}, ("CPUs", "0.0")),
    ("polyasr.server.scaling:ScalingOptions", {"replica_resources": (("CPU", 1.0),)}, ("CPU", "1.0")),
    ("polyasr.server.scaling:ScalingOptions", {"replica_resources": (("slot", 0.0),)}, ("slot", "0.0")),
    ("polyasr.server.scaling:ScalingOptions", {"upscale_delay_seconds": 0.0}, ("upscale_delay_seconds", "0.0")),
    ("polyasr.server.scaling:ScalingOptions", {"downscale_delay_seconds": -1.0}, ("downscale_delay_seconds", "-1.0")),
    ("polyasr.server.scaling:ScalingOptions", {"look_back_seconds": 0.0}, ("look_back_seconds", "0.0")),
    ("polyasr.server.options:BatcherOptions", {"max_queued_audio_seconds": 0.0}, ("max_queued_audio_seconds", "0.0")),
    ("polyasr.server.options:BatcherOptions", {"max_batch": 0}, ("max_batch", "0")),
    ("polyasr.server.options:BatcherOptions", {"batch_wait_ms": -1.0}, ("batch_wait_ms", "-1.0")),
    ("polyasr.server.options:StreamLimits", {"max_streams": 0}, ("max_streams", "0")),
    ("polyasr.server.options:StreamLimits", {"message_kb": -1.0}, ("message_kb", "-1.0")),
    ("polyasr.server.options:StreamLimits", {"backlog_seconds": 0.0}, ("backlog_seconds", "0.0")),
    ("polyasr.server.options:StreamLimits", {"idle_seconds": 0.0}, ("idle_seconds", "0.0")),
    ("polyasr.server.options:StreamLimits", {"max_seconds": 0.0}, ("max_seconds", "0.0")),
    ("polyasr.server.options:ServerOptions", {"max_upload_mb": -1.0}, ("max_upload_mb", "-1.0")),
    ("polyasr.server.options:ServerOptions", {"max_audio_seconds": 0.0}, ("max_audio_seconds", "0.0")),
    ("polyasr.server.options:ServerOptions", {"timeout_seconds": 0.0}, ("timeout_seconds", "0.0")),
    ("polyasr.server.options:ServerOptions", {"upload_timeout_seconds": 0.0}, ("upload_timeout_seconds", "0.0")),
    ("polyasr.server.options:ServerOptions", {"keep_alive_seconds": 0.0}, ("keep_alive_seconds", "0.0")),
    ("polyasr.server.options:ServerOptions", {"decode_slots": 0}, ("decode_slots", "0")),
    ("polyasr.server.options:ServerOptions", {"max_connections": 0}, ("max_connections", "0")),
    ("polyasr.server.options:ServerOptions", {"max_audio_seconds": 20_000.0}, ("max_queued_audio_seconds", "14400", "max_audio_seconds", "20000")),
    ("polyasr.server.options:ServerOptions", {"retry_after_seconds": -1}, ("retry_after_seconds", "-1")),
    ("polyasr.server.options:ServerOptions", {"api_keys": "secret"}, ("api_keys", "'secret'")),
    ("polyasr.server.options:ServerOptions", {"cors_origins": ("example.com",)}, ("cors_origins", "'example.com'")),
    ("polyasr.streaming.session:StreamingOptions", {"update_seconds": 0.0}, ("update_seconds", "0.0")),
    ("polyasr.streaming.session:StreamingOptions", {"pause_seconds": -1.0}, ("pause_seconds", "-1.0")),
    ("polyasr.streaming.session:StreamingOptions", {"cut_margin_seconds": -1.0}, ("cut_margin_seconds", "-1.0")),
    ("polyasr.streaming.session:StreamingOptions", {"max_buffer_seconds": 1.0}, ("max_buffer_seconds", "1.0", "update_seconds")),
    ("polyasr.streaming.session:StreamingOptions", {"decimals": -1}, ("decimals", "-1")),
    ("polyasr.streaming.session:StreamingOptions", {"context_seconds": -1.0}, ("context_seconds", "-1.0")),
    ("polyasr.streaming.session:StreamingOptions", {"lookahead_seconds": -0.5}, ("lookahead_seconds", "-0.5")),
    ("polyasr.streaming.endpoint:EndpointOptions", {"silence_seconds": -1.0}, ("silence_seconds", "-1.0")),
    ("polyasr.streaming.endpoint:EndpointOptions", {"margin_db": -3.0}, ("margin_db", "-3.0")),
    ("polyasr.training.options:DataOptions", {"min_seconds": -1.0}, ("min_seconds", "-1.0")),
    ("polyasr.training.options:DataOptions", {"batch_seconds": 10.0}, ("batch_seconds", "10.0", "max_seconds")),
    ("polyasr.training.options:DataOptions", {"max_batch_size": 0}, ("max_batch_size", "0")),
    ("polyasr.training.options:DataOptions", {"balance_alpha": 2.0}, ("balance_alpha", "2.0")),
    ("polyasr.training.options:DataOptions", {"vocabulary": "grow"}, ("vocabulary", "grow")),
    ("polyasr.training.options:TrainOptions", {"epochs": 0.0}, ("epochs", "0.0")),
    ("polyasr.training.options:TrainOptions", {"learning_rate": -1.0}, ("learning_rate", "-1.0")),
    ("polyasr.training.options:TrainOptions", {"weight_decay": -0.1}, ("weight_decay", "-0.1")),
    ("polyasr.training.options:TrainOptions", {"mask_time_prob": 1.0}, ("mask_time_prob", "1.0")),
    ("polyasr.training.options:TrainOptions", {"mask_feature_prob": -0.1}, ("mask_feature_prob", "-0.1")),
    ("polyasr.training.options:TrainOptions", {"mask_time_length": 0}, ("mask_time_length", "0")),
    ("polyasr.training.options:TrainOptions", {"mask_feature_length": 0}, ("mask_feature_length", "0")),
    ("polyasr.training.options:TrainOptions", {"eval_dtype": "fp64"}, ("eval_dtype", "fp64")),
    ("polyasr.training.options:TrainOptions", {"device": "cuda"}, ("device", "cuda")),
    ("polyasr.align.segments:SegmentAlignOptions", {"margin_seconds": 2.0, "wide_margin_seconds": 1.0}, ("margin_seconds", "2.0", "wide_margin_seconds", "1.0")),
    ("polyasr.align.segments:SegmentAlignOptions", {"min_char_score": 1.5}, ("min_char_score", "1.5")),
    ("polyasr.decoding.language_spans:SpanOptions", {"switch_penalty": -1.0}, ("switch_penalty", "-1.0")),
    ("polyasr.output.base:WriterOptions", {"highlight_below": 1.5}, ("highlight_below", "1.5")),
    ("polyasr.align.segments:SegmentAlignOptions", {"context_seconds": -1.0}, ("context_seconds", "-1.0")),
    ("polyasr.align.segments:SegmentAlignOptions", {"merge_gap_seconds": -1.0}, ("merge_gap_seconds", "-1.0")),
    ("polyasr.output.base:WriterOptions", {"max_line_width": 0}, ("max_line_width", "0")),
    ("polyasr.output.base:WriterOptions", {"max_line_count": 0}, ("max_line_count", "0")),
    ("polyasr.output.base:WriterOptions", {"max_cue_seconds": 0.0}, ("max_cue_seconds", "0.0")),
    ("polyasr.evaluation.run:EvalOptions", {"decode": "guess"}, ("decode", "guess")),
    ("polyasr.evaluation.run:EvalOptions", {"decode_workers": 0}, ("decode_workers", "0")),
    ("polyasr.evaluation.run:EvalOptions", {"decode_ahead": 0}, ("decode_ahead", "0")),
    ("polyasr.model.export:ExportOptions", {"quantize": "int4"}, ("quantize", "int4")),
    ("polyasr.model.export:ExportOptions", {"opset": 0}, ("opset", "0")),
    ("polyasr.decoding.lm_build:LmBuildOptions", {"order": 7}, ("order", "7")),
    ("polyasr.decoding.lm_build:LmBuildOptions", {"min_count": -1}, ("min_count", "-1")),
    ("polyasr.decoding.lm_build:LmBuildOptions", {"language": "ja"}, ("language", "ja")),
    ("polyasr.options:TranscribeOptions", {"language_candidates": "de,fr"}, ("language_candidates", "de,fr")),
]


def options_class(name: str) -> type:
    module, _, cls = name.partition(":")
    if module == "polyasr.batch.workers":
        pytest.importorskip("pyarrow")
    return getattr(importlib.import_module(module), cls)


@pytest.mark.parametrize("name, bad, named", CASES, ids=[f"{c.split(':')[1]}-{'-'.join(b)}" for c, b, _ in CASES])
def test_a_bad_value_raises_options_error_naming_the_field_and_the_value(name: str, bad: dict[str, Any], named: tuple[str, ...]) -> None:
    cls = options_class(name)
    with pytest.raises(OptionsError) as raised:
        cls(**bad)
    message = str(raised.value)
    assert all(text in message for text in named), message
    assert "\n" not in message and isinstance(raised.value, (PolyasrError, ValueError))


def test_every_options_class_has_a_case_and_its_defaults_are_valid() -> None:
    """Each dataclass named *Options (and the other settings classes) in the package is checked above."""
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("polyasr", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        for cls in CLASS_LINE.findall(path.read_text(encoding="utf-8")):
            found.add(f"{module}:{cls}")
    cli = {name for name in found if name.startswith("polyasr.cli.")}
    assert found - cli == {name for name, _, _ in CASES}
    for name in sorted(found - cli):
        cls = options_class(name)
        assert is_dataclass(cls) and cls.__dataclass_params__.frozen, name  # type: ignore[attr-defined]
        assert "__post_init__" in vars(cls), f"{name} checks nothing"
        assert fields(cls) and cls() == cls()  # the defaults are valid


def test_batch_job_options_raise_options_error_not_batch_job_error() -> None:
    from polyasr.batch.options import BatchJobOptions
    from polyasr.errors import BatchJobError

    with pytest.raises(OptionsError) as raised:
        BatchJobOptions(files_per_batch=0)
    assert not isinstance(raised.value, BatchJobError)
