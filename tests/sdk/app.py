"""The application tests/sdk_exporters.rs runs with the OpenTelemetry Python SDK.

Started as `opentelemetry-instrument python app.py`, the distro's default setup configured only
by the environment (OTEL_EXPORTER_OTLP_*): it exports traces, metrics and logs, as any app
started that way does.

It makes SPANTOP_TEST_TRACES traces of SPANTOP_TEST_SPANS_PER_TRACE spans, one log record inside
each (it carries the trace and span id) and a counter increment, flushes every signal and prints
{"traceIds": [...], "spansPerTrace": N} on stdout. Exporter failures are logged on stderr (a
failed export still flushes "successfully"); the test requires stderr empty.
"""

import json
import os
import sys

from opentelemetry import _logs, metrics, trace

traces = int(os.environ.get("SPANTOP_TEST_TRACES", "10"))
spans_per_trace = int(os.environ.get("SPANTOP_TEST_SPANS_PER_TRACE", "10"))

tracer = trace.get_tracer("spantop-sdk-test")
logger = _logs.get_logger("spantop-sdk-test")
orders = metrics.get_meter("spantop-sdk-test").create_counter("orders.listed")

trace_ids = []
for _ in range(traces):
    with tracer.start_as_current_span("GET /orders", kind=trace.SpanKind.SERVER) as root:
        trace_ids.append(format(root.get_span_context().trace_id, "032x"))
        for i in range(1, spans_per_trace):
            with tracer.start_as_current_span(f"SELECT orders.page{i}", kind=trace.SpanKind.CLIENT):
                pass
        # In the root span's context: the record carries its trace and span id.
        logger.emit(severity_number=_logs.SeverityNumber.INFO, severity_text="INFO", body="orders listed")
        orders.add(1, {"route": "/orders"})

flushed = [
    trace.get_tracer_provider().force_flush(),
    _logs.get_logger_provider().force_flush(),
    metrics.get_meter_provider().force_flush(),
]
if not all(flushed):
    print(f"flush failed (traces, logs, metrics): {flushed}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"traceIds": trace_ids, "spansPerTrace": spans_per_trace}))
