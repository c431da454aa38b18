#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz; clang with ASan + UBSan) and runs each.
#   scripts/fuzz.sh --runs N          every target for N inputs, at most 5 minutes each (the test command uses this)
#   scripts/fuzz.sh --minutes M       every target for M minutes (the long mode; 15+ for a release)
#   scripts/fuzz.sh --minutes M fuzz_consul      one target
# Each run starts from the committed seed corpus (tests/fuzz/corpus/<target>) plus what earlier
# runs found in build/fuzz/corpus/<target> (not committed). A crash leaves its input in
# build/fuzz/crashes/ and fails the script; turn every such input into a unit test.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="" ; amount=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) mode=runs; amount="$2"; shift 2 ;;
    --minutes) mode=minutes; amount="$2"; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ -z "$mode" ]; then echo "usage: scripts/fuzz.sh --runs N | --minutes M [target...]"; exit 2; fi
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_http fuzz_consul fuzz_zk fuzz_codecs fuzz_dns fuzz_storage fuzz_trace fuzz_peer)
cmake --preset fuzz >/dev/null
ninja -C build/fuzz "${targets[@]}"
mkdir -p build/fuzz/crashes
for t in "${targets[@]}"; do
  mkdir -p "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t"
  if [ "$mode" = runs ]; then limit=(-runs="$amount" -max_total_time=300); else limit=(-max_total_time=$((amount * 60))); fi
  echo "== $t (${mode} ${amount})"
  log="build/fuzz/$t.log"
  rc=0
  "build/fuzz/tests/fuzz/$t" "${limit[@]}" -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="build/fuzz/crashes/$t-" "build/fuzz/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
  grep -a -E "^(Done|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)" "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log"
    echo "$t failed (exit $rc): the input is in build/fuzz/crashes/"
    exit 1
  fi
done
echo "fuzz targets clean"
