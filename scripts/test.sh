#!/usr/bin/env bash
# Set up (if needed) and run lint + the whole test suite, GUI tests under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QT_API=${QT_API:-pyqt6}
.venv/bin/ruff check src tests benchmarks docs
if command -v xvfb-run >/dev/null 2>&1 && [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest "$@"
else
  exec .venv/bin/python -m pytest "$@"
fi
