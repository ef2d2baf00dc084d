#!/usr/bin/env bash
# The key tables (src/app/keys.c, docs/workflow.md): (1) every template of `fpkit config --list`
# parses and runs through its command (small --set overrides) with exit 0 and writes its file;
# (2) `fpkit keys` lists every key that a configuration under experiments/ uses; (3) the
# listing and template commands refuse unknown names with exit 2.
# Every run here also exercises the schema check: a getter that reads a key otherwise than the
# table says fails with "internal error" (tests/test_config.c tests the check itself).
# Usage: bash tests/cli/keys_templates.sh FPKIT_BINARY SOURCE_DIR
set -euo pipefail
fpkit=$1
src=$2
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# (1) every template runs
templates=$("$fpkit" config --list | awk '{print $1}')
[ "$(echo "$templates" | wc -l)" -ge 10 ] || fail "config --list: $templates"
for t in $templates; do
  cmd=${t%%/*}
  ini=$tmp/${t//\//_}.ini
  "$fpkit" config "$t" > "$ini" || fail "config $t: exit $?"
  grep -q '^# ' "$ini" || fail "config $t: no comments"
  case $cmd in
    run) sets=(--set mc.paths=2000 --set grid.n=64 --set time.t_end=0.5) ;;
    converge) sets=(--set converge.paths=6000 --set time.t_end=0.5) ;;
    bridge) sets=(--set bridge.paths=2000 --set kolmogorov.paths=2000 --set kolmogorov.steps=100
                  --set ks_band.repetitions=200 --set ks_band.n=50) ;;
    ot) sets=(--set grid.n=64) ;;
  esac
  rc=0
  "$fpkit" "$cmd" "$ini" -o "$tmp/out.h5" --force -q "${sets[@]}" 2> "$tmp/err" || rc=$?
  if [ $rc -ne 0 ]; then
    # issue 16 (branch h16-app): until the FV/spectral solvers and the Monte Carlo steppers of the
    # other branches accept noise matrices, a kramers template stops at their refusal. The merge
    # makes this branch dead; remove it then.
    if [ "${t##*/}" = kramers ] && grep -Eq "lacks a drift or noise callback|not diagonal noise" "$tmp/err"; then
      echo "SKIP template $t: the solvers of this branch refuse noise matrices: $(cat "$tmp/err")"
      continue
    fi
    fail "template $t: fpkit $cmd exited $rc: $(cat "$tmp/err")"
  fi
  [ -s "$tmp/out.h5" ] || fail "template $t: no output"
  rm -f "$tmp/out.h5"
done
# a model template has that model's keys and not another's (outputs are captured first: grep -q
# closing a pipe early would fail the pipeline under pipefail)
langevin=$("$fpkit" config run/langevin)
grep -q '^beta = ' <<< "$langevin" || fail "run/langevin: no beta"
grep -q '^sigma = ' <<< "$langevin" && fail "run/langevin: sigma (ou's key)"
grep -q '^\[parameters\]' <<< "$("$fpkit" config run/expr)" || fail "run/expr: no [parameters]"

# (2) every key used under experiments/ is listed
"$fpkit" keys > "$tmp/keys.txt"
"$py" - "$src" "$tmp/keys.txt" <<'PY' || fail "keys missing from fpkit keys"
import configparser, glob, sys
src, listing = sys.argv[1], sys.argv[2]
listed = {line.split()[0] for line in open(listing) if line.strip() and not line.startswith(("#", "KEY"))}
missing, used = [], 0
for path in sorted(glob.glob(f"{src}/experiments/**/*.ini", recursive=True)):
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"), interpolation=None,
                                   strict=False)
    cp.optionxform = str
    cp.read(path)
    for sec in cp.sections():
        for key in cp[sec]:
            used += 1
            name = f"{sec}.*" if sec == "parameters" else f"{sec}.{key}"
            if name not in listed:
                missing.append(f"{path}: [{sec}] {key}")
print(f"{used} keys used under experiments/, {len(missing)} not listed")
for m in missing:
    print("  " + m)
sys.exit(1 if missing or used < 50 else 0)
PY
# every command has a table; a model filter keeps that model's keys
for cmd in run converge bridge ot sb; do
  grep -q '^output.file ' <<< "$("$fpkit" keys "$cmd")" || fail "keys $cmd: no output.file"
done
ou=$("$fpkit" keys run/ou)
grep -q '^model.theta ' <<< "$ou" || fail "keys run/ou: no theta"
grep -q '^model.beta ' <<< "$ou" && fail "keys run/ou lists langevin's beta"
grep -q '^mc.paths  *size  *100000  *\[2, 1099511627776\]' <<< "$ou" ||
  fail "keys run: mc.paths row: $(grep '^mc.paths' <<< "$ou")"

# (2b) listed ranges are those the parser accepts: values are finite (never "inf]"), and an upper
# bound the command refuses after the getter is listed open (ks_band.alpha = 1 is refused)
all=$("$fpkit" keys run; "$fpkit" keys converge; "$fpkit" keys bridge; "$fpkit" keys ot; "$fpkit" keys sb)
grep -q 'inf\]' <<< "$all" && fail "a range lists inf as allowed: $(grep 'inf\]' <<< "$all" | head -1)"
grep -q '^ks_band.alpha .*(0, 1) ' <<< "$all" || fail "ks_band.alpha: $(grep '^ks_band.alpha' <<< "$all")"
"$fpkit" config bridge > "$tmp/b.ini"
set +e
"$fpkit" bridge "$tmp/b.ini" -o "$tmp/alpha.h5" --quiet --set ks_band.alpha=1 > /dev/null 2>&1
rc=$?
set -e
[ $rc -eq 1 ] || fail "ks_band.alpha = 1 accepted (exit $rc) though listed as outside (0, 1)"

# (3) unknown names
for args in "keys nosuch" "keys run/nosuch" "keys bridge/ou" "config nosuch" "config converge/bm" "config"; do
  set +e
  "$fpkit" $args > /dev/null 2>&1
  rc=$?
  set -e
  [ $rc -eq 2 ] || fail "fpkit $args: exit $rc, expected 2"
done
echo "keys_templates: ok"
