#!/usr/bin/env bash
# scripts/frontier --summary lays the committed per-dataset grids side by side: one line for each of
# the 4 budgets × 6 rows, a cell per dataset, and the ETTh1 K = 12 fixed cell is the mean ± sample
# std of the runs in docs/frontier/etth1_anyseg.csv, computed here on its own.
set -euo pipefail
root="${REINPATCH_SOURCE_ROOT:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$(VARIANT=anyseg "$root/scripts/frontier" --summary)
rows=$(grep -cE '^\| (42|21|12|6) \| (fixed|tuned|random|changepoint|learned|foundation) \|' <<< "$out")
[ "$rows" = 24 ] || fail "$rows table lines, want 24"
bad=$(grep -E '^\| (42|21|12|6) \|' <<< "$out" | awk -F'|' 'NF != 8' | head -1)
[ -z "$bad" ] || fail "a line without 6 cells: $bad"
want=$(awk -F, '$2 == 12 && $3 == "uniform" && $4 == 56 { n++; x[n] = $7; s += $7 }
    END { m = s / n; for (i = 1; i <= n; i++) v += (x[i] - m)^2
          printf "%.4f ± %.4f (%d)", m, sqrt(v / (n - 1)), n }' "$root/docs/frontier/etth1_anyseg.csv")
got=$(grep -E '^\| 12 \| fixed \|' <<< "$out" | awk -F'|' '{ gsub(/^ +| +$/, "", $4); print $4 }')
[ "$got" = "$want" ] || fail "ETTh1 K=12 fixed: '$got', want '$want'"
# An unknown variant, and a dataset after --summary, are refused.
if VARIANT=nope "$root/scripts/frontier" --summary > /dev/null 2>&1; then fail "VARIANT=nope accepted"; fi
if VARIANT=anyseg "$root/scripts/frontier" --summary etth1 > /dev/null 2>&1; then fail "--summary etth1 accepted"; fi
echo "ok: 24 lines, ETTh1 K=12 fixed $got"
