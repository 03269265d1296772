#!/usr/bin/env bash
# Instruction counts of the bodies of three criterion benches (examples/insn_probe.rs), which stay
# repeatable on a loaded machine where wall times do not: benches/sse replay_decode_parse_classify
# and last_16_bytes_to_text, benches/tui frame_16_tabs_streaming_5000_open. Per iteration.
#
#   scripts/bench-insns.sh                       # this build
#   BEFORE=/path/to/older/insn_probe scripts/bench-insns.sh
#
# Needs valgrind. Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
# The bench profile: what criterion measures (the release profile adds LTO, see Cargo.toml).
cargo build --profile bench --quiet --example insn_probe
THIS=$PWD/target/release/examples/insn_probe
BEFORE=${BEFORE:-}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
count() { # binary which n: instructions per iteration
  valgrind --tool=callgrind --callgrind-out-file="$OUT/cg" --toggle-collect='insn_probe::measured_*' "$1" "$2" "$3" 2>&1 |
    awk -v n="$3" '/Collected/ {printf "%.0f", $4 / n}'
}
printf '%-8s %14s %14s\n' bench before this
for w in "replay 2" "last16 200" "frame 20"; do
  set -- $w
  b=-; [ -z "$BEFORE" ] || b=$(count "$BEFORE" "$1" "$2")
  printf '%-8s %14s %14s\n' "$1" "$b" "$(count "$THIS" "$1" "$2")"
done
