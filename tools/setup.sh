#!/usr/bin/env bash
# Installs what isocore needs on Debian 12 (when something is missing), then
# configures and builds it into build/ (or $ISOCORE_BUILD; ISOCORE_SANITIZE,
# ISOCORE_BUILD_TYPE and ISOCORE_BUILD_TARGET, one target instead of all, are
# for CI's sanitizer trees).
#
# Idempotent: a second run checks the packages with one dpkg-query and lets
# cmake find nothing to rebuild, which takes well under two seconds.
#
# V8 comes from Debian's libnode-dev. Where a non-Debian `nodejs` (for example
# nodesource's) makes libnode-dev uninstallable, the user's node is left
# alone: libnode108 and libnode-dev are fetched with `apt-get download` and
# unpacked under the build tree, and the binaries link to them with an rpath.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOCORE_BUILD:-$root/build}
build_type=${ISOCORE_BUILD_TYPE:-RelWithDebInfo}
sanitize=${ISOCORE_SANITIZE:-}
target=${ISOCORE_BUILD_TARGET:-}
# Shared by every build tree (build-asan too): one unpack of libnode.
v8dir=${ISOCORE_V8_DIR:-$root/build/deps/v8}

pkgs=(gcc g++ make cmake pkg-config liburing-dev libck-dev libcriterion-dev libhttp-parser-dev libjansson-dev libicu-dev
    zlib1g-dev libssl-dev libc-ares-dev libbrotli-dev openssl esbuild
    libmemcached-tools memcached gnuplot-nox # esbuild bundles TypeScript and npm imports on load (router/bundle.c); gnuplot draws bench/run's plots; memcached's own clients check examples/kvd; memcached is its benchmark's rival
    haproxy nutcracker) # docs/cluster.md: HAProxy in front of isocore nodes, twemproxy in front of kvd nodes
# Runtime libraries of libnode108, needed when it is unpacked by hand.
node_rt=(libuv1 libicu72 libc-ares2 libnghttp2-14 libbrotli1 libssl3 zlib1g)

missing_of() {
    # Prints the packages among "$@" that are not installed (one dpkg-query call).
    local installed
    # dpkg-query exits 1 when it has never heard of one of the packages (a fresh machine): that is an
    # answer, not an error, and under pipefail it would end this function before it printed anything.
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null | awk '$2 ~ /^ii/ {print $1}' || true)
    for p in "$@"; do
        grep -qx "$p" <<<"$installed" || echo "$p"
    done
}

sudo_hint() {
    echo "isocore setup: missing Debian packages: $*" >&2
    echo "isocore setup: run as root:  apt-get update && apt-get install -y --no-install-recommends $*" >&2
    exit 1
}

apt_updated=0
apt_install() {
    [ "$(id -u)" = 0 ] || sudo_hint "$@"
    if [ $apt_updated = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Which V8: system libnode-dev, an earlier local unpack, or decide now.
v8_prefix=/usr
if [ -z "$(missing_of libnode-dev)" ]; then
    v8_prefix=/usr
elif [ -f "$v8dir/usr/include/node/v8.h" ]; then
    v8_prefix=$v8dir/usr
else
    v8_prefix=""
fi

mapfile -t missing < <(missing_of "${pkgs[@]}")
if [ -z "$v8_prefix" ]; then
    if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; missing=(); fi
    [ $apt_updated = 1 ] || { [ "$(id -u)" = 0 ] && apt-get update -qq && apt_updated=1; } || true
    if apt-get install -s -qq libnode-dev >/dev/null 2>&1; then
        apt_install libnode-dev
        v8_prefix=/usr
    else
        echo "isocore setup: libnode-dev cannot be installed beside this machine's nodejs; unpacking it under $v8dir" >&2
        mapfile -t rt < <(missing_of "${node_rt[@]}")
        if [ ${#rt[@]} -gt 0 ]; then apt_install "${rt[@]}"; fi
        tmp=$(mktemp -d)
        (cd "$tmp" && apt-get download -o APT::Sandbox::User=root libnode108 libnode-dev >/dev/null)
        mkdir -p "$v8dir"
        for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$v8dir"; done
        rm -rf "$tmp"
        v8_prefix=$v8dir/usr
    fi
fi
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="$build_type" -DISOCORE_V8_PREFIX="$v8_prefix" \
        -DISOCORE_SANITIZE="$sanitize" >/dev/null
fi
# The build log goes to a file so that a no-op rebuild prints nothing; it is
# shown when the build fails.
if ! cmake --build "$build" -j"$(nproc)" ${target:+--target "$target"} >"$build/build.log" 2>&1; then
    cat "$build/build.log" >&2
    echo "isocore setup: build failed (log: $build/build.log)" >&2
    exit 1
fi
grep -iE 'warning' "$build/build.log" >&2 || true

# Test-time tools from npm, under build/ (never in the repository; shared by every build tree, as libnode's
# unpack is): esbuild, the Hono framework, jose and hash-wasm for tests/e2e/test_hono.c. Pinned; installed once. Without npm
# (or the registry), that test says what is missing.
npm_dir=$root/build/npm
if [ -z "$target" ] && [ ! -d "$npm_dir/node_modules/hash-wasm" ] && command -v npm >/dev/null; then
    mkdir -p "$npm_dir"
    (cd "$npm_dir" && timeout 300 npm install --no-save --no-audit --no-fund --prefix . hono@4.13.19 esbuild@0.24.2 jose@5.9.6 hash-wasm@4.12.0 >/dev/null 2>&1) ||
        echo "isocore setup: npm could not install hono and esbuild under $npm_dir (tests/e2e/test_hono.c needs them)" >&2
fi
