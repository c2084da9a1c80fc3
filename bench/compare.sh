#!/usr/bin/env bash
# Runs crew, Node's cluster (json and advanced serialization) and the raw peer on the same cases,
# round-robin, and prints a markdown summary. See bench/README.md.
#
#   bench/compare.sh            ROUNDS (default 3) rounds of the full case list
#   bench/compare.sh --smoke    every kind once with tiny sizes; fails if any run fails or loses
#                               messages it must not lose (no speed assertion)
#
# Environment:
#   ROUNDS=N                 rounds per case (default 3; 1 with --smoke)
#   CREW_BENCH_REQUIRED=1    fail if crew's bench example does not build (otherwise crew is
#                            skipped with a warning and the table has no crew rows)
#   RUN_TIMEOUT=SECS         per-run limit (default 600)
#   RESULTS=PATH             where to write the JSON lines (default bench/results/compare-<date>.jsonl)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

smoke=0
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac
rounds=${ROUNDS:-3}
((smoke)) && rounds=1
run_timeout=${RUN_TIMEOUT:-600}

for tool in cargo node python3; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is required" >&2; exit 1; }
done

# The executable cargo just built, from its JSON messages on stdin.
executable_of() {
  python3 -c '
import json, sys
exe = ""
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        exe = m["executable"]
print(exe)'
}

echo "== building the raw peer (release)" >&2
raw=$(cargo build --release --manifest-path "$here/raw/Cargo.toml" \
  --message-format=json-render-diagnostics | executable_of)
[[ -x $raw ]] || { echo "compare.sh: raw peer did not build" >&2; exit 1; }

echo "== building crew's bench example (release)" >&2
crew=""
if crew_json=$(cd "$root" && cargo build --release -p crew --example bench \
  --message-format=json-render-diagnostics); then
  crew=$(executable_of <<<"$crew_json")
fi
if [[ ! -x $crew ]]; then
  crew=""
  if [[ ${CREW_BENCH_REQUIRED:-0} == 1 ]]; then
    echo "compare.sh: crew's bench example did not build and CREW_BENCH_REQUIRED=1" >&2
    exit 1
  fi
  echo "compare.sh: WARNING: crew's bench example did not build; running without crew" >&2
fi

node_bench="$here/node/cluster_bench.js"

# name|arguments|which implementations ("all", or "batch" = crew and raw only: Node cannot batch)
if ((smoke)); then
  cases=(
    "ipc_w1|ipc --workers 1 --messages 2000 --payload 16|all"
    "ipc_w2|ipc --workers 2 --messages 2000 --payload 16|all"
    "ipc_w1_batch8|ipc --workers 1 --messages 2000 --payload 16 --batch 8|batch"
    "pingpong|pingpong --round-trips 200 --payload 16|all"
    "spawn|spawn --workers 2 --runs 2|all"
    "restart|restart --runs 2|all"
    "memory|memory --workers 2|all"
  )
else
  cases=(
    "ipc_w1|ipc --workers 1 --messages 200000 --payload 16|all"
    "ipc_w2|ipc --workers 2 --messages 200000 --payload 16|all"
    "ipc_w1_batch64|ipc --workers 1 --messages 200000 --payload 16 --batch 64|batch"
    "pingpong|pingpong --round-trips 20000 --payload 16|all"
    "spawn|spawn --workers 2 --runs 20|all"
    "restart|restart --runs 20|all"
    "memory|memory --workers 8|all"
  )
fi

mkdir -p "$here/results"
out=${RESULTS:-$here/results/compare-$(date +%Y%m%d-%H%M%S).jsonl}
: >"$out"
failed=0

# run_one CASE ROUND VARIANT ARGS...: one run; its JSON line goes to $out with case and round added.
run_one() {
  local case_name=$1 round=$2 variant=$3 line
  shift 3
  local cmd
  case $variant in
    crew) cmd=("$crew" "$@") ;;
    node-json) cmd=(node "$node_bench" "$@" --serialization json) ;;
    node-json-wait) cmd=(node "$node_bench" "$@" --serialization json --node-wait) ;;
    node-advanced) cmd=(node "$node_bench" "$@" --serialization advanced) ;;
    node-advanced-wait) cmd=(node "$node_bench" "$@" --serialization advanced --node-wait) ;;
    raw) cmd=("$raw" "$@") ;;
  esac
  echo "-- $case_name round $round: $variant $*" >&2
  if line=$(timeout "$run_timeout" "${cmd[@]}" | tail -n 1) && [[ $line == "{"* ]]; then
    printf '{"case":"%s","round":%d,%s\n' "$case_name" "$round" "${line#\{}" >>"$out"
  else
    echo "compare.sh: FAILED: ${cmd[*]}" >&2
    failed=$((failed + 1))
  fi
}

for entry in "${cases[@]}"; do
  IFS='|' read -r case_name case_args which <<<"$entry"
  read -r -a args <<<"$case_args"
  kind=${args[0]}

  # The rounds cycle through the variants, starting one later each round, so no implementation
  # always runs right after the same neighbour.
  variants=()
  [[ -n $crew ]] && variants+=(crew)
  if [[ $which == all ]]; then
    for ser in json advanced; do
      variants+=("node-$ser")
      [[ $kind == ipc ]] && variants+=("node-$ser-wait")
    done
  fi
  variants+=(raw)

  n=${#variants[@]}
  for ((round = 1; round <= rounds; round++)); do
    for ((i = 0; i < n; i++)); do
      run_one "$case_name" "$round" "${variants[$(((i + round - 1) % n))]}" "${args[@]}"
    done
  done
done

echo "== results: $out" >&2
echo
check=()
((smoke)) && check=(--check)
status=0
python3 "$here/aggregate.py" "$out" "${check[@]}" || status=$?
if ((failed > 0)); then
  echo "compare.sh: $failed run(s) failed" >&2
  exit 1
fi
exit "$status"
