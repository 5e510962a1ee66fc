#!/usr/bin/env bash
# Builds the GPU check bundle: a self-contained linux-x64 GpuCheck (this folder) over the repository's src/VectorFit and
# src/VectorFit.Transformers, with TorchSharp's libLibTorchSharp.so but NO libtorch (the GPU machine's PyTorch provides it
# through LD_LIBRARY_PATH, see run.sh). Writes $OUT_DIR/gpucheck.tar.xz (default: .gpu/ at the repository root, which
# .git/info/exclude should ignore) and copies run.sh, check_syms.py and fallback.py beside it; then, on the GPU machine:
# `bash .gpu/run.sh` (the device tool: carry [".gpu"]).
# compat/libLibTorchSharp.so: the copy of libLibTorchSharp.so that eng/GlibcxxCompat.targets makes for a libstdc++ without
# GLIBCXX_3.4.32 (take it from any test project's bin/ folder on such a machine); run.sh uses it only there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${OUT_DIR:-$repo/.gpu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dotnet publish "$here/GpuCheck.csproj" -c Release -r linux-x64 --self-contained -o "$work/app" \
  -p:VectorFitProject="$repo/src/VectorFit/VectorFit.csproj" -p:GlibcxxCompat=false
mkdir -p "$work/app/compat" "$out"
if [ -f "$here/compat/libLibTorchSharp.so" ]; then cp "$here/compat/libLibTorchSharp.so" "$work/app/compat/"; fi
git -C "$repo" rev-parse HEAD > "$work/app/VECTORFIT_COMMIT"
tar -C "$work" -cf - app | xz -6 -T0 > "$out/gpucheck.tar.xz"
cp "$here/run.sh" "$here/check_syms.py" "$here/fallback.py" "$out/"
ls -la "$out/gpucheck.tar.xz"
