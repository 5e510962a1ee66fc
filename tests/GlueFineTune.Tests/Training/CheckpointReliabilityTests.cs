using System.Text;
using GlueFineTune.Cli;
using GlueFineTune.Demo;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using TorchSharp;

namespace GlueFineTune.Tests.Training;

/// <summary>
/// <c>--resume</c> on damaged checkpoints: every file is verified before anything is restored, the error names the damaged
/// file, and the checkpoint is left as it was; a kill while <c>metrics.json</c> is written cannot block a resume; stale
/// temporary files are removed; the learning rate may change on resume (the divergence advice).
/// </summary>
[Collection("libtorch")]
public sealed class CheckpointReliabilityTests : IDisposable
{
    // 64 examples, batch 16 → 4 steps per epoch, 2 epochs → 8 steps (the demo tests' tiny run).
    private static readonly DemoSettings Tiny = new(PretrainingSteps: 20, Epochs: 2, BatchSize: 16, TrainExamples: 64);

    private readonly int threads = torch.get_num_threads();

    public CheckpointReliabilityTests() => torch.set_num_threads(1);

    public void Dispose() => torch.set_num_threads(threads);

    /// <summary>Each damage, applied to a copy of one interrupted run (stopped at step 6, mid epoch 2), with the file the error must name.</summary>
    public static TheoryData<string, string> Damages => new()
    {
        { "flip a byte of optimizer.bin", "optimizer.bin" },
        { "truncate optimizer.bin", "optimizer.bin" },
        { "flip a byte of avf.safetensors", "avf.safetensors" },
        { "flip a byte of adapter.safetensors", "adapter.safetensors" },
        { "step 100000 in state.json", "state.json" },
        { "step -1 in state.json", "state.json" },
        { "truncate the checkpoint's metrics.json", "metrics.json" },
        { "delete avf.safetensors", "avf.safetensors" },
        { "step 100000 in state.json, manifest updated to match", "state.json" },
        { "step -1 in state.json, manifest updated to match", "state.json" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void DamagedCheckpointIsRejectedBeforeAnythingIsRestored_NamingTheFile(string damage, string file)
    {
        using var dir = new TempDirectory();
        Interrupt(dir.Path, atStep: 6);
        string checkpoint = Path.Combine(dir.Path, "checkpoint");
        Damage(checkpoint, damage);
        var before = Snapshot(dir.Path);

        var resume = () => DemoRunner.Run(new CliOptions { Output = dir.Path, Resume = true }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        var error = resume.Should().Throw<Exception>().Which;
        Program.IsUserError(error).Should().BeTrue($"{damage}: {error.GetType().Name} must be reported as 'error: …', not crash the sample");
        error.Should().BeOfType<InvalidDataException>(damage);
        error.Message.Should().Contain(Path.Combine(checkpoint, file), damage).And.Contain("Nothing was restored or changed", damage);
        Snapshot(dir.Path).Should().BeEquivalentTo(before, $"{damage}: a refused resume must not rewrite the checkpoint or the outputs");
    }

    /// <summary>A kill while the output's metrics.json is rewritten at an epoch end leaves it truncated; the checkpoint holds its own copy.</summary>
    [Fact]
    public void TruncatedOutputMetricsJsonDoesNotBlockResume_AndStaleTemporaryFilesAreRemoved()
    {
        using var straight = new TempDirectory();
        DemoRunner.Run(new CliOptions { Output = straight.Path }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);
        using var dir = new TempDirectory();
        Interrupt(dir.Path, atStep: 6);
        string metrics = Path.Combine(dir.Path, MetricsLog.FileName);
        File.WriteAllText(metrics, File.ReadAllText(metrics)[..40]);
        string staleAdapter = dir.Write($".{RunOutputs.AdapterFileName}.{Guid.NewGuid():N}.tmp", "half an adapter");
        string staleMetrics = dir.Write($".{MetricsLog.FileName}.{Guid.NewGuid():N}.tmp", "{ \"task\"");

        var (resumed, _) = DemoRunner.Run(new CliOptions { Output = dir.Path, Resume = true }, Tiny, TextWriter.Null, TextWriter.Null, false, CancellationToken.None);

        resumed.Completed.Should().BeTrue();
        MetricsLog expected = MetricsLog.FromJson(File.ReadAllText(Path.Combine(straight.Path, MetricsLog.FileName)));
        MetricsLog actual = MetricsLog.FromJson(File.ReadAllText(metrics));
        actual.Epochs.Select(e => (e.Epoch, e.Step, e.TrainLoss, e.Dev["accuracy"])).Should().Equal(expected.Epochs.Select(e => (e.Epoch, e.Step, e.TrainLoss, e.Dev["accuracy"])));
        File.Exists(staleAdapter).Should().BeFalse("the next save of adapter.safetensors removes what a killed save left");
        File.Exists(staleMetrics).Should().BeFalse("the next write of metrics.json removes what a killed write left");
        Directory.EnumerateFiles(dir.Path, "*.tmp", SearchOption.AllDirectories).Should().BeEmpty();
    }

    /// <summary>The divergence advice says to resume with a lower rate: the learning rate is not part of the settings a resume must repeat.</summary>
    [Fact]
    public void ResumeWithALowerLearningRateIsAccepted_AndSaysSo()
    {
        using var dir = new TempDirectory();
        Interrupt(dir.Path, atStep: 2);
        var log = new StringWriter();

        var (resumed, _) = DemoRunner.Run(new CliOptions { Output = dir.Path, Resume = true, LearningRate = 1e-4 }, Tiny, log, TextWriter.Null, false, CancellationToken.None);

        resumed.Completed.Should().BeTrue();
        log.ToString().Should().Contain("resumed from").And.Contain("note: the learning rate changes from").And.Contain("to 0.0001 from step 3 on");
    }

    /// <summary>
    /// A diverged step stops the run before its update and keeps the last good checkpoint (not one of NaN weights), and
    /// the advice it prints — resume with a lower rate — works.
    /// </summary>
    [Fact]
    public void DivergedRunKeepsTheLastGoodCheckpoint_AndResumesWithALowerRate()
    {
        using var dir = new TempDirectory();
        string model = Path.Combine(dir.Path, "model");
        using (var source = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: 2))
        {
            TinyCheckpoint.Write(model, source);
        }

        string[] sentences = ["the movie was good", "a bad film", "the film was great", "an awful movie", "good", "bad .", "a great film .", "the movie was awful"];
        var examples = sentences.Select(s => GlueFineTune.Data.GlueExample.Classification(s, null, s.Contains("good") || s.Contains("great") ? 1 : 0)).ToList();
        TrainingOptions Options(double lr, bool resume) => new()
        {
            Task = GlueFineTune.Data.GlueTask.Sst2,
            ModelDirectory = model,
            OutputDirectory = Path.Combine(dir.Path, "out"),
            Epochs = 100,
            BatchSize = 4,
            LearningRate = lr,
            Avf = new VectorFit.AvfOptions { InitialStep = 1, Interval = 1, AvfSteps = 2, K = 2 },
            MaxSteps = 10,
            Resume = resume,
        };

        // 8 examples, batch 4: epochs end at steps 2, 4, 6, … After step 5 the head's weights turn NaN, so step 6 diverges.
        using (var session = TrainingSession.Create(Options(1e-2, resume: false), examples, examples, TextWriter.Null))
        {
            var trainer = new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false)
            {
                AfterStep = step =>
                {
                    if (step == 5)
                    {
                        using var noGrad = torch.no_grad();
                        using var nan = double.NaN.ToScalar();
                        session.Model.named_parameters().First(p => p.name.StartsWith("classifier", StringComparison.Ordinal)).parameter.fill_(nan);
                    }
                },
            };
            var run = () => trainer.Run(CancellationToken.None);
            run.Should().Throw<TrainingDivergedException>()
                .WithMessage("*loss is NaN at step 6*checkpoint of step 4 (end of epoch 2) is kept*--resume*smaller --lr*");
        }

        File.ReadAllText(Path.Combine(dir.Path, "out", "checkpoint", "state.json")).Should().Contain("\"step\": 4");
        var log = new StringWriter();
        using (var resumed = TrainingSession.Create(Options(1e-3, resume: true), examples, examples, TextWriter.Null))
        {
            var outcome = new GlueTrainer(resumed, log, TextWriter.Null, false).Run(CancellationToken.None);
            outcome.Completed.Should().BeTrue();
            outcome.Step.Should().Be(10);
        }

        log.ToString().Should().Contain("at step 4").And.Contain("note: the learning rate changes from 0.01 (the checkpoint's) to 0.001 from step 5 on");
    }

    private static void Interrupt(string output, long atStep)
    {
        using var cancel = new CancellationTokenSource();
        var (first, _) = DemoRunner.Run(new CliOptions { Output = output }, Tiny, TextWriter.Null, TextWriter.Null, false, cancel.Token,
            afterStep: step =>
            {
                if (step == atStep)
                {
                    cancel.Cancel();
                }
            });
        first.Completed.Should().BeFalse();
        first.Step.Should().Be(atStep);
    }

    private static void Damage(string checkpoint, string damage)
    {
        string Path(string name) => System.IO.Path.Combine(checkpoint, name);
        switch (damage)
        {
            case "flip a byte of optimizer.bin":
                FlipMiddleByte(Path("optimizer.bin"));
                break;
            case "truncate optimizer.bin":
                Truncate(Path("optimizer.bin"));
                break;
            case "flip a byte of avf.safetensors":
                FlipLastByte(Path("avf.safetensors")); // the last tensor's data: a strength value, not the header
                break;
            case "flip a byte of adapter.safetensors":
                FlipLastByte(Path("adapter.safetensors"));
                break;
            case "step 100000 in state.json":
                ReplaceStep(Path("state.json"), "100000");
                break;
            case "step -1 in state.json":
                ReplaceStep(Path("state.json"), "-1");
                break;
            case "truncate the checkpoint's metrics.json":
                Truncate(Path("metrics.json"));
                break;
            case "step 100000 in state.json, manifest updated to match":
                ReplaceStep(Path("state.json"), "100000");
                Remanifest(checkpoint);
                break;
            case "step -1 in state.json, manifest updated to match":
                ReplaceStep(Path("state.json"), "-1");
                Remanifest(checkpoint);
                break;
            case "delete avf.safetensors":
                File.Delete(Path("avf.safetensors"));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(damage), damage, null);
        }
    }

    /// <summary>Rewrites manifest.sha256 to match the files as they are now: the checkpoint is consistent but its state impossible.</summary>
    private static void Remanifest(string checkpoint)
    {
        string manifest = System.IO.Path.Combine(checkpoint, "manifest.sha256");
        var lines = File.ReadAllLines(manifest).Select(line =>
        {
            string name = line.Split("  ", 2)[1];
            string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(System.IO.Path.Combine(checkpoint, name))));
            return $"{sha}  {name}";
        });
        File.WriteAllText(manifest, string.Join("\n", lines) + "\n");
    }

    private static void FlipMiddleByte(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x10;
        File.WriteAllBytes(path, bytes);
    }

    private static void FlipLastByte(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        bytes[^2] ^= 0x10;
        File.WriteAllBytes(path, bytes);
    }

    private static void Truncate(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
    }

    private static void ReplaceStep(string path, string value)
    {
        string text = File.ReadAllText(path);
        string replaced = System.Text.RegularExpressions.Regex.Replace(text, "\"step\": -?[0-9]+", $"\"step\": {value}");
        replaced.Should().NotBe(text);
        File.WriteAllText(path, replaced, new UTF8Encoding(false));
    }

    private static Dictionary<string, string> Snapshot(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .ToDictionary(f => System.IO.Path.GetRelativePath(folder, f), f => Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))));
}
