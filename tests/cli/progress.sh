#!/usr/bin/env bash
# Progress and log (docs/workflow.md): (1) every dataset is bitwise identical with progress off,
# plain and bar, for run (fv, spectral, mc), converge, bridge and ot, with 2 threads: progress
# only observes; (2) --progress=plain prints a start line, percentages and an end line per phase,
# bar rewrites one line (\r), auto prints nothing when stderr is not a terminal, a bad mode is a
# usage error; (3) --log appends timestamped phase, timing and end lines, the resolved
# configuration at debug, the error at every level; an unwritable log is a usage error (exit 2)
# before anything is computed, and so is a log that is the config, an input, the output or an
# existing file that is not an fpkit log; the start line is the command line as typed.
# Usage: bash tests/cli/progress.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$tmp/run.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1
sigma = 0.8

[init]
mean = 1
std = 0.4

[grid]
lo = -4
hi = 4
n = 64
bc = periodic

[time]
times = 0.1 0.5 1

[fp]
method = fv spectral
dt = 0.002

[spectral]
dt = 0.01
planner = estimate

[mc]
paths = 20000
dt = 0.01
seed = 7
INI

cat > "$tmp/converge.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1
sigma = 0.5

[init]
x0 = 1

[time]
t_end = 1

[converge]
steps = 4 8 16 32
paths = 3000
weak = x, x^2
INI

cat > "$tmp/bridge.ini" <<'INI'
[bridge]
paths = 3000
steps = 20
em = true

[kolmogorov]
paths = 2000
steps = 64

[ks_band]
n = 50
repetitions = 300
INI

cat > "$tmp/ot.ini" <<'INI'
[grid]
dim = 1
n = 64
lo = -4
hi = 4

[source]
type = gaussian
mean = -1
std = 0.5

[target]
type = gaussian
mean = 1
std = 0.6

[ot]
eps = 0.5 0.1
INI

# (1) bitwise identical with progress none, plain and bar
for cmd in run converge bridge ot; do
  for mode in none plain bar; do
    "$fpkit" "$cmd" "$tmp/$cmd.ini" -o "$tmp/$cmd-$mode.h5" -q -j 2 --progress=$mode \
      2> "$tmp/$cmd-$mode.err" || fail "$cmd --progress=$mode exited $?: $(cat "$tmp/$cmd-$mode.err")"
  done
done
HERE="$here" "$py" - "$tmp" <<'PY' || fail "results differ with progress on and off"
import os, sys
sys.path.insert(0, os.environ["HERE"])
import h5tools
tmp = sys.argv[1]
fails = []
def numbers(path):
    # wall-clock timings (ot/seconds, ...) are measurements, not results
    d, _ = h5tools.datasets(path)
    return {k: v for k, v in d.items() if "seconds" not in k.split("/")[-1]}
for cmd in ("run", "converge", "bridge", "ot"):
    ref = numbers(f"{tmp}/{cmd}-none.h5")
    assert len(ref) > 3, (cmd, sorted(ref))
    others = [(numbers(f"{tmp}/{cmd}-{m}.h5"), f"{cmd} --progress={m}")
              for m in ("plain", "bar")]
    fails += h5tools.identical(ref, others)
for f in fails:
    print(f)
sys.exit(1 if fails else 0)
PY

# (2) what is printed
[ -s "$tmp/run-none.err" ] && fail "--progress=none printed: $(cat "$tmp/run-none.err")"
for phase in fv spectral mc; do
  grep -q "^fpkit: $phase: [0-9]* " "$tmp/run-plain.err" || fail "plain: no start line for $phase"
  grep -q "^fpkit: $phase done: " "$tmp/run-plain.err" || fail "plain: no end line for $phase"
done
grep -q "^fpkit: mc  *[0-9]*% [0-9]*/20000 paths, .* paths/s, ETA " "$tmp/run-plain.err" ||
  fail "plain: no Monte Carlo percentage line with rate and ETA: $(cat "$tmp/run-plain.err")"
grep -q "^fpkit: fv  *[0-9]*% [0-9]*/500 steps" "$tmp/run-plain.err" ||
  fail "plain: no fv step line (500 steps in all)"
[ "$(grep -c '^fpkit: mc .*%' "$tmp/run-plain.err")" -le 9 ] || fail "plain: more than one line per 10%"
grep -q "^fpkit: converge done: 3000 paths" "$tmp/converge-plain.err" || fail "plain: converge"
for phase in bridge "bridge em" kolmogorov ks_band; do
  grep -q "^fpkit: $phase done: " "$tmp/bridge-plain.err" || fail "plain: bridge part $phase"
done
grep -q "^fpkit: ot done: 2 solves" "$tmp/ot-plain.err" || fail "plain: ot"
grep -q $'\r' "$tmp/run-bar.err" || fail "bar: no carriage return"
# auto (the default) on a file: nothing, as --quiet alone
"$fpkit" run "$tmp/run.ini" -o "$tmp/auto.h5" > "$tmp/auto.out" 2> "$tmp/auto.err"
[ -s "$tmp/auto.err" ] && fail "auto on a non-terminal printed: $(cat "$tmp/auto.err")"
grep -q "^wrote " "$tmp/auto.out" || fail "the summary went missing"
set +e
"$fpkit" run "$tmp/run.ini" -o "$tmp/bad.h5" --progress=fancy 2> "$tmp/bad.err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "--progress=fancy: exit $rc, expected 2"
grep -q "expected auto, bar, plain or none" "$tmp/bad.err" || fail "--progress=fancy: message"

# (3) the log
log=$tmp/runs.log
"$fpkit" run "$tmp/run.ini" -o "$tmp/l1.h5" -q --log "$log"
"$fpkit" ot "$tmp/ot.ini" -o "$tmp/l2.h5" -q --log "$log" --log-level debug
[ "$(grep -c ' info: start: fpkit ' "$log")" -eq 2 ] || fail "log: not appended: $(cat "$log")"
grep -Eq '^20[0-9-]{8}T[0-9:]{8}\.[0-9]{3}Z fpkit\[[0-9]+\] info: mc: done, 20000 paths in [0-9.]+ s' "$log" ||
  fail "log: no timestamped Monte Carlo timing"
grep -q ' info: end: run exit 0 after ' "$log" || fail "log: no final status"
grep -q ' debug: config: eps = 0.5 0.1' "$log" || fail "log: no resolved configuration at debug"
grep -q ' debug: ' <<< "$(awk '/ info: start: /{n++} n==1' "$log")" &&
  fail "log: debug lines at the default level info"
"$fpkit" run "$tmp/run.ini" -o "$tmp/l3.h5" -q --log "$tmp/quiet.log" --log-level error
[ -s "$tmp/quiet.log" ] && fail "log: lines below error at --log-level error: $(cat "$tmp/quiet.log")"
set +e
"$fpkit" run "$tmp/run.ini" -o "$tmp/l4.h5" -q --set mc.paths=1 --log "$tmp/err.log" \
  --log-level error 2> /dev/null; rc=$?
set -e
[ $rc -eq 1 ] || fail "mc.paths=1: exit $rc"
grep -q ' error: .*\[mc\] paths' "$tmp/err.log" || fail "log: the error is missing: $(cat "$tmp/err.log")"
set +e
"$fpkit" run "$tmp/run.ini" -o "$tmp/l5.h5" --log "$tmp/no/such/dir/x.log" 2> "$tmp/nolog.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "unwritable log: exit $rc, expected 2"
grep -q "cannot open for appending" "$tmp/nolog.err" || fail "unwritable log: message"
[ -e "$tmp/l5.h5" ] && fail "unwritable log: the run went ahead"
set +e
"$fpkit" run "$tmp/run.ini" -o "$tmp/l6.h5" --log "$tmp/x.log" --log-level chatty 2> /dev/null
rc=$?
set -e
[ $rc -eq 2 ] || fail "--log-level chatty: exit $rc, expected 2"
# the start line is the command line as typed (getopt_long permutes argv: options first)
"$fpkit" run "$tmp/run.ini" -q -o "$tmp/l7.h5" --log "$tmp/typed.log" --set mc.paths=2000 --threads 2
grep -qF " info: start: fpkit run $tmp/run.ini -q -o $tmp/l7.h5 --log $tmp/typed.log --set mc.paths=2000 --threads 2 (fpkit " "$tmp/typed.log" ||
  fail "log: start line is not the command line as typed: $(head -1 "$tmp/typed.log")"
# --log never appends to an input or a file that is not a log, nor is the log the output: usage
# errors (exit 2) before anything is computed, the file unchanged
cp "$tmp/run.ini" "$tmp/cfg.ini"
ln "$tmp/cfg.ini" "$tmp/cfg-hard.ini"
printf '#!/bin/sh\necho important\n' > "$tmp/notes.sh"
for target in "$tmp/cfg.ini" "$tmp/cfg-hard.ini" "$tmp/l1.h5" "$tmp/notes.sh" "$tmp/l8.h5"; do
  before=$( [ -e "$target" ] && sha256sum < "$target" || echo absent)
  set +e
  "$fpkit" run "$tmp/cfg.ini" -o "$tmp/l8.h5" -q --log "$target" 2> "$tmp/self.err"; rc=$?
  set -e
  [ $rc -eq 2 ] || fail "--log $target: exit $rc, expected 2: $(cat "$tmp/self.err")"
  grep -Eq "is the input|is not an fpkit log|is the output" "$tmp/self.err" || fail "--log $target: message: $(cat "$tmp/self.err")"
  after=$( [ -e "$target" ] && sha256sum < "$target" || echo absent)
  [ "$before" = "$after" ] || fail "--log $target: the file changed"
  [ -e "$tmp/l8.h5" ] && fail "--log $target: the run went ahead"
done
# --resume: the checkpoint is the input
set +e
"$fpkit" run --resume "$tmp/l1.h5" -q --log "$tmp/l1.h5" 2> "$tmp/self.err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "--resume X --log X: exit $rc, expected 2"
# the output refuses the log when only the run knows the output ([output] file)
sed "s|^\[fp\]|[output]\nfile = $tmp/cfg-out.log\n\n[fp]|" "$tmp/run.ini" > "$tmp/cfg-out.ini"
set +e
"$fpkit" run "$tmp/cfg-out.ini" -q --log "$tmp/cfg-out.log" 2> "$tmp/self.err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "[output] file = the log: exit $rc, expected 1: $(cat "$tmp/self.err")"
grep -q "refusing to overwrite an input" "$tmp/self.err" || fail "[output] file = the log: message: $(cat "$tmp/self.err")"
grep -q " info: start: " "$tmp/cfg-out.log" || fail "[output] file = the log: the log was replaced"
# an empty file and an existing log are fine; a directory is not
: > "$tmp/empty.log"
"$fpkit" run "$tmp/run.ini" -o "$tmp/l9.h5" -q --log "$tmp/empty.log" --set mc.paths=2000
"$fpkit" run "$tmp/run.ini" -o "$tmp/l9.h5" -q --log "$tmp/empty.log" --set mc.paths=2000
[ "$(grep -c ' info: start: ' "$tmp/empty.log")" -eq 2 ] || fail "log: an empty file or an fpkit log refused"
mkdir "$tmp/logdir"
set +e
"$fpkit" run "$tmp/run.ini" -o "$tmp/l10.h5" -q --log "$tmp/logdir" 2> /dev/null; rc=$?
set -e
[ $rc -eq 2 ] || fail "--log DIR: exit $rc, expected 2"
echo "progress: ok"
