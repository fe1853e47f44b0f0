#!/usr/bin/env node
// Independent connector.v1 controller for integration tests, written with
// @grpc/grpc-js and @grpc/proto-loader against the SAME .proto file that
// outpost compiles (src/proto/connector/v1/connector.proto).
//
// Usage:
//   node controller.js [--port N] [--host 127.0.0.1]
//                      [--tls --cert server.pem --key server.key --ca ca.pem]
//                      [--max-message BYTES] [--proto PATH]
// Without --tls it serves h2c (HTTP/2 cleartext, prior knowledge).
//
// Control channel: JSON lines on stdin (commands), JSON lines on stdout
// (events).  Nothing else is ever written to stdout.
//
// Events:
//   {"event":"listening","port":N,"tls":bool}
//   {"event":"tunnel_open","tunnel":N,"peer":"ip:port","uris":[...],"cn":"...",
//    "capabilities":[...],   (the outpost-capabilities request header values)
//    "connector_id":[...]}   (the x-traversal-connector-id values)
//   {"event":"message","tunnel":N,"msg":{ConnectorMessage as JSON}}
//   {"event":"tunnel_closed","tunnel":N,"why":"cancelled"|"ended"|"error: ..."}
//   {"event":"reply","id":ID,"ok":true|false,...}   (one per command)
// Messages use proto3 JSON-ish objects from proto-loader: snake_case field
// names, bytes as base64 strings, enums as names, 64-bit ints as strings,
// and "message" naming the oneof case that is set.
//
// Commands (each may carry "id", echoed in its reply):
//   {"cmd":"list"}                            -> reply.tunnels [{tunnel,peer,open,received}]
//   {"cmd":"send","tunnel":N,"msg":{...}}     send a ControllerMessage on tunnel N
//                                             (N may be "any": the oldest open one)
//   {"cmd":"http","tunnel":N,"request_id":R,"method":M,"url":U,
//    "headers":[[k,v],...],"body_b64":B}      shorthand for an HttpRequest
//   {"cmd":"start_close","tunnel":N,"request_id":R}
//   {"cmd":"health","tunnel":N,"request_id":R}
//   {"cmd":"metadata","tunnel":N,"request_id":R}
//   {"cmd":"close","tunnel":N[,"code":C,"details":D]}  end the call (OK or status C)
//   {"cmd":"shutdown"}                        graceful: GOAWAY, let calls finish
//   {"cmd":"stop"}                            force shutdown and exit 0
//
// Sessions (spec/sessions.md; outpost.v1.Sessions/Attach served here):
//   {"cmd":"session_open","tunnel":N,"session":S,"host":H,"port":P
//    [,"connect_timeout_ms":T,"idle_timeout_s":I]}  SessionOpen on tunnel N
//   {"cmd":"session_send","session":S,"data_b64":B[,"repeat":K]}
//                                             data frames (<= 64 KiB each), B K times
//   {"cmd":"session_half_close","session":S}  a half_close frame
//   {"cmd":"session_end","session":S[,"code":C,"details":D]}  end the call
//   {"cmd":"session_pause"|"session_resume","session":S}  stop/start reading
//   {"cmd":"session_stat","session":S}        -> reply: bytes, sha256, frames,
//                                                half_closed, result, ended
//   {"cmd":"session_read","session":S}        -> reply.data_b64 (and forget it; the
//                                                first 16 MiB are kept, the rest only counted)
// Session events:
//   {"event":"attach","session":S,"headers":[ids]}  an Attach call arrived
//   {"event":"session_result","session":S,"result":{ok,reason,detail}}
//   {"event":"session_half_close","session":S,"bytes":N}
//   {"event":"session_end","session":S,"why":"ended"|"cancelled"|"error: ...",
//    "bytes":N,"sha256":H,"half_closed":bool}
//
// Streamed responses (spec/streaming.md; outpost.v1.Responses/Deliver served
// here with grpc-js's default behaviour: DeliverAck and status OK once the
// connector half-closes):
//   {"cmd":"http",...,"stream":true}           the HttpRequest asks stream_response
//   {"cmd":"deliver_cancel","request_id":R}   end the call now (status CANCELLED)
//   {"cmd":"deliver_pause"|"deliver_resume","request_id":R}  stop/start reading
//   {"cmd":"deliver_stat","request_id":R}     -> reply: the deliver_end fields so far
//   {"cmd":"deliver_read","request_id":R}     -> reply.data_b64 (the first 16 MiB kept)
// Deliver events:
//   {"event":"deliver_open","request_id":R,"headers":[ids]}
//   {"event":"deliver_head","request_id":R,"head":{HttpResponse}}
//   {"event":"deliver_data","request_id":R,"n":N,"bytes":TOTAL,"t_ms":MS}  (per part)
//   {"event":"deliver_end","request_id":R,"why":"ended"|"cancelled"|"error: ...",
//    "end":{error_reason,detail}|null,"bytes":N,"sha256":H,"parts":P,"min_part":A,
//    "max_part":B,"violations":[what broke the spec's part order or sizes]}
//
// Appliance updates (docs/protocol-extensions.md "Appliance updates";
// outpost.v1.Updates/Fetch and Report served here, grpc-js defaults):
//   {"cmd":"update_offer","tunnel":N,"version":V,"arch":A,"size":S,"sha256_hex":H}
//                                             ControllerMessage.update_offer on tunnel N
//   {"cmd":"update_serve","file":F,"version":V,"sha256_hex":H[,"drop_after":B]}
//                                             Fetch streams F (65536-byte chunks, from the
//                                             request's offset) for V+H, NOT_FOUND for others;
//                                             with drop_after the first call ends UNAVAILABLE
//                                             once it has sent at least B bytes
//   {"cmd":"update_report_unimplemented"}     Report answers UNIMPLEMENTED from now on
//   {"cmd":"update_reboot","tunnel":N,"version":V}
//                                             ControllerMessage.update_reboot on tunnel N
// Update events:
//   {"event":"update_fetch","version":V,"offset":O}
//   {"event":"update_fetch_end","why":"ended"|"dropped"|"not_found"|"out_of_range"|"cancelled","sent":N}
//   {"event":"update_report","status":{UpdateStatus}}
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function parseArgs(argv) {
  const o = {
    port: 0,
    host: '127.0.0.1',
    tls: false,
    maxMessage: 64 * 1024 * 1024,
    proto: path.resolve(__dirname, '../../../src/proto/connector/v1/connector.proto'),
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--host') o.host = next();
    else if (a === '--tls') o.tls = true;
    else if (a === '--cert') o.cert = next();
    else if (a === '--key') o.key = next();
    else if (a === '--ca') o.ca = next();
    else if (a === '--max-message') o.maxMessage = Number(next());
    else if (a === '--proto') o.proto = path.resolve(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.tls && !(o.cert && o.key && o.ca)) throw new Error('--tls needs --cert, --key and --ca');
  return o;
}

const opts = parseArgs(process.argv);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const loaderOptions = {
  keepCase: true,
  longs: String,
  enums: String,
  bytes: String,
  defaults: false,
  oneofs: true,
  // connector.proto imports "proto/outpost/v1/sessions.proto" (protoc's
  // --proto_path is src/, as in the Makefile).
  includeDirs: [path.resolve(__dirname, '../../../src')],
};
const pkgDef = protoLoader.loadSync(
  [opts.proto, path.resolve(__dirname, '../../../src/proto/outpost/v1/responses.proto'),
   path.resolve(__dirname, '../../../src/proto/outpost/v1/updates.proto')],
  loaderOptions);
const loaded = grpc.loadPackageDefinition(pkgDef);
const proto = loaded.connector.v1;
const sessionsProto = loaded.outpost.v1;

const tunnels = new Map(); // id -> {call, peer, open, received}
let nextTunnel = 1;

// Client identity from the TLS session, when grpc-js exposes it.
function peerIdentity(call) {
  const out = { uris: [], cn: '' };
  try {
    const auth = typeof call.getAuthContext === 'function' ? call.getAuthContext() : null;
    const cert = auth && auth.sslPeerCertificate;
    if (cert) {
      out.cn = (cert.subject && cert.subject.CN) || '';
      for (const part of String(cert.subjectaltname || '').split(', ')) {
        if (part.startsWith('URI:')) out.uris.push(part.slice(4));
      }
    }
  } catch (e) {
    // No identity available: leave it empty.
  }
  return out;
}

function tunnelHandler(call) {
  const id = nextTunnel++;
  const t = { call, peer: call.getPeer(), open: true, received: 0 };
  tunnels.set(id, t);
  const ident = peerIdentity(call);
  emit({ event: 'tunnel_open', tunnel: id, peer: t.peer, uris: ident.uris, cn: ident.cn,
         capabilities: call.metadata.get('outpost-capabilities'),
         connector_id: call.metadata.get('x-traversal-connector-id') });
  // No sendMetadata here: grpc-js (like grpc-go) sends response headers
  // lazily, with the first message, and connectors must cope with that.
  const closed = (why) => {
    if (!t.open) return;
    t.open = false;
    emit({ event: 'tunnel_closed', tunnel: id, why });
  };
  call.on('data', (msg) => {
    t.received++;
    emit({ event: 'message', tunnel: id, msg });
  });
  call.on('end', () => {
    closed('ended');
    // The connector half-closed: finish our side too.
    try {
      call.end();
    } catch (e) {
      // Already ended.
    }
  });
  call.on('cancelled', () => closed('cancelled'));
  call.on('error', (e) => closed(`error: ${e.message}`));
  call.on('close', () => closed('closed'));
}

const sessions = new Map(); // session id -> {call, bytes, hash, chunks, ...}
const KEEP_MAX = 16 * 1024 * 1024; // data kept for session_read; beyond: counted and hashed

function sessionStat(s) {
  return { bytes: s.bytes, sha256: s.hash.copy().digest('hex'), frames: s.frames,
           half_closed: s.halfClosed, result: s.result, ended: s.ended };
}

function attachHandler(call) {
  const ids = call.metadata.get('outpost-session-id');
  const id = String(ids[0] || '');
  const s = { call, bytes: 0, hash: crypto.createHash('sha256'), chunks: [], kept: 0, frames: 0,
              halfClosed: false, result: null, ended: null };
  sessions.set(id, s);
  emit({ event: 'attach', session: id, headers: ids });
  const ended = (why) => {
    if (s.ended) return;
    s.ended = why;
    emit(Object.assign({ event: 'session_end', session: id, why }, sessionStat(s)));
  };
  call.on('data', (f) => {
    s.frames++;
    if (f.frame === 'result') {
      // proto3 defaults are omitted by the loader (defaults: false).
      s.result = { ok: !!f.result.ok, reason: f.result.reason || '', detail: f.result.detail || '' };
      emit({ event: 'session_result', session: id, result: s.result });
    } else if (f.frame === 'data') {
      const b = Buffer.from(f.data, 'base64');
      s.bytes += b.length;
      s.hash.update(b);
      if (s.kept + b.length <= KEEP_MAX) {
        s.chunks.push(b);
        s.kept += b.length;
      }
    } else if (f.frame === 'half_close') {
      s.halfClosed = true;
      emit({ event: 'session_half_close', session: id, bytes: s.bytes });
    }
  });
  call.on('end', () => {
    ended('ended');
    try {
      call.end(); // the connector ended its side: finish ours (status OK)
    } catch (e) {
      // Already ended.
    }
  });
  call.on('cancelled', () => ended('cancelled'));
  call.on('error', (e) => ended(`error: ${e.message}`));
  call.on('close', () => ended('closed'));
}

const delivers = new Map(); // request id -> {call, bytes, hash, chunks, ...}

function deliverStat(d) {
  return { bytes: d.bytes, sha256: d.hash.copy().digest('hex'), parts: d.parts,
           min_part: d.minPart, max_part: d.maxPart, end: d.end, head: d.head,
           violations: d.violations, ended: d.ended };
}

// The spec's order: head first, exactly once; data of 1 .. 65536 bytes;
// end last, exactly once.  What breaks it is recorded, never fixed up.
function deliverPart(d, id, p) {
  if (d.end) d.violations.push(`${p.part} after end`);
  if (p.part === 'head') {
    if (d.head) d.violations.push('second head');
    d.head = p.head;
    emit({ event: 'deliver_head', request_id: id, head: p.head });
  } else if (p.part === 'data') {
    const b = Buffer.from(p.data || '', 'base64');
    if (!d.head) d.violations.push('data before head');
    if (b.length < 1 || b.length > 65536) d.violations.push(`data part of ${b.length} bytes`);
    d.parts++;
    d.bytes += b.length;
    d.minPart = d.minPart === null ? b.length : Math.min(d.minPart, b.length);
    d.maxPart = Math.max(d.maxPart, b.length);
    d.hash.update(b);
    if (d.kept + b.length <= KEEP_MAX) {
      d.chunks.push(b);
      d.kept += b.length;
    }
    emit({ event: 'deliver_data', request_id: id, n: b.length, bytes: d.bytes, t_ms: Date.now() });
  } else if (p.part === 'end') {
    if (!d.head) d.violations.push('end before head');
    // proto3 defaults are omitted by the loader (defaults: false).
    d.end = { error_reason: p.end.error_reason || '', detail: p.end.detail || '' };
  } else {
    d.violations.push('empty part');
  }
}

function deliverHandler(call, callback) {
  const ids = call.metadata.get('outpost-request-id');
  const id = String(ids[0] || '');
  const d = { call, callback, bytes: 0, hash: crypto.createHash('sha256'), chunks: [], kept: 0,
              parts: 0, minPart: null, maxPart: 0, head: null, end: null, violations: [],
              ended: null };
  delivers.set(id, d);
  emit({ event: 'deliver_open', request_id: id, headers: ids });
  const ended = (why) => {
    if (d.ended) return;
    d.ended = why;
    emit(Object.assign({ event: 'deliver_end', request_id: id, why }, deliverStat(d)));
  };
  d.finish = ended;
  call.on('data', (p) => deliverPart(d, id, p));
  call.on('end', () => {
    if (!d.end) d.violations.push('half-closed without end');
    ended('ended');
    callback(null, {}); // DeliverAck, status OK
  });
  call.on('cancelled', () => ended('cancelled'));
  call.on('error', (e) => ended(`error: ${e.message}`));
}

const updates = { serve: null, dropped: false, reportUnimplemented: false };

function fetchHandler(call) {
  const q = call.request;
  const off = Number(q.offset || 0);
  const sv = updates.serve;
  emit({ event: 'update_fetch', version: q.version, offset: off });
  const done = (why, sent) => emit({ event: 'update_fetch_end', why, sent });
  if (!sv || q.version !== sv.version ||
      Buffer.from(q.sha256 || '', 'base64').toString('hex') !== sv.sha256_hex) {
    call.emit('error', { code: grpc.status.NOT_FOUND, details: 'not offered' });
    return done('not_found', 0);
  }
  const data = fs.readFileSync(sv.file);
  if (off >= data.length) {
    call.emit('error', { code: grpc.status.OUT_OF_RANGE, details: 'offset' });
    return done('out_of_range', 0);
  }
  const drop = sv.drop_after !== undefined && !updates.dropped;
  let pos = off;
  let sent = 0;
  let over = false;
  call.on('cancelled', () => { if (!over) { over = true; done('cancelled', sent); } });
  const pump = () => {
    while (!over && pos < data.length) {
      if (drop && sent >= sv.drop_after) {
        updates.dropped = true;
        over = true;
        call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'dropped by the test' });
        return done('dropped', sent);
      }
      const n = Math.min(65536, data.length - pos);
      const ok = call.write({ offset: String(pos), data: data.subarray(pos, pos + n) });
      pos += n;
      sent += n;
      if (!ok) return call.once('drain', pump);
    }
    if (!over) {
      over = true;
      call.end();
      done('ended', sent);
    }
  };
  pump();
}

function reportHandler(call, callback) {
  emit({ event: 'update_report', status: call.request });
  if (updates.reportUnimplemented) {
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'no reports here' });
    return;
  }
  callback(null, {});
}

function pickDeliver(id) {
  const d = delivers.get(String(id));
  if (!d) throw new Error(`no Deliver call for ${id}`);
  return d;
}

function pickSession(id) {
  const s = sessions.get(String(id));
  if (!s) throw new Error(`no session ${id}`);
  return s;
}

function pickTunnel(which) {
  if (which === undefined || which === 'any') {
    for (const [id, t] of tunnels) if (t.open) return [id, t];
    throw new Error('no open tunnel');
  }
  const t = tunnels.get(Number(which));
  if (!t) throw new Error(`no tunnel ${which}`);
  if (!t.open) throw new Error(`tunnel ${which} is closed`);
  return [Number(which), t];
}

function send(which, msg) {
  const [id, t] = pickTunnel(which);
  t.call.write(msg);
  return { tunnel: id };
}

const server = new grpc.Server({
  'grpc.max_receive_message_length': opts.maxMessage,
  'grpc.max_send_message_length': opts.maxMessage,
});

const commands = {
  list() {
    const list = [];
    for (const [id, t] of tunnels) list.push({ tunnel: id, peer: t.peer, open: t.open, received: t.received });
    return { tunnels: list };
  },
  send(c) {
    return send(c.tunnel, c.msg);
  },
  http(c) {
    const headers = (c.headers || []).map(([key, value]) => ({ key, value }));
    return send(c.tunnel, {
      request_id: c.request_id,
      http_request: { method: c.method, url: c.url, headers, body: c.body_b64 || '',
                      stream_response: !!c.stream },
    });
  },
  start_close(c) {
    return send(c.tunnel, {
      request_id: c.request_id || '',
      connection_request: { action: 'ACTION_START_CLOSE' },
    });
  },
  health(c) {
    return send(c.tunnel, {
      request_id: c.request_id || '',
      health_check_request: { unix_millis: String(Date.now()) },
    });
  },
  metadata(c) {
    return send(c.tunnel, { request_id: c.request_id || '', metadata_request: {} });
  },
  close(c) {
    const [id, t] = pickTunnel(c.tunnel);
    if (!c.code) t.call.end();
    else t.call.emit('error', { code: c.code, details: c.details || '' });
    return { tunnel: id };
  },
  session_open(c) {
    const so = { session_id: c.session, host: c.host, port: c.port };
    if (c.connect_timeout_ms) so.connect_timeout_ms = c.connect_timeout_ms;
    if (c.idle_timeout_s) so.idle_timeout_s = c.idle_timeout_s;
    return send(c.tunnel, { request_id: '', session_open: so });
  },
  session_send(c) {
    const s = pickSession(c.session);
    const b = Buffer.from(c.data_b64 || '', 'base64');
    let n = 0;
    for (let k = 0; k < (c.repeat || 1); k++) {
      for (let off = 0; off < b.length; off += 65536) {
        s.call.write({ data: b.subarray(off, off + 65536) });
        n++;
      }
    }
    return { frames: n };
  },
  session_half_close(c) {
    pickSession(c.session).call.write({ half_close: true });
    return {};
  },
  session_end(c) {
    const s = pickSession(c.session);
    if (!c.code) s.call.end();
    else s.call.emit('error', { code: c.code, details: c.details || '' });
    return {};
  },
  session_pause(c) {
    pickSession(c.session).call.pause();
    return {};
  },
  session_resume(c) {
    pickSession(c.session).call.resume();
    return {};
  },
  session_stat(c) {
    return sessionStat(pickSession(c.session));
  },
  session_read(c) {
    const s = pickSession(c.session);
    const b = Buffer.concat(s.chunks);
    s.chunks = [];
    s.kept = 0;
    return { data_b64: b.toString('base64') };
  },
  deliver_cancel(c) {
    const d = pickDeliver(c.request_id);
    d.callback({ code: grpc.status.CANCELLED, details: 'the client went away' });
    d.finish('cancelled_by_controller');
    return {};
  },
  deliver_pause(c) {
    pickDeliver(c.request_id).call.pause();
    return {};
  },
  deliver_resume(c) {
    pickDeliver(c.request_id).call.resume();
    return {};
  },
  deliver_stat(c) {
    return deliverStat(pickDeliver(c.request_id));
  },
  deliver_read(c) {
    const d = pickDeliver(c.request_id);
    const b = Buffer.concat(d.chunks);
    d.chunks = [];
    d.kept = 0;
    return { data_b64: b.toString('base64') };
  },
  update_offer(c) {
    const offer = { version: c.version, arch: c.arch, size: String(c.size),
                    sha256: Buffer.from(c.sha256_hex, 'hex').toString('base64') };
    return send(c.tunnel, { request_id: '', update_offer: offer });
  },
  update_reboot(c) {
    return send(c.tunnel, { request_id: '', update_reboot: { version: c.version } });
  },
  update_serve(c) {
    updates.serve = { file: c.file, version: c.version, sha256_hex: c.sha256_hex,
                      drop_after: c.drop_after };
    updates.dropped = false;
    return {};
  },
  update_report_unimplemented() {
    updates.reportUnimplemented = true;
    return {};
  },
  shutdown() {
    server.tryShutdown(() => emit({ event: 'shutdown_complete' }));
    return {};
  },
  stop() {
    server.forceShutdown();
    setImmediate(() => process.exit(0));
    return {};
  },
};

function onLine(line) {
  if (!line.trim()) return;
  let c;
  try {
    c = JSON.parse(line);
  } catch (e) {
    emit({ event: 'reply', ok: false, error: `bad JSON: ${e.message}` });
    return;
  }
  const fn = commands[c.cmd];
  try {
    if (!fn) throw new Error(`unknown command ${c.cmd}`);
    emit(Object.assign({ event: 'reply', id: c.id, cmd: c.cmd, ok: true }, fn(c)));
  } catch (e) {
    emit({ event: 'reply', id: c.id, cmd: c.cmd, ok: false, error: e.message });
  }
}

function credentials() {
  if (!opts.tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    fs.readFileSync(opts.ca),
    [{ private_key: fs.readFileSync(opts.key), cert_chain: fs.readFileSync(opts.cert) }],
    true, // client certificate required and verified
  );
}

server.addService(proto.ConnectorService.service, { Tunnel: tunnelHandler });
server.addService(sessionsProto.Sessions.service, { Attach: attachHandler });
server.addService(sessionsProto.Responses.service, { Deliver: deliverHandler });
server.addService(sessionsProto.Updates.service, { Fetch: fetchHandler, Report: reportHandler });
server.bindAsync(`${opts.host}:${opts.port}`, credentials(), (err, port) => {
  if (err) {
    process.stderr.write(`controller: bind failed: ${err.message}\n`);
    process.exit(1);
  }
  emit({ event: 'listening', port, tls: opts.tls });
});

readline.createInterface({ input: process.stdin }).on('line', onLine).on('close', () => {
  server.forceShutdown();
  process.exit(0);
});
