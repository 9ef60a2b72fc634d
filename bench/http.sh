#!/usr/bin/env bash
# bench/http.sh: isocore's static responder against nginx, side by side,
# interleaved, several rounds. Prints tables; never fails the build.
#
#   bench/http.sh [rounds] [seconds]      (default 5 rounds of 5 s)
#   ISOCORE_BEFORE=/path/to/older/isocore bench/http.sh   (adds that binary to every round, as "isocore-before")
#
# Server pinned to the first CPU of the mask, wrk (1 thread, 64 connections)
# to the second. Per round and server: requests/s (wrk) and the server's CPU
# time per request (perf stat -e task-clock -p PID while wrk runs; the
# process's /proc ticks where perf is missing). The servers take turns in
# every round, so that a change in the machine's load hits all of them; the
# summary gives each one's median and spread (min-max), and the ratio to
# nginx of the medians and the median of the per-round ratios.
#
# Then, in a separate pass (tracepoints cost time, so they stay out of the
# CPU figures): system calls, io_uring_enter calls and io_uring file lookups
# (fget of a non-registered descriptor) per request. Then user-space
# instructions per request with callgrind (exact, but kernel work excluded).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
secs=${2:-5}
bin=$root/build/bin/isocore
before=${ISOCORE_BEFORE:-}
for tool in nginx wrk curl; do
    command -v $tool >/dev/null || { echo "bench/http.sh: needs $tool (apt-get install nginx-light wrk curl)"; exit 0; }
done
[ -x "$bin" ] || { echo "bench/http.sh: build isocore first (tools/setup.sh)"; exit 0; }
[ -z "$before" ] || [ -x "$before" ] || { echo "bench/http.sh: ISOCORE_BEFORE=$before is not an executable"; exit 0; }
have_perf=1
command -v perf >/dev/null && perf stat -e task-clock -- true >/dev/null 2>&1 || have_perf=0
have_cg=1
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || have_cg=0
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/http.sh: needs two CPUs"; exit 0; }
srv_cpu=${cpus[0]}
load_cpu=${cpus[1]}
tck=$(getconf CLK_TCK)
tmp=$(mktemp -d)
mkdir -p "$tmp/tmp"
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
servers=(nginx isocore)
[ -n "$before" ] && servers+=(isocore-before)

launch() { # name [wrapper...] -> sets pid, port
    local name=$1
    shift
    case $name in
    nginx) port=18081; taskset -c $srv_cpu "$@" nginx -p "$tmp" -c "$root/bench/nginx.conf" >/dev/null 2>"$tmp/nginx.err" & pid=$! ;;
    isocore) port=18082; taskset -c $srv_cpu "$@" "$bin" serve --static 'Hello World' --port $port --cores 1 >/dev/null 2>"$tmp/isocore.err" & pid=$! ;;
    isocore-before) port=18083; taskset -c $srv_cpu "$@" "$before" serve --static 'Hello World' --port $port --cores 1 >/dev/null 2>"$tmp/before.err" & pid=$! ;;
    esac
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    echo "bench/http.sh: $name did not start"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=
    return 1
}

stop_server() {
    kill -TERM $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=
}

ticks() { awk '{print $14 + $15}' /proc/$1/stat 2>/dev/null || echo 0; } # utime + stime of the whole process

# One loaded interval: prints "requests cpu_ms" (the server's CPU while wrk ran).
measure() { # events
    local ev=$1 t0 t1
    if [ $have_perf = 1 ]; then
        perf stat -x, -e "$ev" -p $pid -o "$tmp/perf.txt" -- sleep $((secs + 1)) &
        local perfpid=$!
        taskset -c $load_cpu wrk -t1 -c64 -d${secs}s "http://127.0.0.1:$port/" >"$tmp/wrk.txt" 2>&1
        wait $perfpid
    else
        t0=$(ticks $pid)
        taskset -c $load_cpu wrk -t1 -c64 -d${secs}s "http://127.0.0.1:$port/" >"$tmp/wrk.txt" 2>&1
        t1=$(ticks $pid)
        echo "$(((t1 - t0) * 1000 / tck)),,msec,task-clock" >"$tmp/perf.txt"
    fi
    awk '/requests in/ {print $1}' "$tmp/wrk.txt"
}

echo "# isocore bench/http: static 'Hello World', server on CPU $srv_cpu, wrk -t1 -c64 on CPU $load_cpu, ${rounds}x${secs}s, interleaved"
echo "# $(nginx -v 2>&1); $($bin version); $(uname -r); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $have_perf = 1 ] || echo "# perf is missing (apt-get install linux-perf): CPU time from /proc ticks (10 ms resolution)"
[ -n "$before" ] && echo "# isocore-before: $before"
echo
echo "| round | server | requests/s | CPU µs/request |"
echo "|---|---|---|---|"
for r in $(seq $rounds); do
    for s in "${servers[@]}"; do
        launch $s || continue
        reqs=$(measure task-clock)
        stop_server
        rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
        clk=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf.txt")
        cpu=$(awk -v c="$clk" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.3f", c * 1000 / n; else print "-" }')
        echo "| $r | $s | $rps | $cpu |"
        echo "$r $s $cpu" >>"$tmp/rounds"
    done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
# Median and spread per server; ratios to nginx (of the medians, and the median of the per-round ratios).
awk '
function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$3 != "-" { v[$2, ++n[$2]] = $3; at[$1, $2] = $3; if (!($2 in seen)) { seen[$2] = 1; order[++ns] = $2 } if ($1 > nr) nr = $1 }
END {
    print "| server | CPU µs/request median | min-max | median / nginx median | median of per-round ratios to nginx |"
    print "|---|---|---|---|---|"
    for (k = 1; k <= ns; k++) {
        s = order[k]; m = n[s]
        lo = hi = v[s, 1]
        for (i = 1; i <= m; i++) { a[i] = v[s, i]; if (v[s, i] < lo) lo = v[s, i]; if (v[s, i] > hi) hi = v[s, i] }
        med[s] = median(a, m)
        rr = 0
        for (r = 1; r <= nr; r++) if ((r, s) in at && (r, "nginx") in at) ratio[++rr] = at[r, s] / at[r, "nginx"]
        printf "| %s | %.3f | %.3f-%.3f | %s | %s |\n", s, med[s], lo, hi,
            ("nginx" in med && med["nginx"] > 0) ? sprintf("%.3f", med[s] / med["nginx"]) : "-", rr ? sprintf("%.3f", median(ratio, rr)) : "-"
    }
}' "$tmp/rounds"

if [ $have_perf = 1 ]; then
    echo
    echo "Kernel entries per request (a separate ${secs} s run per server under tracepoints; these runs are slower):"
    echo
    echo "| server | syscalls/request | io_uring_enter/request | io_uring fget/request |"
    echo "|---|---|---|---|"
    for s in "${servers[@]}"; do
        launch $s || continue
        reqs=$(measure raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,io_uring:io_uring_file_get)
        stop_server
        awk -F, -v n="$reqs" -v s="$s" '
            /raw_syscalls:sys_enter/ { sc = $1 } /sys_enter_io_uring_enter/ { en = $1 } /io_uring_file_get/ { fg = $1 }
            END { if (n > 0) printf "| %s | %.3f | %.3f | %.3f |\n", s, sc / n, en / n, fg / n; else print "| " s " | - | - | - |" }' "$tmp/perf.txt"
    done
fi

[ $have_cg = 1 ] || { echo; echo "(valgrind is missing: no callgrind figures; apt-get install valgrind)"; exit 0; }
# User-space instructions per request, exact: each server under callgrind;
# counters are zeroed once it serves, the load runs, then they are dumped,
# so the figure holds only the loaded interval (kernel work is not counted).
callgrind_ipr() { # name -> prints "instructions/request requests"
    local name=$1 out="$tmp/cg.$1"
    ISOCORE_PARSER_SCALAR=1 launch $name valgrind --tool=callgrind --callgrind-out-file="$out" >/dev/null 2>&1 || { echo "- 0"; return; }
    callgrind_control -z $pid >/dev/null 2>&1
    taskset -c $load_cpu wrk -t1 -c16 -d${secs}s "http://127.0.0.1:$port/" >"$tmp/wrk.cg" 2>&1
    callgrind_control -d $pid >/dev/null 2>&1
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=
    local reqs ir
    reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.cg")
    ir=$(cat "$out".* 2>/dev/null | awk '/^summary:|^totals:/ {print $2; exit}')
    awk -v i="$ir" -v n="$reqs" 'BEGIN { if (n > 0 && i > 0) printf "%.0f %d\n", i / n, n; else print "- 0" }'
}
echo
echo "(isocore under callgrind uses its byte-wise parser: valgrind cannot run the SSE4.2 one; an upper bound)"
echo
echo "| server | user-space instructions/request (callgrind) | requests |"
echo "|---|---|---|"
for s in "${servers[@]}"; do
    read -r ipr n < <(callgrind_ipr $s)
    echo "| $s | $ipr | $n |"
done
