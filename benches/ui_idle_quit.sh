#!/usr/bin/env bash
# The real TUI at rest and on the way out, in a detached tmux window (120x40): once the header
# lists TRACES complete traces, the process' CPU time over IDLE seconds with nothing changing
# (utime+stime from /proc/PID/stat), and the time from the `q` key to the process' exit.
#
#   cargo run --release --example gen_large -- 2000000 /tmp/large    # 100,000 traces
#   benches/ui_idle_quit.sh target/release/spantop replay /tmp/large.otlp.pb 100000 [IDLE]
#   benches/ui_idle_quit.sh target/release/spantop live 100000 [IDLE]
#   benches/ui_idle_quit.sh target/release/spantop demo 5000 [IDLE]
#
# - replay: the file at full speed; idle once it is read and analysed.
# - live: `spantop simulate --rate max` sends to it until TRACES are held and is stopped;
#   idle once the open traces completed (the trace timeout, 10 s) and were analysed.
# - demo: the simulated shop keeps sending (25 requests/s), so this is never idle: the figure
#   is what the demo costs at rest with TRACES held, not the idle target.
set -euo pipefail
bin=${1:?spantop binary}
mode=${2:?replay, live or demo}
case "$mode" in
    replay)
        file=${3:?trace file}
        traces=${4:?complete traces the header should list}
        idle=${5:-30}
        ;;
    live | demo)
        traces=${3:?complete traces the header should list}
        idle=${4:-30}
        ;;
    *)
        echo "mode must be replay, live or demo, not $mode" >&2
        exit 2
        ;;
esac
session=spantop-idle-$$
tick=$(getconf CLK_TCK)
# Ports of this run's own (live): a second run beside it must not collide.
grpc=127.0.0.1:$((20000 + $$ % 20000))
http=127.0.0.1:$((40000 + $$ % 20000))
case "$mode" in
    replay) cmd="$bin replay --speed max --max-memory 16GiB $file" ;;
    live) cmd="$bin live --grpc $grpc --http $http --max-memory 16GiB" ;;
    demo) cmd="$bin demo" ;;
esac
tmux new-session -d -s "$session" -x 120 -y 40 "$cmd; sleep 600"
sim=""
cleanup() {
    if [ -n "$sim" ]; then kill "$sim" 2>/dev/null || true; fi
    tmux kill-session -t "$session" 2>/dev/null || true
}
trap cleanup EXIT
started=$(date +%s.%N)
pid=""
while [ -z "$pid" ]; do
    sleep 0.2
    pid=$(pgrep -n -f "^$cmd" || true)
done
# The header's count of complete traces (e.g. "│ 100,000 traces │"), 0 before it shows.
listed() {
    tmux capture-pane -p -t "$session" | head -1 | tr -d , |
        grep -o '[0-9]* traces' | head -1 | grep -o '[0-9]*' || echo 0
}
# Listed and open ones: live stops sending at TRACES held, so about TRACES are listed at rest.
held() {
    local open
    open=$(tmux capture-pane -p -t "$session" | head -1 | tr -d , |
        grep -o '+[0-9]* open' | grep -o '[0-9]*' || echo 0)
    echo $(($(listed) + open))
}
if [ "$mode" = live ]; then
    sleep 1
    "$bin" simulate --endpoint "http://$grpc" --rate max > /dev/null 2>&1 &
    sim=$!
fi
if [ "$mode" = live ]; then
    until [ "$(held)" -ge "$traces" ]; do sleep 0.2; done
else
    until [ "$(listed)" -ge "$traces" ]; do sleep 0.5; done
fi
loaded=$(date +%s.%N)
echo "$mode: $(listed) traces listed after $(echo "$loaded - $started" | bc) s"
settle=5
if [ "$mode" = live ]; then
    kill "$sim"
    wait "$sim" 2>/dev/null || true
    sim=""
    # The open traces complete after the trace timeout; then their analysis and publish.
    settle=20
fi
sleep "$settle"
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$idle"
c1=$(cpu); t1=$(date +%s.%N)
echo "$mode: $(listed) traces listed; CPU: $(echo "scale=2; 100 * ($c1 - $c0) / $tick / ($t1 - $t0)" | bc) % of a core over $(echo "$t1 - $t0" | bc | cut -c1-5) s ($((c1 - c0)) ticks of 1/$tick s)"
echo "RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
q0=$(date +%s.%N)
tmux send-keys -t "$session" q
while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
q1=$(date +%s.%N)
echo "quit: $(echo "$q1 - $q0" | bc | cut -c1-5) s from q to exit"
