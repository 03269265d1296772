#!/usr/bin/env bash
# Whole-process timing of `geminal history search` (issue 22) on the history of 1,000,000
# messages that `cargo bench --bench search_1m` builds once and keeps in
# target/bench-history-1m/history.db: the median wall time of RUNS runs of each query (after
# one run not counted), plus `geminal history` (the list) and a search on an empty history
# (the cost of starting the process and opening a database).
#
#   scripts/bench-search.sh                          # RUNS=15 by default
#   BEFORE=/path/to/older/geminal scripts/bench-search.sh
#
# With BEFORE, each query runs alternately with that binary and this one (A B A B ...), and
# both medians are printed side by side. GEMINAL_BENCH_1M=path uses another copy of the
# database. A geminal with a newer schema upgrades the database on its first run (not counted),
# so with BEFORE each binary gets its own copy of the database (an older geminal refuses a
# database a newer one has upgraded).
#
# Needs: cargo, bash 5 (EPOCHREALTIME).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
DB=${GEMINAL_BENCH_1M:-$PWD/target/bench-history-1m/history.db}
cargo build --release --quiet --bin geminal
BIN=$PWD/target/release/geminal
if [ ! -f "$DB" ]; then
  echo "building the 1,000,000-message history (minutes, once) ..." >&2
  cargo bench --quiet --bench search_1m -- --list > /dev/null
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export HOME=$WORK XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data NO_COLOR=1

# Microseconds one run of "$@" takes, its output thrown away.
run_us() {
  local t0=$EPOCHREALTIME
  "$@" > /dev/null 2>&1 || true
  local t1=$EPOCHREALTIME
  echo $(( ${t1/./} - ${t0/./} ))
}

median_ms() {
  sort -n | awk '{ v[NR] = $1 } END { m = v[int((NR + 1) / 2)]; printf "%.1f", m / 1000 }'
}

# The database the BEFORE binary reads instead of $1 (its own copy of the 1M history).
before_db() {
  if [ "$1" = "$DB" ]; then echo "$WORK/before/history.db"; else echo "$1.before"; fi
}

# label, database, then the geminal arguments.
measure() {
  local label=$1 db=$2 bdb
  shift 2
  bdb=$(before_db "$db")
  GEMINAL_DB=$db "$BIN" "$@" > /dev/null 2>&1 || true
  if [ -n "${BEFORE:-}" ]; then
    GEMINAL_DB=$bdb "$BEFORE" "$@" > /dev/null 2>&1 || { echo "BEFORE failed on: $*" >&2; exit 1; }
  fi
  : > "$WORK/a"
  : > "$WORK/b"
  for _ in $(seq "$RUNS"); do
    [ -n "${BEFORE:-}" ] && GEMINAL_DB=$bdb run_us "$BEFORE" "$@" >> "$WORK/b"
    GEMINAL_DB=$db run_us "$BIN" "$@" >> "$WORK/a"
  done
  local hits
  # Conversations shown: a search prints "#id title" per hit, the list a row per conversation.
  if [ "${2:-}" = search ]; then
    hits=$(GEMINAL_DB=$db "$BIN" "$@" 2> /dev/null | grep -c '^#' || true)
  else
    hits=$(GEMINAL_DB=$db "$BIN" "$@" 2> /dev/null | tail -n +2 | grep -c . || true)
  fi
  if [ -n "${BEFORE:-}" ]; then
    printf "%-34s %5s hits  before %7s ms  now %7s ms\n" "$label" "$hits" "$(median_ms < "$WORK/b")" "$(median_ms < "$WORK/a")"
  else
    printf "%-34s %5s hits  %7s ms\n" "$label" "$hits" "$(median_ms < "$WORK/a")"
  fi
}

mkdir -p "$WORK/empty"
if [ -n "${BEFORE:-}" ]; then
  mkdir -p "$WORK/before"
  cp "$DB" "$WORK/before/history.db"
fi
echo "median wall time of $RUNS runs, whole process; database $DB"
measure "search on an empty history" "$WORK/empty/history.db" history search x
measure "history (the list)" "$DB" history
measure "rare word: quokka" "$DB" history search quokka
measure "1% of answers: kubernetes" "$DB" history search kubernetes
measure "prefix: migr" "$DB" history search migr
measure "the" "$DB" history search the
measure "th*" "$DB" history search 'th*'
measure "phrase: \"water time\"" "$DB" history search '"water time"'
measure "two words: rust async" "$DB" history search rust async
