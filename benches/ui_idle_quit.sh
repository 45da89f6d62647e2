#!/usr/bin/env bash
# The real TUI at rest and on the way out: replays FILE at full speed in a detached tmux
# window (120x40), waits until the header lists TRACES complete traces, then measures the
# process' CPU time over IDLE seconds with nothing changing (utime+stime from /proc/PID/stat),
# and the time from the `q` key to the process' exit.
#
#   cargo run --release --example gen_large -- 2000000 /tmp/large    # 100,000 traces
#   benches/ui_idle_quit.sh target/release/spantop /tmp/large.otlp.pb 100000 [IDLE]
set -euo pipefail
bin=${1:?spantop binary}
file=${2:?trace file}
traces=${3:?complete traces the header should list}
idle=${4:-30}
session=spantop-idle-$$
tick=$(getconf CLK_TCK)
tmux new-session -d -s "$session" -x 120 -y 40 \
    "$bin replay --speed max --max-memory 16GiB $file; sleep 600"
trap 'tmux kill-session -t "$session" 2>/dev/null || true' EXIT
started=$(date +%s.%N)
pid=""
while [ -z "$pid" ]; do
    sleep 0.2
    pid=$(pgrep -n -f "^$bin replay --speed max --max-memory 16GiB $file" || true)
done
# Loaded: the header's count of complete traces (e.g. "│ 100,000 traces │").
until tmux capture-pane -p -t "$session" | head -1 | tr -d , | grep -q " $traces traces"; do
    sleep 0.5
done
loaded=$(date +%s.%N)
echo "loaded $traces traces in $(echo "$loaded - $started" | bc) s"
# Let the last analysis and publish settle, then sample.
sleep 5
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$idle"
c1=$(cpu); t1=$(date +%s.%N)
echo "idle CPU: $(echo "scale=2; 100 * ($c1 - $c0) / $tick / ($t1 - $t0)" | bc) % of a core over $(echo "$t1 - $t0" | bc | cut -c1-5) s ($((c1 - c0)) ticks of 1/$tick s)"
echo "RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
q0=$(date +%s.%N)
tmux send-keys -t "$session" q
while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
q1=$(date +%s.%N)
echo "quit: $(echo "$q1 - $q0" | bc | cut -c1-5) s from q to exit"
