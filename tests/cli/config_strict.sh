#!/usr/bin/env bash
# The strict INI reader on the reproducers of issue 11 (copied from shared/defects into tests/defects):
# D3, a line longer than inih's 200-byte buffer (Debian's r55 split it into pieces parsed as
# lines: the tail of a long comment became the key `mu = 3.0`, and a 1 MB section name gave an
# error naming line 5272 of a 40-line file); D11, a NUL byte that cut a line short unseen; D14,
# `lo = -4 ; -2` read as (-4, -4). Nothing is skipped: a missing reproducer or a missing h5py is
# a failure.
# Usage: bash tests/cli/config_strict.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
defects=$2/tests/defects
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out.h5
pass=0 fail=0
export OMP_NUM_THREADS=1

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect NAME EXIT_CODE REGEX [fpkit arguments...]: the exit status, the message, and no output
# file left behind.
expect() {
  local name=$1 code=$2 regex=$3
  shift 3
  rm -f "$out" "$out".tmp.*
  local msg rc
  msg=$("$fpkit" "$@" 2>&1 >/dev/null)
  rc=$?
  local leftovers
  leftovers=$(ls "$tmp" | grep -E '^out\.h5' || true)
  if [ "$rc" -eq "$code" ] && grep -Eq -- "$regex" <<<"$msg" && [ -z "$leftovers" ]; then
    ok "$name: $msg"
  else
    bad "$name: exit $rc (want $code), message: $msg"
    echo "     wanted /$regex/; files left: ${leftovers:-none}"
  fi
}

for f in long_comment_injects_key.ini nul_byte_truncates_value.ini small_ou1d.ini; do
  if [ ! -f "$defects/$f" ]; then
    bad "reproducer $defects/$f is missing"
    echo "$pass passed, $fail failed"
    exit 1
  fi
done
if ! /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  bad "/usr/bin/python3 cannot import h5py (needed to read the stored configuration)"
  echo "$pass passed, $fail failed"
  exit 1
fi

# D3 (1): a 208-byte comment line whose tail is "mu = 3.0". It runs, and the configuration
# stored in the output has the default mu, not 3.
cp "$defects/long_comment_injects_key.ini" "$tmp/long_comment.ini"
rm -f "$out"
msg=$("$fpkit" run "$tmp/long_comment.ini" -o "$out" --quiet 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && [ -s "$out" ]; then
  stored=$(/usr/bin/python3 - "$out" <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    c = f.attrs["config"]
print(c.decode() if isinstance(c, bytes) else c)
PY
  )
  if [ -z "$stored" ]; then
    bad "long comment: no stored config attribute"
  elif grep -Eq '^mu *= *3' <<<"$stored"; then
    bad "long comment: the comment's tail became a key: $(grep -E '^mu' <<<"$stored")"
  elif ! grep -Eq '^theta = 1.0$' <<<"$stored"; then
    bad "long comment: stored config lacks theta = 1.0: $stored"
  else
    ok "long comment runs, stored config has $(grep -E '^mu' <<<"$stored" || echo 'no mu')"
  fi
else
  bad "long comment: exit $rc, message: $msg"
fi
rm -f "$out"

# D3 (2): the 1 MB section name of long_lines.sh, on line 2: refused naming line 2 and the limit.
/usr/bin/python3 - "$defects/small_ou1d.ini" "$tmp/longsec.ini" <<'PY'
import sys
text = open(sys.argv[1]).read()
assert "[model]" in text.splitlines()[1], "small_ou1d.ini changed: [model] is not on line 2"
open(sys.argv[2], "w").write(text.replace("[model]", "[" + "m" * (1 << 20) + "]"))
PY
expect "1 MB section name" 1 \
  "longsec.ini:2: line is 1048578 bytes long; the limit is 198: split a long value over indented continuation lines" \
  run "$tmp/longsec.ini" -o "$out"

# A long value line after a long comment: the error names the right line.
{
  echo "[model]"
  printf '; %05000d\n' 0
  printf 'type = ou\ndim = 1\ntheta = 1.0  ; %0300d\n' 0
  printf 'sigma = %0300d\n' 1
} > "$tmp/longval.ini"
expect "long value line" 1 \
  "longval.ini:6: line is 308 bytes long; the limit is 198" run "$tmp/longval.ini" -o "$out"

# D11: a NUL byte in line 4, column 12.
expect "NUL byte" 1 "nul_byte_truncates_value.ini:4:12: NUL byte" \
  run "$defects/nul_byte_truncates_value.ini" -o "$out"
printf '[model]\ntype = ou\ndim = 1\ntheta = 1.0\nsigma = caf\xe9\n' > "$tmp/latin1.ini"
expect "invalid UTF-8" 1 "latin1.ini:5:12: invalid UTF-8 \(byte 0xE9" run "$tmp/latin1.ini" -o "$out"

# D14: a single value with a comment after it is not broadcast; ';' is no list separator.
cat > "$tmp/ou2d.ini" <<'INI'
[model]
type = ou
dim = 2
theta = 1.0
sigma = 1.0 1.0

[init]
mean = 0.5
std = 0.3

[grid]
lo = -4 ; -2
hi = 4
n = 32

[time]
t_end = 0.5
n_out = 3            ; t = 0, 0.25, 0.5

[fp]
scheme = implicit-euler
dt = 0.05

[mc]
enabled = false
INI
expect "commented value not broadcast" 1 \
  "ou2d.ini:12: \[grid\] lo = '-4': one value where 2 are expected, and the line has the comment '; -2' \(';' after a space starts a comment\): write all 2 values separated by spaces or commas \(lo = -4 -2\)" \
  run "$tmp/ou2d.ini" -o "$out"
expect "--set with ';'" 1 \
  "--set: \[grid\] lo = '-4;-2': ';' is not a list separator .* lists are separated by spaces or commas: write lo = -4 -2" \
  run "$tmp/ou2d.ini" -o "$out" --set "grid.lo=-4;-2"
sed 's/^lo = -4 ; -2$/lo = -4;-2/' "$tmp/ou2d.ini" > "$tmp/semicolon.ini"
expect "';' in a file list" 1 "semicolon.ini:12: \[grid\] lo = '-4;-2': ';' is not a list separator" \
  run "$tmp/semicolon.ini" -o "$out"
# The same file runs with the two numbers written as a list, or with the comment overridden.
for fix in "--set grid.lo=-4,-2" "--set grid.lo=-4"; do
  rm -f "$out"
  # shellcheck disable=SC2086
  if msg=$("$fpkit" run "$tmp/ou2d.ini" -o "$out" --quiet $fix 2>&1) && [ -s "$out" ]; then
    ok "runs with $fix"
  else
    bad "does not run with $fix: $msg"
  fi
done
rm -f "$out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
