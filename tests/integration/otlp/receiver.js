// An OTLP/HTTP receiver for outpost's integration tests.  It decodes every
// export with protobufjs from outpost's own .proto files (src/proto/), in
// both encodings (http/protobuf and http/json), and appends one JSON line
// per request to --out:
//   {"signal":"metrics","path":"/v1/metrics","content_type":"...",
//    "headers":{...},"raw_b64":"...","body":{...decoded...},"status":200,
//    "conn":PORT}
// (conn: the client's port, which names the connection the request came on)
// The decoded body is protobufjs's toObject() with 64-bit integers as
// strings, enums as numbers and bytes as lowercase hex, so both encodings
// give the same object.  A request that does not decode is answered 400
// and recorded with "error".
//
// Behaviour (flags, and POST /control with a JSON object of the same
// names): --status N (answer N instead of 200), --retry-after S (header on
// non-2xx answers), --delay-ms N (answer that late).  TLS with --cert and
// --key (PEM files), and --client-ca (PEM) to require client certificates
// that chain to it (the record then names the peer's subjectaltname).
// Prints "listening PORT" once ready.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const protobuf = require('protobufjs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

const behaviour = {
  status: Number(args.status || 200),
  retry_after: args['retry-after'],
  delay_ms: Number(args['delay-ms'] || 0),
};

const protoRoot = path.resolve(__dirname, '../../../src');
const root = new protobuf.Root();
root.resolvePath = (origin, target) =>
  path.isAbsolute(target) ? target : path.join(protoRoot, target);
const services = {
  metrics: ['proto/opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
    'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'],
  logs: ['proto/opentelemetry/proto/collector/logs/v1/logs_service.proto',
    'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'],
  traces: ['proto/opentelemetry/proto/collector/trace/v1/trace_service.proto',
    'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'],
};
const types = {};
for (const [signal, [file, name]] of Object.entries(services)) {
  if (!fs.existsSync(path.join(protoRoot, file)))
    continue;
  root.loadSync(path.join(protoRoot, file));
  types[signal] = root.lookupType(name);
}

const HEX_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

// OTLP JSON carries ids as hex: protobufjs reads bytes as base64.
function hexToBase64(v) {
  if (Array.isArray(v))
    return v.map(hexToBase64);
  if (v === null || typeof v !== 'object')
    return v;
  const out = {};
  for (const [k, x] of Object.entries(v))
    out[k] = HEX_FIELDS.has(k) && typeof x === 'string'
      ? Buffer.from(x, 'hex').toString('base64') : hexToBase64(x);
  return out;
}

// toObject gives bytes as base64: show them as hex, as OTLP JSON does.
function bytesToHex(v) {
  if (Array.isArray(v))
    return v.map(bytesToHex);
  if (v === null || typeof v !== 'object')
    return v;
  const out = {};
  for (const [k, x] of Object.entries(v))
    out[k] = HEX_FIELDS.has(k) && typeof x === 'string'
      ? Buffer.from(x, 'base64').toString('hex') : bytesToHex(x);
  return out;
}

// Every JSON key must name a field of the message (the protobuf JSON
// mapping's lowerCamelCase names): fromObject() alone ignores unknown ones.
// (Message.verify() is stricter than the mapping: it refuses 64-bit
// integers as decimal strings, which the mapping prescribes.)
function checkKeys(type, obj, where) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
    throw new Error('json: ' + where + ' is not an object');
  for (const [k, v] of Object.entries(obj)) {
    const f = type.fields[k];
    if (!f)
      throw new Error('json: ' + where + '.' + k + ': no such field');
    f.resolve();
    if (!f.resolvedType || !f.resolvedType.fields)
      continue;
    for (const x of f.repeated ? v : [v])
      checkKeys(f.resolvedType, x, where + '.' + k);
  }
}

function decode(type, contentType, raw) {
  let msg;
  if (contentType.startsWith('application/json')) {
    const obj = JSON.parse(raw.toString('utf8'));
    checkKeys(type, obj, type.name);
    msg = type.fromObject(hexToBase64(obj));
  } else if (contentType.startsWith('application/x-protobuf')) {
    msg = type.decode(raw);
  } else {
    throw new Error('unexpected content-type ' + contentType);
  }
  return bytesToHex(type.toObject(msg, {longs: String, enums: Number, bytes: String}));
}

const out = fs.openSync(args.out, 'a');

function record(obj) {
  fs.writeSync(out, JSON.stringify(obj) + '\n');
}

function answer(res, status, contentType) {
  const headers = {'Content-Type': contentType.startsWith('application/json')
    ? 'application/json' : 'application/x-protobuf'};
  if (status >= 300 && behaviour.retry_after !== undefined)
    headers['Retry-After'] = String(behaviour.retry_after);
  res.writeHead(status, headers);
  res.end(contentType.startsWith('application/json') ? '{}' : '');
}

function handle(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    if (req.url === '/control') {
      Object.assign(behaviour, JSON.parse(raw.toString('utf8')));
      res.writeHead(204);
      res.end();
      return;
    }
    const m = /^\/(?:.*\/)?v1\/(metrics|logs|traces)$/.exec(req.url);
    const signal = m ? m[1] : null;
    const ct = req.headers['content-type'] || '';
    const rec = {signal, path: req.url, method: req.method, content_type: ct,
      headers: req.headers, raw_b64: raw.toString('base64'),
      status: behaviour.status, ts: Date.now(),
      conn: req.socket.remotePort};
    if (req.socket.getPeerCertificate)
      rec.client_cert = req.socket.getPeerCertificate().subjectaltname || null;
    let status = behaviour.status;
    try {
      if (!signal || !types[signal])
        throw new Error('no such signal path ' + req.url);
      rec.body = decode(types[signal], ct, raw);
    } catch (e) {
      rec.error = String(e.message || e);
      status = 400;
      rec.status = status;
    }
    record(rec);
    setTimeout(() => answer(res, status, ct), behaviour.delay_ms);
  });
}

const tls = args['client-ca']
  ? {ca: fs.readFileSync(args['client-ca']), requestCert: true, rejectUnauthorized: true}
  : {};
const server = args.cert
  ? https.createServer({cert: fs.readFileSync(args.cert),
    key: fs.readFileSync(args.key), ...tls}, handle)
  : http.createServer(handle);
server.listen(Number(args.port || 0), '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});
