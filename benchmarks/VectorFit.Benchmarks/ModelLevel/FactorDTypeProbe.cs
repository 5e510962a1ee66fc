using System.Globalization;
using VectorFit.Benchmarks.Models;
using VectorFit.Transformers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>
/// The <c>factor-dtype</c> verb: what storing U and V in bfloat16 or float16 (<see cref="VectorFitConfig.FactorDType"/>) does to
/// the weights an adapted model computes with, per layer role, against float32 factors and against rounding <c>W₀</c> itself to
/// bfloat16 (the natural yardstick). <c>factor-dtype --model DIR</c> (a BERT checkpoint folder, e.g. the demo's all-MiniLM-L6-v2)
/// or <c>factor-dtype --layers N</c> (the BERT-base shape with random weights). Markdown on stdout.
/// </summary>
/// <remarks>
/// Every figure comes from the library's own layers: the model is adapted three times (float32, bfloat16, float16 factors) and
/// each layer's stored U, V and σ₀ are composed in float64. Per layer: <c>‖U_r·diag(σ₀)·V_rᵀ − W₀‖ / ‖W₀‖</c> (Frobenius) and the
/// largest entry of the difference; <c>‖bf16(W₀) − W₀‖ / ‖W₀‖</c>; and for a "trained" σ = σ₀·(1 + 0.01·N(0, 1)) (as docs §3),
/// <c>‖ΔW_r − ΔW‖ / ‖ΔW‖</c> with <c>ΔW = U·diag(σ − σ₀)·Vᵀ</c> from the float64 SVD and <c>ΔW_r</c> from the stored factors,
/// and how large the base's rounding is next to that update, <c>‖W_r − W₀‖ / ‖ΔW‖</c>. A role's figure is its worst layer.
/// </remarks>
public static class FactorDTypeProbe
{
    private static readonly ScalarType?[] FactorTypes = [null, ScalarType.BFloat16, ScalarType.Float16];

    /// <summary>Runs the comparison and prints the tables.</summary>
    /// <param name="args">The verb's arguments.</param>
    /// <returns>0.</returns>
    /// <exception cref="ArgumentException">Neither or both of <c>--layers</c> and <c>--model</c>.</exception>
    public static int Run(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        ProbeArguments.RequireOneModel(args, "factor-dtype", "the BERT-base shape, random weights");
        var layers = ProbeArguments.Option(args, "--layers");
        var folder = ProbeArguments.Option(args, "--model");

        torch.set_num_threads(int.Parse(ProbeArguments.Option(args, "--threads") ?? "2", CultureInfo.InvariantCulture));
        var rows = new Dictionary<(LayerRole Role, ScalarType Factors), Row>();
        var bytes = new Dictionary<ScalarType, (long Factors, long Model)>();
        foreach (var factors in FactorTypes)
        {
            using nn.Module model = ProbeArguments.BaseModel(args);
            var label = factors ?? ScalarType.Float32; // the checkpoints' dtype
            // W₀ exactly, before the surgery releases the Linears it replaces.
            var weights = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, module) in model.named_modules())
            {
                if (module is TorchSharp.Modules.Linear linear)
                {
                    weights[name] = linear.weight!.detach().to(ScalarType.Float64, copy: true);
                }
            }

            var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, FactorDType = factors });
            var roles = report.Layers.ToDictionary(l => l.Name, l => l.Role, StringComparer.Ordinal);
            long factorBytes = 0;
            var index = 0;
            foreach (var (name, layer) in ModelSurgery.FindLayers<VectorFitLinear>(model))
            {
                factorBytes += Bytes(layer.U) + Bytes(layer.V);
                var key = (roles[name], label);
                rows[key] = Row.Worst(rows.GetValueOrDefault(key), Measure(layer, weights[name], seed: index++));
            }

            foreach (var w in weights.Values)
            {
                w.Dispose();
            }

            var modelBytes = model.parameters().Sum(Bytes) + model.buffers().Sum(Bytes);
            bytes[label] = (factorBytes, modelBytes);
        }

        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"factor-dtype {folder ?? $"bert-base shape, {layers} layers (random weights)"}, load {load}"));
        Console.WriteLine();
        Console.WriteLine("| role | layers | ‖W_r − W₀‖/‖W₀‖ f32 | bf16 | f16 | max abs f32 | bf16 | f16 | max abs W₀ | ‖bf16(W₀) − W₀‖/‖W₀‖ | ‖f16(W₀) − W₀‖/‖W₀‖ |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var role in rows.Keys.Select(k => k.Role).Distinct().Order())
        {
            var (f32, bf16, f16) = (rows[(role, ScalarType.Float32)], rows[(role, ScalarType.BFloat16)], rows[(role, ScalarType.Float16)]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {role} | {f32.Count} | {f32.Relative:0.0e0} | {bf16.Relative:0.0e0} | {f16.Relative:0.0e0} | {f32.MaxAbs:0.0e0} | {bf16.MaxAbs:0.0e0} | {f16.MaxAbs:0.0e0} | {f32.WeightMaxAbs:0.000} | {f32.Bf16Weight:0.0e0} | {f32.F16Weight:0.0e0} |"));
        }

        Console.WriteLine();
        Console.WriteLine("| role | ‖ΔW_r − ΔW‖/‖ΔW‖ f32 | bf16 | f16 | ‖W_r − W₀‖/‖ΔW‖ f32 | bf16 | f16 |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var role in rows.Keys.Select(k => k.Role).Distinct().Order())
        {
            var (f32, bf16, f16) = (rows[(role, ScalarType.Float32)], rows[(role, ScalarType.BFloat16)], rows[(role, ScalarType.Float16)]);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {role} | {f32.Delta:0.0e0} | {bf16.Delta:0.0e0} | {f16.Delta:0.0e0} | {f32.BaseOverDelta:0.0e0} | {bf16.BaseOverDelta:0.0e0} | {f16.BaseOverDelta:0.0e0} |"));
        }

        Console.WriteLine();
        foreach (var (factors, (factorBytes, modelBytes)) in bytes)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"factors {factors}: U and V {factorBytes / 1048576.0:F1} MiB, adapted model (parameters + buffers) {modelBytes / 1048576.0:F1} MiB"));
        }

        return 0;
    }

    private static Row Measure(VectorFitLinear layer, Tensor w0, int seed)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var (u, v) = (layer.U.to(ScalarType.Float64), layer.V.to(ScalarType.Float64));
        var sigma0 = layer.initial_sigma.to(ScalarType.Float64);
        var (u64, _, vh64) = torch.linalg.svd(w0, fullMatrices: false);
        var wr = u.mul(sigma0).matmul(v.t());
        var w0Norm = w0.norm().item<double>();
        var diff = wr - w0;

        torch.manual_seed(1000 + seed);
        var sigma = sigma0 * (1 + (0.01 * torch.randn(sigma0.shape, dtype: ScalarType.Float64)));
        // The same σ − σ₀ on both sides (σ₀ as the layer holds it), so the difference is the factors' rounding alone.
        var delta = u64.mul(sigma - sigma0).matmul(vh64);
        var deltaR = u.mul(sigma - sigma0).matmul(v.t());
        var deltaNorm = delta.norm().item<double>();
        return new Row(
            1,
            diff.norm().item<double>() / w0Norm,
            diff.abs().max().item<double>(),
            w0.abs().max().item<double>(),
            (w0.to(ScalarType.BFloat16).to(ScalarType.Float64) - w0).norm().item<double>() / w0Norm,
            (w0.to(ScalarType.Float16).to(ScalarType.Float64) - w0).norm().item<double>() / w0Norm,
            (deltaR - delta).norm().item<double>() / deltaNorm,
            diff.norm().item<double>() / deltaNorm);
    }

    private static long Bytes(Tensor t) => t.numel() * t.element_size();


    private sealed record Row(int Count, double Relative, double MaxAbs, double WeightMaxAbs, double Bf16Weight, double F16Weight, double Delta, double BaseOverDelta)
    {
        public static Row Worst(Row? a, Row b) => a is null ? b : new Row(
            a.Count + b.Count,
            Math.Max(a.Relative, b.Relative),
            Math.Max(a.MaxAbs, b.MaxAbs),
            Math.Max(a.WeightMaxAbs, b.WeightMaxAbs),
            Math.Max(a.Bf16Weight, b.Bf16Weight),
            Math.Max(a.F16Weight, b.F16Weight),
            Math.Max(a.Delta, b.Delta),
            Math.Max(a.BaseOverDelta, b.BaseOverDelta));
    }
}
