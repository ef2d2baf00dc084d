#!/usr/bin/env bash
# [spectral] wisdom never overwrites a file that is not FFTW wisdom: not the configuration, not a
# result, not the output of the run itself, not the file `fpkit rerun` checks (a hostile test
# found each of these overwritten). Usage: bash wisdom_safety.sh FPKIT_BINARY SOURCE_DIR
set -uo pipefail
fpkit=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
small=(--quiet --set spectral.planner=estimate --set stationary.enabled=false --set time.n_out=2)
cp "$src/experiments/spectral/tilted.ini" t.ini

# the configuration itself as the wisdom file: left as it is, with a warning
sha=$(sha256sum t.ini)
msg=$("$fpkit" run t.ini -o a.h5 "${small[@]}" --set spectral.wisdom=t.ini 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(sha256sum t.ini)" = "$sha" ] && grep -q "not an FFTW wisdom file" <<<"$msg"; then
  ok "wisdom = the config: config untouched, warned"
else
  bad "wisdom = the config (rc $rc): $msg"
fi

# another result as the wisdom file: untouched
sha=$(sha256sum a.h5)
"$fpkit" run t.ini -o b.h5 "${small[@]}" --set spectral.wisdom=a.h5 >/dev/null 2>&1
if [ -s a.h5 ] && [ "$(sha256sum a.h5)" = "$sha" ]; then ok "wisdom = another result: untouched"; else bad "another result overwritten"; fi

# the output as the wisdom file, then rerun: FILE untouched and identical
"$fpkit" run t.ini -o same.h5 "${small[@]}" --set spectral.wisdom=same.h5 >/dev/null 2>&1
sha=$(sha256sum same.h5)
"$fpkit" rerun same.h5 --quiet >/dev/null 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(sha256sum same.h5)" = "$sha" ] && head -c 4 same.h5 | od -c | grep -q "H   D   F"; then
  ok "wisdom = the output: rerun identical, FILE untouched"
else
  bad "wisdom = the output: rerun rc $rc, FILE changed or not HDF5"
fi

# a real wisdom file is still written and reused
"$fpkit" run t.ini -o c.h5 "${small[@]}" --set spectral.wisdom=w.txt >/dev/null 2>&1
if head -c 6 w.txt | grep -q "(fftw-" && "$fpkit" run t.ini -o d.h5 "${small[@]}" --set spectral.wisdom=w.txt 2>&1 | grep -vq "not an FFTW"; then
  ok "a wisdom file is written and read back"
else
  bad "wisdom file not written"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
