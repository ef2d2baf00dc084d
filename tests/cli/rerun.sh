#!/usr/bin/env bash
# fpkit rerun (docs/reproducibility.md): the outputs of run (1D, 2D, resumed from a checkpoint),
# converge, bridge and ot (Gaussians, and HDF5 marginals named by a relative path) rerun from
# their stored configuration bitwise identical (exit 0); the file checked is never written (same
# sha256; -o FILE, a hard link and a symbolic link to it refused); a changed value is found and
# measured (exit 1); a changed build-flag record is a note (exit 0); a file without its stored
# configuration is a clear error; /provenance holds what docs/reproducibility.md lists; edited
# results stored as attributes differ (exit 1) while timings, the creation time and /provenance
# do not; --quiet keeps stdout empty; rerun takes --progress and --log.
# Usage: bash tests/cli/rerun.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

cat > "$tmp/run1.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1.0
mu = 0.0
sigma = 1.0
[init]
mean = 1.0
std = 0.3
[grid]
lo = -4
hi = 4
n = 80
[time]
times = 0 0.5 1
[fp]
dt = 0.01
[mc]
paths = 20000
dt = 0.01
seed = 7
keep_paths = 2
[output]
file = stored_output_key.h5
INI
cat > "$tmp/run2.ini" <<'INI'
[model]
type = ou
dim = 2
A = 1.0 0.8
   -0.6 0.5
sigma = 0.8 0.6
[init]
mean = 1.0 -0.5
std = 0.3
[grid]
lo = -3.5 -3.5
hi = 3.5 3.5
n = 40 36
[time]
times = 0 0.25 1
[fp]
dt = 0.01
[mc]
paths = 20000
dt = 0.01
seed = 42
INI
cat > "$tmp/bridge.ini" <<'INI'
[random]
seed = 7
[bridge]
a = 1
b = 2
T = 0.5
sigma = 1.5
steps = 16
paths = 5000
keep_paths = 3
[kolmogorov]
paths = 5000
steps = 200
ladder = 25 100
[ks_band]
n = 100
ladder = 30
repetitions = 500
INI
cat > "$tmp/ot.ini" <<'INI'
[ot]
eps = 1 0.1
divergence = true
[grid]
dim = 1
n = 120
lo = -10
hi = 10
[source]
type = gaussian
mean = 0.3
std = 0.8
[target]
type = gaussian
mean = -0.5
std = 1.3
INI
# ot with HDF5 marginals named by a path relative to the directory it runs in
cat > "$tmp/otfile.ini" <<'INI'
[ot]
eps = 0.1
normalize = true
[source]
type = hdf5
file = run1.h5
dataset = /fv/density
time = 1
[target]
type = hdf5
file = run1.h5
dataset = /exact/density
time = 1
INI

cd "$tmp" || exit 1
"$fpkit" run run1.ini -o run1.h5 --quiet || bad "run 1D"
"$fpkit" run run2.ini -o run2.h5 --quiet || bad "run 2D"
"$fpkit" converge "$src/experiments/converge/em_ou.ini" -o converge.h5 --quiet \
  --set converge.paths=4000 --set "converge.steps=8 16 32 64" || bad "converge"
"$fpkit" bridge bridge.ini -o bridge.h5 --quiet || bad "bridge"
"$fpkit" ot ot.ini -o ot.h5 --quiet || bad "ot"
"$fpkit" ot otfile.ini -o otfile.h5 --quiet || bad "ot with file marginals"
# a run stopped by a signal after its first checkpoint and resumed
"$fpkit" run run2.ini -o resumed.h5 --quiet --checkpoint-every 0.001s \
  --set mc.paths=200000 > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -e resumed.h5.ckpt ] && break; sleep 0.05; done
kill -INT "$pid" 2> /dev/null
wait "$pid"
resumed_rc=$?
if [ -e resumed.h5.ckpt ]; then
  "$fpkit" run --resume resumed.h5.ckpt --quiet || bad "resume"
else
  # the run finished before the signal: still a file written by a checkpointed run
  [ "$resumed_rc" -eq 0 ] || bad "checkpointed run: exit $resumed_rc and no checkpoint"
fi

# ---- 1. every output reruns bitwise identical; the file is never written
for f in run1 run2 converge bridge ot otfile resumed; do
  [ -e $f.h5 ] || { bad "$f.h5 missing"; continue; }
  before=$(sha256sum < $f.h5)
  if "$fpkit" rerun $f.h5 --threads 2 > $f.out 2>&1; then ok; else bad "rerun $f: $(cat $f.out)"; fi
  grep -q "^identical: [0-9]* datasets, bitwise" $f.out && ok || bad "rerun $f: no 'identical' line: $(cat $f.out)"
  [ "$(sha256sum < $f.h5)" = "$before" ] && ok || bad "rerun $f changed $f.h5"
  [ -e $f.rerun.h5 ] && ok || bad "rerun $f: default output $f.rerun.h5 not written"
done
[ -e stored_output_key.h5 ] && bad "the stored [output] file key decided the output" || ok

# ot with relative file marginals, rerun from another directory: it runs in the recorded one
mkdir -p elsewhere && cd elsewhere || exit 1
if "$fpkit" rerun ../otfile.h5 -o otfile.again.h5 > ../otfile.out 2>&1; then ok; else bad "rerun otfile: $(cat ../otfile.out)"; fi
grep -q "original working directory $tmp" ../otfile.out && ok || bad "no working-directory note: $(cat ../otfile.out)"
grep -q "^identical:" ../otfile.out && ok || bad "otfile not identical: $(cat ../otfile.out)"
[ -e otfile.again.h5 ] && ok || bad "-o relative to the caller's directory not honoured"
cd "$tmp" || exit 1

# ---- 2. the file checked is never the output
before=$(sha256sum < run1.h5)
ln run1.h5 hard.h5
ln -s run1.h5 soft.h5
for target in run1.h5 "$tmp/run1.h5" ./run1.h5 hard.h5 soft.h5; do
  rc=0
  "$fpkit" rerun run1.h5 -o "$target" > same.out 2>&1 || rc=$?
  [ "$rc" -eq 1 ] && ok || bad "-o $target: exit $rc, want 1"
  grep -q "is the file being checked.*never writes over it" same.out && ok || bad "-o $target: message: $(cat same.out)"
done
[ "$(sha256sum < run1.h5)" = "$before" ] && ok || bad "run1.h5 changed by a refused rerun"

# ---- 3. one value changed: exit 1, the dataset named with its difference
cp run1.h5 changed.h5
"$py" - <<'PY'
import h5py
with h5py.File("changed.h5", "r+") as f:
    d = f["/fv/density"]
    v = d[...]
    v[1, 40] *= 1.0 + 1e-9
    d[...] = v
PY
rc=0
"$fpkit" rerun changed.h5 -o changed.rerun.h5 > changed.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && ok || bad "changed value: exit $rc, want 1"
grep -q "^differ: 1 of [0-9]* datasets" changed.out && ok || bad "changed value: summary: $(cat changed.out)"
grep -q "/fv/density: 1 of 240 elements differ, max |a-b| = [0-9.e+-]* ([0-9.e+-]* of max |a|), max relative difference = 1.000e-09" changed.out && ok || bad "changed value: line: $(cat changed.out)"

# ---- 4. a different build-flag record is a note, not a failure
cp run1.h5 flags.h5
"$py" - <<'PY'
import h5py
with h5py.File("flags.h5", "r+") as f:
    f["/provenance"].attrs["c_flags"] = "-O2 -march=x86-64"
PY
rc=0
"$fpkit" rerun flags.h5 > flags.out 2>&1 || rc=$?
[ "$rc" -eq 0 ] && ok || bad "edited flags: exit $rc, want 0: $(cat flags.out)"
grep -q "^note: build flags differ: stored '-O2 -march=x86-64' vs this build '.*-march=" flags.out && ok || bad "no build-flag note: $(cat flags.out)"

# ---- 5. no stored configuration, not fpkit's, a checkpoint: clear errors, exit 1
cp run1.h5 noconfig.h5
"$py" -c 'import h5py; f = h5py.File("noconfig.h5", "r+"); del f.attrs["config"]; f.close()'
rc=0
"$fpkit" rerun noconfig.h5 > noconfig.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && ok || bad "no config: exit $rc, want 1"
grep -q "noconfig.h5' has no stored configuration (root attribute config)" noconfig.out && ok || bad "no config: message: $(cat noconfig.out)"
[ -e noconfig.rerun.h5 ] && bad "no config: an output was written" || ok
"$py" -c 'import h5py; h5py.File("plain.h5", "w").create_dataset("x", data=[1.0])'
rc=0
"$fpkit" rerun plain.h5 > plain.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "not written by fpkit" plain.out && ok || bad "plain HDF5: exit $rc: $(cat plain.out)"
rc=0
"$fpkit" rerun missing.h5 > missing.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "missing.h5" missing.out && ok || bad "missing file: exit $rc: $(cat missing.out)"
rc=0
"$fpkit" rerun > usage.out 2>&1 || rc=$?
[ "$rc" -eq 2 ] && ok || bad "no FILE: exit $rc, want 2"

# ---- 6. /provenance: the facts docs/reproducibility.md lists
"$py" - "$fpkit" <<'PY' || bad "provenance content"
import sys, h5py, os, re
fails = []
for name in ("run1", "run2", "converge", "bridge", "ot"):
    with h5py.File(name + ".h5", "r") as f:
        p = f["/provenance"].attrs
        for key in ("fpkit_version", "git_commit", "git_dirty", "compiler", "c_flags",
                    "build_type", "arch", "cpu_supports", "gsl_version", "fftw_version",
                    "hdf5_version", "openblas", "libmatheval", "inih", "host", "os", "threads",
                    "command_line", "working_directory", "start_time", "end_time"):
            if key not in p:
                fails.append(f"{name}: /provenance has no {key}")
        if f.attrs.get("command") not in ("run", "converge", "bridge", "ot"):
            fails.append(f"{name}: root attribute command = {f.attrs.get('command')!r}")
        iso = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
        for key in ("start_time", "end_time"):
            if key in p and not re.match(iso, p[key]):
                fails.append(f"{name}: {key} = {p[key]!r} is not ISO 8601 UTC")
        if "start_time" in p and "end_time" in p and p["end_time"] < p["start_time"]:
            fails.append(f"{name}: ends before it starts")
        if p.get("working_directory") != os.getcwd():
            fails.append(f"{name}: working_directory {p.get('working_directory')!r}")
        if not re.match(r"^([0-9a-f]{40}|unknown)$", p.get("git_commit", "")):
            fails.append(f"{name}: git_commit {p.get('git_commit')!r}")
        if p.get("git_dirty") not in ("yes", "no", "unknown"):
            fails.append(f"{name}: git_dirty {p.get('git_dirty')!r}")
with h5py.File("run1.h5", "r") as f:
    line = f["/provenance"].attrs["command_line"]
    if line != f"{sys.argv[1]} run run1.ini -o run1.h5 --quiet":
        fails.append(f"command_line {line!r}")
    if "-march=" not in f["/provenance"].attrs["c_flags"]:
        fails.append("c_flags without -march")
with h5py.File("run1.rerun.h5", "r") as f:
    if not f["/provenance"].attrs.get("rerun_of", "").endswith("/run1.h5"):
        fails.append("rerun output without rerun_of")
print("\n".join(fails))
sys.exit(1 if fails else 0)
PY
ok

# ---- 7. results stored as attributes: an edited one is a difference (exit 1), named with both
# values; timings, the root's creation time and /provenance are not results
cp converge.h5 conv_edit.h5
cp bridge.h5 bridge_edit.h5
cp ot.h5 ot_edit.h5
cp run1.h5 attrs_edit.h5
"$py" - <<'PY'
import h5py, numpy as np
with h5py.File("conv_edit.h5", "r+") as f:
    g = f["converge/strong"]
    g.attrs["order"] = 1.5
    g.attrs["ci_lo"] = 1.45
with h5py.File("bridge_edit.h5", "r+") as f:
    a = f["kolmogorov"].attrs
    a["ks_corrected"] = np.nextafter(a["ks_corrected"], 1.0)  # one ulp
with h5py.File("ot_edit.h5", "r+") as f:
    f["ot"].attrs["converged"] = np.uint64(0)
with h5py.File("attrs_edit.h5", "r+") as f:
    f["fv"].attrs["scheme"] = "euler"            # a string
    del f["mc"].attrs["seed"]                    # removed
    f["fv"].attrs["wall_seconds"] = 1e9          # a timing: a note
    f.attrs["created"] = "1999-01-01T00:00:00Z"  # not compared
    f["provenance"].attrs["host"] = "elsewhere"  # a note
PY
rc=0
"$fpkit" rerun conv_edit.h5 > conv_edit.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && ok || bad "edited converge order: exit $rc, want 1: $(cat conv_edit.out)"
grep -q "^differ: 0 of [0-9]* datasets ([0-9]* bitwise identical) and 2 of [0-9]* attributes" conv_edit.out && ok || bad "edited converge order: summary: $(cat conv_edit.out)"
grep -q "^  /converge/strong@order: stored 1.5 vs rerun [0-9.]*$" conv_edit.out && ok || bad "edited order: line: $(cat conv_edit.out)"
grep -q "^  /converge/strong@ci_lo: stored 1.45 vs rerun " conv_edit.out && ok || bad "edited ci_lo: line: $(cat conv_edit.out)"
rc=0
"$fpkit" rerun bridge_edit.h5 > bridge_edit.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "^  /kolmogorov@ks_corrected: stored " bridge_edit.out && ok || bad "ks_corrected one ulp off: exit $rc: $(cat bridge_edit.out)"
rc=0
"$fpkit" rerun ot_edit.h5 > ot_edit.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && grep -q "^  /ot@converged: stored 0 vs rerun 1$" ot_edit.out && ok || bad "ot converged: exit $rc: $(cat ot_edit.out)"
rc=0
"$fpkit" rerun attrs_edit.h5 > attrs_edit.out 2>&1 || rc=$?
[ "$rc" -eq 1 ] && ok || bad "edited attributes: exit $rc: $(cat attrs_edit.out)"
grep -q "^  /fv@scheme: stored 'euler' vs rerun 'tr-bdf2'$" attrs_edit.out && ok || bad "string attribute: $(cat attrs_edit.out)"
grep -q "^  /mc@seed: only in the rerun (not in the stored file): 7$" attrs_edit.out && ok || bad "removed attribute: $(cat attrs_edit.out)"
grep -q "^differ: 0 of [0-9]* datasets .* and 2 of [0-9]* attributes" attrs_edit.out && ok || bad "timing, created or provenance counted as a result: $(cat attrs_edit.out)"
grep -q "^note: .*wall-clock timings differ.*/fv@wall_seconds" attrs_edit.out && ok || bad "no timing note: $(cat attrs_edit.out)"
grep -q "^note: host differs: stored 'elsewhere'" attrs_edit.out && ok || bad "no host note: $(cat attrs_edit.out)"
grep -q "created" attrs_edit.out && bad "root created compared: $(cat attrs_edit.out)" || ok

# ---- 8. rerun --quiet: nothing on stdout; the verdict is the exit status, differences on stderr
rc=0
"$fpkit" rerun run1.h5 -o quiet.h5 --quiet > quiet.stdout 2> quiet.stderr || rc=$?
[ "$rc" -eq 0 ] && [ ! -s quiet.stdout ] && [ ! -s quiet.stderr ] && ok || bad "rerun --quiet, identical: exit $rc, stdout '$(cat quiet.stdout)', stderr '$(cat quiet.stderr)'"
rc=0
"$fpkit" rerun conv_edit.h5 -o quiet2.h5 --quiet > quiet.stdout 2> quiet.stderr || rc=$?
[ "$rc" -eq 1 ] && [ ! -s quiet.stdout ] && grep -q "/converge/strong@order" quiet.stderr && ok || bad "rerun --quiet, differs: exit $rc, stdout '$(cat quiet.stdout)', stderr '$(cat quiet.stderr)'"
# converge's own report of an unresolved order (the original printed it too) is not the rerun's
"$fpkit" converge "$src/experiments/converge/em_gbm.ini" -o unresolved.h5 --quiet --set converge.paths=20 2> /dev/null
rc=0
"$fpkit" rerun unresolved.h5 --quiet > quiet.stdout 2> quiet.stderr || rc=$?
[ "$rc" -eq 0 ] && [ ! -s quiet.stdout ] && [ ! -s quiet.stderr ] && ok || bad "rerun --quiet of an unresolved converge file: exit $rc, stdout '$(cat quiet.stdout)', stderr '$(cat quiet.stderr)'"

# ---- 9. rerun takes --progress and --log like the other commands, and --set is refused
rc=0
"$fpkit" rerun run1.h5 -o progress.h5 --quiet --progress=plain --log rerun.log > progress.out 2> progress.err || rc=$?
[ "$rc" -eq 0 ] && ok || bad "rerun --progress --log: exit $rc: $(cat progress.err)"
grep -q "^fpkit: mc done" progress.err && ok || bad "rerun --progress=plain: no progress lines: $(cat progress.err)"
grep -q " info: start: fpkit rerun run1.h5 -o progress.h5 --quiet --progress=plain --log rerun.log (fpkit " rerun.log && ok || bad "rerun log: start line: $(cat rerun.log)"
grep -q " info: rerun of run1.h5: identical" rerun.log && ok || bad "rerun log: no verdict: $(cat rerun.log)"
grep -q " info: end: rerun exit 0 after " rerun.log && ok || bad "rerun log: no end line: $(cat rerun.log)"
before=$(sha256sum < run1.h5)
rc=0
"$fpkit" rerun run1.h5 -o progress.h5 --log run1.h5 > /dev/null 2> logself.err || rc=$?
[ "$rc" -eq 2 ] && grep -q "is the input 'run1.h5'" logself.err && ok || bad "rerun --log FILE.h5: exit $rc, want 2: $(cat logself.err)"
[ "$(sha256sum < run1.h5)" = "$before" ] && ok || bad "run1.h5 changed by rerun --log run1.h5"
rc=0
"$fpkit" rerun run1.h5 --set mc.paths=10 > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] && ok || bad "rerun --set: exit $rc, want 2"

echo "rerun: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
