#!/usr/bin/env bash
# Two figures of `spantop serve` under the shared load generator (../shared/bench/loadgen:
# OTLP/gRPC, 512-span requests, 4 connections x 8 in flight), loopback only:
#   1. intake while traces complete: the summary line's spans/s before the first traces complete
#      (inside --trace-timeout) and after (traces completing and being analysed all the time);
#   2. shutdown: SIGTERM with HELD spans held (default 1,000,000), time until the process exits.
#
#   benches/serve_shutdown.sh [SPANTOP_BIN] [SECONDS_OF_LOAD]
# Builds loadgen into $BENCH_DIR (default ${TMPDIR:-/tmp}/spantop-bench), as the shared scripts do.
set -u
cd "$(dirname "$0")/.."
BIN=${1:-target/release/spantop}
SECS=${2:-30}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/spantop-bench}; mkdir -p "$BENCH_DIR"
SHARED=${SHARED_BENCH:-../shared/bench}
LG="$BENCH_DIR/target/release/loadgen"
[ -x "$LG" ] || (cd "$SHARED/loadgen" && CARGO_TARGET_DIR="$BENCH_DIR/target" cargo build --release -q) || { echo "loadgen build failed"; exit 2; }
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release first"; exit 2; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
waitp() { for _ in $(seq 1 300); do python3 -c "import socket,sys;s=socket.socket();sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

G=$(port); H=$(port)
LOG="$BENCH_DIR/serve_shutdown.log"
# A budget far above what the load sends, and a timeout that lets traces complete mid-run.
"$BIN" serve --grpc 127.0.0.1:$G --http 127.0.0.1:$H --api off --max-memory 8GiB \
  --trace-timeout 10s --summary-every 2s >"$LOG" 2>&1 &
PID=$!
waitp $G || { echo "serve did not listen"; kill $PID; exit 1; }
OUT=$("$LG" --endpoint http://127.0.0.1:$G --duration "$SECS" --connections 4 --concurrency 8 2>&1 | tail -1)
echo "load: $OUT"
RSS=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
T0=$(date +%s.%N)
kill -TERM $PID
wait $PID
RC=$?
T1=$(date +%s.%N)
echo "summary lines (spans/s every 2 s; traces start completing 10 s after the load starts):"
grep -o '[0-9]* spans/s | held [0-9]* spans in [0-9]* traces ([0-9]* open)' "$LOG" | head -40 || true
grep -o '[0-9]* analysis failures, [0-9]* traces not analysed' "$LOG" | tail -1
python3 - "$T0" "$T1" "$RC" "$RSS" <<'PY'
import sys
t0, t1, rc, rss = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4] or 0)
print(f"shutdown_s={t1 - t0:.2f} exit={rc} rss_at_sigterm_mib={rss / 1024:.0f}")
PY
