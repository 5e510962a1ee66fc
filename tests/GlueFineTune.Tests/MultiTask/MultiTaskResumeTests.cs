using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using GlueFineTune.Cli;
using GlueFineTune.MultiTask;
using GlueFineTune.Outputs;
using TorchSharp;
using VectorFit;
using VectorFit.Serialization;

namespace GlueFineTune.Tests.MultiTask;

/// <summary>
/// Multi-task checkpoints and <c>--resume</c>: an interrupted (Ctrl+C) or crashed run resumed from OUTPUT/checkpoint ends bit for bit
/// where the uninterrupted run ends (adapters, each adapter's AVF state and frozen set, metrics); a damaged checkpoint or one of other
/// tasks, data or settings is refused naming the file or the difference, before anything is restored.
/// </summary>
/// <remarks>
/// The run: sentiment (8 rows) and a 3-row topic task in batches of 2 (6 steps per epoch, 12 steps), AVF on (the default variant)
/// at each adapter's own steps 2 and 3 with k = 3, so the two adapters take different numbers of steps and freeze at different
/// global steps: a resume must restore each adapter's own step count, smoothed strengths and frozen set.
/// </remarks>
[Collection("libtorch")]
public sealed class MultiTaskResumeTests : IDisposable
{
    private readonly int threads = torch.get_num_threads();

    public MultiTaskResumeTests() => torch.set_num_threads(1);

    public void Dispose() => torch.set_num_threads(threads);

    [Theory]
    [InlineData(3)] // mid epoch 1, after some AVF steps
    [InlineData(6)] // the last step of epoch 1 (its epoch-end checkpoint, then the interrupt)
    [InlineData(9)] // mid epoch 2
    public void InterruptedRunResumesToExactlyTheUninterruptedRun(long stopAt)
    {
        using var dir = new TempDirectory();
        var run = Setup(dir.Path);
        Result straight = Train(run.Args("straight"));

        using var cancel = new CancellationTokenSource();
        Result first = Train(run.Args("resumed"), cancel.Token, step =>
        {
            if (step == stopAt)
            {
                cancel.Cancel();
            }
        });
        first.Outcome.Completed.Should().BeFalse();
        first.Outcome.Step.Should().Be(stopAt);
        first.Outcome.Adapters.Should().BeEmpty("an interrupted run writes its checkpoint, not the final adapters");
        string state = File.ReadAllText(Path.Combine(run.Output("resumed"), "checkpoint", "state.json"));
        state.Should().Contain($"\"step\": {stopAt}").And.Contain("\"reason\": \"interrupted\"");
        // The checkpoint must carry AVF state that matters: at the stop, the adapters have taken different numbers of their own
        // steps, and at least one has frozen vectors.
        first.Avf["sentiment"].StepCount.Should().NotBe(first.Avf["topic"].StepCount);
        first.Avf.Values.Sum(a => a.Vectors.Count(v => v.IsFrozen)).Should().BeGreaterThan(0);

        var log = new StringWriter();
        Result resumed = Train([.. run.Args("resumed"), "--resume"], log: log);

        resumed.Outcome.Completed.Should().BeTrue();
        resumed.Outcome.Step.Should().Be(straight.Outcome.Step);
        log.ToString().Should().Contain("resumed from").And.Contain($"at step {stopAt} (interrupted)");
        AssertSameRun(straight, resumed, run);
    }

    /// <summary>A crash after epoch 1 leaves its epoch-end checkpoint (step 6); resuming from it ends exactly where the uninterrupted run ends.</summary>
    [Fact]
    public void RunResumesExactlyFromAnEpochEndCheckpoint()
    {
        using var dir = new TempDirectory();
        var run = Setup(dir.Path);
        Result straight = Train(run.Args("straight"));

        var crash = () => Train(run.Args("resumed"), afterStep: step => _ = step == 8 ? throw new IOException("simulated crash") : 0);
        crash.Should().Throw<IOException>().WithMessage("simulated crash");
        string state = File.ReadAllText(Path.Combine(run.Output("resumed"), "checkpoint", "state.json"));
        state.Should().Contain("\"step\": 6").And.Contain("\"reason\": \"end of epoch 1\"");

        Result resumed = Train([.. run.Args("resumed"), "--resume"]);

        resumed.Outcome.Completed.Should().BeTrue();
        AssertSameRun(straight, resumed, run);
    }

    /// <summary>Each damage, applied to one interrupted run's checkpoint (stopped at step 4), with the file the error must name.</summary>
    public static TheoryData<string, string> Damages => new()
    {
        { "truncate", "sentiment/adapter.safetensors" },
        { "flip a byte", "topic/adapter.safetensors" },
        { "flip a byte", "topic/optimizer.bin" },
        { "flip a byte", "sentiment/avf.safetensors" },
        { "truncate", "topic/metrics.json" },
        { "delete", "topic/avf.safetensors" },
        { "edit the step", "state.json" },
        { "edit the step, manifest updated to match", "state.json" },
        { "edit a loss count, manifest updated to match", "state.json" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void DamagedCheckpointIsRejectedNamingTheFileBeforeAnythingIsRestored(string damage, string file)
    {
        using var dir = new TempDirectory();
        var run = Setup(dir.Path);
        Interrupt(run, atStep: 4);
        string checkpoint = Path.Combine(run.Output("resumed"), "checkpoint");
        string path = Path.Combine(checkpoint, file.Replace('/', Path.DirectorySeparatorChar));
        Damage(checkpoint, path, damage);
        var before = Snapshot(run.Output("resumed"));

        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse([.. run.Args("resumed"), "--resume"]));
        using var trainer = new MultiTaskTrainer(options, TextWriter.Null);
        var fresh = AdapterValues(trainer);
        var resume = () => trainer.Run(TextWriter.Null, false, CancellationToken.None);

        var error = resume.Should().Throw<InvalidDataException>(damage).Which;
        Program.IsUserError(error).Should().BeTrue();
        error.Message.Should().Contain(path, damage).And.Contain("Nothing was restored or changed", damage);
        AdapterValues(trainer).Should().BeEquivalentTo(fresh, $"{damage}: no adapter tensor is restored from a checkpoint that is refused");
        options.Tasks.Select(t => trainer.Avf(t.Name).StepCount).Should().AllSatisfy(n => n.Should().Be(0), "no AVF state is restored either");
        Snapshot(run.Output("resumed")).Should().BeEquivalentTo(before, $"{damage}: a refused resume rewrites nothing");
    }

    public static TheoryData<string, string[]> Mismatches => new()
    {
        { "another task name", ["the checkpoint trains the tasks sentiment, topic (in this order); this command trains sentiment, subject"] },
        { "the tasks in another order", ["the checkpoint trains the tasks sentiment, topic (in this order); this command trains topic, sentiment"] },
        { "another topic file", ["task topic: --train was ", "topic3.jsonl", "task topic: --dev was ", "topic-other.jsonl"] },
        { "the topic file edited in place", ["task topic: --train was ", "task topic: --dev was "] },
        { "another seed", ["written with other settings", "seed=3", "seed=4"] },
    };

    [Theory]
    [MemberData(nameof(Mismatches))]
    public void ResumeWithOtherTasksDataOrSettingsIsRefusedNamingTheDifference(string change, string[] expected)
    {
        using var dir = new TempDirectory();
        var run = Setup(dir.Path);
        Interrupt(run, atStep: 4);
        string topic = run.Topic;
        string[] args = run.Args("resumed");
        switch (change)
        {
            case "another task name":
                args = [.. args.Select(a => a.Replace("topic=", "subject=", StringComparison.Ordinal))];
                break;
            case "the tasks in another order":
                args = [.. args[4..8], .. args[..4], .. args[8..]];
                args[1].Should().StartWith("topic=");
                break;
            case "another topic file":
                string other = Path.Combine(Path.GetDirectoryName(topic)!, "topic-other.jsonl");
                File.WriteAllLines(other, [.. File.ReadAllLines(topic).Take(2), "{\"text\": \"a movie\", \"label\": \"movie\"}"]);
                args = [.. args.Select(a => a.Replace(topic, other, StringComparison.Ordinal))];
                break;
            case "the topic file edited in place":
                File.WriteAllLines(topic, [.. File.ReadAllLines(topic).Take(2), "{\"text\": \"a movie\", \"label\": \"movie\"}"]);
                break;
            case "another seed":
                args[Array.IndexOf(args, "--seed") + 1] = "4";
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(change), change, null);
        }

        var before = Snapshot(run.Output("resumed"));
        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse([.. args, "--resume"]));
        using var trainer = new MultiTaskTrainer(options, TextWriter.Null);
        var fresh = AdapterValues(trainer);
        var resume = () => trainer.Run(TextWriter.Null, false, CancellationToken.None);

        var error = resume.Should().Throw<InvalidOperationException>(change).Which;
        Program.IsUserError(error).Should().BeTrue();
        foreach (string part in expected)
        {
            error.Message.Should().Contain(part, change);
        }

        error.Message.Should().Contain("Nothing was restored or changed").And.Contain(Path.Combine(run.Output("resumed"), "checkpoint"));
        AdapterValues(trainer).Should().BeEquivalentTo(fresh, $"{change}: nothing is restored");
        Snapshot(run.Output("resumed")).Should().BeEquivalentTo(before, $"{change}: a refused resume rewrites nothing");
    }

    [Fact]
    public void ResumeWithoutACheckpointSaysHowToStart()
    {
        using var dir = new TempDirectory();
        var run = Setup(dir.Path);
        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse([.. run.Args("resumed"), "--resume"]));
        using var trainer = new MultiTaskTrainer(options, TextWriter.Null);

        var resume = () => trainer.Run(TextWriter.Null, false, CancellationToken.None);

        resume.Should().Throw<FileNotFoundException>().WithMessage("*found no checkpoint*train once without --resume*");
    }

    private static RunSetup Setup(string root)
    {
        string model = MultiTaskFixture.Checkpoint(root);
        var (sentiment, _) = MultiTaskFixture.Data(root);
        string topic = Path.Combine(root, "data", "topic3.jsonl");
        File.WriteAllLines(topic, ["{\"text\": \"the movie\", \"label\": \"movie\"}", "{\"text\": \"a film\", \"label\": \"film\"}", "{\"text\": \"movie was good\", \"label\": \"movie\"}"]);
        return new RunSetup(root, model, sentiment, topic);
    }

    private static void Interrupt(RunSetup run, long atStep)
    {
        using var cancel = new CancellationTokenSource();
        Result first = Train(run.Args("resumed"), cancel.Token, step =>
        {
            if (step == atStep)
            {
                cancel.Cancel();
            }
        });
        first.Outcome.Completed.Should().BeFalse();
    }

    private static Result Train(string[] args, CancellationToken cancellation = default, Action<long>? afterStep = null, TextWriter? log = null)
    {
        MultiTaskOptions options = MultiTaskOptions.Resolve(CliParser.Parse(args));
        using var trainer = new MultiTaskTrainer(options, log ?? TextWriter.Null) { AfterStep = afterStep };
        MultiTaskOutcome outcome = trainer.Run(TextWriter.Null, false, cancellation);
        return new Result(outcome, options.Tasks.ToDictionary(t => t.Name, t => trainer.Avf(t.Name).state_dict()));
    }

    /// <summary>Same adapters (every tensor bit for bit), same AVF state per adapter (step count, strengths, frozen set), same metrics and AVF files.</summary>
    private static void AssertSameRun(Result straight, Result resumed, RunSetup run)
    {
        foreach (string task in new[] { "sentiment", "topic" })
        {
            var expected = SafetensorsReader.Load(straight.Outcome.Adapters[task]);
            var actual = SafetensorsReader.Load(resumed.Outcome.Adapters[task]);
            actual.Keys.Should().BeEquivalentTo(expected.Keys);
            foreach (var (key, tensor) in expected)
            {
                actual[key].allclose(tensor, rtol: 0, atol: 0).Should().BeTrue($"{task}: {key} must equal the uninterrupted run's bit for bit");
            }

            AvfState a = straight.Avf[task];
            AvfState b = resumed.Avf[task];
            b.StepCount.Should().Be(a.StepCount, $"{task}: its own step count");
            b.Vectors.Select(v => (v.Name, v.IsFrozen, v.SmoothedStrength)).Should().Equal(a.Vectors.Select(v => (v.Name, v.IsFrozen, v.SmoothedStrength)), $"{task}: its frozen set and smoothed strengths");
            a.Vectors.Count(v => v.IsFrozen).Should().Be(3, $"{task}: AVF froze k = 3 vectors (so the frozen set was there to lose)");

            MetricsLog m = straight.Outcome.Metrics[task];
            MetricsLog n = resumed.Outcome.Metrics[task];
            n.Epochs.Select(Row).Should().Equal(m.Epochs.Select(Row), $"{task}: the metrics of every epoch");
            MetricsLog written = MetricsLog.FromJson(File.ReadAllText(Path.Combine(run.Output("resumed"), task, MetricsLog.FileName)));
            written.Epochs.Select(Row).Should().Equal(m.Epochs.Select(Row), $"{task}: metrics.json holds every epoch");
            File.ReadAllText(Path.Combine(run.Output("resumed"), task, "avf_vectors.csv")).Should().Be(File.ReadAllText(Path.Combine(run.Output("straight"), task, "avf_vectors.csv")));
        }
    }

    private static string Row(EpochMetrics e) =>
        FormattableString.Invariant($"{e.Epoch} {e.Step} {e.TrainLoss:R} {e.LearningRate:R} {string.Join(",", e.Dev.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value:R}"))} {string.Join(",", e.FrozenVectors)}");

    private static Dictionary<string, float[]> AdapterValues(MultiTaskTrainer trainer) => trainer.Bank.Bank.Names.Skip(1)
        .SelectMany(task => trainer.Bank.Bank.GetTensors(task).Select(t => ($"{task}:{t.key}", t.tensor.detach().to_type(torch.ScalarType.Float32).data<float>().ToArray())))
        .ToDictionary(p => p.Item1, p => p.Item2);

    private static void Damage(string checkpoint, string path, string damage)
    {
        byte[] bytes = File.Exists(path) ? File.ReadAllBytes(path) : [];
        switch (damage)
        {
            case "truncate":
                File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
                break;
            case "flip a byte":
                bytes[^2] ^= 0x10;
                File.WriteAllBytes(path, bytes);
                break;
            case "delete":
                File.Delete(path);
                break;
            case "edit the step":
                Replace(path, "\"step\": [0-9]+", "\"step\": 5");
                break;
            case "edit the step, manifest updated to match":
                Replace(path, "\"step\": [0-9]+", "\"step\": 100000");
                Remanifest(checkpoint);
                break;
            case "edit a loss count, manifest updated to match":
                Replace(path, "\"epoch_loss_rows\": [0-9]+", "\"epoch_loss_rows\": -3");
                Remanifest(checkpoint);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(damage), damage, null);
        }
    }

    private static void Replace(string path, string pattern, string replacement)
    {
        string text = File.ReadAllText(path);
        string replaced = new Regex(pattern).Replace(text, replacement, 1);
        replaced.Should().NotBe(text);
        File.WriteAllText(path, replaced, new UTF8Encoding(false));
    }

    /// <summary>Rewrites manifest.sha256 to match the files as they are now: the checkpoint is consistent but its state impossible.</summary>
    private static void Remanifest(string checkpoint)
    {
        string manifest = Path.Combine(checkpoint, "manifest.sha256");
        var lines = File.ReadAllLines(manifest).Select(line =>
        {
            string name = line.Split("  ", 2)[1];
            return $"{Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(checkpoint, name))))}  {name}";
        });
        File.WriteAllText(manifest, string.Join("\n", lines) + "\n");
    }

    private static Dictionary<string, string> Snapshot(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .ToDictionary(f => Path.GetRelativePath(folder, f), f => Convert.ToBase64String(SHA256.HashData(File.ReadAllBytes(f))));

    private sealed record Result(MultiTaskOutcome Outcome, IReadOnlyDictionary<string, AvfState> Avf);

    /// <summary>The tiny model and the two tasks' files; <see cref="Args"/> the command line writing into ROOT/NAME.</summary>
    private sealed record RunSetup(string Root, string Model, string Sentiment, string Topic)
    {
        public string Output(string name) => Path.Combine(Root, name);

        public string[] Args(string output)
        {
            string[] args = MultiTaskFixture.Args(Model, Output(output), Sentiment, Topic, "--t-i", "2", "--t-f", "1", "--n-f", "2", "--k", "3");
            args[Array.IndexOf(args, "--batch-size") + 1] = "2";
            return args;
        }
    }
}
