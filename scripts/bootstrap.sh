#!/usr/bin/env bash
# Create .venv and install polyasr into it (editable), once; re-install only when pyproject.toml changes.
# Usage: source scripts/bootstrap.sh [EXTRAS]   e.g. EXTRAS="dev,eval"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
venv="${POLYASR_VENV:-$root/.venv}"
py="${PYTHON:-python3}"

"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "polyasr needs Python >= 3.10 (found $("$py" --version 2>&1)); set PYTHON=/path/to/python3.x" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"

stamp="$venv/.polyasr-installed"
want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16) extras=$extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "polyasr: installing into $venv (first run, or pyproject.toml changed)..." >&2
  log="$venv/install.log"
  fail() { tail -n 40 "$log" >&2; echo "polyasr: installation failed; full log: $log" >&2; exit 1; }
  # Keep an existing torch (a CUDA build, say); otherwise take the pinned CPU build.
  "$venv/bin/python" -c 'import torch' 2>/dev/null \
    || "$venv/bin/pip" install "torch==${POLYASR_TORCH_VERSION:-2.13.0}" >"$log" 2>&1 || fail
  spec="$root"; [ -n "$extras" ] && spec="$root[$extras]"
  "$venv/bin/pip" install -e "$spec" >>"$log" 2>&1 || fail
  # the diarization speaker encoder's weights ship in resemblyzer; its librosa/webrtcvad dependencies are not used
  case ",$extras," in *,dev,*|*,diarize,*)
    "$venv/bin/pip" install --no-deps "resemblyzer==0.1.4" >>"$log" 2>&1 || fail ;;
  esac
  echo "$want" > "$stamp"
fi
