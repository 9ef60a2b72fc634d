#!/usr/bin/env bash
# bench/reload.sh: what a SIGHUP with an unchanged config costs, for one or
# two isocore binaries side by side (interleaved rounds). Prints a table;
# never fails the build.
#
#   bench/reload.sh [rounds] [tenants] [binary...]   (default 3 rounds, 100 tenants, build/bin/isocore)
#
# Per round and binary: a config of N tenants (one module, env NAME) on two
# cores, each tenant warmed with one request; then SIGHUP (config unchanged),
# wait for the "reload:" log line, and the first request of every tenant
# again, each on its own connection (curl's time_total). Reported: the
# isolates those first requests made (isocore_isolates_created_total over
# cores), a warm request's median before the reload for reference, and the
# first requests' latency after it (median, p90, max, in ms). Give main's binary and this
# tree's to compare (e.g. bench/reload.sh 3 100 /work/main/build/bin/isocore
# build/bin/isocore).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
tenants=${2:-100}
shift 2 2>/dev/null || shift $#
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$root/build/bin/isocore")
for tool in curl python3; do
    command -v $tool >/dev/null || { echo "bench/reload.sh: needs $tool (apt-get install curl python3)"; exit 0; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/echo.js" <<'JS'
export default {
  fetch(request, env) {
    return new Response(`${env.NAME} ${new URL(request.url).pathname}`);
  },
};
JS
{
    printf '{"cores": 2, "workers": ['
    for ((i = 0; i < tenants; i++)); do
        [ $i -gt 0 ] && printf ','
        printf '\n {"name": "t%d", "module": "%s/echo.js", "routes": ["t%d.bench"], "env": {"NAME": "t%d"}}' $i "$tmp" $i $i
    done
    printf ']}\n'
} >"$tmp/isocore.json"
port=18191
admin=18192

# "isolates_created requests" summed over cores.
scrape() {
    curl -s "http://127.0.0.1:$admin/metrics" |
        awk '/^isocore_isolates_created_total\{/ {c += $2} /^isocore_requests_total\{/ {r += $2} END {print c + 0, r + 0}'
}

# The first request of every tenant, each on its own connection: curl's time_total per line in $1.
ask_all() {
    : >"$1"
    for ((i = 0; i < tenants; i++)); do
        curl -s -o /dev/null -w '%{time_total}\n' -H "Host: t$i.bench" "http://127.0.0.1:$port/" >>"$1"
    done
}

# Prints "new_isolates warm_p50 p50 p90 max" for one binary: isolates the reload's first requests made, the
# warm figure (a second request per tenant before the reload), then the first requests after it.
one_round() {
    local bin=$1
    : >"$tmp/log"
    "$bin" serve --config "$tmp/isocore.json" --port $port --admin-port $admin 2>>"$tmp/log" &
    local pid=$!
    for ((k = 0; k < 200; k++)); do grep -q "serving " "$tmp/log" && break; sleep 0.05; done
    ask_all "$tmp/cold"
    ask_all "$tmp/warm"
    read -r c0 r0 < <(scrape)
    kill -HUP $pid
    for ((k = 0; k < 400; k++)); do grep -q "reload: " "$tmp/log" && break; sleep 0.05; done
    ask_all "$tmp/times"
    read -r c1 r1 < <(scrape)
    kill -TERM $pid
    wait $pid 2>/dev/null
    # A binary whose counters restart at zero on a reload (requests went down): what it counts is all new.
    local made=$((c1 - c0))
    [ "$r1" -lt "$r0" ] && made=$c1
    python3 - "$tmp/warm" "$tmp/times" "$made" <<'PY'
import sys
def load(p):
    return sorted(float(x) * 1000 for x in open(p) if x.strip())
w, t = load(sys.argv[1]), load(sys.argv[2])
q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
print(sys.argv[3], "%.2f %.2f %.2f %.2f" % (q(w, 0.5), q(t, 0.5), q(t, 0.9), t[-1]))
PY
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $tenants tenants, 2 cores, $rounds rounds"
echo "new_isolates: made by the first requests after the SIGHUP; warm_p50: a warm request before it; then the first"
echo "requests after it (ms, curl time_total, one connection each)"
printf '%-44s %5s %12s %9s %9s %9s %9s\n' binary round new_isolates warm_p50 p50 p90 max
for ((r = 1; r <= rounds; r++)); do
    for bin in "${bins[@]}"; do
        read -r made w50 p50 p90 max < <(one_round "$bin")
        printf '%-44s %5d %12s %9s %9s %9s %9s\n' "$bin" $r "$made" "$w50" "$p50" "$p90" "$max"
    done
done
