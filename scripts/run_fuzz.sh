#!/usr/bin/env bash
# Runs each libFuzzer target of build/fuzz for SECONDS on its committed seed
# corpus (cpp/fuzz/corpus/<target>, read only) plus a working corpus under
# build/fuzz/work/<target> that keeps what it found between runs. Prints one
# row per target from libFuzzer's final stats; exits 1 if any target crashed,
# leaked, timed out or ran out of memory (the reproducer is under
# build/fuzz/artifacts/).
# Usage: scripts/run_fuzz.sh SECONDS TARGET...   (FUZZ_RUNS=N also stops a
# target after N executions, whichever comes first)
set -uo pipefail
secs=$1; shift
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/build/fuzz/cpp/fuzz
mkdir -p "$root/build/fuzz/artifacts" "$root/build/fuzz/logs"
failed=()
rows=()
for t in "$@"; do
  work=$root/build/fuzz/work/$t
  log=$root/build/fuzz/logs/$t.log
  mkdir -p "$work"
  echo "== $t: ${secs} s"
  # detect_leaks stays on (libFuzzer's default): a leak per input is a finding too.
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$bin/$t" -max_total_time="$secs" ${FUZZ_RUNS:+-runs=$FUZZ_RUNS} -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$root/build/fuzz/artifacts/$t-" "$work" "$root/cpp/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rss=$(grep -oE 'stat::peak_rss_mb: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE ' cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | awk '{print $2 "/" $4}')
  took=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+')
  corpus=$(ls "$work" | wc -l)
  rows+=("$(printf '%-22s %5s %12s %9s %13s %7s %7s %s' "$t" "${took:-$secs}" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${rss:-?}" "$corpus" "$([ $rc = 0 ] && echo ok || echo "FAIL rc=$rc")")")
  if [ $rc != 0 ]; then
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|property violated|uncaught|Test unit written' "$log" | head -20
  fi
done
printf '%-22s %5s %12s %9s %13s %7s %7s %s\n' target s execs exec/s "cov/ft" rss_mb corpus result
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} != 0 ]; then
  echo "fuzz: findings in ${failed[*]} (logs: build/fuzz/logs, inputs: build/fuzz/artifacts)"
  exit 1
fi
