#!/bin/sh
# Run every fuzz target at once (one per core), each on its own working corpus
# seeded from fuzz/corpus/<target>, and print one summary line per target:
#
#   fuzz/run.sh [libFuzzer options]      default: -max_total_time=60
#
# Run from firmware/ after `make fuzz` (`make fuzz-run FUZZ_ARGS=...` does
# both). Working corpora, logs and any crash input go to build/fuzz/; the
# checked-in seeds are only read. Exit status: 0 when no target found a
# problem, 1 otherwise (the log and the saved input are named).
set -u
cd "$(dirname "$0")/.." || exit 2
[ $# -gt 0 ] || set -- -max_total_time=60
out=build/fuzz
targets="fuzz_stream fuzz_requests fuzz_codes"
for t in $targets; do
    [ -x "$out/$t" ] || { echo "fuzz/run.sh: $out/$t is missing: run 'make fuzz' first" >&2; exit 2; }
done
mkdir -p "$out/artifacts"
pids=""
for t in $targets; do
    name=${t#fuzz_}
    mkdir -p "$out/corpus/$name"
    # -max_len: a frame of max_payload 1024 is about 1035 bytes on the wire;
    # 4096 leaves room for several, and for oversized ones.
    "$out/$t" -max_len=4096 -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
        "$@" "$out/corpus/$name" "fuzz/corpus/$name" >"$out/$t.log" 2>&1 &
    pids="$pids $!"
done
status=0
set -- $pids
for t in $targets; do
    wait "$1" || status=1
    shift
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t.log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+' "$out/$t.log" | tail -n 1)
    if grep -qE '^==[0-9]+==ERROR|runtime error|deadly signal|Test unit written' "$out/$t.log"; then
        status=1
        echo "$t: FAILED after ${runs:-?} executions; see $out/$t.log and $out/artifacts/"
    else
        echo "$t: ${runs:-?} executions, ${cov:-cov: ?} edges, no crash, leak, or sanitizer report"
    fi
done
exit $status
