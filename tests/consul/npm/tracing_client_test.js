// Instrumented HTTP clients from npm make one traced request each to a Conclave node and print
// what they sent, as one JSON line, for tests/integration/test_tracing.py to check against the
// node's Zipkin read API:
//   - OpenTelemetry JS (W3C traceparent through its W3CTraceContextPropagator),
//   - zipkin-js (B3 multi-header through its HttpClient instrumentation).
// Usage: node tracing_client_test.js HOST:PORT
'use strict';
const http = require('http');
const otel = require('@opentelemetry/api');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const zipkin = require('zipkin');

const [host, port] = process.argv[2].split(':');

function request(method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), method, path, headers }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

async function viaOpenTelemetry() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider();
  provider.addSpanProcessor(new SimpleSpanProcessor(exporter));
  const tracer = provider.getTracer('orders');
  const span = tracer.startSpan('put config', { kind: otel.SpanKind.CLIENT });
  const ctx = otel.trace.setSpan(otel.ROOT_CONTEXT, span);
  const headers = {};
  new W3CTraceContextPropagator().inject(ctx, headers, otel.defaultTextMapSetter);
  const res = await request('PUT', '/v1/kv/npm/otel', headers, 'v');
  span.end();
  const sc = span.spanContext();
  return { traceId: sc.traceId, spanId: sc.spanId, sent: headers, status: res.status,
           traceresponse: res.headers.traceresponse || '', finished: exporter.getFinishedSpans().length };
}

async function viaZipkinJs() {
  const records = [];
  const tracer = new zipkin.Tracer({
    ctxImpl: new zipkin.ExplicitContext(),
    recorder: { record: (r) => records.push(r) },
    localServiceName: 'orders',
    supportsJoin: false,
  });
  const instrumentation = new zipkin.Instrumentation.HttpClient({ tracer, remoteServiceName: 'conclave' });
  return tracer.scoped(async () => {
    const opts = instrumentation.recordRequest({ headers: {} }, `http://${host}:${port}/v1/kv/npm/zipkin`, 'GET');
    const traceId = tracer.id;
    const res = await request('GET', '/v1/kv/npm/zipkin', opts.headers);
    instrumentation.recordResponse(traceId, String(res.status));
    return { traceId: traceId.traceId, spanId: traceId.spanId, sent: opts.headers, status: res.status,
             xTraceId: res.headers['x-trace-id'] || '', records: records.length };
  });
}

(async () => {
  const out = { otel: await viaOpenTelemetry(), zipkin: await viaZipkinJs() };
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
