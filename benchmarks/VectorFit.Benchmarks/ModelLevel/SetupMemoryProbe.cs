using System.Diagnostics;
using System.Globalization;
using VectorFit.Benchmarks.Models;
using VectorFit.Transformers.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>
/// The <c>setup-mem</c> verb: the peak resident memory and the time of <see cref="ModelSurgery.Apply"/> alone, in this process
/// (run it once per case, as a process of its own): <c>setup-mem --layers 12</c> (the BERT-base shape of <c>model-mem</c>) or
/// <c>setup-mem --model DIR</c> (a BERT checkpoint folder, e.g. the demo's all-MiniLM-L6-v2), with <c>--threads N</c> (libtorch's
/// threads while the model is built and adapted) and <c>--method vectorfit|svft</c>.
/// </summary>
public static class SetupMemoryProbe
{
    /// <summary>Runs one case and prints one line of figures (MiB): runtime, base model, set-up peak, after, after a trim.</summary>
    /// <param name="args">The verb's arguments.</param>
    /// <returns>0.</returns>
    /// <exception cref="ArgumentException">Neither or both of <c>--layers</c> and <c>--model</c>, or an unknown method.</exception>
    public static int Run(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        ProbeArguments.RequireOneModel(args, "setup-mem", "the BERT-base shape");
        var layers = ProbeArguments.Option(args, "--layers");
        var folder = ProbeArguments.Option(args, "--model");

        var threads = int.Parse(ProbeArguments.Option(args, "--threads") ?? "2", CultureInfo.InvariantCulture);
        var method = (ProbeArguments.Option(args, "--method") ?? "vectorfit") switch
        {
            "vectorfit" => (AdapterMethod)new VectorFitMethod(),
            "svft" => new SvftMethod(),
            var other => throw new ArgumentException($"setup-mem --method {other}: use vectorfit or svft."),
        };
        torch.set_num_threads(threads);
        using (torch.zeros(1))
        {
            // Loads libtorch before the first reading.
        }

        var runtime = ProcessMemory.ResidentKib();
        nn.Module model = ProbeArguments.BaseModel(args);
        var baseBytes = model.parameters().Sum(p => p.numel() * p.element_size());
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ProcessMemory.TrimNativeHeap();
        var loaded = ProcessMemory.ResidentKib();
        ProcessMemory.ResetPeak();
        var clock = Stopwatch.StartNew();
        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, Method = method });
        clock.Stop();
        var peak = ProcessMemory.PeakKib();
        var after = ProcessMemory.ResidentKib();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ProcessMemory.TrimNativeHeap();
        var trimmed = ProcessMemory.ResidentKib();
        var factorBytes = report.Layers.Sum(l => l.Rank * (l.InFeatures + l.OutFeatures) * 4L);
        static string Mib(long kib) => (kib / 1024.0).ToString("F0", CultureInfo.InvariantCulture);
        static string MibB(long bytes) => (bytes / 1048576.0).ToString("F0", CultureInfo.InvariantCulture);
        var aboveLoaded = peak - loaded;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"setup-mem {(folder ?? $"bert-base shape, {layers} layers")}, {method}, threads {threads}, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}: " +
            $"runtime {Mib(runtime)} MiB, base model {MibB(baseBytes)} MiB (RSS loaded {Mib(loaded)}), factors {MibB(factorBytes)} MiB ({report.Layers.Count} layers); " +
            $"Apply {clock.Elapsed.TotalSeconds:F2} s, peak {Mib(peak)} MiB (peak − runtime {Mib(peak - runtime)} = {(double)(peak - runtime) * 1024 / baseBytes:F2} × base; " +
            $"peak − loaded {Mib(aboveLoaded)}), after {Mib(after)}, after trim {Mib(trimmed)}"));
        model.Dispose();
        return 0;
    }

}
