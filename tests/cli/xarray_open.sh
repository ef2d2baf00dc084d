#!/usr/bin/env bash
# Every command's output opens with xarray (engine h5netcdf, no phony_dims) group by group, with
# named dimensions and the coordinate values of docs/hdf5-layout.md ("Dimension scales"): fpkit
# run in 1D (exact, fv, spectral, mc with kept paths, stationary, gap) and 2D, converge, bridge,
# ot (1D with a plan and every potential, 2D with the closed forms, marginals over time from a
# run file), sb (2D, with kept paths). The old h5py paths and shapes are unchanged; datasets are chunked, shuffled,
# deflated and Fletcher-32 checksummed; the XDMF sidecar of a 2D run is well-formed XML whose
# every reference exists with the stated dimensions and whose times are /fv/t, and it is removed
# (when fpkit wrote it for that file) by a 1D run to the same path; OUT.h5, OUT.hdf5 and OUT have
# sidecars of their own (OUT.h5.xmf, ...); a foreign file or a directory at the sidecar's path is
# refused before anything is computed (--force replaces a file); no output name reaches an XML
# comment, and a name with ':' (which XDMF readers cut) gets a warning and no sidecar;
# where pvbatch is installed, ParaView's XDMF reader gives every field bit for bit.
# Usage: bash tests/cli/xarray_open.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
src=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive

cat > "$tmp/run1.ini" <<'INI'
[model]
type = ou
dim = 1
theta = 1.0
sigma = 1.0
[init]
mean = 1.0
std = 0.4
[grid]
lo = -6
hi = 6
n = 64
bc = periodic
[time]
t_end = 0.5
n_out = 3
[fp]
method = fv spectral
dt = 0.01
[spectral]
dt = 0.01
planner = estimate
[mc]
paths = 2000
dt = 0.01
seed = 5
keep_paths = 2
[stationary]
enabled = true
gap = true
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
n = 28 24
[time]
times = 0 0.25 0.5
[fp]
dt = 0.01
[mc]
paths = 3000
dt = 0.01
seed = 42
INI
cat > "$tmp/bridge.ini" <<'INI'
[random]
seed = 7
[bridge]
steps = 8
paths = 500
keep_paths = 2
em = true
[kolmogorov]
paths = 500
steps = 50
ladder = 10 25
[ks_band]
n = 40
ladder = 10
repetitions = 200
keep_paths = 2
INI
cat > "$tmp/ot1.ini" <<'INI'
[ot]
eps = 1 0.3
divergence = true
plan = true
potentials = all
[grid]
dim = 1
n = 48
lo = -8
hi = 8
[source]
type = gaussian
mean = 0.3
std = 0.8
[target]
type = gaussian
mean = -0.5
std = 1.3
INI
cat > "$tmp/ot2.ini" <<'INI'
[ot]
eps = 1 0.5
divergence = true
[grid]
dim = 2
n = 16
lo = -5
hi = 5
[source]
type = gaussian
mean = 0.3 -0.2
std = 0.7
[target]
type = gaussian
mean = -0.2 0.3
std = 0.9
INI
cat > "$tmp/otrun.ini" <<INI
[ot]
eps = 0.2
[source]
type = hdf5
file = $tmp/run1.h5
dataset = /fv/density
time = all
[target]
type = hdf5
file = $tmp/run1.h5
dataset = /exact/density
time = last
INI

q=(--quiet --threads 1)
"$fpkit" run "$tmp/run1.ini" -o "$tmp/run1.h5" "${q[@]}"
"$fpkit" run "$tmp/run2.ini" -o "$tmp/run2.h5" "${q[@]}"
"$fpkit" converge "$src/experiments/converge/em_ou.ini" -o "$tmp/converge.h5" "${q[@]}" \
  --set converge.paths=2000 --set "converge.steps=8 16 32 64" > /dev/null || true
[ -f "$tmp/converge.h5" ] || { echo "converge wrote no file"; exit 1; }
"$fpkit" bridge "$tmp/bridge.ini" -o "$tmp/bridge.h5" "${q[@]}"
"$fpkit" ot "$tmp/ot1.ini" -o "$tmp/ot1.h5" "${q[@]}"
"$fpkit" ot "$tmp/ot2.ini" -o "$tmp/ot2.h5" "${q[@]}"
"$fpkit" ot "$tmp/otrun.ini" -o "$tmp/otrun.h5" "${q[@]}"
cat > "$tmp/sb2.ini" <<'INI'
[grid]
dim = 2
n = 24 20
lo = -5 -4
hi = 5 4
[mu0]
type = gaussian
mean = -0.5 0.2
std = 0.8 0.7
[muT]
type = gaussian
mean = 0.6 -0.3
std = 0.8 0.6
[sb]
sigma = 1
times = 0 0.5 1
[sample]
paths = 1000
keep_paths = 3
INI
"$fpkit" sb "$tmp/sb2.ini" -o "$tmp/sb2.h5" "${q[@]}"

"$py" - "$tmp" <<'PY'
import os, sys, xml.etree.ElementTree as ET
import h5py, numpy as np, xarray as xr

tmp = sys.argv[1]
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)

def groups(path):
    out = ["/"]
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.append("/" + n) if isinstance(o, h5py.Group) else None)
    return out

def open_all(path):
    """Every group with xarray, no phony_dims: every dataset must have its dimension scales."""
    out = {}
    for g in groups(path):
        try:
            out[g] = xr.open_dataset(path, engine="h5netcdf", group=g).load()
        except Exception as e:  # noqa: BLE001 - report which group and why
            fails.append(f"{os.path.basename(path)} group {g}: {type(e).__name__}: {e}")
    return out

def dims(ds, var):
    return tuple(ds[var].dims) if var in ds else None

with h5py.File(f"{tmp}/run1.h5", "r") as f:
    gx, t = f["grid/x"][()], f["fv/t"][()]
    shapes = {k: f[k].shape for k in ("grid/x", "fv/density", "fv/mean", "fv/cov", "mc/paths",
                                      "mc/path_t", "spectral/density", "exact/density",
                                      "errors/l1_fv_exact", "stationary/fv", "stationary/gap")}
    d = f["fv/density"]
    check(d.compression == "gzip" and d.shuffle and d.fletcher32 and d.chunks is not None,
          f"fv/density filters: {d.compression} shuffle={d.shuffle} fletcher32={d.fletcher32}")
    seen = []
    f.visititems(lambda n, o: seen.append(n) if isinstance(o, h5py.Dataset) else None)
    check("grid/x" in seen, "h5py visititems no longer names grid/x")
nx, nt = gx.size, t.size
check(shapes == {"grid/x": (nx,), "fv/density": (nt, nx), "fv/mean": (nt, 1), "fv/cov": (nt, 1, 1),
                 "mc/paths": (2, 51, 1), "mc/path_t": (51,), "spectral/density": (nt, nx),
                 "exact/density": (nt, nx), "errors/l1_fv_exact": (nt,),
                 "stationary/fv": (nx,), "stationary/gap": (1,)}, f"run1 shapes {shapes}")
R1 = open_all(f"{tmp}/run1.h5")
for m in ("exact", "fv", "spectral", "mc"):
    ds = R1.get("/" + m)
    if ds is None:
        continue
    check(dims(ds, "density") == ("t", "x"), f"/{m}/density dims {dims(ds, 'density')}")
    check(np.array_equal(ds["x"].values, gx), f"/{m} x != /grid/x")
    check(np.array_equal(ds["t"].values, t), f"/{m} t != /fv/t")
    check(dims(ds, "mean") == ("t", "component"), f"/{m}/mean dims {dims(ds, 'mean')}")
    check(dims(ds, "cov") == ("t", "component", "component2"), f"/{m}/cov dims")
    check(ds["density"].sel(t=t[-1]).shape == (nx,), f"/{m}: sel by t")
check(dims(R1["/mc"], "paths") == ("path", "path_t", "component"), "/mc/paths dims")
check(dims(R1["/fv"], "mass") == ("t",), "/fv/mass dims")
check(dims(R1["/spectral"], "tail_energy") == ("t",), "/spectral/tail_energy dims")
check(dims(R1["/errors"], "l1_fv_exact") == ("t",) and
      np.array_equal(R1["/errors"]["t"].values, t), "/errors t")
check(dims(R1["/stationary"], "fv") == ("x",) and dims(R1["/stationary"], "gap") == ("one",),
      "/stationary dims")
check(np.array_equal(R1["/grid"]["x"].values, gx), "/grid x")
check(not os.path.exists(f"{tmp}/run1.h5.xmf"), "a 1D run wrote an XDMF sidecar")

with h5py.File(f"{tmp}/run2.h5", "r") as f:
    gx, gy, t = f["grid/x"][()], f["grid/y"][()], f["fv/t"][()]
    check(f["fv/density"].shape == (3, gy.size, gx.size), "run2 /fv/density shape")
R2 = open_all(f"{tmp}/run2.h5")
for m in ("exact", "fv", "mc"):
    ds = R2["/" + m]
    check(dims(ds, "density") == ("t", "y", "x"), f"2D /{m}/density dims {dims(ds, 'density')}")
    check(np.array_equal(ds["x"].values, gx) and np.array_equal(ds["y"].values, gy),
          f"2D /{m} x, y != /grid/x, /grid/y")
    check(np.array_equal(ds["t"].values, t), f"2D /{m} t")

# XDMF sidecar: well-formed, every HDF reference exists with the stated dimensions, the times
# are /fv/t, the hyperslabs select one time slice inside the field.
xmf = f"{tmp}/run2.h5.xmf"
check(os.path.exists(xmf), "no run2.h5.xmf beside run2.h5")
if os.path.exists(xmf):
    root = ET.parse(xmf).getroot()
    check(root.tag == "Xdmf" and root.get("Version") == "3.0", "Xdmf root")
    with h5py.File(f"{tmp}/run2.h5", "r") as f:
        for item in root.iter("DataItem"):
            if item.get("Format") != "HDF":
                continue
            name, _, ds = item.text.strip().partition(":")
            check(name == "run2.h5", f"XDMF refers to {name}, not the file name run2.h5")
            check(ds.endswith("/density"), f"XDMF refers to {ds}")
            shape = tuple(int(v) for v in item.get("Dimensions").split())
            check(ds in f and f[ds].shape == shape, f"XDMF {ds} {shape} not in the file")
        times = [float(e.get("Value")) for e in root.iter("Time")]
        check(np.array_equal(times, f["fv/t"][()]), f"XDMF times {times}")
        for slab in root.iter("DataItem"):
            if slab.get("ItemType") != "HyperSlab":
                continue
            sel, ref = list(slab)
            s = np.array(sel.text.split(), dtype=int).reshape(3, -1)
            full = tuple(int(v) for v in ref.get("Dimensions").split())
            check(s[2][0] == 1 and tuple(s[2][1:]) == full[1:] and 0 <= s[0][0] < full[0],
                  f"hyperslab {s.tolist()} of {full}")
        names = {a.get("Name") for a in root.iter("Attribute")}
        check(names == {"exact", "fv", "mc"}, f"XDMF attributes {names}")
        # the mesh: nodes at the cell centres of /grid, listed z y x (one layer in 2D)
        gx, gy = f["grid/x"][()], f["grid/y"][()]
        for topo in root.iter("Topology"):
            check(topo.get("TopologyType") == "3DCoRectMesh"
                  and topo.get("Dimensions") == f"1 {gy.size} {gx.size}", f"topology {topo.attrib}")
        for geo in root.iter("Geometry"):
            origin, spacing = ([float(v) for v in e.text.split()] for e in geo)
            check(geo.get("GeometryType") == "ORIGIN_DXDYDZ"
                  and np.allclose(origin, [0, gy[0], gx[0]], rtol=0, atol=1e-14)
                  and np.allclose(spacing, [1, gy[1] - gy[0], gx[1] - gx[0]], rtol=1e-12),
                  f"geometry {origin} {spacing}")
        check(sum(1 for _ in root.iter("Grid")) == 1 + 3, "one collection of 3 time grids")

C = open_all(f"{tmp}/converge.h5")
with h5py.File(f"{tmp}/converge.h5", "r") as f:
    L = f["converge/h"].shape[0]
check(dims(C["/converge"], "h") == ("level",), "/converge/h dims")
check(dims(C["/converge/strong"], "error") == ("level",), "/converge/strong/error dims")
check(dims(C["/converge/weak/0"], "mean") == ("level_and_reference",)
      and C["/converge/weak/0"].sizes["level_and_reference"] == L + 1, "/converge/weak/0/mean")

B = open_all(f"{tmp}/bridge.h5")
with h5py.File(f"{tmp}/bridge.h5", "r") as f:
    bt = f["bridge/t"][()]
check(dims(B["/bridge"], "cov") == ("s", "t") and np.array_equal(B["/bridge"]["t"].values, bt)
      and np.array_equal(B["/bridge"]["s"].values, bt), "/bridge cov dims, t, s")
check(dims(B["/bridge"], "paths") == ("path", "t"), "/bridge/paths dims")
check(dims(B["/kolmogorov"], "cdf") == ("x",) and dims(B["/kolmogorov"], "quantile_raw") == ("quantile_p",),
      "/kolmogorov dims")
check(dims(B["/ks_band"], "coverage_stephens") == ("n",)
      and dims(B["/ks_band"], "sample_x") == ("kept_repetition", "sample"), "/ks_band dims")

O1 = open_all(f"{tmp}/ot1.h5")
with h5py.File(f"{tmp}/ot1.h5", "r") as f:
    eps, gx = f["ot/eps"][()], f["grid/x"][()]
ot = O1.get("/ot")
if ot is not None:
    check(dims(ot, "primal") == ("eps",) and np.array_equal(ot["eps"].values, eps), "/ot/primal")
    check(dims(ot, "f") == ("eps", "x") and np.array_equal(ot["x"].values, gx), "/ot/f dims")
    check(dims(ot, "plan") == ("source_cell", "target_cell"), "/ot/plan dims")
    check(dims(ot, "cov_x") == ("eps", "component", "component2"), "/ot/cov_x dims")
    check(dims(ot, "mass_b") == ("one",), "/ot/mass_b dims")
check(dims(O1["/ot/exact"], "cross") == ("eps", "component", "component2")
      and np.array_equal(O1["/ot/exact"]["eps"].values, eps), "/ot/exact/cross")
O2 = open_all(f"{tmp}/ot2.h5")
check(dims(O2["/ot"], "a") == ("y", "x"), "/ot/a 2D dims")
O3 = open_all(f"{tmp}/otrun.h5")
with h5py.File(f"{tmp}/otrun.h5", "r") as f:
    ot_t = f["ot/t"][()]
check(dims(O3["/ot"], "primal") == ("t", "eps") and np.array_equal(O3["/ot"]["t"].values, ot_t),
      "/ot/primal over time")
check(dims(O3["/ot"], "a") == ("t", "x") and dims(O3["/ot"], "b") == ("x",), "/ot/a, /ot/b dims")

S = open_all(f"{tmp}/sb2.h5")
with h5py.File(f"{tmp}/sb2.h5", "r") as f:
    sb_t = f["sb/t"][()]
sb = S.get("/sb")
if sb is not None:
    check(dims(sb, "marginal") == ("t", "y", "x") and np.array_equal(sb["t"].values, sb_t),
          "/sb/marginal dims")
    check(dims(sb, "drift") == ("t", "component", "y", "x"), "/sb/drift dims")
    check(dims(sb, "backward_drift") == ("t", "component", "y", "x"), "/sb/backward_drift dims")
    check(dims(sb, "log_phi") == ("t", "y", "x") and dims(sb, "log_phi_hat") == ("t", "y", "x"),
          "/sb/log_phi, log_phi_hat dims")
    check(dims(sb, "cov") == ("t", "component", "component2"), "/sb/cov dims")
smp = S.get("/sample")
if smp is not None:
    check(dims(smp, "histogram") == ("t", "y", "x"), "/sample/histogram dims")
    check(dims(smp, "paths") == ("path", "t", "component"), "/sample/paths dims")
if "/mu0" in S:
    check(dims(S["/mu0"], "p") == ("y", "x"), "/mu0/p dims")
for v in (R1, R2, C, B, O1, O2, O3, S):
    for ds in v.values():
        ds.close()
if fails:
    print("\n".join("FAIL: " + s for s in fails))
    sys.exit(1)
print("xarray opened every group of 8 files of 5 commands; XDMF sidecar checked")
PY

# Where ParaView is installed (not needed otherwise; Debian: paraview python3-paraview), its XDMF
# reader must give every method at every output time bit for bit, on the grid's origin/spacing.
if command -v pvbatch > /dev/null; then
  cat > "$tmp/pv.py" <<'PY'
import sys
from paraview.simple import XDMFReader
from paraview import servermanager as sm
r = XDMFReader(FileNames=[sys.argv[1]])
r.UpdatePipelineInformation()
with open(sys.argv[2], "w") as out:
    for tv in r.TimestepValues:
        r.UpdatePipeline(tv)
        d = sm.Fetch(r)
        pd = d.GetPointData()
        for i in range(pd.GetNumberOfArrays()):
            a = pd.GetArray(i)
            vals = " ".join(repr(a.GetValue(j)) for j in range(a.GetNumberOfTuples()))
            out.write(f"{tv!r} {a.GetName()} {d.GetDimensions()[0]} {d.GetDimensions()[1]} "
                      f"{d.GetOrigin()[0]!r} {d.GetOrigin()[1]!r} {d.GetSpacing()[0]!r} "
                      f"{d.GetSpacing()[1]!r} {vals}\n")
PY
  pvbatch "$tmp/pv.py" "$tmp/run2.h5.xmf" "$tmp/pv.txt" > "$tmp/pv.log" 2>&1 || { cat "$tmp/pv.log"; exit 1; }
  "$py" - "$tmp" <<'PY'
import sys, h5py, numpy as np
tmp = sys.argv[1]
with h5py.File(f"{tmp}/run2.h5", "r") as f:
    t, gx, gy = f["fv/t"][()], f["grid/x"][()], f["grid/y"][()]
    seen = 0
    for line in open(f"{tmp}/pv.txt"):
        p = line.split()
        tv, name, nx, ny = float(p[0]), p[1], int(p[2]), int(p[3])
        ox, oy, hx, hy = map(float, p[4:8])
        k = int(np.flatnonzero(t == tv)[0])
        ref = f[f"{name}/density"][k].ravel()
        got = np.array(p[8:], dtype=float)
        assert (nx, ny) == (gx.size, gy.size) and ox == gx[0] and oy == gy[0], line[:120]
        assert np.isclose(hx, gx[1] - gx[0], rtol=1e-12) and np.isclose(hy, gy[1] - gy[0], rtol=1e-12)
        assert np.array_equal(got, ref), f"ParaView's {name} at t = {tv} differs from the file"
        seen += 1
    assert seen == 3 * t.size, f"ParaView gave {seen} arrays, want {3 * t.size}"
print(f"ParaView (pvbatch) read {seen} fields of run2.h5.xmf bit for bit")
PY
else
  echo "pvbatch not installed: ParaView check skipped"
fi

# the sidecar of an earlier 2D run is removed by a 1D run to the same path
fail() { echo "xarray_open: $*"; exit 1; }
cp "$tmp/run2.h5" "$tmp/same.h5" && cp "$tmp/run2.h5.xmf" "$tmp/same.h5.xmf"
sed -i 's/>run2.h5:/>same.h5:/' "$tmp/same.h5.xmf"
"$fpkit" run "$tmp/run1.ini" -o "$tmp/same.h5" "${q[@]}"
[ ! -e "$tmp/same.h5.xmf" ] || fail "stale sidecar left beside a 1D result"
# OUT.h5, OUT.hdf5 and OUT once shared OUT.xmf: a 2D run to run2.hdf5 replaced run2.h5's sidecar,
# and a 1D run to run2.hdf5 then deleted it
cp "$tmp/run2.h5.xmf" "$tmp/run2.keep"
"$fpkit" run "$tmp/run2.ini" -o "$tmp/run2.hdf5" "${q[@]}"
cmp -s "$tmp/run2.h5.xmf" "$tmp/run2.keep" || fail "a run to run2.hdf5 changed run2.h5's sidecar"
grep -q '>run2.hdf5:/fv/density<' "$tmp/run2.hdf5.xmf" || fail "run2.hdf5.xmf does not describe run2.hdf5"
"$fpkit" run "$tmp/run1.ini" -o "$tmp/run2.hdf5" "${q[@]}"
[ ! -e "$tmp/run2.hdf5.xmf" ] || fail "run2.hdf5.xmf left beside a 1D result"
cmp -s "$tmp/run2.h5.xmf" "$tmp/run2.keep" || fail "a 1D run to run2.hdf5 touched run2.h5's sidecar"
# fpkit's sidecar of another file at this file's sidecar path is never removed
cp "$tmp/run2.keep" "$tmp/other.h5.xmf"
"$fpkit" run "$tmp/run1.ini" -o "$tmp/other.h5" "${q[@]}" --force
cmp -s "$tmp/other.h5.xmf" "$tmp/run2.keep" || fail "a sidecar of run2.h5 was removed by a run to other.h5"
# a file fpkit did not write (or a directory) at the sidecar's path is refused before anything
# is computed: no HDF5 file either; --force replaces a file, never a directory
echo '<?xml version="1.0"?><!-- my ParaView state --><Xdmf/>' > "$tmp/foreign.h5.xmf"
cp "$tmp/foreign.h5.xmf" "$tmp/foreign.keep"
rc=0
"$fpkit" run "$tmp/run2.ini" -o "$tmp/foreign.h5" "${q[@]}" 2> "$tmp/foreign.err" || rc=$?
[ "$rc" -ne 0 ] || fail "a foreign foreign.h5.xmf was accepted"
grep -q "foreign.h5.xmf' exists and is not the XDMF sidecar fpkit wrote for" "$tmp/foreign.err" ||
  { cat "$tmp/foreign.err"; fail "foreign sidecar: wrong message"; }
! grep -q "written, but not" "$tmp/foreign.err" || fail "the foreign sidecar was found after computing"
[ ! -e "$tmp/foreign.h5" ] || fail "foreign.h5 written although its sidecar path was refused"
cmp -s "$tmp/foreign.h5.xmf" "$tmp/foreign.keep" || fail "foreign.h5.xmf was changed"
"$fpkit" run "$tmp/run2.ini" -o "$tmp/foreign.h5" "${q[@]}" --force
grep -q '>foreign.h5:/fv/density<' "$tmp/foreign.h5.xmf" || fail "--force did not replace foreign.h5.xmf"
mkdir "$tmp/dir.h5.xmf"
rc=0
"$fpkit" run "$tmp/run2.ini" -o "$tmp/dir.h5" "${q[@]}" --force 2> "$tmp/dir.err" || rc=$?
[ "$rc" -ne 0 ] && [ ! -e "$tmp/dir.h5" ] || fail "a directory at the sidecar's path was accepted"
grep -q "dir.h5.xmf', where the XDMF sidecar of .* is not a regular file" "$tmp/dir.err" ||
  { cat "$tmp/dir.err"; fail "directory sidecar: wrong message"; }
# names: "--" once reached an XML comment (ill-formed XML); ':' is where XDMF readers cut
# "FILE:/dataset", so such a file gets a warning before computing and no sidecar
"$fpkit" run "$tmp/run2.ini" -o "$tmp/a--b.h5" "${q[@]}"
"$py" -c "import sys, xml.dom.minidom as m; m.parse(sys.argv[1])" "$tmp/a--b.h5.xmf" ||
  fail "a--b.h5.xmf is not well-formed XML"
"$fpkit" run "$tmp/run2.ini" -o "$tmp/r_21:00.h5" "${q[@]}" 2> "$tmp/colon.err" ||
  { cat "$tmp/colon.err"; fail "a run to r_21:00.h5 failed"; }
grep -q "warning: .*r_21:00.h5 gets no XDMF sidecar.*':'" "$tmp/colon.err" ||
  { cat "$tmp/colon.err"; fail "no warning for a name with ':'"; }
[ -e "$tmp/r_21:00.h5" ] && [ ! -e "$tmp/r_21:00.h5.xmf" ] || fail "r_21:00.h5: file or sidecar"
if command -v pvbatch > /dev/null; then
  # a name ParaView would cut at its first byte (non-ASCII) is written "./NAME"
  "$fpkit" run "$tmp/run2.ini" -o "$tmp/é--b.h5" "${q[@]}"
  pvbatch "$tmp/pv.py" "$tmp/é--b.h5.xmf" "$tmp/pv2.txt" > "$tmp/pv2.log" 2>&1 ||
    { cat "$tmp/pv2.log"; fail "ParaView cannot read é--b.h5.xmf"; }
  [ "$(wc -l < "$tmp/pv2.txt")" -eq "$(wc -l < "$tmp/pv.txt")" ] ||
    { cat "$tmp/pv2.log"; fail "ParaView read $(wc -l < "$tmp/pv2.txt") arrays of é--b.h5.xmf"; }
  cmp -s "$tmp/pv.txt" "$tmp/pv2.txt" ||
    fail "ParaView's é--b.h5 values differ from run2.h5's"
  echo "ParaView (pvbatch) read é--b.h5.xmf as run2.h5.xmf"
fi
echo "xarray_open: OK"
