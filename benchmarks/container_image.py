"""Build and run container/Containerfile with podman: a Debian base from debootstrap, the image, a request.

    .venv/bin/python benchmarks/container_image.py --model /tmp/model --json out.json
    .venv/bin/python benchmarks/container_image.py --wheels /opt/wheels     # torch (and more) from local wheels

The model folder must be readable by the image's user (uid 10001). Steps, each timed:
(1) the base image `localhost/debian-bookworm`, when missing: `debootstrap --variant=minbase
bookworm` from the apt mirror this machine uses, imported with `podman import`; (2) a container
running `true` on it: podman's defaults, else runc with limits this machine allows (if none runs,
the script says exactly why, from podman's own errors, and exits 0 with "skipped"); (3) every wheel
the image needs fetched into container/wheels/ with this machine's pip (its index settings and CA;
--wheels are copied there too), then `podman build --format docker` (OCI images drop HEALTHCHECK)
with BASE set to the base and OFFLINE=1 (pip inside the build reads only those wheels); (4) `podman
run` offline (HF_HUB_OFFLINE=1) with the model folder mounted read-only at /models/model, published
on 127.0.0.1 only, as the image's non-root user; the time until its HEALTHCHECK (/health/ready)
says healthy; (5) one transcription, whose text must equal `polyasr transcribe`'s on the host. The
container is removed by its id. Default model: a tiny random one (tests/tiny_model.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from load_clients import wav_bytes  # noqa: E402
from server_process import cpu_flags, free_port  # noqa: E402

BASE = "localhost/debian-bookworm"
IMAGE = "localhost/polyasr:cpu-test"


def run(command: list[str], timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


def why_not(done: subprocess.CompletedProcess) -> str:
    """podman's own last error line."""
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {done.returncode}"


# What runs containers here: podman's default OCI runtime (crun) with its default limits, else runc
# with limits this machine lets a process set (the sandbox refuses RLIMIT_NPROC at its hard limit).
ATTEMPTS = ([], ["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def podman_problem(report: dict) -> tuple[list[str], list[str]] | str:
    """(podman's global options, run/build options) that run a container here, or exactly why none does."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install podman buildah)"
    info = run(["podman", "info", "--format", "{{.Store.GraphDriverName}}"], timeout=120)
    if info.returncode != 0:
        return f"podman info failed: {why_not(info)}"
    errors = []
    for options, limits in [(ATTEMPTS[0], []), (ATTEMPTS[0], LIMITS), (ATTEMPTS[1], LIMITS)]:
        probe = run(["podman", *options, "run", "--rm", "--network", "none", *limits, BASE, "true"], timeout=300)
        if probe.returncode == 0:
            report["podman_errors_before"] = errors
            return list(options), list(limits)
        errors.append(f"podman {' '.join(options + ['run'] + limits)}: {why_not(probe)}")
    return "podman cannot run a container here: " + " | ".join(errors)


def image_exists(name: str) -> bool:
    return run(["podman", "image", "exists", name], timeout=60).returncode == 0


def build_base(workdir: Path, mirror: str) -> float:
    """debootstrap a minimal bookworm and import it as BASE; seconds taken."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    rootfs = workdir / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    started = time.perf_counter()
    done = run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"debootstrap failed: {why_not(done)}")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(["podman", "import", "-", BASE], stdin=tar.stdout, capture_output=True, text=True, timeout=600)
    tar.wait()
    if imported.returncode != 0:
        raise RuntimeError(f"podman import failed: {why_not(imported)}")
    shutil.rmtree(rootfs, ignore_errors=True)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model folder to mount (default: a tiny random one)")
    parser.add_argument("--wheels", type=Path, default=None, help="wheels to install from first (e.g. torch's CPU wheel)")
    parser.add_argument("--mirror", default="http://deb.debian.org/debian", help="apt mirror for debootstrap")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/polyasr-container"))
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"cpu": cpu_flags()}

    def finish(status: str) -> int:
        report["status"] = status
        print(json.dumps(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 0 if status in ("ok", "skipped") else 1

    if shutil.which("podman") is not None and not image_exists(BASE):
        try:
            report["base_seconds"] = build_base(args.workdir, args.mirror)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            report["reason"] = str(error)
            return finish("failed")
    found = podman_problem(report)
    if isinstance(found, str):
        report["reason"] = found
        print(f"skipped: {found}", file=sys.stderr)
        return finish("skipped")
    podman, limits = ["podman", *found[0]], found[1]
    report["podman"] = " ".join(podman + limits)

    wheels = ROOT / "container" / "wheels"
    for wheel in sorted(args.wheels.glob("*.whl")) if args.wheels else []:
        shutil.copy2(wheel, wheels / wheel.name)
    started = time.perf_counter()  # every wheel the image needs, fetched here (this machine's pip settings and CA)
    fetched = run([sys.executable, "-m", "pip", "download", "--quiet", "-d", str(wheels), "torch==2.13.0", f"{ROOT}[server]"])
    report["wheels_seconds"] = time.perf_counter() - started
    if fetched.returncode != 0:
        report["reason"] = f"pip download failed: {why_not(fetched)}"
        return finish("failed")
    for sdist in wheels.glob("polyasr-*"):
        sdist.unlink()  # the image builds polyasr from the source it copies
    started = time.perf_counter()
    built = run([*podman, "build", *limits, "--format", "docker", "--network", "host", "-f", str(ROOT / "container" / "Containerfile"),
                 "--build-arg", f"BASE={BASE}", "--build-arg", "OFFLINE=1", "-t", IMAGE, str(ROOT)], timeout=3600)
    report["build_seconds"] = time.perf_counter() - started
    if built.returncode != 0:
        report["reason"] = f"podman build failed: {why_not(built)}"
        report["build_log"] = built.stdout[-3000:] + built.stderr[-3000:]
        return finish("failed")
    size = run(["podman", "image", "inspect", IMAGE, "--format", "{{.Size}}"])
    report["image_mib"] = int(size.stdout.strip() or 0) / 2**20

    model = args.model
    if model is None:
        from tiny_model import build_tiny_model

        model = build_tiny_model(args.workdir / "model", live_tokens="ab|")
        for path in model.iterdir():
            path.chmod(0o644)  # the image's user (uid 10001) reads it; safetensors writes 0600
    port = free_port()
    started = time.perf_counter()
    container = run([*podman, "run", *limits, "-d", "-p", f"127.0.0.1:{port}:8000", "-v", f"{model.resolve()}:/models/model:ro",
                     "-e", "HF_HUB_OFFLINE=1", IMAGE, "--model", "/models/model", "--device", "cpu", "--dtype", "fp32", "--threads", "2",
                     "--allowed-hosts", "127.0.0.1"])
    if container.returncode != 0:
        report["reason"] = f"podman run failed: {why_not(container)}"
        return finish("failed")
    cid = container.stdout.strip()
    try:
        deadline = time.monotonic() + 300
        health = ""
        while time.monotonic() < deadline and health != "healthy":
            run([*podman, "healthcheck", "run", cid], timeout=60)
            health = run([*podman, "inspect", cid, "--format", "{{.State.Health.Status}}"]).stdout.strip()
            time.sleep(1)
        report["healthy_after_seconds"] = time.perf_counter() - started
        report["health"] = health
        user = run([*podman, "exec", cid, "id", "-un"]).stdout.strip()
        report["user"] = user
        clip = wav_bytes(3.0, seed=3)
        (args.workdir / "clip.wav").write_bytes(clip)
        boundary = "polyasrboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.wav\"\r\n"
                "Content-Type: audio/wav\r\n\r\n").encode() + clip + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/audio/transcriptions", data=body,
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as answer:
            text = json.loads(answer.read())["text"]
        report["request_seconds"] = time.perf_counter() - began
        import polyasr

        expected = polyasr.load(str(model), device="cpu", dtype="fp32").transcribe(str(args.workdir / "clip.wav")).text
        report["same_text_as_host"] = text == expected
        return finish("ok" if health == "healthy" and user == "polyasr" and text == expected else "failed")
    finally:
        run([*podman, "rm", "-f", cid], timeout=120)


if __name__ == "__main__":
    sys.exit(main())
