using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>
/// <c>layer-cost</c>: (1) a VectorFitLinear with σ frozen against a frozen Linear, forward + backward to the input, side by
/// side; (2) the SVD precision question: how far apart the ΔW of one trained σ is when U and V come from a float32 or a
/// float64 SVD of a real-shaped weight, and what each SVD costs. Prints a markdown table to stdout.
/// </summary>
internal static class LayerCostProbe
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static int Run(string[] args)
    {
        var runs = args.Length > 0 ? int.Parse(args[0], Invariant) : 15;
        var svdOnly = args.Contains("--svd-only");
        torch.set_num_threads(2);
        Console.WriteLine($"load at start: {ModelStepHarness.LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| layer | tokens | frozen Linear (ms) | VectorFit, σ frozen (ms) | ratio of medians | paired ratio | σ frozen, AssumeFactorsUnchanged (ms) | its paired ratio | VectorFit, σ trains (ms) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        // --all-shapes: issue 11's suite, 768, 1024, 3072×768 and 4096 at 128 and 4096 tokens (4096² costs minutes).
        var shapes = args.Contains("--all-shapes")
            ? new[] { (768, 768, new[] { 128, 4096 }), (1024, 1024, new[] { 128, 4096 }), (768, 3072, new[] { 128, 4096 }), (4096, 4096, new[] { 128, 4096 }) }
            : new[] { (768, 768, new[] { 128, 1024, 4096 }), (768, 3072, new[] { 128, 1024, 4096 }) };
        foreach (var (din, dout, tokenCounts) in svdOnly ? [] : shapes)
        {
            foreach (var tokens in tokenCounts)
            {
                FrozenLayer(din, dout, tokens, runs);
            }
        }

        Console.WriteLine($"load after layers: {ModelStepHarness.LoadAverage()}");
        Console.WriteLine();
        Console.WriteLine("| weight | SVD float32 (s) | SVD float64 (s) | min relative gap | ‖ΔW₃₂ − ΔW₆₄‖ / ‖ΔW₆₄‖ | worst column of U, 1 − |cos| |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (name, rows, cols, clustered) in new[] { ("768×768, N(0, 0.02²)", 768, 768, false), ("3072×768, N(0, 0.02²)", 3072, 768, false), ("768×768, pairs 1e-6 apart", 768, 768, true) })
        {
            try
            {
                SvdPrecision(name, rows, cols, clustered);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine(e);
                throw;
            }
        }

        Console.WriteLine($"load at end: {ModelStepHarness.LoadAverage()}");
        return 0;
    }

    private static void FrozenLayer(int din, int dout, int tokens, int runs)
    {
        torch.manual_seed(1);
        using var linear = nn.Linear(din, dout);
        using var frozen = new VectorFitLinear(linear);
        using var trained = new VectorFitLinear(linear);
        linear.weight!.requires_grad = false;
        linear.bias!.requires_grad = false;
        frozen.sigma.requires_grad = false;
        using var x = torch.randn(tokens, din).requires_grad_();

        double Time(nn.Module<Tensor, Tensor> module, bool assume = false)
        {
            using var scope = torch.NewDisposeScope();
            using var trust = assume ? VectorFitLinear.AssumeFactorsUnchanged() : null;
            var clock = Stopwatch.StartNew();
            var y = module.forward(x);
            y.sum().backward();
            clock.Stop();
            x.grad = null;
            trained.sigma.grad = null;
            return clock.Elapsed.TotalMilliseconds;
        }

        var frozenLinear = new List<double>();
        var frozenSigma = new List<double>();
        var trainedSigma = new List<double>();
        var assumedSigma = new List<double>();
        for (var i = 0; i < runs + 2; i++)
        {
            // The three in turn, so load changes hit all of them alike; the first two rounds warm up.
            Thread.Sleep(50);
            var a = Time(linear);
            var b = Time(frozen);
            var c = Time(trained);
            var d = Time(frozen, assume: true);
            if (i >= 2)
            {
                assumedSigma.Add(d);
                frozenLinear.Add(a);
                frozenSigma.Add(b);
                trainedSigma.Add(c);
            }
        }

        var l = ModelStepResults.Median(frozenLinear);
        var f = ModelStepResults.Median(frozenSigma);
        var t = ModelStepResults.Median(trainedSigma);
        var a2 = ModelStepResults.Median(assumedSigma);
        var paired = ModelStepResults.Median(frozenSigma.Zip(frozenLinear, (p, q) => p / q).ToList());
        var pairedAssumed = ModelStepResults.Median(assumedSigma.Zip(frozenLinear, (p, q) => p / q).ToList());
        Console.WriteLine(string.Create(Invariant, $"| {din}→{dout} | {tokens} | {l:F2} | {f:F2} | {f / l:F3} | {paired:F3} | {a2:F2} | {pairedAssumed:F3} | {t:F2} |"));
    }

    private static void SvdPrecision(string name, int rows, int cols, bool clustered)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        torch.manual_seed(7);
        using var scale = 0.02.ToScalar();
        var w = torch.randn(rows, cols, dtype: ScalarType.Float64).mul(scale);
        if (clustered)
        {
            // Same singular vectors, singular values in pairs 1e-6 apart (relative): ill-determined directions.
            var (u0, s0, vh0) = torch.linalg.svd(w, fullMatrices: false);
            var pairs = s0.reshape(-1, 2).select(1, 0).repeat_interleave(2L);
            var bump = torch.tensor(Enumerable.Range(0, (int)pairs.shape[0]).Select(i => i % 2 == 0 ? 1.0 : 1 - 1e-6).ToArray(), dtype: ScalarType.Float64);
            w = (u0 * (pairs * bump)).matmul(vh0);
        }

        var clock = Stopwatch.StartNew();
        var (u32, s32, vh32) = torch.linalg.svd(w.to(ScalarType.Float32), fullMatrices: false);
        var t32 = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var (u64, s64, vh64) = torch.linalg.svd(w, fullMatrices: false);
        var t64 = clock.Elapsed.TotalSeconds;

        // One "trained" σ: σ₀ scaled by (1 + 1e-2·N(0, 1)) per value, the same on both bases (indices match: descending order).
        torch.manual_seed(8);
        using var spread = 1e-2.ToScalar();
        var factor = torch.randn(s64.shape[0], dtype: ScalarType.Float64).mul(spread);
        var delta64 = s64 * factor;
        var delta32 = s32.to(ScalarType.Float64) * factor;
        var dw64 = (u64 * delta64).matmul(vh64);
        var dw32 = (u32.to(ScalarType.Float64) * delta32).matmul(vh32.to(ScalarType.Float64));
        var relative = (dw32 - dw64).norm().item<double>() / dw64.norm().item<double>();
        var r = s64.shape[0];
        var gaps = (s64.narrow(0, 0, r - 1) - s64.narrow(0, 1, r - 1)) / s64.narrow(0, 0, r - 1);
        var minGap = gaps.min().item<double>();
        var cosines = (u32.to(ScalarType.Float64) * u64).sum(dim: 0).abs();
        var worst = 1 - cosines.min().item<double>();
        Console.WriteLine(string.Create(Invariant, $"| {name} | {t32:F3} | {t64:F3} | {minGap:E1} | {relative:E2} | {worst:E2} |"));
    }
}
