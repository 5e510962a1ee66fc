using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TorchSharp;
using VectorFit.Benchmarks.Models;
using static TorchSharp.torch;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>Peak resident memory of one method's training, measured in a process of its own.</summary>
/// <param name="Method">The method.</param>
/// <param name="Layers">Encoder depth.</param>
/// <param name="StartKib">RSS with the runtime and libtorch loaded, before the model.</param>
/// <param name="BuiltKib">RSS after building and adapting the model.</param>
/// <param name="BuiltAfterGcKib">RSS after a full garbage collection (frees the replaced layers' weights, which surgery does not dispose).</param>
/// <param name="SetupPeakKib">Peak RSS up to then (the SVDs' float64 temporaries included).</param>
/// <param name="TrainPeakKib">Peak RSS during the training steps (the peak is reset after setup).</param>
/// <param name="State">Trainable state.</param>
public sealed record MemoryResult(
    string Method, int Layers, long StartKib, long BuiltKib, long BuiltAfterGcKib, long SetupPeakKib, long TrainPeakKib, TrainableState State);

/// <summary>The <c>model-mem</c> verb (child side) and the launcher that runs it once per method (parent side).</summary>
public static class MemoryProbe
{
    /// <summary>The child: builds one method's model, trains a few steps, prints a <see cref="MemoryResult"/> as JSON.</summary>
    public static int RunChild(IReadOnlyList<string> args)
    {
        var method = Enum.Parse<TrainingMethod>(Arg(args, "--method"), ignoreCase: true);
        var layers = int.Parse(Arg(args, "--layers"), CultureInfo.InvariantCulture);
        var steps = int.Parse(Arg(args, "--steps"), CultureInfo.InvariantCulture);
        torch.set_num_threads(int.Parse(Arg(args, "--threads"), CultureInfo.InvariantCulture));

        using (var warm = torch.zeros(1))
        {
            // Loads libtorch before the first reading, as importing torch does on the Python side.
        }

        var start = ProcessMemory.ResidentKib();
        var (input, labels) = ModelStepHarness.Batch(new EncoderShape(layers));
        using var run = TrainingRun.Create(method, new EncoderShape(layers));
        var built = ProcessMemory.ResidentKib();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var builtAfterGc = ProcessMemory.ResidentKib();
        var setupPeak = ProcessMemory.PeakKib();
        var reset = ProcessMemory.ResetPeak();
        for (var i = 0; i < steps; i++)
        {
            run.Step(input, labels);
        }

        var trainPeak = reset ? ProcessMemory.PeakKib() : -1;
        var result = new MemoryResult(method.ToString(), layers, start, built, builtAfterGc, setupPeak, trainPeak, run.State());
        Console.WriteLine(JsonSerializer.Serialize(result));
        input.Dispose();
        labels.Dispose();
        return 0;
    }

    /// <summary>The parent: runs <see cref="RunChild"/> in a fresh process of this program.</summary>
    public static MemoryResult Measure(TrainingMethod method, int layers, int steps, int threads)
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell this program's path to relaunch it.");
        var info = new ProcessStartInfo(path) { RedirectStandardOutput = true, UseShellExecute = false };
        if (string.Equals(Path.GetFileNameWithoutExtension(path), "dotnet", StringComparison.Ordinal))
        {
            info.ArgumentList.Add(typeof(MemoryProbe).Assembly.Location);
        }

        foreach (var arg in new[] { "model-mem", "--method", method.ToString(), "--layers", layers.ToString(CultureInfo.InvariantCulture),
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
