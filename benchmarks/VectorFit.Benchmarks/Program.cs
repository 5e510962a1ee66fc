using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using VectorFit.Benchmarks.Layers;
using VectorFit.Benchmarks.ModelLevel;

namespace VectorFit.Benchmarks;

/// <summary>
/// Entry point of <c>./build.sh bench [args]</c>:
/// no arguments or model-step options alone (4 layers, 3 steps) or <c>model-step [options]</c> (4 and 12 layers) → the model-level comparison with PyTorch;
/// <c>layers [BenchmarkDotNet options]</c> → the layer suite (all of it without a filter);
/// BenchmarkDotNet's own options (<c>--filter</c>, <c>--list</c>, ...) → the layer suite with them.
/// </summary>
public static class Program
{
    private const string Usage = """
        VectorFit benchmarks (./build.sh bench [args])

          (no arguments)          quick model-step: --layers 4 --steps 3
          [model-step options]    the quick model-step with them, e.g. --no-python (no PyTorch reference)
          model-step [options]    model level: .NET vs PyTorch, full / LoRA r=1 / VectorFit+AVF (see below)
          layer-cost [runs] [--all-shapes] [--svd-only]
                                  a VectorFitLinear with σ frozen (with and without AssumeFactorsUnchanged) vs a
                                  frozen Linear (forward + backward), and the float32 vs float64 SVD: cost and
                                  effect on ΔW (markdown on stdout); --all-shapes: 768, 1024, 768→3072 and 4096
                                  at 128 and 4096 tokens instead of 768 and 768→3072 at 128, 1024, 4096
          mixed-adapters [runs] [tokens,...]
                                  many adapters on one base (AdapterBank): a batch of 32 rows routed to K = 8 and 32
                                  adapters vs one adapter vs a per-adapter loop (PEFT's mixed batch), 16 and 128
                                  tokens, 12 BERT-base-shaped layers; rows vs merged, swap time, 8-adapter combination
          setup-mem --layers N | --model DIR [--threads T] [--method vectorfit|svft]
                                  peak RSS and time of ModelSurgery.Apply alone (BERT-base shape or a BERT checkpoint
                                  folder such as the demo's all-MiniLM-L6-v2); run one case per process
          factor-dtype --layers N | --model DIR [--threads T]
                                  U and V in float32, bfloat16, float16 (VectorFitConfig.FactorDType): error of the
                                  composed W₀ and of a trained ΔW per layer role, against bf16(W₀); bytes of U and V
          layers [bdn options]    layer level with BenchmarkDotNet, in-process (every shape unless filtered)
          --filter <glob> ...     layer level with BenchmarkDotNet's own options, e.g.
                                    --filter '*Linear768x768*'            one shape
                                    --filter '*ForwardBackward_*'         one pass, every shape
                                    --anyCategories Inference --filter '*'
                                    --list flat                           what exists
          help                    this text

        """;

    /// <summary>Dispatches on the first argument (<see cref="BenchArguments.Route"/>).</summary>
    public static int Main(string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        try
        {
            var command = BenchArguments.Route(args);
            switch (command.Verb)
            {
                case BenchVerb.ModelStep:
                    return ModelStepHarness.Run(command.ModelStep!);
                case BenchVerb.LayerCost:
                    return LayerCostProbe.Run(command.Arguments.ToArray());
                case BenchVerb.MixedAdapters:
                    return MixedAdaptersProbe.Run(command.Arguments.ToArray());
                case BenchVerb.ModelMem:
                    return MemoryProbe.RunChild(command.Arguments.ToArray());
                case BenchVerb.SetupMem:
                    return SetupMemoryProbe.Run(command.Arguments.ToArray());
                case BenchVerb.FactorDType:
                    return FactorDTypeProbe.Run(command.Arguments.ToArray());
                case BenchVerb.Help:
                    Console.WriteLine(Usage + ModelStepOptions.Usage);
                    return 0;
                default:
                    return RunLayers(command.Arguments.ToArray());
            }
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }

    private static int RunLayers(string[] args)
    {
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, new LayerBenchmarkConfig()).ToList();
        if (summaries.Count == 0 && !args.Any(a => a is "--list" or "--help" or "-h" or "--info" or "--version"))
        {
            // BenchmarkDotNet returns nothing, after its own messages, for an option it does not know or a filter that matches nothing.
            Console.Error.WriteLine("No benchmark ran (see BenchmarkDotNet's message above; ./build.sh bench --help lists the commands).");
            return 2;
        }

        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
