#!/usr/bin/env bash
# Peak RSS of the sample with the default GC against a GC forced very often (DOTNET_GCgen0size=0x200000), on the
# real model and data: all-MiniLM-L6-v2 (6 layers, hidden 384), SpamAssassin, batch 32 x 128 tokens, VectorFit + AVF,
# then the dev evaluation and checkpoint (docs/benchmarks.md §1). Needs the demo's cache: run ./build.sh demo once.
#   benchmarks/sample-memory.sh [steps]   (default 16 steps per run; AVF starts at step 13)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-16}
cache=${VECTORFIT_DEMO_CACHE:-$HOME/.cache/vectorfit-demo}
dll=samples/GlueFineTune/bin/Release/net10.0/GlueFineTune.dll
if [ ! -f "$cache/spam-assassin/train.jsonl" ] || [ ! -d "$cache/all-MiniLM-L6-v2" ]; then
  echo "error: $cache lacks the demo's model or corpus; run ./build.sh demo once first" >&2
  exit 1
fi
command -v /usr/bin/time >/dev/null || { echo "error: /usr/bin/time is required (apt-get install time)" >&2; exit 1; }
dotnet build samples/GlueFineTune -c Release -nologo -v:quiet -clp:NoSummary >/dev/null
out=$(mktemp -d)
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| round | GC | peak RSS (MiB) | wall time | load (1 min) at start |"
echo "|---|---|---:|---:|---:|"
for round in 1 2; do
  for gc in default forced; do
    log="$out/$gc-$round.log"
    load=$(cut -d' ' -f1 /proc/loadavg)
    env_args=()
    [ "$gc" = forced ] && env_args=(DOTNET_GCgen0size=0x200000)
    env "${env_args[@]}" /usr/bin/time -v dotnet "$dll" --train "$cache/spam-assassin/train.jsonl" --dev "$cache/spam-assassin/dev.jsonl" \
      --model "$cache/all-MiniLM-L6-v2" --output "$out/$gc-$round" --pooling mean --max-length 128 --batch-size 32 \
      --epochs 1 --max-steps "$steps" --lr 2e-3 >"$log" 2>&1 \
      || { grep -m1 '^error' "$log" >&2 || tail -5 "$log" >&2; echo "error: the $gc run failed (log: $log)" >&2; exit 1; }
    rss=$(awk '/Maximum resident/ {print int($NF / 1024)}' "$log")
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log")
    echo "| $round | $gc | $rss | $wall | $load |"
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "logs: $out"
