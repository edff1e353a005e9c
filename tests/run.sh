#!/bin/sh
# Runs every test program in $1 and adds up their results. A program that
# crashes or exits non-zero without reporting a failure counts as a failure.
# Last line: "N passed, N failed".
# NB_TEST_WRAPPER, when set, is put before each program (e.g. "qemu-aarch64"
# to run cross-compiled tests; word-split, so it may carry options).
dir=${1:-build/tests}
pass=0; fail=0; skip=0
skips=""; fails=""
log=$(mktemp)
for t in "$dir"/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "== $name"
    ${NB_TEST_WRAPPER:-} "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
    fails="$fails$(grep '^FAIL ' "$log" | sed "s|^FAIL |  $name: |")
"
    skips="$skips$(grep '^SKIP ' "$log" | sed "s|^SKIP |  $name: |")
"
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        fail=$((fail + 1))
        fails="$fails  $name: exited with status $rc (crash?)
"
    fi
done
rm -f "$log"
echo
if [ $skip -gt 0 ]; then
    echo "skipped ($skip):"
    printf '%s' "$skips" | grep -v '^$'
fi
if [ $fail -gt 0 ]; then
    echo "failed ($fail):"
    printf '%s' "$fails" | grep -v '^$'
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
