#!/usr/bin/env bash
# Whole-program benchmark for attachments (issue: "Gemini's own powers"): `geminal ask` with a
# 100 MiB video and a 15 MiB image against geminal's own fake Gemini, both too large to go
# inline, so both go through the Files API's resumable upload in 8 MiB chunks. Prints wall
# time, CPU time and peak RSS of the geminal process (median of RUNS runs, GNU time). The
# upload streams from disk: peak RSS stays far below the 115 MiB of the two files.
#
#   scripts/bench-attachments.sh            # RUNS=5 by default
#
# Needs: cargo, /usr/bin/time (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --quiet --bin geminal
BIN=$PWD/target/release/geminal
WORK=$(mktemp -d)
trap 'kill $FAKE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

# An MP4 header then noise (the type is read from the content), and a PNG with a 15 MiB chunk.
{ printf '\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2'; head -c $((100 * 1024 * 1024 - 24)) /dev/urandom; } > "$WORK/video.mp4"
{ printf '\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x0f\xa0\x00\x00\x03\xe8\x08\x06\x00\x00\x00\x00\x00\x00\x00'; head -c $((15 * 1024 * 1024)) /dev/urandom; } > "$WORK/image.png"

"$BIN" serve-fake --words 50 > "$WORK/url" &
FAKE_PID=$!
for _ in $(seq 50); do [ -s "$WORK/url" ] && break; sleep 0.1; done
export GOOGLE_GEMINI_BASE_URL=$(head -1 "$WORK/url") GEMINI_API_KEY=bench HOME=$WORK XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data

for i in $(seq "$RUNS"); do
  # --no-save: nothing remembers the upload, so every run uploads both files again.
  /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.$i" \
    "$BIN" ask --no-save -a "$WORK/video.mp4" -a "$WORK/image.png" "describe both" > /dev/null
done
sort -n "$WORK"/time.* | awk -v runs="$RUNS" '
  { wall[NR] = $1; cpu[NR] = $2 + $3; rss[NR] = $4 }
  END {
    m = int((runs + 1) / 2)
    printf "100 MiB video + 15 MiB image, uploaded: wall %.2f s, cpu %.2f s, peak RSS %.1f MiB (the run of median wall time, of %d)\n", wall[m], cpu[m], rss[m] / 1024, runs
  }'
