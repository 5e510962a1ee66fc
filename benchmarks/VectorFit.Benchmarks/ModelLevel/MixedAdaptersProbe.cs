using System.Diagnostics;
using TorchSharp;
using VectorFit.Adapters;
using VectorFit.Benchmarks.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>
/// <c>mixed-adapters [runs] [tokens,...]</c> (defaults 3 and 16,128): many VectorFit adapters on one 12-layer BERT-base-shaped encoder (<see cref="HiddenStateClassifier"/>,
/// float32, q/k/v/o/f1/f2 adapted), batch 32, 16 and 128 tokens, inference. Side by side in one run: a routed batch whose 32
/// rows use K = 8 (and 32) adapters, the same batch routed to one adapter, and PEFT's mixed-batch method (one forward per
/// adapter on its rows); each row against its adapter evaluated through the composed weight <c>W = U·diag(σ)·Vᵀ</c> (what a merged
/// <c>Linear</c> computes); a swap's time and new tensors; an 8-adapter combination's time and its difference from the mixture.
/// </summary>
/// <remarks>
/// The encoder's head is held in a field typed <c>Linear</c>, which a bank cannot wrap, so the adapters here are σ and b of
/// the 72 adapted layers, and every row uses the base head (the heads' routing is covered by the unit tests).
/// </remarks>
internal static class MixedAdaptersProbe
{
    private const int Batch = 32;

    public static int Run(string[] args)
    {
        var runs = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 3;
        var tokenCounts = args.Length > 1 ? args[1].Split(',').Select(t => int.Parse(t, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : new[] { 16, 128 };
        Console.WriteLine($"mixed-adapters: 12-layer BERT-base-shaped encoder, float32, batch {Batch}, {runs} timed runs each; torch threads {torch.get_num_threads()}; load average {LoadAverage()}");
        torch.manual_seed(1);
        using var model = new HiddenStateClassifier(new EncoderShape(12));
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert });
        model.eval();
        using var bank = AdapterBank.Create(model, report);
        for (var k = 1; k <= 32; k++)
        {
            bank.Add($"task{k}");
            AdapterBankWorkloads.Perturb(bank, $"task{k}", k);
        }

        double? ratioK8 = null, loopRatio16 = null, loopRatio128 = null, maxRowDiff = null;
        using (torch.no_grad())
        {
            foreach (var tokens in tokenCounts)
            {
                torch.manual_seed(tokens);
                using var x = torch.randn(Batch, tokens, 768);
                var one = Enumerable.Repeat(1, Batch).ToArray();
                var k8 = Enumerable.Range(0, Batch).Select(i => 1 + (i % 8)).ToArray();
                var k32 = Enumerable.Range(0, Batch).Select(i => 1 + (i % 32)).ToArray();
                var tOne = Time(runs, () => AdapterBankWorkloads.Routed(bank, model, x, one));
                var tK8 = Time(runs, () => AdapterBankWorkloads.Routed(bank, model, x, k8));
                var tK32 = Time(runs, () => AdapterBankWorkloads.Routed(bank, model, x, k32));
                var tLoop8 = Time(runs, () => AdapterBankWorkloads.Loop(bank, model, x, k8));
                var tLoop32 = Time(runs, () => AdapterBankWorkloads.Loop(bank, model, x, k32));
                Console.WriteLine(
                    $"  {tokens,3} tokens: one adapter {tOne:F1} ms, K=8 {tK8:F1} ms, K=32 {tK32:F1} ms, per-adapter loop K=8 {tLoop8:F1} ms, K=32 {tLoop32:F1} ms | " +
                    $"K=8 ÷ K=1 throughput {tOne / tK8:F3}, K=32 ÷ K=1 {tOne / tK32:F3}, loop ÷ mixed K=8 {tLoop8 / tK8:F2}, K=32 {tLoop32 / tK32:F2}");
                // The summary line reports the first token count asked for (16 by default) and the loop ratio at 128 if measured.
                if (tokens == tokenCounts[0])
                {
                    ratioK8 = tOne / tK8;
                    loopRatio16 = tLoop8 / tK8;
                    maxRowDiff = RowsAgainstComposed(bank, model, x, k8);
                }

                if (tokens == 128)
                {
                    loopRatio128 = tLoop8 / tK8;
                }
            }
        }

        var (swapMs, swapTensors) = Swaps(bank);
        var (combineMs, combineDiff) = Combination(bank, model);
        Console.WriteLine($"  loop ÷ mixed at 128 tokens (K=8): {(loopRatio128 is { } r128 ? r128.ToString("F2", System.Globalization.CultureInfo.InvariantCulture) : "not measured")}; swap new tensors: {swapTensors}; combine 8 adapters: {combineMs:F1} ms, max |combined − mixture| = {combineDiff:E2}");
        Console.WriteLine($"  load average after: {LoadAverage()}");
        Console.WriteLine($"mixed-adapters: K=8 ÷ K=1 = {ratioK8:F3}; loop ÷ mixed = {loopRatio16:F2}; max |row − merged| = {maxRowDiff:E2}; swap ms = {swapMs:F3} ({tokenCounts[0]} tokens)");
        return 0;
    }

    private static double Time(int runs, Func<Tensor> forward)
    {
        forward().Dispose(); // warm-up
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < runs; i++)
        {
            forward().Dispose();
        }

        return stopwatch.Elapsed.TotalMilliseconds / runs;
    }

    /// <summary>Each routed row against its adapter activated (evaluated through the composed weight, as a merged Linear).</summary>
    private static double RowsAgainstComposed(AdapterBank bank, nn.Module<Tensor, Tensor> model, Tensor x, int[] rows)
    {
        using var routed = AdapterBankWorkloads.Routed(bank, model, x, rows);
        var worst = 0.0;
        foreach (var adapter in rows.Distinct())
        {
            bank.Activate(adapter);
            using var scope = torch.NewDisposeScope();
            var mine = torch.tensor(Enumerable.Range(0, rows.Length).Where(r => rows[r] == adapter).Select(r => (long)r).ToArray());
            var expected = model.forward(x.index_select(0, mine));
            worst = Math.Max(worst, routed.index_select(0, mine).sub(expected).abs().max().item<float>());
        }

        bank.Activate(0);
        return worst;
    }

    private static (double Ms, long NewTensors) Swaps(AdapterBank bank)
    {
        bank.Activate(1);
        bank.Activate(2);
        var stats = DisposeScopeManager.Statistics;
        var created = stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount;
        const int Swaps = 100;
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < Swaps; i++)
        {
            bank.Activate(1 + (i % 8));
        }

        var ms = stopwatch.Elapsed.TotalMilliseconds / Swaps;
        bank.Activate(0);
        return (ms, stats.CreatedInScopeCount + stats.CreatedOutsideScopeCount - created);
    }

    private static (double Ms, double Difference) Combination(AdapterBank bank, nn.Module<Tensor, Tensor> model)
    {
        var weights = Enumerable.Range(1, 8).Select(k => ($"task{k}", 0.1 + (0.01 * k))).ToList();
        bank.Combine("warm-up", weights);
        bank.Unload("warm-up");
        var stopwatch = Stopwatch.StartNew();
        var index = bank.Combine("combined", weights);
        var ms = stopwatch.Elapsed.TotalMilliseconds;

        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(7);
        var x = torch.randn(4, 16, 768);
        var row = new double[bank.Count];
        row[0] = 1 - weights.Sum(w => w.Item2);
        for (var k = 1; k <= 8; k++)
        {
            row[k] = weights[k - 1].Item2;
        }

        var mixture = torch.tensor(Enumerable.Repeat(row, 4).SelectMany(r => r).ToArray(), dtype: ScalarType.Float32).reshape(4, bank.Count);
        Tensor mixed;
        using (bank.RouteMixture(mixture))
        {
            mixed = model.forward(x);
        }

        var combined = AdapterBankWorkloads.Routed(bank, model, x, Enumerable.Repeat(index, 4).ToArray());
        return (ms, mixed.sub(combined).abs().max().item<float>());
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
