#!/usr/bin/env node
// An outpost.v1.Enrollment client written with @grpc/grpc-js, used to prove
// that outpost-edge's enrolment service speaks standard gRPC
// (tests/integration/test_enroll_edge.py).  Library defaults throughout.
//
//   node enroll_client.js ADDR --ca ca.pem [--cert c.pem --key c.key]
//        [--server-name localhost]
//
// One channel for the life of the process.  stdin: JSON lines
//   {"method":"Enroll"|"Pair"|"PairPoll"|"Renew","request":{...}}
//       bytes fields (csr) as base64
//   {"method":"Tunnel"}   opens ConnectorService/Tunnel and reports how it ends
// stdout: one JSON line per request:
//   {"ok":true,"response":{...}}  bytes fields as base64
//   {"ok":false,"code":N,"details":"..."}
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const argv = process.argv.slice(2);
const addr = argv[0];
const flag = (name) => {
  const i = argv.indexOf(name);
  return i > 0 ? argv[i + 1] : undefined;
};
const protoDir = path.resolve(__dirname, '../../../src/proto');
const load = (file) => grpc.loadPackageDefinition(protoLoader.loadSync(
  path.join(protoDir, file), {
    keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true,
  includeDirs: [path.resolve(__dirname, '../../../src')],
  }));
const enrollPkg = load('outpost/v1/enrollment.proto').outpost.v1;
const tunnelPkg = load('connector/v1/connector.proto').connector.v1;

const creds = grpc.credentials.createSsl(fs.readFileSync(flag('--ca')),
  flag('--key') ? fs.readFileSync(flag('--key')) : null,
  flag('--cert') ? fs.readFileSync(flag('--cert')) : null);
const options = {};
if (flag('--server-name')) options['grpc.ssl_target_name_override'] = flag('--server-name');
const enroll = new enrollPkg.Enrollment(addr, creds, options);
const tunnels = new tunnelPkg.ConnectorService(addr, creds, options);

const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (err) => print({ ok: false, code: err.code, details: err.details });

function toJSON(v) {
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (Array.isArray(v)) return v.map(toJSON);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = toJSON(v[k]);
    return o;
  }
  return v;
}

function unary(method, request) {
  const rq = Object.assign({}, request);
  if (typeof rq.csr === 'string') rq.csr = Buffer.from(rq.csr, 'base64');
  enroll[method](rq, { deadline: Date.now() + 10000 }, (err, resp) => {
    if (err) fail(err);
    else print({ ok: true, response: toJSON(resp) });
  });
}

function tunnel() {
  const call = tunnels.Tunnel({ deadline: Date.now() + 10000 });
  let done = false;
  const end = (o) => { if (!done) { done = true; print(o); } };
  call.on('data', (m) => { end({ ok: true, response: { message: m.message } }); call.cancel(); });
  call.on('error', (err) => end({ ok: false, code: err.code, details: err.details }));
  call.on('end', () => end({ ok: true, response: {} }));
  call.write({ health_check_response: {} });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = JSON.parse(line);
  if (cmd.method === 'Tunnel') tunnel();
  else unary(cmd.method, cmd.request || {});
});
rl.on('close', () => { enroll.close(); tunnels.close(); });
