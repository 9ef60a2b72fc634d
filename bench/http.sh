#!/usr/bin/env bash
# bench/http.sh: isocore's static responder against nginx, side by side,
# interleaved, several rounds. Prints a table; never fails the build.
#
#   bench/http.sh [rounds] [seconds]      (default 3 rounds of 5 s)
#
# Server pinned to the first CPU of the mask, wrk (1 thread, 64 connections)
# to the second. Per round and server: requests/s (wrk) and CPU time per
# request (perf stat -e task-clock on the server while wrk runs; also
# instructions where the machine's perf supports them). Then user-space
# instructions per request with callgrind (exact, but kernel work excluded).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
bin=$root/build/bin/isocore
for tool in nginx wrk perf valgrind; do
    command -v $tool >/dev/null || { echo "bench/http.sh: needs $tool (apt-get install nginx-light wrk linux-perf valgrind)"; exit 0; }
done
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/http.sh: needs two CPUs"; exit 0; }
srv_cpu=${cpus[0]}
load_cpu=${cpus[1]}
tmp=$(mktemp -d)
mkdir -p "$tmp/tmp"
trap 'rm -rf "$tmp"' EXIT

start_server() { # name -> sets pid, port
    case $1 in
    nginx) port=18081; taskset -c $srv_cpu nginx -p "$tmp" -c "$root/bench/nginx.conf" 2>"$tmp/nginx.err" & pid=$! ;;
    isocore) port=18082; taskset -c $srv_cpu "$bin" serve --static 'Hello World' --port $port --cores 1 2>"$tmp/isocore.err" & pid=$! ;;
    esac
    for i in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    echo "bench/http.sh: $1 did not start"; return 1
}

stop_server() { kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; }

echo "# isocore bench/http: static 'Hello World', server on CPU $srv_cpu, wrk -t1 -c64 on CPU $load_cpu, ${rounds}x${secs}s"
echo "# $(nginx -v 2>&1); $($bin version); $(uname -r)"
echo
echo "| round | server | requests/s | CPU µs/request | instructions/request (perf) |"
echo "|---|---|---|---|---|"
for r in $(seq $rounds); do
    for s in nginx isocore; do
        start_server $s || continue
        perf stat -x, -e task-clock,instructions -p $pid -o "$tmp/perf.txt" -- sleep $((secs + 1)) &
        perfpid=$!
        taskset -c $load_cpu wrk -t1 -c64 -d${secs}s "http://127.0.0.1:$port/" >"$tmp/wrk.txt" 2>&1
        wait $perfpid
        stop_server
        reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
        clk=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf.txt")
        ins=$(awk -F, '/instructions/ {print $1}' "$tmp/perf.txt")
        cpu=$(awk -v c="$clk" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.2f", c * 1000 / n; else print "-" }')
        ipr=$(awk -v i="$ins" -v n="$reqs" 'BEGIN { if (n > 0 && i ~ /^[0-9]+$/) printf "%.0f", i / n; else print "not supported" }')
        echo "| $r | $s | $rps | $cpu | $ipr |"
    done
done

# User-space instructions per request, exact: each server under callgrind;
# counters are zeroed once it serves, the load runs, then they are dumped,
# so the figure holds only the loaded interval (kernel work is not counted).
callgrind_ipr() { # name -> prints "instructions/request requests"
    local name=$1 out="$tmp/cg.$1"
    case $name in
    nginx) port=18081; taskset -c $srv_cpu valgrind --tool=callgrind --callgrind-out-file="$out" nginx -p "$tmp" -c "$root/bench/nginx.conf" >/dev/null 2>&1 & pid=$! ;;
    isocore) port=18082; ISOCORE_PARSER_SCALAR=1 taskset -c $srv_cpu valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" serve --static 'Hello World' --port $port --cores 1 >/dev/null 2>&1 & pid=$! ;;
    esac
    for i in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.2; done
    callgrind_control -z $pid >/dev/null 2>&1
    taskset -c $load_cpu wrk -t1 -c16 -d${secs}s "http://127.0.0.1:$port/" >"$tmp/wrk.cg" 2>&1
    callgrind_control -d $pid >/dev/null 2>&1
    kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    local reqs ir
    reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.cg")
    ir=$(cat "$out".* 2>/dev/null | awk '/^summary:|^totals:/ {print $2; exit}')
    awk -v i="$ir" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.0f %d\n", i / n, n; else print "- 0" }'
}
echo
echo "(isocore under callgrind uses its byte-wise parser: valgrind cannot run the SSE4.2 one; an upper bound)"
echo
echo "| server | user-space instructions/request (callgrind) | requests |"
echo "|---|---|---|"
for s in nginx isocore; do
    read -r ipr n < <(callgrind_ipr $s)
    echo "| $s | $ipr | $n |"
done
