#!/bin/sh
# The installed library as a program outside the project sees it: `meson install` into a
# temporary directory, examples/forecast.c and examples/segment.c compiled there with the
# installed header and pkg-config alone (strict C99 warnings as errors), run on a tiny checkpoint
# and compared as text with `reinpatch predict` and `reinpatch segment`; then
# examples/forecast_ctypes.py against the installed shared library when python3 is present.
#
#   install_test.sh BUILD_ROOT SOURCE_ROOT MESON SEGEXPORT_DUMP
# Prints TAP; exit status 0 when every check passed.
set -eu
build=$1 src=$2 meson=$3 dump=$4
tmp=$(mktemp -d /tmp/rp_install_test_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; shift; for text in "$@"; do printf '%s\n' "$text" | sed 's/^/# /'; done; }
# check NAME COMMAND...: one TAP line, the command's output shown on failure.
check() {
    name=$1; shift
    if "$@" > out.log 2>&1; then ok "$name"; else not_ok "$name" "$(cat out.log)"; fi
}

# ---- install ----
if ! "$meson" install -C "$build" --no-rebuild --destdir "$tmp/stage" > install.log 2>&1; then
    not_ok "meson install" "$(tail -5 install.log)"
    echo "1..$n"; exit 1
fi
ok "meson install into a temporary directory"
pc=$(find "$tmp/stage" -name reinpatch.pc | head -1)
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH="$(dirname "$pc")"
pkgconf() { pkg-config --define-variable=prefix="$tmp/stage$prefix" "$@" reinpatch; }
libdir=$(pkgconf --variable=libdir)
header="$tmp/stage$prefix/include/reinpatch.h"
version=$(sed -n 's/^#define RP_API_VERSION \([0-9]*\)$/\1/p' "$header")
check "installed: the header, static and shared libraries, soname libreinpatch.so.$version" \
    test -f "$header" -a -f "$libdir/libreinpatch.a" -a -f "$libdir/libreinpatch.so.$version" -a -L "$libdir/libreinpatch.so"
check "pkg-config points at the installed header only (no source tree)" \
    sh -c "! pkg-config --define-variable=prefix='$tmp/stage$prefix' --cflags reinpatch | grep -q '$src'"

# ---- build the examples as an outside program would ----
cflags="-std=c99 -Wall -Wextra -Werror -O1"
check "examples/forecast.c builds with pkg-config" \
    sh -c "cc $cflags '$src/examples/forecast.c' \$(pkg-config --define-variable=prefix='$tmp/stage$prefix' --cflags --libs reinpatch) -Wl,-rpath,'$libdir' -o forecast"
check "examples/segment.c builds with pkg-config" \
    sh -c "cc $cflags '$src/examples/segment.c' \$(pkg-config --define-variable=prefix='$tmp/stage$prefix' --cflags --libs reinpatch) -Wl,-rpath,'$libdir' -o segment"
static_libs=$(pkgconf --static --libs | sed "s|-lreinpatch|$libdir/libreinpatch.a|")
check "examples/forecast.c links the static library too (pkg-config --static)" \
    sh -c "cc $cflags '$src/examples/forecast.c' \$(pkg-config --define-variable=prefix='$tmp/stage$prefix' --cflags reinpatch) $static_libs -o forecast_static"
if command -v c++ > /dev/null 2>&1; then
    check "the header compiles as C++" sh -c "echo '#include <reinpatch.h>' | c++ -x c++ -fsyntax-only -Wall -Wextra -Werror -I'$tmp/stage$prefix/include' -"
fi

# ---- a tiny checkpoint and a series (invented values) ----
rp="$tmp/stage$prefix/bin/reinpatch"
cp "$src/tests/data/tiny.yaml" tiny.yaml
check "reinpatch train (installed binary)" "$rp" train tiny.yaml --out run --quiet
awk 'BEGIN { print "load,temp"; for (i = 0; i < 300; i++)
        printf "%.3f,%.3f\n", 500 + 40 * sin(i / 5.0) + (i > 150 ? 30 : 0) + (i * 7 % 11) / 3.0,
                               -3 + 2 * cos(i / 9.0) + (i * 5 % 13) / 20.0 }' > series.csv
awk -F, 'NR > 1 { print $1 }' series.csv > load.txt
{ echo load; cat load.txt; } > load.csv

# ---- forecast.c == reinpatch predict ----
"$rp" predict run/checkpoint.h5 --data series.csv --out - > predict.txt 2> predict.err || true
check "reinpatch predict ran" test -s predict.txt
./forecast run/checkpoint.h5 series.csv > forecast.txt 2> forecast.err || true
if cmp -s predict.txt forecast.txt; then ok "forecast.c prints reinpatch predict's forecast ($(($(wc -l < forecast.txt) - 1)) steps)"
else not_ok "forecast.c prints reinpatch predict's forecast" "predict: $(cat predict.txt predict.err)" "forecast.c: $(cat forecast.txt forecast.err)"; fi
./forecast_static run/checkpoint.h5 series.csv > forecast_static.txt 2>&1 || true
check "the statically linked forecast.c prints the same" cmp predict.txt forecast_static.txt
check "forecast.c reports a wrong channel count in one line, exit 1" \
    sh -c "cut -d, -f1 series.csv > one.csv; ./forecast run/checkpoint.h5 one.csv 2> err.txt; test \$? -eq 1 && test \$(wc -l < err.txt) -eq 1 && grep -q '1 channel given' err.txt"

# ---- segment.c == reinpatch segment ----
check "reinpatch export-patcher" "$rp" export-patcher run/checkpoint.h5 patcher.h5
check "reinpatch segment --split all" "$rp" segment --patcher patcher.h5 --data load.csv --split all --out seg.h5
"$dump" seg.h5 > export.txt 2>&1 || true
./segment patcher.h5 load.txt > segment.txt 2> segment.err || true
if test -s export.txt && cmp -s export.txt segment.txt; then ok "segment.c cuts as reinpatch segment ($(wc -l < segment.txt) windows)"
else not_ok "segment.c cuts as reinpatch segment" "export: $(head -3 export.txt)" "segment.c: $(head -3 segment.txt) $(cat segment.err)"; fi
# A learned level that cut exactly like fixed patching would make the comparison weak.
check "the learned cuts are not all uniform" sh -c "grep -v -q ': 0+4 4+4 8+4 12+4 16+4 20+4 24+4 28+4\$' segment.txt"

# ---- the ctypes example ----
if command -v python3 > /dev/null 2>&1; then
    REINPATCH_LIB="$libdir/libreinpatch.so.$version" python3 "$src/examples/forecast_ctypes.py" run/checkpoint.h5 series.csv > ctypes.txt 2>&1 || true
    if cmp -s predict.txt ctypes.txt; then ok "forecast_ctypes.py prints reinpatch predict's forecast"
    else not_ok "forecast_ctypes.py prints reinpatch predict's forecast" "$(cat ctypes.txt)"; fi
else
    n=$((n + 1)); echo "ok $n # SKIP python3 not found"
fi
echo "1..$n"
exit $failed
