#!/usr/bin/env bash
# Profiles one *client* of the peer suite's wget case (200 fetches in flight against four nginx),
# with one tool, as profile.sh does for the servers:
#
#   benches/peers/profile-wget.sh TOOL CLIENT [SECS]
#
#   TOOL     perf       perf record -e cpu-clock -g (kernel and user), then the top symbols
#            callgrind  valgrind --tool=callgrind (user space only): instructions per fetch
#                       (start-up and warm-up included) and the top functions
#            events     perf stat on the tracepoints in $EVENTS (default: system calls, io_uring
#                       enters, submissions, poll arms, task work): per fetch
#   CLIENT   raw coring coring-pool tokio monoio compio glommio tokio-uring
#
# nginx (four, one per loopback address 127.0.0.1-4, as the suite starts them) runs on CPU 1,
# the client on CPU 0. Output goes to $OUT (default /tmp/peers-profile). Build first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bin="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/peers"
[[ -x "$bin" ]] || { echo "build first: cargo build --release (in benches/peers)" >&2; exit 2; }
tool="$1" client="$2" secs="${3:-3}"
out="${OUT:-/tmp/peers-profile}"
mkdir -p "$out"
tag="$client-wget"
dir=$(mktemp -d /tmp/peers-wget-nginx.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
addrs=()
for i in 0 1 2 3; do
    ip="127.0.0.$((i + 1))"
    port=$(python3 -c "import socket; s=socket.socket(); s.bind(('$ip',0)); print(s.getsockname()[1])")
    cat >"$dir/nginx-$i.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx-$i.pid;
error_log $dir/error-$i.log error;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  client_body_temp_path $dir/body-$i; proxy_temp_path $dir/proxy-$i;
  fastcgi_temp_path $dir/fastcgi-$i; uwsgi_temp_path $dir/uwsgi-$i; scgi_temp_path $dir/scgi-$i;
  server { listen $ip:$port backlog=4096; return 200 "hello\n"; }
}
EOF
    taskset -c 1 nginx -p "$dir" -e "$dir/error-$i.log" -c "$dir/nginx-$i.conf" </dev/null >/dev/null 2>&1 &
    pids+=($!)
    addrs+=("$ip:$port")
done
sleep 1
list=$(IFS=,; echo "${addrs[*]}")
npids=$(IFS=,; echo "${pids[*]}")
child=("$bin" --child wget "$client" "$list" 200 100 "$((secs * 1000))" "$npids")
events="${EVENTS:-raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,io_uring:io_uring_submit_req,io_uring:io_uring_poll_arm,io_uring:io_uring_task_add,sock:sock_recv_length}"
case "$tool" in
    callgrind) result=$(taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.$tag" "${child[@]}" 2>/dev/null | grep RESULT) ;;
    perf) result=$(perf record -q -e cpu-clock -g -o "$out/perf.$tag" -- taskset -c 0 "${child[@]}" 2>/dev/null | grep RESULT) ;;
    events) result=$(perf stat -x, -e "$events" -o "$out/events.$tag" -- taskset -c 0 "${child[@]}" | grep RESULT) ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
esac
fetches=$(sed -E 's/.*fetches=([0-9]+).*/\1/' <<<"$result")
echo "$tag: $result"
case "$tool" in
    callgrind)
        file="$out/callgrind.$tag"
        total=$(grep -E '^(summary|totals):' "$file" | head -1 | awk '{print $2}')
        echo "instructions (user space, whole run): $total, per fetch of the window: $((total / fetches))"
        callgrind_annotate "$file" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -30
        ;;
    perf)
        perf report -i "$out/perf.$tag" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -5
        perf report -i "$out/perf.$tag" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -40
        ;;
    events)
        # Counted over the whole run, the warm-up (0.1 s) and the window: the window's fetches
        # are scaled to the whole run (the start-up's ramp makes this approximate).
        awk -F, -v n="$(( fetches * (secs * 10 + 1) / (secs * 10) ))" '$1 ~ /^[0-9]+$/ {printf "%-40s %12d  per fetch: %.4f\n", $3, $1, $1 / n}' \
            "$out/events.$tag"
        ;;
esac
