#!/usr/bin/env bash
# fpkit sweep (docs/sweep.md): a 24-point sweep (grid.n x fp.dt x mc.seed on a small 1D OU) run
# uninterrupted; the same sweep stopped half way by SIGTERM (exit 143, a valid index of what
# finished) and resumed: the finished points are skipped (the log says so) and the index equals
# the uninterrupted one in every dataset but the wall times; --jobs 1 and --jobs 2 give bitwise
# identical point files; a point whose process is killed (SIGKILL) is recorded, the others
# finish; the gathered datasets are the points' own, stacked in point order, and
# each point ran its own values (its stored configuration); a failing point is recorded with its
# message while the others finish (exit 1); --zip; bad input refused before anything runs: an
# unknown key (named, no OUTDIR created), a list that does not parse, an unwritable OUTDIR, --zip
# with unequal lengths, more points than the cap; a gathered dataset missing from the first
# point. FPK_TEST_QUICK=1: fewer paths (same checks).
# Usage: bash tests/cli/sweep.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/lib/checks.sh
source "$(dirname "$0")/lib/checks.sh"
cd "$tmp" || exit 1

paths=20000
[ "${FPK_TEST_QUICK:-0}" = 1 ] && paths=4000
cat > ou.ini <<INI
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
n = 40
[time]
times = 0 0.5 1
[fp]
dt = 0.01
[mc]
paths = $paths
dt = 0.01
seed = 1
INI
over=(--over grid.n=30,40,50 --over fp.dt=0.01,0.02 --over mc.seed=1,2,3,4)
gather=(--gather /errors/l1_fv_exact --gather /mc/mean)

# ---- uninterrupted, jobs 1 and jobs 2
t0=$(date +%s.%N)
"$fpkit" sweep ou.ini "${over[@]}" "${gather[@]}" -o full1 --jobs 1 --threads 2 > full1.log 2>&1
rc=$?
t1=$(date +%s.%N)
"$fpkit" sweep ou.ini "${over[@]}" "${gather[@]}" -o full2 --jobs 2 --threads 2 > full2.log 2>&1
rc2=$?
t2=$(date +%s.%N)
echo "measured: 24-point sweep wall time: jobs 1: $($py -c "print(f'{$t1-$t0:.2f}')") s, jobs 2: $($py -c "print(f'{$t2-$t1:.2f}')") s (mc.paths = $paths, --threads 2)"
if [ $rc -eq 0 ] && [ $rc2 -eq 0 ] && [ "$(ls full1/point_*.h5 | wc -l)" -eq 24 ]; then ok "24-point sweep: exit 0, 24 files"
else bad "24-point sweep: exit $rc / $rc2: $(tail -3 full1.log)"; fi

$py - full1 full2 <<'PY' && ok "jobs 1 vs 2: every dataset of the 24 point files and of the index (but wall times) bitwise identical; gathered = points' datasets; each point ran its own values" || bad "jobs 1 vs 2 / index contents"
import sys, configparser, h5py, numpy as np
a, b = sys.argv[1], sys.argv[2]
def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) and o.dtype.kind != "V" and o.shape != () or isinstance(o, h5py.Dataset) and o.shape == () else None)
    return out
def same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "O":  # variable-length strings: as text
        return x.shape == y.shape and x.tolist() == y.tolist()
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()
bad = 0
for p in range(24):
    da, db = datasets(f"{a}/point_{p:04d}.h5"), datasets(f"{b}/point_{p:04d}.h5")
    if da.keys() != db.keys(): print("different datasets in point", p); bad += 1
    for k in da:
        if not same(da[k], db[k]): print("point", p, k, "differs"); bad += 1
ia, ib = datasets(f"{a}/index.h5"), datasets(f"{b}/index.h5")
for k in ia:
    if k != "points/wall_time" and not same(ia[k], ib[k]): print("index", k, "differs"); bad += 1
with h5py.File(f"{a}/index.h5", "r") as f:
    assert f.attrs["npoints"] == 24 and f.attrs["ok"] == 24 and f.attrs["failed"] == 0
    st = [s.decode() for s in f["points/status"][()]]
    if st != ["ok"] * 24: print("status", st); bad += 1
    n = f["over_numeric/grid.n"][()]; dt = f["over_numeric/fp.dt"][()]; seed = f["over_numeric/mc.seed"][()]
    if not (list(n) == [30] * 8 + [40] * 8 + [50] * 8 and list(seed[:4]) == [1, 2, 3, 4] and list(dt[:8]) == [0.01] * 4 + [0.02] * 4):
        print("point order", n, dt, seed); bad += 1
    for p in range(24):
        with h5py.File(f"{a}/point_{p:04d}.h5", "r") as g:
            for ds in ("errors/l1_fv_exact", "mc/mean"):
                if f["gather/" + ds][p].tobytes() != g[ds][()].tobytes(): print("gather", ds, p); bad += 1
            c = configparser.ConfigParser(); c.read_string(g.attrs["config"])
            if (int(c["grid"]["n"]) != n[p] or float(c["fp"]["dt"]) != dt[p] or int(c["mc"]["seed"]) != seed[p]):
                print("point", p, "ran", dict(c["grid"]), dict(c["fp"]), dict(c["mc"])); bad += 1
    e = f["gather/errors/l1_fv_exact"][()]
    print(f"measured: gathered /errors/l1_fv_exact at t = 1, grid.n 30/40/50 (fp.dt 0.01): {e[0,-1]:.3e} {e[8,-1]:.3e} {e[16,-1]:.3e}")
sys.exit(1 if bad else 0)
PY

# ---- interrupted half way by SIGTERM, then resumed
"$fpkit" sweep ou.ini "${over[@]}" "${gather[@]}" -o part --jobs 1 --threads 2 > part1.log 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  [ "$(ls part/point_*.h5 2>/dev/null | wc -l)" -ge 12 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.01
done
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
done_before=$(ls part/point_*.h5 2>/dev/null | wc -l)
echo "interrupted after $done_before point files (exit $rc)"
if [ $rc -eq 143 ] && [ "$done_before" -ge 12 ] && [ "$done_before" -lt 24 ] && ! ls part/*.tmp* part/.*tmp* >/dev/null 2>&1; then
  ok "SIGTERM half way: exit 143, $done_before of 24 files, no temporary left"
else bad "SIGTERM: exit $rc, $done_before files: $(tail -2 part1.log); $(ls -a part)"; fi
$py - part "$done_before" <<'PY' && ok "the interrupted index is valid: $done_before points ok, the others not run" || bad "interrupted index"
import sys, h5py
with h5py.File(sys.argv[1] + "/index.h5", "r") as f:
    st = [s.decode() for s in f["points/status"][()]]
    n = int(sys.argv[2])
    # jobs 1: the points ran in order; the one running at the signal may have renamed its file
    # and been stopped before it exited (then "interrupted", and skipped on resume as complete)
    k = st.count("ok")
    assert k in (n - 1, n) and st[:k] == ["ok"] * k, st
    assert all(s in ("not-run", "interrupted") for s in st[k:]), st
PY
"$fpkit" sweep ou.ini "${over[@]}" "${gather[@]}" -o part --jobs 2 --threads 2 > part2.log 2>&1
rc=$?
nskip=$(grep -c "skipped: its file is complete with the same configuration" part2.log)
echo "measured: resumed sweep skipped $nskip points, ran $((24 - nskip))"
if [ $rc -eq 0 ] && [ "$nskip" -eq "$done_before" ]; then ok "resume: exit 0, the $nskip finished points skipped"
else bad "resume: exit $rc, skipped $nskip of $done_before: $(tail -3 part2.log)"; fi
$py - full1/index.h5 part/index.h5 <<'PY' && ok "resumed index == uninterrupted index in every dataset but /points/wall_time" || bad "resumed index differs"
import sys, h5py, numpy as np
def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = datasets(sys.argv[1]), datasets(sys.argv[2])
assert a.keys() == b.keys(), (a.keys() ^ b.keys())
def same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "O":  # variable-length strings: as text
        return x.shape == y.shape and x.tolist() == y.tolist()
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()
bad = [k for k in a if k != "points/wall_time" and not same(a[k], b[k])]
print("compared", len(a) - 1, "datasets; differing:", bad)
sys.exit(1 if bad else 0)
PY
# a changed configuration is run again, and the log says why
"$fpkit" sweep ou.ini --over grid.n=30,40 --set mc.paths=1000 -o part > part3.log 2>&1
if grep -q "written from another configuration" part3.log && ! grep -q "skipped: its file" part3.log; then ok "changed configuration: points run again, the log says why"
else bad "changed configuration: $(cat part3.log)"; fi

# ---- a failing point is recorded, the others finish
"$fpkit" sweep ou.ini --over grid.n=30,1,40 "${gather[@]}" -o failing > failing.log 2>&1
rc=$?
$py - failing <<'PY' && [ $rc -eq 1 ] && grep -q "1 of 3 points failed" failing.log && ok "failing point: exit 1, recorded with its message, the others ok, NaN gathered" || bad "failing point: exit $rc: $(tail -2 failing.log)"
import sys, h5py, numpy as np
with h5py.File(sys.argv[1] + "/index.h5", "r") as f:
    st = [s.decode() for s in f["points/status"][()]]
    er = [s.decode() for s in f["points/error"][()]]
    g = f["gather/errors/l1_fv_exact"][()]
    assert st == ["ok", "failed", "ok"], st
    assert "cell counts" in er[1] and "grid" in er[1] and er[0] == er[2] == "", er
    assert np.isnan(g[1]).all() and np.isfinite(g[0]).all() and np.isfinite(g[2]).all()
    assert f.attrs["failed"] == 1
    print("failed point's message:", er[1])
PY

# ---- a point's process killed (as by a crash) takes only that point down
big=10000000
[ "${FPK_TEST_QUICK:-0}" = 1 ] && big=2000000
"$fpkit" sweep ou.ini --over mc.seed=1,2,3 --set mc.paths=$big -o crash --jobs 1 --threads 1 > crash.log 2>&1 &
pid=$!
child=
for _ in $(seq 1 2000); do
  child=$(pgrep -P $pid | head -1)
  [ -n "$child" ] && break
  sleep 0.005
done
[ -n "$child" ] && kill -KILL "$child"
wait $pid
rc=$?
if [ -n "$child" ] && [ $rc -eq 1 ] && $py -c "
import h5py; f = h5py.File('crash/index.h5', 'r')
st = list(f['points/status'].asstr()[()]); er = list(f['points/error'].asstr()[()])
assert st == ['failed', 'ok', 'ok'], st
assert er[0].startswith('killed by signal 9'), er"; then ok "a point killed by SIGKILL: recorded 'killed by signal 9', the other 2 points ok, exit 1"
else bad "killed point: child '$child', exit $rc: $(tail -3 crash.log)"; fi

# ---- --zip
"$fpkit" sweep ou.ini --zip --over grid.n=30,40,50 --over mc.seed=5,6,7 -o zipped -q > zip.log 2>&1
rc=$?
if [ $rc -eq 0 ] && [ ! -s zip.log ] && $py -c "
import h5py; f = h5py.File('zipped/index.h5', 'r')
assert list(f['over_numeric/grid.n'][()]) == [30, 40, 50] and list(f['over_numeric/mc.seed'][()]) == [5, 6, 7]
assert f.attrs['mode'] == 'zip'"; then ok "--zip: 3 points element-wise, --quiet prints nothing"
else bad "--zip: exit $rc $(cat zip.log)"; fi

# ---- bad input: refused before anything runs, OUTDIR not created
refuse() {
  local name=$1 re=$2
  shift 2
  rm -rf bad_out
  local msg rc
  msg=$("$fpkit" sweep ou.ini "$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 1 ] && grep -Eq -- "$re" <<<"$msg" && [ ! -e bad_out ]; then ok "$name: $msg"
  else bad "$name: exit $rc, message: $msg, $(ls bad_out 2>&1 | head -3)"; fi
}
refuse "unknown key" "unknown key grid\.nn .*nothing was run" --over grid.n=30,40 --over grid.nn=3,4 -o bad_out
refuse "key of another model" "model\.beta=1,2: --set: unknown key 'beta' in \[model\].*nothing was run" --over grid.n=30,40 --over model.beta=1,2 -o bad_out
refuse "unknown section" "unknown key gird\.n" --over gird.n=30 -o bad_out
refuse "empty item" "grid\.n=30,,40.*item 2 of the list is empty" --over grid.n=30,,40 -o bad_out
refuse "empty list" "item 1 of the list is empty" --over fp.dt= -o bad_out
refuse "not a number" "value 'abc' of fp\.dt is not a double" --over fp.dt=0.01,abc -o bad_out
refuse "not a size" "value '2.5' of mc.paths" --over mc.paths=100,2.5 -o bad_out
refuse "zip unequal" "--zip needs lists of equal lengths: grid\.n has 2 values, mc\.seed has 3" --zip --over grid.n=30,40 --over mc.seed=1,2,3 -o bad_out
refuse "swept twice" "grid\.n is swept twice" --over grid.n=30 --over grid.n=40 -o bad_out
big=$(seq -s, 1 400)
refuse "over the cap" "more than 100000 points" --over mc.seed=$big --over mc.paths=$big -o bad_out
refuse "bad --set" "fpkit|set" --over grid.n=30 --set nokey -o bad_out
touch afile
msg=$("$fpkit" sweep ou.ini --over grid.n=30 -o afile/sub 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "output directory 'afile/sub'" <<<"$msg"; then ok "unwritable OUTDIR: $msg"; else bad "unwritable OUTDIR: exit $rc: $msg"; fi
mkdir -p ro && chmod 555 ro
if [ "$(id -u)" != 0 ]; then
  msg=$("$fpkit" sweep ou.ini --over grid.n=30 -o ro 2>&1); rc=$?
  if [ $rc -eq 1 ] && grep -q "'ro' is not writable" <<<"$msg"; then ok "read-only OUTDIR: $msg"; else bad "read-only OUTDIR: exit $rc: $msg"; fi
fi
mkdir -p foreign && echo "not an index" > foreign/index.h5
msg=$("$fpkit" sweep ou.ini --over grid.n=30 -o foreign 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "foreign/index.h5 exists and is not an fpkit file" <<<"$msg" && [ ! -e foreign/point_0000.h5 ]; then ok "foreign index.h5: refused before running: $msg"; else bad "foreign index.h5: exit $rc: $msg"; fi
msg=$("$fpkit" sweep ou.ini -o x 2>&1); rc=$?
[ $rc -eq 2 ] && [ ! -e x ] && ok "no --over: usage error (exit 2)" || bad "no --over: exit $rc: $msg"
msg=$("$fpkit" sweep ou.ini --over grid.n=30 --jobs 0 2>&1); rc=$?
[ $rc -eq 2 ] && ok "--jobs 0: usage error" || bad "--jobs 0: exit $rc: $msg"
# a gathered dataset missing from the first finished point stops the sweep, named
msg=$("$fpkit" sweep ou.ini --over grid.n=30,40,50 --gather /fv/nope -o missing 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "gather /fv/nope: no such dataset in missing/point_0000.h5" <<<"$msg" && [ ! -e missing/point_0002.h5 ]; then
  ok "missing gathered dataset: exit 1, named, the sweep stops"
else bad "missing gathered dataset: exit $rc: $msg"; fi

summary sweep
