#!/usr/bin/env bash
# bench/icload.sh: icload against wrk, both loading the same nginx (one
# worker, bench/nginx.conf) with the same settings: one client thread on
# CPU 1, 64 connections, no pipelining, nginx on CPU 0. Rounds alternate the
# clients; medians of requests/s and the ratio. Pipelined icload (depth 16)
# is reported separately (wrk has no pipelining without a Lua script).
#
#   bench/icload.sh [rounds] [seconds]      (default 3 rounds of 5 s)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
icload=$root/build/bin/icload
for tool in nginx wrk curl perf "$icload"; do
    command -v "$tool" >/dev/null || { echo "bench/icload.sh: needs $tool (apt-get install nginx-light wrk)"; exit 0; }
done
tmp=$(mktemp -d)
mkdir -p "$tmp/tmp"
taskset -c 0 nginx -p "$tmp" -c "$root/bench/nginx.conf" 2>"$tmp/nginx.err" &
npid=$!
trap 'kill $npid 2>/dev/null; wait $npid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18081/ && break; sleep 0.1; done
url=http://127.0.0.1:18081/

echo "# bench/icload.sh — $(date -u +%F) — $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)"
echo "# $(nginx -v 2>&1) on CPU 0; clients on CPU 1: wrk -t1 -c64 vs icload -c64 (1 thread); ${rounds}x${secs}s"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
: >"$tmp/wrk"; : >"$tmp/icload"; : >"$tmp/piped"; : >"$tmp/wrk.cpu"; : >"$tmp/icload.cpu"
# Client CPU per request: perf's task-clock of the client process (ms) over its requests.
cpu_per_req() { awk -F, '/task-clock/ {c = $1} END {printf "%.3f\n", c * 1000 / n}' n="$1" "$tmp/perf"; }
for r in $(seq "$rounds"); do
    taskset -c 1 perf stat -x, -e task-clock -o "$tmp/perf" wrk -t1 -c64 -d"${secs}s" "$url" >"$tmp/out"
    awk '/Requests\/sec/ {print $2}' "$tmp/out" >>"$tmp/wrk"
    cpu_per_req "$(awk '/requests in/ {print $1}' "$tmp/out")" >>"$tmp/wrk.cpu"
    taskset -c 1 perf stat -x, -e task-clock -o "$tmp/perf" "$icload" --json -c 64 -d "$secs" "$url" >"$tmp/out"
    python3 -c "import json,sys; print(json.load(open('$tmp/out'))['rps'])" >>"$tmp/icload"
    cpu_per_req "$(python3 -c "import json; print(json.load(open('$tmp/out'))['requests'])")" >>"$tmp/icload.cpu"
    taskset -c 1 "$icload" --json -c 64 -p 16 -d "$secs" "$url" | python3 -c "import json,sys; print(json.load(sys.stdin)['rps'])" >>"$tmp/piped"
done
w=$(median <"$tmp/wrk")
i=$(median <"$tmp/icload")
p=$(median <"$tmp/piped")
wc=$(median <"$tmp/wrk.cpu")
ic=$(median <"$tmp/icload.cpu")
echo
echo "| client | requests/s (median) | / wrk | client CPU µs/request | / wrk |"
echo "|---|---:|---:|---:|---:|"
printf "| wrk 4.1 -t1 -c64 | %.0f | 1.00 | %.2f | 1.00 |\n" "$w" "$wc"
printf "| icload -c64 | %.0f | %.2f | %.2f | %.2f |\n" "$i" "$(python3 -c "print($i / $w)")" "$ic" "$(python3 -c "print($ic / $wc)")"
printf "| icload -c64 -p16 (pipelined) | %.0f | %.2f | | |\n" "$p" "$(python3 -c "print($p / $w)")"
echo
echo "rounds: wrk $(paste -sd' ' "$tmp/wrk"); icload $(paste -sd' ' "$tmp/icload"); pipelined $(paste -sd' ' "$tmp/piped")"
