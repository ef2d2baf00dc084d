#!/usr/bin/env bash
# Builds fpkit and runs the whole test suite twice: an optimised build (the numbers users get) and
# an AddressSanitizer + UndefinedBehaviorSanitizer build. Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DFPK_SANITIZE=ON -DFPK_BUILD_BENCH=OFF
cmake --build build-asan -j"$jobs"
# tests/lsan.supp: leaks inside HDF5 1.10.8 on damaged files and inside libgccjit (explained there).
# print_suppressions=0: a suppressed leak must not print LeakSanitizer's "Suppressions used" table
# on stderr, which CLI tests check is empty (every process that compiles an expression model
# leaks inside libgccjit).
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  LSAN_OPTIONS=suppressions="$PWD/tests/lsan.supp":print_suppressions=0 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
# Fuzzing (fuzz/README.md): every libFuzzer target for a fixed number of executions with a fixed
# seed from the checked-in seed corpus, the inputs of fixed findings, then a leak check of each
# input kept; a few minutes. Needs clang and libclang-rt-14-dev (scripts/install-deps.sh);
# skipped, with a message, without them.
bash scripts/fuzz.sh --ci
