using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using VectorFit.Benchmarks.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>Peak and steady resident memory of one case (a method's training, or one way of running inference), measured in a process of its own.</summary>
/// <param name="Method">The case (see <see cref="MemoryProbe.TrainingCases"/> and <see cref="MemoryProbe.InferenceCases"/>).</param>
/// <param name="Layers">Encoder depth.</param>
/// <param name="StartKib">RSS with the runtime and libtorch loaded, before the model.</param>
/// <param name="BuiltKib">RSS after building and adapting the model.</param>
/// <param name="BuiltAfterGcKib">RSS after a full garbage collection and <c>malloc_trim(0)</c> (what set-up left live).</param>
/// <param name="SetupPeakKib">Peak RSS up to then (the SVDs' float64 temporaries included).</param>
/// <param name="TrainPeakKib">Peak RSS during the steps or forwards (the peak is reset after setup and the trim).</param>
/// <param name="State">Trainable state.</param>
/// <param name="SteadyKib">RSS after the steps and a <c>malloc_trim(0)</c>: model, optimizer state and caches, no activations.</param>
/// <param name="HeldComposedWeights">VectorFit layers holding a composed weight after the steps.</param>
/// <param name="FrozenVectors">Vectors AVF froze during the steps.</param>
/// <param name="Malloc"><c>live</c> when the process ran with glibc's mmap threshold fixed (peak = live memory), else <c>default</c>.</param>
public sealed record MemoryResult(
    string Method, int Layers, long StartKib, long BuiltKib, long BuiltAfterGcKib, long SetupPeakKib, long TrainPeakKib, TrainableState State,
    long SteadyKib = -1, int HeldComposedWeights = 0, int FrozenVectors = 0, string Malloc = "default");

/// <summary>The <c>model-mem</c> verb (child side) and the launcher that runs it once per case (parent side).</summary>
public static class MemoryProbe
{
    /// <summary>
    /// Training cases: the methods, VectorFit with <see cref="ComposedWeightMode.Memory"/>, and that with U and V stored in
    /// bfloat16 (<see cref="VectorFitConfig.FactorDType"/>).
    /// </summary>
    public static readonly IReadOnlyList<string> TrainingCases = ["full", "lora", "vectorfit", "vectorfit-memory", "vectorfit-memory-bf16", "svft"];

    /// <summary>Inference cases (no_grad forwards of the 8 × 128 batch): base, VectorFit unmerged in each mode (and Memory with bfloat16 factors), merged.</summary>
    public static readonly IReadOnlyList<string> InferenceCases = ["infer-base", "infer-unmerged", "infer-unmerged-memory", "infer-unmerged-memory-bf16", "infer-merged"];

    /// <summary>
    /// What U and V hold beyond the weights they replace, in bytes (float32): per adapted layer <c>4·(r·(d_in + d_out) − d_in·d_out)</c>.
    /// </summary>
    public static long FactorSurplusBytes(EncoderShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long d = shape.Model, m = shape.Mlp;
        long Surplus(long din, long dout) => (Math.Min(din, dout) * (din + dout)) - (din * dout);
        return 4L * shape.Layers * ((4 * Surplus(d, d)) + Surplus(d, m) + Surplus(m, d));
    }

    /// <summary>The child: builds one case's model, runs a few steps or forwards, prints a <see cref="MemoryResult"/> as JSON.</summary>
    public static int RunChild(IReadOnlyList<string> args)
    {
        var name = Arg(args, "--method").ToLowerInvariant();
        var layers = int.Parse(Arg(args, "--layers"), CultureInfo.InvariantCulture);
        var steps = int.Parse(Arg(args, "--steps"), CultureInfo.InvariantCulture);
        torch.set_num_threads(int.Parse(Arg(args, "--threads"), CultureInfo.InvariantCulture));

        using (var warm = torch.zeros(1))
        {
            // Loads libtorch before the first reading, as importing torch does on the Python side.
        }

        var shape = new EncoderShape(layers);
        var start = ProcessMemory.ResidentKib();
        var (input, labels) = ModelStepHarness.Batch(shape);
        var inference = name.StartsWith("infer-", StringComparison.Ordinal);
        var method = name switch
        {
            "full" => TrainingMethod.Full,
            "lora" => TrainingMethod.Lora,
            "svft" => TrainingMethod.Svft,
            _ => TrainingMethod.VectorFit,
        };

        // infer-base: the base model alone (a TrainingRun would hold an optimizer, whose state inference does not have).
        using var run = name == "infer-base" ? null : TrainingRun.Create(method, shape, factorDType: name.EndsWith("-bf16", StringComparison.Ordinal) ? ScalarType.BFloat16 : null);
        using var baseModel = name == "infer-base" ? TrainingRun.BuildBase(shape) : null;
        nn.Module<Tensor, Tensor> model = run?.Model ?? (nn.Module<Tensor, Tensor>)baseModel!;
        if (name is "vectorfit-memory" or "infer-unmerged-memory" or "vectorfit-memory-bf16" or "infer-unmerged-memory-bf16")
        {
            VectorFitLinear.SetComposedWeightMode(model, ComposedWeightMode.Memory);
        }

        var state = run?.State() ?? new TrainableState(0, 0, 0, 0);  // before a merge disposes σ
        if (name == "infer-merged")
        {
            // MergeAndUnload leaves the adapted layers to the caller (documented): dispose them, as an inference server would.
            var adapted = ModelSurgery.FindAdaptedLayers(model);
            ModelSurgery.MergeAndUnload(model);
            foreach (var (_, layer) in adapted)
            {
                layer.Dispose();
            }
        }

        var built = ProcessMemory.ResidentKib();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        ProcessMemory.TrimNativeHeap();
        var builtAfterGc = ProcessMemory.ResidentKib();
        var setupPeak = ProcessMemory.PeakKib();
        var reset = ProcessMemory.ResetPeak();
        if (inference)
        {
            model.eval();
            using var noGrad = torch.no_grad();
            for (var i = 0; i < steps; i++)
            {
                using var scope = torch.NewDisposeScope();
                model.forward(input);
            }
        }
        else
        {
            for (var i = 0; i < steps; i++)
            {
                run!.Step(input, labels);
            }
        }

        var trainPeak = reset ? ProcessMemory.PeakKib() : -1;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        ProcessMemory.TrimNativeHeap();
        var steady = ProcessMemory.ResidentKib();
        var result = new MemoryResult(
            name, layers, start, built, builtAfterGc, setupPeak, trainPeak, state, steady,
            run?.HeldComposedWeights() ?? 0, run?.Avf?.FrozenSet.Count ?? 0,
            (Environment.GetEnvironmentVariable("GLIBC_TUNABLES") ?? "").Contains(LiveMallocTunable, StringComparison.Ordinal) ? "live" : "default");
        Console.WriteLine(JsonSerializer.Serialize(result));
        input.Dispose();
        labels.Dispose();
        return 0;
    }

    /// <summary>The glibc tunable that fixes the mmap threshold at 128 KiB (<see cref="ModelStepOptions.Malloc"/> <c>live</c>).</summary>
    public const string LiveMallocTunable = "glibc.malloc.mmap_threshold=131072";

    /// <summary>The parent: runs <see cref="RunChild"/> in a fresh process of this program.</summary>
    /// <param name="method">The case.</param>
    /// <param name="layers">Encoder depth.</param>
    /// <param name="steps">Training steps or forwards.</param>
    /// <param name="threads">libtorch threads.</param>
    /// <param name="malloc"><c>live</c>: the child's glibc mmap threshold fixed at 128 KiB (peak = live memory); <c>default</c>: glibc's own.</param>
    public static MemoryResult Measure(string method, int layers, int steps, int threads, string malloc = "live")
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell this program's path to relaunch it.");
        var info = new ProcessStartInfo(path) { RedirectStandardOutput = true, UseShellExecute = false };
        if (malloc == "live")
        {
            // Read by glibc when the process starts: every allocation of 128 KiB or more (every tensor but the smallest) is a
            // mapping of its own, unmapped when freed, so RSS follows live memory instead of what the heap kept.
            var existing = Environment.GetEnvironmentVariable("GLIBC_TUNABLES");
            info.Environment["GLIBC_TUNABLES"] = string.IsNullOrEmpty(existing) ? LiveMallocTunable : existing + ":" + LiveMallocTunable;
        }

        if (string.Equals(Path.GetFileNameWithoutExtension(path), "dotnet", StringComparison.Ordinal))
        {
            info.ArgumentList.Add(typeof(MemoryProbe).Assembly.Location);
        }

        foreach (var arg in new[] { "model-mem", "--method", method, "--layers", layers.ToString(CultureInfo.InvariantCulture),
                     "--steps", steps.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture) })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (process.ExitCode != 0 || line is null)
        {
            throw new InvalidOperationException($"The memory probe for {method} ({layers} layers) exited with {process.ExitCode}: {stdout}");
        }

        return JsonSerializer.Deserialize<MemoryResult>(line)!;
    }

    private static string Arg(IReadOnlyList<string> args, string name)
    {
        for (var i = 0; i + 1 < args.Count; i++)
        {
            if (args[i] == name)
            {
                return args[i + 1];
            }
        }

        throw new ArgumentException($"model-mem needs {name}.");
    }
}
