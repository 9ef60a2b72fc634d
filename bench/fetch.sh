#!/usr/bin/env bash
# bench/fetch.sh: outbound fetch() and HTTPS, side by side with their rivals,
# interleaved rounds. Prints tables; never fails the build.
#
#   bench/fetch.sh [rounds] [seconds]      (default 3 rounds of 5 s)
#
# 1. A proxy worker (bench/workers/proxy.js: `return fetch(env.UPSTREAM +
#    path)`) in front of nginx serving a 1 KiB static file, over HTTP and over
#    HTTPS (nginx with TLS, a CA and certificate made here; isocore trusts it
#    through SSL_CERT_FILE, Node through NODE_EXTRA_CA_CERTS), against Node's
#    own fetch (undici) on node:http doing the same (bench/node/proxy.mjs).
# 2. HTTPS hello: `isocore serve examples/hello.js --tls-cert --tls-key`
#    against nginx answering "Hello World" with TLS, same certificate, same
#    protocol (TLS 1.3, the cipher both pick: printed).
# The measured server is pinned to the first CPU of the mask, wrk (1 thread,
# 64 connections; keep-alive) and the upstream nginx to the second. Figures:
# requests/s and the server's CPU time per request (perf stat -e task-clock
# on the server while wrk runs): median of the rounds, with min-max.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
secs=${2:-5}
bin=$root/build/bin/isocore
for tool in node wrk perf nginx openssl curl; do
    command -v $tool >/dev/null || { echo "bench/fetch.sh: needs $tool (apt-get install nodejs wrk linux-perf nginx-light openssl curl)"; exit 0; }
done
cpus=($(taskset -pc $$ | sed 's/.*: //' | tr ',' ' ' | xargs -n1 | while IFS=- read a b; do seq $a ${b:-$a}; done))
[ ${#cpus[@]} -ge 2 ] || { echo "bench/fetch.sh: needs two CPUs"; exit 0; }
srv_cpu=${cpus[0]}
load_cpu=${cpus[1]}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    [ -f "$tmp/nginx.pid" ] && kill -TERM "$(cat "$tmp/nginx.pid")" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"
}
trap cleanup EXIT

# A CA and a certificate for 127.0.0.1 / localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=isocore bench CA" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.pem" >/dev/null 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout "$tmp/key.pem" -out "$tmp/csr.pem" >/dev/null 2>&1
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tmp/ext.cnf"
openssl x509 -req -in "$tmp/csr.pem" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 -extfile "$tmp/ext.cnf" \
    -out "$tmp/cert.pem" >/dev/null 2>&1
head -c 1024 /dev/urandom | base64 -w 0 | head -c 1024 >"$tmp/file.txt"
chmod 755 "$tmp"
chmod 644 "$tmp/file.txt" # nginx's workers run as www-data

# nginx: the upstream (18201 HTTP, 18202 HTTPS) and the HTTPS hello rival (18203), one worker on the load CPU.
cat >"$tmp/nginx.conf" <<CONF
worker_processes 1;
worker_cpu_affinity auto;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:18201; root $tmp; }
    ssl_protocols TLSv1.2 TLSv1.3; # as isocore: wrk negotiates TLS 1.3 with both
    server { listen 127.0.0.1:18202 ssl; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem; root $tmp; }
    server { listen 127.0.0.1:18203 ssl; ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;
             location / { default_type text/plain; return 200 "Hello World"; } }
}
CONF
taskset -c $load_cpu nginx -c "$tmp/nginx.conf" -p "$tmp" -g 'daemon on;' 2>"$tmp/nginx.start" ||
    { echo "bench/fetch.sh: nginx did not start: $(cat "$tmp/nginx.start")"; exit 0; }

export SSL_CERT_FILE=$tmp/ca.pem NODE_EXTRA_CA_CERTS=$tmp/ca.pem

start() { # what -> sets pid, url
    case $1 in
    isocore-http) url=http://127.0.0.1:18210/file.txt
        taskset -c $srv_cpu "$bin" serve "$root/bench/workers/proxy.js" --port 18210 --cores 1 --env UPSTREAM=http://127.0.0.1:18201 2>>"$tmp/srv.err" & ;;
    isocore-https) url=http://127.0.0.1:18211/file.txt
        taskset -c $srv_cpu "$bin" serve "$root/bench/workers/proxy.js" --port 18211 --cores 1 --env UPSTREAM=https://localhost:18202 2>>"$tmp/srv.err" & ;;
    node-http) url=http://127.0.0.1:18212/file.txt
        taskset -c $srv_cpu node "$root/bench/node/proxy.mjs" http://127.0.0.1:18201 18212 2>>"$tmp/srv.err" & ;;
    node-https) url=http://127.0.0.1:18213/file.txt
        taskset -c $srv_cpu node "$root/bench/node/proxy.mjs" https://localhost:18202 18213 2>>"$tmp/srv.err" & ;;
    isocore-tls-hello) url=https://127.0.0.1:18214/
        taskset -c $srv_cpu "$bin" serve "$root/examples/hello.js" --port 18214 --cores 1 --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" 2>>"$tmp/srv.err" & ;;
    nginx-tls-hello) url=https://127.0.0.1:18215/
        sed -e "s|pid $tmp/nginx.pid|pid $tmp/nginx2.pid|" -e 's|18201|18221|;s|18202|18222|;s|18203|18215|' "$tmp/nginx.conf" >"$tmp/nginx2.conf"
        taskset -c $srv_cpu nginx -c "$tmp/nginx2.conf" -p "$tmp" -g 'daemon off;' 2>>"$tmp/srv.err" & ;;
    esac
    pid=$!
    pids+=($pid)
    for i in $(seq 100); do
        [ "$(curl -sk -o /dev/null -w '%{http_code}' "$url")" = 200 ] && return 0
        sleep 0.1
    done
    echo "bench/fetch.sh: $1 did not answer 200 at $url"; tail -3 "$tmp/srv.err"; stop; return 1
}
stop() { kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; }

measure() { # what -> appends "what rps cpu_us" to $tmp/results
    start $1 || return
    taskset -c $load_cpu wrk -t1 -c64 -d1s "$url" >/dev/null 2>&1
    # nginx runs a master and a worker: the worker is the child.
    local target=$pid
    [ "$1" = nginx-tls-hello ] && target=$(pgrep -P $pid | head -1)
    perf stat -x, -e task-clock -p $target -o "$tmp/perf.txt" -- sleep $((secs + 1)) &
    local perfpid=$!
    taskset -c $load_cpu wrk -t1 -c64 -d${secs}s "$url" >"$tmp/wrk.txt" 2>&1
    wait $perfpid
    stop
    local reqs rps clk errs
    reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
    rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' "$tmp/wrk.txt" | tr '\n' ' ')
    clk=$(awk -F, '/task-clock/ {print $1}' "$tmp/perf.txt")
    awk -v w="$1" -v c="$clk" -v n="$reqs" -v r="$rps" 'BEGIN { if (n > 0) printf "%s %s %.2f\n", w, r, c * 1000 / n }' >>"$tmp/results"
    [ -n "$errs" ] && echo "# $1: $errs"
}

echo "# isocore bench/fetch: server on CPU $srv_cpu; wrk -t1 -c64 and the upstream nginx on CPU $load_cpu; ${rounds}x${secs}s"
echo "# $($bin version 2>&1 | head -1); node $(node --version); $(nginx -v 2>&1); $(openssl version); $(uname -r)"
echo "# TLS with nginx: $(echo | openssl s_client -connect 127.0.0.1:18203 -CAfile "$tmp/ca.pem" 2>/dev/null | awk '/^New,|Cipher is/ {print; exit}')"
: >"$tmp/results"
for r in $(seq $rounds); do
    for w in isocore-http node-http isocore-https node-https isocore-tls-hello nginx-tls-hello; do
        measure $w
    done
done
echo
echo "| what | requests/s (median) | server CPU µs/request: median | min-max |"
echo "|---|---|---|---|"
for w in isocore-http node-http isocore-https node-https isocore-tls-hello nginx-tls-hello; do
    rps=$(awk -v w=$w '$1 == w {print $2}' "$tmp/results" | sort -n | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]}')
    cpu=$(awk -v w=$w '$1 == w {print $3}' "$tmp/results" | sort -n | awk '{v[NR] = $1} END {if (NR) printf "%s | %s-%s", v[int((NR + 1) / 2)], v[1], v[NR]}')
    echo "| $w | ${rps:--} | ${cpu:--} |"
done
