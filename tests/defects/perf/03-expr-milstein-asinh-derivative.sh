#!/usr/bin/env bash
# FIXED (h15-hostile, tests/test_perf_defects.c test_expr_noise_derivative).
# What: Milstein on an expression model takes σ' = ∂σ/∂x from libmatheval's symbolic derivative
#   (src/models/expr.c; compiled by the JIT bit for bit like the interpreter). libmatheval 1.1.11
#   differentiates asinh and acoth wrongly: d/dx asinh(x) -> 1/sqrt(1 - x^2) (true: 1/sqrt(1 + x^2))
#   and d/dx acoth(x) -> 1/(x^2 - 1) (true: 1/(1 - x^2)).
# Expected: Milstein refuses a noise whose derivative it cannot get right (exit 1, naming the
#   cause), or uses the right σ'.
# Observed (5bdda4c): noise = 0.5 + 0.2*tanh(asinh(0.5*x)): Milstein ran with the wrong σ' (exit 0;
#   strong solution wrong; NaN σ' where |0.5 x| > 1 made a path non-finite, exit 3, blaming the
#   path). Severity: wrong number with exit 0 (jit = on and off alike: libmatheval's tree).
# Command: bash tests/defects/perf/03-expr-milstein-asinh-derivative.sh build/fpkit
set -u
fpkit=${1:-build/fpkit}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for f in asinh acoth sinh; do
  arg="0.5*x"; [ $f = acoth ] && arg="2 + x^2"
  cat > "$tmp/m.ini" <<EOT
[model]
type = expr
dim = 1
drift = -x
noise = 0.5 + 0.2*tanh($f($arg))
[init]
type = gaussian
mean = 0
std = 0.3
[grid]
lo = -5
hi = 5
n = 50
[time]
t_end = 0.1
n_out = 2
[fp]
enabled = false
[mc]
paths = 100
dt = 0.01
stepper = milstein
seed = 1
EOT
  "$fpkit" run "$tmp/m.ini" -o "$tmp/o.h5" 2>&1 | tail -1 | cut -c1-160
  echo "  $f: exit ${PIPESTATUS[0]} (asinh, acoth: 1 expected; sinh: 0)"
done
