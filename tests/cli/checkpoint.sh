#!/usr/bin/env bash
# Checkpoint/restart of `fpkit run` (docs/checkpoint.md): a run with --checkpoint-every, stopped
# by SIGINT or SIGTERM at random points, exits 130/143 with a message naming its checkpoint; the
# resumed run (other thread counts, interrupted again) writes datasets bitwise identical to the
# uninterrupted run's and removes the checkpoint. SIGKILL leaves OUT.h5.tmp.XXXXXX, which the next
# run to that path removes and reports; a run killed after time-based checkpoints resumes from
# the last one. Bad input: --resume of a missing, non-HDF5, non-checkpoint, other-version or
# damaged file, --set or CONFIG with --resume, bad --checkpoint-every values, the options outside
# `run`.
# Usage: bash tests/cli/checkpoint.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# Every method: finite volumes, the Fourier solver with SBDF2 (a history to carry), stationary
# densities and the gap, Monte Carlo with kept paths, the exact law. ~0.5 s in an optimised
# build; a sanitizer build (10-50x slower) runs a smaller version of it.
cat > "$tmp/run.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1.0
mu = 0.0
sigma = 1.0

[init]
mean = 1.5
std = 0.25

[grid]
lo = -6
hi = 6
n = 128
bc = periodic

[time]
times = 0 0.13 0.5 1

[fp]
method = fv spectral
scheme = crank-nicolson
dt = 1e-5

[spectral]
scheme = sbdf2
dt = 1e-5
planner = estimate

[stationary]
enabled = true
gap = true

[mc]
paths = 400000
dt = 0.002
seed = 11
keep_paths = 3
INI
if ldd "$fpkit" 2>/dev/null | grep libasan >/dev/null; then
  sed -i 's/^dt = 1e-5/dt = 1e-4/; s/^paths = 400000/paths = 140000/; s/^dt = 0.002/dt = 0.02/' "$tmp/run.ini"
  echo "(sanitizer build: smaller problem)"
fi
out=$tmp/out.h5
ck=$out.ckpt

# same FILE...: every dataset bitwise equal to the reference's
same() {
  "$py" - "$here" "$tmp/ref.h5" "$@" <<'PY'
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv.pop(1))
from h5tools import datasets, identical
ref, _ = datasets(sys.argv[1])
fails = identical(ref, [(datasets(p)[0], p) for p in sys.argv[2:]])
print("\n".join(fails))
sys.exit(1 if fails else 0)
PY
}

t0=$(date +%s%N)
"$fpkit" run "$tmp/run.ini" -o "$tmp/ref.h5" --threads 2 --quiet || { echo "FAIL reference run"; exit 1; }
T=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
echo "reference run: ${T}s"
# seconds: FRACTION of the reference time, at least MIN
after() { awk -v T="$T" -v f="$1" -v m="${2:-0.02}" 'BEGIN { d = T * f; printf "%.3f", (d > m ? d : m) }'; }
# a random number in [LO, HI]
rand() { awk -v s="$RANDOM" -v lo="$1" -v hi="$2" 'BEGIN { srand(s); printf "%.3f", lo + (hi - lo) * rand() }'; }

# leftovers: temporaries of the output or of the checkpoint
leftovers() { ls "$tmp" | grep -E '\.tmp\.' || true; }

# interrupt NAME SIGNAL FRACTION THREADS [fpkit arguments...]: starts the run, sends SIGNAL after
# FRACTION of the reference time, checks exit status, message and files. Sets $status to
# "stopped" (a checkpoint to resume), "finished" (the run ended first) or "failed".
interrupt() {
  local name=$1 sig=$2 frac=$3 threads=$4
  shift 4
  local want
  case $sig in INT) want=130 ;; TERM) want=143 ;; HUP) want=129 ;; esac
  local delay
  delay=$(after "$frac")
  "$fpkit" run "$@" --threads "$threads" --quiet 2>"$tmp/err" &
  local pid=$!
  pids+=("$pid")
  sleep "$delay"
  kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid"
  local rc=$?
  local msg
  msg=$(cat "$tmp/err")
  status=failed
  if [ "$rc" -eq 0 ]; then
    if [ -e "$out" ] && [ ! -e "$ck" ] && [ -z "$(leftovers)" ]; then
      status=finished
      ok "$name: SIG$sig after ${delay}s came after the end (exit 0, output whole, no checkpoint)"
    else
      bad "$name: exit 0 but output/checkpoint/temporaries wrong: $(ls "$tmp")"
    fi
  elif [ "$rc" -eq "$want" ] &&
    grep -Eq "^fpkit: interrupted .*, checkpoint written to $ck: resume with fpkit run --resume $ck\$" <<<"$msg" &&
    [ -e "$ck" ] && [ ! -e "$out" ] && [ -z "$(leftovers)" ]; then
    status=stopped
    ok "$name: SIG$sig after ${delay}s: exit $rc, $msg"
  else
    bad "$name: SIG$sig after ${delay}s: exit $rc (want $want), message: $msg; files: $(ls "$tmp")"
  fi
}

# resume NAME THREADS [more arguments]: resumes $ck to completion and compares with the reference.
resume_check() {
  local name=$1 threads=$2
  shift 2
  local msg
  if msg=$("$fpkit" run --resume "$ck" --threads "$threads" --quiet "$@" 2>&1); then
    local diff
    if [ -e "$ck" ] || [ -n "$(leftovers)" ]; then
      bad "$name: the checkpoint or a temporary is left after the resumed run: $(ls "$tmp")"
    elif diff=$(same "$out"); then
      ok "$name: resumed with $threads thread(s): every dataset bitwise identical"
    else
      bad "$name: resumed output differs: $diff"
    fi
  else
    bad "$name: resume failed: $msg"
  fi
}

# 1. Random interruption points, each resumed with the other thread count; the last resumed run
# is itself stopped (SIGHUP) and resumed again. A copy of one checkpoint serves the damage tests.
cases=(INT TERM INT)
for c in 0 1 2; do
  sig=${cases[$c]}
  rm -f "$out" "$ck"
  f=$(rand 0.05 0.9)
  [ $c -eq 2 ] && f=$(rand 0.05 0.4)
  interrupt "random SIG$sig" "$sig" "$f" $((2 - c % 2)) "$tmp/run.ini" -o "$out" --checkpoint-every 0.1s
  [ "$status" = stopped ] && [ ! -e "$tmp/saved.ckpt" ] && cp "$ck" "$tmp/saved.ckpt"
  if [ "$status" = stopped ] && [ $c -eq 2 ]; then
    interrupt "the resumed run" HUP 0.2 1 --resume "$ck"
  fi
  [ "$status" = stopped ] && resume_check "random SIG$sig at $f" $((1 + c % 2))
  if [ "$status" = finished ]; then
    d=$(same "$out") && ok "finished run identical" || bad "finished run differs: $d"
  fi
done

# 2. SIGKILL cannot be caught: it leaves the output's temporary OUT.h5.tmp.XXXXXX (and the last
# time-based checkpoint). The resumed run, writing to the same path, removes the temporary and
# says so, and continues from that checkpoint.
rm -f "$out" "$ck"
"$fpkit" run "$tmp/run.ini" -o "$out" --quiet --checkpoint-every 0.05s &
pid=$!
pids+=("$pid")
sleep "$(after 0.6 0.2)"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
stale=$(ls "$tmp" | grep -E '^out\.h5\.tmp\.' || true)
rm -f "$ck".tmp.* # a checkpoint being written when the kill came (the previous one is whole)
if [ -n "$stale" ] && [ -e "$ck" ] && [ ! -e "$out" ]; then
  ok "SIGKILL leaves $stale and the last checkpoint"
  msg=$("$fpkit" run --resume "$ck" 2>&1 >/dev/null)
  if [ -e "$out" ] && [ ! -e "$ck" ] && [ -z "$(leftovers)" ] && d=$(same "$out") &&
    grep -q "removed 1 stale temporary file of $out left by an interrupted run" <<<"$msg"; then
    ok "resumed after SIGKILL: $(tr '\n' ' ' <<<"$msg")output identical"
  else
    bad "resume after SIGKILL: $msg ${d:-}; files: $(ls "$tmp")"
  fi
elif [ -e "$out" ]; then
  ok "SIGKILL came after the end (nothing to test)"
else
  bad "SIGKILL: expected out.h5.tmp.* and a checkpoint, files: $(ls "$tmp")"
fi

# 3. Bad input. expect NAME CODE REGEX [fpkit arguments...]
expect() {
  local name=$1 code=$2 regex=$3
  shift 3
  local msg rc
  msg=$("$fpkit" "$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$regex" <<<"$msg"; then
    ok "$name: $msg"
  else
    bad "$name: exit $rc (want $code), message: $msg (wanted /$regex/)"
  fi
}
rm -f "$out" "$ck"
expect "resume a missing file" 1 "cannot read '$tmp/nothing.ckpt'" run --resume "$tmp/nothing.ckpt"
expect "resume a non-HDF5 file" 1 "is not an HDF5 file" run --resume "$tmp/run.ini"
expect "resume an output file" 1 "is not an fpkit checkpoint" run --resume "$tmp/ref.h5"
expect "--set with --resume" 2 "--set cannot be given with --resume" run --resume "$tmp/ref.h5" --set mc.seed=2
expect "CONFIG with --resume" 2 "a CONFIG file cannot be given with --resume" run "$tmp/run.ini" --resume "$tmp/ref.h5"
for v in abc 0 -5 5x "" 1e999 nan inf 5ms 0s " 5"; do
  expect "--checkpoint-every '$v'" 2 "--checkpoint-every '$v': expected a duration" run "$tmp/run.ini" --checkpoint-every "$v"
done
expect "--checkpoint alone" 2 "--checkpoint needs --checkpoint-every" run "$tmp/run.ini" --checkpoint "$tmp/x.ckpt"
expect "checkpoint = output" 1 "checkpoint file '$out' is the output" run "$tmp/run.ini" -o "$out" --checkpoint-every 1m --checkpoint "$out"
for cmd in converge bridge ot; do
  expect "$cmd --checkpoint-every" 2 "--checkpoint-every applies to 'fpkit run' only \(not $cmd\)" "$cmd" "$tmp/run.ini" --checkpoint-every 60s
done
expect "ot --resume" 2 "--resume applies to 'fpkit run' only" ot --resume "$ck"
[ -z "$(ls "$tmp" | grep -E '^out\.h5')" ] && ok "bad input left no file" || bad "bad input left: $(ls "$tmp")"

# 4. Damaged copies of a real checkpoint: another version, a configuration that does not parse, a
# dataset of the wrong shape, a missing attribute.
if [ -e "$tmp/saved.ckpt" ]; then
  for what in version config shape attr; do cp "$tmp/saved.ckpt" "$tmp/$what.ckpt"; done
  "$py" - "$tmp" <<'PY'
import sys, h5py, numpy as np
for what in ("version", "config", "shape", "attr"):
    with h5py.File(f"{sys.argv[1]}/{what}.ckpt", "r+") as f:
        if what == "version":
            f.attrs["fpkit_version"] = "0.0.0-other"
        elif what == "config":
            f.attrs["config"] = "[model\ntype = ou\n"
        elif what == "shape":
            g = next(n for n in ("exact", "fv", "spectral") if n in f)
            del f[g + "/density"]
            f[g + "/density"] = np.zeros((2, 3))
        else:
            del f.attrs["created"]
PY
  expect "another version" 1 "written by fpkit 0.0.0-other; this is fpkit" run --resume "$tmp/version.ckpt" -o "$tmp/v.h5"
  expect "stored config does not parse" 1 "its stored configuration does not parse" run --resume "$tmp/config.ckpt" -o "$tmp/c.h5"
  expect "wrong shape" 1 "has shape \[2\]\[3\], this run's configuration needs" run --resume "$tmp/shape.ckpt" -o "$tmp/s.h5"
  expect "missing attribute" 1 "has no attribute 'created'" run --resume "$tmp/attr.ckpt" -o "$tmp/a.h5"
  [ -z "$(ls "$tmp" | grep -E '^[vcsa]\.h5')" ] && ok "damaged checkpoints left no output" || bad "files left: $(ls "$tmp")"
else
  echo "(no checkpoint kept for the damage tests: every run finished first)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
