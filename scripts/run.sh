#!/usr/bin/env bash
# `make run`: outpost-edge + one connector + a demo upstream, all on
# loopback, end to end through mTLS.  The connector enrols: the script asks
# the edge for a single-use token (`outpost-edge token create`) and starts
# the connector with ENROLLMENT_TOKEN; the edge's CA signs the connector's
# CSR and the identity is stored in the connector's DATA_DIR, so the next
# run reconnects without a token.  Prints one curl command that goes
# through the edge's front door and the tunnel to the upstream, and its
# answer, then the same request as raw bytes through a session
# (`outpost-edge connect`, SESSION_ALLOW set for the upstream's port); then
# waits until Ctrl-C, which stops everything.
#
#   scripts/run.sh BUILD_DIR            (BUILD_DIR holds outpost, outpost-edge)
#
# State lives in BUILD_DIR/../run/: the edge's server certificate (pki/),
# the edge's CA and tokens (edge-data/), the connector's identity (data/),
# the API token, logs.
# RUN_ONCE=1 stops after the proxied request (exit 0 when it succeeded).
# RUN_TIMEOUT (seconds, default 30) bounds the wait for the connector.
set -euo pipefail

B=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
B=$(cd "$B" && pwd)
run=$(dirname "$B")/run
edge_bin=$B/outpost-edge
outpost_bin=$B/outpost
name=demo
timeout=${RUN_TIMEOUT:-30}
pids=()
# shellcheck source=procs.sh
. "$here/procs.sh"

say() { printf 'run: %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cleanup() {
	trap - INT TERM EXIT
	stop_all
	say "stopped (logs in $run)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[ -x "$edge_bin" ] && [ -x "$outpost_bin" ] || { say "build first: make"; exit 1; }
mkdir -p "$run/www" "$run/data" "$run/edge-data"
"$here/dev-pki.sh" "$run/pki" "$name" >/dev/null
if [ ! -s "$run/token" ]; then
	(umask 077 && head -c 24 /dev/urandom | base64 >"$run/token")
fi
token=$(cat "$run/token")
printf 'hello from the demo upstream, through outpost\n' >"$run/www/index.html"

tunnel_port=$(free_port)
api_port=$(free_port)
health_port=$(free_port)
upstream_port=$(free_port)

# The demo upstream: nginx-light when installed, else python's http.server.
if command -v nginx >/dev/null; then
	mkdir -p "$run/nginx"
	cat >"$run/nginx/nginx.conf" <<-EOF
	daemon off;
	worker_processes 1;
	pid $run/nginx/nginx.pid;
	error_log $run/nginx/error.log;
	events { worker_connections 256; }
	http {
	    access_log $run/nginx/access.log;
	    client_body_temp_path $run/nginx;
	    server {
	        listen 127.0.0.1:$upstream_port;
	        root $run/www;
	        add_header Set-Cookie "demo=1; Path=/";
	    }
	}
	EOF
	nginx -c "$run/nginx/nginx.conf" -e "$run/nginx/error.log" &
else
	python3 -m http.server "$upstream_port" --bind 127.0.0.1 --directory "$run/www" \
		>"$run/upstream.log" 2>&1 &
fi
pids+=($!)

edge_env=(OUTPOST_CONFIG= EDGE_LISTEN=127.0.0.1:$tunnel_port EDGE_API_PORT=$api_port
	EDGE_API_TOKEN_FILE=$run/token EDGE_TLS_CERT_FILE=$run/pki/edge.pem
	EDGE_TLS_KEY_FILE=$run/pki/edge.key EDGE_DATA_DIR=$run/edge-data)
env "${edge_env[@]}" "$edge_bin" run 2>"$run/edge.log" &
pids+=($!)

# A token only when the connector has no identity yet (a later run
# reconnects with the stored one).
# SESSION_ALLOW lets sessions reach the demo upstream's port (and no other).
conn_env=(OUTPOST_CONFIG= TRAVERSAL_CONTROLLER_URL=https://127.0.0.1:$tunnel_port
	TLS_CA_FILE=$run/pki/ca.pem HTTP_PORT=$health_port DATA_DIR=$run/data
	SESSION_ALLOW=127.0.0.1:$upstream_port)
if ! env "${conn_env[@]}" "$outpost_bin" identity show >/dev/null 2>&1; then
	for _ in $(seq 50); do
		port_open "$api_port" && break
		sleep 0.1
	done
	enroll_token=$(env "${edge_env[@]}" "$edge_bin" token create "$name" --ttl 10m) ||
		{ say "the edge gave no enrolment token; see $run/edge.log"; exit 1; }
	conn_env+=(ENROLLMENT_TOKEN=$enroll_token)
	say "enrolling connector \"$name\" with a single-use token"
else
	say "connector identity found in $run/data: no token needed"
fi
env "${conn_env[@]}" "$outpost_bin" run 2>"$run/outpost.log" &
pids+=($!)

say "edge tunnels 127.0.0.1:$tunnel_port (mTLS), front door 127.0.0.1:$api_port; connector health 127.0.0.1:$health_port; upstream 127.0.0.1:$upstream_port"
deadline=$((SECONDS + timeout))
until curl -sf "http://127.0.0.1:$health_port/readyz" >/dev/null 2>&1; do
	if [ $SECONDS -ge $deadline ]; then
		say "the connector was not ready within ${timeout}s; last log lines:"
		tail -5 "$run/outpost.log" "$run/edge.log" >&2 || true
		exit 1
	fi
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || { say "a process exited early; see $run/*.log"; tail -5 "$run"/*.log >&2; exit 1; }
	done
	sleep 0.2
done
say "connector ready: $(curl -s "http://127.0.0.1:$health_port/readyz")"

url="http://127.0.0.1:$api_port/v1/connectors/$name/proxy/http/127.0.0.1:$upstream_port/index.html"
printf '\n$ curl -si -H "Authorization: Bearer $(cat %s)" %s\n' "$run/token" "$url"
ok=0
curl -si --max-time 10 -H "Authorization: Bearer $token" "$url" || ok=1
echo
# The same upstream through a session (raw TCP, the way ssh -o
# ProxyCommand='outpost-edge connect ... %h:%p' or nc would use it).
base="$edge_bin connect --edge http://127.0.0.1:$api_port --token-file $run/token"
connect="$base $name 127.0.0.1:$upstream_port"
printf "\n\$ printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | %s\n" "$connect"
printf 'GET /index.html HTTP/1.0\r\n\r\n' | timeout 10 env OUTPOST_CONFIG= $connect || ok=1
echo
say "ssh through a session (SESSION_ALLOW must list the host's port 22): ssh -o ProxyCommand='$base $name %h:%p' user@host"
if [ "${RUN_ONCE:-0}" = 1 ]; then
	exit $ok
fi
say "state: curl -s -H \"Authorization: Bearer \$(cat $run/token)\" http://127.0.0.1:$api_port/v1/connectors"
say "running; Ctrl-C stops everything"
wait -n "${pids[@]}" || true
say "a process exited; stopping"
