using System.Globalization;
using System.Text;
using System.Text.Json;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>Turns <see cref="ModelStepResults"/> into the Markdown tables and target verdicts of the results page.</summary>
public static class ModelStepReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The report.</summary>
    public static string Markdown(ModelStepResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var md = new StringBuilder();
        var o = results.Options;
        md.AppendLine(Invariant, $"## Model level: {results.StartedUtc:yyyy-MM-dd HH:mm} UTC");
        md.AppendLine();
        md.AppendLine(Invariant, $"Settings: batch 8 × 128 tokens, d 768, MLP 3072, 12 heads; AdamW lr 1e-4; {o.Steps} timed steps per method after {o.Warmup} warm-up step(s), methods interleaved, each .NET step next to its PyTorch step; {o.Threads} threads; medians.");
        md.AppendLine();
        foreach (var (key, value) in results.Environment)
        {
            md.AppendLine(Invariant, $"- {key}: {value}");
        }

        md.AppendLine(Invariant, $"- load averages (1/5/15 min) before each block: {string.Join("; ", results.LoadReadings)}");
        md.AppendLine();
        foreach (var depth in results.Depths)
        {
            Depth(md, depth);
        }

        Targets(md, results);
        return md.ToString();
    }

    private static void Depth(StringBuilder md, DepthResults d)
    {
        md.AppendLine(Invariant, $"### {d.Layers} layers");
        md.AppendLine();
        md.AppendLine("Training step, seconds: median (min); ratios of medians; \"paired\" is the median of the per-step .NET ÷ PyTorch ratios:");
        md.AppendLine();
        md.AppendLine("| method | .NET | PyTorch | .NET ÷ PyTorch | paired | .NET ÷ LoRA | PyTorch ÷ LoRA | .NET ÷ full | PyTorch ÷ full |");
        md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        var names = d.DotnetSteps.Keys.Concat(d.PythonSteps.Keys).Distinct().ToList();
        var netLora = Med(d.DotnetSteps, "lora");
        var pyLora = Med(d.PythonSteps, "lora");
        var netFull = Med(d.DotnetSteps, "full");
        var pyFull = Med(d.PythonSteps, "full");
        foreach (var name in names)
        {
            var net = Med(d.DotnetSteps, name);
            var py = Med(d.PythonSteps, name);
            md.AppendLine(Invariant, $"| {name} | {S(net)} ({S(Min(d.DotnetSteps, name))}) | {S(py)} ({S(Min(d.PythonSteps, name))}) | {R(net / py)} | {R(Paired(d, name))} | {R(net / netLora)} | {R(py / pyLora)} | {R(net / netFull)} | {R(py / pyFull)} |");
        }

        md.AppendLine();
        if (d.SetupSeconds is not null || d.PythonSvdFloat32 is not null)
        {
            md.AppendLine(Invariant, $"Setup: .NET ModelSurgery.Apply ({6 * d.Layers} SVDs in float64, as the library takes them) {S(d.SetupSeconds)} s; " +
                $"PyTorch sequential torch.linalg.svd float32 {S(d.PythonSvdFloat32)} s, float64 {S(d.PythonSvdFloat64)} s; " +
                $"ratio to float32 {R(d.SetupSeconds / d.PythonSvdFloat32)}, to float64 {R(d.SetupSeconds / d.PythonSvdFloat64)}.");
            if (d.DotnetSvd.Count > 0)
            {
                md.AppendLine(Invariant, $"SVD diagnostics (.NET, torch.linalg.svd only): {string.Join(", ", d.DotnetSvd.Select(kv => $"{kv.Key} {S(kv.Value)} s"))}.");
            }

            md.AppendLine();
        }

        if (d.DotnetInference.Count > 0 || d.PythonInference.Count > 0)
        {
            var baseMerged = Med(d.DotnetInference, "base-vs-merged");
            var merged = Med(d.DotnetInference, "merged");
            var baseUnmerged = Med(d.DotnetInference, "base");
            var unmerged = Med(d.DotnetInference, "vectorfit-unmerged");
            var pyBase = Med(d.PythonInference, "base");
            md.AppendLine(Invariant, $"Inference (no_grad forward, median s): .NET base {S(baseMerged)}, merged {S(merged)} (merged ÷ base {R(merged / baseMerged)}); " +
                $"unmerged VectorFit {S(unmerged)} (÷ base {R(unmerged / baseUnmerged)}), inside AssumeFactorsUnchanged {S(Med(d.DotnetInference, "vectorfit-unmerged-assumed"))} (÷ base {R(Med(d.DotnetInference, "vectorfit-unmerged-assumed") / baseUnmerged)}); " +
                $"PyTorch base {S(pyBase)}, merged {S(Med(d.PythonInference, "merged"))} (÷ base {R(Med(d.PythonInference, "merged") / pyBase)}), " +
                $"unmerged {S(Med(d.PythonInference, "vectorfit-unmerged"))}; .NET base ÷ PyTorch base {R(baseMerged / pyBase)}.");
            md.AppendLine();
        }

        if (d.DotnetMemory.Count > 0)
        {
            md.AppendLine("Memory, each case in its own process (MiB; \"peak\" is the peak during the steps or forwards, reset after setup and a GC + malloc_trim; \"steady\" is RSS after them and another trim; infer-* are no_grad forwards):");
            md.AppendLine();
            md.AppendLine("| case | .NET peak | ÷ LoRA | steady | setup peak | after build (before → after GC + trim) | held composed W | AVF-frozen vectors | PyTorch peak | ÷ LoRA | trainable values | trainable-state bytes (param + grad + 2 moments) |");
            md.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            var netLoraPeak = d.DotnetMemory.TryGetValue("lora", out var lm) ? lm.TrainPeakKib : double.NaN;
            var pyLoraPeak = d.PythonMemory.TryGetValue("lora", out var plm) ? plm.GetProperty("train_hwm_kib").GetDouble() : double.NaN;
            foreach (var (name, m) in d.DotnetMemory)
            {
                var py = d.PythonMemory.TryGetValue(name, out var pm) ? pm.GetProperty("train_hwm_kib").GetDouble() : double.NaN;
                md.AppendLine(Invariant, $"| {name} | {Mib(m.TrainPeakKib)} | {R(m.TrainPeakKib / netLoraPeak)} | {Mib(m.SteadyKib)} | {Mib(m.SetupPeakKib)} | {Mib(m.BuiltKib)} → {Mib(m.BuiltAfterGcKib)} | {m.HeldComposedWeights} | {m.FrozenVectors} | {Mib(py)} | {R(py / pyLoraPeak)} | {m.State.TrainableValues:N0} | {m.State.Bytes:N0} ({m.State.BytesWithoutHead:N0} without the head) |");
            }

            md.AppendLine();
            if (d.DotnetMemory.TryGetValue("vectorfit", out var vfm) && d.DotnetMemory.TryGetValue("lora", out var lom))
            {
                var surplus = MemoryProbe.FactorSurplusBytes(new Models.EncoderShape(d.Layers)) / (1024.0 * 1024.0);
                md.AppendLine(Invariant, $"memory: vectorfit ÷ lora = {(double)vfm.TrainPeakKib / lom.TrainPeakKib:0.00}; vectorfit − lora = {(vfm.TrainPeakKib - lom.TrainPeakKib) / 1024.0:0} MiB; factor surplus = {surplus:0} MiB (target: vectorfit − lora ≤ 1.2 × surplus = {1.2 * surplus:0} MiB; malloc {vfm.Malloc}: {(vfm.Malloc == "live" ? "glibc's mmap threshold fixed at 128 KiB, so peaks are live memory" : "glibc's default heap, peaks include what it kept")})");
                md.AppendLine();
            }
        }
    }

    private static void Targets(StringBuilder md, ModelStepResults results)
    {
        md.AppendLine("### Targets");
        md.AppendLine();
        foreach (var d in results.Depths)
        {
            var vf = Med(d.DotnetSteps, "vectorfit");
            var lora = Med(d.DotnetSteps, "lora");
            var full = Med(d.DotnetSteps, "full");
            md.AppendLine(Invariant, $"{d.Layers} layers:");
            Verdict(md, "VectorFit + AVF step ÷ full fine-tuning step (.NET)", vf / full, 0.90);
            Verdict(md, "VectorFit + AVF step ÷ LoRA r=1 step (.NET)", vf / lora, 1.20);
            Verdict(md, "unmerged eval-mode (no_grad) inference ÷ base", Med(d.DotnetInference, "vectorfit-unmerged") / Med(d.DotnetInference, "base"), 1.05);
            Verdict(md, "unmerged eval-mode inference inside AssumeFactorsUnchanged ÷ base", Med(d.DotnetInference, "vectorfit-unmerged-assumed") / Med(d.DotnetInference, "base"), 1.05);

            // Merged layers are plain Linear layers again: no inference cost, so faster than base (noise) is no miss.
            Verdict(md, "merged inference ÷ base", Med(d.DotnetInference, "merged") / Med(d.DotnetInference, "base-vs-merged"), 1.03);
            if (d.DotnetSvd.TryGetValue("sequential-float64", out var bare))
            {
                Verdict(md, "uncached surgery ÷ the bare float64 SVDs (the chosen precision)", d.SetupSeconds / bare, 1.10);
            }

            if (d.DotnetSvd.TryGetValue("surgery-cache-warm", out var warm))
            {
                Verdict(md, "surgery on a cached base ÷ uncached surgery", warm / d.SetupSeconds, 0.05);
            }

            if (d.DotnetMemory.TryGetValue("vectorfit", out var vm) && d.DotnetMemory.TryGetValue("lora", out var lm))
            {
                // Issue 17: VectorFit's training peak ≤ LoRA r=1's + 1.2 × what U and V hold beyond the weights.
                var surplusKib = MemoryProbe.FactorSurplusBytes(new Models.EncoderShape(d.Layers)) / 1024.0;
                Verdict(md, "(VectorFit − LoRA r=1) training peak ÷ the factor surplus (.NET)", (vm.TrainPeakKib - lm.TrainPeakKib) / surplusKib, 1.20);
            }

            md.AppendLine();
        }
    }

    private static void Verdict(StringBuilder md, string what, double? ratio, double limit)
    {
        if (TargetVerdict.AtMost(what, ratio, limit) is { } line)
        {
            md.AppendLine(line);
        }
    }

    private static double Min(Dictionary<string, List<double>> map, string name)
        => map.TryGetValue(name, out var v) && v.Count > 0 ? v.Min() : double.NaN;

    private static double Paired(DepthResults d, string name)
    {
        if (!d.DotnetSteps.TryGetValue(name, out var net) || !d.PythonSteps.TryGetValue(name, out var py) || net.Count != py.Count)
        {
            return double.NaN;
        }

        return ModelStepResults.Median(net.Zip(py, (a, b) => a / b).ToList());
    }

    private static double Med(Dictionary<string, List<double>> map, string name)
        => map.TryGetValue(name, out var v) ? ModelStepResults.Median(v) : double.NaN;

    private static string S(double? seconds) => seconds is null || double.IsNaN(seconds.Value) ? "–" : seconds.Value.ToString("0.000", Invariant);

    private static string R(double? ratio) => ratio is null || double.IsNaN(ratio.Value) || double.IsInfinity(ratio.Value) ? "–" : ratio.Value.ToString("0.00", Invariant);

    private static string Mib(double kib) => kib < 0 || double.IsNaN(kib) ? "–" : (kib / 1024).ToString("N0", Invariant);
}
