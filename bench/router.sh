#!/usr/bin/env bash
# bench/router.sh: what sticky placement costs and what it saves.
#
#   bench/router.sh [rounds] [seconds]      (default 3 rounds of 5 s)
#
# One server, two reactors (CPUs 0 and 1, pinned), wrk -t1 -c64 on CPU 1
# as well: this VM has two CPUs, so the load generator shares one with a
# reactor in every run alike. Configs (bench/router/):
#   spread-1   one tenant, placement spread: every request runs where it lands (no hop)
#   sticky-1   one tenant, placement sticky: requests landing on the other core hop over the SPSC ring
#   spread-100 / sticky-100   100 tenants, Host rotated by a wrk script
# Per run: requests/s, server CPU µs/request (perf task-clock over both
# reactors), p50/p99 from wrk, the share of requests forwarded and the
# isolates that exist (from /metrics). The extra CPU per forwarded request
# is (sticky − spread) / forwarded share.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
bin=$root/build/bin/isocore
for tool in wrk perf curl; do
    command -v $tool >/dev/null || { echo "bench/router.sh: needs $tool"; exit 0; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make_config() { # name placement tenants
    local f=$tmp/$1.json
    { echo "{\"listen\": {\"port\": 18110}, \"admin\": {\"port\": 18111}, \"workers\": ["
      for i in $(seq 0 $(($3 - 1))); do
          [ $i -gt 0 ] && echo ","
          echo "{\"name\": \"t$i\", \"module\": \"$root/bench/router/hello.js\", \"routes\": [\"t$i.test\"], \"placement\": \"$2\"}"
      done
      echo "]}"; } >"$f"
    echo "$f"
}

metric() { # name -> sum over cores
    curl -s http://127.0.0.1:18111/metrics | awk -v m="$1" '$1 ~ "^"m"\\{" {s += $2} END {print s + 0}'
}

echo "# isocore bench/router: 2 reactors on CPUs 0-1, wrk -t1 -c64 on CPU 1, ${rounds}x${secs}s"
echo "# $($bin version); $(uname -r)"
echo
echo "| round | config | requests/s | CPU µs/request | p50 | p99 | forwarded | isolates |"
echo "|---|---|---|---|---|---|---|---|"
for r in $(seq $rounds); do
    for c in spread-1 sticky-1 spread-100 sticky-100; do
        n=${c#*-}
        cfg=$(make_config $c ${c%-*} $n)
        taskset -c 0,1 "$bin" serve --config "$cfg" 2>"$tmp/srv.err" &
        pid=$!
        for i in $(seq 50); do curl -s -o /dev/null -H "Host: t0.test" http://127.0.0.1:18110/ && break; sleep 0.1; done
        script=()
        [ $n -gt 1 ] && script=(-s "$root/bench/router/hosts.lua")
        # warm-up: every tenant gets its isolates
        TENANTS=$n taskset -c 1 wrk -t1 -c64 -d1s "${script[@]}" -H "Host: t0.test" http://127.0.0.1:18110/ >/dev/null 2>&1
        before_req=$(metric isocore_requests_total)
        before_fwd=$(metric isocore_forwarded_out_total)
        perf stat -x, -e task-clock -p $pid -o "$tmp/perf.txt" -- sleep $((secs + 1)) &
        perfpid=$!
        TENANTS=$n taskset -c 1 wrk -t1 -c64 -d${secs}s --latency "${script[@]}" -H "Host: t0.test" http://127.0.0.1:18110/ >"$tmp/wrk.txt" 2>&1
        wait $perfpid
        req=$(( $(metric isocore_requests_total) - before_req ))
        fwd=$(( $(metric isocore_forwarded_out_total) - before_fwd ))
        iso=$(metric isocore_isolates)
        kill -TERM $pid; wait $pid 2>/dev/null
        reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
        p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.txt")
        p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
        clk=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf.txt")
        cpu=$(awk -v c="$clk" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.2f", c * 1000 / n; else print "-" }')
        share=$(awk -v f="$fwd" -v n="$req" 'BEGIN { if (n > 0) printf "%.0f %%", 100 * f / n; else print "-" }')
        echo "| $r | $c | $rps | $cpu | $p50 | $p99 | $share | $iso |"
    done
done
