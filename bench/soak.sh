#!/usr/bin/env bash
# bench/soak.sh: a long run of mixed load over 100 tenants, with errors and
# limits firing, watching the server's memory and descriptors.
#
#   bench/soak.sh [minutes] [rate]      (default 10 minutes at 4,000 requests/s)
#
# `isocore serve --config` with 95 tenants on two reactors (CPUs 0-1,
# pinned), every tenant running bench/soak/tenant.js with its own MODE:
#   t<i>, i mod 10 = 0-4  plain JSON answers      5  console.log (rate-limited)
#                    6    awaits a 1 ms timer    7  throws on every request: 500
#                    8    1 request in 50 loops into the CPU limit (20 ms): 503
#                    9    keeps 80 KB per request until its 16 MB heap limit: 503, isolate recycled
# icload (CPU 1) sends an open loop over Host t0 … t99.example.com with
# Zipf(1.0) popularity: t95 … t99 have no worker, so 404s as well. Every
# 10 s: the server's RSS (VmRSS), what malloc has handed out and not got
# back (/metrics isocore_malloc_in_use_bytes: RSS that grows while this
# stays flat is fragmentation or V8's own heaps, not a leak of ours), its
# open descriptors, its warm isolates and the requests answered so far. At the end: the status mix, the errors
# icload saw, growth of RSS and fds from the end of the first minute (the
# warm-up: every isolate created, buffers and pools at their size) to the
# end, and the server's exit status after SIGTERM.
#
# Environment:
#   SOAK_MODES  the ten modes, instead of the list below
#   SOAK_BIN    where isocore and icload are (default build/bin): a copy
#               taken before a long run lets the tree be rebuilt meanwhile
#   SOAK_PLOT   a PNG to draw (gnuplot): RSS and malloc in use over time,
#               with the isolates created, and the per-isolate figure
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
minutes=${1:-10}
rate=${2:-4000}
bin=${SOAK_BIN:-$root/build/bin}/isocore
icload=${SOAK_BIN:-$root/build/bin}/icload
plot=${SOAK_PLOT:-}
port=18120
admin=18121
for tool in curl taskset; do
    command -v $tool >/dev/null || { echo "bench/soak.sh: needs $tool"; exit 0; }
done
[ -x "$bin" ] && [ -x "$icload" ] || { echo "bench/soak.sh: build first (./tools/setup.sh)"; exit 1; }
if [ -n "$plot" ] && ! command -v gnuplot >/dev/null; then
    echo "bench/soak.sh: SOAK_PLOT needs gnuplot (apt-get install gnuplot-nox); no plot drawn"
    plot=
fi
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# SOAK_MODES overrides the ten modes (for example without "leak", to see memory without isolate recycling).
modes=(${SOAK_MODES:-plain plain plain plain plain log timer throw cpu leak})
{
    echo "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": $port}, \"admin\": {\"host\": \"127.0.0.1\", \"port\": $admin},"
    echo " \"limits\": {\"cpu_ms\": 20, \"wall_ms\": 5000, \"heap_mb\": 16}, \"workers\": ["
    for i in $(seq 0 94); do
        [ "$i" -gt 0 ] && echo ","
        echo "{\"name\": \"t$i\", \"module\": \"$root/bench/soak/tenant.js\", \"routes\": [\"t$i.example.com\"],"
        echo " \"env\": {\"NAME\": \"t$i\", \"MODE\": \"${modes[$((i % 10))]}\"}}"
    done
    echo "]}"
} >"$tmp/soak.json"

metric() { # name -> sum over cores
    curl -s http://127.0.0.1:$admin/metrics | awk -v m="$1" '$1 ~ "^"m"\\{" {s += $2} END {print s + 0}'
}

gauge() { # name of an unlabelled gauge -> its value
    curl -s http://127.0.0.1:$admin/metrics | awk -v m="$1" '$1 == m {print $2}'
}

echo "# isocore bench/soak: ${minutes} min, open loop ${rate} requests/s over 100 hosts (95 tenants), Zipf(1.0)"
echo "# server: 2 reactors on CPUs 0-1; icload on CPU 1; $($bin version); $(uname -r); $(date -u +%FT%TZ)"
taskset -c 0,1 "$bin" serve --config "$tmp/soak.json" 2>"$tmp/server.err" &
pid=$!
for i in $(seq 100); do curl -s -o /dev/null -H "Host: t0.example.com" http://127.0.0.1:$port/ && break; sleep 0.1; done
secs=$((minutes * 60))
taskset -c 1 "$icload" --json -R "$rate" -d "$secs" -c 64 --hosts 100 --zipf 1.0 "http://127.0.0.1:$port/soak" >"$tmp/load.json" 2>&1 &
lpid=$!

echo
echo "| t (s) | RSS (MiB) | malloc in use (MiB) | fds | isolates | created | answered |"
echo "|---|---|---|---|---|---|---|"
samples=$tmp/samples
: >"$samples"
# t is the time since the load started, read at each sample (a sample's curl calls take a while on a loaded machine).
start=$SECONDS
t=0
row=0
while [ $t -le $secs ] && kill -0 $lpid 2>/dev/null; do
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
    fds=$(ls /proc/$pid/fd | wc -l)
    iso=$(metric isocore_isolates)
    req=$(metric isocore_requests_total)
    heap=$(( $(gauge isocore_malloc_in_use_bytes) / 1024 ))
    made=$(metric isocore_isolates_created_total)
    echo "$t $rss $fds $iso $req $heap $made" >>"$samples"
    # A row a minute in the table; every sample (10 s) in the figures below.
    [ $t -ge $row ] && row=$((row + 60)) && awk -v t=$t -v r="$rss" -v h="$heap" -v f="$fds" -v i="$iso" -v m="$made" -v q="$req" 'BEGIN { printf "| %d | %.1f | %.2f | %d | %d | %d | %d |\n", t, r / 1024, h / 1024, f, i, m, q }'
    sleep 10 # the sampling period of a benchmark, not a synchronisation
    t=$((SECONDS - start))
done
wait $lpid
# Before the server goes: outcomes by kind of tenant, and the isolates created in all.
curl -s http://127.0.0.1:$admin/metrics >"$tmp/metrics.txt"
kill -TERM $pid
wait $pid
status=$?
pid=
echo
echo "server exit status after SIGTERM: $status"
echo
echo "icload: $(cat "$tmp/load.json")"
echo
# From the end of the first minute: first and last sample, range, and the least-squares slope (per 10 minutes).
trend() { # column label divisor unit
    awk -v c="$1" -v label="$2" -v d="$3" -v u="$4" '$1 >= 60 { n++; t = $1 / 60; v = $c / d; if (n == 1) { v0 = lo = hi = v }
            v1 = v; t1 = $1; if (v < lo) lo = v; if (v > hi) hi = v; st += t; stt += t * t; sv += v; stv += t * v }
        END { if (n < 2) { print label ": too short to judge (run at least 2 minutes)"; exit }
              k = (n * stv - st * sv) / (n * stt - st * st)
              printf "%s (60 s … %d s, %d samples): %.1f → %.1f%s (min %.1f, max %.1f), slope %+.2f%s per 10 min\n", label, t1, n, v0, v1, u, lo, hi, k * 10, u }' "$samples"
}
trend 2 "RSS" 1024 " MiB"
trend 6 "malloc in use" 1024 " MiB"
trend 3 "open fds" 1 ""
# Malloc against isolates created (least squares, from the end of the first minute): bytes kept per isolate recycled.
awk '$1 >= 60 { n++; x = $7; y = $6 * 1024; sx += x; sxx += x * x; sy += y; sxy += x * y; if (n == 1) x0 = x; x1 = x }
     END { d = n * sxx - sx * sx; if (n < 2 || d == 0) { print "malloc in use per isolate created: no isolates created after the first minute"; exit }
           printf "malloc in use per isolate created (60 s … end, %d isolates created): %+.0f bytes (least squares of malloc in use against isolates created)\n", x1 - x0, (n * sxy - sx * sy) / d }' "$samples"
# Means per 10 minutes of malloc in use and RSS: the curve, without the sawtooth of the recycled heaps.
echo
echo "| minutes | malloc in use, mean (MiB) | RSS, mean (MiB) | isolates created by the end |"
echo "|---|---|---|---|"
awk '{ w = int($1 / 600); n[w]++; h[w] += $6; r[w] += $2; m[w] = $7; if (w > last) last = w }
     END { for (w = 0; w <= last; w++) if (n[w]) printf "| %d-%d | %.2f | %.1f | %d |\n", w * 10, w * 10 + 10, h[w] / n[w] / 1024, r[w] / n[w] / 1024, m[w] }' "$samples"
echo
echo "| tenants | ok | exception (500) | limit (503) | timeout (504) |"
echo "|---|---|---|---|---|"
awk -v modes="${modes[*]}" 'BEGIN { split(modes, m, " ") }
     /^isocore_tenant_requests_total/ { match($0, /tenant="t[0-9]+"/); i = substr($0, RSTART + 9, RLENGTH - 10) + 0
       match($0, /outcome="[a-z_0-9]+"/); o = substr($0, RSTART + 9, RLENGTH - 10); k = m[i % 10 + 1]; n[k, o] += $2; kinds[k] = 1 }
     END { for (k in kinds) printf "| %s | %d | %d | %d | %d |\n", k, n[k, "ok"], n[k, "exception"], n[k, "limit_503"], n[k, "timeout_504"] }' \
    "$tmp/metrics.txt" | sort
echo
echo "isolates created in all: $(awk '/^isocore_isolates_created_total\{/ {s += $2} END {print s + 0}' "$tmp/metrics.txt"); 404s (no such tenant): $(awk '/^isocore_not_found_total\{/ {s += $2} END {print s + 0}' "$tmp/metrics.txt")"
echo
echo "samples (t s, RSS KiB, fds, isolates, answered, malloc in use KiB, isolates created): $(awk '{printf "%s%s %s %s %s %s %s %s", (NR > 1 ? "; " : ""), $1, $2, $3, $4, $5, $6, $7}' "$samples")"
echo "server log: $(grep -c 'CPU time limit' "$tmp/server.err") CPU-limit lines, $(grep -c 'heap limit\|memory limit' "$tmp/server.err") memory-limit lines, $(grep -c 'uncaught exception' "$tmp/server.err") uncaught exceptions, $(grep -c 'soak: a log line' "$tmp/server.err") console lines kept"
if [ -n "$plot" ]; then
    # Two panels: RSS with the isolates created, and malloc in use on its own scale (flat or not shows there).
    cat >"$tmp/plot.gp" <<GP
set terminal pngcairo size 900,700 font ',10'
set output '$plot'
set multiplot layout 2,1 title 'isocore soak: ${minutes} min, ${rate} requests/s offered, 95 tenants'
set key top left
set xlabel 'minutes'
set ytics nomirror
set y2tics
set ylabel 'RSS (MiB)'
set y2label 'isolates created'
set yrange [0:*]
plot '$samples' using (\$1/60):(\$2/1024) with lines title 'RSS', '' using (\$1/60):7 axes x1y2 with lines dt 2 title 'isolates created (right)'
unset y2tics
unset y2label
set ylabel 'malloc in use (MiB)'
set autoscale y
plot '$samples' using (\$1/60):(\$6/1024) with lines lw 2 title 'malloc in use (glibc mallinfo2, /metrics)'
unset multiplot
GP
    if gnuplot "$tmp/plot.gp" 2>"$tmp/gp.err"; then
        echo "plot: $plot"
    else
        echo "plot: gnuplot failed: $(head -c 300 "$tmp/gp.err")"
    fi
fi
