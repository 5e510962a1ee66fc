#!/usr/bin/env bash
# The sample on the real model and data: VectorFit + AVF, SVFT and full fine-tuning in turn (two rounds),
# examples/s and peak RSS of each run (docs/benchmarks.md §4). Needs the demo's cache: run ./build.sh demo once.
#   benchmarks/sample-throughput.sh [steps]   (default 30 steps per run; AVF needs about 30 to start)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
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
echo "| round | method | examples/s | peak RSS (MiB) | trainable |"
echo "|---|---|---:|---:|---|"
for round in 1 2; do
  for method in vectorfit svft full; do
    lr=2e-3
    [ "$method" = full ] && lr=2e-5
    log="$out/$method-$round.log"
    /usr/bin/time -v dotnet "$dll" --train "$cache/spam-assassin/train.jsonl" --dev "$cache/spam-assassin/dev.jsonl" \
      --model "$cache/all-MiniLM-L6-v2" --output "$out/$method-$round" --pooling mean --max-length 64 --batch-size 16 \
      --epochs 1 --max-steps "$steps" --lr "$lr" --method "$method" >"$log" 2>&1 \
      || { grep -m1 '^error' "$log" >&2 || tail -5 "$log" >&2; echo "error: the $method run failed (log: $log)" >&2; exit 1; }
    rate=$(grep -o '[0-9.]* ex/s' "$log" | tail -1)
    rss=$(awk '/Maximum resident/ {print int($NF / 1024)}' "$log")
    trainable=$(grep -m1 -o 'trainable params: [0-9,]*' "$log" | cut -d' ' -f3)
    echo "| $round | $method | ${rate% ex/s} | $rss | $trainable |"
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "logs: $out"
