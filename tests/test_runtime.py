"""CPU features read for the speed path and the benchmarks' reports."""

from __future__ import annotations

from pathlib import Path

from polyasr.model.runtime import cpu_features


def test_cpu_features_reads_the_speed_flags_in_a_fixed_order(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_vnni avx512_bf16 sse\n"
                    "processor\t: 1\nflags\t\t: fpu avx2 amx_bf16\n", encoding="utf-8")
    assert cpu_features(str(info)) == ("avx512_bf16", "avx512_vnni", "avx512f", "avx2")  # the first CPU's line
    info.write_text("flags\t\t: fpu sse2 amx_bf16 amx_int8 avx512_bf16\n", encoding="utf-8")
    assert cpu_features(str(info)) == ("amx_bf16", "amx_int8", "avx512_bf16")
    info.write_text("processor\t: 0\n", encoding="utf-8")  # no flags line (not x86)
    assert cpu_features(str(info)) == ()
    assert cpu_features(str(tmp_path / "missing")) == ()
