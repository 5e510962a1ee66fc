using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace VectorFit.Benchmarks.Layers;

/// <summary>
/// The layer suite's configuration: one short job that runs <b>in this process</b>.
/// </summary>
/// <remarks>
/// BenchmarkDotNet normally generates and builds a project per benchmark, which would lose the build's properties
/// (<c>-p:TorchSharpVersion=...</c>) and the native-library fix of eng/GlibcxxCompat.targets: the in-process
/// toolchain measures the assembly that was built. The job is the default one (<c>AsDefault</c>), so <c>--warmupCount</c>, <c>--iterationCount</c>,
/// <c>--iterationTime</c> on the command line adjust it instead of adding an out-of-process job. Short by design
/// (two cores): 1 warm-up and 3 measured iterations of at least 250 ms.
/// </remarks>
public sealed class LayerBenchmarkConfig : ManualConfig
{
    /// <summary>The configuration.</summary>
    public LayerBenchmarkConfig()
    {
        // The default loggers, exporters, columns, analysers and validators; then the job below.
        Add(DefaultConfig.Instance);
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(1)
            .WithIterationCount(3)
            .WithIterationTime(TimeInterval.FromMilliseconds(250))
            .WithId("InProcessShort")
            .AsDefault());
        WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared, MethodOrderPolicy.Declared));
        WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Value));
        WithOptions(ConfigOptions.DisableLogFile);
    }
}
