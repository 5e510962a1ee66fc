using System.Xml.Linq;
using GlueFineTune.Cli;
using GlueFineTune.Demo;
using GlueFineTune.Outputs;
using TorchSharp;
using VectorFit;
using VectorFit.Adapters;
using VectorFit.Serialization;

namespace GlueFineTune.Tests.Demo;

[Collection("libtorch")]
public sealed class DemoRunnerTests : IDisposable
{
    // 64 examples, batch 16 → 4 steps per epoch, 2 epochs → 8 steps; AVF at steps 3, 5, 7 (k = 3).
    private static readonly DemoSettings Tiny = new(PretrainingSteps: 20, Epochs: 2, BatchSize: 16, TrainExamples: 64);

    private readonly int threads = torch.get_num_threads();

    public DemoRunnerTests() => torch.set_num_threads(1);

    public void Dispose() => torch.set_num_threads(threads);

    [Fact]
    public void ShortDemoRunWritesEveryOutput()
    {
        using var dir = new TempDirectory();
        var log = new StringWriter();

        var (outcome, outputs) = DemoRunner.Run(new CliOptions { Output = dir.Path }, Tiny, log, TextWriter.Null, false, CancellationToken.None);

        outcome.Completed.Should().BeTrue();
        outcome.Step.Should().Be(8);
        outputs.Should().NotBeNull();
        MetricsLog metrics = MetricsLog.FromJson(File.ReadAllText(outputs!.Metrics));
        metrics.Epochs.Select(e => e.Epoch).Should().Equal(1, 2);
        metrics.Epochs.Should().OnlyContain(e => e.Dev.ContainsKey("accuracy"));
        metrics.Epochs[^1].FrozenVectors.Should().HaveCount(3, "AVF froze k = 3 vectors");
        AdapterInfo info = VectorFitAdapter.ReadInfo(outputs.Weights);
        info.Variant.Should().Be(VectorFitVariant.VectorFit);
        info.ModulesToSave.Should().Equal(["bert.pooler", "classifier"], "the default pooling, pooler, trains the toy checkpoint's pre-trained pooler with the head");
        info.AvfOptions!.K.Should().Be(3);
        File.ReadAllLines(outputs.StrengthMatrix!).Should().HaveCount(13, "a header and 12 vector types");
        File.ReadAllText(outputs.StrengthMatrix!).Should().StartWith("vector,layer_0,layer_1\nsigma_q,");
        XDocument.Parse(File.ReadAllText(outputs.HeatMap!)).Root!.Name.LocalName.Should().Be("svg");
        log.ToString().Should().Contain("[3/3] results").And.Contain("dev accuracy").And.Contain("chance 50");
        log.ToString().Split(Environment.NewLine)[0].Should().Be($"output folder: {Path.GetFullPath(dir.Path)}", "the folder is the first thing the demo says");
    }

    [Fact]
    public void DefaultOutputIsRunsDemoUnderTheWorkingDirectory()
    {
        DemoRunner.DefaultOutput.Should().Be(Path.Combine("runs", "demo"));
        // Relative, so it lands under the working directory (wherever that is, even inside /tmp), not in a fixed /tmp folder.
        Path.IsPathRooted(DemoRunner.DefaultOutput).Should().BeFalse();
        Path.GetFullPath(DemoRunner.DefaultOutput).Should().Be(Path.Combine(Environment.CurrentDirectory, "runs", "demo"));
    }

    [Fact]
    public void InterruptedRunResumesToExactlyTheUninterruptedResult()
    {
        using var straightDir = new TempDirectory();
        using var resumedDir = new TempDirectory();
        DemoRunner.Run(new CliOptions { Output = straightDir.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        using var cancel = new CancellationTokenSource();
        var (first, _) = DemoRunner.Run(new CliOptions { Output = resumedDir.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, cancel.Token,
            afterStep: step =>
            {
                if (step == 4)
                {
                    cancel.Cancel();
                }
            });
        var log = new StringWriter();
        var (second, _) = DemoRunner.Run(new CliOptions { Output = resumedDir.Path, Resume = true }, Tiny, log, TextWriter.Null, false, CancellationToken.None);

        first.Completed.Should().BeFalse();
        first.Step.Should().Be(4);
        second.Completed.Should().BeTrue();
        log.ToString().Should().Contain("resumed from").And.Contain("at step 4");
        AssertSameAdapters(straightDir.Path, resumedDir.Path);
        File.ReadAllText(Path.Combine(resumedDir.Path, "avf_vectors.csv")).Should().Be(File.ReadAllText(Path.Combine(straightDir.Path, "avf_vectors.csv")));
    }

    [Theory]
    [InlineData(6)]
    [InlineData(4)] // the last step of epoch 1: the crash comes before its evaluation
    public void CrashLeavesACheckpointThatResumesExactly(long crashStep)
    {
        using var straightDir = new TempDirectory();
        using var crashedDir = new TempDirectory();
        DemoRunner.Run(new CliOptions { Output = straightDir.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        var crash = () => DemoRunner.Run(new CliOptions { Output = crashedDir.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None,
            afterStep: step => _ = step == crashStep ? throw new InvalidOperationException("simulated crash") : 0);
        crash.Should().Throw<InvalidOperationException>().WithMessage("simulated crash");
        var (resumed, _) = DemoRunner.Run(new CliOptions { Output = crashedDir.Path, Resume = true }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        resumed.Completed.Should().BeTrue();
        AssertSameAdapters(straightDir.Path, crashedDir.Path);
    }

    [Fact]
    public void ResumeWithOtherSettingsIsRefused()
    {
        using var dir = new TempDirectory();
        using var cancel = new CancellationTokenSource();
        DemoRunner.Run(new CliOptions { Output = dir.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, cancel.Token, afterStep: _ => cancel.Cancel());

        var act = () => DemoRunner.Run(new CliOptions { Output = dir.Path, Resume = true, Seed = 43 }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        act.Should().Throw<InvalidOperationException>().WithMessage("*written with other settings*seed=42*seed=43*");
    }

    [Fact]
    public void DemoRefusesAnOutputFolderWithForeignFiles()
    {
        using var dir = new TempDirectory();
        dir.Write("precious.txt", "keep me");

        var act = () => DemoRunner.Run(new CliOptions { Output = dir.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        act.Should().Throw<UsageException>().WithMessage("*precious.txt*");
        File.Exists(Path.Combine(dir.Path, "precious.txt")).Should().BeTrue();
    }

    private static void AssertSameAdapters(string expectedFolder, string actualFolder)
    {
        var expected = SafetensorsReader.Load(Path.Combine(expectedFolder, RunOutputs.AdapterFileName));
        var actual = SafetensorsReader.Load(Path.Combine(actualFolder, RunOutputs.AdapterFileName));
        actual.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (key, tensor) in expected)
        {
            actual[key].allclose(tensor, rtol: 0, atol: 0).Should().BeTrue($"{key} must continue exactly");
        }

        MetricsLog a = MetricsLog.FromJson(File.ReadAllText(Path.Combine(expectedFolder, MetricsLog.FileName)));
        MetricsLog b = MetricsLog.FromJson(File.ReadAllText(Path.Combine(actualFolder, MetricsLog.FileName)));
        b.Epochs.Select(e => (e.Epoch, e.Step, e.TrainLoss, e.Dev["accuracy"])).Should().Equal(a.Epochs.Select(e => (e.Epoch, e.Step, e.TrainLoss, e.Dev["accuracy"])));
    }
}
