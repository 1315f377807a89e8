"""container/Containerfile and its CUDA variant (the build arguments in container/cuda.args), checked
without building: parsed by BuildKit's own parser (the `dockerfile` package), every variable a RUN
uses declared, a non-root user, the model volume, the health check on /health/ready, the entrypoint;
the CUDA base and torch's CUDA index name the same CUDA release. (The CPU image is built and run by
benchmarks/container_image.py; a CUDA base image cannot be pulled on the test machines.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

dockerfile = pytest.importorskip("dockerfile")

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "container" / "Containerfile"
CUDA_ARGS = ROOT / "container" / "cuda.args"
SHELL_NAMES = {"PATH"}  # variables a RUN may use that the base image's environment provides


def _instructions() -> list:
    return list(dockerfile.parse_file(str(CONTAINERFILE)))


def _declared_args(instructions: list) -> dict[str, str]:
    return {value.split("=", 1)[0]: value.partition("=")[2] for i in instructions if i.cmd == "ARG" for value in i.value}


def _cuda_args() -> dict[str, str]:
    lines = [line.strip() for line in CUDA_ARGS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert all(re.fullmatch(r"[A-Z_]+=\S+", line) for line in lines), lines
    return dict(line.split("=", 1) for line in lines)


def test_containerfile_parses_and_keeps_its_promises() -> None:
    instructions = _instructions()
    commands = [i.cmd for i in instructions]
    assert commands[0] == "ARG" and instructions[0].value[0].startswith("BASE=")  # FROM takes the base as a build argument
    assert [i.value for i in instructions if i.cmd == "FROM"] == [("${BASE}",)]
    after_from = instructions[commands.index("FROM") + 1:]
    known = set(_declared_args(after_from)) | SHELL_NAMES | {
        i.value[k] for i in after_from if i.cmd == "ENV" for k in range(0, len(i.value), 2)}
    for run in (i for i in after_from if i.cmd == "RUN"):
        used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", run.value[0]))
        assert used <= known, (run.original, used - known)  # an ARG given before FROM is unset in RUN
    user = next(i for i in reversed(instructions) if i.cmd == "USER").value[0]
    assert user not in ("root", "0") and any(f"useradd --uid \"${{UID}}\"" in i.value[0] and user in i.value[0]
                                            for i in instructions if i.cmd == "RUN")
    assert next(i for i in instructions if i.cmd == "VOLUME").value == ("/models",)
    health = next(i for i in instructions if i.cmd == "HEALTHCHECK")
    assert health.value[0] == "CMD" and "/health/ready" in health.value[1]
    entry = next(i for i in instructions if i.cmd == "ENTRYPOINT")
    assert entry.json and entry.value[:2] == ("polyasr", "serve")
    port = entry.value[entry.value.index("--port") + 1]
    assert next(i for i in instructions if i.cmd == "EXPOSE").value == (port,) and f":{port}/health/ready" in health.value[1]


def test_cuda_variant_sets_only_declared_arguments_and_one_cuda_release() -> None:
    declared = _declared_args(_instructions())
    cuda = _cuda_args()
    assert set(cuda) <= set(declared) and {"BASE", "TORCH_INDEX"} <= set(cuda)
    base = re.fullmatch(r"docker\.io/nvidia/cuda:(\d+)\.(\d+)\.\d+-(?:cudnn-)?runtime-ubuntu\d+\.\d+", cuda["BASE"])
    index = re.fullmatch(r"https://download\.pytorch\.org/whl/cu(\d+)", cuda["TORCH_INDEX"])
    assert base and index, cuda
    assert index.group(1) == base.group(1) + base.group(2)  # torch's CUDA wheels need the base's CUDA release
    assert declared["BASE"] != cuda["BASE"] and declared["TORCH_INDEX"] == ""  # the default stays the CPU base


def test_cuda_recipe_is_the_one_in_cuda_args() -> None:
    """The Containerfile's header and docs/scaling.md build the CUDA image from container/cuda.args, not from a copy."""
    for path in (CONTAINERFILE, ROOT / "docs" / "scaling.md"):
        text = path.read_text(encoding="utf-8")
        assert "container/cuda.args" in text and "nvidia/cuda:" not in text and "whl/cu1" not in text, path
