#!/usr/bin/env bash
# Issue 22's table: what saving and many answers at once cost, beside the limit.
#
# Starts geminal's own fake Gemini twice (long answers: 2.0 s in 20 chunks; short answers: 20
# words in 2 chunks, at once), then for each row runs, RUNS times and alternating:
#   limit   target/release/examples/limit_probe: a bare reqwest + tokio client that only streams
#           (examples/limit_probe.rs);
#   before  $BEFORE, an older geminal binary, if given;
#   this    this build (target/release/geminal);
# and prints the median wall time, CPU time (user + sys) and peak RSS of each, and the goal.
# A saved run starts from an empty history each time. Every answer is checked to have come back.
#
#   scripts/bench-table.sh                                   # RUNS=3
#   BEFORE=/work/bench/geminal-new RUNS=5 scripts/bench-table.sh
#
# Needs: cargo, /usr/bin/time (GNU time), bc. Takes about 2 minutes at RUNS=3 (measured under load).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
cargo build --release --quiet --bin geminal --example limit_probe
BIN=$PWD/target/release/geminal
PROBE=$PWD/target/release/examples/limit_probe
BEFORE=${BEFORE:-}
[ -z "$BEFORE" ] || [ -x "$BEFORE" ] || { echo "BEFORE=$BEFORE is not an executable"; exit 2; }
WORK=$(mktemp -d)
FAKES=()
trap 'for p in "${FAKES[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
ulimit -n 8192 2>/dev/null || true

start_fake() { # name, serve-fake args...: its URL lands in $WORK/name.url
  local name=$1; shift
  "$BIN" serve-fake "$@" > "$WORK/$name.url" 2> /dev/null &
  FAKES+=($!)
  for _ in $(seq 100); do [ -s "$WORK/$name.url" ] && break; sleep 0.1; done
}
start_fake long --words 100 --chunks 20 --stream-secs 2
start_fake short --words 20 --chunks 2
LONG=$(head -1 "$WORK/long.url") SHORT=$(head -1 "$WORK/short.url")
[ -n "$LONG" ] && [ -n "$SHORT" ] || { echo "the fake server did not start"; exit 1; }
export GEMINI_API_KEY=bench HOME=$WORK XDG_CONFIG_HOME=$WORK/config XDG_DATA_HOME=$WORK/data
unset GOOGLE_API_KEY GEMINAL_DB GEMINAL_CONFIG GEMINAL_MODEL

seq 1 1024 | sed 's/^/question /' > "$WORK/p1024.txt"
seq 1 10000 | sed 's/^/short question /' > "$WORK/s10000.txt"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# run ROW WHO URL CMD...: one timed run, appended to $WORK/ROW.WHO as "wall cpu rss_mb".
run() {
  local row=$1 who=$2 url=$3; shift 3
  rm -rf "$WORK/data"
  # The previous run's saves are flushed first, so their write-back is not charged to this run
  # (without it, the run after a saved one was ~20% slower, whichever binary it was).
  sync
  GOOGLE_GEMINI_BASE_URL=$url /usr/bin/time -f "%e %U %S %M" -o "$WORK/time" "$@" > "$WORK/out" 2> "$WORK/err" || {
    echo "$row/$who failed:"; tail -5 "$WORK/err"; exit 1
  }
  read -r wall user sys maxkb < "$WORK/time"
  printf '%s %.2f %.1f\n' "$wall" "$(echo "$user + $sys" | bc)" "$(echo "scale=2; $maxkb / 1024" | bc)" >> "$WORK/$row.$who"
}

# batch ROW WHO BIN FILE JOBS [--no-save]: a batch run whose every answer must have come back.
batch() {
  local row=$1 who=$2 bin=$3 file=$4 jobs=$5 url; shift 5
  case $file in *p1024*) url=$LONG ;; *) url=$SHORT ;; esac
  run "$row" "$who" "$url" "$bin" batch "$file" -j "$jobs" --no-cache "$@"
  local ok; ok=$(grep -c '"error":null' "$WORK/out" || true)
  [ "$ok" -eq "$(wc -l < "$file")" ] || { echo "$row/$who: only $ok answers"; tail -5 "$WORK/err"; exit 1; }
}

ask() { # ROW WHO BIN
  run "$1" "$2" "$SHORT" "$3" ask --no-cache "why do birds migrate?"
  [ -s "$WORK/out" ] || { echo "$1/$2: no answer"; exit 1; }
}

contenders=(this)
[ -n "$BEFORE" ] && contenders=(before this)
bin_of() { case $1 in before) echo "$BEFORE" ;; *) echo "$BIN" ;; esac; }

for r in $(seq "$RUNS"); do
  for who in "${contenders[@]}"; do
    b=$(bin_of "$who")
    [ "$who" = "${contenders[0]}" ] && run nosave1024 limit "$LONG" "$PROBE" 1024
    batch nosave1024 "$who" "$b" "$WORK/p1024.txt" 1024 --no-save
    batch saved1024 "$who" "$b" "$WORK/p1024.txt" 1024
    [ "$who" = "${contenders[0]}" ] && run nosave10k limit "$SHORT" "$PROBE" 10000 64
    batch nosave10k "$who" "$b" "$WORK/s10000.txt" 64 --no-save
    batch saved10k "$who" "$b" "$WORK/s10000.txt" 64
    [ "$who" = "${contenders[0]}" ] && run ask limit "$SHORT" "$PROBE" 1
    ask ask "$who" "$b"
  done
done

# col ROW WHO N: the median of column N (1 wall, 2 cpu, 3 rss) of a row's runs, or "-".
col() { [ -s "$WORK/$1.$2" ] && awk -v n="$3" '{print $n}' "$WORK/$1.$2" | median || echo -; }
cell() { # ROW WHO: "wall s / cpu s / rss MB"
  [ -s "$WORK/$1.$2" ] || { echo -; return; }
  echo "$(col "$1" "$2" 1) s / $(col "$1" "$2" 2) s / $(col "$1" "$2" 3) MB"
}
le() { [ "$(echo "$1 <= $2" | bc)" = 1 ] && echo met || echo "NOT met"; }

lw=$(col nosave1024 limit 1); lr=$(col nosave1024 limit 3)
g1="wall ≤ $(printf %.2f "$(echo "$lw * 1.03" | bc)") s: $(le "$(col nosave1024 this 1)" "$lw * 1.03"); RSS ≤ $(printf %.1f "$(echo "$lr * 1.2" | bc)") MB: $(le "$(col nosave1024 this 3)" "$lr * 1.2")"
g2="wall ≤ $(printf %.2f "$(echo "$lw * 1.05" | bc)") s: $(le "$(col saved1024 this 1)" "$lw * 1.05"); CPU ≤ 0.8 s: $(le "$(col saved1024 this 2)" 0.8); RSS ≤ $(printf %.1f "$(echo "$lr * 1.3" | bc)") MB: $(le "$(col saved1024 this 3)" "$lr * 1.3")"
g3="wall ≤ 0.8 s: $(le "$(col nosave10k this 1)" 0.8)"
nw=$(col nosave10k this 1)
g4="wall ≤ $(printf %.2f "$(echo "$nw * 1.3" | bc)") s (1.3x --no-save): $(le "$(col saved10k this 1)" "$nw * 1.3")"
g5="RSS ≤ 11 MB: $(le "$(col ask this 3)" 11)"

echo
echo "geminal $("$BIN" --version | cut -d' ' -f2) ($(git rev-parse --short HEAD 2>/dev/null || echo '?'))${BEFORE:+, before: $BEFORE}; medians of $RUNS alternating runs"
echo
echo "| work: wall / CPU / peak RSS | limit | before | this build | goal |"
echo "|---|---|---|---|---|"
echo "| N=1024 at once, \`--no-save\` | $(cell nosave1024 limit) | $(cell nosave1024 before) | $(cell nosave1024 this) | $g1 |"
echo "| N=1024 at once, saved | - | $(cell saved1024 before) | $(cell saved1024 this) | $g2 |"
echo "| 10,000 short prompts \`-j 64\`, \`--no-save\` | $(cell nosave10k limit) | $(cell nosave10k before) | $(cell nosave10k this) | $g3 |"
echo "| 10,000 short prompts \`-j 64\`, saved | - | $(cell saved10k before) | $(cell saved10k this) | $g4 |"
echo "| one \`ask\`, saved | $(cell ask limit) | $(cell ask before) | $(cell ask this) | $g5 |"
