#!/usr/bin/env node
// A connector written with @grpc/grpc-js, used to prove that outpost-edge
// speaks standard gRPC (tests/integration/test_edge_grpcjs.py).  It opens
// --tunnels Tunnel calls, each on its own HTTP/2 connection, sends the
// unsolicited HealthCheckResponse, answers health and metadata requests, and
// serves HttpRequests itself by URL path:
//   /echo            200, body = request body, x-body-len header
//   /cookies         200 with two Set-Cookie headers
//   /size/N          200 with N bytes of 'x'
//   /slow/MS         200 after MS milliseconds
//   /error/REASON    ErrorResponse "[REASON] simulated", code UPSTREAM_ERROR
//                    (and field 100 when the query has typed=1)
//   anything else    200 JSON {name, tunnel, method, url, headers}
// Every response carries x-tunnel: <index> and x-connector: <name>.
// On START_CLOSE it opens a replacement tunnel first, then ends the drained
// call once its requests are answered (make-before-break).
//
//   node edge_client.js ADDR --name NAME [--tunnels N] [--max N]
//        [--tls --cert c.pem --key c.key --ca ca.pem --server-name localhost]
//
// With --sessions the Tunnel calls advertise outpost-capabilities: sessions
// and serve SessionOpen (spec/sessions.md) by dialling the target with
// net.connect and opening Sessions/Attach on the same channel (the same
// HTTP/2 connection), with the socket's backpressure (pause/resume).
//
// With --stream they advertise stream too and answer an HttpRequest with
// stream_response (spec/streaming.md) on a Responses/Deliver call on the
// same channel, with the call's backpressure, by URL path:
//   /sse/N/MS        head (text/event-stream), N events "data: i" MS ms apart
//   /bytes/N         head (Content-Length N unless ?chunked=1), N bytes of
//                    a repeating pattern (i % 251) in 65536-byte parts
//   /cut             head, "partial", then End{error_reason: reset}
//   /hang            head, "waiting", then nothing until the edge cancels
//                    (the Deliver outcome is then code 1, CANCELLED)
//   /bad/KIND        data_before_head, second_head, too_large (a 65537-byte
//                    part), unknown_id, duplicate (two calls), no_end
// Deliver outcomes are printed: {"event":"deliver","id":...,"code":...}.
//
// With --update they advertise update too (docs/protocol-extensions.md
// "Appliance updates"): an UpdateOffer is printed as {"event":"offer",
// "tunnel":i,"version","arch","size","sha256":hex}; stdin {"cmd":"fetch",
// "tunnel":i,"version","sha256":hex,"offset":N} runs Updates/Fetch on that
// tunnel's channel and prints {"event":"fetched","code","details","first",
// "bytes","sha256":hex of what came,"chunks","max_chunk","contiguous"};
// {"cmd":"report","tunnel":i,"status":{...UpdateStatus}} runs
// Updates/Report and prints {"event":"reported","code","details"}; an
// UpdateReboot is printed as {"event":"update_reboot","tunnel":i,"version"}.
//
// stdin (JSON lines): {"cmd":"mute"} stop answering health checks,
// {"cmd":"unmute"}, {"cmd":"end","tunnel":i} end a call, {"cmd":"quit"}.
// stdout (JSON lines): {"event":"received","tunnel":i,"message":case,...},
// {"event":"end"|"error","tunnel":i,...}.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const argv = process.argv.slice(2);
const addr = argv[0];
const flag = (name, def) => {
  const i = argv.indexOf(name);
  return i > 0 ? argv[i + 1] : def;
};
const name = flag('--name', 'grpcjs');
const nTunnels = Number(flag('--tunnels', '1'));
const maxConcurrent = Number(flag('--max', '100'));
const protoPath = path.resolve(__dirname, '../../../src/proto/connector/v1/connector.proto');
const sessPath = path.resolve(__dirname, '../../../src/proto/outpost/v1/sessions.proto');
const respPath = path.resolve(__dirname, '../../../src/proto/outpost/v1/responses.proto');
const updPath = path.resolve(__dirname, '../../../src/proto/outpost/v1/updates.proto');
const root = grpc.loadPackageDefinition(protoLoader.loadSync([protoPath, sessPath, respPath, updPath], {
  keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: false, oneofs: true,
  includeDirs: [path.resolve(__dirname, '../../../src')],
}));
const pkg = root.connector.v1;
const sessions = argv.includes('--sessions');
const streaming = argv.includes('--stream');
const updates = argv.includes('--update');

let creds = grpc.credentials.createInsecure();
const baseOptions = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  'grpc.use_local_subchannel_pool': 1,
};
if (argv.includes('--tls')) {
  creds = grpc.credentials.createSsl(fs.readFileSync(flag('--ca')),
    fs.readFileSync(flag('--key')), fs.readFileSync(flag('--cert')));
  if (flag('--server-name')) baseOptions['grpc.ssl_target_name_override'] = flag('--server-name');
}

const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let muted = false;
const tunnels = [];

function respond(t, id, status, headers, body) {
  headers.push({ key: 'x-tunnel', value: String(t.index) });
  headers.push({ key: 'x-connector', value: name });
  t.inFlight--;
  t.call.write({ request_id: id, http_response: { http_status: status, headers, body } });
  if (t.draining && t.inFlight === 0) t.call.end();
}

function serve(t, id, r) {
  const u = new URL(r.url);
  const p = u.pathname;
  const body = r.body || Buffer.alloc(0);
  t.inFlight++;
  if (p === '/echo') {
    respond(t, id, 200, [{ key: 'x-body-len', value: String(body.length) }], body);
  } else if (p === '/cookies') {
    respond(t, id, 200, [{ key: 'set-cookie', value: 'a=1; Path=/' },
      { key: 'set-cookie', value: 'b=2; Path=/' }], Buffer.from('cookies\n'));
  } else if (p.startsWith('/size/')) {
    respond(t, id, 200, [{ key: 'content-type', value: 'application/octet-stream' }],
      Buffer.alloc(Number(p.slice(6)), 'x'));
  } else if (p.startsWith('/slow/')) {
    setTimeout(() => respond(t, id, 200, [], Buffer.from('slow\n')), Number(p.slice(6)));
  } else if (p.startsWith('/error/')) {
    const reason = p.slice(7);
    const er = { message: `[${reason}] simulated`, code: 'UPSTREAM_ERROR' };
    if (u.searchParams.get('typed') === '1') er.reason = reason;
    t.inFlight--;
    t.call.write({ request_id: id, error_response: er });
  } else {
    const doc = { name, tunnel: t.index, method: r.method, url: r.url,
      headers: (r.headers || []).map((h) => [h.key, h.value]), body_len: body.length };
    respond(t, id, 200, [{ key: 'content-type', value: 'application/json' }],
      Buffer.from(JSON.stringify(doc)));
  }
}

// One session: the target socket <-> an Attach call on t's channel.
function session(t, o) {
  const net = require('net');
  const md = new grpc.Metadata();
  md.set('outpost-session-id', o.session_id);
  const sc = new root.outpost.v1.Sessions(addr, creds, { channelOverride: t.client.getChannel() });
  const call = sc.Attach(md);
  const sock = net.connect({ host: o.host, port: o.port });
  let up = false;
  print({ event: 'session', id: o.session_id, host: o.host, port: o.port });
  sock.on('connect', () => { up = true; call.write({ result: { ok: true } }); });
  sock.on('data', (d) => { if (!call.write({ data: d })) { sock.pause(); call.once('drain', () => sock.resume()); } });
  sock.on('end', () => call.write({ half_close: true }));
  sock.on('close', () => { if (up) call.end(); });
  sock.on('error', (e) => {
    if (!up) { call.write({ result: { ok: false, reason: 'refused', detail: e.code } }); call.end(); }
    else call.cancel();
  });
  call.on('data', (f) => {
    if (f.frame === 'data' && !sock.write(f.data)) { call.pause(); sock.once('drain', () => call.resume()); }
    else if (f.frame === 'half_close') sock.end();
  });
  call.on('error', () => sock.destroy());
  call.on('status', (s) => print({ event: 'session_status', id: o.session_id, code: s.code }));
}

// One streamed answer on a Deliver call on t's channel.
function deliverCall(t, id, u) {
  const md = new grpc.Metadata();
  md.set('outpost-request-id', id);
  const rc = new root.outpost.v1.Responses(addr, creds, { channelOverride: t.client.getChannel() });
  const call = rc.Deliver(md, (err) => {
    call.stopped = true;
    print({ event: 'deliver', id, path: u.pathname, code: err ? err.code : 0,
      details: err ? err.details : '' });
  });
  call.stopped = false;
  return call;
}

function head(status, headers) {
  return { head: { http_status: status, headers: headers.map(([key, value]) => ({ key, value })) } };
}

// Write parts in order, waiting for 'drain' when the call is full; done()
// after the last.  Stops once the call has ended (the edge cancelled it).
function writeAll(call, next, done) {
  const step = () => {
    for (;;) {
      if (call.stopped) return;
      const part = next();
      if (part === null) { done(); return; }
      if (!call.write(part)) { call.once('drain', step); return; }
    }
  };
  step();
}

function pattern(off, n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (off + i) % 251;
  return b;
}

function streamed(t, id, r) {
  const u = new URL(r.url);
  const p = u.pathname.split('/').filter(Boolean);
  t.inFlight--;
  if (p[0] === 'bad' && p[1] === 'unknown_id') id = 'r999999-1';
  const call = deliverCall(t, id, u);
  const end = () => { call.write({ end: {} }); call.end(); };
  if (p[0] === 'sse') {
    const n = Number(p[1]);
    let i = 0;
    call.write(head(200, [['content-type', 'text/event-stream'], ['cache-control', 'no-cache']]));
    const tick = setInterval(() => {
      if (call.stopped) { clearInterval(tick); return; }
      if (i === n) { clearInterval(tick); end(); return; }
      call.write({ data: Buffer.from(`data: ${i} ${Date.now()}\n\n`) });
      i++;
    }, Number(p[2]));
  } else if (p[0] === 'bytes') {
    const n = Number(p[1]);
    let off = 0;
    const hs = [['content-type', 'application/octet-stream']];
    if (u.searchParams.get('chunked') !== '1') hs.push(['content-length', String(n)]);
    call.write(head(200, hs));
    writeAll(call, () => {
      if (off >= n) return null;
      const k = Math.min(65536, n - off);
      const part = { data: pattern(off, k) };
      off += k;
      return part;
    }, end);
  } else if (p[0] === 'cut') {
    call.write(head(200, [['content-type', 'text/plain']]));
    call.write({ data: Buffer.from('partial') });
    call.write({ end: { error_reason: 'reset', detail: 'upstream reset the connection' } });
    call.end();
  } else if (p[0] === 'hang') {
    call.write(head(200, [['content-type', 'text/plain']]));
    call.write({ data: Buffer.from('waiting') });
  } else if (p[0] === 'bad') {
    const kind = p[1];
    if (kind === 'data_before_head') {
      call.write({ data: Buffer.from('early') });
    } else if (kind === 'second_head') {
      call.write(head(200, []));
      call.write(head(200, []));
    } else if (kind === 'too_large') {
      call.write(head(200, []));
      call.write({ data: Buffer.alloc(65537, 'x') });
    } else if (kind === 'duplicate') {
      call.write(head(200, [['content-type', 'text/plain']]));
      call.write({ data: Buffer.from('first') });
      const again = deliverCall(t, id, new URL(r.url + '?second=1'));
      again.write(head(200, []));
      setTimeout(end, 200); // after the duplicate was refused
      return;
    } else if (kind === 'no_end') {
      call.write(head(200, []));
      call.write({ data: Buffer.from('no end') });
    } else {
      call.write(head(200, []));
    }
    if (kind !== 'unknown_id') call.end();
    else { call.write(head(200, [])); call.end(); }
  } else {
    call.write(head(404, []));
    end();
  }
}

function open(index) {
  const client = new pkg.ConnectorService(addr, creds, { ...baseOptions });
  const tmd = new grpc.Metadata();
  const caps = [];
  if (sessions) caps.push('sessions');
  if (streaming) caps.push('stream');
  if (updates) caps.push('update');
  if (caps.length) tmd.set('outpost-capabilities', caps.join(','));
  const call = client.Tunnel(tmd);
  const t = { index, call, client, inFlight: 0, draining: false };
  tunnels[index] = t;
  call.write({ request_id: `open-${index}`, health_check_response: { unix_millis: String(Date.now()), status: 'healthy' } });
  call.on('data', (m) => {
    if (m.session_open) { session(t, m.session_open); return; }
    if (m.update_reboot) {
      print({ event: 'update_reboot', tunnel: index, version: m.update_reboot.version });
      return;
    }
    if (m.update_offer) {
      const o = m.update_offer;
      print({ event: 'offer', tunnel: index, request_id: m.request_id || '', version: o.version,
        arch: o.arch, size: Number(o.size), sha256: Buffer.from(o.sha256 || []).toString('hex') });
      return;
    }
    const ev = { event: 'received', tunnel: index, message: m.message, request_id: m.request_id };
    if (m.message === 'http_request') {
      ev.method = m.http_request.method;
      ev.url = m.http_request.url;
      ev.body_len = (m.http_request.body || []).length;
      ev.stream_response = !!m.http_request.stream_response;
    }
    print(ev);
    if (m.message === 'http_request' && m.http_request.stream_response) {
      t.inFlight++;
      streamed(t, m.request_id, m.http_request);
    } else if (m.message === 'http_request') {
      serve(t, m.request_id, m.http_request);
    } else if (m.message === 'health_check_request') {
      if (!muted) {
        call.write({ request_id: m.request_id, health_check_response: { unix_millis: m.health_check_request.unix_millis, status: 'healthy' } });
      }
    } else if (m.message === 'metadata_request') {
      call.write({ request_id: m.request_id, metadata_response: {
        connection_uuid: `${name}-${index}-${process.pid}`, hostname: name, max_concurrent_requests: maxConcurrent } });
    } else if (m.message === 'connection_request') {
      t.draining = true;
      open(tunnels.length);
      if (t.inFlight === 0) call.end();
    }
  });
  call.on('error', (e) => print({ event: 'error', tunnel: index, code: e.code, details: e.details }));
  call.on('end', () => print({ event: 'end', tunnel: index }));
  call.on('status', (s) => print({ event: 'status', tunnel: index, code: s.code, details: s.details }));
}

// Updates/Fetch on t's channel: what came, checked for contiguity.
function fetch(t, c) {
  const uc = new root.outpost.v1.Updates(addr, creds, { channelOverride: t.client.getChannel() });
  const want = Number(c.offset || 0);
  const h = require('crypto').createHash('sha256');
  let next = want, bytes = 0, chunks = 0, maxChunk = 0, contiguous = true, first = null;
  const call = uc.Fetch({ version: c.version, sha256: Buffer.from(c.sha256, 'hex'), offset: String(want) });
  call.on('data', (ch) => {
    const off = Number(ch.offset || 0);
    if (first === null) first = off;
    if (off !== next) contiguous = false;
    next = off + ch.data.length;
    bytes += ch.data.length;
    chunks++;
    maxChunk = Math.max(maxChunk, ch.data.length);
    h.update(ch.data);
  });
  call.on('error', () => {});
  call.on('status', (st) => print({ event: 'fetched', code: st.code, details: st.details, first, bytes,
    sha256: h.digest('hex'), chunks, max_chunk: maxChunk, contiguous }));
}

function report(t, c) {
  const uc = new root.outpost.v1.Updates(addr, creds, { channelOverride: t.client.getChannel() });
  uc.Report(c.status || {}, (err) => print({ event: 'reported', code: err ? err.code : 0,
    details: err ? err.details : '' }));
}

for (let i = 0; i < nTunnels; i++) open(i);

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let c;
  try { c = JSON.parse(line); } catch (e) { return; }
  if (c.cmd === 'mute') muted = true;
  else if (c.cmd === 'unmute') muted = false;
  else if (c.cmd === 'end' && tunnels[c.tunnel]) tunnels[c.tunnel].call.end();
  else if (c.cmd === 'quit') process.exit(0);
  else if (c.cmd === 'fetch' && tunnels[c.tunnel || 0]) fetch(tunnels[c.tunnel || 0], c);
  else if (c.cmd === 'report' && tunnels[c.tunnel || 0]) report(tunnels[c.tunnel || 0], c);
  print({ event: 'reply', cmd: c.cmd });
}).on('close', () => process.exit(0));
