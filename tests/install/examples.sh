#!/usr/bin/env bash
# The installed package as a user meets it (docs/install.md): `cmake --install` of this build
# into a temporary prefix, then the programs of examples/ built against that prefix three ways
#   1. pkg-config, shared:   cc x.c $(pkg-config --cflags --libs fpkit)
#   2. pkg-config, static:   libfpkit.a with $(pkg-config --libs --static fpkit)
#   3. CMake:                find_package(fpkit) in the separate project examples/ (fpkit::fpkit
#                            and fpkit::fpkit_static)
# and run: each checks its numbers against the exact answer and exits non-zero when off. Also
# checks the installed layout, fpkit.pc's version, that the static programs do not need
# libfpkit.so, and the installed `fpkit --version`.
# Usage: bash examples.sh BUILD_DIR SOURCE_DIR C_COMPILER
set -euo pipefail
build=$1 src=$2 cc=$3
version=$(sed -n 's/^#define FPK_VERSION_STRING "\(.*\)"/\1/p' "$build/include/fpkit/version.h")
work=$(mktemp -d "${TMPDIR:-/tmp}/fpkit-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() { echo "install_examples: FAIL: $*" >&2; exit 1; }
t0=$(date +%s)

cmake --install "$build" --prefix "$prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
libdir=$(cd "$prefix" && ls -d lib*/pkgconfig | head -1 | xargs dirname)
[ -n "$libdir" ] || fail "no <libdir>/pkgconfig under $prefix"
for f in include/fpkit/version.h include/fpkit/fv.h include/fpkit/ot.h bin/fpkit \
         "$libdir/libfpkit.so.0" "$libdir/libfpkit.so.$version" "$libdir/libfpkit.so" \
         "$libdir/libfpkit.a" "$libdir/pkgconfig/fpkit.pc" "$libdir/cmake/fpkit/fpkitConfig.cmake" \
         "$libdir/cmake/fpkit/fpkitConfigVersion.cmake" "$libdir/cmake/fpkit/fpkitTargets.cmake" \
         share/doc/fpkit/LICENSE share/doc/fpkit/CITATION.cff; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
grep -q "^version: $version\$" "$prefix/share/doc/fpkit/CITATION.cff" ||
  fail "CITATION.cff does not give version $version (project(VERSION) in CMakeLists.txt)"
# Nothing of the commands or of the build tree in the installed package.
for f in $(cd "$prefix" && find . -type f | sort); do
  case $f in *fpkit_app*|*fpkit_internal*|*/app/*) fail "installed: $f" ;; esac
done
echo "install_examples: installed $(cd "$prefix" && find . -type f -o -type l | wc -l) files under $prefix"

# The installed CLI runs as it is (it is linked with the static libraries).
got=$(env -u LD_LIBRARY_PATH "$prefix/bin/fpkit" --version)
[ "$got" = "fpkit $version" ] || fail "installed fpkit --version says '$got', expected 'fpkit $version'"

export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
[ "$(pkg-config --modversion fpkit)" = "$version" ] || fail "pkg-config --modversion fpkit"
cflags=(-O2 -std=c11 -pedantic -Wall -Wextra -Werror)
examples=(ou_density ou_ensemble gaussian_ot)
mkdir -p "$work/pc"
for e in "${examples[@]}"; do
  # shared: found at run time through LD_LIBRARY_PATH, as for any library in a private prefix
  # shellcheck disable=SC2046
  "$cc" "${cflags[@]}" "$src/examples/$e.c" -o "$work/pc/$e" $(pkg-config --cflags --libs fpkit) -lm ||
    fail "$e: pkg-config shared link"
  # (the output kept first: grep -q would stop reading early, and pipefail blame ldd for it)
  deps=$(LD_LIBRARY_PATH=$prefix/$libdir ldd "$work/pc/$e")
  grep -q "libfpkit.so.0 => $prefix/$libdir/libfpkit.so.0" <<< "$deps" ||
    fail "$e: does not load the installed libfpkit.so.0"
  LD_LIBRARY_PATH=$prefix/$libdir "$work/pc/$e" > "$work/pc/$e.out" ||
    { cat "$work/pc/$e.out"; fail "$e (pkg-config, shared) failed"; }
  # static: the archive itself, and what --static adds for it
  # shellcheck disable=SC2046
  "$cc" "${cflags[@]}" "$src/examples/$e.c" -o "$work/pc/${e}_static" $(pkg-config --cflags fpkit) \
    $(pkg-config --libs --static fpkit | sed 's/-lfpkit\b/-l:libfpkit.a/') -lm ||
    fail "$e: pkg-config --static link"
  if readelf -d "$work/pc/${e}_static" | grep 'NEEDED.*libfpkit'; then
    fail "${e}_static needs libfpkit.so"
  fi
  env -u LD_LIBRARY_PATH "$work/pc/${e}_static" > "$work/pc/${e}_static.out" ||
    { cat "$work/pc/${e}_static.out"; fail "$e (pkg-config, static) failed"; }
  # the same program, the same numbers
  cmp -s "$work/pc/$e.out" "$work/pc/${e}_static.out" || fail "$e: shared and static outputs differ"
  sed 's/^/  /' "$work/pc/$e.out"
done
echo "install_examples: pkg-config: ${#examples[@]} examples built shared and static, all pass"

# CMake: the separate project examples/ with find_package(fpkit)
cmake -S "$src/examples" -B "$work/cm" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Werror" > "$work/cm.log" 2>&1 ||
  { cat "$work/cm.log"; fail "cmake -S examples with find_package(fpkit)"; }
grep -q "fpkit $version from $prefix" "$work/cm.log" || { cat "$work/cm.log"; fail "find_package found another fpkit"; }
cmake --build "$work/cm" -j2 > "$work/cm-build.log" 2>&1 || { cat "$work/cm-build.log"; fail "building examples/ with CMake"; }
ctest --test-dir "$work/cm" --output-on-failure > "$work/cm-test.log" 2>&1 ||
  { cat "$work/cm-test.log"; fail "the CMake-built examples"; }
grep -E 'tests passed|Total Test' "$work/cm-test.log" | sed 's/^/  /'
for e in "${examples[@]}"; do
  if readelf -d "$work/cm/${e}_static" | grep 'NEEDED.*libfpkit'; then
    fail "${e}_static (fpkit::fpkit_static) needs libfpkit.so"
  fi
  readelf -d "$work/cm/$e" | grep 'NEEDED.*libfpkit.so.0' > /dev/null || fail "$e (fpkit::fpkit) does not link libfpkit.so.0"
done
# A C++-only CMake project (project(x CXX)) links the shared library through find_package:
# the C-language dependency lookups of the static target are skipped there.
if command -v c++ > /dev/null; then
  mkdir -p "$work/cxx"
  cat > "$work/cxx/main.cpp" <<'CPP'
#include <fpkit/version.h>
#include <cstdio>
#include <cstring>
int main() { std::printf("%s\n", fpk_version()); return std::strcmp(fpk_version(), FPK_VERSION_STRING) != 0; }
CPP
  cat > "$work/cxx/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(cxxuser CXX)
find_package(fpkit 0.1 REQUIRED)
add_executable(cxxuser main.cpp)
target_link_libraries(cxxuser PRIVATE fpkit::fpkit)
CM
  { cmake -S "$work/cxx" -B "$work/cxx/b" -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$work/cxx/b" && LD_LIBRARY_PATH="$prefix/$libdir" "$work/cxx/b/cxxuser"; } \
    > "$work/cxx.log" 2>&1 || { cat "$work/cxx.log"; fail "C++-only project with find_package(fpkit)"; }
fi
echo "install_examples: CMake find_package: ${#examples[@]} examples (fpkit::fpkit and fpkit::fpkit_static) pass; $(( $(date +%s) - t0 )) s"
