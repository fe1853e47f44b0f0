#!/usr/bin/env bash
# Telemetry on the request path (#15 "Performance"): the same edge and nginx,
# two connectors in one run, one with telemetry off and one exporting all
# three signals (metrics every second, a span pair per request, log records)
# over OTLP/HTTP protobuf to a local receiver, wrk through the edge's front
# door to each, 1 KiB at concurrency 64, alternated over rounds.  Connector
# CPU (utime + stime from /proc) per 10k requests for each.  Writes its own
# section of bench/RESULTS.md (other sections are kept).
#
#   bench/otel.sh BUILD_DIR     (BENCH_DURATION seconds per run, default 5;
#                                BENCH_ROUNDS rounds, default 3)
#
# BENCH_OTEL_BASE=OTHER_BUILD_DIR adds a third connector exporting the same
# way with OTHER_BUILD_DIR/outpost (e.g. a build before a change), in the
# same rounds: an A/B of the exporter itself.
#
# Bounded: 2 x BENCH_ROUNDS wrk runs.  Not part of make test.  Goal
# (reported, not asserted): exported / off >= 0.95.
set -euo pipefail

B=$(cd "${1:?usage: otel.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(dirname "$B")/bench-otel
dur=${BENCH_DURATION:-5}
rounds=${BENCH_ROUNDS:-3}
pids=() tag=bench-otel
load0=$(cut -d' ' -f1-3 /proc/loadavg)
# shellcheck source=lib.sh
. "$root/bench/lib.sh"

command -v wrk >/dev/null || { say "wrk is missing (apt-get install wrk)"; exit 1; }
rm -rf "$work"
bench_files
"$root/scripts/dev-pki.sh" "$work/pki" off >/dev/null
"$root/scripts/dev-pki.sh" "$work/pki" otel >/dev/null

# The collector: answers every export 200 with an empty body (an empty
# Export*ServiceResponse) and counts requests and bytes per path, which
# GET /stats answers as JSON (asked once, at the end: nothing is written
# per export).  HTTP/1.1, so that it keeps connections open as collectors
# do (the standard library's default is HTTP/1.0: a connection per
# export); it counts the connections too.  It shares the CPUs with what is
# measured, so its CPU is measured too.
prx=$(free_port)
python3 - "$prx" <<-'PY' 2>"$work/receiver.log" &
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port = int(sys.argv[1])
seen = {"connections": [0, 0]}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        seen["connections"][0] += 1
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        c = seen.setdefault(self.path, [0, 0])
        c[0] += 1
        c[1] += n
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        b = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
pid_rcv=$!
pids+=($pid_rcv)

start_nginx_a
start_edge
connector_named off OTEL_SDK_DISABLED=true
pid_off=$named_pid
connector_named otel OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$prx" \
	OTEL_METRIC_EXPORT_INTERVAL=1000 OTEL_BSP_SCHEDULE_DELAY=200 ENV_LEVEL=info
pid_otel=$named_pid
names="off otel"
if [ -n "${BENCH_OTEL_BASE:-}" ]; then
	"$root/scripts/dev-pki.sh" "$work/pki" base >/dev/null
	B=$(cd "$BENCH_OTEL_BASE" && pwd) connector_named base \
		OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$prx" \
		OTEL_METRIC_EXPORT_INTERVAL=1000 OTEL_BSP_SCHEDULE_DELAY=200 ENV_LEVEL=info
	pid_base=$named_pid
	names="off otel base"
fi

url() { echo "http://127.0.0.1:$papi/v1/connectors/$1/proxy/http/127.0.0.1:$pa/1k"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

per10k() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.0f", t * 1000 / hz * 10000 / n; else print "n/a" }'; }

declare -A RPS CPU REQS RCV RCPU
for r in $(seq "$rounds"); do
	for name in $names; do
		pid_var=pid_$name
		t0=$(cpu_ticks "${!pid_var}") r0=$(cpu_ticks "$pid_rcv")
		wrk_run "$name round $r" "$(url "$name")" 64
		t1=$(cpu_ticks "${!pid_var}") r1=$(cpu_ticks "$pid_rcv")
		RCV[$name]=$(( ${RCV[$name]:-0} + r1 - r0 ))
		RPS[$name]="${RPS[$name]:-} $rps"
		RCPU[$name]="${RCPU[$name]:-} $(per10k $((t1 - t0)) "$reqs")"
		CPU[$name]=$(( ${CPU[$name]:-0} + t1 - t0 ))
		REQS[$name]=$(( ${REQS[$name]:-0} + reqs ))
		say "$name round $r: $rps req/s, p50 $p50 ms, p99 $p99 ms"
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
curl -sf -o "$work/receiver.json" "http://127.0.0.1:$prx/stats" || true
[ -s "$work/receiver.json" ] || { say "the receiver got no export"; exit 1; }
for p in /v1/metrics /v1/traces /v1/logs; do
	grep -q "\"$p\"" "$work/receiver.json" || { say "no export to $p"; exit 1; }
done

median() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
m_off=$(median "${RPS[off]}") m_otel=$(median "${RPS[otel]}")
c_off=$(per10k "${CPU[off]}" "${REQS[off]}") c_otel=$(per10k "${CPU[otel]}" "${REQS[otel]}")
r_off=$(per10k "${RCV[off]}" "${REQS[off]}") r_otel=$(per10k "${RCV[otel]}" "${REQS[otel]}")
exports=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d.pop("connections"); print(", ".join("%s %d requests / %d KiB" % (k, v[0], v[1] // 1024) for k, v in sorted(d.items())), "on %d connections" % c[0])' "$work/receiver.json")
# The CPU ratio of each round (exported / off, the rounds alternate).
ratios=$(paste -d' ' <(tr ' ' '\n' <<<"${RCPU[otel]# }") <(tr ' ' '\n' <<<"${RCPU[off]# }") |
	awk '$2 > 0 { printf "%s%.2f", sep, $1 / $2; sep = " " }')

base_rows=
if [ -n "${BENCH_OTEL_BASE:-}" ]; then
	m_base=$(median "${RPS[base]}") c_base=$(per10k "${CPU[base]}" "${REQS[base]}")
	r_base=$(per10k "${RCV[base]}" "${REQS[base]}")
	base_rows="| exported by $BENCH_OTEL_BASE/outpost | ${RPS[base]# } | $m_base | ${RCPU[base]# } | $c_base | $r_base |
| exported / exported by it | | $(ratio "$m_otel" "$m_base") | | $(ratio "$c_otel" "$c_base") | |
"
fi
section=$(cat <<-EOF
<!-- bench-otel:begin (written by bench/otel.sh; do not edit by hand) -->
## Telemetry on the request path: off vs all three signals exported

Measured $(date -u +%Y-%m-%dT%H:%MZ) at revision \`$(git -C "$root" rev-parse --short=12 HEAD)\`,
wrk $dur s per run, $rounds rounds alternating the connectors, 1 KiB, concurrency 64, all on loopback, on
$(nproc) shared CPUs ($(uname -m)), load average before the run $load0, after it $load1.
wrk → outpost-edge front door ══ mTLS tunnel ══▶ outpost → nginx, the connectors in the same run:
**off** (\`OTEL_SDK_DISABLED=true\`) and **exported** (\`OTEL_EXPORTER_OTLP_ENDPOINT\` to a local
receiver answering 200, metrics every second, every request sampled: two spans each, info-level
log records). The receiver got: $exports.
Goal (#15): exported / off ≥ 0.95. The receiver (Python) runs on the same CPUs: its CPU during
each connector's rounds is the last column, and it is taken from what wrk, the edge and nginx get.

| connector | req/s per round | median req/s | connector CPU ms per 10k requests, per round | connector CPU ms per 10k requests | receiver CPU ms per 10k requests |
|---|---|---|---|---|---|
| off | ${RPS[off]# } | $m_off | ${RCPU[off]# } | $c_off | $r_off |
| exported | ${RPS[otel]# } | $m_otel | ${RCPU[otel]# } | $c_otel | $r_otel |
| exported / off | | $(ratio "$m_otel" "$m_off") | $ratios | $(ratio "$c_otel" "$c_off") | |
$base_rows<!-- bench-otel:end -->
EOF
)

write_section bench-otel "$section"
say "wrote $root/bench/RESULTS.md"
