#!/usr/bin/env bash
# The one entry script: ./build.sh <test|demo|bench|pack> [arguments for the command]
#
#   test   build the solution and run every test (plus, with the offline binding, its own tests and
#          ../shared/conformance when that folder exists); ends with "N passed, N failed"
#   demo   run the GLUE sample on its built-in demo (no download)
#   bench  run the benchmarks (arguments go to the benchmark runner)
#   pack   build the VectorFit NuGet package into artifacts/packages
#
# It uses the real TorchSharp package when the NuGet feed has it. Otherwise it builds the offline
# binding in eng/TorchSharp (a C# assembly with TorchSharp's API over Debian's libtorch), installing
# libtorch-dev, OpenBLAS, cmake and g++ with apt-get when they are missing and it runs as root.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  test|demo|bench|pack) ;;
  *) echo "usage: ./build.sh <test|demo|bench|pack> [arguments]" >&2; exit 2 ;;
esac

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
configuration=${CONFIGURATION:-Release}

log() { printf '==> %s\n' "$*"; }

# ---- which TorchSharp -------------------------------------------------------------------------
# VF_TORCHSHARP=real|offline forces a choice; otherwise a restore tells whether the feed has it.
detect_torchsharp() {
  if [ -n "${VF_TORCHSHARP:-}" ]; then echo "$VF_TORCHSHARP"; return; fi
  local out
  if out=$(dotnet restore VectorFit.sln 2>&1); then echo real; return; fi
  if grep -q "NU1101.*TorchSharp" <<<"$out"; then echo offline; return; fi
  printf '%s\n' "$out" >&2
  echo "error: restoring the solution failed for a reason other than a missing TorchSharp package (see above)." >&2
  exit 1
}

# ---- native prerequisites of the offline binding ----------------------------------------------
blas_alternative=libblas.so.3-x86_64-linux-gnu
lapack_alternative=liblapack.so.3-x86_64-linux-gnu
openblas_dir=/usr/lib/x86_64-linux-gnu/openblas-pthread

ensure_native_prerequisites() {
  local missing=()
  for pkg in libtorch-dev libopenblas0-pthread cmake g++; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "error: the offline TorchSharp binding needs these Debian packages: ${missing[*]}" >&2
      echo "       install them (sudo apt-get install ${missing[*]}) or run ./build.sh as root." >&2
      exit 1
    fi
    log "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # Debian's libtorch calls whatever libblas.so.3 the alternatives system provides; with the
  # reference BLAS a training step is ~30x slower than with OpenBLAS.
  for alt in "$blas_alternative:libblas.so.3" "$lapack_alternative:liblapack.so.3"; do
    local name=${alt%%:*} file=${alt##*:} current
    current=$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p')
    if [[ "$current" != "$openblas_dir/$file" ]]; then
      if [ "$(id -u)" -ne 0 ]; then
        echo "error: $file is '$current', not OpenBLAS; run: sudo update-alternatives --set $name $openblas_dir/$file" >&2
        exit 1
      fi
      update-alternatives --set "$name" "$openblas_dir/$file" >/dev/null
    fi
  done
  local resolved
  resolved=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)
  [[ "$resolved" == "$openblas_dir"/* ]] || { echo "error: libblas.so.3 resolves to $resolved, not OpenBLAS" >&2; exit 1; }
  log "BLAS: OpenBLAS ($resolved)"
}

flavour=$(detect_torchsharp)
props=()
if [ "$flavour" = offline ]; then
  ensure_native_prerequisites
  props=(-p:OfflineTorchSharp=true)
  log "TorchSharp: offline binding (eng/TorchSharp, TorchSharp 0.105.1 API) over Debian libtorch $(dpkg-query -W -f='${Version}' libtorch-dev)"
else
  log "TorchSharp: NuGet package TorchSharp 0.105.1"
fi

# ---- test result summary ----------------------------------------------------------------------
passed=0 failed=0 skipped=0
run_tests() {
  local out rc=0
  out=$(mktemp)
  dotnet test "$@" 2>&1 | tee "$out" || rc=$?
  # dotnet test prints one summary line per test assembly:
  #   "Passed!  - Failed:     0, Passed:    42, Skipped:     0, Total:    42, ..."
  while read -r f p s; do
    failed=$((failed + f)); passed=$((passed + p)); skipped=$((skipped + s))
  done < <(sed -n 's/.*Failed: *\([0-9]*\), Passed: *\([0-9]*\), Skipped: *\([0-9]*\),.*/\1 \2 \3/p' "$out")
  rm -f "$out"
  return $rc
}

case "$command" in
  test)
    status=0
    log "building VectorFit.sln ($configuration)"
    dotnet build VectorFit.sln -c "$configuration" "${props[@]}" -nologo -clp:ErrorsOnly
    if [ "$flavour" = offline ]; then
      log "testing the offline binding"
      run_tests eng/TorchSharp/tests -c "$configuration" -nologo || status=1
      conformance=${VF_CONFORMANCE_DIR:-$root/../shared/conformance}
      if [ -d "$conformance" ]; then
        log "running the TorchSharp conformance facts ($conformance) against the offline binding"
        binding_out="$root/eng/TorchSharp/src/bin/$configuration/net8.0"
        dotnet build eng/TorchSharp/src -c "$configuration" -nologo -clp:ErrorsOnly
        run_tests "$conformance/TorchSharpConformance.csproj" -c "$configuration" -nologo \
          --artifacts-path "$(mktemp -d)" \
          -p:TorchSharpAssembly="$binding_out/TorchSharp.dll" -p:TorchSharpNativeDir="$binding_out" || status=1
      fi
    fi
    log "testing VectorFit.sln"
    run_tests VectorFit.sln -c "$configuration" --no-build "${props[@]}" -nologo || status=1
    echo
    echo "tests: $passed passed, $failed failed, $skipped skipped"
    exit $status
    ;;
  demo)
    exec dotnet run --project samples/GlueFineTune -c "$configuration" "${props[@]}" -- --demo "$@"
    ;;
  bench)
    if [ ! -d benchmarks/VectorFit.Benchmarks ]; then
      echo "error: no benchmarks project yet (benchmarks/VectorFit.Benchmarks)" >&2; exit 1
    fi
    # The PyTorch peer of each model-level figure runs on Debian's python3-torch (same libtorch).
    if ! python3 -c "import torch" 2>/dev/null; then
      if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        log "installing python3-torch (apt-get) for the PyTorch side of the benchmarks"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
      else
        echo "warning: python3-torch is not installed; PyTorch figures will be missing" >&2
      fi
    fi
    exec dotnet run --project benchmarks/VectorFit.Benchmarks -c Release "${props[@]}" -- "$@"
    ;;
  pack)
    dotnet pack src/VectorFit -c Release "${props[@]}" -o artifacts/packages -nologo
    log "packages in artifacts/packages:"
    ls -1 artifacts/packages
    ;;
esac
