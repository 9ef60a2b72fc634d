#!/usr/bin/env bash
# bench/lowload.sh: CPU per request below saturation, where a server sleeps
# between requests and every request pays a wake-up. Prints tables; never
# fails the build.
#
#   bench/lowload.sh [rounds] [seconds] [rates]     (default 3 rounds of 5 s at "2000 20000")
#
# Part 1, one core (server on the first CPU of the mask, icload's open loop
# on the second): nginx (bench/nginx.conf), isocore's static responder and
# isocore serving examples/hello.js, taking turns in every round.
# Part 2, two reactors (server on both CPUs, icload on the second, as
# bench/placement.sh does): one tenant of bench/placement/worker.js placed
# "sticky" (every request that lands on the other core is forwarded: the
# hop at this load) and "spread" (every core runs it), taking turns.
# Per run: CPU time of the server process per request (/proc utime + stime
# over the measured seconds ÷ icload's answers), and for isocore in config
# mode the reactors' sleeps (waits entered), doorbells and loop turns per
# request from /metrics. Medians over the rounds.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
rates=${3:-"2000 20000"}
bin=$root/build/bin/isocore
icload=$root/build/bin/icload
for tool in nginx curl python3 taskset; do
    command -v $tool >/dev/null || { echo "bench/lowload.sh: needs $tool (apt-get install nginx-light curl)"; exit 0; }
done
[ -x "$bin" ] && [ -x "$icload" ] || { echo "bench/lowload.sh: build first (tools/setup.sh)"; exit 0; }
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/lowload.sh: needs two CPUs"; exit 0; }
c0=${cpus[0]}
c1=${cpus[1]}
tck=$(getconf CLK_TCK)
tmp=$(mktemp -d)
mkdir -p "$tmp/tmp"
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$tmp"' EXIT
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
metric() { curl -s http://127.0.0.1:18411/metrics | awk -v m="$1" 'index($1, m "{") == 1 {s += $2} END {print s + 0}'; }
for p in sticky spread; do
    python3 - "$p" "$root/bench/placement/worker.js" >"$tmp/$p.json" <<'PY'
import json, sys
print(json.dumps({"listen": {"port": 18410}, "admin": {"port": 18411},
                  "workers": [{"name": "t0", "module": sys.argv[2], "routes": ["t0.lowload.test"], "placement": sys.argv[1]}]}))
PY
done

launch() { # name -> pid, port, host, cfg (1 when /metrics is there)
    local name=$1
    cfg=0
    host=x
    case $name in
    nginx) port=18081; taskset -c $c0 nginx -p "$tmp" -c "$root/bench/nginx.conf" >/dev/null 2>"$tmp/err" & pid=$! ;;
    static) port=18412; taskset -c $c0 "$bin" serve --static 'Hello World' --port $port --cores 1 >/dev/null 2>"$tmp/err" & pid=$! ;;
    hello) port=18413; taskset -c $c0 "$bin" serve "$root/examples/hello.js" --port $port --cores 1 >/dev/null 2>"$tmp/err" & pid=$! ;;
    sticky | spread)
        port=18410; cfg=1; host=t0.lowload.test
        taskset -c $c0,$c1 "$bin" serve --config "$tmp/$name.json" >/dev/null 2>"$tmp/err" & pid=$! ;;
    esac
    for _ in $(seq 100); do
        curl -s -o /dev/null -H "Host: $host" "http://127.0.0.1:$port/" && return 0
        sleep 0.1
    done
    echo "bench/lowload.sh: $name did not start: $(cat "$tmp/err")"
    kill -9 $pid 2>/dev/null
    pid=
    return 1
}

run() { # name rate -> one line into $tmp/<name>-<rate>
    local name=$1 rate=$2
    launch "$name" || return
    local url="http://127.0.0.1:$port/" h=(-H "Host: $host")
    taskset -c $c1 "$icload" -c 64 -R "$rate" -d 2 "${h[@]}" "$url" >/dev/null 2>&1 # warm-up (V8 tiers up)
    local s0=0 w0=0 l0=0 s1=0 w1=0 l1=0
    [ $cfg = 1 ] && { s0=$(metric isocore_sleeps_total); w0=$(metric isocore_wakeups_sent_total); l0=$(metric isocore_loop_turns_total); }
    local t0 t1
    t0=$(ticks $pid)
    taskset -c $c1 "$icload" --json -c 64 -R "$rate" -d "$secs" "${h[@]}" "$url" >"$tmp/out.json" 2>/dev/null
    t1=$(ticks $pid)
    [ $cfg = 1 ] && { s1=$(metric isocore_sleeps_total); w1=$(metric isocore_wakeups_sent_total); l1=$(metric isocore_loop_turns_total); }
    kill -INT $pid 2>/dev/null
    wait $pid 2>/dev/null
    pid=
    python3 - "$tmp/out.json" $((t1 - t0)) "$tck" $cfg $((s1 - s0)) $((w1 - w0)) $((l1 - l0)) >>"$tmp/$name-$rate" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
n = o.get("requests", 0) or 1
cpu = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / n
cfg = sys.argv[4] == "1"
s, w, l = (int(x) / n for x in sys.argv[5:8])
print(f"{cpu:.1f} {s if cfg else -1:.2f} {w if cfg else -1:.2f} {l if cfg else -1:.2f} {o.get('latency_ns', {}).get('p99', -1)} {n}")
PY
}

echo "# bench/lowload.sh — $(date -u +%F) — ${#cpus[@]} CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r), $("$bin" version)"
echo "# ${rounds} rounds of ${secs} s per point, open loop (icload -R, 64 connections) on CPU $c1; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
    for rate in $rates; do
        for name in nginx static hello sticky spread; do run $name "$rate"; done
    done
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp" "$rates" <<'PY'
import os, statistics, sys
tmp, rates = sys.argv[1], sys.argv[2].split()
def med(name, rate, i):
    f = os.path.join(tmp, f"{name}-{rate}")
    if not os.path.exists(f):
        return None
    v = [float(l.split()[i]) for l in open(f) if l.strip()]
    return (statistics.median(v), min(v), max(v)) if v else None
print("\n## One core: CPU µs per request (median, min-max over rounds)\n")
print("| rate req/s | nginx | isocore static | isocore hello.js | static / nginx | hello / nginx |")
print("|---:|---:|---:|---:|---:|---:|")
for rate in rates:
    n, s, h = (med(x, rate, 0) for x in ("nginx", "static", "hello"))
    cell = lambda m: f"{m[0]:.1f} ({m[1]:.1f}-{m[2]:.1f})" if m else "-"
    ratio = lambda a, b: f"{a[0] / b[0]:.2f}" if a and b else "-"
    print(f"| {rate} | {cell(n)} | {cell(s)} | {cell(h)} | {ratio(s, n)} | {ratio(h, n)} |")
print("\n## Two reactors, one tenant (bench/placement/worker.js): sticky (forwarded from the other core) vs spread\n")
print("| rate req/s | placement | CPU µs/request | sleeps/request | doorbells/request | loop turns/request |")
print("|---:|---|---:|---:|---:|---:|")
for rate in rates:
    for p in ("sticky", "spread"):
        c = med(p, rate, 0)
        if not c:
            continue
        s, w, l = (med(p, rate, i)[0] for i in (1, 2, 3))
        print(f"| {rate} | {p} | {c[0]:.1f} ({c[1]:.1f}-{c[2]:.1f}) | {s:.2f} | {w:.2f} | {l:.2f} |")
    a, b = med("sticky", rate, 0), med("spread", rate, 0)
    if a and b:
        print(f"| {rate} | sticky − spread | {a[0] - b[0]:+.1f} | | | |")
PY
