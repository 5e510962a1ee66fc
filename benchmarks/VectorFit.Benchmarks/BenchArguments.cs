using VectorFit.Benchmarks.ModelLevel;

namespace VectorFit.Benchmarks;

/// <summary>What <c>./build.sh bench [args]</c> runs (see <see cref="BenchArguments.Route"/>).</summary>
public enum BenchVerb
{
    /// <summary>The model-level comparison (<see cref="BenchCommand.ModelStep"/> holds its options).</summary>
    ModelStep,

    /// <summary>The layer-cost probe.</summary>
    LayerCost,

    /// <summary>Many adapters on one base: routed (mixed) batches against one adapter and a per-adapter loop.</summary>
    MixedAdapters,

    /// <summary>A peak-memory child process of the model-level run.</summary>
    ModelMem,

    /// <summary>The peak memory and time of <c>ModelSurgery.Apply</c> alone, in a process of its own.</summary>
    SetupMem,

    /// <summary>What U and V in bfloat16/float16 do to W₀ and ΔW, per layer role (<see cref="FactorDTypeProbe"/>).</summary>
    FactorDType,

    /// <summary>The BenchmarkDotNet layer suite, with <see cref="BenchCommand.Arguments"/> as its options.</summary>
    Layers,

    /// <summary>The usage text.</summary>
    Help,
}

/// <summary>A routed command line: the verb, the arguments left for it, and the model-step options when it is <see cref="BenchVerb.ModelStep"/>.</summary>
/// <param name="Verb">What to run.</param>
/// <param name="Arguments">The arguments the verb gets.</param>
/// <param name="ModelStep">The parsed options of <see cref="BenchVerb.ModelStep"/>, else null.</param>
public sealed record BenchCommand(BenchVerb Verb, IReadOnlyList<string> Arguments, ModelStepOptions? ModelStep = null);

/// <summary>The benchmark runner's command line.</summary>
public static class BenchArguments
{
    /// <summary>The quick look the runner takes without a verb: 4 layers, 3 steps (about 5 minutes on 2 quiet cores).</summary>
    public static ModelStepOptions Quick { get; } = new() { Layers = new[] { 4 }, Steps = 3 };

    /// <summary>
    /// No arguments, or model-step options without the verb (<c>--no-python</c>, <c>--steps 2</c>, ...): the quick
    /// model-step with those options; <c>model-step [options]</c>: the full one (4 and 12 layers); <c>layers</c> and
    /// any other option: BenchmarkDotNet's layer suite.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown command, an unknown model-step option or a bad value (one line to print, exit 2).</exception>
    public static BenchCommand Route(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args.Count == 0)
        {
            return new BenchCommand(BenchVerb.ModelStep, args, Quick);
        }

        var rest = args.Skip(1).ToArray();
        switch (args[0])
        {
            case "model-step":
                return new BenchCommand(BenchVerb.ModelStep, rest, ModelStepOptions.Parse(rest));
            case "layer-cost":
                return new BenchCommand(BenchVerb.LayerCost, rest);
            case "mixed-adapters":
                return new BenchCommand(BenchVerb.MixedAdapters, rest);
            case "model-mem":
                return new BenchCommand(BenchVerb.ModelMem, rest);
            case "setup-mem":
                return new BenchCommand(BenchVerb.SetupMem, rest);
            case "factor-dtype":
                return new BenchCommand(BenchVerb.FactorDType, rest);
            case "layers":
                return new BenchCommand(BenchVerb.Layers, rest.Length == 0 ? new[] { "--filter", "*" } : rest);
            case "help" or "--help" or "-h":
                return new BenchCommand(BenchVerb.Help, rest);
        }

        if (ModelStepOptions.IsOption(args[0]))
        {
            return new BenchCommand(BenchVerb.ModelStep, args, ModelStepOptions.Parse(args, Quick));
        }

        if (args[0].StartsWith('-'))
        {
            return new BenchCommand(BenchVerb.Layers, args);
        }

        throw new ArgumentException($"Unknown command '{args[0]}' (./build.sh bench --help lists the commands).");
    }
}
