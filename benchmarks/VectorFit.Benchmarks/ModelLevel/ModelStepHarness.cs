using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using GlueFineTune.Cli;
using TorchSharp;
using VectorFit.Benchmarks.Models;
using static TorchSharp.torch;
using VectorFit.Surgery;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>
/// The model-level comparison: one training step of a BERT-base-shaped encoder (8 × 128 tokens) for full
/// fine-tuning, LoRA r=1 and VectorFit with AVF, in .NET and in PyTorch; VectorFit's setup; base vs merged
/// inference; peak memory per method in a process of its own; trainable-state bytes.
/// </summary>
/// <remarks>
/// Methods are timed interleaved (one step of each in turn, medians over the steps), and each .NET step runs next to
/// the same step in PyTorch (a <c>step.py --serve</c> process holding the same models), so that a change in the
/// machine's load hits every figure alike.
/// </remarks>
public static class ModelStepHarness
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>The fixed batch: hidden states <c>(8, 128, d)</c> and labels <c>(8)</c>.</summary>
    public static (Tensor Input, Tensor Labels) Batch(EncoderShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        torch.manual_seed(1);
        var input = torch.randn(8, 128, shape.Model);
        var labels = torch.randint(0, shape.Classes, new long[] { 8 });
        return (input, labels);
    }

    /// <summary>Runs the comparison, prints the tables and writes JSON and Markdown to the output folder.</summary>
    public static int Run(ModelStepOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        torch.set_num_threads(options.Threads);
        var results = new ModelStepResults { Options = options };
        DescribeMachine(results, options);
        foreach (var (key, value) in results.Environment)
        {
            Log($"{key}: {value}");
        }

        PyTorchPeer? peer = null;
        if (options.Python)
        {
            peer = PyTorchPeer.Find(options.PythonPath, out var why);
            if (peer is null)
            {
                Log($"PyTorch peer skipped: {why}");
            }
            else
            {
                results.Environment["pytorch"] = $"{peer.Python} {peer.Script}";
            }
        }

        if (options.Diagnostics)
        {
            results.Environment["per-op overhead, .NET (1-element add, µs)"] = OpOverheadMicroseconds().ToString("0.0", Invariant);
            if (peer is not null)
            {
                var py = peer.RunJson(new[] { "--op-overhead", "--threads", options.Threads.ToString(Invariant) });
                results.Environment["per-op overhead, PyTorch (1-element add, µs)"] = py.GetProperty("op_overhead_us").GetDouble().ToString("0.0", Invariant);
            }
        }

        foreach (var layers in options.Layers)
        {
            var depth = new DepthResults { Layers = layers };
            results.Depths.Add(depth);
            MeasureDepth(depth, options, peer, results);
        }

        var report = ModelStepReport.Markdown(results);
        Console.WriteLine();
        Console.WriteLine(report);
        Directory.CreateDirectory(options.OutputDirectory);
        var stamp = results.StartedUtc.ToString("yyyyMMdd-HHmmss", Invariant);
        var json = Path.Combine(options.OutputDirectory, $"model-step-{stamp}.json");
        var markdown = Path.Combine(options.OutputDirectory, $"model-step-{stamp}.md");
        File.WriteAllText(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(markdown, report);
        Log($"results: {Path.GetFullPath(markdown)} and {Path.GetFullPath(json)}");
        return 0;
    }

    private static void MeasureDepth(DepthResults depth, ModelStepOptions options, PyTorchPeer? peer, ModelStepResults results)
    {
        var shape = new EncoderShape(depth.Layers);
        var (input, labels) = Batch(shape);
        var runs = new List<TrainingRun>();
        try
        {
            Log($"{depth.Layers} layers: building the models (VectorFit's surgery takes the SVDs)");
            foreach (var method in Enum.GetValues<TrainingMethod>().Where(m => m != TrainingMethod.Svft))
            {
                // SVFT is in the memory table only (its step is timed by the sample, benchmarks/sample-runs.sh).
                var run = TrainingRun.Create(method, shape);
                runs.Add(run);
                depth.DotnetState[Name(method)] = run.State();
                if (method == TrainingMethod.VectorFit)
                {
                    depth.SetupSeconds = run.SetupTime.TotalSeconds;
                    Log($"  VectorFit setup (ModelSurgery.Apply, {6 * depth.Layers} SVDs): {run.SetupTime.TotalSeconds:F2} s");
                }
            }

            // The replaced Linear layers are garbage now; collect them before timing anything.
            GC.Collect();
            GC.WaitForPendingFinalizers();

            var steps = StepActions(runs, options).ToList();
            results.LoadReadings.Add($"{depth.Layers} layers, training steps: {LoadAverage()}");
            StepServer? server = null;
            try
            {
                if (peer is not null)
                {
                    Log($"{depth.Layers} layers: starting the PyTorch step server (builds the same models)");
                    server = peer.StartServer(depth.Layers, PythonMethods, options.Threads);
                    foreach (var method in server.Ready.GetProperty("state").EnumerateObject())
                    {
                        depth.PythonState[method.Name] = method.Value.Clone();
                    }
                }

                TimeSteps(depth, steps, server, input, labels, options);
            }
            finally
            {
                server?.Dispose();
            }

            if (peer is not null)
            {
                results.LoadReadings.Add($"{depth.Layers} layers, PyTorch SVD and inference: {LoadAverage()}");
                PythonSvdAndInference(depth, peer, options);
            }

            if (options.Inference)
            {
                results.LoadReadings.Add($"{depth.Layers} layers, inference: {LoadAverage()}");
                Inference(depth, shape, runs.Single(r => r.Method == TrainingMethod.VectorFit), input, options);
            }
        }
        finally
        {
            foreach (var run in runs)
            {
                run.Dispose();
            }

            input.Dispose();
            labels.Dispose();
        }

        if (options.Diagnostics)
        {
            results.LoadReadings.Add($"{depth.Layers} layers, SVD diagnostics: {LoadAverage()}");
            SvdDiagnostics(depth, shape, options);
        }

        if (options.Memory)
        {
            results.LoadReadings.Add($"{depth.Layers} layers, memory: {LoadAverage()}");
            foreach (var memoryCase in MemoryProbe.TrainingCases.Concat(MemoryProbe.InferenceCases))
            {
                Log($"  peak memory, .NET {memoryCase}, {depth.Layers} layers (own process)");
                depth.DotnetMemory[memoryCase] = MemoryProbe.Measure(memoryCase, depth.Layers, options.MemorySteps, options.Threads, options.Malloc);
            }

            var factorSurplus = MemoryProbe.FactorSurplusBytes(shape) / (1024.0 * 1024.0);
            if (depth.DotnetMemory.TryGetValue("vectorfit", out var vfMemory) && depth.DotnetMemory.TryGetValue("lora", out var loraMemory))
            {
                Console.WriteLine(string.Create(Invariant,
                    $"memory: vectorfit ÷ lora = {(double)vfMemory.TrainPeakKib / loraMemory.TrainPeakKib:0.00}; vectorfit − lora = {(vfMemory.TrainPeakKib - loraMemory.TrainPeakKib) / 1024.0:0} MiB; factor surplus = {factorSurplus:0} MiB (malloc {options.Malloc})"));
            }

            foreach (var method in Enum.GetValues<TrainingMethod>().Where(m => m != TrainingMethod.Svft))
            {
                if (peer is not null)
                {
                    Log($"  peak memory, PyTorch {Name(method)}, {depth.Layers} layers (own process)");
                    depth.PythonMemory[Name(method)] = peer.RunJson(new[]
                    {
                        "--memory", Name(method), "--layers", depth.Layers.ToString(Invariant),
                        "--steps", options.MemorySteps.ToString(Invariant), "--threads", options.Threads.ToString(Invariant),
                    }).GetProperty("memory");
                }
            }
        }
    }

    private static IEnumerable<(string Name, Action Prepare, TrainingRun Run)> StepActions(List<TrainingRun> runs, ModelStepOptions options)
    {
        foreach (var run in runs)
        {
            if (run.Method != TrainingMethod.VectorFit)
            {
                yield return (Name(run.Method), () => { }, run);
                continue;
            }

            if (!options.Diagnostics)
            {
                yield return ("vectorfit", () => { }, run);
                continue;
            }

            if (!TrainingRun.CanForcePath)
            {
                Log("  diagnostics: VectorFitLinear has no PathOverride switch here; forced paths skipped");
                yield return ("vectorfit", () => { }, run);
                continue;
            }

            // The same model and optimizer, one step on each path in turn (AVF keeps counting).
            yield return ("vectorfit", () => run.ForcePath("Auto"), run);
            yield return ("vectorfit-factored", () => run.ForcePath("Factored"), run);
            yield return ("vectorfit-materialized", () => run.ForcePath("Materialized"), run);
        }
    }

    /// <summary>The methods the PyTorch peer runs (its vectorfit is the factored forward).</summary>
    private static readonly string[] PythonMethods = { "full", "lora", "vectorfit", "vectorfit-materialized" };

    /// <summary>
    /// Warm-up, then <see cref="ModelStepOptions.Steps"/> rounds of one step per method, each .NET step next to the same
    /// method's PyTorch step (which goes first alternates), with a short pause before each so the other process's idle
    /// BLAS threads have stopped spinning.
    /// </summary>
    private static void TimeSteps(
        DepthResults depth, List<(string Name, Action Prepare, TrainingRun Run)> steps, StepServer? server, Tensor input, Tensor labels, ModelStepOptions options)
    {
        var names = steps.Select(s => s.Name).Concat(server is null ? Array.Empty<string>() : PythonMethods).Distinct().ToList();
        Log($"{depth.Layers} layers: {options.Warmup} warm-up and {options.Steps} timed steps of {string.Join(", ", names)} (.NET{(server is null ? string.Empty : " and PyTorch alternating")})");
        foreach (var name in names)
        {
            for (var i = 0; i < options.Warmup; i++)
            {
                DotnetStep(name);
                PythonStep(name);
            }
        }

        for (var i = 0; i < options.Steps; i++)
        {
            var line = new List<string>();
            foreach (var name in names)
            {
                double? net, py;
                if (i % 2 == 0)
                {
                    net = Paused(() => DotnetStep(name));
                    py = Paused(() => PythonStep(name));
                }
                else
                {
                    py = Paused(() => PythonStep(name));
                    net = Paused(() => DotnetStep(name));
                }

                if (net is { } n)
                {
                    Samples(depth.DotnetSteps, name).Add(n);
                }

                if (py is { } p)
                {
                    Samples(depth.PythonSteps, name).Add(p);
                }

                line.Add($"{name} {(net is null ? "-" : net.Value.ToString("F3", Invariant))}/{(py is null ? "-" : py.Value.ToString("F3", Invariant))}s");
            }

            Log($"  step {i + 1}/{options.Steps} (.NET/PyTorch): {string.Join(", ", line)}");
        }

        foreach (var (_, prepare, _) in steps.Where(s => s.Name == "vectorfit"))
        {
            prepare();
        }

        double? DotnetStep(string name)
        {
            var match = steps.FirstOrDefault(s => s.Name == name);
            if (match.Run is null)
            {
                return null;
            }

            match.Prepare();
            var clock = Stopwatch.StartNew();
            match.Run.Step(input, labels);
            return clock.Elapsed.TotalSeconds;
        }

        double? PythonStep(string name) => server is not null && PythonMethods.Contains(name) ? server.Step(name) : null;

        static double? Paused(Func<double?> step)
        {
            Thread.Sleep(200);
            return step();
        }
    }

    private static void PythonSvdAndInference(DepthResults depth, PyTorchPeer peer, ModelStepOptions options)
    {
        Log($"{depth.Layers} layers: PyTorch sequential SVD{(options.Inference ? " and inference" : string.Empty)}");
        var args = new List<string>
        {
            "--layers", depth.Layers.ToString(Invariant), "--no-steps", "--svd", "--threads", options.Threads.ToString(Invariant),
        };
        if (options.Inference)
        {
            args.AddRange(new[] { "--inference", "--inference-runs", options.InferenceRuns.ToString(Invariant) });
        }

        var entry = peer.RunJson(args).GetProperty("layers").GetProperty(depth.Layers.ToString(Invariant));
        if (entry.TryGetProperty("svd", out var svd))
        {
            depth.PythonSvdFloat32 = svd.GetProperty("float32_s").GetDouble();
            depth.PythonSvdFloat64 = svd.GetProperty("float64_s").GetDouble();
        }

        if (entry.TryGetProperty("inference", out var inference))
        {
            foreach (var model in inference.EnumerateObject())
            {
                Samples(depth.PythonInference, model.Name).AddRange(model.Value.GetProperty("samples_s").EnumerateArray().Select(e => e.GetDouble()));
            }
        }
    }

    private static void Inference(DepthResults depth, EncoderShape shape, TrainingRun vectorFit, Tensor input, ModelStepOptions options)
    {
        Log($"{depth.Layers} layers: inference, base vs VectorFit unmerged, then base vs merged");
        using var baseModel = TrainingRun.BuildBase(shape);
        baseModel.eval();
        vectorFit.Model.eval();
        using (torch.no_grad())
        {
            using var assumed = new FactorsAssumedUnchanged(vectorFit.Model);
            Compare(depth, input, options, ("base", baseModel), ("vectorfit-unmerged", vectorFit.Model), ("vectorfit-unmerged-assumed", assumed));
            ModelSurgery.MergeAndUnload(vectorFit.Model);
            Compare(depth, input, options, ("base-vs-merged", baseModel), ("merged", vectorFit.Model));
        }

        vectorFit.Model.train();
    }

    /// <summary>The unmerged model inside <see cref="VectorFitLinear.AssumeFactorsUnchanged"/> (σ checked, U and V trusted).</summary>
    private sealed class FactorsAssumedUnchanged(nn.Module<Tensor, Tensor> model) : nn.Module<Tensor, Tensor>("factors-assumed-unchanged")
    {
        public override Tensor forward(Tensor input)
        {
            using var trust = VectorFitLinear.AssumeFactorsUnchanged();
            return model.forward(input);
        }
    }

    private static void Compare(DepthResults depth, Tensor input, ModelStepOptions options, params (string Name, nn.Module<Tensor, Tensor> Model)[] models)
    {
        foreach (var (_, model) in models)
        {
            using var scope = torch.NewDisposeScope();
            model.forward(input);
        }

        var clock = new Stopwatch();
        for (var i = 0; i < options.InferenceRuns; i++)
        {
            foreach (var (name, model) in models)
            {
                using var scope = torch.NewDisposeScope();
                clock.Restart();
                model.forward(input);
                clock.Stop();
                Samples(depth.DotnetInference, name).Add(clock.Elapsed.TotalSeconds);
            }
        }
    }

    private static void SvdDiagnostics(DepthResults depth, EncoderShape shape, ModelStepOptions options)
    {
        Log($"{depth.Layers} layers: SVD diagnostics (sequential vs 2 threads)");
        using var model = TrainingRun.BuildBase(shape);
        var weights = new List<Tensor>();
        using (torch.no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
            {
                if (name.EndsWith(".weight", StringComparison.Ordinal) && !name.StartsWith("head", StringComparison.Ordinal) && parameter.dim() == 2)
                {
                    weights.Add(parameter.detach());
                }
            }
        }

        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.Float64 })
        {
            var converted = weights.Select(w => w.to(dtype).DetachFromDisposeScope()).ToList();
            Svd(converted[0]);
            var clock = Stopwatch.StartNew();
            foreach (var w in converted)
            {
                Svd(w);
            }

            depth.DotnetSvd[$"sequential-{dtype}".ToLowerInvariant()] = clock.Elapsed.TotalSeconds;
            clock.Restart();
            Parallel.ForEach(converted, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(2, options.Threads) }, Svd);
            depth.DotnetSvd[$"parallel{Math.Max(2, options.Threads)}-{dtype}".ToLowerInvariant()] = clock.Elapsed.TotalSeconds;
            foreach (var w in converted)
            {
                w.Dispose();
            }
        }

        // Setup through the SVD cache: cold (computes and writes the file), then warm (reads it), each on a fresh base model.
        var cachePath = Path.Combine(Path.GetTempPath(), $"vectorfit-bench-svd-{Environment.ProcessId}.safetensors");
        try
        {
            foreach (var phase in new[] { "cold", "warm" })
            {
                using var fresh = TrainingRun.BuildBase(shape);
                var clock = Stopwatch.StartNew();
                ModelSurgery.ApplyWithSvdCache(fresh, TrainingRun.SurgeryConfig, cachePath);
                depth.DotnetSvd[$"surgery-cache-{phase}"] = clock.Elapsed.TotalSeconds;
                Log($"  surgery with the SVD cache, {phase}: {clock.Elapsed.TotalSeconds:F2} s");
            }
        }
        finally
        {
            File.Delete(cachePath);
        }

        static void Svd(Tensor w)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            torch.linalg.svd(w, fullMatrices: false);
        }
    }

    /// <summary>Median over 5 batches of the time per call of a 1-element <c>add</c>: TorchSharp's fixed cost per operator.</summary>
    private static double OpOverheadMicroseconds()
    {
        using var one = torch.ones(1);
        var batches = new List<double>();
        for (var b = 0; b < 6; b++)
        {
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < 20_000; i++)
            {
                using var sum = one.add(one);
            }

            batches.Add(clock.Elapsed.TotalMilliseconds * 1000 / 20_000);
        }

        return ModelStepResults.Median(batches.Skip(1).ToList());
    }

    private static void DescribeMachine(ModelStepResults results, ModelStepOptions options)
    {
        var env = results.Environment;
        env["cpu"] = ReadFirst("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        env["cores"] = Environment.ProcessorCount.ToString(Invariant);
        env["memory"] = ReadFirst("/proc/meminfo", "MemTotal") ?? "?";
        env["os"] = RuntimeInformation.OSDescription;
        env[".NET"] = RuntimeInformation.FrameworkDescription;
        env["TorchSharp"] = $"{RuntimeVersions.TorchSharp} (libtorch {RuntimeVersions.LibTorch})";
        env["threads"] = $"{torch.get_num_threads()} intra-op (set to {options.Threads})";
        env["libtorch in process"] = RuntimeVersions.LoadedLibTorchFile() ?? "?";
        env["load at start"] = LoadAverage();
    }

    private static string? ReadFirst(string path, string key)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        return File.ReadLines(path).Where(l => l.StartsWith(key, StringComparison.Ordinal)).Select(l => l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()).FirstOrDefault();
    }

    /// <summary>The 1-, 5- and 15-minute load averages.</summary>
    public static string LoadAverage()
        => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    private static List<double> Samples(Dictionary<string, List<double>> map, string name)
    {
        if (!map.TryGetValue(name, out var list))
        {
            map[name] = list = new List<double>();
        }

        return list;
    }

    /// <summary>The method's name in the results (as step.py spells it).</summary>
    public static string Name(TrainingMethod method) => method switch
    {
        TrainingMethod.Full => "full",
        TrainingMethod.Lora => "lora",
        TrainingMethod.VectorFit => "vectorfit",
        TrainingMethod.Svft => "svft",
        _ => method.ToString().ToLowerInvariant(),
    };

    private static void Log(string message) => Console.Error.WriteLine(message);
}
