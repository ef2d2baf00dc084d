#!/usr/bin/env bash
# Builds fpkit's libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer) and
# runs each of them (fuzz/README.md, docs/testing.md "Fuzzing").
#
# Usage: bash scripts/fuzz.sh DURATION [TARGET...]   each target for DURATION seconds
#        bash scripts/fuzz.sh --runs N [TARGET...]   each target for N executions, seed 1
#        bash scripts/fuzz.sh --ci                   the short run of scripts/test.sh
# TARGET: config, expr, h5 (default: all three).
#
# The working corpus of each target lives in build-fuzz/corpus/TARGET (seeded from
# fuzz/corpus/TARGET and kept between runs: a longer run continues where the last one stopped);
# crashes, leaks and timeouts are written to build-fuzz/artifacts/TARGET/. Before fuzzing, every
# input under fuzz/regressions/TARGET/ is run once (findings that were fixed).
#
# --ci: deterministic (seed 1, a fixed number of executions sized to about a minute per target
# on a slow 2-core machine, a fixed -march), from the checked-in seeds only (a fresh corpus in
# build-fuzz/ci-corpus).
# In every mode, a crash, leak or timeout whose stack is inside libhdf5 (or libmatheval) is a
# known kind of upstream defect (fuzz/known-hdf5/README.md): it is reported, its input kept in
# build-fuzz/artifacts, and the target resumes with the next seed for the executions (or the
# time) left; anything else fails the run. An out-of-bounds access to a heap block counts as
# upstream only when the block was allocated inside the library (HDF5 writing past a buffer that
# fpkit allocated too small is fpkit's defect). Without a working libFuzzer (no clang, or no
# libclang-rt-14-dev) --ci says so and exits 0; the other modes fail.
#
# Environment: FPK_FUZZ_BUILD (build directory, default build-fuzz), FPK_FUZZ_PARALLEL (targets
# run at once, default 1), FPK_FUZZ_ARGS (more libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

ci=0 runs="" duration=""
case "${1:-}" in
  --ci) ci=1; shift ;;
  --runs) runs=${2:?--runs needs a count}; shift 2 ;;
  ''|-h|--help) sed -n '2,28p' "$0"; exit 2 ;;
  *) duration=$1; shift ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config expr h5)
for t in "${targets[@]}"; do
  case $t in config|expr|h5) ;; *) echo "fuzz.sh: unknown target '$t' (config, expr, h5)" >&2; exit 2 ;; esac
done
if [ -n "$duration" ] && ! [[ $duration =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: DURATION is a number of seconds" >&2
  exit 2
fi

# Executions per target in --ci mode: ~20-40 s each here (2 cores, load of other work), so that
# a slower 2-core CI machine stays near a minute; ci_time_cap (s) caps a target, restarts after
# upstream crashes included.
declare -A ci_runs=([config]=100000 [expr]=100000 [h5]=3000)
ci_time_cap=90

# ---- a working libFuzzer?
probe=$(mktemp -d)
# fuzz_h5 writes each input to a file there: what a process that died left goes with it
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
export FPK_FUZZ_TMPDIR
FPK_FUZZ_TMPDIR=$(mktemp -d "$shm/fpk-fuzz.XXXXXX")
trap 'rm -rf "$probe" "$FPK_FUZZ_TMPDIR"' EXIT
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  > "$probe/p.c"
if ! command -v clang > /dev/null 2>&1 ||
   ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" > "$probe/log" 2>&1; then
  msg="fuzz.sh: no working libFuzzer (clang and its fuzzer runtime: apt-get install clang libclang-rt-14-dev libomp-14-dev, or bash scripts/install-deps.sh)"
  if [ $ci -eq 1 ]; then echo "$msg: fuzzing skipped"; exit 0; fi
  echo "$msg" >&2
  cat "$probe/log" >&2 || true
  exit 1
fi

# ---- build
build=${FPK_FUZZ_BUILD:-build-fuzz}
arch=()
[ $ci -eq 1 ] && arch=(-DFPK_ARCH=x86-64) # the same code, hence the same coverage, on any machine
t0=$(date +%s)
mkdir -p "$build"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFPK_BUILD_FUZZ=ON \
  -DFPK_BUILD_TESTS=OFF -DFPK_BUILD_BENCH=OFF "${arch[@]}" > "$build/configure.log" 2>&1 ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")
echo "fuzz.sh: built in $(( $(date +%s) - t0 )) s"

# allocator_may_return_null, max_allocation_size_mb: an allocation of more than 512 MB returns
# NULL, as malloc does when memory runs out, instead of stopping the run (HDF5 then reports an
# error; fpkit's own failures to allocate are its ENOMEM paths)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1:allocator_may_return_null=1:max_allocation_size_mb=512}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# tests/lsan.supp: HDF5 1.10.8's leaks on damaged files (upstream), explained there.
export LSAN_OPTIONS=suppressions=$src/tests/lsan.supp:print_suppressions=0
[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ] &&
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}

# ---- regressions: inputs of fixed findings
for t in "${targets[@]}"; do
  inputs=()
  for f in fuzz/regressions/$t/*; do
    case $f in *.md|*.py) continue ;; esac # notes and generators
    [ -f "$f" ] && inputs+=("$f")
  done
  if [ ${#inputs[@]} -gt 0 ]; then
    if ! "$build/fuzz/fuzz_$t" -runs=1 -timeout=30 "${inputs[@]}" > "$build/regressions_$t.log" 2>&1; then
      tail -60 "$build/regressions_$t.log"
      echo "fuzz.sh: FAIL: a regression input of $t fails again (fuzz/regressions/$t)" >&2
      exit 1
    fi
    echo "fuzz.sh: $t: ${#inputs[@]} regression inputs pass"
  fi
done

# Whether the report in a log is inside an upstream library: the first stack frame of the first
# report that is not the sanitizers', libFuzzer's or libc's; for a bad access to a heap block
# (heap-buffer-overflow, use-after-free), the first such frame of the block's allocation, so
# that HDF5 writing past a buffer fpkit allocated too small counts as fpkit's. Prints "libhdf5",
# "libmatheval" or "" (fpkit: the targets, the library, an unrecognised report).
upstream_of() {
  awk '
    function lib(line) {
      if (line ~ /libhdf5/) return "libhdf5"
      if (line ~ /libmatheval/) return "libmatheval"
      return ""
    }
    function runtime(line) {
      return line ~ /__asan|__lsan|__ubsan|__sanitizer|__interceptor|interceptors|asan_|sanitizer_common|libc\.so|libc-start|sysdeps\/|nptl\/|csu\/|stdlib\/|signal\/|string\/|in __(mem|str|w?cs)[a-z0-9_]* |fuzzer::|libFuzzer|in (malloc|calloc|realloc|free|memcpy|memmove|memset|strlen|strcpy|strdup|raise|abort) /
    }
    /fuzz check failed/ && !on { print ""; done = 1; exit }
    /ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|ALARM: working|out-of-memory/ && !on {
      on = 1; heap = $0 ~ /heap-buffer-overflow|heap-use-after-free|double-free/
      overflow = $0 ~ /heap-buffer-overflow/
    }
    # An overflow next to a block that is already freed: that block is only the nearest one to a
    # wild address (a buffer handed to the library is live during the call), so the crash frame
    # decides. For a use after free, who freed it is the point.
    on && overflow && /freed by thread/ && crash_seen { print crash; done = 1; exit }
    on && /allocated by thread|freed by thread/ { alloc = 1; next }
    on && /^ *#[0-9]+ 0x/ {
      if (runtime($0)) next
      if (!crash_seen) { crash_seen = 1; crash = lib($0); if (!heap) { print crash; done = 1; exit } }
      else if (alloc) { print lib($0); done = 1; exit }
    }
    END { if (!done) print crash }' "$1"
}

# Runs one target; prints its summary line. Returns non-zero on a finding in fpkit's code.
fuzz_one() {
  local t=$1 bin=$build/fuzz/fuzz_$t corpus=$build/corpus/$t art=$build/artifacts/$t
  local log=$build/fuzz_$t.log
  mkdir -p "$art"
  # --ci starts from the checked-in seeds alone, in a corpus of its own (the working corpus of
  # longer runs is left alone)
  if [ $ci -eq 1 ]; then corpus=$build/ci-corpus/$t; rm -rf "$corpus"; fi
  mkdir -p "$corpus"
  local seeds; seeds=$(ls "fuzz/corpus/$t" | wc -l)
  # -detect_leaks=0 while fuzzing: libmatheval (on a syntax error) and HDF5 (on a damaged file)
  # leak, suppressed, but every input that leaks makes libFuzzer run LeakSanitizer (~40 ms, 10-50x
  # the input itself); the corpus is checked for leaks input by input afterwards instead.
  # -timeout: an input that takes longer is a hang. 2 s for h5, whose inputs take milliseconds
  # and on which HDF5 1.10.8 has easily reached infinite loops (each costs the timeout).
  # -malloc_limit_mb=1024: above ASan's max_allocation_size_mb, so that a huge allocation fails
  # (NULL) rather than stopping the run; the targets' own are at most 8 MB
  local tmo=10
  [ "$t" = h5 ] && tmo=2
  local args=(-dict="fuzz/$t.dict" -timeout=$tmo -rss_limit_mb=2048 -malloc_limit_mb=1024
              -print_final_stats=1 -detect_leaks=0 -artifact_prefix="$art/" ${FPK_FUZZ_ARGS:-})
  local total=0 seed=1 left=0 execs rate=0 upstream=0 max_upstream=100000 t0 status
  [ -z "$duration" ] && left=${runs:-${ci_runs[$t]}}
  t0=$(date +%s)
  : > "$log"
  while :; do
    local mode=() rest
    if [ -n "$duration" ]; then
      rest=$(( duration - ($(date +%s) - t0) ))
      [ "$rest" -gt 0 ] || break
      mode=(-max_total_time="$rest")
    else
      mode=(-seed=$seed -runs="$left")
      if [ $ci -eq 1 ]; then
        rest=$(( ci_time_cap - ($(date +%s) - t0) ))
        [ "$rest" -gt 0 ] || break
        mode+=(-max_total_time="$rest")
      fi
    fi
    status=0
    "$bin" "${args[@]}" "${mode[@]}" "$corpus" "fuzz/corpus/$t" > "$log.part" 2>&1 &
    local pid=$!
    wait $pid 2> /dev/null || status=$?
    # what a process that died leaves: its input file (fuzz_h5.c), libomp's mark in /dev/shm
    rm -f "$FPK_FUZZ_TMPDIR"/fpk-fuzz-h5-$pid-* /dev/shm/__KMP_REGISTERED_LIB_${pid}_*
    cat "$log.part" >> "$log"
    execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log.part" | tail -1)
    execs=${execs:-0}
    total=$(( total + execs ))
    [ "$status" -eq 0 ] && break
    local where found
    where=$(upstream_of "$log.part")
    found=$(grep -o "Test unit written to .*" "$log.part" | tail -1 | sed 's/Test unit written to //')
    if grep -q "out-of-memory (used:" "$log.part" && [ -n "$found" ]; then
      # The resident size passed the limit: replay the input alone, where one allocation above
      # 256 MB is reported with its stack; if it passes alone, the memory had accumulated over
      # many inputs (HDF5's free lists, its leaks on damaged files), which no input is to blame for.
      if "$bin" -malloc_limit_mb=256 -rss_limit_mb=4096 -timeout=30 "$found" > "$log.oom" 2>&1; then
        where="memory accumulated over many inputs"
      else
        where=$(upstream_of "$log.oom")
        cat "$log.oom" >> "$log"
      fi
      rm -f "$log.oom"
    fi
    if [ -n "$where" ] && [ $upstream -lt $max_upstream ]; then
      upstream=$(( upstream + 1 ))
      case $where in
        lib*) echo "fuzz.sh: $t: tolerated: a crash, hang or leak inside $where (upstream, see fuzz/known-hdf5/README.md), input $found" ;;
        *) echo "fuzz.sh: $t: tolerated: $where (the input passes alone), input $found" ;;
      esac
      grep -m1 -A10 -E "ERROR: |ALARM|out-of-memory" "$log.part" | sed 's/^/    /'
      if [ -z "$duration" ]; then left=$(( left - execs )); [ "$left" -gt 0 ] || break; fi
      seed=$(( seed + 1 ))
      continue
    fi
    sed -n '/ERROR\|ALARM\|fuzz check failed\|runtime error\|out-of-memory/,$p' "$log.part" | head -80
    echo "fuzz.sh: FAIL: $t: ${where:+too many upstream ($where) crashes; the last: }input $found" >&2
    echo "  reproduce: $bin $found" >&2
    rm -f "$log.part"
    return 1
  done
  rm -f "$log.part"
  local secs=$(( $(date +%s) - t0 ))
  # Leaks: every input of the corpus once, each checked by LeakSanitizer.
  local leakpass=0 leaklog=$build/leaks_$t.log
  "$bin" -runs=0 -detect_leaks=1 -timeout=$tmo -rss_limit_mb=2048 -artifact_prefix="$art/" \
    "$corpus" "fuzz/corpus/$t" > "$leaklog" 2>&1 &
  local lpid=$!
  wait $lpid 2> /dev/null || leakpass=$?
  rm -f "$FPK_FUZZ_TMPDIR"/fpk-fuzz-h5-$lpid-* /dev/shm/__KMP_REGISTERED_LIB_${lpid}_*
  if [ $leakpass -ne 0 ]; then
    local where found
    where=$(upstream_of "$leaklog")
    found=$(grep -o "Test unit written to .*" "$leaklog" | tail -1 | sed 's/Test unit written to //')
    sed -n '/ERROR\|ALARM\|fuzz check failed\|runtime error\|out-of-memory/,$p' "$leaklog" | head -60
    if [ -n "$where" ]; then
      echo "fuzz.sh: $t: the leak pass stopped inside $where (upstream), input $found"
    else
      echo "fuzz.sh: FAIL: $t: leak (or crash) in the corpus: input $found" >&2
      echo "  reproduce: $bin $found" >&2
      return 1
    fi
  fi
  [ "$secs" -gt 0 ] && rate=$(( total / secs ))
  local units bytes
  units=$(ls "$corpus" | wc -l)
  bytes=$(du -sk "$corpus" | cut -f1)
  printf 'fuzz.sh: %-6s %9d executions in %5d s (%5d exec/s), %3d seeds, corpus %5d inputs (%d kB)%s\n' \
    "$t" "$total" "$secs" "$rate" "$seeds" "$units" "$bytes" \
    "$([ $upstream -gt 0 ] && echo ", $upstream upstream crashes tolerated")"
}

parallel=${FPK_FUZZ_PARALLEL:-1}
for t in "${targets[@]}"; do
  rm -f "$build/status_$t"
  if [ "$parallel" -gt 1 ]; then
    while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do sleep 1; done
    { fuzz_one "$t"; echo $? > "$build/status_$t"; } &
  else
    status=0
    fuzz_one "$t" || status=$?
    echo $status > "$build/status_$t"
  fi
done
wait
fail=0
for t in "${targets[@]}"; do
  [ "$(cat "$build/status_$t" 2> /dev/null)" = 0 ] || fail=1
done
[ $fail -eq 0 ] || { echo "fuzz.sh: FAIL (logs: $build/fuzz_*.log)" >&2; exit 1; }
echo "fuzz.sh: no finding in fpkit's code (logs: $build/fuzz_*.log)"
