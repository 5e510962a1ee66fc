using System.Globalization;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>Options of the <c>model-step</c> verb (the default when the program gets no arguments).</summary>
public sealed record ModelStepOptions
{
    /// <summary>Encoder depths to measure (default 4 and 12).</summary>
    public IReadOnlyList<int> Layers { get; init; } = new[] { 4, 12 };

    /// <summary>Untimed steps per method before timing (default 1).</summary>
    public int Warmup { get; init; } = 1;

    /// <summary>Timed steps per method, interleaved across methods and alternating with PyTorch (default 5).</summary>
    public int Steps { get; init; } = 5;

    /// <summary>Intra-op threads on both sides (default 2: the machine's cores).</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Forward passes per model in the inference comparison (default 5).</summary>
    public int InferenceRuns { get; init; } = 5;

    /// <summary>Training steps in each peak-memory process (default 2).</summary>
    public int MemorySteps { get; init; } = 2;

    /// <summary>Run the PyTorch peer (default true).</summary>
    public bool Python { get; init; } = true;

    /// <summary>Python interpreter with torch; <c>null</c> to look for one (VF_PYTHON, /usr/bin/python3, python3).</summary>
    public string? PythonPath { get; init; }

    /// <summary>Measure peak memory per method, one process each (default true).</summary>
    public bool Memory { get; init; } = true;

    /// <summary>
    /// The C heap of each peak-memory process: <c>live</c> (default) fixes glibc's mmap threshold at 128 KiB, so every tensor
    /// of that size or more is a mapping of its own, returned to the system when freed, and the peak RSS is the peak of live
    /// memory (the arithmetic, reproducible to ~1 MiB); <c>default</c> leaves glibc's dynamic threshold, under which freed
    /// tensors stay in the heap and the peak adds what the allocator kept (±150 MiB from run to run here).
    /// </summary>
    public string Malloc { get; init; } = "live";

    /// <summary>Compare base and merged inference (default true).</summary>
    public bool Inference { get; init; } = true;

    /// <summary>
    /// Also time VectorFit with each evaluation path forced (factored, materialised) and the SVDs computed in parallel:
    /// the figures behind the recommendations on the results page (default false).
    /// </summary>
    public bool Diagnostics { get; init; }

    /// <summary>Where the JSON and Markdown results go (default BenchmarkDotNet.Artifacts/model-step).</summary>
    public string OutputDirectory { get; init; } = Path.Combine("BenchmarkDotNet.Artifacts", "model-step");

    /// <summary>The usage text.</summary>
    public const string Usage = """
        model-step [options]     one training step (forward, backward, AdamW) of a BERT-base-shaped encoder,
                                 full fine-tuning vs LoRA r=1 vs VectorFit+AVF, .NET and PyTorch side by side
          --layers 4,12          encoder depths (default 4,12)
          --warmup N             untimed steps per method (default 1)
          --steps N              timed steps per method; each .NET step runs next to the same
                                 PyTorch step (step.py --serve), methods interleaved (default 5)
          --threads N            intra-op threads, both sides (default 2)
          --inference-runs N     forward passes per model for base vs merged (default 5)
          --memory-steps N       steps in each peak-memory process (default 2)
          --malloc live|default  C heap of the peak-memory processes: live (default: glibc's mmap threshold fixed at
                                 128 KiB, so the peak is live memory) or default (glibc's own, which keeps freed memory)
          --python PATH          interpreter with torch (default: $VF_PYTHON, /usr/bin/python3, python3)
          --no-python --no-memory --no-inference
          --diagnostics          also force VectorFit's factored / materialised path and time parallel SVDs
          --out DIR              results folder (default BenchmarkDotNet.Artifacts/model-step)
        """;

    /// <summary>The options <see cref="Parse"/> knows, so that they can be given without the verb (<c>./build.sh bench --no-python</c>).</summary>
    public static IReadOnlyList<string> OptionNames { get; } = new[]
    {
        "--layers", "--warmup", "--steps", "--threads", "--inference-runs", "--memory-steps", "--malloc", "--python",
        "--no-python", "--no-memory", "--no-inference", "--diagnostics", "--out",
    };

    /// <summary>Whether <paramref name="arg"/> is one of <see cref="OptionNames"/>.</summary>
    public static bool IsOption(string arg) => OptionNames.Contains(arg, StringComparer.Ordinal);

    /// <summary>Parses the verb's arguments (without the verb) over <paramref name="defaults"/> (the full run's when null).</summary>
    /// <exception cref="ArgumentException">An unknown option or a bad value.</exception>
    public static ModelStepOptions Parse(IReadOnlyList<string> args, ModelStepOptions? defaults = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = defaults ?? new ModelStepOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg} needs a value.");
            int Count(int min)
            {
                var text = Value();
                if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < min)
                {
                    throw new ArgumentException($"{arg} must be an integer of at least {min}, got '{text}'.");
                }

                return n;
            }

            options = arg switch
            {
                "--layers" => options with { Layers = Value().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(ParseLayers).ToArray() },
                "--warmup" => options with { Warmup = Count(0) },
                "--steps" => options with { Steps = Count(1) },
                "--threads" => options with { Threads = Count(1) },
                "--inference-runs" => options with { InferenceRuns = Count(1) },
                "--memory-steps" => options with { MemorySteps = Count(1) },
                "--malloc" => options with { Malloc = Value() is "live" or "default" ? args[i] : throw new ArgumentException($"--malloc takes live or default, got '{args[i]}'.") },
                "--python" => options with { PythonPath = Value() },
                "--no-python" => options with { Python = false },
                "--no-memory" => options with { Memory = false },
                "--no-inference" => options with { Inference = false },
                "--diagnostics" => options with { Diagnostics = true },
                "--out" => options with { OutputDirectory = Value() },
                _ => throw new ArgumentException($"Unknown option '{arg}'.{Environment.NewLine}{Usage}"),
            };
        }

        return options;
    }

    private static int ParseLayers(string text)
    {
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) || n < 1)
        {
            throw new ArgumentException($"--layers takes positive integers separated by commas, got '{text}'.");
        }

        return n;
    }
}
