#!/usr/bin/env bash
# scripts/frontier --select-tuned picks the tuned-uniform patch_len on validation MSE only: with
# invented numbers whose validation and test minima disagree it returns the validation minimum,
# and scrambling every test number changes nothing.
set -euo pipefail
root="${REINPATCH_SOURCE_ROOT:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
header="dataset,K,row,patch_len,seed,val_mse,test_mse,test_mae,cuts_off_uniform,train_windows_per_second,sign_agreement"
cat > "$tmp/a.csv" <<CSV
$header
toy,12,uniform,28,2021,0.70,0.30,0.40,0,100,
toy,12,uniform,42,2021,0.60,0.50,0.40,0,100,
toy,12,uniform,56,2021,0.65,0.40,0.40,0,100,
toy,12,uniform,84,2021,0.80,0.35,0.40,0,100,
toy,12,uniform,28,2022,0.70,0.30,0.40,0,100,
toy,12,uniform,42,2022,0.64,0.50,0.40,0,100,
toy,12,uniform,56,2022,0.61,0.40,0.40,0,100,
toy,12,uniform,84,2022,0.80,0.35,0.40,0,100,
toy,12,changepoint,56,2021,0.10,0.10,0.10,0.5,100,
toy,6,uniform,56,2021,0.90,0.90,0.40,0,100,
CSV
fail() { echo "FAIL: $*" >&2; exit 1; }
got=$("$root/scripts/frontier" --select-tuned "$tmp/a.csv" 12)
# mean validation: 28 -> 0.70, 42 -> 0.62, 56 -> 0.63, 84 -> 0.80; the test minimum is at 28
[ "$got" = 42 ] || fail "picked '$got', want 42 (lowest mean validation MSE)"
# The test columns scrambled (test MSE reversed in order, MAE changed): the same pick.
awk -F, 'BEGIN { OFS = "," } NR > 1 { $7 = 1 - $7; $8 = 9 } { print }' "$tmp/a.csv" > "$tmp/b.csv"
got=$("$root/scripts/frontier" --select-tuned "$tmp/b.csv" 12)
[ "$got" = 42 ] || fail "test numbers changed the pick to '$got'"
# A changed validation number moves the pick: it is validation that decides.
sed 's/^toy,12,uniform,56,2021,0.65/toy,12,uniform,56,2021,0.55/' "$tmp/a.csv" > "$tmp/c.csv"
got=$("$root/scripts/frontier" --select-tuned "$tmp/c.csv" 12)
[ "$got" = 56 ] || fail "picked '$got' after lowering P=56's validation MSE, want 56"
# Fewer than four candidates (K = 6 has one): no pick.
got=$("$root/scripts/frontier" --select-tuned "$tmp/a.csv" 6)
[ -z "$got" ] || fail "picked '$got' with one candidate of four"
# A candidate missing a seed: only the seeds all four share count. With P=56's 2022 validation at
# 0.50 it would win over both seeds (0.575); without P=84's 2022 run only 2021 counts: 42 (0.60).
grep -v '^toy,12,uniform,84,2022' "$tmp/a.csv" | sed 's/^toy,12,uniform,56,2022,0.61/toy,12,uniform,56,2022,0.50/' > "$tmp/d.csv"
got=$("$root/scripts/frontier" --select-tuned "$tmp/d.csv" 12)
[ "$got" = 42 ] || fail "picked '$got' on the common seed, want 42"
echo "ok"
