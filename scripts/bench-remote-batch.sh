#!/usr/bin/env bash
# Whole-program benchmark for remote batches (issue 13): `geminal batch --remote` of N prompts
# against geminal's own fake Batch API (time scaled: each job state lasts 200 ms). Phase 1
# submits and detaches (building the request file, recording the job, sending it: wall time and
# peak RSS); phase 2 is `jobs wait` in a new process (polling, downloading the result file and
# saving every answer to the history: wall time and peak RSS). Both RSS figures should stay flat
# as N grows: requests are streamed to a temp file, results streamed from the download.
#
#   scripts/bench-remote-batch.sh              # N = 10000 and 100000
#   NS="1000 100000" INLINE=0 scripts/bench-remote-batch.sh   # INLINE=0 uploads the request file
#
# Needs: cargo, /usr/bin/time (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-"10000 100000"}
cargo build --release --quiet --bin geminal
BIN=$PWD/target/release/geminal
WORK=$(mktemp -d)
trap 'kill $FAKE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

GEMINAL_FAKE_BATCH_STEP_MS=200 "$BIN" serve-fake --words 20 > "$WORK/url" &
FAKE_PID=$!
for _ in $(seq 50); do [ -s "$WORK/url" ] && break; sleep 0.1; done
export GOOGLE_GEMINI_BASE_URL=$(head -1 "$WORK/url") GEMINI_API_KEY=bench HOME=$WORK XDG_CONFIG_HOME=$WORK/config
export GEMINAL_BATCH_POLL_MS=100

for n in $NS; do
  export XDG_DATA_HOME=$WORK/data-$n
  rm -f "$WORK/answers.jsonl"
  seq "$n" | awk '{ printf "{\"id\": \"p%d\", \"prompt\": \"question number %d: why is the sky blue at noon?\"}\n", $1, $1 }' > "$WORK/prompts.jsonl"
  extra=()
  [ -n "${INLINE:-}" ] && extra=(--inline-max-bytes "$INLINE")
  /usr/bin/time -f "%e %M" -o "$WORK/submit" "$BIN" batch "$WORK/prompts.jsonl" --remote --detach "${extra[@]}" > "$WORK/id" 2> /dev/null
  /usr/bin/time -f "%e %M" -o "$WORK/wait" "$BIN" jobs wait "$(head -1 "$WORK/id")" -o "$WORK/answers.jsonl" 2> /dev/null
  lines=$(wc -l < "$WORK/answers.jsonl")
  read -r sw sr < "$WORK/submit"
  read -r ww wr < "$WORK/wait"
  printf "%7d prompts: submit %.2f s, peak RSS %.1f MiB; wait+collect %.2f s, peak RSS %.1f MiB; %d answers written\n" \
    "$n" "$sw" "$(echo "$sr / 1024" | bc -l)" "$ww" "$(echo "$wr / 1024" | bc -l)" "$lines"
done
