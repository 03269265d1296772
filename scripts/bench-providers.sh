#!/usr/bin/env bash
# Whole-program benchmark of the provider layer: N = 1024 answers of 2.0 s at once through the
# Provider trait (Gemini's fake), against a binary from before providers when BEFORE=PATH is
# given, then the same batch split across two providers (half the lines name a model of an
# OpenAI-compatible provider, served by `serve-fake --openai` at the same pace).
# Prints wall time, CPU (user + sys) and peak RSS of geminal, median of RUNS runs.
#
#   scripts/bench-providers.sh                          # RUNS=3
#   BEFORE=/tmp/geminal-before scripts/bench-providers.sh
#
# Needs: cargo, /usr/bin/time (GNU time), bc.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
N=${N:-1024}
cargo build --release --quiet
BIN=$PWD/target/release/geminal
WORK=$(mktemp -d)
trap 'kill $G_PID $O_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
ulimit -n 8192 2>/dev/null || true

"$BIN" serve-fake --words 100 --chunks 20 --stream-secs 2 > "$WORK/gurl" &
G_PID=$!
"$BIN" serve-fake --openai --words 100 --chunks 20 --stream-secs 2 > "$WORK/ourl" &
O_PID=$!
for _ in $(seq 50); do [ -s "$WORK/gurl" ] && [ -s "$WORK/ourl" ] && break; sleep 0.1; done
mkdir -p "$WORK/config/geminal"
printf '[providers.other]\nkind = "openai"\nbase_url = "%s"\n' "$(head -1 "$WORK/ourl")" > "$WORK/config/geminal/config.toml"
export GOOGLE_GEMINI_BASE_URL=$(head -1 "$WORK/gurl") GEMINI_API_KEY=bench HOME=$WORK XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

measure() { # label, binary, prompts file, config
  local label=$1 bin=$2 file=$3 config=$4 walls=() cpus=() rss=()
  for run in $(seq "$RUNS"); do
    rm -rf "$WORK/data"
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$bin" --config "$config" batch "$file" -j "$N" --no-cache --no-save > "$WORK/out.jsonl" 2> "$WORK/err"
    read -r wall user sys maxkb < "$WORK/time"
    local ok; ok=$(grep -c '"error":null' "$WORK/out.jsonl" || true)
    [ "$ok" -eq "$(wc -l < "$file")" ] || { echo "$label: only $ok answers"; cat "$WORK/err"; exit 1; }
    walls+=("$wall"); cpus+=("$(echo "$user + $sys" | bc)"); rss+=("$(echo "scale=1; $maxkb / 1024" | bc)")
  done
  printf '%-40s wall %6ss   cpu %6ss   peak RSS %6s MB\n' "$label" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | median)"
}

seq 1 "$N" | sed 's/^/question /' > "$WORK/gemini.txt"
seq 1 "$N" | awk '{ if ($1 % 2) printf "{\"prompt\": \"question %d\"}\n", $1; else printf "{\"prompt\": \"question %d\", \"model\": \"other:m\"}\n", $1 }' > "$WORK/split.jsonl"
: > "$WORK/empty.toml"

echo "N=$N answers of 2 s at once, ${RUNS} runs each, median"
if [ -n "${BEFORE:-}" ]; then
  measure "before providers: Gemini only" "$BEFORE" "$WORK/gemini.txt" "$WORK/empty.toml"
fi
measure "provider trait: Gemini only" "$BIN" "$WORK/gemini.txt" "$WORK/empty.toml"
measure "provider trait: half Gemini, half OpenAI" "$BIN" "$WORK/split.jsonl" "$WORK/config/geminal/config.toml"
