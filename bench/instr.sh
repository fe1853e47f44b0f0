#!/usr/bin/env bash
# Connector instructions per tunnelled request (callgrind), for 1 KiB and
# 64 KiB responses on path c (wrk's client replaced by curl, one request at
# a time on one keep-alive connection): outpost-edge → mTLS tunnel →
# outpost under valgrind --tool=callgrind → nginx.  Instruction counts do
# not depend on the machine's load, so changes can be compared on a shared
# machine where seconds cannot.
#
#   bench/instr.sh BUILD_DIR                 (make bench-instr)
#
# Per size, two connector runs under callgrind, each counted from start to
# exit (SIGTERM; callgrind writes its totals then): one with INSTR_WARMUP
# requests (default 200), one with the same warm-up and INSTR_REQUESTS
# more (default 1000).  The per-request figure is the difference of the
# two totals divided by INSTR_REQUESTS, so start-up, warm-up and shutdown
# cancel out (no callgrind_control: vgdb could not reach the connector
# once it had dropped privileges, and hung).  The
# top 10 functions by self and by inclusive cost are differences of the
# two runs' per-function counts (callgrind_annotate).  Written to the
# instr section of bench/RESULTS.md (INSTR_WRITE=0: print only).  Needs
# valgrind and nginx; bounded (a few minutes), not part of make test.
set -euo pipefail

B=$(cd "${1:?usage: instr.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(dirname "$B")/bench-instr
warm=${INSTR_WARMUP:-200}
reqs=${INSTR_REQUESTS:-1000}
write=${INSTR_WRITE:-1}
sizes=${INSTR_SIZES:-1k 64k} # INSTR_SIZES=1k: that size only (prints only)
pids=() tag=instr
# shellcheck source=lib.sh
. "$root/bench/lib.sh"

for t in valgrind callgrind_annotate nginx; do
	command -v $t >/dev/null || { say "$t is missing (scripts/setup.sh)"; exit 1; }
done
rm -rf "$work" && mkdir -p "$work"
bench_files
start_nginx_a
start_edge
out=$work/out
mkdir -p "$out"

# counted TAG: a connector under callgrind (unstripped for function names;
# seccomp off: valgrind makes its own calls; no privilege drop: valgrind
# creates its output file at start, as root, and writes it at exit), ready;
# its output is $out/callgrind.TAG once it has exited (stopped).
counted() {
	start_connector "$B/outpost.unstripped" env SECCOMP=false OUTPOST_USER=0:0 ALLOW_ROOT=true \
		valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$1" \
		--dump-instr=no --compress-strings=no
	wait_ready 300
}
stopped() {
	local _
	kill -TERM "$conn_pid"
	for _ in $(seq 600); do kill -0 "$conn_pid" 2>/dev/null || break; sleep 0.1; done
	wait "$conn_pid" 2>/dev/null || true
	[ -s "$out/callgrind.$1" ] || { say "no callgrind output for $1"; tail "$work"/*.log >&2; exit 1; }
}

# requests SIZE N TAG: N requests on one connection; fails unless all 200.
requests() {
	local ok
	ok=$(curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $token" \
		"$(url_c "$1")?$3=[1-$2]" | grep -c '^200$' || true)
	[ "$ok" -eq "$2" ] || { say "$1: $ok of $2 requests answered 200"; tail "$work"/*.log >&2; exit 1; }
}

total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

# costs FILE [--inclusive=yes]: "count<TAB>function" for every function.
costs() {
	local f=$1
	shift
	callgrind_annotate --threshold=100 --auto=no "$@" "$f" 2>/dev/null |
		awk '
			/^-+$/ { sect++; next }
			sect >= 4 && $1 ~ /^[0-9,]+$/ {
				n = $1; gsub(/,/, "", n); n += 0
				fn = $0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", fn)
				sub(/ \[.*$/, "", fn); sub(/^\?\?\?:/, "", fn)
				printf "%s\t%s\n", n, fn
			}'
}

# top BASE MEASURED [--inclusive=yes]: the 10 functions whose count grew
# most from BASE to MEASURED, below the reactor's loop (inclusive costs of
# the call chain main → rx_run → ep_wait → rx_dispatch are about the total
# and say nothing); a
# function without a symbol (musl's assembly) shows as its address.
top() {
	local b=$1 m=$2
	shift 2
	costs "$b" "$@" >"$work/costs.base"
	costs "$m" "$@" >"$work/costs.measured"
	awk -F'\t' -v total="$(( $(total "$m") - $(total "$b") ))" '
		NR == FNR { base[$2] += $1; next }
		{ d[$2] += $1 }
		END {
			for (f in d) {
				n = d[f] - base[f]
				if (n > 0 && n < 0.97 * total && f !~ /^(ep_wait|rx_dispatch)$/)
					printf "%d\t%s\n", n, f
			}
		}' "$work/costs.base" "$work/costs.measured" | sort -rn | awk 'NR <= 10' # reads all: no SIGPIPE under pipefail
}

declare -A PER
for size in $sizes; do
	say "$size: a connector with $warm warm-up requests"
	counted "$size.base"
	requests "$size" "$warm" warm
	stopped "$size.base"
	say "$size: a connector with $warm warm-up and $reqs measured requests"
	counted "$size.measured"
	requests "$size" "$warm" warm
	requests "$size" "$reqs" n
	stopped "$size.measured"
	b="$out/callgrind.$size.base" m="$out/callgrind.$size.measured"
	PER[$size]=$(( ($(total "$m") - $(total "$b")) / reqs ))
	top "$b" "$m" >"$work/self.$size"
	top "$b" "$m" --inclusive=yes >"$work/incl.$size"
	say "$size: ${PER[$size]} instructions per request"
done
echo "instr: 1k ${PER[1k]-} 64k ${PER[64k]-} (connector instructions per request)"
for size in $sizes; do
	say "$size: top functions, self / inclusive, per $reqs requests"
	paste "$work/self.$size" "$work/incl.$size" >&2
done
[ "$write" = 1 ] && [ "$sizes" = "1k 64k" ] || exit 0

# table SIZE: the top-10 lists side by side, counts per request.
table() {
	echo "| # | self: function | self per request | inclusive: function | inclusive per request |"
	echo "|---|---|---|---|---|"
	paste "$work/self.$1" "$work/incl.$1" | awk -F'\t' -v m="$reqs" '
		{ printf "| %d | `%s` | %d | `%s` | %d |\n", NR, $2, $1 / m, $4, $3 / m }'
}

section=$(cat <<-EOF
<!-- instr:begin (written by bench/instr.sh; do not edit by hand) -->
## Connector instructions per tunnelled request (callgrind)

Measured $(date -u +%Y-%m-%dT%H:%MZ) at revision \`$(git -C "$root" rev-parse --short=12 HEAD)\` with
\`$(valgrind --version)\` (\`--tool=callgrind\`): path c, one request at a time on one keep-alive
connection; per size two connectors counted from start to exit, one serving $warm warm-up
requests, one the same warm-up and $reqs more: the figure is the difference of their
instructions (Ir) divided by $reqs, and the functions are ranked by the same difference.

| response size | connector instructions per request |
|---|---|
| 1 KiB | ${PER[1k]} |
| 64 KiB | ${PER[64k]} |

Top 10 functions at 1 KiB (inclusive: below the reactor loop's call chain):

$(table 1k)

Top 10 functions at 64 KiB:

$(table 64k)
<!-- instr:end -->
EOF
)

write_section instr "$section"
say "wrote bench/RESULTS.md"
