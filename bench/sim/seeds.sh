#!/bin/sh
# bench/sim/seeds.sh: isosim over seeds 1..N, then the median of each figure per (workload, cores, policy) as a
# markdown table. One seed's run is a noisy sample of a policy (a heavy request landing here or there moves a p99 by
# 100x); the median over seeds is the figure to quote, with the seeds' spread next to it (min-max of p99).
#
#   bench/sim/seeds.sh N OUTDIR [isosim options...]     e.g. bench/sim/seeds.sh 5 /tmp/after --cores 16,64
#
# Writes OUTDIR/seed-S.json (isosim --json) and prints the table; the runs go under nice -n 19 (the machine is shared).
# Needs jq. ISOSIM picks the binary (default build/bin/isosim).
set -eu
n=${1:?usage: seeds.sh N OUTDIR [isosim options]}
out=${2:?usage: seeds.sh N OUTDIR [isosim options]}
shift 2
isosim=${ISOSIM:-build/bin/isosim}
mkdir -p "$out"
s=1
while [ "$s" -le "$n" ]; do
    nice -n 19 "$isosim" --json --seed "$s" "$@" >"$out/seed-$s.json"
    s=$((s + 1))
done
echo "isosim $* — seeds 1..$n, medians (p99 range over the seeds in brackets)"
echo
echo "| workload | cores | policy | cheap p50 | p99 | [p99 min–max] | p99.9 | isolates | max/core | CPU/req | forwarded | births | k max | 503 | cheap > 1 ms |"
echo "|---|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
jq -rs '
  def med: sort | .[(length - 1) / 2 | floor];
  def lat: if . >= 10000000 then "\(. / 1e6 * 10 | round / 10) ms" else "\(. / 1e3 * 10 | round / 10) µs" end;
  def pct: "\(. * 1000 | round / 10) %";
  [.[][]] | group_by([.workload, .cores, .policy]) | .[] |
  . as $g | $g[0] as $r |
  [$r.workload, ($r.cores | tostring), $r.policy,
   ([$g[].cheap_ns.p50] | med | lat),
   ([$g[].cheap_ns.p99] | med | lat),
   "[\([$g[].cheap_ns.p99] | min | lat)–\([$g[].cheap_ns.p99] | max | lat)]",
   ([$g[].cheap_ns["p99.9"]] | med | lat),
   ([$g[].isolates] | med | tostring),
   ([$g[].isolates_max_core] | med | tostring),
   "\([$g[].cpu_per_req_ns] | med | . / 10 | round / 100) µs",
   ([$g[] | .forwarded / .done] | med | pct),
   ([$g[].births] | med | tostring),
   ([$g[].k_max] | med | tostring),
   ([$g[] | .rejected / .arrived] | med | pct),
   ([$g[].cheap_over_1ms] | med | . * 100000 | round / 1000 | "\(.) %")]
  | "| " + join(" | ") + " |"' "$out"/seed-*.json
