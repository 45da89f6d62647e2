#!/usr/bin/env bash
# Resident memory against --max-memory under sustained load: `spantop serve --max-memory BUDGET`
# on loopback, /work/shared/bench/loadgen at its maximum rate (4 connections x 8 in flight,
# 512-span requests) for SECS seconds, VmRSS sampled every 0.5 s from /proc/PID/status.
# Usage: benches/overload_rss.sh [BUDGET=64MiB] [SECS=60] [extra serve flags...]
#   SPANTOP_BIN=path   the binary to measure (default: target/release/spantop, built here)
#   MIMALLOC_*=...     passed through, to compare allocator settings
#   KEEP_SAMPLES=file  keep the RSS samples (KiB, one per 0.5 s) there
# Prints one line: budget, peak RSS (sampled and VmHWM), the ratio to the budget, RSS at the
# end, steady-state median (second half), acked spans/s from loadgen, and the server's last
# summary line (accepted, throttled, memory counted).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUDGET=${1:-64MiB}; SECS=${2:-60}; shift 2 2>/dev/null || shift $#
BENCH=${BENCH:-/work/shared/bench}
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/spantop-bench}; mkdir -p "$BENCH_DIR"
LG="$BENCH_DIR/target/release/loadgen"
[ -x "$LG" ] || (cd "$BENCH/loadgen" && CARGO_TARGET_DIR="$BENCH_DIR/target" nice -n 10 cargo build --release -q) || { echo "loadgen build failed"; exit 2; }
BIN=${SPANTOP_BIN:-}
if [ -z "$BIN" ]; then
  (cd "$ROOT" && nice -n 10 cargo build --release --locked -q) || { echo "build failed"; exit 2; }
  BIN="$ROOT/target/release/spantop"
fi
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
waitp() { for _ in $(seq 1 300); do python3 -c "import socket,sys;s=socket.socket();sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
G=$(port); H=$(port)
LOG=$(mktemp "$BENCH_DIR/overload_rss.XXXX.log")
"$BIN" serve --grpc 127.0.0.1:$G --http 127.0.0.1:$H --api off --max-memory "$BUDGET" --summary-every 1s "$@" >"$LOG" 2>&1 &
PID=$!
waitp $G || { echo "serve did not listen"; cat "$LOG"; kill $PID; exit 1; }
SAMPLES=$(mktemp "$BENCH_DIR/overload_rss.XXXX.rss")
( while kill -0 $PID 2>/dev/null; do awk '/VmRSS/{print $2}' /proc/$PID/status 2>/dev/null; sleep 0.5; done ) >"$SAMPLES" &
SAMPLER=$!
OUT=$("$LG" --endpoint http://127.0.0.1:$G --duration "$SECS" --connections 4 --concurrency 8 2>&1 | tail -1)
HWM=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
END=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
# The load's samples only: shutdown (final analysis, flushing) is not steady state.
kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null
sleep 1.2 # one more summary line after the load
kill -INT $PID; wait $PID 2>/dev/null
python3 - "$BUDGET" "$HWM" "$END" "$SAMPLES" "$OUT" "$LOG" <<'PY'
import re, sys, statistics as st
budget, hwm, end, samples, out, log = sys.argv[1:]
m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMG]i?B?)?", budget.strip(), re.I)
mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
b = float(m.group(1)) * (mult[m.group(2)[0].lower()] if m and m.group(2) else 1)
rss = [int(x) * 1024 for x in open(samples).read().split() if x.isdigit()]
mib = lambda x: x / 1048576
peak = max(rss or [0]); steady = st.median(rss[len(rss) // 2:] or [0])
sps = re.search(r"spans_per_s=(\d+)", out); errs = re.search(r"errors=(\d+)", out)
lines = [l for l in open(log) if "spans/s |" in l and "final" not in l]
last = lines[-1] if lines else ""
mem = re.search(r"([\d.]+) MiB of ([\d.]+) MiB", last)
thr = re.search(r"throttled (\d+) requests", last)
print(f"budget={mib(b):.0f}MiB peak_rss={mib(peak):.1f}MiB vmhwm={mib(int(hwm)*1024):.1f}MiB "
      f"ratio={peak/b:.2f} steady_rss={mib(steady):.1f}MiB end_rss={mib(int(end)*1024):.1f}MiB "
      f"loadgen_spans_per_s={sps.group(1) if sps else '?'} loadgen_errors={errs.group(1) if errs else '?'} "
      f"counted={mem.group(1) if mem else '?'}MiB throttled={thr.group(1) if thr else '?'}")
print("last summary:", re.sub(r"^.*?(\d+ spans/s \|)", r"\1", last.strip())[:400])
PY
[ -n "${KEEP_SAMPLES:-}" ] && cp "$SAMPLES" "$KEEP_SAMPLES"; rm -f "$SAMPLES"
