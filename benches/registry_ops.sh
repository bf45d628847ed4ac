#!/usr/bin/env bash
# Instructions per registry operation at 1,000 and 1,000,000 breakers (valgrind's
# callgrind, counting inside the operation only: deterministic, whatever else the
# machine is doing).
#
#   bash benches/registry_ops.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q --release -p breaker-benches --bin registry_ops
bin=target/release/registry_ops
calls=4000

# Instructions of `calls` operations `$1` at `$2` breakers.
count() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect="registry_ops::measured_$1" "$bin" "$1" "$2" "$calls" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
  rm -f "$out"
}

printf '%-10s %12s %26s\n' "operation" "breakers" "instructions per operation"
for op in get new_key; do
  for breakers in 1000 1000000; do
    printf '%-10s %12d %26d\n' "$op" "$breakers" $(( $(count "$op" "$breakers") / calls ))
  done
done
