#!/usr/bin/env bash
# Scale-out (#19): one connector, outpost-edge replicas on 127.0.0.1-3 (one
# tunnel port, one front door each), nginx a behind the connector; wrk at
# 1 KiB, concurrency 64 in total.  Written to bench/RESULTS.md (section
# "scaleout").
#
#   1  the connector with one edge address (2 tunnels): wrk → replica 1
#   3  the connector with the three addresses (3×2 tunnels,
#      TRAVERSAL_CONTROLLER_CONNECT_TO): wrk → replica 1 only, then three
#      wrk at once, one per replica's front door (22+21+21 connections)
#
# and the connector's RSS (idle, and peak under load) with 2 and with 6
# tunnels.  Both connectors run in this one run, one after the other, on
# the same edges.
#
#   bench/scaleout.sh BUILD_DIR      (make bench-scaleout; run it niced)
#
# Bounded: BENCH_DURATION seconds per wrk run (default 5), 4 runs.  Not part
# of make test.  Nothing is asserted.
set -euo pipefail

B=$(cd "${1:?usage: scaleout.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(dirname "$B")/bench-scaleout
dur=${BENCH_DURATION:-5}
pids=() tag=scaleout
# shellcheck source=lib.sh
. "$root/bench/lib.sh"

command -v wrk >/dev/null || { say "wrk is missing (apt-get install wrk)"; exit 1; }
command -v nginx >/dev/null || { say "nginx is missing (apt-get install nginx-light)"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
bench_files
addrs=(127.0.0.1 127.0.0.2 127.0.0.3)
apis=("$(free_port)" "$(free_port)" "$(free_port)")

# start_replica I: outpost-edge on ${addrs[I]}:$pt, front door ${apis[I]}.
start_replica() {
	OUTPOST_CONFIG= EDGE_LISTEN=${addrs[$1]}:$pt EDGE_API_PORT=${apis[$1]} \
		EDGE_API_TOKEN_FILE=$work/token EDGE_TLS_CERT_FILE=$work/pki/edge.pem \
		EDGE_TLS_KEY_FILE=$work/pki/edge.key EDGE_CLIENT_CA_FILE=$work/pki/ca.pem \
		EDGE_API_MAX_CONNECTIONS=1200 ENV_LEVEL=warn \
		"$B/outpost-edge" run 2>"$work/edge$1.log" &
	pids+=($!)
}

# connector ADDRS: outpost run dialling ADDRS (host:port,...) for the name
# localhost; ready on return.
connector() {
	start_connector "$B/outpost" env TRAVERSAL_CONTROLLER_CONNECT_TO="$1" \
		TLS_SERVER_NAME=localhost
	wait_ready 150
}

stop_connector() {
	kill "$conn_pid" 2>/dev/null || true
	wait "$conn_pid" 2>/dev/null || true
}

# tunnels_on I: online tunnels of "bench" on replica I.
tunnels_on() {
	curl -s -H "Authorization: Bearer $token" \
		"http://127.0.0.1:${apis[$1]}/v1/connectors/bench" |
		python3 -c 'import json,sys; print(sum(t["state"] == "online" for t in json.load(sys.stdin)["tunnels"]))' \
			2>/dev/null || echo 0
}

# wait_tunnels N I...: until each replica I has N online tunnels (10 s).
wait_tunnels() {
	local n=$1 i _ ok
	shift
	for _ in $(seq 50); do
		ok=1
		for i in "$@"; do [ "$(tunnels_on "$i")" -ge "$n" ] || ok=; done
		[ -n "$ok" ] && return 0
		sleep 0.2
	done
	say "tunnels missing"; tail "$work"/*.log >&2; return 1
}

url_on() { echo "http://127.0.0.1:${apis[$1]}/v1/connectors/bench/proxy/http/127.0.0.1:$pa/1k"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# under_load CMD...: run CMD with the connector's RSS sampled; sets peak.
under_load() {
	( while sleep 0.5; do rss_kb "$conn_pid"; done >"$work/rss" ) &
	local sampler=$!
	"$@"
	kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
	peak=$(sort -n "$work/rss" | tail -1)
}

# spread: three wrk at once, one per front door; sets rps (the sum) p99 (worst).
spread() {
	local i c out
	for i in 0 1 2; do
		c=$((i == 0 ? 22 : 21))
		wrk -t1 -c"$c" -d"${dur}s" --latency -H "Authorization: Bearer $token" \
			"$(url_on "$i")" >"$work/wrk.$i" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]: -3}"
	rps=0 p99=0
	for i in 0 1 2; do
		out=$(cat "$work/wrk.$i")
		cat "$work/wrk.$i" >>"$work/wrk.log"
		grep -q 'Non-2xx' <<<"$out" && say "replica $i: $(grep Non-2xx <<<"$out")"
		rps=$(awk -v a="$rps" -v b="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")" 'BEGIN { printf "%.0f", a + b }')
		q=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
		p99=$(awk -v a="$p99" -v b="$q" 'BEGIN { print (b > a ? b : a) }')
	done
}

start_nginx_a
for i in 0 1 2; do start_replica "$i"; done

connector "${addrs[0]}:$pt"
wait_tunnels 2 0
idle2=$(rss_kb "$conn_pid")
under_load wrk_run "1 address, replica 1" "$(url_on 0)" 64
r1=$rps q1=$p99 peak2=$peak
say "2 tunnels, replica 1: $r1 req/s, p99 $q1 ms"
stop_connector

connector "${addrs[0]}:$pt,${addrs[1]}:$pt,${addrs[2]}:$pt"
wait_tunnels 2 0 1 2
idle6=$(rss_kb "$conn_pid")
under_load wrk_run "3 addresses, replica 1" "$(url_on 0)" 64
r31=$rps q31=$p99 peak6a=$peak
say "6 tunnels, replica 1: $r31 req/s, p99 $q31 ms"
under_load spread
r33=$rps q33=$p99 peak6=$peak
[ "$peak6a" -gt "$peak6" ] && peak6=$peak6a
say "6 tunnels, 3 replicas: $r33 req/s, p99 $q33 ms"
stop_connector

section=$(cat <<-EOF
<!-- scaleout:begin (written by bench/scaleout.sh; do not edit by hand) -->
## Scale-out: 1 vs 3 edge replicas, one connector

Measured $(date -u +%Y-%m-%dT%H:%MZ) at revision \`$(git -C "$root" rev-parse --short=12 HEAD)\`
on $(uname -srm), $(nproc) CPU (shared with other work: compare the rows of one run), loopback only.
wrk $dur s per row, 1 KiB from nginx, 64 connections in total. Three outpost-edge replicas on
127.0.0.1-3 (one tunnel port); the connector first with one address (2 tunnels), then with all
three (\`TRAVERSAL_CONTROLLER_CONNECT_TO\`, 3×2 tunnels).

| connector tunnels | front doors under load | req/s | p99 (ms) |
|---|---|---|---|
| 2 (1 replica) | replica 1 | $r1 | $q1 |
| 6 (3 replicas) | replica 1 | $r31 | $q31 |
| 6 (3 replicas) | all three (22+21+21 connections) | $r33 | $q33 (worst of three) |

| connector RSS | 2 tunnels | 3×2 tunnels |
|---|---|---|
| idle | $(kib_mib "$idle2") | $(kib_mib "$idle6") |
| peak under load | $(kib_mib "$peak2") | $(kib_mib "$peak6") |
<!-- scaleout:end -->
EOF
)
write_section scaleout "$section"
say "bench/RESULTS.md: scaleout section written"
