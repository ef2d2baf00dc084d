# Helpers shared by the CLI test scripts (sourced; tests/cli/*.sh are the tests, this folder is
# not globbed): counted ok/bad lines, the refusal check (exit 1, the message, no output file) and
# the closing summary.
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# expect_refused NAME REGEX OUT COMMAND...: COMMAND must exit 1, print a message matching the
# extended REGEX on stderr (file:line, key and value, by fpkit's convention) and leave no file OUT.
expect_refused() {
  local name=$1 re=$2 out=$3
  shift 3
  rm -f "$out"
  local msg rc
  msg=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq 1 ] && grep -Eq -- "$re" <<<"$msg" && [ ! -e "$out" ]; then ok "$name: $msg"
  else bad "$name: exit $rc, message: $msg"; fi
}

# summary NAME: the counts, and the script's status (0 when nothing failed).
summary() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
