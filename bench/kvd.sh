#!/usr/bin/env bash
# bench/kvd.sh: examples/kvd against Debian's memcached, same threads, same
# pinning, same load (icload --memcache: 90 % get / 10 % set, 10,000 keys,
# 100-byte values, keys warmed first).
#
#   bench/kvd.sh [rounds] [seconds]      (default 3 rounds of 5 s)
#
# Two set-ups on this 2-CPU VM:
#   1 core : server on CPU 0 (kvd -c 1 / memcached -t 1), icload on CPU 1.
#   2 cores: server on CPUs 0-1 (kvd -c 2 / memcached -t 2), icload on CPU 1 too
#            (it shares a CPU with one server thread, alike for both; kvd forwards
#            about half the keys to the other core here).
# Per set-up: max throughput (closed loop, 32 connections), then tail latency
# at a fixed offered rate (open loop, 64 connections, latency from the
# intended send time) of 50 % of the lower of the two maxima. Rounds
# alternate servers; the medians are printed with the kvd/memcached ratios.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
kvd=$root/build/examples/kvd
icload=$root/build/bin/icload
for tool in memcached "$kvd" "$icload"; do
    command -v "$tool" >/dev/null || { echo "bench/kvd.sh: needs $tool (tools/setup.sh)"; exit 0; }
done
port=21911
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${spid:-}" ] && kill $spid 2>/dev/null' EXIT

echo "# bench/kvd.sh — $(date -u +%F) — $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), kernel $(uname -r)"
echo "# $(memcached -V), kvd (isocore $(git -C "$root" describe --always --dirty 2>/dev/null)), icload --memcache --keys 10000 --value-size 100 --set-ratio 0.1"

start() { # server cores cpus
    if [ "$1" = kvd ]; then
        taskset -c "$3" "$kvd" -p $port -c "$2" -m 256 >"$tmp/server.log" 2>&1 &
    else
        taskset -c "$3" memcached -p $port -l 127.0.0.1 -U 0 -t "$2" -m 256 -u "$(id -un)" >"$tmp/server.log" 2>&1 &
    fi
    spid=$!
    for _ in $(seq 50); do
        "$icload" --memcache -c 1 -n 1 127.0.0.1:$port >/dev/null 2>&1 && break
        sleep 0.1
    done
    # Warm the keys: every key set once, so gets hit.
    taskset -c 1 "$icload" --memcache -c 8 -n 20000 --set-ratio 1 127.0.0.1:$port >/dev/null
}

stop() {
    kill $spid 2>/dev/null
    wait $spid 2>/dev/null
    spid=
}

load() { # args… -> json
    taskset -c 1 "$icload" --memcache --json "$@" 127.0.0.1:$port
}

field() { # json path(a.b) -> value
    python3 -c "import json,sys; d=json.load(sys.stdin); [d:=d[k] for k in sys.argv[1].split('.')]; print(d)" "$1"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for setup in 1 2; do
    cpus=$([ $setup = 1 ] && echo 0 || echo 0-1)
    for s in kvd memcached; do : >"$tmp/$s.max"; : >"$tmp/$s.lat"; done
    for r in $(seq "$rounds"); do
        for s in kvd memcached; do
            start $s $setup $cpus
            load -c 32 -d "$secs" | field rps >>"$tmp/$s.max"
            stop
        done
    done
    kmax=$(median <"$tmp/kvd.max")
    mmax=$(median <"$tmp/memcached.max")
    rate=$(python3 -c "print(int(min($kmax, $mmax) * 0.5))")
    for r in $(seq "$rounds"); do
        for s in kvd memcached; do
            start $s $setup $cpus
            load -c 64 -d "$secs" -R "$rate" --warmup 1 >"$tmp/$s.json"
            python3 -c "import json; d=json.load(open('$tmp/$s.json')); l=d['latency_ns']; print(l['p50'], l['p99'], l['p99.9'], d['rps'])" >>"$tmp/$s.lat"
            stop
        done
    done
    echo
    echo "## $setup core(s): server CPUs $cpus, icload CPU 1; medians of $rounds rounds of ${secs} s"
    echo "| | kvd | memcached | kvd / memcached |"
    echo "|---|---:|---:|---:|"
    printf "| max throughput (req/s, closed loop, 32 conns) | %.0f | %.0f | %.2f |\n" "$kmax" "$mmax" "$(python3 -c "print($kmax / $mmax)")"
    for i in 1 2 3; do
        name=$(echo "p50 p99 p99.9" | cut -d' ' -f$i)
        k=$(cut -d' ' -f$i "$tmp/kvd.lat" | median)
        m=$(cut -d' ' -f$i "$tmp/memcached.lat" | median)
        printf "| %s at %s req/s (µs, open loop, 64 conns) | %.1f | %.1f | %.2f |\n" "$name" "$rate" "$(python3 -c "print($k / 1000)")" \
            "$(python3 -c "print($m / 1000)")" "$(python3 -c "print($k / $m)")"
    done
done
