#!/usr/bin/env bash
# bench/placement.sh: sticky, spread and adaptive placement side by side on
# the workloads of issue 18, through the real server (2 reactors).
#
#   uniform  100 tenants, every one as popular              -> isolates and CPU per request
#   zipf     1,000 tenants, Zipf(1.1) popularity            -> p99 and isolates
#   hot      1,000 tenants, t0 takes 30 % of the requests   -> p99 and isolates
#
# Each request costs ≈ 5 µs of JS (bench/placement/worker.js). Open loop
# from icload (-R RATE, 64 connections, latency from the intended send
# times) on CPU 1; the server on CPUs 0-1. Per run: icload's p50/p99/p99.9,
# the server's CPU time per request (utime + stime of the process from
# /proc, over the measured seconds, divided by the requests /metrics
# counted), the warm isolates (/metrics, summed over cores), and for
# adaptive the replicas /metrics shows. Rounds interleave the placements;
# the table gives medians over rounds.
#
#   bench/placement.sh [rounds] [seconds] [rate]     (default 3 rounds of 8 s at 2000/s)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-8}
rate=${3:-2000}
modes=${MODES:-"uniform zipf hot"}
placements="sticky spread adaptive"
bin=$root/build/bin/isocore
icload=$root/build/bin/icload
for tool in curl python3 taskset; do
    command -v $tool >/dev/null || { echo "bench/placement.sh: needs $tool"; exit 0; }
done
[ -x "$bin" ] && [ -x "$icload" ] || { echo "bench/placement.sh: build first (tools/setup.sh)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${spid:-}" ] && kill $spid 2>/dev/null' EXIT
hz=$(getconf CLK_TCK)

make_config() { # placement tenants -> file
    local f=$tmp/$1-$2.json
    python3 - "$1" "$2" "$root/bench/placement/worker.js" >"$f" <<'PY'
import json, sys
p, n, mod = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(json.dumps({"listen": {"port": 18310}, "admin": {"port": 18311},
                  "workers": [{"name": f"t{i}", "module": mod, "routes": [f"t{i}.placement.test"], "placement": p} for i in range(n)]}))
PY
    echo "$f"
}
metric() { # name -> sum over its series
    curl -s http://127.0.0.1:18311/metrics | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {print s + 0}'
}
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }

echo "# bench/placement.sh — $(date -u +%F) — $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r), $("$bin" version)"
echo "# server: 2 reactors on CPUs 0-1; icload on CPU 1, open loop at $rate/s, 64 connections, ${rounds}x${secs}s after a warm-up (3 requests per tenant, then 2 s of the load); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $modes; do for p in $placements; do : >"$tmp/$m-$p"; done; done
for r in $(seq "$rounds"); do
    for m in $modes; do
        case $m in
        uniform) n=100; pop=() ;;
        zipf) n=1000; pop=(--zipf 1.1) ;;
        hot) n=1000; pop=(--hot 30) ;;
        esac
        for p in $placements; do
            cfg=$(make_config $p $n)
            taskset -c 0-1 "$bin" serve --config "$cfg" >"$tmp/server.log" 2>&1 &
            spid=$!
            for _ in $(seq 100); do curl -s -o /dev/null -H "Host: t0.placement.test" http://127.0.0.1:18310/ && break; sleep 0.1; done
            # warm-up: every tenant is asked a few times (its isolates are made), then 2 s of the measured load
            taskset -c 1 "$icload" -c 16 -n $((3 * n)) --hosts $n --host-suffix placement.test http://127.0.0.1:18310/ >/dev/null 2>&1
            taskset -c 1 "$icload" -c 64 -R "$rate" -d 2 --hosts $n --host-suffix placement.test "${pop[@]}" http://127.0.0.1:18310/ >/dev/null 2>&1
            req0=$(metric isocore_requests_total)
            t0=$(ticks $spid)
            taskset -c 1 "$icload" --json -c 64 -R "$rate" -d "$secs" --hosts $n --host-suffix placement.test "${pop[@]}" \
                http://127.0.0.1:18310/ >"$tmp/out.json"
            t1=$(ticks $spid)
            req1=$(metric isocore_requests_total)
            iso=$(metric isocore_isolates)
            reps=$(curl -s http://127.0.0.1:18311/metrics | awk '$1 ~ /^isocore_tenant_replicas\{/ && $2 > 1 {n++; s += $2} END {printf "%d", n + 0}')
            sheds=$(metric isocore_sheds_total)
            births=$(metric isocore_replica_births_total)
            python3 - "$tmp/out.json" $((req1 - req0)) $((t1 - t0)) "$hz" "$iso" "$reps" "$sheds" "$births" >>"$tmp/$m-$p" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); l = d["latency_ns"]
req, ticks, hz = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
cpu_us = ticks / hz * 1e6 / req if req else 0
print(l["p50"] / 1e3, l["p99"] / 1e3, l["p99.9"] / 1e3, d["rps"], cpu_us, *sys.argv[5:])
PY
            kill $spid; wait $spid 2>/dev/null; spid=
        done
    done
done

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
col() { cut -d' ' -f$2 "$tmp/$1" | median; }
echo
for m in $modes; do
    echo "### $m (medians of $rounds)"
    echo
    echo "| placement | p50 µs | p99 µs | p99.9 µs | req/s | server CPU µs/request | isolates | tenants with replicas | sheds | replica births |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for p in $placements; do
        printf "| %s | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f | %.0f |\n" "$p" "$(col $m-$p 1)" "$(col $m-$p 2)" "$(col $m-$p 3)" \
            "$(col $m-$p 4)" "$(col $m-$p 5)" "$(col $m-$p 6)" "$(col $m-$p 7)" "$(col $m-$p 8)" "$(col $m-$p 9)"
    done
    for b in sticky spread; do
        printf "| adaptive / %s | %.2f | %.2f | %.2f | | %.2f | %.2f | | | |\n" "$b" \
            "$(python3 -c "print($(col $m-adaptive 1) / max(1e-9, $(col $m-$b 1)))")" "$(python3 -c "print($(col $m-adaptive 2) / max(1e-9, $(col $m-$b 2)))")" \
            "$(python3 -c "print($(col $m-adaptive 3) / max(1e-9, $(col $m-$b 3)))")" "$(python3 -c "print($(col $m-adaptive 5) / max(1e-9, $(col $m-$b 5)))")" \
            "$(python3 -c "print($(col $m-adaptive 6) / max(1e-9, $(col $m-$b 6)))")"
    done
    echo
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
