# Sourced by scripts/run.sh and bench/bench.sh: the processes they start.
#   pids=()            every background process started goes in here
#   free_port          a TCP port on 127.0.0.1 that was free a moment ago
#   stop_all           TERM every pid, wait up to 5 s each, then KILL

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop_all() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
