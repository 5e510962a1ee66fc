#!/usr/bin/env python3
"""PyTorch cross-check of VectorFit's math (no .NET needed).

VectorFit layer: W0 = U diag(s) V^T by a float64 thin SVD, U and V frozen, sigma and b trained;
y = ((x V) * sigma) U^T + b.  Checks the math against nn.Linear and a float64 reference, then times
factored vs merged layers at BERT-base shapes, and a mixed-adapter forward
y = ((x V) * sigma[task_of_row]) U^T + b[task_of_row] with K adapters vs a per-adapter loop.
Prints PASS/FAIL lines and 'fallback-py: N passed, M failed'; exit 1 on any FAIL.
Usage: python3 fallback.py [--quick] [--cpu]
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

QUICK = "--quick" in sys.argv
DEV = torch.device("cuda" if torch.cuda.is_available() and "--cpu" not in sys.argv else "cpu")
CUDA = DEV.type == "cuda"
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {what}", flush=True)
    else:
        failed += 1
        print(f"FAIL {what}", flush=True)


def sync():
    if CUDA:
        torch.cuda.synchronize()


def rel(a, b):
    a = a.detach().double().cpu()
    b = b.detach().double().cpu()
    d = (a - b).abs().max().item()
    return d, d / max(b.abs().max().item(), 1e-30)


def median_ms(fn, warm, n):
    for _ in range(warm):
        fn()
    sync()
    ts = []
    for _ in range(n):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts)


class VF(torch.nn.Module):
    """VectorFit layer as torch.svd factors."""

    def __init__(self, lin):
        super().__init__()
        w = lin.weight.detach()
        u, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
        self.register_buffer("U", u.to(w.dtype).contiguous())
        self.register_buffer("V", vh.t().to(w.dtype).contiguous())
        self.sigma = torch.nn.Parameter(s.to(w.dtype))
        self.bias = torch.nn.Parameter(lin.bias.detach().clone())

    def factored(self, x):
        return F.linear(F.linear(x, self.V.t()) * self.sigma, self.U, self.bias)

    def materialized(self, x):
        return F.linear(x, (self.U * self.sigma) @ self.V.t(), self.bias)

    def merged_weight(self):
        with torch.no_grad():
            return ((self.U.double() * self.sigma.double()) @ self.V.double().t()).to(self.U.dtype)


def math_checks():
    torch.manual_seed(1234)
    lin = torch.nn.Linear(384, 256).to(DEV)
    x = torch.randn(96, 384, device=DEV)
    g = torch.randn(96, 256, device=DEV)
    vf = VF(lin).to(DEV)
    with torch.no_grad():
        d = rel(vf.factored(x), lin(x))
    check(d[1] < 1e-4, f"p1 factored VF layer reproduces Linear on {DEV.type}: max|dy| {d[0]:.2e} (rel {d[1]:.2e}); tol rel 1e-4")
    with torch.no_grad():
        vf.sigma.mul_(1.05).add_(torch.linspace(-0.01, 0.01, vf.sigma.numel(), device=DEV))
    y = vf.factored(x)
    (y * g).sum().backward()
    U, V, s, b, x64, g64 = (t.detach().double().cpu() for t in (vf.U, vf.V, vf.sigma, vf.bias, x, g))
    xv = x64 @ V
    y_ref = (xv * s) @ U.t() + b
    gs_ref = (xv * (g64 @ U)).sum(0)
    gb_ref = g64.sum(0)
    dy, dgs, dgb = rel(y, y_ref), rel(vf.sigma.grad, gs_ref), rel(vf.bias.grad, gb_ref)
    check(dy[1] < 1e-5, f"p2 forward vs float64 definition: rel {dy[1]:.2e}; tol 1e-5")
    check(dgs[1] < 1e-4, f"p3 dL/dsigma vs float64: rel {dgs[1]:.2e}; tol 1e-4")
    check(dgb[1] < 1e-5, f"p4 dL/dbias vs float64: rel {dgb[1]:.2e}; tol 1e-5")
    with torch.no_grad():
        dm = rel(F.linear(x, vf.merged_weight(), vf.bias), vf.factored(x))
        dmat = rel(vf.materialized(x), vf.factored(x))
    check(dm[1] < 1e-5 and dmat[1] < 1e-5, f"p5 merged and materialized equal factored: rel {dm[1]:.2e}, {dmat[1]:.2e}; tol 1e-5")


def timing():
    warm, n = (1, 3) if QUICK else (5, 30)
    rows = 512 if QUICK else 32 * 128
    print(f"  timing on {DEV.type}, float32, {rows} tokens, median of {n}; ms", flush=True)
    print(f"  {'layer':<10} {'Lin step':>9} {'VF fact':>8} {'ratio':>6} {'VF mat':>8} {'ratio':>6} {'Lin inf':>8} {'VF fact inf':>11} {'ratio':>6}")
    for i, o in ((768, 768), (768, 3072), (3072, 768)):
        torch.manual_seed(11)
        lin = torch.nn.Linear(i, o).to(DEV)
        vf = VF(lin).to(DEV)
        x = torch.randn(rows, i, device=DEV, requires_grad=True)
        g = torch.randn(rows, o, device=DEV)

        def step(f, params):
            def run():
                for p in params:
                    p.grad = None
                x.grad = None
                f(x).backward(g)
            return run

        t_lin = median_ms(step(lin, list(lin.parameters())), warm, n)
        t_fac = median_ms(step(vf.factored, [vf.sigma, vf.bias]), warm, n)
        t_mat = median_ms(step(vf.materialized, [vf.sigma, vf.bias]), warm, n)
        w = vf.merged_weight()
        with torch.no_grad():
            t_inf = median_ms(lambda: F.linear(x, w, vf.bias), warm, n)
            t_finf = median_ms(lambda: vf.factored(x), warm, n)
        print(f"  {i}x{o:<6} {t_lin:9.3f} {t_fac:8.3f} {t_fac / t_lin:6.2f} {t_mat:8.3f} {t_mat / t_lin:6.2f} {t_inf:8.3f} {t_finf:11.3f} {t_finf / t_inf:6.2f}", flush=True)
    check(True, "p6 timing table produced")


def mixed_adapters():
    K = 8
    warm, n = (1, 3) if QUICK else (5, 30)
    rows = 512 if QUICK else 32 * 128
    print(f"  mixed-adapter batch: K={K} adapters, {rows} rows, random task per row, float32, median of {n}; ms", flush=True)
    print(f"  {'layer':<10} {'mixed fwd':>9} {'loop merged':>11} {'ratio':>6} {'loop fact':>9} {'ratio':>6} {'mixed step':>10} {'loop step':>9} {'ratio':>6}")
    ok = True
    for i, o in ((768, 768), (768, 3072)):
        torch.manual_seed(21)
        lin = torch.nn.Linear(i, o).to(DEV)
        vf = VF(lin).to(DEV)
        r = vf.sigma.numel()
        sig = (vf.sigma.detach()[None, :] * (1 + 0.05 * torch.randn(K, r, device=DEV))).requires_grad_(True)
        bias = (vf.bias.detach()[None, :] + 0.05 * torch.randn(K, o, device=DEV)).requires_grad_(True)
        x = torch.randn(rows, i, device=DEV)
        task = torch.randint(0, K, (rows,), device=DEV)
        groups = [torch.nonzero(task == k).squeeze(1) for k in range(K)]
        with torch.no_grad():
            W = [((vf.U.double() * sig[k].double()) @ vf.V.double().t()).float() for k in range(K)]

        def mixed(x):
            return F.linear(F.linear(x, vf.V.t()) * sig[task], vf.U) + bias[task]

        def loop_merged(x):
            y = x.new_empty(rows, o)
            for k in range(K):
                y[groups[k]] = F.linear(x[groups[k]], W[k], bias[k])
            return y

        def loop_fact(x):
            y = x.new_empty(rows, o)
            for k in range(K):
                xk = x[groups[k]]
                y[groups[k]] = F.linear(F.linear(xk, vf.V.t()) * sig[k], vf.U, bias[k])
            return y

        with torch.no_grad():
            ym, yl, yf = mixed(x), loop_merged(x), loop_fact(x)
            d1, d2 = rel(ym, yl), rel(ym, yf)
            ok &= d1[1] < 1e-4 and d2[1] < 1e-5
            print(f"  {i}x{o}: mixed vs loop(merged) rel {d1[1]:.2e}, vs loop(factored) rel {d2[1]:.2e}")
            t_mixed = median_ms(lambda: mixed(x), warm, n)
            t_lm = median_ms(lambda: loop_merged(x), warm, n)
            t_lf = median_ms(lambda: loop_fact(x), warm, n)
        g = torch.randn(rows, o, device=DEV)

        def mixed_step():
            sig.grad = None
            bias.grad = None
            mixed(x).backward(g)

        def loop_step():
            sig.grad = None
            bias.grad = None
            loop_fact(x).backward(g)

        t_ms = median_ms(mixed_step, warm, n)
        t_ls = median_ms(loop_step, warm, n)
        print(f"  {i}x{o:<6} {t_mixed:9.3f} {t_lm:11.3f} {t_mixed / t_lm:6.2f} {t_lf:9.3f} {t_mixed / t_lf:6.2f} {t_ms:10.3f} {t_ls:9.3f} {t_ms / t_ls:6.2f}", flush=True)
    check(ok, f"p7 mixed-adapter forward equals per-adapter loops (K={K}); tol rel 1e-4 (merged, float32 W) / 1e-5 (factored)")


def main():
    print(f"fallback-py: torch {torch.__version__}, cuda {torch.version.cuda}, device {DEV}"
          + (f" ({torch.cuda.get_device_name(0)})" if CUDA else ""), flush=True)
    for name, fn in (("math", math_checks), ("timing", timing), ("mixed adapters", mixed_adapters)):
        print(f"---- fallback {name} ----", flush=True)
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - report and go on
            check(False, f"{name}: {type(e).__name__}: {e}")
    print(f"fallback-py: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
