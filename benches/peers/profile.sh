#!/usr/bin/env bash
# Profiles one server of the peer suite under the suite's own load, with one tool:
#
#   benches/peers/profile.sh TOOL SERVER echo SIZE CONNS [SECS]
#   benches/peers/profile.sh TOOL SERVER http [SECS]      (PEERS_WRK_CONNS=N: wrk's connections, 50)
#
#   TOOL     perf       perf record -e cpu-clock -g (kernel and user), then the top symbols
#            callgrind  valgrind --tool=callgrind (user space only, deterministic; extra options
#                       in $CALLGRIND_ARGS, e.g. --cache-sim=yes): instructions
#                       per request and the top functions
#            strace     strace -c -f: system calls per request, by call
#            syscalls   perf stat on the raw_syscalls tracepoints: calls per request, no ptrace
#            sched      the server's time on a CPU and waiting for one (run queue), per request,
#                       from /proc/PID/task/*/schedstat: whether it is busy, starved or idle
#            events     perf stat on the tracepoints in $EVENTS (comma-separated; default: the
#                       kernel's receive attempts, poll arms and io_uring task work): per request
#   SERVER   raw coring coring-ring coring-batch coring-pool tokio monoio compio glommio tokio-uring
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
    perf | syscalls | sched | events) ;;
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
    events) perf stat -x, -e "${EVENTS:-sock:sock_recv_length,io_uring:io_uring_poll_arm,io_uring:io_uring_task_add,io_uring:io_uring_local_work_run,syscalls:sys_enter_io_uring_enter}" \
        -p "$target" -o "$out/events.$tag" & watcher=$! ;;
esac
sleep 0.5
# On a CPU and waiting for one, in ns, summed over the server's threads.
# The server exits as the load ends, so a sampler keeps the latest reading.
schedstat() { cat /proc/"$target"/task/*/schedstat 2>/dev/null | awk -v t="$(date +%s%N)" '{on += $1; wait += $2} END {printf "%d %d %s\n", on, wait, t}'; }
if [[ "$tool" == sched ]]; then
    sched_before=$(schedstat)
    (while kill -0 "$target" 2>/dev/null; do s=$(schedstat); [[ -n "$s" && "$s" != "0 0 "* ]] && echo "$s" >"$out/sched.$tag"; sleep 0.1; done) &
fi
# Near the end of the load the server prints its counters (coring: enters, re-arms, ENOBUFS);
# afterwards it may have exited already.
(sleep "$((secs > 1 ? secs - 1 : 1))"; echo mark >&3) 2>/dev/null &

if [[ "$proto" == echo ]]; then
    result=$(taskset -c 1 "$bin" --child load "$port" "$conns" "$size" 300 "$((secs * 1000))" "$target" | grep RESULT)
    requests=$(sed -E 's/.* rts_total=([0-9]+).*/\1/' <<<"$result")
else
    text=$(taskset -c 1 wrk -t1 -c"${PEERS_WRK_CONNS:-50}" -d"${secs}s" "http://127.0.0.1:$port/")
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
grep STATS "$out/server.$tag" | tail -1 || true
case "$tool" in
    perf)
        # Kernel against user space first (the share a runtime's own code can change), then
        # the top symbols.
        perf report -i "$out/perf.$tag" --no-children --sort dso -g none --stdio 2>/dev/null |
            grep -E '^ +[0-9]' | head -4 | sed 's/^/by object: /'
        # The same split as samples per million requests, comparable between servers whatever
        # their req/s (one sample = 1/4000 s of CPU at perf's default rate).
        perf report -i "$out/perf.$tag" --no-children --sort dso -g none --stdio -F sample,dso 2>/dev/null |
            awk -v n="$requests" '/^ +[0-9]/ {s[$2] += $1; t += $1}
                END {printf "samples per million requests: total %.0f, kernel %.0f, user space %.0f\n",
                    t * 1e6 / n, s["[kernel.kallsyms]"] * 1e6 / n, (t - s["[kernel.kallsyms]"]) * 1e6 / n}'
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
    sched)
        read -r on0 wait0 t0 <<<"$sched_before"
        read -r on1 wait1 t1 <"$out/sched.$tag"
        awk -v on=$((on1 - on0)) -v wait=$((wait1 - wait0)) -v wall=$((t1 - t0)) -v n="$requests" \
            'BEGIN {printf "on a CPU %.1f%% of the time, %.2f us/request; waiting for a CPU %.1f%%, %.2f us/request; idle %.1f%%\n",
                100 * on / wall, on / n / 1000, 100 * wait / wall, wait / n / 1000, 100 * (wall - on - wait) / wall}'
        ;;
    syscalls | events)
        awk -F, -v n="$requests" '$1 ~ /^[0-9]+$/ {printf "%-40s %12d  per request: %.4f\n", $3, $1, $1 / n}' \
            "$out/$tool.$tag"
        ;;
esac
