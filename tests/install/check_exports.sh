#!/usr/bin/env bash
# libfpkit.so exports the fpk_ API and nothing else (docs/install.md "Exported symbols"):
#  1. every defined dynamic symbol starts with fpk_ (internal helpers such as ot_* stay local);
#  2. libfpkit.a (cmake/fpkitLocalize.cmake) defines the same global symbols, nothing more;
#  3. every function declared in the public headers include/fpkit/*.h is exported (a declared
#     but undefined function, or one the version script hid, fails here rather than at a
#     user's link).
# Usage: bash check_exports.sh LIBFPKIT_SO SOURCE_DIR GENERATED_INCLUDE_DIR LIBFPKIT_A
set -euo pipefail
lib=$1 src=$2 gen=$3 archive=$4
# Code of the version-script node (FPK_0 ...) and the linker's own symbols are not exports of
# ours; nm -D --defined-only lists symbol names only, one per line after the type letter.
exported=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u)
count=$(printf '%s\n' "$exported" | grep -c . || true)
bad=$(printf '%s\n' "$exported" | grep -v '^fpk_' || true)
fail=0
if [ -n "$bad" ]; then
  echo "check_exports: FAIL: libfpkit.so exports symbols without the fpk_ prefix:" >&2
  printf '  %s\n' $bad >&2
  fail=1
fi
# The static library: its global defined symbols (not the undefined references) are the same.
static_globals=$(nm -g --defined-only "$archive" | awk 'NF >= 3 { print $3 }' | sort -u)
if [ "$static_globals" != "$exported" ]; then
  echo "check_exports: FAIL: libfpkit.a's global symbols differ from libfpkit.so's exports:" >&2
  diff <(printf '%s\n' "$exported") <(printf '%s\n' "$static_globals") | sed 's/^/  /' >&2 || true
  fail=1
fi
# Declarations: the headers without comments; a function is a name fpk_... followed by "(" that
# is not a call inside a static inline body, a macro or a function-pointer typedef.
declared=$(/usr/bin/python3 - "$src/include/fpkit" "$gen/fpkit" <<'PY'
import re, sys, pathlib
names = set()
for d in sys.argv[1:]:
    for h in sorted(pathlib.Path(d).glob("*.h")):
        text = h.read_text()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        # the C++ guards (extern "C" { ... }), then every preprocessor line
        text = re.sub(r"#ifdef __cplusplus.*?#endif", " ", text, flags=re.S)
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        # drop the bodies of static inline functions and structs: only file-level text remains
        out, depth = [], 0
        for ch in text:
            if ch == "{": depth += 1
            if depth == 0: out.append(ch)
            if ch == "}":
                depth -= 1
                if depth == 0: out.append(";")  # a body ends a statement, as ";" does
        text = "".join(out)
        for stmt in text.split(";"):
            if re.search(r"\bstatic\b", stmt) or re.search(r"\btypedef\b", stmt):
                continue
            m = re.search(r"\b(fpk_\w+)\s*\(", stmt)
            if m:
                names.add(m.group(1))
for n in sorted(names):
    print(n)
PY
)
ndeclared=$(printf '%s\n' "$declared" | grep -c . || true)
missing=$(comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported"))
if [ -n "$missing" ]; then
  echo "check_exports: FAIL: declared in include/fpkit/*.h but not exported by libfpkit.so:" >&2
  printf '  %s\n' $missing >&2
  fail=1
fi
if [ "$ndeclared" -lt 50 ]; then
  echo "check_exports: FAIL: only $ndeclared functions found in the headers (parser broken?)" >&2
  fail=1
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ $fail -eq 0 ] || exit 1
echo "check_exports: $(basename "$lib"): soname $soname, $count exported symbols, all fpk_" \
     "(libfpkit.a: the same $count global symbols); $ndeclared functions declared in the public" \
     "headers, all exported"
