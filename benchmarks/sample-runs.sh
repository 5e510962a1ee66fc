#!/usr/bin/env bash
# The sample on the real model and data (docs/benchmarks.md): all-MiniLM-L6-v2 on the SpamAssassin corpus, as
# ./build.sh demo caches them (run it once first), each run under /usr/bin/time -v, two rounds in turn.
#   benchmarks/sample-runs.sh throughput [steps]  VectorFit + AVF, SVFT, full fine-tuning: examples/s and peak RSS
#                                                 (64 tokens, batch 16; default 30 steps, AVF needs about 30) (§4)
#   benchmarks/sample-runs.sh memory [steps]      VectorFit + AVF with the default GC vs a GC forced very often
#                                                 (DOTNET_GCgen0size=0x200000): peak RSS (32 x 128 tokens; default 16
#                                                 steps, AVF starts at step 13) (§1)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  throughput) steps=${2:-30}; variants=(vectorfit svft full) ;;
  memory) steps=${2:-16}; variants=(default forced) ;;
  *) echo "usage: benchmarks/sample-runs.sh throughput|memory [steps]" >&2; exit 2 ;;
esac
cache=${VECTORFIT_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectorfit-demo}
dll=samples/GlueFineTune/bin/Release/net10.0/GlueFineTune.dll
if [ ! -f "$cache/spam-assassin/train.jsonl" ] || [ ! -d "$cache/all-MiniLM-L6-v2" ]; then
  echo "error: $cache lacks the demo's model or corpus; run ./build.sh demo once first" >&2
  exit 1
fi
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
dotnet build samples/GlueFineTune -c Release -nologo -v:quiet -clp:NoSummary >/dev/null
out=$(mktemp -d)
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$mode" = throughput ]; then
  echo "| round | method | examples/s | peak RSS (MiB) | trainable |"
  echo "|---|---|---:|---:|---|"
else
  echo "| round | GC | peak RSS (MiB) | wall time | load (1 min) at start |"
  echo "|---|---|---:|---:|---:|"
fi
for round in 1 2; do
  for variant in "${variants[@]}"; do
    log="$out/$variant-$round.log"
    load=$(cut -d' ' -f1 /proc/loadavg)
    env_args=() run_args=()
    case "$variant" in
      vectorfit|svft) run_args=(--method "$variant" --lr 2e-3 --max-length 64 --batch-size 16) ;;
      full) run_args=(--method full --lr 2e-5 --max-length 64 --batch-size 16) ;;
      forced) env_args=(DOTNET_GCgen0size=0x200000) ;;
    esac
    [ "$mode" = memory ] && run_args=(--lr 2e-3 --max-length 128 --batch-size 32)
    env "${env_args[@]}" /usr/bin/time -v dotnet "$dll" --train "$cache/spam-assassin/train.jsonl" --dev "$cache/spam-assassin/dev.jsonl" \
      --model "$cache/all-MiniLM-L6-v2" --output "$out/$variant-$round" --pooling mean --epochs 1 --max-steps "$steps" \
      "${run_args[@]}" >"$log" 2>&1 \
      || { grep -m1 '^error' "$log" >&2 || tail -5 "$log" >&2; echo "error: the $variant run failed (log: $log)" >&2; exit 1; }
    rss=$(awk '/Maximum resident/ {print int($NF / 1024)}' "$log")
    if [ "$mode" = throughput ]; then
      rate=$(grep -o '[0-9.]* ex/s' "$log" | tail -1)
      trainable=$(grep -m1 -o 'trainable params: [0-9,]*' "$log" | cut -d' ' -f3)
      echo "| $round | $variant | ${rate% ex/s} | $rss | $trainable |"
    else
      wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
      echo "| $round | $variant | $rss | $wall | $load |"
    fi
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "logs: $out"
