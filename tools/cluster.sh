#!/usr/bin/env bash
# tools/cluster.sh: isocore nodes behind HAProxy, and kvd nodes behind twemproxy, on loopback (docs/cluster.md).
#
#   tools/cluster.sh up N [CONFIG]   N isocore nodes from one config (default examples/cluster/isocore.json),
#                                    each on its own port and admin port with node name n1..nN, then HAProxy
#                                    in front (balance hdr(host), hash-type consistent, checks on /healthz)
#   tools/cluster.sh status          each node (pid, ports, /healthz) and what HAProxy thinks of it
#   tools/cluster.sh restart         rolling restart: per node, a new process on the same ports (SO_REUSEPORT),
#                                    then SIGTERM to the old one, which drains; then the next node
#   tools/cluster.sh reload          `isocore check` on the config, then SIGHUP to every node
#   tools/cluster.sh kill NAME       SIGKILL node NAME (for trying node loss)
#   tools/cluster.sh start NAME      start node NAME again on its ports (after kill); returns once HAProxy has it up
#   tools/cluster.sh down            stop what `up` started, by PID
#   tools/cluster.sh kvd-up N        N kvd nodes (examples/kvd) behind nutcracker (ketama)
#   tools/cluster.sh kvd-down        stop them, by PID
#
# Environment: ISOCORE_CLUSTER_DIR (run directory: pids, ports, logs; default build/cluster),
# ISOCORE_CLUSTER_PORT (HAProxy's port, default 8080), ISOCORE_CLUSTER_STATS_PORT (its stats page, default
# port + 1), ISOCORE_CLUSTER_CORES (reactors per node, default 1), ISOCORE_CLUSTER_KVD_PORT (nutcracker's
# port, default 22121; its stats port: ISOCORE_CLUSTER_KVD_STATS_PORT, default + 1), ISOCORE_BIN, ISOCORE_KVD (the binaries; default build/bin/isocore, build/examples/kvd).
#
# Every process it starts is recorded in the run directory with its PID; `down`, `kvd-down` and `restart`
# signal those PIDs only (after checking that the PID is still the program that was started).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${ISOCORE_BIN:-$root/build/bin/isocore}
kvd=${ISOCORE_KVD:-$root/build/examples/kvd}
run=${ISOCORE_CLUSTER_DIR:-$root/build/cluster}
front=${ISOCORE_CLUSTER_PORT:-8080}
stats=${ISOCORE_CLUSTER_STATS_PORT:-$((front + 1))}
cores=${ISOCORE_CLUSTER_CORES:-1}
kvd_port=${ISOCORE_CLUSTER_KVD_PORT:-22121}
kvd_stats=${ISOCORE_CLUSTER_KVD_STATS_PORT:-$((kvd_port + 1))}

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

# True while PID $1 runs program $2 (a zombie, or a PID reused by another program, is not it). Without $2: while
# PID $1 runs at all (a child just started may not have exec'd its program yet).
alive() {
    local st
    [ -n "$1" ] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ] || return 1
    [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

# Waits up to $3 tenths of a second for PID $1 (program $2) to be gone; false if it is still there.
gone_within() {
    local i
    for ((i = 0; i < $3; i++)); do
        alive "$1" "$2" || return 0
        sleep 0.1
    done
    ! alive "$1" "$2"
}

# Stops PID $1 (program $2): SIGTERM, then SIGKILL if it has not gone within 10 s.
stop_pid() {
    alive "$1" "$2" || return 0
    kill -TERM "$1" 2>/dev/null
    gone_within "$1" "$2" 100 && return 0
    echo "cluster.sh: $2 (pid $1) did not stop within 10 s; SIGKILL" >&2
    kill -KILL "$1" 2>/dev/null
    gone_within "$1" "$2" 50
}

# GET http://127.0.0.1:$1$2 with Host $3; prints the status code, nothing when the connection fails.
http_status() {
    local line
    { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$2" "${3:-localhost}" >&9
    IFS= read -r -t 2 line <&9
    exec 9<&-
    line=${line#HTTP/1.? }
    echo "${line%% *}"
}

# The body of GET http://127.0.0.1:$1$2 (for HAProxy's stats CSV).
http_body() {
    { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$2" >&9
    timeout 2 cat <&9 | sed '1,/^\r$/d'
    exec 9<&-
}

# HAProxy's state of server $1 in backend isocore: UP, DOWN, "UP 1/2"… (field 18 of the stats CSV).
haproxy_state() {
    http_body "$stats" "/;csv" | awk -F, -v s="$1" '$1 == "isocore" && $2 == s { print $18 }'
}

# Polls until the state of server $1 is $2 (UP or DOWN), for up to $3 tenths of a second.
wait_haproxy() {
    local i
    for ((i = 0; i < $3; i++)); do
        [ "$(haproxy_state "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# How many lines of file $2 match $1 (0 when it does not exist yet).
count() {
    local c
    c=$(grep -c "$1" "$2" 2>/dev/null)
    echo "${c:-0}"
}

# Starts node $1 (n1…) from config $2 on ports $3/$4 (0: any free one); records pid, port and admin port.
# Returns once its log says it serves and /healthz answers 200.
start_node() {
    local name=$1 cfg=$2 port=$3 admin=$4 log=$run/$1.log pid i line before
    before=$(count '^isocore.* serving ' "$log")
    "$bin" serve --config "$cfg" --cores "$cores" --port "$port" --admin-port "$admin" --node-name "$name" </dev/null >>"$log" 2>&1 &
    pid=$!
    for ((i = 0; i < 200; i++)); do
        [ "$(count '^isocore.* serving ' "$log")" -gt "$before" ] && break
        alive "$pid" || die "node $name did not start: $(tail -3 "$log")"
        sleep 0.05
    done
    line=$(grep '^isocore.* serving ' "$log" | tail -1)
    [ -n "$line" ] || die "node $name did not start within 10 s: $(tail -3 "$log")"
    port=$(sed -E 's|.* on http://[^ ]*:([0-9]+)/:.*|\1|' <<<"$line")
    admin=$(sed -E 's|.*metrics on http://[^ ]*:([0-9]+)/metrics.*|\1|' <<<"$line")
    [[ $port =~ ^[0-9]+$ && $admin =~ ^[0-9]+$ ]] || die "node $name: no ports in '$line' (the config needs an admin listener)"
    for ((i = 0; i < 100; i++)); do
        [ "$(http_status "$admin" /healthz)" = 200 ] && break
        sleep 0.05
    done
    echo "$name $pid $port $admin" >"$run/$name.node"
}

# Reads node file $1 into name pid port admin.
read_node() {
    read -r name pid port admin <"$1"
}

cmd_up() {
    local n=${1:-} cfg=${2:-$root/examples/cluster/isocore.json} i name pid port admin
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "usage: up N [CONFIG]"
    command -v haproxy >/dev/null || die "haproxy is not installed (tools/setup.sh installs it)"
    [ -x "$bin" ] || die "no $bin (build first)"
    mkdir -p "$run"
    [ -f "$run/haproxy.pid" ] && alive "$(cat "$run/haproxy.pid")" haproxy && die "already up in $run (down first)"
    cfg=$(realpath "$cfg") || die "no config $cfg"
    "$bin" check --config "$cfg" >/dev/null || die "the config does not pass isocore check; no node started"
    rm -f "$run"/*.node "$run"/n*.log "$run"/haproxy.*
    echo "$cfg" >"$run/config"
    trap 'cmd_down >/dev/null' EXIT # a failed start leaves nothing running
    for ((i = 1; i <= n; i++)); do
        start_node "n$i" "$cfg" 0 0
    done
    # HAProxy's config: the shipped example up to its node list, then this cluster's nodes.
    {
        sed '/# ---- nodes/q' "$root/examples/cluster/haproxy.cfg"
        for f in "$run"/n*.node; do
            read_node "$f"
            echo "    server $name 127.0.0.1:$port id ${name#n} check port $admin"
        done
    } >"$run/haproxy.cfg"
    ISOCORE_FRONT=127.0.0.1:$front ISOCORE_STATS=127.0.0.1:$stats ISOCORE_RUN=$run \
        haproxy -db -f "$run/haproxy.cfg" </dev/null >"$run/haproxy.log" 2>&1 &
    echo $! >"$run/haproxy.pid"
    for f in "$run"/n*.node; do
        read_node "$f"
        wait_haproxy "$name" UP 100 || die "HAProxy does not see node $name up: $(tail -3 "$run/haproxy.log")"
    done
    trap - EXIT
    echo "cluster up: $n nodes behind http://127.0.0.1:$front/ (stats http://127.0.0.1:$stats/), run directory $run"
}

cmd_status() {
    local f name pid port admin
    [ -f "$run/haproxy.pid" ] || die "not up ($run)"
    printf '%-6s %-8s %-6s %-6s %-8s %s\n' node pid port admin healthz haproxy
    for f in "$run"/n*.node; do
        read_node "$f"
        local h
        h=$(http_status "$admin" /healthz)
        alive "$pid" isocore || h=gone
        printf '%-6s %-8s %-6s %-6s %-8s %s\n' "$name" "$pid" "$port" "$admin" "${h:-none}" "$(haproxy_state "$name")"
    done
    pid=$(cat "$run/haproxy.pid")
    echo "haproxy pid $pid $(alive "$pid" haproxy && echo running || echo gone) on 127.0.0.1:$front"
}

cmd_kill() {
    local f=$run/${1:-}.node name pid port admin
    [ -f "$f" ] || die "usage: kill NAME (a node of $run)"
    read_node "$f"
    alive "$pid" isocore && kill -KILL "$pid"
    gone_within "$pid" isocore 50
}

cmd_start() {
    local f=$run/${1:-}.node name pid port admin cfg
    [ -f "$f" ] || die "usage: start NAME (a node of $run)"
    cfg=$(cat "$run/config")
    read_node "$f"
    alive "$pid" isocore && die "node $name runs already (pid $pid)"
    start_node "$name" "$cfg" "$port" "$admin"
    wait_haproxy "$name" UP 100 || die "node $name is not up in HAProxy"
}

cmd_restart() {
    local f name pid port admin cfg
    cfg=$(cat "$run/config" 2>/dev/null) || die "not up ($run)"
    "$bin" check --config "$cfg" >/dev/null || die "the config does not pass isocore check; nothing restarted"
    for f in "$run"/n*.node; do
        read_node "$f"
        alive "$pid" isocore || { echo "cluster.sh: node $name is not running; skipped" >&2; continue; }
        local old=$pid
        # The new process binds the same ports beside the old one (SO_REUSEPORT) and is serving before the
        # old one gets SIGTERM: the old stops accepting, answers what it has with Connection: close, exits.
        start_node "$name" "$cfg" "$port" "$admin"
        stop_pid "$old" isocore || die "node $name: the old process $old did not go"
        wait_haproxy "$name" UP 100 || die "node $name is not up in HAProxy after its restart"
        echo "restarted $name: pid $old -> $(cut -d' ' -f2 "$f")"
    done
}

cmd_reload() {
    local f name pid port admin cfg i before
    cfg=$(cat "$run/config" 2>/dev/null) || die "not up ($run)"
    # Refused before any node sees it: a bad config never reaches half the cluster.
    "$bin" check --config "$cfg" || die "the config does not pass isocore check; no node was signalled"
    for f in "$run"/n*.node; do
        read_node "$f"
        alive "$pid" isocore || continue
        before=$(count 'reload: ' "$run/$name.log")
        kill -HUP "$pid"
        for ((i = 0; i < 100; i++)); do
            [ "$(count 'reload: ' "$run/$name.log")" -gt "$before" ] && break
            sleep 0.05
        done
        grep 'reload: ' "$run/$name.log" | tail -1 | sed "s/^/$name: /"
    done
}

cmd_down() {
    local f name pid port admin
    [ -d "$run" ] || return 0
    if [ -f "$run/haproxy.pid" ]; then
        stop_pid "$(cat "$run/haproxy.pid")" haproxy
        rm -f "$run/haproxy.pid"
    fi
    for f in "$run"/n*.node; do
        [ -f "$f" ] || continue
        read_node "$f"
        stop_pid "$pid" isocore
        rm -f "$f"
    done
    echo "cluster down ($run)"
}

cmd_kvd_up() {
    local n=${1:-} i pid port line
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "usage: kvd-up N"
    command -v nutcracker >/dev/null || die "nutcracker is not installed (tools/setup.sh installs it)"
    [ -x "$kvd" ] || die "no $kvd (build first)"
    mkdir -p "$run"
    [ -f "$run/nutcracker.pid" ] && alive "$(cat "$run/nutcracker.pid")" nutcracker && die "kvd already up in $run"
    rm -f "$run"/k*.kvd
    trap 'cmd_kvd_down >/dev/null' EXIT # a failed start leaves nothing running
    for ((i = 1; i <= n; i++)); do
        "$kvd" -p 0 -c 1 -m 64 </dev/null >"$run/k$i.log" 2>&1 &
        pid=$!
        for ((t = 0; t < 200; t++)); do
            grep -q 'listening on' "$run/k$i.log" && break
            alive "$pid" || die "kvd k$i did not start: $(tail -3 "$run/k$i.log")"
            sleep 0.05
        done
        line=$(grep 'listening on' "$run/k$i.log") || die "kvd k$i did not start within 10 s: $(tail -3 "$run/k$i.log")"
        port=$(sed -E 's|.*listening on [^,]*:([0-9]+),.*|\1|' <<<"$line")
        echo "k$i $pid $port" >"$run/k$i.kvd"
    done
    # nutcracker's config: the shipped example's pool settings, then this cluster's kvd nodes.
    {
        sed -e "s|^\(  listen: \).*|\1127.0.0.1:$kvd_port|" -e '/^  servers:/q' "$root/examples/cluster/nutcracker.yml"
        for f in "$run"/k*.kvd; do
            read -r name pid port <"$f"
            echo "   - 127.0.0.1:$port:1 $name"
        done
    } >"$run/nutcracker.yml"
    nutcracker -t -c "$run/nutcracker.yml" >/dev/null 2>&1 || die "nutcracker rejects $run/nutcracker.yml"
    nutcracker -c "$run/nutcracker.yml" -a 127.0.0.1 -s "$kvd_stats" -o "$run/nutcracker.log" -p "$run/nutcracker.pidfile" </dev/null >/dev/null 2>&1 &
    echo $! >"$run/nutcracker.pid"
    for ((t = 0; t < 100; t++)); do
        { exec 8<>"/dev/tcp/127.0.0.1/$kvd_port"; } 2>/dev/null && {
            exec 8<&-
            break
        }
        alive "$(cat "$run/nutcracker.pid")" || die "nutcracker did not start: $(tail -3 "$run/nutcracker.log")"
        sleep 0.05
    done
    trap - EXIT
    echo "kvd up: $n nodes behind nutcracker on 127.0.0.1:$kvd_port (ketama), run directory $run"
}

cmd_kvd_down() {
    local f name pid port
    [ -d "$run" ] || return 0
    if [ -f "$run/nutcracker.pid" ]; then
        stop_pid "$(cat "$run/nutcracker.pid")" nutcracker
        rm -f "$run/nutcracker.pid"
    fi
    for f in "$run"/k*.kvd; do
        [ -f "$f" ] || continue
        read -r name pid port <"$f"
        stop_pid "$pid" kvd
        rm -f "$f"
    done
    echo "kvd down ($run)"
}

case ${1:-} in
up) cmd_up "${@:2}" ;;
down) cmd_down ;;
status) cmd_status ;;
restart) cmd_restart ;;
reload) cmd_reload ;;
kill) cmd_kill "${2:-}" ;;
start) cmd_start "${2:-}" ;;
kvd-up) cmd_kvd_up "${2:-}" ;;
kvd-down) cmd_kvd_down ;;
*)
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
