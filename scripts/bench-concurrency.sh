#!/usr/bin/env bash
# Whole-program concurrency benchmark for geminal (issue: "many answers at once").
#
# Starts geminal's own fake Gemini (every answer streams for exactly 2.0 s: 20 chunks, 100 ms
# apart), then runs `geminal batch` with N prompts at -j N, for N = 32, 256, 1024, and prints
# wall time, CPU time (user + sys) and peak RSS of the geminal process, median of RUNS runs.
# The floor is 2.0 s: N answers at once should cost the time of one.
# Then `batch` of 1,000 and 10,000 short prompts at -j 64, to show peak RSS does not grow with
# the number of prompts.
#
#   scripts/bench-concurrency.sh            # RUNS=3 by default
#   RUNS=5 SAVE=1 scripts/bench-concurrency.sh   # SAVE=1 also saves every answer to history
#
# Needs: cargo, /usr/bin/time (GNU time). Compare with scripts/bench_python_asyncio.py.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
cargo build --release --quiet
BIN=$PWD/target/release/geminal
WORK=$(mktemp -d)
trap 'kill $FAKE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
ulimit -n 8192 2>/dev/null || true

"$BIN" serve-fake --words 100 --chunks 20 --stream-secs 2 > "$WORK/url" &
FAKE_PID=$!
for _ in $(seq 50); do [ -s "$WORK/url" ] && break; sleep 0.1; done
URL=$(head -1 "$WORK/url")
export GOOGLE_GEMINI_BASE_URL=$URL GEMINI_API_KEY=bench HOME=$WORK XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data
SAVE_FLAG=--no-save
[ "${SAVE:-0}" = 1 ] && SAVE_FLAG=

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label, prompts file, jobs
  local label=$1 file=$2 jobs=$3 walls=() cpus=() rss=()
  for run in $(seq "$RUNS"); do
    rm -rf "$WORK/data"
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$BIN" batch "$file" -j "$jobs" --no-cache $SAVE_FLAG > "$WORK/out.jsonl" 2> "$WORK/err"
    read -r wall user sys maxkb < "$WORK/time"
    local ok; ok=$(grep -c '"error":null' "$WORK/out.jsonl" || true)
    [ "$ok" -eq "$(wc -l < "$file")" ] || { echo "$label: only $ok answers"; cat "$WORK/err"; exit 1; }
    walls+=("$wall"); cpus+=("$(echo "$user + $sys" | bc)"); rss+=("$(echo "scale=1; $maxkb / 1024" | bc)")
  done
  printf '%-28s wall %6ss   cpu %6ss   peak RSS %6s MB\n' "$label" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)"
}

echo "geminal $("$BIN" --version | cut -d' ' -f2), fake at $URL, ${RUNS} runs each, median; history: ${SAVE_FLAG:-saved}"
for n in 32 256 1024; do
  seq 1 "$n" | sed 's/^/question /' > "$WORK/p$n.txt"
  measure "N=$n at once (2 s each)" "$WORK/p$n.txt" "$n"
done

# Many short prompts: RSS must stay flat as the count grows.
kill $FAKE_PID; wait $FAKE_PID 2>/dev/null || true
"$BIN" serve-fake --words 20 --chunks 2 > "$WORK/url" &
FAKE_PID=$!
for _ in $(seq 50); do [ "$(head -1 "$WORK/url" 2>/dev/null)" != "$URL" ] && [ -s "$WORK/url" ] && break; sleep 0.1; done
export GOOGLE_GEMINI_BASE_URL=$(head -1 "$WORK/url")
for n in 1000 10000; do
  seq 1 "$n" | sed 's/^/short question /' > "$WORK/s$n.txt"
  measure "batch of $n short prompts" "$WORK/s$n.txt" 64
done
