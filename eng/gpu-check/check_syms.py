#!/usr/bin/env python3
"""Does libLibTorchSharp.so load (RTLD_NOW) against this machine's PyTorch libs?

usage: check_syms.py TORCH_LIB_DIR LIBTORCHSHARP_SO
Loads c10, (c10_cuda), torch_cpu, (torch_cuda), torch with RTLD_GLOBAL, then the library with
RTLD_NOW|RTLD_GLOBAL. Lists the library's undefined symbols that no loaded library defines (first 20).
Exit 0 when it loads and nothing is missing, 1 otherwise.
"""
import ctypes
import os
import shutil
import subprocess
import sys

torch_lib, target = sys.argv[1], sys.argv[2]
mode = os.RTLD_NOW | os.RTLD_GLOBAL
for name in ("libc10.so", "libc10_cuda.so", "libtorch_cpu.so", "libtorch_cuda.so", "libtorch.so"):
    path = os.path.join(torch_lib, name)
    if not os.path.exists(path):
        print(f"check_syms: {name}: absent")
        continue
    try:
        ctypes.CDLL(path, mode=mode)
        print(f"check_syms: loaded {path}")
    except OSError as e:
        print(f"check_syms: FAILED to load {path}: {e}")

missing = []
if shutil.which("nm"):
    out = subprocess.run(["nm", "-D", "--undefined-only", target], capture_output=True, text=True).stdout
    names = [l.split()[-1].split("@")[0] for l in out.splitlines() if l.split() and l.split()[0] == "U"]
    everything = ctypes.CDLL(None)  # the global scope: the process and every RTLD_GLOBAL library
    for n in names:
        try:
            getattr(everything, n)
        except AttributeError:
            missing.append(n)
    print(f"check_syms: {len(names)} undefined strong symbols in {os.path.basename(target)}, {len(missing)} not defined by the loaded libraries")
    demangle = shutil.which("c++filt")
    for n in missing[:20]:
        pretty = subprocess.run([demangle, n], capture_output=True, text=True).stdout.strip() if demangle else n
        print(f"check_syms: missing {n}  [{pretty}]")
else:
    print("check_syms: nm not found; relying on dlopen only")

ok = True
try:
    ctypes.CDLL(target, mode=mode)
    print(f"check_syms: dlopen(RTLD_NOW) of {target}: OK")
except OSError as e:
    ok = False
    print(f"check_syms: dlopen(RTLD_NOW) of {target}: FAILED: {e}")
# std::ios_base_library_init() is never called (see eng/GlibcxxCompat.targets); anything else missing is fatal.
fatal = [n for n in missing if n != "_ZSt21ios_base_library_initv"]
sys.exit(0 if ok and not fatal else 1)
