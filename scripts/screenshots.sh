#!/usr/bin/env bash
# Regenerates the README's screenshots from the real app: runs `geminal --demo` in a detached
# tmux window and captures the screen at a few moments, each as text (assets/screenshots/*.txt)
# and as an SVG image with its colours (*.svg, drawn by examples/ansi_svg.rs).
#   scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin geminal --example ansi_svg
BIN=$PWD/target/release/geminal
SVG=$PWD/target/release/examples/ansi_svg
OUT=$PWD/assets/screenshots
WORK=$(mktemp -d)
S=geminal-screens-$$
trap 'tmux kill-session -t $S 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

tmux new-session -d -s "$S" -x 100 -y 32 "env HOME=$WORK $BIN --demo --db $WORK/h.sqlite3"
wait_for() { for _ in $(seq 200); do tmux capture-pane -p -t "$S" | grep -q -- "$1" && return 0; sleep 0.1; done; echo "timed out waiting for $1" >&2; exit 1; }
shot() {
  tmux capture-pane -p -t "$S" | sed -e 's/[[:space:]]*$//' > "$OUT/$1.txt"
  tmux capture-pane -e -p -t "$S" | "$SVG" > "$OUT/$1.svg"
}

wait_for "Ask anything"
tmux send-keys -t "$S" -l "How do I count words in a file with Python?"; tmux send-keys -t "$S" Enter
tmux send-keys -t "$S" C-t
tmux send-keys -t "$S" -l "Compare TCP and UDP"; tmux send-keys -t "$S" Enter
tmux send-keys -t "$S" C-t
tmux send-keys -t "$S" -l "Why do birds migrate?"; tmux send-keys -t "$S" Enter
sleep 2.5
shot tabs-streaming
wait_for "Birds migrate"
for _ in $(seq 200); do tmux capture-pane -p -t "$S" | grep -q "●" || break; sleep 0.1; done
tmux send-keys -t "$S" M-1
sleep 0.5
shot markdown-answer
tmux send-keys -t "$S" C-r
tmux send-keys -t "$S" -l "migrat*"
wait_for "#3"
sleep 0.3
shot history-search
tmux send-keys -t "$S" Escape; sleep 0.3
tmux send-keys -t "$S" F1
sleep 0.3
shot help
# Regenerate an answer, then select its prompt: "‹2/2›" and the selection keys.
tmux send-keys -t "$S" Escape; sleep 0.3
tmux send-keys -t "$S" M-3; sleep 0.3
tmux send-keys -t "$S" C-g
wait_for "‹2/2›"
for _ in $(seq 200); do tmux capture-pane -p -t "$S" | grep -q "●" || break; sleep 0.1; done
tmux send-keys -t "$S" M-Up; sleep 0.2
tmux send-keys -t "$S" Up; sleep 0.3
shot branches
tmux send-keys -t "$S" Escape; sleep 0.3
tmux send-keys -t "$S" C-q; sleep 0.3
# A second Ctrl-Q only if answers were still running (the first then asked).
tmux send-keys -t "$S" C-q 2>/dev/null || true
echo "wrote $(ls "$OUT" | wc -l) screenshots to $OUT"
