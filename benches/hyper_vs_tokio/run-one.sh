#!/usr/bin/env bash
# One paired-benchmark run: see README.md beside this file.
# usage: bench.sh NAME PORT CONNS SECS -- server command...
name=$1; port=$2; conns=$3; secs=$4; shift 5
taskset -c 0 "$@" > /tmp/srv.$name.log 2>&1 &
pid=$!
sleep 0.7
# warm up
taskset -c 1 wrk -t1 -c$conns -d1s http://127.0.0.1:$port/ >/dev/null 2>&1
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$pid/stat)
out=$(taskset -c 1 wrk -t1 -c$conns -d${secs}s --latency http://127.0.0.1:$port/ 2>&1)
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
kill $pid; wait $pid 2>/dev/null
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
p99=$(echo "$out" | awk '$1=="99%" {print $2}')
errs=$(echo "$out" | grep -E "Socket errors|Non-2xx" | tr '\n' ' ')
ticks=$(( (u1-u0) + (s1-s0) ))
cpu_us=$(awk -v t=$ticks -v r=$reqs 'BEGIN{ printf "%.2f", t*10000.0/r }')
cpu_pct=$(awk -v t=$ticks -v s=$secs 'BEGIN{ printf "%.0f", t/s }')
echo "$name c=$conns rps=$rps p99=$p99 cpu/req=${cpu_us}us cpu=${cpu_pct}% $errs"
