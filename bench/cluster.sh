#!/usr/bin/env bash
# bench/cluster.sh: what HAProxy in front of isocore nodes costs, and what a node loss moves (docs/cluster.md).
#
#   bench/cluster.sh [seconds] [tenants]   (default 5 s per run; 200 tenants placed for the node loss)
#   bench/cluster.sh loss [tenants]        the node loss only
#
# This VM has 2 CPUs: the nodes and HAProxy run on CPU 0 (taskset over tools/cluster.sh, so every process it
# starts inherits it), icload on CPU 1. More nodes cannot go faster here; the figure a real deployment pays is
# HAProxy's own CPU per request (from /proc/PID/stat, utime + stime, over the run), beside the nodes' CPU.
# Runs, side by side:
#   direct     icload -> one node's port (no proxy)
#   haproxy-1  icload -> HAProxy -> 1 node
#   haproxy-2  icload -> HAProxy -> 2 nodes
#   haproxy-3  icload -> HAProxy -> 3 nodes
# each a closed loop (32 connections: max requests/s, p99) and an open loop at 2,000 requests/s (p99), over 50
# tenants (Host t0..t49.example.com). Then node loss: 4 nodes, 200 tenants placed, one node SIGKILLed under an
# open loop; the share of tenants that moved, how many of them were not the dead node's, the time until HAProxy
# had it out, and the requests that failed meanwhile.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
only_loss=0
[ "${1:-}" = loss ] && { only_loss=1; shift; }
secs=${1:-5}
tenants=${2:-200}
[ $only_loss = 1 ] && tenants=${1:-200}
icload=$root/build/bin/icload
cluster=$root/tools/cluster.sh
for tool in haproxy curl taskset; do
    command -v $tool >/dev/null || { echo "bench/cluster.sh: needs $tool (tools/setup.sh)"; exit 0; }
done
ISOCORE_CLUSTER_DIR=$(mktemp -d)
export ISOCORE_CLUSTER_DIR
export ISOCORE_CLUSTER_PORT=18680 ISOCORE_CLUSTER_STATS_PORT=18681
trap '"$cluster" down >/dev/null 2>&1; rm -rf "$ISOCORE_CLUSTER_DIR"' EXIT
run=$ISOCORE_CLUSTER_DIR

ticks() { # pid... -> utime + stime in clock ticks, summed
    local t=0 p f
    for p in "$@"; do
        f=$(cat /proc/$p/stat 2>/dev/null) || continue
        f=${f##*) }
        set -- $f
        t=$((t + ${12} + ${13}))
    done
    echo $t
}
hz=$(getconf CLK_TCK)
node_pids() { cut -d' ' -f2 "$run"/n*.node; }
json() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$2"; }

echo "# bench/cluster.sh — $(date -u +%F) — $(nproc) CPUs, kernel $(uname -r), $(haproxy -v | head -1 | cut -d' ' -f1-3)"
echo "# nodes + HAProxy on CPU 0, icload on CPU 1; ${secs} s per run; 50 tenants"
[ $only_loss = 1 ] || {
echo
echo "| set-up | closed: requests/s | closed: p99 ms | open 2k/s: p99 ms | HAProxy CPU µs/request | nodes CPU µs/request |"
echo "|---|---|---|---|---|---|"
for setup in direct haproxy-1 haproxy-2 haproxy-3; do
    n=${setup#*-}
    [ "$setup" = direct ] && n=1
    taskset -c 0 "$cluster" up "$n" >/dev/null || { echo "cluster up failed"; exit 1; }
    if [ "$setup" = direct ]; then
        url=http://127.0.0.1:$(cut -d' ' -f3 "$run/n1.node")/
    else
        url=http://127.0.0.1:$ISOCORE_CLUSTER_PORT/
    fi
    hp=$(cat "$run/haproxy.pid")
    taskset -c 1 "$icload" --cores 1 -c 32 -d 1 --hosts 50 "$url" >/dev/null # warm-up: every tenant's isolate
    h0=$(ticks $hp)
    # shellcheck disable=SC2046 # one argument per PID
    n0=$(ticks $(node_pids))
    closed=$(taskset -c 1 "$icload" --cores 1 -c 32 -d "$secs" --hosts 50 --json "$url")
    h1=$(ticks $hp)
    # shellcheck disable=SC2046
    n1=$(ticks $(node_pids))
    open=$(taskset -c 1 "$icload" --cores 1 -c 32 -R 2000 -d "$secs" --hosts 50 --json "$url")
    req=$(json requests "$closed")
    hcpu=$(awk -v a=$h0 -v b=$h1 -v r=$req -v hz=$hz 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / r }')
    ncpu=$(awk -v a=$n0 -v b=$n1 -v r=$req -v hz=$hz 'BEGIN { printf "%.1f", (b - a) / hz * 1e6 / r }')
    [ "$setup" = direct ] && hcpu=-
    printf '| %s | %.0f | %.2f | %.2f | %s | %s |\n' "$setup" "$(json rps "$closed")" \
        "$(awk -v v="$(json p99 "$closed")" 'BEGIN { print v / 1e6 }')" "$(awk -v v="$(json p99 "$open")" 'BEGIN { print v / 1e6 }')" \
        "$hcpu" "$ncpu"
    "$cluster" down >/dev/null
done
}

echo
echo "## node loss: 4 nodes, $tenants tenants, n2 gets SIGKILL under an open loop of 1,000 requests/s"
taskset -c 0 "$cluster" up 4 >/dev/null || { echo "cluster up failed"; exit 1; }
place() { # -> "host node" lines
    local i
    for ((i = 0; i < tenants; i++)); do
        echo "t$i $(curl -s -D - -o /dev/null -H "Host: t$i.example.com" "http://127.0.0.1:$ISOCORE_CLUSTER_PORT/" |
            tr -d '\r' | awk -F': ' 'tolower($1) == "x-isocore-node" { print $2 }')"
    done
}
place >"$run/before"
taskset -c 1 "$icload" --cores 1 -c 16 -R 1000 -d 4 --hosts 50 --json "http://127.0.0.1:$ISOCORE_CLUSTER_PORT/" >"$run/load" &
lp=$!
sleep 1 # let the load run before the kill (a benchmark's pacing, not a synchronisation)
t0=$(date +%s.%N)
"$cluster" kill n2
for ((i = 0; i < 1000; i++)); do
    st=$(curl -s "http://127.0.0.1:$ISOCORE_CLUSTER_STATS_PORT/;csv" | awk -F, '$1 == "isocore" && $2 == "n2" { print $18 }')
    [ "$st" = DOWN ] && break
    sleep 0.01
done
t1=$(date +%s.%N)
wait $lp
place >"$run/after"
paste -d' ' "$run/before" "$run/after" | awk -v dt="$(echo "$t1 - $t0" | bc)" -v load="$(cat "$run/load")" '
    { n++; if ($2 == "n2") own++; if ($2 != $4) { moved++; if ($2 != "n2") others++ } }
    END {
        printf "tenants on n2 before: %d of %d (%.1f %%)\n", own, n, 100 * own / n
        printf "tenants moved: %d of %d (%.1f %%); moved although not on n2: %d\n", moved, n, 100 * moved / n, others
        printf "SIGKILL to n2 out of HAProxy: %.2f s\n", dt
        match(load, /"2xx":[0-9]+/); ok = substr(load, RSTART + 6, RLENGTH - 6)
        match(load, /"requests":[0-9]+/); all = substr(load, RSTART + 11, RLENGTH - 11)
        printf "open loop across the loss: %d of %d requests answered 200\n", ok, all
    }'
