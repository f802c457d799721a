#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: what each server's own code (the
# runtime, the libraries and libc in its process) costs per request, free of the machine's noise.
#
#   benches/peers/instructions.sh [--secs S] [--servers a,b,c] [--top N] [--no-native] [WORKLOAD ...]
#
#   WORKLOAD  echo-1k-50 echo-1k-500 echo-16k-50 http (default: all four)
#   --servers raw,coring,tokio,monoio,compio,coring-pool,coring-ring (the default; any server of
#             `peers --child server`)
#   --secs    the counted window, seconds (default 3)
#   --top     the top N functions (self cost) per row in a second table (default 5; 0: none)
#   --no-native  skip the native run that gives the "io_uring_enter/req native" column
#
# Each server runs alone under `valgrind --tool=callgrind --separate-threads=yes`, pinned to
# CPU 0, with the suite's load on CPU 1. Echo: the suite's load generator (1.5 s of warm-up,
# then the window); callgrind's counters are zeroed when it prints its first `MARK` (window
# start) and dumped at the second (window end), through `vgdb`, so the server's start, the
# connections' set-up and the warm-up are not counted; requests = the load's round trips in its
# window. HTTP: `wrk -t1 -c50` twice on the same server, 1 s then 1+S s, each counted alone
# (zero before, dump after); the per-request figure is the difference of the two counts over
# the difference of wrk's requests, so the 50 connections' accept and close (the same in both)
# cancel out. Under callgrind every thread of the process is counted: the "threads" column says
# how many ran in the window, and the busiest one's share.
#
# The native run (no valgrind, same load and window) counts io_uring_enter (and epoll_wait, for
# tokio) per request with perf, as the callgrind run does: callgrind slows the server ~50x while
# the load generator runs at full speed, so more completions are waiting at each enter.
# Output: a markdown report on stdout; the callgrind files in $OUT (default /tmp/peers-instr).
# Build first: cd benches/peers && cargo build --release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bin="${CARGO_TARGET_DIR:-target}/release/peers"
[[ -x "$bin" ]] || { echo "build first: cargo build --release (in benches/peers)" >&2; exit 2; }

secs=3 top=5 native=1
servers=raw,coring,tokio,monoio,compio,coring-pool,coring-ring
workloads=()
while (($#)); do
    case "$1" in
        --secs) secs="$2"; shift 2 ;;
        --servers) servers="$2"; shift 2 ;;
        --top) top="$2"; shift 2 ;;
        --no-native) native=0; shift ;;
        echo-1k-50 | echo-1k-500 | echo-16k-50 | http) workloads+=("$1"); shift ;;
        *) echo "unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
    esac
done
((${#workloads[@]})) || workloads=(echo-1k-50 echo-1k-500 echo-16k-50 http)
for w in "${workloads[@]}"; do
    [[ "$w" != http ]] || command -v wrk >/dev/null || { echo "http needs wrk (apt-get install -y wrk)" >&2; exit 2; }
done
out="${OUT:-/tmp/peers-instr}"
rm -rf "$out"
mkdir -p "$out"
events=syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait

# Starts server $1 for protocol $2 pinned to CPU 0, under the command in the remaining
# arguments (none: natively); sets $spid and $port. Its stdin is held open on fd 3.
start_server() {
    local server="$1" proto="$2" log="$out/server.$tag"
    shift 2
    local fifo="$out/stdin.$$"
    rm -f "$fifo"
    mkfifo "$fifo"
    taskset -c 0 "$@" "$bin" --child server "$server" "$proto" <"$fifo" >"$log" 2>"$log.err" &
    spid=$!
    exec 3>"$fifo"
    rm -f "$fifo"
    for _ in $(seq 1 600); do
        grep -q READY "$log" 2>/dev/null && break
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.1
    done
    port=$(grep -o 'port=[0-9]*' "$log" | head -1 | cut -d= -f2)
    [[ -n "$port" ]] || { echo "$server did not start (see $log.err)" >&2; exit 1; }
}

stop_server() {
    exec 3>&-
    kill -KILL "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
}

# perf counting the server's waits for $1 seconds in the background; `perf_stop` waits for it
# and sets $waits to "SUM:NS", their sum and the nanoseconds perf counted (it takes up to a
# second to attach; the report scales to the window), in this shell: a `$(...)` subshell could
# not wait for it. A fixed duration, since a background job of a script ignores SIGINT.
perf_start() {
    perf stat -x, -e "$events" -p "$spid" -o "$out/perf.$tag" -- sleep "$1" >/dev/null 2>&1 &
    perf_pid=$!
}
perf_stop() {
    wait "$perf_pid" 2>/dev/null || true
    waits=$(awk -F, '$1 ~ /^[0-9]+$/ {n += $1; t = $4} END {printf "%d:%d\n", n, t}' "$out/perf.$tag")
}

cg() { vgdb --pid="$spid" "$@" >>"$out/vgdb.$tag" 2>&1; }

# Echo: one window between the load's two MARKs. With $1 = callgrind, the counters are zeroed
# and dumped there. Prints "requests waits".
echo_window() {
    local mode="$1" size="$2" conns="$3" marks=0 requests="" waits=0 line
    while read -r line; do
        case "$line" in
            MARK)
                marks=$((marks + 1))
                if ((marks == 1)); then
                    [[ "$mode" != callgrind ]] || cg zero
                    perf_start "$secs"
                else
                    [[ "$mode" != callgrind ]] || cg dump
                    perf_stop
                fi
                ;;
            RESULT*) requests=$(sed -E 's/.* rts=([0-9]+) .*/\1/' <<<"$line") ;;
        esac
    done < <(taskset -c 1 "$bin" --child load "$port" "$conns" "$size" 1500 "$((secs * 1000))" "$spid")
    [[ -n "$requests" ]] || { echo "$tag: the load printed no RESULT" >&2; exit 1; }
    echo "$requests $waits"
}

# HTTP: wrk for $1 seconds, counted alone (zeroed before, dumped after under callgrind).
# Prints "requests waits".
wrk_window() {
    local mode="$1" d="$2" text requests waits
    [[ "$mode" != callgrind ]] || cg zero
    perf_start "$d"
    text=$(taskset -c 1 wrk -t1 -c50 -d"${d}s" "http://127.0.0.1:$port/")
    [[ "$mode" != callgrind ]] || cg dump
    perf_stop
    requests=$(awk '/requests in/ {print $1}' <<<"$text")
    echo "${requests:?wrk printed no request count} $waits"
}

# One server and workload under callgrind; appends "workload server a b" to $out/rows (for
# echo: requests waits; for http: requests of both wrk runs) and keeps the dumps.
measure() {
    local workload="$1" server="$2" mode="$3" proto=echo size=1024 conns=50
    case "$workload" in
        echo-1k-500) conns=500 ;;
        echo-16k-50) size=16384 ;;
        http) proto=http ;;
    esac
    tag="$server.$workload.$mode"
    local wrap=()
    [[ "$mode" != callgrind ]] || wrap=(valgrind --tool=callgrind --separate-threads=yes
        --vgdb=yes --callgrind-out-file="$out/cg.$server.$workload")
    start_server "$server" "$proto" "${wrap[@]}"
    if [[ "$proto" == echo ]]; then
        echo "$workload $server $mode $(echo_window "$mode" "$size" "$conns")" >>"$out/rows"
    else
        # A first run lets the server reach its steady state (and, under callgrind, translate
        # its code) before either counted run.
        taskset -c 1 wrk -t1 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null
        echo "$workload $server $mode $(wrk_window "$mode" 1) $(wrk_window "$mode" $((secs + 1)))" >>"$out/rows"
    fi
    stop_server
}

start=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
IFS=, read -r -a server_list <<<"$servers"
for workload in "${workloads[@]}"; do
    for server in "${server_list[@]}"; do
        echo "instructions: $workload $server" >&2
        measure "$workload" "$server" callgrind
        ((native == 0)) || measure "$workload" "$server" native
    done
done

commit=$(git -C ../.. rev-parse --short HEAD)
[[ -z "$(git -C ../.. status --porcelain -- src Cargo.toml)" ]] || commit+="+dirty src"
OUT="$out" TOP="$top" SECS="$secs" COMMIT="$commit" TOOK=$(($(date +%s) - start)) \
    LOAD="$load_before / $(cut -d' ' -f1-3 /proc/loadavg)" \
    KERNEL="$(uname -r)" RUSTC="$(rustc --version)" VALGRIND="$(valgrind --version)" \
    exec python3 "$(pwd)/instructions_table.py"
