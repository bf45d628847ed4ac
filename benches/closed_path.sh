#!/usr/bin/env bash
# Instructions per call on the hot paths (valgrind's callgrind: deterministic, whatever
# else the machine is doing), then criterion's times for the same paths.
#
#   bash benches/closed_path.sh            # default features
#   bash benches/closed_path.sh metrics    # with the runtime's `metrics` feature
#   bash benches/closed_path.sh opentelemetry   # with `opentelemetry` (and so `tracing`)
#   NO_CRITERION=1 bash benches/closed_path.sh   # counts only (a few seconds)
set -euo pipefail
cd "$(dirname "$0")/.."
features=()
case "${1:-}" in
  metrics | opentelemetry) features=(--features "$1") ;;
esac

cargo build -q --release -p breaker-benches --bin closed_path "${features[@]}"
bin=target/release/closed_path

# Instructions for `calls` calls of `case`.
count() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  rm -f "$out"
}

# One call's instructions: the difference of two runs, so setup cancels out.
per_call() {
  local small large
  small=$(count "$1" 10000)
  large=$(count "$1" 20000)
  echo $(( (large - small) / 10000 ))
}

bare=$(per_call bare)
printf '%-44s %s\n' "case (instructions per call, callgrind)" "count  over bare"
printf '%-44s %5d\n' "bare function" "$bare"
for case in annotated call rejected time_window throttle throttled count_window within slow_window owned; do
  n=$(per_call "$case")
  printf '%-44s %5d  %+d\n' "$case" "$n" $(( n - bare ))
done
# The tower layer, over the same service driven without it.
tower_bare=$(per_call tower_bare)
tower=$(per_call tower)
tower_static=$(per_call tower_static)
printf '%-44s %5d\n' "tower service, no layer" "$tower_bare"
printf '%-44s %5d  %+d over no layer\n' "tower service, CircuitBreakerLayer::new" "$tower" $(( tower - tower_bare ))
printf '%-44s %5d  %+d over no layer\n' "tower service, ::from_static" "$tower_static" $(( tower_static - tower_bare ))
# A 503 failure through the layer, with and without an upstream's advice to read.
for case in fail_503 fail_retry_after fail_http_date; do
  without=$(per_call "${case}_bare")
  with=$(per_call "$case")
  printf '%-44s %5d  %+d over no layer\n' "tower, failure: $case" "$with" $(( with - without ))
done

[ -n "${NO_CRITERION:-}" ] && exit 0
echo
echo "criterion (median ns per call):"
cargo bench -q -p breaker-benches --bench peers "${features[@]}" -- \
  "closed success|open rejection|policies" >/dev/null 2>&1
python3 benches/report.py
