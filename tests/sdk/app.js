// The application tests/sdk_exporters.rs runs with the OpenTelemetry JS SDK (2.x and 3.x):
// NodeSDK's default setup, configured only by the environment (OTEL_EXPORTER_OTLP_*), so it
// exports traces, metrics and logs as any app started that way does.
//
// It makes SPANTOP_TEST_TRACES traces of SPANTOP_TEST_SPANS_PER_TRACE spans, one log record
// inside each (it carries the trace and span id) and a counter increment, shuts the SDK down
// (which flushes every signal) and prints {"traceIds": [...], "spansPerTrace": N} on stdout.
// Exporter failures go to stderr through the diag logger; the test requires stderr empty.
'use strict';

const api = require('@opentelemetry/api');
const { NodeSDK } = require('@opentelemetry/sdk-node');
// The logs API is part of @opentelemetry/api from 1.10 (SDK 3.x), a package of its own before.
const { logs, SeverityNumber } = api.logs ? api : require('@opentelemetry/api-logs');

// The SDK reports failed exports through diag, which says nothing until given a logger.
api.diag.setLogger(new api.DiagConsoleLogger(), api.DiagLogLevel.WARN);

const traces = Number(process.env.SPANTOP_TEST_TRACES || 10);
const spansPerTrace = Number(process.env.SPANTOP_TEST_SPANS_PER_TRACE || 10);

const sdk = new NodeSDK();
sdk.start();

const tracer = api.trace.getTracer('spantop-sdk-test');
const logger = logs.getLogger('spantop-sdk-test');
const orders = api.metrics.getMeter('spantop-sdk-test').createCounter('orders.listed');

const traceIds = [];
for (let t = 0; t < traces; t++) {
  tracer.startActiveSpan('GET /orders', { kind: api.SpanKind.SERVER }, (root) => {
    traceIds.push(root.spanContext().traceId);
    for (let i = 1; i < spansPerTrace; i++) {
      tracer.startSpan(`SELECT orders.page${i}`, { kind: api.SpanKind.CLIENT }).end();
    }
    // Emitted in the root span's context: the record carries its trace and span id.
    logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: 'orders listed' });
    orders.add(1, { route: '/orders' });
    root.end();
  });
}

sdk.shutdown().then(
  () => {
    process.stdout.write(JSON.stringify({ traceIds, spansPerTrace }) + '\n');
  },
  (err) => {
    process.stderr.write(`SDK shutdown failed: ${err}\n`);
    process.exitCode = 1;
  },
);
