#!/usr/bin/env bash
# bench/services.sh: a service binding (env.AUTH.fetch()) against a loopback
# fetch() to the same worker, side by side, interleaved, several rounds.
# Prints a table; never fails the build.
#
#   bench/services.sh [rounds] [seconds] [cores]     (default 3 rounds of 5 s, 1 core)
#
# One config, two tenants (bench/workers/svc_front.js, svc_auth.js): the
# front worker answers /svc with the text of env.AUTH.fetch() (the auth
# tenant over the router, no socket), /loop with the text of fetch() to the
# server's own address (the auth tenant's route: HTTP/1.1 over loopback TCP,
# the client's pool keeps the connections), /self by itself. The auth
# request is a hello. The server is pinned to the first CPU of the mask, wrk
# (1 thread, 64 connections) to the second. Per run: requests/s and server
# CPU time per front request (perf stat -e task-clock on the server while
# wrk runs); "auth" is the auth tenant's hello requested directly. With
# cores = 2 the server gets both CPUs (the load shares the second) and the
# auth tenant is named auth2, whose owner (core 1) is not front's (core 0):
# the binding then crosses cores over the SPSC mesh.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
cores=${3:-1}
bin=$root/build/bin/isocore
for tool in wrk perf curl; do
    command -v $tool >/dev/null || { echo "bench/services.sh: needs $tool (apt-get install wrk linux-perf curl)"; exit 0; }
done
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/services.sh: needs two CPUs"; exit 0; }
srv_cpus=${cpus[0]}
[ "$cores" = 2 ] && srv_cpus=${cpus[0]},${cpus[1]}
load_cpu=${cpus[1]}
tmp=$(mktemp -d)
port=18093
auth=auth
[ "$cores" = 2 ] && auth=auth2
cat >"$tmp/isocore.json" <<JSON
{"listen": {"port": $port}, "cores": $cores, "workers": [
  {"name": "front", "module": "$root/bench/workers/svc_front.js", "routes": ["front.bench"],
   "services": {"AUTH": "$auth"}, "env": {"LOOP": "http://127.0.0.1:$port"}},
  {"name": "$auth", "module": "$root/bench/workers/svc_auth.js", "routes": ["auth.bench", "127.0.0.1"]}
]}
JSON
taskset -c $srv_cpus "$bin" serve --config "$tmp/isocore.json" 2>"$tmp/srv.err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for i in $(seq 50); do
    curl -s -o /dev/null -H "Host: front.bench" "http://127.0.0.1:$port/self" && break
    sleep 0.1
done
for p in svc loop svcpass looppass; do
    got=$(curl -s -H "Host: front.bench" "http://127.0.0.1:$port/$p")
    [ "$got" = "Hello World" ] || { echo "bench/services.sh: /$p answers '$got', not the hello (does fetch() work?)"; cat "$tmp/srv.err"; exit 0; }
done

echo "# isocore bench/services: server ($cores core(s)) on CPU $srv_cpus, wrk -t1 -c64 on CPU $load_cpu, ${rounds}x${secs}s"
echo "# $($bin version 2>&1 | head -1); $(uname -r)"
echo
echo "| round | path | requests/s | server CPU µs/request |"
echo "|---|---|---|---|"
declare -A sum
for r in $(seq $rounds); do
    for p in self auth svc loop svcpass looppass; do
        host=front.bench
        path=/$p
        [ $p = auth ] && host=auth.bench && path=/hi
        url="http://127.0.0.1:$port$path"
        taskset -c $load_cpu wrk -t1 -c64 -d1s -H "Host: $host" "$url" >/dev/null 2>&1 # warm-up (JIT, pools)
        perf stat -x, -e task-clock -p $pid -o "$tmp/perf.txt" -- sleep $((secs + 1)) &
        perfpid=$!
        taskset -c $load_cpu wrk -t1 -c64 -d${secs}s -H "Host: $host" "$url" >"$tmp/wrk.txt" 2>&1
        wait $perfpid
        reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
        bad=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt")
        clk=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf.txt")
        cpu=$(awk -v c="$clk" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.2f", c * 1000 / n; else print "-" }')
        sum[$p]=$(awk -v a="${sum[$p]:-0}" -v b="$cpu" 'BEGIN { printf "%.4f", a + b }')
        echo "| $r | $p | $rps | $cpu${bad:+ ($bad non-2xx)} |"
    done
done
echo
avg() { awk -v s="${sum[$1]}" -v n=$rounds 'BEGIN { printf "%.2f", s / n }'; }
echo "Mean server CPU per front request: self $(avg self) µs, auth alone $(avg auth) µs; text read: service binding $(avg svc) µs, loopback fetch $(avg loop) µs; passed through: binding $(avg svcpass) µs, loopback fetch $(avg looppass) µs."
for pair in "svc loop" "svcpass looppass"; do
    set -- $pair
    awk -v self="$(avg self)" -v svc="$(avg $1)" -v loop="$(avg $2)" -v what="$1/$2" 'BEGIN {
        if (svc - self > 0) printf "%s, the call itself (minus /self): binding %.2f µs, loopback fetch %.2f µs: %.1fx.\n", what, svc - self, loop - self, (loop - self) / (svc - self) }'
done
