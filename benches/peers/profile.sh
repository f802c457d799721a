#!/usr/bin/env bash
# Profiles one server of the peer suite under the suite's own load, with one tool:
#
#   benches/peers/profile.sh TOOL SERVER echo SIZE CONNS [SECS]
#   benches/peers/profile.sh TOOL SERVER http [SECS]
#
#   TOOL     perf       perf record -e cpu-clock -g (kernel and user), then the top symbols
#            callgrind  valgrind --tool=callgrind (user space only, deterministic; extra options
#                       in $CALLGRIND_ARGS, e.g. --cache-sim=yes): instructions
#                       per request and the top functions
#            strace     strace -c -f: system calls per request, by call
#            syscalls   perf stat on the raw_syscalls tracepoints: calls per request, no ptrace
#   SERVER   raw coring coring-ring coring-batch tokio monoio compio glommio tokio-uring
#            coring-hyper tokio-hyper (http only: the same hyper app on coring and on tokio)
#
# The server is pinned to CPU 0 and the load generator (or wrk) to CPU 1, as in the suite.
# Output goes to $OUT (default /tmp/peers-profile). Build first: cargo build --release.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bin="${CARGO_TARGET_DIR:-target}/release/peers"
[[ -x "$bin" ]] || { echo "build first: cargo build --release (in benches/peers)" >&2; exit 2; }

tool="$1" server="$2" proto="$3"
shift 3
if [[ "$proto" == echo ]]; then
    size="$1" conns="$2" secs="${3:-3}"
else
    secs="${1:-3}"
fi
out="${OUT:-/tmp/peers-profile}"
mkdir -p "$out"
tag="$server-$proto${size:+-$size}${conns:+-x$conns}"

wrap=()
case "$tool" in
    callgrind) wrap=(valgrind --tool=callgrind ${CALLGRIND_ARGS:-} --callgrind-out-file="$out/callgrind.$tag") ;;
    strace) wrap=(strace -c -f -o "$out/strace.$tag") ;;
    perf | syscalls) ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
esac

fifo="$out/stdin.$$"
rm -f "$fifo"
mkfifo "$fifo"
# The server exits when the load is over: when the first connection closes (echo), the second
# (http: wrk tries one connection before its run).
closes=1
[[ "$proto" == http ]] && closes=2
PEERS_EXIT_ON_CLOSE=$closes taskset -c 0 "${wrap[@]}" "$bin" --child server "$server" "$proto" <"$fifo" >"$out/server.$tag" &
spid=$!
exec 3>"$fifo"   # holds the server's stdin open; closing it ends the server
rm -f "$fifo"
for _ in $(seq 1 300); do
    grep -q READY "$out/server.$tag" 2>/dev/null && break
    sleep 0.1
done
port=$(grep -o 'port=[0-9]*' "$out/server.$tag" | head -1 | cut -d= -f2)
[[ -n "$port" ]] || { echo "server did not start" >&2; exit 1; }
# The process doing the work (under valgrind or strace it is the wrapper's child or itself).
target=$(pgrep -f -n -- "--child server $server $proto" || echo "$spid")

watcher=""
case "$tool" in
    perf) perf record -q -e cpu-clock -g -p "$target" -o "$out/perf.$tag" 2>/dev/null & watcher=$! ;;
    syscalls) perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter \
        -p "$target" -o "$out/syscalls.$tag" & watcher=$! ;;
esac
sleep 0.5

if [[ "$proto" == echo ]]; then
    result=$(taskset -c 1 "$bin" --child load "$port" "$conns" "$size" 300 "$((secs * 1000))" "$target" | grep RESULT)
    requests=$(sed -E 's/.* rts_total=([0-9]+).*/\1/' <<<"$result")
else
    text=$(taskset -c 1 wrk -t1 -c50 -d"${secs}s" "http://127.0.0.1:$port/")
    requests=$(awk '/requests in/ {print $1}' <<<"$text")
fi
if [[ -n "$watcher" ]]; then
    kill -INT "$watcher"
    wait "$watcher" || true
fi
exec 3>&-
# Under valgrind a thread blocked in io_uring_enter keeps the others from running, so the
# server's stdin thread may not see the end of its input until a completion wakes the loop:
# poke it with connections until it has exited.
for _ in $(seq 1 100); do
    kill -0 "$spid" 2>/dev/null || break
    (exec 4<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || true
    sleep 0.2
done
wait "$spid" || true

echo "$tag: $requests requests"
case "$tool" in
    perf)
        perf report -i "$out/perf.$tag" --no-children --sort symbol --stdio 2>/dev/null |
            grep -E '^ +[0-9]' | head -40
        ;;
    callgrind)
        file="$out/callgrind.$tag"
        total=$(grep -E '^(summary|totals):' "$file" | head -1 | awk '{print $2}')
        echo "instructions (user space): $total, per request: $((total / requests))"
        callgrind_annotate "$file" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -30
        ;;
    strace)
        awk -v n="$requests" 'NR <= 2 || /^-/ {print; next}
            $NF != "total" && $4 ~ /^[0-9]+$/ {printf "%s   per request: %.4f\n", $0, $4 / n; next}
            {print}' "$out/strace.$tag"
        ;;
    syscalls)
        awk -F, -v n="$requests" '$1 ~ /^[0-9]+$/ {printf "%-40s %12d  per request: %.4f\n", $3, $1, $1 / n}' \
            "$out/syscalls.$tag"
        ;;
esac
