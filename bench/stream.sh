#!/usr/bin/env bash
# bench/stream.sh: a 1 GiB response produced by a ReadableStream in 64 KiB chunks,
# isocore against Node, Bun and Deno side by side (interleaved rounds). Prints
# MB/s as curl receives it and the server's CPU time per GiB (utime + stime of
# the server process from /proc, before and after). Never fails the build.
#
#   bench/stream.sh [rounds] [mib]      (default 3 rounds of 1024 MiB)
#
# Server pinned to the first CPU of the mask, curl to the second. Bun and Deno
# come from npm as single binaries (@oven/bun-linux-x64, @deno/linux-x64-glibc),
# installed under build/rivals when missing (never into the repository); a rival
# that cannot be installed is left out with a note.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
mib=${2:-1024}
bin=$root/build/bin/isocore
worker=$root/bench/workers/stream.js
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/stream.sh: needs two CPUs"; exit 0; }
srv_cpu=${cpus[0]}
load_cpu=${cpus[1]}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rivals=$root/build/rivals
if [ ! -x "$rivals/node_modules/@oven/bun-linux-x64/bin/bun" ] || [ ! -x "$rivals/node_modules/@deno/linux-x64-glibc/deno" ]; then
    mkdir -p "$rivals"
    (cd "$rivals" && timeout 300 npm install --no-save --no-audit --no-fund --prefix . @oven/bun-linux-x64 @deno/linux-x64-glibc >/dev/null 2>&1) ||
        echo "# (npm could not install Bun and Deno: they are left out)"
fi
bun=$rivals/node_modules/@oven/bun-linux-x64/bin/bun
deno=$rivals/node_modules/@deno/linux-x64-glibc/deno
servers=(isocore)
command -v node >/dev/null && servers+=(node)
[ -x "$bun" ] && servers+=(bun)
[ -x "$deno" ] && servers+=(deno)

start_server() { # name -> sets pid, port
    case $1 in
    isocore) port=18091; taskset -c $srv_cpu "$bin" serve "$worker" --port $port --cores 1 2>"$tmp/srv.err" & pid=$! ;;
    node) port=18092; taskset -c $srv_cpu node "$root/bench/node/stream.mjs" $port 2>"$tmp/srv.err" & pid=$! ;;
    bun) port=18093; PORT=$port taskset -c $srv_cpu "$bun" run "$worker" >/dev/null 2>"$tmp/srv.err" & pid=$! ;;
    deno) port=18094; taskset -c $srv_cpu "$deno" serve --quiet --allow-env --port $port "$worker" >/dev/null 2>"$tmp/srv.err" & pid=$! ;;
    esac
    for i in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/?mib=1" && return 0
        sleep 0.1
    done
    echo "bench/stream.sh: $1 did not start: $(head -c 300 "$tmp/srv.err")"
    return 1
}
stop_server() { kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; }
cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; } # utime + stime, in clock ticks
hz=$(getconf CLK_TCK)

echo "# isocore bench/stream: ${mib} MiB per response, server on CPU $srv_cpu, curl on CPU $load_cpu, $rounds rounds"
echo "# $($bin version); node $(node --version 2>/dev/null); bun $([ -x "$bun" ] && "$bun" --version); $([ -x "$deno" ] && "$deno" --version | head -1); $(uname -r)"
echo
echo "| round | server | MB/s | server CPU s per GiB |"
echo "|---|---|---|---|"
for r in $(seq $rounds); do
    for s in "${servers[@]}"; do
        start_server $s || continue
        t0=$(cpu_ticks $pid)
        speed=$(taskset -c $load_cpu curl -s -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/?mib=$mib")
        t1=$(cpu_ticks $pid)
        stop_server
        echo "| $r | $s | $(awk -v b="$speed" 'BEGIN{printf "%.0f", b/1e6}') | $(awk -v t=$((t1 - t0)) -v hz=$hz -v m=$mib 'BEGIN{printf "%.3f", t/hz*1024/m}') |"
    done
done
