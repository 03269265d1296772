#!/usr/bin/env bash
# Issue 25's benchmark: what `geminal serve` adds per streamed answer.
#
# Starts geminal's own fake Gemini (answers of 2.0 s in 20 chunks), then RUNS times, alternating:
#   direct  target/release/examples/limit_probe: N streamed answers straight from the fake;
#   serve   the same client, the same N, through `geminal serve` (its Gemini-native route, which
#           answers each through the turn runner: saved, priced, counted), started afresh for each
#           run on an empty history (so no answer comes from the cache) with the fake upstream.
# Prints the median wall time of each and their ratio (goal ≤ 1.05x), then one run of N=1000
# through serve with the server's own CPU time and peak RSS (GNU time around it, SIGTERM after).
#
#   scripts/bench-serve.sh                  # N=256, RUNS=3
#   N=128 RUNS=5 scripts/bench-serve.sh
#   PROFILE=debug RUNS=1 scripts/bench-serve.sh   # the script checked on a debug build
#
# Needs: cargo, curl, /usr/bin/time (GNU time), bc.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
N=${N:-256}
BIG=${BIG:-1000}
# PROFILE=debug checks the script itself quickly (its figures mean nothing then).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin geminal --example limit_probe
else
  cargo build --quiet --bin geminal --example limit_probe
fi
BIN=$PWD/target/$PROFILE/geminal
PROBE=$PWD/target/$PROFILE/examples/limit_probe
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
ulimit -n 8192 2>/dev/null || true

"$BIN" serve-fake --words 100 --chunks 20 --stream-secs 2 > "$WORK/fake.url" 2> /dev/null &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/fake.url" ] && break; sleep 0.1; done
FAKE=$(head -1 "$WORK/fake.url")
[ -n "$FAKE" ] || { echo "the fake server did not start"; exit 1; }
export GEMINI_API_KEY=bench HOME=$WORK XDG_CONFIG_HOME=$WORK/config
unset GOOGLE_API_KEY GEMINAL_DB GEMINAL_CONFIG GEMINAL_MODEL GEMINAL_SERVE_KEY
# serve's defaults (16 answers at once, 64 queued) would turn most of N away with 503: room for
# every client, as the direct run has.
mkdir -p "$XDG_CONFIG_HOME/geminal"
cat > "$XDG_CONFIG_HOME/geminal/config.toml" <<TOML
max_concurrent = 2048
[serve]
max_concurrent = 2048
max_queue = 0
TOML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_serve: a fresh server on an empty history, under GNU time; sets SERVE (URL) and SPID.
start_serve() {
  local port; port=$(free_port)
  rm -rf "$WORK/data"
  XDG_DATA_HOME=$WORK/data GOOGLE_GEMINI_BASE_URL=$FAKE /usr/bin/time -f "%U %S %M" -o "$WORK/serve.time" \
    "$BIN" serve --listen "127.0.0.1:$port" --no-auth > "$WORK/serve.out" 2> "$WORK/serve.err" &
  SPID=$!
  PIDS+=($SPID)
  SERVE=http://127.0.0.1:$port
  for _ in $(seq 200); do curl -fs "$SERVE/health" > /dev/null 2>&1 && return; sleep 0.05; done
  echo "geminal serve did not start:"; tail -5 "$WORK/serve.err"; exit 1
}

stop_serve() {
  # SIGTERM goes to serve itself: GNU time would die of it without passing it on (and write no
  # figures); it then exits with serve's status.
  kill -TERM "$(pgrep -P "$SPID")"
  wait "$SPID" || { echo "geminal serve did not exit 0 on SIGTERM:"; tail -5 "$WORK/serve.err"; exit 1; }
}

# probe WHO URL N: one timed client run, its wall time appended to $WORK/WHO.
probe() {
  local start end
  start=$(date +%s.%N)
  GOOGLE_GEMINI_BASE_URL=$2 "$PROBE" "$3" 2> "$WORK/probe.err" || { echo "$1:"; cat "$WORK/probe.err"; exit 1; }
  end=$(date +%s.%N)
  echo "$end - $start" | bc >> "$WORK/$1"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for _ in $(seq "$RUNS"); do
  probe direct "$FAKE" "$N"
  start_serve
  probe serve "$SERVE" "$N"
  stop_serve
done
d=$(median < "$WORK/direct"); s=$(median < "$WORK/serve")
ratio=$(echo "scale=3; $s / $d" | bc)

start_serve
probe big "$SERVE" "$BIG"
stop_serve
read -r user sys maxkb < "$WORK/serve.time"

echo
echo "geminal $("$BIN" --version | cut -d' ' -f2) ($(git rev-parse --short HEAD 2>/dev/null || echo '?'), $PROFILE build); medians of $RUNS alternating runs"
echo
echo "| work | direct to the fake | through serve | ratio (goal ≤ 1.05x) |"
echo "|---|---|---|---|"
printf '| N=%s streamed answers at once: wall | %.2f s | %.2f s | %sx |\n' "$N" "$d" "$s" "$ratio"
echo
printf 'N=%s through serve: client wall %.2f s; the server: CPU %.2f s, peak RSS %.1f MB\n' \
  "$BIG" "$(cat "$WORK/big")" "$(echo "$user + $sys" | bc)" "$(echo "scale=2; $maxkb / 1024" | bc)"
