#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz/, seeds
# their corpora from the load generator and tests/fuzz/seeds, and runs each.
#   run_fuzz.sh BIN_DIR [--seconds S | --runs N] [--only TARGET] [--jobs J]
# Prints, per target, executions and executions/s from libFuzzer's final
# stats; exits non-zero on the first crash, leak or sanitizer report (the
# reproducer is left in build-fuzz/crashes/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$1"; shift
FUZZ_BUILD="${CF_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
seconds=60; runs=""; only=""; jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "run_fuzz.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

if [ ! -f "$FUZZ_BUILD/build.ninja" ]; then
  CXX=clang++ cmake -S "$ROOT" -B "$FUZZ_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCF_FUZZ=ON >/dev/null
fi
if ! ninja -C "$FUZZ_BUILD" -j 2 >"$FUZZ_BUILD/ninja.log" 2>&1; then
  grep -vE '^\[[0-9]+/[0-9]+\] ' "$FUZZ_BUILD/ninja.log" | tail -40 >&2
  echo "cf fuzz: build failed (full log: $FUZZ_BUILD/ninja.log)" >&2
  exit 1
fi

targets=(ingest_request validator processor_decoders snapshot_loader config channel_api realtime)
[ -n "$only" ] && targets=("$only")
corpus="$FUZZ_BUILD/corpus"
mkdir -p "$corpus" "$FUZZ_BUILD/crashes" "$FUZZ_BUILD/logs"
# Seeds: what the platforms send (the load generator) and hand-made records.
if [ ! -d "$corpus/ingest_request" ]; then
  "$BIN/cf-loadgen" --write-corpus "$corpus/generated" --count 300 >/dev/null
  mkdir -p "$corpus/ingest_request" "$corpus/validator"
  cp "$corpus/generated/ingest/"* "$corpus/ingest_request/"
  cp "$corpus/generated/validator/"* "$corpus/validator/"
fi
for t in validator processor_decoders snapshot_loader config channel_api realtime; do
  mkdir -p "$corpus/$t"
  cp -n "$ROOT/tests/fuzz/seeds/$t/"* "$corpus/$t/" 2>/dev/null || true
done

# ASan keeps one frame per allocation stack: its fast unwinder misreads the
# frames of libraries built without frame pointers (Boost, libstdc++) and
# filled its stack depot without bound, slowing the config target 5x over a
# long run (docs/testing.md). Reports still carry the faulting stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:-malloc_context_size=1}"
# Undefined behaviour is a failure like a crash (one known RapidJSON case is suppressed).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$ROOT/tests/fuzz/ubsan.supp"
limit=(-max_total_time="$seconds")
[ -n "$runs" ] && limit=(-runs="$runs")
run_one() {
  local t="$1" log="$FUZZ_BUILD/logs/$1.log"
  # -rss_limit_mb: the sanitizers' own memory; -timeout: a hang is a failure.
  if "$FUZZ_BUILD/bin/fuzz_$t" "${limit[@]}" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$FUZZ_BUILD/crashes/$t-" "$corpus/$t" >"$log" 2>&1; then
    local execs rate
    execs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log")
    rate=$(awk '/stat::average_exec_per_sec/ {print $NF}' "$log")
    printf 'cf fuzz: %-20s %12s executions  %8s exec/s  no crash\n' "$t" "$execs" "$rate"
  else
    echo "cf fuzz: $t FAILED; last lines of $log:" >&2
    tail -30 "$log" >&2
    return 1
  fi
}
failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit $failed
