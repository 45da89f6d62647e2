#!/usr/bin/env bash
# Time to the first screen that shows a file's data in the real TUI: `replay --speed max FILE`
# in a detached tmux window (120x40), polled every 20 ms until the header lists TRACES complete
# traces; then Enter on the Traces tab and the time until the waterfall is drawn. The file
# reading alone is timed with the `read_file` example, so the difference is what comes after
# the file was read (store, analysis, the view, the frame).
#
#   cargo run --release --example gen_large -- 100000 /tmp/one 100000   # one 100,000-span trace
#   benches/ui_first_screen.sh target/release /tmp/one.otlp.jsonl 1
set -euo pipefail
dir=${1:?target directory with spantop and examples/read_file}
file=${2:?trace file}
traces=${3:?complete traces the header should list}
session=spantop-first-$$
now() { date +%s.%N; }
r0=$(now)
"$dir/examples/read_file" "$file" > /dev/null
r1=$(now)
echo "read_file alone: $(echo "$r1 - $r0" | bc | cut -c1-5) s"
t0=$(now)
tmux new-session -d -s "$session" -x 120 -y 40 "$dir/spantop replay --speed max $file; sleep 600"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
until tmux capture-pane -p -t "$session" | head -1 | tr -d , | grep -q " $traces traces"; do
    sleep 0.02
done
t1=$(now)
echo "first screen with the data: $(echo "$t1 - $t0" | bc | cut -c1-5) s after start, $(echo "$t1 - $t0 - ($r1 - $r0)" | bc | cut -c1-5) s after the read alone"
tmux send-keys -t "$session" 2
sleep 0.5
w0=$(now)
tmux send-keys -t "$session" Enter
until tmux capture-pane -p -t "$session" | grep -q "Waterfall"; do
    sleep 0.01
done
w1=$(now)
echo "Enter to the waterfall drawn: $(echo "$w1 - $w0" | bc | cut -c1-5) s"
tmux send-keys -t "$session" q
