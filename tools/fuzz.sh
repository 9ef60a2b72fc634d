#!/usr/bin/env bash
# Builds the libFuzzer target for the HTTP parser with clang (ASan + UBSan)
# and runs it for a bounded time on a copy of the seed corpus.
#   tools/fuzz.sh [seconds]      (default 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ISOCORE_BUILD:-$root/build}
secs=${1:-60}
missing=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' clang-14 libclang-rt-14-dev 2>/dev/null | awk '$2 !~ /^ii/ {print $1}')
if ! command -v clang-14 >/dev/null || [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || { echo "fuzz: run as root: apt-get install -y clang-14 libclang-rt-14-dev" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi
mkdir -p "$build/fuzz"
clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE -I"$root/include" \
    "$root/io/http_parse.c" "$root/io/http_response.c" "$root/core/error.c" "$root/tests/io/fuzz_parser.c" -o "$build/fuzz/fuzz_parser"
rm -rf "$build/fuzz/corpus"
cp -r "$root/tests/io/fuzz_corpus" "$build/fuzz/corpus"
"$build/fuzz/fuzz_parser" -max_total_time="$secs" -max_len=4096 -print_final_stats=1 "$build/fuzz/corpus" 2>&1 | tail -12
