#!/usr/bin/env bash
# Smoke test of every figure script (experiments/*/plot.py, figures.py, spectral/*.py): small
# outputs of every command (tests/python/make_outputs.sh), then each script on them in every
# format. Each figure must exist and be what its extension says: a PDF starts with %PDF, an SVG
# parses as XML with an <svg> root, a PNG has the PNG signature. A file that is not an fpkit
# output must be refused with a non-zero status and a message naming it.
# Usage (CTest): bash tests/cli/plot_smoke.sh <path-to-fpkit-binary> <source-dir>
# Skips (exit 0, "SKIP: ...") when /usr/bin/python3 lacks matplotlib or h5py.
set -euo pipefail

fpkit=${1:?usage: plot_smoke.sh FPKIT_BINARY SOURCE_DIR}
src=${2:?usage: plot_smoke.sh FPKIT_BINARY SOURCE_DIR}
src=$(cd "$src" && pwd)
py=/usr/bin/python3
ex=$src/experiments

if [[ ! -x $py ]] || ! "$py" -c 'import matplotlib, h5py, numpy' 2>/dev/null; then
  echo "SKIP: $py lacks matplotlib, h5py or numpy (Debian: python3-matplotlib python3-h5py)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MPLCONFIGDIR=$tmp/mpl
bash "$src/tests/python/make_outputs.sh" "$fpkit" "$src" "$tmp/out"
o=$tmp/out
fig=$tmp/fig

# check_figures FORMAT STEM...: every STEM.FORMAT exists and has FORMAT's signature.
check_figures() {
  local fmt=$1; shift
  "$py" - "$fmt" "$@" <<'PY'
import sys, xml.etree.ElementTree as ET
fmt, stems = sys.argv[1], sys.argv[2:]
for stem in stems:
    path = f"{stem}.{fmt}"
    try:
        data = open(path, "rb").read()
    except OSError as e:
        sys.exit(f"FAIL: {e}")
    if fmt == "pdf":
        ok = data.startswith(b"%PDF")
    elif fmt == "png":
        ok = data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        try:
            ok = ET.fromstring(data).tag.endswith("svg")
        except ET.ParseError as e:
            sys.exit(f"FAIL: {path}: not XML ({e})")
    if not ok or len(data) < 1000:
        sys.exit(f"FAIL: {path} is not a {fmt} figure ({len(data)} bytes)")
    print(f"ok: {path.rsplit('/', 1)[-1]} ({len(data)} bytes)")
PY
}

# Figures carry no titles (docs/python.md: panel labels, legends and axis labels say what a
# panel shows): every script runs under a wrapper that fails the save of a figure with an axes
# title or a figure title, with exit status 3 (bridge and spectral scripts may exit 1).
cat >"$tmp/no_titles.py" <<'PY'
import os, runpy, sys
import matplotlib
matplotlib.use("Agg")
from matplotlib.figure import Figure
save = Figure.savefig
def fail(what):
    print(f"FAIL: {sys.argv[0]}: {what}", file=sys.stderr)
    sys.exit(3)
def checked_save(fig, *args, **kw):
    for ax in fig.get_axes():
        for loc in ("left", "center", "right"):
            if ax.get_title(loc):
                fail(f"a title {ax.get_title(loc)!r} on a panel")
    if fig._suptitle is not None and fig._suptitle.get_text():
        fail(f"a figure title {fig._suptitle.get_text()!r}")
    return save(fig, *args, **kw)
Figure.savefig = checked_save
script, sys.argv = sys.argv[1], sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # as `python3 script` does
runpy.run_path(script, run_name="__main__")
PY
draw=("$py" "$tmp/no_titles.py")

# Every script once, writing all three formats (one drawing per figure, saved three times).
fmt=png,pdf,svg
d=$fig/all
# fpkit run: the OU figure script, 1D and 2D
"${draw[@]}" "$ex/ou/plot.py" "$o/ou1d.h5" "$o/ou2d.h5" -o "$d" --format "$fmt" >/dev/null
# fpkit converge
for name in em_ou em_gbm; do
  "${draw[@]}" "$ex/converge/plot.py" "$o/converge/$name.h5" "$d/converge_$name.png" \
    --format "$fmt" >/dev/null
done
# fpkit ot: every figure
"${draw[@]}" "$ex/ot/plot.py" -r "$o" -o "$d" --format "$fmt" >/dev/null
# fpkit bridge (small: its targets may be missed, exit 1; 2 or more is an error)
rc=0
"${draw[@]}" "$ex/bridge/figures.py" "$o/bridge/bridge.h5" -o "$d" --json "$d/bridge.json" \
  --format "$fmt" >/dev/null 2>&1 || rc=$?
(( rc <= 1 )) || { echo "FAIL: bridge/figures.py exit $rc"; exit 1; }
# the spectral study (short ladders: targets missed, exit 1; 2 or more is an error)
for script in convergence time_order work_precision double_well; do
  rc=0
  "${draw[@]}" "$ex/spectral/$script.py" "$o/spectral" -o "$d" --format "$fmt" >/dev/null 2>&1 \
    || rc=$?
  (( rc <= 1 )) || { echo "FAIL: spectral/$script.py exit $rc"; exit 1; }
done
for f in png pdf svg; do
  check_figures "$f" "$d"/{ou1d,ou2d,converge_em_ou,converge_em_gbm} \
    "$d"/ot_{gauss2d,w2,fv_mc,mixtures256} "$d"/bridge_{moments,kolmogorov,ks_band} \
    "$d"/spectral_{convergence,time_order,work_precision,double_well}
done

# Default format (no --format): PNG, as run.sh and the READMEs expect; a comma list works.
"$py" "$ex/ou/plot.py" "$o/ou1d.h5" -o "$fig/default" >/dev/null
check_figures png "$fig/default/ou1d"
"$py" "$ex/ou/plot.py" "$o/ou1d.h5" -o "$fig/both" --format pdf,svg >/dev/null
check_figures pdf "$fig/both/ou1d"
check_figures svg "$fig/both/ou1d"
[[ ! -e $fig/both/ou1d.png ]] || { echo "FAIL: --format pdf,svg also wrote a PNG"; exit 1; }

# A file that is not an fpkit output must be refused with a non-zero status.
printf '[model]\ntype = ou\n' >"$tmp/tiny1d.ini"
if "$py" "$ex/ou/plot.py" "$tmp/tiny1d.ini" -o "$fig" 2>"$tmp/err"; then
  echo "FAIL: plot.py accepted a non-HDF5 file"; exit 1
fi
grep -q "tiny1d.ini" "$tmp/err" || { echo "FAIL: error message does not name the file"; exit 1; }
echo "ok: bad input refused: $(cat "$tmp/err")"
if "$py" "$ex/converge/plot.py" "$o/ou1d.h5" "$fig/x.png" 2>"$tmp/err"; then
  echo "FAIL: converge/plot.py accepted a run file"; exit 1
fi
echo "ok: converge/plot.py refused a run file: $(cat "$tmp/err")"
