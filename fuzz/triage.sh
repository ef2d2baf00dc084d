#!/usr/bin/env bash
# Replays the inputs a fuzz run saved and groups them by signature: what happened (the
# sanitizer's or libFuzzer's report), where (the first frames outside the sanitizers, libFuzzer
# and libc) and whose it is (fpkit, libhdf5, libmatheval; scripts/fuzz.sh's classification).
# Usage: bash fuzz/triage.sh TARGET [INPUT...]   (default: build-fuzz/artifacts/TARGET/*)
# Prints one line per input: signature, owner, input; then the count of each signature.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?usage: bash fuzz/triage.sh TARGET [INPUT...]}
shift
build=${FPK_FUZZ_BUILD:-build-fuzz}
bin=$build/fuzz/fuzz_$t
inputs=("$@")
tmo=10
[ "$t" = h5 ] && tmo=3
[ ${#inputs[@]} -gt 0 ] || inputs=("$build"/artifacts/"$t"/*)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=512}
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
eval "$(sed -n '/^upstream_of() {/,/^}/p' scripts/fuzz.sh)"
out=$(mktemp)
export FPK_FUZZ_TMPDIR
FPK_FUZZ_TMPDIR=$(mktemp -d)
trap 'rm -rf "$out" "$out.sigs" "$FPK_FUZZ_TMPDIR"' EXIT
for f in "${inputs[@]}"; do
  [ -f "$f" ] || continue
  "$bin" -timeout="$tmo" -rss_limit_mb=4096 -malloc_limit_mb=1024 "$f" > "$out" 2>&1 && {
    printf '%-70s %-11s %s\n' "passes now" "-" "$f"
    echo "passes now" >> "$out.sigs"
    continue
  }
  kind=$(grep -m1 -oE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-zA-Z-]+( \(malloc)?|runtime error: [a-z ]+|fuzz check failed" "$out" | sed 's/ERROR: //' || true)
  where=$(awk '/ERROR|runtime error|fuzz check failed/ { on = 1 }
    on && /^ *#[0-9]+ 0x/ {
      if ($0 ~ /__asan|__lsan|__ubsan|__sanitizer|__interceptor|interceptors|asan_|sanitizer_common|libc\.so|libc-start|sysdeps\/|nptl\/|csu\/|stdlib\/|signal\/|string\/|in __(mem|str|w?cs)[a-z0-9_]* |fuzzer::|libFuzzer|in (malloc|calloc|realloc|free|memcpy|memmove|memset|raise|abort) /) next
      if ($3 == "in") fn = $4
      else { x = $3; gsub(/^\(|\)$/, "", x); n = split(x, p, "/"); fn = p[n] }
      s = s (s ? " < " : "") fn
      if (++k == 3) exit
    }
    END { print s }' "$out")
  owner=$(upstream_of "$out")
  sig="${kind:-unknown}: ${where:-?}"
  printf '%-70s %-11s %s\n' "${sig:0:70}" "${owner:-fpkit}" "$f"
  echo "$sig | ${owner:-fpkit}" >> "$out.sigs"
done
echo
sort "$out.sigs" | uniq -c | sort -rn
