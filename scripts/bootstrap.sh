#!/usr/bin/env bash
# Create .venv and install polyasr into it (editable), once. Re-install only when pyproject.toml
# changes or an extra is asked for that is not installed yet; extras installed once stay (the
# install takes the union), so switching between scripts/polyasr, scripts/test and
# POLYASR_EXTRAS=server scripts/polyasr does not re-install each time.
# Usage: source scripts/bootstrap.sh [EXTRAS]   e.g. EXTRAS="dev,eval"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
venv="${POLYASR_VENV:-$root/.venv}"
py="${PYTHON:-python3}"

"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || { echo "polyasr needs Python >= 3.10 (found $("$py" --version 2>&1)); set PYTHON=/path/to/python3.x" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"

stamp="$venv/.polyasr-installed"  # "<pyproject.toml digest> extras=<installed extras>"
digest="$(sha256sum < "$root/pyproject.toml" | cut -c1-16)"
had_digest=""; had_extras=""
[ -f "$stamp" ] && read -r had_digest had_extras < "$stamp" && had_extras="${had_extras#extras=}"
# An extra counts as installed when it was asked for before, or when every package it requires is
# already installed at a fitting version (the dev extra brings most of them), read from polyasr's
# own metadata (src/polyasr/cli/extras.py): no index is asked.
satisfied() {
  [ -f "$stamp" ] && "$venv/bin/python" -m polyasr.cli.extras "$1" 2>/dev/null
}
missing=""
for extra in ${extras//,/ }; do
  case ",$had_extras," in *",$extra,"*) ;; *) satisfied "$extra" || missing="$missing,$extra" ;; esac
done
if [ "$had_digest" != "$digest" ] || [ -n "$missing" ]; then
  extras="$(printf '%s\n' ${had_extras//,/ } ${extras//,/ } | sort -u | paste -sd, -)"
  why="first run"; [ -n "$had_digest" ] && why="pyproject.toml changed"
  [ -n "$had_digest" ] && [ "$had_digest" = "$digest" ] && why="new extras: ${missing#,}"
  echo "polyasr: installing into $venv ($why); pip's progress follows" >&2
  log="$venv/install.log"; : > "$log"
  fail() { echo "polyasr: installation failed (pip's messages above; without a terminal also in $log)" >&2; exit 1; }
  # pip's own output (Collecting, Downloading with its progress bars, Installing) as it comes: on a
  # terminal directly, else line by line to stderr and to the log
  pip_install() {
    if [ -t 2 ]; then "$venv/bin/pip" install "$@" >&2
    else "$venv/bin/pip" install --progress-bar off "$@" 2>&1 | tee -a "$log" >&2; fi
  }
  # Keep an existing torch (a CUDA build, say); otherwise take the pinned CPU build.
  "$venv/bin/python" -c 'import torch' 2>/dev/null \
    || pip_install "torch==${POLYASR_TORCH_VERSION:-2.13.0}" || fail
  spec="$root"; [ -n "$extras" ] && spec="$root[$extras]"
  pip_install -e "$spec" || fail
  echo "$digest extras=$extras" > "$stamp"
fi
