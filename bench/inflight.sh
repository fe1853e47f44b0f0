#!/usr/bin/env bash
# Connector RSS with N requests in flight (issue #20), measured where it
# does not depend on how fast the machine drains them: wrk opens N
# connections through the edge to an upstream that holds every request,
#   park  reading the request and answering nothing, then
#   head  answering a head and the first 1 KiB of a 100000-byte body (the
#         streamed answer's Deliver call is open with its head and a part),
# and the connector's VmRSS is read once the edge counts N in flight.
#
#   bench/inflight.sh BUILD_DIR              (make bench-inflight)
#   INFLIGHT_N (default 1000)
#
# Prints "inflight: idle KIB park KIB head KIB (N in flight)"; writes nothing.
# Bounded: about 30 s per mode.  Not part of make test.
set -euo pipefail

B=$(cd "${1:?usage: inflight.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(dirname "$B")/bench-inflight
n=${INFLIGHT_N:-1000}
pids=() tag=inflight
# shellcheck source=lib.sh
. "$root/bench/lib.sh"

command -v wrk >/dev/null || { say "wrk is missing (apt-get install wrk)"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
bench_files

# hold PORT MODE: the upstream, for at most 60 s.
hold() {
	python3 - "$1" "$2" <<-'PY'
	import selectors, socket, sys, time
	port, mode = int(sys.argv[1]), sys.argv[2]
	head = (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
	        b"Content-Type: text/plain\r\n\r\n" + b"x" * 1024)
	ls = socket.create_server(("127.0.0.1", port), backlog=4096)
	sel = selectors.DefaultSelector()
	sel.register(ls, selectors.EVENT_READ)
	end = time.time() + 60
	while time.time() < end:
	    for k, _ in sel.select(0.5):
	        if k.fileobj is ls:
	            c, _ = ls.accept()
	            sel.register(c, selectors.EVENT_READ, b"")
	            continue
	        try:
	            d = k.fileobj.recv(65536)
	        except OSError:
	            d = b""
	        if not d:
	            sel.unregister(k.fileobj)
	            k.fileobj.close()
	        elif mode == "head" and b"\r\n\r\n" in k.data + d:
	            k.fileobj.sendall(head)
	            sel.modify(k.fileobj, selectors.EVENT_READ, b"sent")
	        elif k.data != b"sent":
	            sel.modify(k.fileobj, selectors.EVENT_READ, k.data + d)
	PY
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
inflight() {
	curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$papi/v1/connectors/bench" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["in_flight"])' 2>/dev/null || echo 0
}

# measure MODE: one connector, N requests parked; prints its RSS (KiB)
# before and with them.
measure() {
	local pu w got=0 up
	pu=$(free_port)
	hold "$pu" "$1" &
	up=$!
	start_connector "$B/outpost"
	wait_ready 150
	echo -n "$(rss_kb "$conn_pid") "
	wrk -t2 -c"$n" -d20s --timeout 30s -H "Authorization: Bearer $token" \
		"http://127.0.0.1:$papi/v1/connectors/bench/proxy/http/127.0.0.1:$pu/x" \
		>/dev/null 2>&1 &
	w=$!
	for _ in $(seq 40); do
		got=$(inflight)
		[ "${got:-0}" -ge "$n" ] && break
		sleep 0.5
	done
	sleep 1
	[ "${got:-0}" -ge "$n" ] || say "$1: only $got of $n requests in flight"
	rss_kb "$conn_pid"
	kill "$w" "$up" 2>/dev/null || true
	kill -KILL "$conn_pid" 2>/dev/null || true
	wait "$w" "$conn_pid" "$up" 2>/dev/null || true
}

start_edge
measure park >"$work/park"
measure head >"$work/head"
read -r idle park <"$work/park"
read -r _ head <"$work/head"
echo "inflight: idle $idle park $park head $head ($n in flight)"
