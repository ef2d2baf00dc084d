#!/usr/bin/env bash
# Tests of the Python reader package (python/fpkit, docs/python.md): small outputs of every
# command (tests/python/make_outputs.sh), then tests/python/test_reader.py (unittest) on them,
# and the import with no build step.
# Usage (CTest): bash tests/cli/python_reader.sh <path-to-fpkit-binary> <source-dir>
# Skips (exit 0, "SKIP: ...") when /usr/bin/python3 lacks numpy, h5py or matplotlib.
set -euo pipefail

fpkit=${1:?usage: python_reader.sh FPKIT_BINARY SOURCE_DIR}
src=${2:?usage: python_reader.sh FPKIT_BINARY SOURCE_DIR}
src=$(cd "$src" && pwd)
py=/usr/bin/python3

if [[ ! -x $py ]] || ! "$py" -c 'import matplotlib, h5py, numpy' 2>/dev/null; then
  echo "SKIP: $py lacks matplotlib, h5py or numpy (Debian: python3-matplotlib python3-h5py)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Importable from the source tree alone, without xarray (imported only when asked for).
(cd "$tmp" && PYTHONPATH="$src/python" "$py" -c '
import sys, fpkit, fpkit.plot
assert "xarray" not in sys.modules, "fpkit imported xarray eagerly"
print("ok: import fpkit from", fpkit.__file__)')

bash "$src/tests/python/make_outputs.sh" "$fpkit" "$src" "$tmp/out"
cd "$tmp"
FPK_TEST_OUTPUTS="$tmp/out" PYTHONPATH="$src/python" MPLCONFIGDIR="$tmp/mpl" \
  "$py" "$src/tests/python/test_reader.py" -v 2>&1 | grep -v '^wrote '
echo "ok: tests/python/test_reader.py"
