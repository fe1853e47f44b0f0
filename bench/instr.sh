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
# Per size: INSTR_WARMUP requests (default 200), counters zeroed, then
# INSTR_REQUESTS measured requests (default 1000), counters dumped; the
# per-request figure is the dump's total divided by the measured requests,
# so start-up and warm-up are not in it.  With the top 10 functions by self
# and by inclusive cost (callgrind_annotate), written to the instr section
# of bench/RESULTS.md (INSTR_WRITE=0: print only).  Needs valgrind and
# nginx; bounded (about 2 minutes), not part of make test.
set -euo pipefail

B=$(cd "${1:?usage: instr.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(dirname "$B")/bench-instr
warm=${INSTR_WARMUP:-200}
reqs=${INSTR_REQUESTS:-1000}
write=${INSTR_WRITE:-1}
pids=() tag=instr
# shellcheck source=lib.sh
. "$root/bench/lib.sh"

for t in valgrind callgrind_control callgrind_annotate nginx; do
	command -v $t >/dev/null || { say "$t is missing (scripts/setup.sh)"; exit 1; }
done
rm -rf "$work" && mkdir -p "$work"
bench_files
start_nginx_a
start_edge
# Unstripped for function names; seccomp off (valgrind makes its own calls).
start_connector "$B/outpost.unstripped" env SECCOMP=false \
	valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" \
	--dump-instr=no --compress-strings=no
wait_ready 300

# requests SIZE N TAG: N requests on one connection; fails unless all 200.
requests() {
	local ok
	ok=$(curl -s -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $token" \
		"$(url_c "$1")?$3=[1-$2]" | grep -c '^200$' || true)
	[ "$ok" -eq "$2" ] || { say "$1: $ok of $2 requests answered 200"; tail "$work"/*.log >&2; exit 1; }
}

# top FILE [--inclusive=yes]: the 10 costliest functions below the
# reactor's loop (inclusive costs of the call chain main → rx_run are
# about the total and say nothing), as "count<TAB>function" lines; a
# function without a symbol (musl's assembly) shows as its address.
top() {
	local f=$1
	shift
	callgrind_annotate --threshold=100 --auto=no "$@" "$f" 2>/dev/null |
		awk -v total="$(total "$f")" '
			/^-+$/ { sect++; next }
			sect >= 4 && $1 ~ /^[0-9,]+$/ {
				n = $1; gsub(/,/, "", n); n += 0
				fn = $0; sub(/^ *[0-9,]+ +\([^)]*\) +/, "", fn)
				sub(/ \[.*$/, "", fn); sub(/^\?\?\?:/, "", fn)
				if (n >= 0.97 * total || ++k > 10) next
				printf "%s\t%s\n", n, fn
			}'
}
total() { awk '/^(summary|totals):/ { print $2; exit }' "$1"; }

declare -A PER
for size in 1k 64k; do
	say "$size: $warm warm-up requests"
	requests "$size" "$warm" warm
	callgrind_control --zero "$conn_pid" >/dev/null 2>&1
	say "$size: $reqs measured requests"
	requests "$size" "$reqs" n
	callgrind_control --dump="$size" "$conn_pid" >/dev/null 2>&1
	f=$(grep -l "^desc: Trigger: dump $size\$" "$work"/callgrind.* | head -1)
	[ -n "$f" ] || { say "no callgrind dump for $size"; exit 1; }
	PER[$size]=$(( $(total "$f") / reqs ))
	top "$f" >"$work/self.$size"
	top "$f" --inclusive=yes >"$work/incl.$size"
	say "$size: ${PER[$size]} instructions per request"
done
echo "instr: 1k ${PER[1k]} 64k ${PER[64k]} (connector instructions per request)"
[ "$write" = 1 ] || exit 0

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
connection, $warm warm-up requests, then the counters zeroed and $reqs requests measured; the
figure is the connector's instructions (Ir) over the measured requests divided by $reqs.

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
