# Sourced by bench/bench.sh and bench/instr.sh: path c's pieces, on loopback.
#   bench_files              $work/pki, $work/token ($token), $work/www/{1k,64k,1m,16m}
#                            and $work/www/1g (sparse)
#   nginx_common DIR         the settings every nginx here shares
#   start_nginx_a            nginx a, the upstream every path ends at ($pa)
#   start_edge               outpost-edge: tunnel port $pt, API/front door $papi
#   start_connector BIN [WRAPPER...]
#                            outpost run (BIN, under WRAPPER when given) with
#                            two tunnels to the edge, health port $ph; sets
#                            conn_pid (the wrapper's pid when there is one)
#   connector_named NAME [SETTING=VALUE...]
#                            outpost run as connector NAME (its dev-pki.sh
#                            certificate, MAX_CONCURRENT_REQUESTS=1000),
#                            ready on return; sets named_pid
#   wait_ready TRIES         until the connector's /readyz answers (0.2 s apart)
#   url_c SIZE               path c's URL for /SIZE
#   write_section NAME TEXT  TEXT replaces the <!-- NAME:begin --> ...
#                            <!-- NAME:end --> section of bench/RESULTS.md
#                            (appended when missing), the rest kept as it is
#   say TEXT                 a line on stderr, "TAG: TEXT"
#   wrk_run LABEL URL CONC   one wrk run of $dur s with the API token (output
#                            appended to $work/wrk.log); sets rps reqs p50 p99
#                            (ms) mbs (bytes read per second, MiB, partial
#                            answers included); non-2xx answers are said
#                            with LABEL
#   ratio X Y                X / Y to two decimals ("n/a" when Y is 0)
# The caller sets root, B (build dir), work, tag, and pids=()
# (scripts/procs.sh); every process started is stopped when the script
# ends, however it ends.

# shellcheck source=../scripts/procs.sh
. "$root/scripts/procs.sh"

say() { printf '%s: %s\n' "$tag" "$*" >&2; }
cleanup() {
	trap - EXIT INT TERM
	stop_all
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pa=$(free_port) pt=$(free_port) papi=$(free_port) ph=$(free_port)

bench_files() {
	mkdir -p "$work/www" "$work/nginx-a"
	"$root/scripts/dev-pki.sh" "$work/pki" bench >/dev/null
	head -c 24 /dev/urandom | base64 >"$work/token"
	token=$(cat "$work/token")
	head -c 1024 /dev/zero | tr '\0' 'a' >"$work/www/1k"
	head -c 65536 /dev/zero | tr '\0' 'b' >"$work/www/64k"
	head -c 1048576 /dev/zero | tr '\0' 'c' >"$work/www/1m"
	head -c 16777216 /dev/zero | tr '\0' 'd' >"$work/www/16m"
	truncate -s 1G "$work/www/1g"
}

# Common nginx settings: no access log, keep-alive everywhere.
nginx_common() {
	cat <<-EOF
	daemon off;
	pid $1/nginx.pid;
	error_log $1/error.log;
	worker_rlimit_nofile 8192;
	events { worker_connections 4096; }
	EOF
}

start_nginx_a() {
	{
		nginx_common "$work/nginx-a"
		cat <<-EOF
		worker_processes 1;
		http {
		    access_log off;
		    client_body_temp_path $work/nginx-a;
		    keepalive_requests 1000000;
		    server { listen 127.0.0.1:$pa backlog=4096; root $work/www; }
		}
		EOF
	} >"$work/nginx-a/nginx.conf"
	nginx -c "$work/nginx-a/nginx.conf" -e "$work/nginx-a/error.log" &
	pids+=($!)
}

start_edge() {
	OUTPOST_CONFIG= EDGE_LISTEN=127.0.0.1:$pt EDGE_API_PORT=$papi EDGE_API_TOKEN_FILE=$work/token \
		EDGE_TLS_CERT_FILE=$work/pki/edge.pem EDGE_TLS_KEY_FILE=$work/pki/edge.key \
		EDGE_CLIENT_CA_FILE=$work/pki/ca.pem EDGE_API_MAX_CONNECTIONS=1200 ENV_LEVEL=warn \
		"$B/outpost-edge" run 2>"$work/edge.log" &
	edge_pid=$!
	pids+=($edge_pid)
}

start_connector() {
	local bin=$1
	shift
	OUTPOST_CONFIG= TRAVERSAL_CONTROLLER_URL=https://127.0.0.1:$pt \
		TLS_CERT_FILE=$work/pki/connector-bench.pem TLS_KEY_FILE=$work/pki/connector-bench.key \
		TLS_CA_FILE=$work/pki/ca.pem HTTP_PORT=$ph MAX_CONCURRENT_REQUESTS=1000 ENV_LEVEL=warn \
		"$@" "$bin" run 2>"$work/outpost.log" &
	conn_pid=$!
	pids+=($conn_pid)
}

wait_ready() {
	local _
	for _ in $(seq "$1"); do
		curl -sf "http://127.0.0.1:$ph/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	curl -sf "http://127.0.0.1:$ph/readyz" >/dev/null || {
		say "connector not ready"
		tail "$work"/*.log >&2
		return 1
	}
}

connector_named() {
	local name=$1 hp
	shift
	hp=$(free_port)
	env OUTPOST_CONFIG= TRAVERSAL_CONTROLLER_URL="https://127.0.0.1:$pt" \
		TLS_CERT_FILE="$work/pki/connector-$name.pem" \
		TLS_KEY_FILE="$work/pki/connector-$name.key" TLS_CA_FILE="$work/pki/ca.pem" \
		HTTP_PORT="$hp" MAX_CONCURRENT_REQUESTS=1000 ENV_LEVEL=warn "$@" "$B/outpost" run 2>"$work/outpost-$name.log" &
	named_pid=$!
	pids+=($named_pid)
	for _ in $(seq 150); do
		curl -sf "http://127.0.0.1:$hp/readyz" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	say "connector $name not ready"
	tail "$work"/*.log
	exit 1
}

url_c() { echo "http://127.0.0.1:$papi/v1/connectors/bench/proxy/http/127.0.0.1:$pa/$1"; }

write_section() {
	python3 - "$root/bench/RESULTS.md" "$1" "$2" <<-'PY'
	import os, re, sys
	path, name, section = sys.argv[1:4]
	text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
	pat = re.compile(r"<!-- %s:begin.*?<!-- %s:end -->" % (name, name), re.S)
	if pat.search(text):
	    text = pat.sub(lambda m: section, text)
	else:
	    text = text.rstrip("\n") + "\n\n" + section + "\n"
	open(path, "w").write(text)
	PY
}

# wrk prints latency with units; normalise to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000;
		printf "%.2f", n }'
}

# to_mbs 12.5MB: wrk's Transfer/sec in MiB/s (wrk's units are 1024-based).
to_mbs() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
		if (u == "KB") n /= 1024; else if (u == "GB") n *= 1024; else if (u == "B") n /= 1048576;
		printf "%.0f", n }'
}

wrk_run() {
	local threads=$(($3 < 2 ? 1 : 2)) out
	# --timeout: wrk leaves an answer slower than it out of the latency
	# figures (2 s by default; 64 answers of 16 MiB sharing a path take
	# longer than that).
	out=$(wrk -t"$threads" -c"$3" -d"${dur}s" --timeout 60s --latency -H "Authorization: Bearer $token" "$2" 2>&1)
	echo "$out" >>"$work/wrk.log"
	rps=$(echo "$out" | awk '/^Requests\/sec:/ {printf "%.0f", $2}')
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	mbs=$(to_mbs "$(echo "$out" | awk '/^Transfer\/sec:/ {print $2}')")
	p50=$(to_ms "$(echo "$out" | awk '$1 == "50%" {print $2}')")
	p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
	if echo "$out" | grep -q 'Non-2xx'; then
		say "$1: non-2xx answers: $(echo "$out" | grep Non-2xx)"
	fi
}

ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y > 0) printf "%.2f", x / y; else print "n/a" }'; }
