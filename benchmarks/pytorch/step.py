#!/usr/bin/env python3
"""The model-level benchmark in PyTorch: the peer of `./build.sh bench` (VectorFit.Benchmarks, ModelStep).

Same model, data, methods and optimizer as the C# harness, so each .NET figure has a PyTorch figure
taken in the same run (Debian's python3-torch 1.13.1: an older libtorch than TorchSharp's, with another
BLAS, so its figures are a reference point, not a same-library peer):

* a BERT-base-shaped post-LayerNorm encoder (d 768, MLP 3072, 12 heads, GELU, LayerNorm eps 1e-5), 4 or 12
  layers, with Hugging Face's module names (encoder.layer.N.attention.self.query, ...: the C# side is
  VectorFit.Transformers' BertEncoder), fed random hidden states (8 x 128 tokens; no embedding table, an all-zero
  additive mask, dropout 0), first-token classifier (2 classes);
* one training step = zero_grad, forward, cross-entropy, backward, AdamW(lr 1e-4, weight decay 0);
* methods: full fine-tuning; LoRA r=1 (alpha 1) on q,k,v,o,f1,f2; VectorFit (sigma and bias of q,k,v,o,f1,f2,
  factored forward U.(sigma * V^T x), AVF with an AVF step at every step, k = 5: the worst case);
  VectorFit materialising W = (U * sigma) V^T every step (the cost the factored path avoids);
* the task head is trained by every method;
* methods are timed interleaved (one step of each in turn), so drift in the machine's load hits all alike;
* sequential SVD time of all adapted weights (float32 and float64, one matrix after another);
* inference (no_grad forward) of the base model against the merged VectorFit model.

Usage:
  step.py [--layers 4 12] [--methods full,lora,vectorfit,vectorfit-materialized] [--warmup 2] [--steps 5]
          [--threads 2] [--svd] [--inference] [--inference-runs 10]
  step.py --memory METHOD --layers 12      (one method in this process: peak RSS, for a fresh process per method)
  step.py --serve --layers 12 [--methods ...]   (step server: the C# harness alternates .NET and PyTorch steps)

Prints one JSON object on stdout (progress goes to stderr).
"""
import argparse
import gc
import json
import math
import os
import platform
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

D_MODEL = 768
D_MLP = 3072
HEADS = 12
BATCH = 8
TOKENS = 128
CLASSES = 2
LR = 1e-4
LAYER_NORM_EPS = 1e-5  # PyTorch's default; the C# model's TransformerConfig uses the same (EncoderShape.LayerNormEps)
# q, k, v, o, f1, f2 by Hugging Face's BERT names (VectorFit's TargetPreset.Bert), relative to encoder.layer.N
TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value",
           "attention.output.dense", "intermediate.dense", "output.dense")
METHODS = ("full", "lora", "vectorfit", "vectorfit-materialized")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class SelfAttention(nn.Module):
    """softmax(Q K^T / sqrt(d_head) + mask) V, as VectorFit.Transformers' BertSelfAttention (Hugging Face's names)."""

    def __init__(self):
        super().__init__()
        self.query = nn.Linear(D_MODEL, D_MODEL)
        self.key = nn.Linear(D_MODEL, D_MODEL)
        self.value = nn.Linear(D_MODEL, D_MODEL)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x, mask):
        b, t, d = x.shape
        dh = d // HEADS

        def heads(y):
            return y.view(b, t, HEADS, dh).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(dh) + mask
        context = torch.matmul(self.dropout(F.softmax(scores, dim=-1)), v)
        return context.transpose(1, 2).contiguous().view(b, t, d)


class ResidualOutput(nn.Module):
    """LayerNorm(dropout(dense(x)) + residual): attention.output (o) and the layer's output (f2)."""

    def __init__(self, d_in):
        super().__init__()
        self.dense = nn.Linear(d_in, D_MODEL)
        self.LayerNorm = nn.LayerNorm(D_MODEL, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(0.0)

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttention()
        self.output = ResidualOutput(D_MODEL)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(D_MODEL, D_MLP)

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    """One post-LayerNorm BERT layer in Hugging Face's order: attention.self.{query,key,value},
    attention.output.dense + LayerNorm(residual), intermediate.dense + GELU, output.dense + LayerNorm(residual)."""

    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = ResidualOutput(D_MLP)

    def forward(self, x, mask):
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(layers)])

    def forward(self, x, mask):
        for block in self.layer:
            x = block(x, mask)
        return x


class Encoder(nn.Module):
    """The benchmark model: encoder.layer.N... (VectorFit.Transformers' BertEncoder) fed hidden states, head on token 0."""

    def __init__(self, layers):
        super().__init__()
        self.encoder = BertEncoder(layers)
        self.head = nn.Linear(D_MODEL, CLASSES)

    def forward(self, x):
        # Every token is real: the additive key mask is all zeros, (batch, 1, 1, tokens), as the C# model passes it.
        mask = x.new_zeros(x.shape[0], 1, 1, x.shape[1])
        return self.head(self.encoder(x, mask)[:, 0])


class LoraLinear(nn.Module):
    """y = x W^T + b + (x A^T) B^T (alpha / r), W and b frozen; the scale is applied to the r-wide product."""

    def __init__(self, base, r=1, alpha=1.0):
        super().__init__()
        self.base_layer = base  # the C# LoraLinear's name, so the two state_dicts have the same keys
        base.weight.requires_grad_(False)
        base.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base_layer(x) + F.linear(F.linear(x, self.lora_A) * self.scaling, self.lora_B)


class VectorFitLinear(nn.Module):
    """y = U diag(sigma) V^T x + b, U and V frozen; factored ((x V) * sigma) U^T + b, or W materialised every call."""

    def __init__(self, base, materialize):
        super().__init__()
        u, s, vh = torch.linalg.svd(base.weight.detach().double(), full_matrices=False)
        dtype = base.weight.dtype
        self.register_buffer("U", u.to(dtype).contiguous())
        self.register_buffer("V", vh.t().to(dtype).contiguous())
        self.sigma = nn.Parameter(s.to(dtype))
        self.bias = nn.Parameter(base.bias.detach().clone())
        self.materialize = materialize

    def forward(self, x):
        if self.materialize:
            return F.linear(x, (self.U * self.sigma) @ self.V.t(), self.bias)
        return F.linear(F.linear(x, self.V.t()) * self.sigma, self.U, self.bias)

    def merged(self):
        with torch.no_grad():
            w = ((self.U.double() * self.sigma.double()) @ self.V.double().t()).to(self.U.dtype)
            linear = nn.Linear(w.shape[1], w.shape[0])
            linear.weight.copy_(w)
            linear.bias.copy_(self.bias)
        return linear


class Avf:
    """Adaptive Vector Freezing as method section 3 decides it: S' smoothed at AVF steps, top-k frozen (grad None)."""

    def __init__(self, model, t_i=1, t_f=1, n_f=1_000_000, k=5, beta=0.99):
        self.vectors = []
        for module in model.modules():
            if isinstance(module, VectorFitLinear):
                self.vectors += [module.sigma, module.bias]
        self.initial = [v.detach().clone() for v in self.vectors]
        self.smoothed = [0.0] * len(self.vectors)
        self.t_i, self.t_f, self.n_f, self.k, self.beta = t_i, t_f, n_f, k, beta
        self.step_count = 0

    def step(self):
        self.step_count += 1
        t = self.step_count
        if t < self.t_i or (t - self.t_i) % self.t_f != 0 or (t - self.t_i) // self.t_f >= self.n_f:
            return
        with torch.no_grad():
            for i, (v, v0) in enumerate(zip(self.vectors, self.initial)):
                strength = (v - v0).abs().mean().item()
                self.smoothed[i] = self.beta * self.smoothed[i] + (1 - self.beta) * strength
        order = sorted(range(len(self.vectors)), key=lambda i: (-self.smoothed[i], i))
        frozen = set(order[: self.k])
        for i, v in enumerate(self.vectors):
            if i in frozen:
                v.requires_grad_(False)
                v.grad = None
            else:
                v.requires_grad_(True)


def replace_targets(model, make):
    for layer in model.encoder.layer:
        for path in TARGETS:
            parent_path, name = path.rsplit(".", 1)
            parent = layer.get_submodule(parent_path)
            setattr(parent, name, make(getattr(parent, name)))


def build(method, layers, seed=0):
    """The base model from `seed`, adapted for `method`; returns (model, optimizer, avf or None)."""
    torch.manual_seed(seed)
    model = Encoder(layers)
    avf = None
    if method == "full":
        pass
    elif method == "lora":
        for p in model.parameters():
            p.requires_grad_(False)
        replace_targets(model, lambda lin: LoraLinear(lin))
        for p in model.head.parameters():
            p.requires_grad_(True)
    elif method in ("vectorfit", "vectorfit-materialized"):
        for p in model.parameters():
            p.requires_grad_(False)
        replace_targets(model, lambda lin: VectorFitLinear(lin, materialize=method == "vectorfit-materialized"))
        for p in model.head.parameters():
            p.requires_grad_(True)
        avf = Avf(model)
    elif method == "base":
        pass
    else:
        raise SystemExit(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=0.0)
    return model, optimizer, avf


def batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, TOKENS, D_MODEL, generator=g)
    y = torch.randint(0, CLASSES, (BATCH,), generator=g)
    return x, y


def train_step(model, optimizer, avf, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    if avf is not None:
        avf.step()
    return loss


def trainable_state_bytes(model, optimizer):
    """Every parameter the optimizer trains (AVF-frozen ones too), its gradient and AdamW's two moments (float32)."""
    count = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
    head = sum(p.numel() for p in model.head.parameters())
    element = 4
    return {"trainable_values": count, "head_values": head,
            "bytes": 4 * count * element, "bytes_without_head": 4 * (count - head) * element}


def set_materialize(model, flag):
    for module in model.modules():
        if isinstance(module, VectorFitLinear):
            module.materialize = flag


def build_runs(layers, methods):
    """The models per method; vectorfit and vectorfit-materialized share one model (one SVD), switched per step."""
    runs = {}
    setup = {}
    for method in methods:
        if method == "vectorfit-materialized" and "vectorfit" in runs:
            runs[method] = runs["vectorfit"][:3] + (True,)
            continue
        start = time.perf_counter()
        model, optimizer, avf = build(method, layers)
        setup[method] = time.perf_counter() - start
        model.train()
        runs[method] = (model, optimizer, avf, method == "vectorfit-materialized")
    return runs, setup


def time_steps(layers, methods, warmup, steps):
    """Interleaved steps (one of each method in turn); medians."""
    x, y = batch()
    runs, setup = build_runs(layers, methods)
    for method, (model, optimizer, avf, materialize) in runs.items():
        set_materialize(model, materialize)
        for _ in range(warmup):
            train_step(model, optimizer, avf, x, y)
    samples = {m: [] for m in methods}
    for i in range(steps):
        for method, (model, optimizer, avf, materialize) in runs.items():
            set_materialize(model, materialize)
            start = time.perf_counter()
            train_step(model, optimizer, avf, x, y)
            samples[method].append(time.perf_counter() - start)
        log(f"  layers {layers} step {i + 1}/{steps}: " + ", ".join(f"{m} {samples[m][-1]:.3f}s" for m in methods))
    result = {}
    for method, (model, optimizer, _, _) in runs.items():
        set_materialize(model, False)
        result[method] = {"median_s": statistics.median(samples[method]), "samples_s": samples[method],
                          "build_s": setup.get(method), "state": trainable_state_bytes(model, optimizer)}
    return result, runs


def serve(layers, methods, threads):
    """Step server for the C# harness: builds the models, then answers one line per command on stdin.

    Commands: "step METHOD" (one timed training step; answers {"method", "s"}), "quit". The harness alternates a .NET
    step and a PyTorch step of the same method, so both sides see the same machine load at nearly the same time.
    """
    x, y = batch()
    runs, setup = build_runs(layers, methods)
    state = {m: trainable_state_bytes(r[0], r[1]) for m, r in runs.items()}
    print(json.dumps({"ready": True, "build_s": setup, "state": state}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if parts[0] != "step" or len(parts) != 2 or parts[1] not in runs:
            print(json.dumps({"error": f"bad command {line.strip()!r}"}), flush=True)
            continue
        model, optimizer, avf, materialize = runs[parts[1]]
        set_materialize(model, materialize)
        start = time.perf_counter()
        train_step(model, optimizer, avf, x, y)
        elapsed = time.perf_counter() - start
        print(json.dumps({"method": parts[1], "s": elapsed}), flush=True)


def time_inference(layers, runs, repeats):
    """Base model vs the VectorFit model merged back to Linear layers (trained a few steps, so it differs)."""
    x, _ = batch()
    torch.manual_seed(0)
    base = Encoder(layers)
    if "vectorfit" in runs:
        trained = runs["vectorfit"][0]
        set_materialize(trained, False)
    else:
        trained, optimizer, avf = build("vectorfit", layers)
        train_step(trained, optimizer, avf, *batch())
    merged = Encoder(layers)
    merged.load_state_dict(base.state_dict())
    for layer, adapted in zip(merged.encoder.layer, trained.encoder.layer):
        for path in TARGETS:
            parent_path, name = path.rsplit(".", 1)
            setattr(layer.get_submodule(parent_path), name, adapted.get_submodule(path).merged())
    merged.head.load_state_dict(trained.head.state_dict())
    models = {"base": base.eval(), "merged": merged.eval(), "vectorfit-unmerged": trained.eval()}
    samples = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():
            model(x)
        for _ in range(repeats):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                samples[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(s), "samples_s": s} for name, s in samples.items()}


def time_svd(layers):
    torch.manual_seed(0)
    model = Encoder(layers)
    weights = [layer.get_submodule(path).weight.detach() for layer in model.encoder.layer for path in TARGETS]
    result = {"matrices": len(weights)}
    for dtype in (torch.float32, torch.float64):
        converted = [w.to(dtype) for w in weights]
        torch.linalg.svd(converted[0], full_matrices=False)  # load LAPACK once
        start = time.perf_counter()
        for w in converted:
            torch.linalg.svd(w, full_matrices=False)
        result[str(dtype).replace("torch.", "") + "_s"] = time.perf_counter() - start
    return result


def proc_status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def reset_peak():
    """Resets VmHWM to the current RSS (Linux: 5 > /proc/self/clear_refs); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_run(method, layers, steps):
    x, y = batch()
    rss_start = proc_status_kib("VmRSS")
    model, optimizer, avf = build(method, layers)
    rss_built = proc_status_kib("VmRSS")
    gc.collect()
    setup_hwm = proc_status_kib("VmHWM")
    reset = reset_peak()
    for _ in range(steps):
        train_step(model, optimizer, avf, x, y)
    return {"method": method, "layers": layers, "steps": steps,
            "start_kib": rss_start, "built_kib": rss_built, "setup_hwm_kib": setup_hwm,
            "train_hwm_kib": proc_status_kib("VmHWM") if reset else -1,
            "state": trainable_state_bytes(model, optimizer)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--svd", action="store_true", help="time the sequential SVD of every adapted weight")
    parser.add_argument("--inference", action="store_true", help="time base vs merged inference")
    parser.add_argument("--inference-runs", type=int, default=10)
    parser.add_argument("--no-steps", action="store_true", help="skip the training-step timing")
    parser.add_argument("--memory", metavar="METHOD", help="peak memory of one method in this process")
    parser.add_argument("--serve", action="store_true", help="step server for the C# harness (see serve())")
    parser.add_argument("--op-overhead", action="store_true", help="time per call of a 1-element add (microseconds)")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    out = {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
           "batch": BATCH, "tokens": TOKENS}
    if args.op_overhead:
        one = torch.ones(1)
        batches = []
        for _ in range(6):
            start = time.perf_counter()
            for _ in range(20_000):
                one.add(one)
            batches.append((time.perf_counter() - start) * 1e6 / 20_000)
        out["op_overhead_us"] = statistics.median(batches[1:])
        print(json.dumps(out))
        return
    if args.memory:
        out["memory"] = memory_run(args.memory, args.layers[0], max(args.steps, 2))
        print(json.dumps(out))
        return

    methods = [m for m in args.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method '{m}'; use one of {', '.join(METHODS)}")
    if args.serve:
        serve(args.layers[0], methods, args.threads)
        return
    out["layers"] = {}
    for layers in args.layers:
        entry = {}
        runs = {}
        if not args.no_steps:
            log(f"pytorch: {layers} layers, {', '.join(methods)}")
            entry["step"], runs = time_steps(layers, methods, args.warmup, args.steps)
        if args.inference:
            entry["inference"] = time_inference(layers, runs, args.inference_runs)
        if args.svd:
            log(f"pytorch: sequential SVD, {layers} layers")
            entry["svd"] = time_svd(layers)
        out["layers"][str(layers)] = entry
        del runs
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
