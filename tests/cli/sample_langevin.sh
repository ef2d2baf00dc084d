#!/usr/bin/env bash
# `fpkit sample` with [sampler] family = langevin (src/app/sample.c; docs/diffusion.md "The
# command: Langevin"): ula, mala and annealed Langevin on the data law with its exact score.
#  - the classic demonstration (Song & Ermon 2019, §3.2): on 0.2 N(-4, 0.5^2) + 0.8 N(4, 0.5^2)
#    from uniform on [-8, 8], 6000 points, 5000 score evaluations each: plain Langevin keeps the
#    start's split between the basins (the 0.2 mode's weight > 10 SE off), annealed Langevin
#    recovers it (< 3 SE); the /trace of both (TV, mode weights), its last TV = l1_error / 2;
#  - MALA on N(0.5, 0.8^2): L1 within 1.5 sampling floors, KS at the Monte Carlo level, variance
#    0.64 within 4%; ULA with the same alpha = 0.5 shows its bias (L1 over 1.5 floors) and has the stationary variance s^2 / (1 - alpha/(4 s^2)) = 0.795 of the
#    step x += (alpha/2) grad log p + sqrt(alpha) z (not 0.64: the check fails for another
#    convention, e.g. x += alpha grad log p + sqrt(2 alpha) z gives 1.07; within 4%, 4 SE);
#  - bitwise identical for 1 and 2 threads (fpkit rerun);
#  - bad input: file:line, key, value, exit 1, no file.
# Usage: bash tests/cli/sample_langevin.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/cli/lib/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/checks.sh"
cat > "$tmp/two.ini" <<'INI'
[data]
dim = 1
weights = 0.2 0.8
means = -4 4
stds = 0.5
[sampler]
family = langevin
record = 20
[sample]
paths = 6000
start = uniform
[grid]
dim = 1
n = 160
lo = -8
hi = 8
INI
# one thread: OpenMP's spinning threads cost much more than they give on a loaded machine; the
# thread independence is checked below on smaller runs
run() { "$fpkit" sample "$1" --quiet --threads 1 "${@:2}"; }
if run "$tmp/two.ini" -o "$tmp/ula.h5" --set sampler.method=ula --set sampler.step=0.01 \
     --set sampler.iterations=5000 &&
   run "$tmp/two.ini" -o "$tmp/ann.h5" --set sampler.method=annealed --set sampler.levels=100 \
     --set sampler.steps_per_level=50 --set sampler.eps=1e-3 --set sampler.sigma_max=10 \
     --set sampler.sigma_min=0.05 &&
   m=$("$py" - "$tmp/ula.h5" "$tmp/ann.h5" <<'PY'
import sys, h5py, numpy as np
fu, fa = (h5py.File(p, "r") for p in sys.argv[1:3])
out, okk = [], True
for name, f in (("ula", fu), ("annealed", fa)):
    a = f["sample"].attrs
    w, se = f["sample/mode_weight"][0], f["sample/mode_weight_se"][0]
    z = abs(w - 0.2) / se
    tr = f["trace"]
    it, tv = tr["iteration"][()], tr["tv"][()]
    okk &= a["nfe"] == 5000 and a["iterations"] == 5000 and len(it) == 21 and it[-1] == 5000
    okk &= abs(tv[-1] - a["l1_error"] / 2) < 1e-12 and tr["mode_weight"][-1, 0] == w
    okk &= abs(f["target/mode_weight"][0] - 0.2) < 1e-3
    okk &= (z > 10) if name == "ula" else (z < 3)
    out.append(f"{name}: weight {w:.4f} (SE {se:.4f}, {z:.1f} SE off), TV {tv[0]:.3f} -> {tv[-1]:.3f}")
tu, ta = fu["trace/tv"][()], fa["trace/tv"][()]
okk &= tu[0] == ta[0] and ta[-1] < 0.5 * tu[-1]
print("; ".join(out))
sys.exit(0 if okk else 1)
PY
); then ok "demonstration: $m"; else bad "demonstration: ${m:-}"; fi

cat > "$tmp/one.ini" <<'INI'
[data]
dim = 1
weights = 1
means = 0.5
stds = 0.8
[sampler]
family = langevin
step = 0.5
iterations = 150
[sample]
paths = 20000
start = uniform
[grid]
dim = 1
n = 200
lo = -4
hi = 5
INI
if run "$tmp/one.ini" -o "$tmp/mala.h5" --set sampler.method=mala &&
   run "$tmp/one.ini" -o "$tmp/ulab.h5" --set sampler.method=ula &&
   m=$("$py" - "$tmp/mala.h5" "$tmp/ulab.h5" <<'PY'
import sys, h5py
fm, fu = (h5py.File(p, "r") for p in sys.argv[1:3])
am, au = fm["sample"].attrs, fu["sample"].attrs
rm, ru = am["l1_error"] / am["l1_floor"], au["l1_error"] / au["l1_floor"]
vm, vu = fm["sample/cov"][0, 0], fu["sample/cov"][0, 0]
theory = 0.64 / (1 - 0.5 / (4 * 0.64))
okk = rm <= 1.5 and am["ks"] <= 0.015 and 0.8 < am["acceptance"] < 1
okk &= ru > 1.5 and abs(vu / theory - 1) < 0.04 and abs(vm / 0.64 - 1) < 0.04
print(f"MALA L1/floor {rm:.2f}, KS {am['ks']:.4f}, acceptance {am['acceptance']:.3f}, var {vm:.4f} "
      f"(0.64); ULA L1/floor {ru:.1f}, var {vu:.4f} (theory {theory:.4f})")
sys.exit(0 if okk else 1)
PY
); then ok "mala vs ula: $m"; else bad "mala vs ula: ${m:-}"; fi

run "$tmp/two.ini" -o "$tmp/ann_s.h5" --set sampler.method=annealed --set sample.paths=5000 --set sampler.steps_per_level=20 &&
run "$tmp/one.ini" -o "$tmp/mala_s.h5" --set sampler.method=mala --set sample.paths=5000 --set sampler.iterations=50 ||
  bad "small runs for the thread check"
for f in ann_s mala_s; do
  if "$fpkit" rerun "$tmp/$f.h5" -o "$tmp/${f}r.h5" --threads 2 --quiet; then
    ok "$f rerun with 2 threads: identical"; else bad "$f rerun differs"; fi
done

expect() { # name, regex, config, args...
  expect_refused "$1" "$2" "$tmp/bad.h5" "$fpkit" sample "$3" -o "$tmp/bad.h5" "${@:4}"
}
printf '[schedule]\ntype = ve\n' > "$tmp/sch.ini"
cat "$tmp/one.ini" "$tmp/sch.ini" > "$tmp/one_sch.ini"
T=$tmp/one.ini
expect "schedule with langevin" "one_sch.ini:[0-9]+: \[schedule\] type = 've': family = langevin .* no noising schedule" "$tmp/one_sch.ini"
expect "start = prior" "\[sample\] start = 'prior': prior is N\(0, b_tmax\^2 I\)" "$T" --set sample.start=prior
expect "start = uniform, pf-ode" "\[sample\] start = 'uniform': uniform .* is a start of family = langevin" "$T" --set sampler.family=pf-ode
expect "step = 0" "\[sampler\] step = '0'" "$T" --set sampler.step=0
expect "iterations = 0" "\[sampler\] iterations = '0'" "$T" --set sampler.iterations=0
expect "sigma_min >= sigma_max" "\[sampler\] sigma_min = '20': sigma_min = 20 must be below sigma_max = 10" "$T" --set sampler.method=annealed --set sampler.sigma_min=20
expect "eps <= 0" "\[sampler\] eps = '-1'" "$T" --set sampler.method=annealed --set sampler.eps=-1
expect "unknown method" "\[sampler\] method = 'hmc': expected one of ula, mala, annealed" "$T" --set sampler.method=hmc
expect "eps with ula" "unknown key 'eps' = '1' in \[sampler\]" "$T" --set sampler.eps=1
expect "steps with langevin" "unknown key 'steps' in \[sampler\].*valid here: family, step, iterations" "$T" --set sampler.steps=5
expect "step with pf-ode" "one.ini:8: unknown key 'step' in \[sampler\]" "$T" --set sampler.family=pf-ode --set sample.start=exact
summary sample_langevin
