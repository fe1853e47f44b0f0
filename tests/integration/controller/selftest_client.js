#!/usr/bin/env node
// A minimal connector written with grpc-js, used only to prove the test
// controller works (test_controller_selftest.py).  It opens one Tunnel,
// sends the unsolicited HealthCheckResponse, echoes every HttpRequest as an
// HttpResponse (status 200, same body, header x-echo-method), answers
// health and metadata requests, and on START_CLOSE ends its stream.
// Every ControllerMessage it receives is printed as a JSON line.
//
//   node selftest_client.js ADDR [--tls --cert c.pem --key c.key --ca ca.pem
//                                 --server-name localhost]
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const argv = process.argv.slice(2);
const addr = argv[0];
const flag = (name) => {
  const i = argv.indexOf(name);
  return i > 0 ? argv[i + 1] : undefined;
};
const protoPath = path.resolve(__dirname, '../../../src/proto/connector/v1/connector.proto');
const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, {
  keepCase: true, longs: String, enums: String, bytes: String, defaults: false, oneofs: true,
  includeDirs: [path.resolve(__dirname, '../../../src')],
})).connector.v1;

let creds = grpc.credentials.createInsecure();
const options = {};
if (argv.includes('--tls')) {
  creds = grpc.credentials.createSsl(fs.readFileSync(flag('--ca')),
    fs.readFileSync(flag('--key')), fs.readFileSync(flag('--cert')));
  if (flag('--server-name')) options['grpc.ssl_target_name_override'] = flag('--server-name');
}
const client = new pkg.ConnectorService(addr, creds, options);
const call = client.Tunnel();
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

call.write({ request_id: 'hello-1', health_check_response: { unix_millis: String(Date.now()), status: 'healthy' } });
call.on('data', (m) => {
  print({ event: 'received', msg: m });
  if (m.message === 'http_request') {
    call.write({
      request_id: m.request_id,
      http_response: {
        http_status: 200,
        headers: [{ key: 'x-echo-method', value: m.http_request.method }],
        body: m.http_request.body || '',
      },
    });
  } else if (m.message === 'health_check_request') {
    call.write({ request_id: m.request_id, health_check_response: { unix_millis: m.health_check_request.unix_millis, status: 'healthy' } });
  } else if (m.message === 'metadata_request') {
    call.write({ request_id: m.request_id, metadata_response: { connection_uuid: 'selftest', hostname: 'selftest', max_concurrent_requests: 1 } });
  } else if (m.message === 'connection_request') {
    call.end();
  }
});
call.on('error', (e) => {
  print({ event: 'error', code: e.code, details: e.details });
  process.exit(2);
});
call.on('end', () => {
  print({ event: 'end' });
  process.exit(0);
});
