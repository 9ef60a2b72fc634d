#!/usr/bin/env bash
# bench/sim/validate.sh: the simulator against the real runtime at 2 cores,
# on bench/bimodal.sh's workload (one tenant, 10,000 cheap requests/s and
# 1 heavy/s, sticky, spread and adaptive).
#
#   bench/sim/validate.sh [rounds] [seconds]     (default 3 rounds of 10 s, as bench/bimodal.sh)
#
# 1. Calibration, on the real server (spread, 2 reactors on CPUs 0-1): the
#    CPU time of a heavy request alone (server ticks over 10 sequential
#    /heavy, and their wall time), and the CPU per cheap request at
#    bench/bimodal.sh's rate (server ticks over a 5 s icload run).
# 2. bench/bimodal.sh itself (the reference).
# 3. isosim at 2 cores with the calibrated costs, `rounds` seeds, medians:
#    (a) the simulator's own arrival model (Poisson, each request on a
#        random core); (b) icload's (64 connections for the cheap requests
#        and 4 for the heavy ones, each on a random core, fixed intervals,
#        a due request waiting for a free connection); (c) as (b) with the
#        heavy request's wall time alone in place of its CPU time (what a
#        loaded machine, where the server gets only part of each CPU, makes
#        the cheap requests behind it wait).
# Prints one table: real and simulated cheap-request p50/p99/p99.9 and
# their ratios. The tolerance (bench/sim/README.md): p99 and p99.9 within
# a factor of 2. A benchmark: it never fails on figures.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}
secs=${2:-10}
bin=$root/build/bin/isocore
icload=$root/build/bin/icload
isosim=$root/build/bin/isosim
for t in "$bin" "$icload" "$isosim"; do
    [ -x "$t" ] || { echo "validate.sh: $t is missing (build with tools/setup.sh)" >&2; exit 1; }
done
for t in python3 curl taskset; do
    command -v $t >/dev/null || { echo "validate.sh: $t is missing" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${spid:-}" ] && kill $spid 2>/dev/null' EXIT
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

echo "# bench/sim/validate.sh — $(date -u '+%F %H:%M') UTC — $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Calibration.
cat >"$tmp/c.json" <<JSON
{"listen": {"port": 18230}, "admin": {"port": 18231}, "workers": [{"name": "app", "module": "$root/bench/bimodal/worker.js", "routes": ["t0.bimodal.test"], "placement": "spread"}]}
JSON
taskset -c 0-1 "$bin" serve --config "$tmp/c.json" >"$tmp/server.log" 2>&1 &
spid=$!
for _ in $(seq 50); do curl -s -o /dev/null -H "Host: t0.bimodal.test" http://127.0.0.1:18230/cheap && break; sleep 0.1; done
for _ in 1 2; do curl -s -o /dev/null -H "Host: t0.bimodal.test" http://127.0.0.1:18230/heavy; done # both isolates warm
a=$(ticks $spid)
t0=$(date +%s%N)
for _ in $(seq 10); do curl -s -o /dev/null -H "Host: t0.bimodal.test" http://127.0.0.1:18230/heavy; done
t1=$(date +%s%N)
b=$(ticks $spid)
heavy_ms=$(python3 -c "print(round(($b - $a) * 1000 / $hz / 10, 1))")
heavy_wall_ms=$(python3 -c "print(round(($t1 - $t0) / 1e6 / 10, 1))")
a=$(ticks $spid)
taskset -c 1 "$icload" --json -c 64 -R 10000 -d 5 --hosts 1 --host-suffix bimodal.test http://127.0.0.1:18230/cheap >"$tmp/cal.json"
b=$(ticks $spid)
cheap_ns=$(python3 -c "import json; d=json.load(open('$tmp/cal.json')); print(round(($b - $a) * 1e9 / $hz / (d['rps'] * 5)))")
kill $spid
wait $spid 2>/dev/null
spid=
slow=$(python3 -c "print(round(max(1.0, $heavy_wall_ms / $heavy_ms), 2))")
echo "# calibration: heavy request alone ${heavy_ms} ms CPU (${heavy_wall_ms} ms wall, slowdown ${slow}); cheap request ${cheap_ns} ns CPU at 10,000/s (server CPU / requests)"

# 2. The real runtime.
"$root/bench/bimodal.sh" "$rounds" "$secs" | tee "$tmp/real.txt"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# 3. The simulator: the cheap request's cost is http_ns + js_ns, so http_ns takes the rest of the measured figure (js_ns:
# isosim's default, bench/sim/README.md; the measured figure has the sleeps and wake-ups of a server at 10,000/s in it).
js_ns=914
http_ns=$(python3 -c "print(max(0, $cheap_ns - $js_ns))")
common="--cores 2 --workloads bimodal --policies sticky,spread,adaptive --seconds $((secs + 1)) --warmup 1 --heavy-ms $heavy_ms --http-ns $http_ns --json"
for r in $(seq "$rounds"); do
    "$isosim" $common --seed "$r" >"$tmp/sim_a_$r.json"
    "$isosim" $common --seed "$r" --conns 64 --heavy-conns 4 --fixed >"$tmp/sim_b_$r.json"
    "$isosim" $common --seed "$r" --conns 64 --heavy-conns 4 --fixed --heavy-ms "$heavy_wall_ms" >"$tmp/sim_c_$r.json"
done
python3 - "$tmp" "$rounds" <<'PY'
import json, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
real = {}
for line in open(f"{tmp}/real.txt"):
    m = re.match(r"\| (sticky|spread|adaptive) \|(.*)", line)
    if m:
        f = [float(x) for x in m.group(2).split("|")[:8] if x.strip()]
        real[m.group(1)] = [f[0], f[1], f[2], f[6]]  # p50, p99, p99.9 (µs), share over 1 ms (%)
models = {"a": "sim: Poisson, random core", "b": "sim: icload's connections", "c": "sim: connections, heavy at its wall time"}
print()
print("| policy | source | p50 (µs) | p99 (µs) | p99.9 (µs) | over 1 ms (%) | p99 sim/real | p99.9 sim/real | over 1 ms sim/real | within 2× |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
for pol in ("sticky", "spread", "adaptive"):
    if pol not in real:
        continue
    r = real[pol]
    print(f"| {pol} | real (bench/bimodal.sh, median of {rounds}) | {r[0]:.0f} | {r[1]:.0f} | {r[2]:.0f} | {r[3]:.3f} | | | | |")
    for key, name in models.items():
        vals = []
        for i in range(1, rounds + 1):
            for run in json.load(open(f"{tmp}/sim_{key}_{i}.json")):
                if run["policy"] == pol:
                    c = run["cheap_ns"]
                    vals.append([c["p50"] / 1e3, c["p99"] / 1e3, c["p99.9"] / 1e3, run["cheap_over_1ms"] * 100])
        med = [statistics.median(v[j] for v in vals) for j in range(4)]
        q99, q999 = med[1] / r[1], med[2] / r[2]
        qo = med[3] / r[3] if r[3] else float("nan")
        ok = "yes" if 0.5 <= q99 <= 2 and 0.5 <= q999 <= 2 else "no"
        print(f"| {pol} | {name} | {med[0]:.0f} | {med[1]:.0f} | {med[2]:.0f} | {med[3]:.3f} | {q99:.2f} | {q999:.2f} | {qo:.2f} | {ok} |")
PY
