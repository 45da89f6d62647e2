#!/usr/bin/env bash
# Does intake drop while traces complete? `spantop serve` under the shared load generator
# (../shared/bench/loadgen: OTLP/gRPC, 512-span requests, 4 connections x 8 in flight), run twice
# per binary in one go: with --trace-timeout 60s (no trace completes during the run) and 2s
# (traces complete and are analysed all the time). Prints the mean of the summary lines' spans/s
# (the first 4 s left out) and the ratio completing / not completing: 1.0 is the target.
#
#   benches/intake_ab.sh [SECONDS_OF_LOAD] SPANTOP_BIN [SPANTOP_BIN...]
# Several binaries (e.g. main's and a branch's) run alternately, so they see the same machine.
set -u
cd "$(dirname "$0")/.."
SECS=${1:-20}; shift
[ $# -ge 1 ] || set -- target/release/spantop
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/spantop-bench}; mkdir -p "$BENCH_DIR"
SHARED=${SHARED_BENCH:-../shared/bench}
LG="$BENCH_DIR/target/release/loadgen"
[ -x "$LG" ] || (cd "$SHARED/loadgen" && CARGO_TARGET_DIR="$BENCH_DIR/target" cargo build --release -q) || { echo "loadgen build failed"; exit 2; }
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
waitp() { for _ in $(seq 1 300); do python3 -c "import socket,sys;s=socket.socket();sys.exit(s.connect_ex(('127.0.0.1',$1)))" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# Mean spans/s of one serve run under load.
intake() {
  local bin=$1 timeout=$2 g h pid log="$BENCH_DIR/intake_ab.log"
  g=$(port); h=$(port)
  "$bin" serve --grpc 127.0.0.1:$g --http 127.0.0.1:$h --api off --max-memory 8GiB \
    --trace-timeout "$timeout" --summary-every 2s >"$log" 2>&1 &
  pid=$!
  waitp $g || { echo "serve did not listen" >&2; kill $pid; return 1; }
  "$LG" --endpoint http://127.0.0.1:$g --duration "$SECS" --connections 4 --concurrency 8 >/dev/null 2>&1
  kill -TERM $pid; wait $pid
  grep -o '[0-9]* spans/s' "$log" | awk 'NR>2 && $1>0 {s+=$1; n++} END {printf "%.0f\n", n ? s/n : 0}'
}

for bin in "$@"; do
  [ -x "$bin" ] || { echo "no $bin: cargo build --release first"; exit 2; }
  still=$(intake "$bin" 60s); completing=$(intake "$bin" 2s)
  python3 -c "import sys; a,b=float(sys.argv[2]),float(sys.argv[3]); print(f'{sys.argv[1]}: no completions {a/1e3:.0f}k spans/s, completing {b/1e3:.0f}k spans/s, ratio {b/a if a else 0:.2f}')" "$bin" "$still" "$completing"
done
