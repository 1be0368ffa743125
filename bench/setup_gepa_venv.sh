#!/usr/bin/env bash
# Create (or reuse) the isolated virtual environment that runs GEPA for the
# side-by-side throughput benchmark.  GEPA is NOT a dependency of honing; it
# lives only in this venv, which is git-ignored (.bench-venv*/).
#
# Usage:  bench/setup_gepa_venv.sh            # from anywhere
#         PYTHON=python3.12 bench/setup_gepa_venv.sh
#
# Idempotent: an existing venv is reused, and pip runs only when the pinned
# GEPA version is not already installed.  Prints the venv's python path last.
set -euo pipefail

GEPA_VERSION="0.1.4"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${GEPA_VENV_DIR:-$REPO_ROOT/.bench-venv/gepa}"
PYTHON="${PYTHON:-python3}"
VENV_PY="$VENV_DIR/bin/python"

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "error: gepa $GEPA_VERSION needs Python >= 3.10 (got $("$PYTHON" -V 2>&1))" >&2
    exit 1
fi

if [ ! -x "$VENV_PY" ]; then
    echo "creating venv at $VENV_DIR" >&2
    mkdir -p "$(dirname "$VENV_DIR")"
    "$PYTHON" -m venv "$VENV_DIR"
fi

installed="$("$VENV_PY" -c 'from importlib.metadata import version
try:
    print(version("gepa"))
except Exception:
    print("")' 2>/dev/null || true)"

if [ "$installed" != "$GEPA_VERSION" ]; then
    echo "installing gepa==$GEPA_VERSION into $VENV_DIR" >&2
    # The core package has no required dependencies; the benchmark passes a
    # plain callable as reflection LM, so litellm (gepa[full]) is not needed.
    "$VENV_PY" -m pip install --disable-pip-version-check --quiet "gepa==$GEPA_VERSION"
else
    echo "gepa $GEPA_VERSION already installed in $VENV_DIR" >&2
fi

# Candidates that GEPA's side evaluates run on this venv's interpreter, so it needs the libraries that
# generated code reaches for on honing's side (the examples extra): NumPy and SciPy.
if ! "$VENV_PY" -c 'import numpy, scipy' 2>/dev/null; then
    echo "installing numpy and scipy into $VENV_DIR (candidate runtime)" >&2
    "$VENV_PY" -m pip install --disable-pip-version-check --quiet numpy scipy
fi

# Smoke check: the API the worker relies on is importable.
"$VENV_PY" -c 'from gepa.optimize_anything import optimize_anything, GEPAConfig, EngineConfig, ReflectionConfig'
echo "$VENV_PY"
