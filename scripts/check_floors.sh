#!/usr/bin/env bash
# Check that the declared version floors are true: make a throwaway virtual environment
# with the LOWEST versions pyproject.toml allows of numpy, scipy, tifffile, zarr and
# ome-zarr (exact pins, read from pyproject.toml), install this package without its GUI
# dependencies (napari, magicgui, qtpy, pyopencl), and run the I/O tests.
#
#   bash scripts/check_floors.sh            # tests/io and tests/cli/test_cli_safety.py
#   bash scripts/check_floors.sh -k ome     # extra arguments go to pytest
#
# Environment: PYTHON (default python3.11, the lowest Python the package allows),
# FLOORS_VENV (default: a temporary folder, removed afterwards), KEEP_VENV=1 to keep it.
# Needs network access to PyPI (or a pip cache / index set through PIP_* variables).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
VENV=${FLOORS_VENV:-$(mktemp -d "${TMPDIR:-/tmp}/sparsedecon-floors.XXXXXX")}
if [ "${KEEP_VENV:-0}" != 1 ] && [ -z "${FLOORS_VENV:-}" ]; then
  trap 'rm -rf "$VENV"' EXIT
fi
t0=$(date +%s)

# Exact pins "name==floor" for the checked packages; the package's other runtime
# dependencies that the I/O tests import (dask, PyWavelets, psutil) at their floors too.
PINS=$("$PYTHON" - <<'EOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
want = {"numpy", "scipy", "tifffile", "zarr", "ome-zarr", "dask", "pywavelets", "psutil"}
for d in deps:
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)", d)
    if m and m.group(1).lower() in want:
        print(f"{m.group(1)}=={m.group(2)}")
EOF
)
echo "floors: $(echo $PINS)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# The pins and the test tools in one resolution: a floor that cannot be installed with
# the others (a dependency of one needs more of another) fails here, naming both.
"$VENV/bin/python" -m pip install -q $PINS "pytest>=8"
"$VENV/bin/python" -m pip install -q --no-deps -e .
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE '^(numpy|scipy|tifffile|zarr|ome-zarr|numcodecs|dask|pywavelets) '
if [ "$#" -eq 0 ]; then
  set -- tests/io tests/cli/test_cli_safety.py
fi
# -p no:cacheprovider: leave no .pytest_cache written by the old versions; warnings are
# errors as in pyproject.toml, whose other filters name GUI packages not installed here
status=0
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -o filterwarnings=error \
  -m "not gui and not opencl" "$@" || status=$?
echo "check_floors: pytest exit $status in $(( $(date +%s) - t0 )) s (venv $VENV)"
exit $status
