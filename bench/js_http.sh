#!/usr/bin/env bash
# bench/js_http.sh: JS handlers over HTTP, isocore against Bun, Deno and Node
# (and nginx's static responder for hello), side by side, in interleaved
# rounds. Prints tables; never fails the build.
#
#   bench/js_http.sh [rounds] [seconds]      (default 5 rounds of 5 s)
#   HANDLERS="hello json cpu" bench/js_http.sh   (default: hello json)
#   SERVERS="isocore bun deno node nginx"        (default: all found)
#   CALLGRIND=0 skips the callgrind figures.
#   ISOCORE_BASE=path/to/isocore adds that binary as server "isocore-base"
#   (an earlier build, measured in the same rounds: before/after side by side).
#
# Handlers (same work everywhere): hello (new Response("Hello World")), json
# ({id, path: new URL(request.url).pathname, items: [1..10]} with
# Response.json), cpu (≈1 ms: the sum of Math.sqrt(i) for i < 550,000).
# isocore, Bun and Deno run the very same files, examples/hello.js,
# examples/json.js, bench/workers/cpu.js (Bun and Deno through
# bench/workers/rival.mjs, their own Bun.serve / Deno.serve); Node runs
# bench/node/server.mjs (node:http); nginx answers hello from bench/nginx.conf.
# Bun and Deno come from npm (@oven/bun-linux-x64, @deno/linux-x64-glibc),
# installed into build/bench-tools when missing, never into the repository.
#
# Each server is pinned to the first CPU of the mask, wrk (1 thread, 64
# connections, keep-alive) to the second. A round runs every server once
# per handler, one after the other, so slow drifts of the shared machine hit
# them all alike. Per run: the server's CPU time (perf stat -e task-clock on
# its process, all threads, from just before wrk starts to just after it
# ends) divided by the requests wrk completed. The table gives the median
# and the spread (min–max) over the rounds, and each median over the faster
# of Bun and Deno (and, for hello, over nginx).
# Then user-space instructions per request of isocore under callgrind.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-5}
secs=${2:-5}
handlers=${HANDLERS:-hello json}
bin=$root/build/bin/isocore
tools=$root/build/bench-tools
for tool in wrk perf curl ss; do
    command -v $tool >/dev/null || { echo "bench/js_http.sh: needs $tool (apt-get install wrk linux-perf curl iproute2)"; exit 0; }
done
[ -x "$bin" ] || { echo "bench/js_http.sh: needs $bin (./tools/setup.sh)"; exit 0; }
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/js_http.sh: needs two CPUs"; exit 0; }
srv_cpu=${cpus[0]}
load_cpu=${cpus[1]}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT

# Bun and Deno: single binaries from npm, into build/bench-tools (once).
bun=$tools/node_modules/@oven/bun-linux-x64/bin/bun
deno=$tools/node_modules/@deno/linux-x64-glibc/deno
if { [ ! -x "$bun" ] || [ ! -x "$deno" ]; } && command -v npm >/dev/null; then
    echo "# installing Bun and Deno from npm into $tools"
    mkdir -p "$tools"
    npm install --prefix "$tools" --no-save --no-audit --no-fund @oven/bun-linux-x64 @deno/linux-x64-glibc >"$tmp/npm.log" 2>&1 ||
        { echo "# npm install failed:"; tail -5 "$tmp/npm.log"; }
fi
servers=${SERVERS:-isocore bun deno node nginx}
base=${ISOCORE_BASE:-}
[ -n "$base" ] && servers="isocore-base $servers"
have() {
    case $1 in
    isocore) return 0 ;;
    isocore-base) [ -x "$base" ] ;;
    bun) [ -x "$bun" ] ;;
    deno) [ -x "$deno" ] ;;
    node) command -v node >/dev/null ;;
    nginx) command -v nginx >/dev/null ;;
    esac
}
list=
for s in $servers; do
    if have $s; then list="$list $s"; else echo "# $s: not found (skipped)"; fi
done
export DENO_NO_UPDATE_CHECK=1 DENO_DIR=$tmp/deno

script_of() {
    case $1 in
    hello) echo "$root/examples/hello.js" ;;
    json) echo "$root/examples/json.js" ;;
    cpu) echo "$root/bench/workers/cpu.js" ;;
    esac
}

# A port nothing listens on: other benchmarks run on this machine, and with SO_REUSEPORT two servers on one port
# would share wrk's connections without a word.
free_port() {
    local p
    for i in $(seq 50); do
        p=$((20000 + RANDOM % 20000))
        [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && { echo $p; return; }
    done
    echo 18083
}

start_server() { # server handler -> sets pid, port; 1 if it does not serve this handler or did not start
    port=$(free_port)
    case $1 in
    isocore) taskset -c $srv_cpu "$bin" serve "$(script_of $2)" --port $port --cores 1 2>"$tmp/srv.err" & pid=$! ;;
    isocore-base) taskset -c $srv_cpu "$base" serve "$(script_of $2)" --port $port --cores 1 2>"$tmp/srv.err" & pid=$! ;;
    bun) taskset -c $srv_cpu "$bun" "$root/bench/workers/rival.mjs" "$(script_of $2)" $port 2>"$tmp/srv.err" & pid=$! ;;
    deno) taskset -c $srv_cpu "$deno" run --allow-net --allow-read "$root/bench/workers/rival.mjs" "$(script_of $2)" $port \
        2>"$tmp/srv.err" & pid=$! ;;
    node) taskset -c $srv_cpu node "$root/bench/node/server.mjs" $2 $port 2>"$tmp/srv.err" & pid=$! ;;
    nginx)
        [ $2 = hello ] || return 1
        mkdir -p "$tmp/nginx"
        sed "s/18081/$port/" "$root/bench/nginx.conf" >"$tmp/nginx/nginx.conf"
        taskset -c $srv_cpu nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" 2>"$tmp/srv.err" & pid=$!
        ;;
    esac
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/bench/path" && return 0
        sleep 0.1
    done
    echo "bench/js_http.sh: $1 ($2) did not start: $(head -c 300 "$tmp/srv.err")" >&2
    stop_server
    return 1
}

stop_server() {
    kill -TERM $pid 2>/dev/null
    for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=
}

median() { sort -g | awk '{v[NR] = $1} END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
spread() { sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END { if (NR) printf "%s–%s", lo, hi; else print "-" }'; }

echo "# isocore bench/js_http: server on CPU $srv_cpu, wrk -t1 -c64 on CPU $load_cpu, $rounds interleaved rounds of ${secs}s"
echo "# $($bin version | head -1); bun $([ -x "$bun" ] && "$bun" --version); $([ -x "$deno" ] && "$deno" --version | head -1);" \
    "node $(node --version 2>/dev/null); $(nginx -v 2>&1); $(uname -r)"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | handler | server | requests/s | CPU µs/request |"
echo "|---|---|---|---|---|"
for r in $(seq $rounds); do
    for h in $handlers; do
        for s in $list; do
            start_server $s $h || continue
            # warm-up (JIT), then the measured run
            taskset -c $load_cpu wrk -t1 -c64 -d1s "http://127.0.0.1:$port/bench/path" >/dev/null 2>&1
            perf stat -x, -e task-clock -p $pid -o "$tmp/perf.txt" &
            perfpid=$!
            sleep 0.2 # perf attaches to the threads
            taskset -c $load_cpu wrk -t1 -c64 -d${secs}s "http://127.0.0.1:$port/bench/path" >"$tmp/wrk.txt" 2>&1
            kill -INT $perfpid
            wait $perfpid
            stop_server
            reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
            rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
            clk=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf.txt")
            cpu=$(awk -v c="$clk" -v n="$reqs" 'BEGIN { if (n > 0 && c > 0) printf "%.2f", c * 1000 / n; else print "-" }')
            echo "| $r | $h | $s | $rps | $cpu |"
            [ "$cpu" != - ] && echo "$cpu" >>"$tmp/cpu.$h.$s"
        done
    done
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "| handler | server | CPU µs/request, median | spread (min–max) | median / faster of Bun, Deno | median / nginx |"
echo "|---|---|---|---|---|---|"
for h in $handlers; do
    best=
    for s in bun deno; do
        [ -f "$tmp/cpu.$h.$s" ] || continue
        m=$(median <"$tmp/cpu.$h.$s")
        best=$(awk -v a="$best" -v b="$m" 'BEGIN { print (a == "" || b < a) ? b : a }')
    done
    ngx=
    [ -f "$tmp/cpu.$h.nginx" ] && ngx=$(median <"$tmp/cpu.$h.nginx")
    for s in $list; do
        [ -f "$tmp/cpu.$h.$s" ] || continue
        m=$(median <"$tmp/cpu.$h.$s")
        sp=$(spread <"$tmp/cpu.$h.$s")
        rb=$(awk -v a="$m" -v b="$best" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }')
        rn=$(awk -v a="$m" -v b="$ngx" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }')
        echo "| $h | $s | $m | $sp | $rb | $rn |"
    done
done

# User-space instructions per request, exact: the server under callgrind
# (JIT code included: --smc-check), counters zeroed after a warm-up, dumped
# after the measured load; kernel work is not counted. Only the reactor
# thread is counted (--separate-threads; the thread that runs reactor_main):
# under valgrind a request takes ~50 times as long, so V8's compiler and GC
# threads and the 2 ms watchdog would weigh by wall time, not by request.
# The warm-up runs until 6,000 requests (or 90 s): V8 tiers code up by call
# counts, and a count taken before the optimised code is in says little.
[ "${CALLGRIND:-1}" = 0 ] && exit 0
command -v valgrind >/dev/null || { echo; echo "(valgrind missing: no callgrind figures)"; exit 0; }
callgrind_ipr() { # binary handler -> prints "instructions/request requests"
    local out="$tmp/cg.$2.$(basename "$1")"
    port=$(free_port)
    ISOCORE_PARSER_SCALAR=1 taskset -c $srv_cpu valgrind --tool=callgrind --smc-check=all-non-file --separate-threads=yes \
        --callgrind-out-file="$out" "$1" serve "$(script_of $2)" --port $port --cores 1 >/dev/null 2>&1 &
    pid=$!
    local up=0
    for i in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/bench/path" && { up=1; break; }; sleep 0.3; done
    [ $up = 1 ] || echo "bench/js_http.sh: $1 ($2) did not start under valgrind" >&2
    local warm=0 t0=$SECONDS n
    while [ $warm -lt 6000 ] && [ $((SECONDS - t0)) -lt 90 ]; do
        taskset -c $load_cpu wrk -t1 -c16 -d5s "http://127.0.0.1:$port/bench/path" >"$tmp/wrk.cg" 2>&1
        n=$(awk '/requests in/ {print $1}' "$tmp/wrk.cg")
        warm=$((warm + ${n:-0}))
    done
    callgrind_control -z $pid >/dev/null 2>&1
    taskset -c $load_cpu wrk -t1 -c16 -d${secs}s "http://127.0.0.1:$port/bench/path" >"$tmp/wrk.cg" 2>&1
    callgrind_control -d $pid >/dev/null 2>&1
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=
    local reqs ir
    reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.cg")
    # the dump after the zeroing (part 1), thread by thread: the reactor's is the one with reactor_main in it
    ir=$(for f in "$out".1-*; do grep -q "reactor_main" "$f" 2>/dev/null && awk '/^summary:/ {print $2}' "$f"; done | sort -g | tail -1)
    awk -v i="${ir:-0}" -v n="$reqs" 'BEGIN { if (n > 0 && i > 0) printf "%.0f %d\n", i / n, n; else print "- 0" }'
}
echo
echo "| handler | server | user-space instructions/request, reactor thread (callgrind) | requests measured |"
echo "|---|---|---|---|"
# Bun, Deno and Node are left out here: under valgrind they serve a few hundred requests/s and their
# background JIT threads dominate the count, which says nothing about their steady state (their CPU
# time per request above is the comparison).
for h in $handlers; do
    [ $h = cpu ] && continue
    if [ -n "$base" ]; then
        read ipr n < <(callgrind_ipr "$base" $h)
        echo "| $h | isocore-base | $ipr | $n |"
    fi
    read ipr n < <(callgrind_ipr "$bin" $h)
    echo "| $h | isocore | $ipr | $n |"
done
