using GlueFineTune.Cli;
using GlueFineTune.Data;
using GlueFineTune.Training;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tests.TestSupport;

namespace GlueFineTune.Tests.Cli;

/// <summary>
/// Issue 19, item 2: the sample's quick paths on the user's own data (a short trial run, a file for --model, an id column
/// as the label, the settings line, the pooling an imported folder records).
/// </summary>
[Collection("libtorch")]
public sealed class QuickPathTests
{
    private const string Train = "text\tlabel\nthe movie was good\tpos\na bad film\tneg\nthe film was great\tpos\nan awful movie\tneg\n"
        + "a good film\tpos\nthe movie was bad\tneg\ngreat\tpos\nawful\tneg\n";

    private const string Dev = "text\tlabel\na great movie\tpos\na bad movie\tneg\n";

    /// <summary>
    /// <c>--max-steps 3</c> stops a 3-epoch run of 4 steps per epoch long before the default first AVF step (1.2 epochs):
    /// it used to fail with "--avf-start-epoch 1.2000000000000002 is at or past the end of training"; now it trains and says
    /// AVF did not start.
    /// </summary>
    [Fact]
    public void MaxStepsOnCustomDataTrainsAndSaysAvfDidNotStart()
    {
        using var dir = Files();
        TrainingOptions options = OptionResolver.Resolve(CliParser.Parse([.. Args(dir.Path), "--max-steps", "3", "--batch-size", "2"]));
        var log = new StringWriter();

        using var session = TrainingSession.Create(options, options.CustomData!.Train, options.CustomData.Dev, log);
        TrainingOutcome outcome = new GlueTrainer(session, log, TextWriter.Null, false).Run(CancellationToken.None);

        outcome.Completed.Should().BeTrue();
        outcome.Step.Should().Be(3);
        session.Avf.Options.InitialStep.Should().Be(5, "1.2 of the planned 3 epochs of 4 steps");
        session.Avf.FrozenSet.Should().BeEmpty();
        log.ToString().Should().Contain("AVF does not start: this run stops after 3 steps, before the first AVF step, so nothing is frozen");
    }

    [Fact]
    public void ModelPointingAtTheWeightsFileSaysToPassTheFolder()
    {
        using var dir = Files();
        string weights = Path.Combine(dir.Path, "model", "model.safetensors");

        var act = () => OptionResolver.Resolve(CliParser.Parse(Args(dir.Path, model: weights)));

        act.Should().Throw<UsageException>().WithMessage(
            $"--model {weights} is a file; pass the folder that holds it ({Path.Combine(dir.Path, "model")})*");
    }

    [Fact]
    public void LabelColumnWithOneClassPerRowIsRefused()
    {
        using var dir = new TempDirectory();
        string train = dir.Write("train.csv", "id,text,label\n" + string.Join("\n", Enumerable.Range(1, 6).Select(i => $"{i},text {i},{(i % 2 == 0 ? "pos" : "neg")}")) + "\n");
        string dev = dir.Write("dev.csv", "id,text,label\n7,text 7,pos\n");

        var act = () => CustomDataReader.Load(train, dev, new CustomColumns(Label: "id"), regression: false);

        act.Should().Throw<InvalidDataException>().WithMessage(
            "*train.csv: the label column \"id\" has 6 classes in 6 rows (e.g. \"1\", \"2\", \"3\"), fewer than two examples per class; it looks like an identifier*--label-column NAME*--regression*");
        CustomDataReader.Load(train, dev, new CustomColumns(), regression: false).Task.LabelNames.Should().Equal("neg", "pos");
    }

    [Fact]
    public void SettingsLineNamesOnlyTheDefaultsUsed()
    {
        using var dir = Files();

        string overridden = OptionResolver.Resolve(CliParser.Parse([.. Args(dir.Path), "--epochs", "2", "--batch-size", "8", "--lr", "5e-4", "--avf-start-epoch", "1"])).Describe();
        string partly = OptionResolver.Resolve(CliParser.Parse([.. Args(dir.Path), "--epochs", "2"])).Describe();

        overridden.Should().Contain("epochs 2, batch 8, lr 0.0005").And.EndWith("; every value from the command line")
            .And.NotContain("batch 32").And.NotContain("3 epochs").And.NotContain("1e-3");
        partly.Should().EndWith("; batch, lr, AVF schedule from the custom-data defaults");
    }

    /// <summary>import-onnx says mean pooling is sentence-transformers' default and records it in the folder; leaving out --pooling then uses it.</summary>
    [Fact]
    public void FolderThatRecordsItsPoolingIsPooledThatWayUnlessPoolingIsGiven()
    {
        using var dir = Files();
        dir.Write("model/1_Pooling/config.json", """
            {
              "word_embedding_dimension": 384,
              "pooling_mode_cls_token": false,
              "pooling_mode_mean_tokens": true,
              "pooling_mode_max_tokens": false,
              "pooling_mode_mean_sqrt_len_tokens": false
            }
            """);

        TrainingOptions byFolder = OptionResolver.Resolve(CliParser.Parse(Args(dir.Path)));
        TrainingOptions byOption = OptionResolver.Resolve(CliParser.Parse([.. Args(dir.Path), "--pooling", "cls"]));

        byFolder.Pooling.Should().Be(Pooling.Mean);
        byFolder.Describe().Should().Contain("pooling mean").And.Contain($"pooling: the model folder's {Path.Combine("1_Pooling", "config.json")}");
        byOption.Pooling.Should().Be(Pooling.Cls);
        File.Delete(Path.Combine(dir.Path, "model", "1_Pooling", "config.json"));
        OptionResolver.Resolve(CliParser.Parse(Args(dir.Path))).Pooling.Should().Be(Pooling.Pooler, "a folder that records nothing keeps the pooler");
    }

    [Theory]
    [InlineData("mean")]
    [InlineData("cls")]
    public void ImportedPoolingRoundTrips(string name)
    {
        PoolingNames.TryParse(name, out Pooling pooling).Should().BeTrue();
        using var dir = new TempDirectory();

        string? written = SentenceTransformersPooling.Write(dir.Path, pooling, hiddenSize: 32);

        written.Should().Be(Path.Combine(dir.Path, "1_Pooling", "config.json"));
        SentenceTransformersPooling.Read(dir.Path).Should().Be(pooling);
        SentenceTransformersPooling.Write(dir.Path + "-none", Pooling.Pooler, 32).Should().BeNull();
    }

    private static TempDirectory Files()
    {
        var dir = new TempDirectory();
        dir.Write("train.tsv", Train);
        dir.Write("dev.tsv", Dev);
        using var model = TinyCheckpoint.Model(TinyCheckpoint.Bert());
        TinyCheckpoint.Write(Path.Combine(dir.Path, "model"), model);
        return dir;
    }

    private static string[] Args(string root, string? model = null) =>
    [
        "--train", Path.Combine(root, "train.tsv"), "--dev", Path.Combine(root, "dev.tsv"), "--output", Path.Combine(root, "out"),
        "--model", model ?? Path.Combine(root, "model"),
    ];
}
