using GlueFineTune.Cli;
using GlueFineTune.MultiTask;
using GlueFineTune.Training;
using VectorFit;

namespace GlueFineTune.Tests.MultiTask;

public sealed class MultiTaskCliTests
{
    [Fact]
    public void PredictParsesRepeatedAdaptersAndItsOwnOptions()
    {
        CliOptions cli = CliParser.Parse(["predict", "--model", "m", "--adapter", "spam=a.safetensors", "--adapter=names=b.safetensors", "--input", "in.jsonl", "--output", "out.csv", "--task-column", "kind", "--batch-size", "8"]);

        cli.Verb.Should().Be(CliParser.PredictVerb);
        cli.Adapters.Should().Equal("spam=a.safetensors", "names=b.safetensors");
        (cli.Model, cli.Input, cli.Output, cli.TaskColumn, cli.BatchSize).Should().Be(("m", "in.jsonl", "out.csv", "kind", 8));
    }

    [Theory]
    [InlineData(new[] { "predict", "--adaptr", "a=b" }, "unknown option \"--adaptr\" for predict. Did you mean --adapter?")]
    [InlineData(new[] { "predict", "--epochs", "2" }, "unknown option \"--epochs\" for predict.")]
    [InlineData(new[] { "predict", "--input", "a", "--input", "b" }, "--input is given twice")]
    [InlineData(new[] { "predict", "--adapter" }, "--adapter needs a value: --adapter NAME=FILE")]
    public void PredictCommandLineErrorsAreClear(string[] args, string expected)
    {
        var act = () => CliParser.Parse(args);

        act.Should().Throw<UsageException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void EveryPredictOptionIsDocumentedInItsHelp()
    {
        foreach (string name in CliParser.OptionNames(CliParser.PredictVerb))
        {
            PredictCommand.Help.Should().Contain(name, $"{name} must be documented in predict --help");
        }
    }

    [Fact]
    public void TrainingRepeatsTrainAndDevInOrder()
    {
        CliOptions cli = CliParser.Parse(["--train", "a=x.jsonl", "--dev", "a=y.jsonl", "--train", "b=z.jsonl"]);

        cli.TrainSets.Should().Equal("a=x.jsonl", "b=z.jsonl");
        cli.DevSets.Should().Equal("a=y.jsonl");
        MultiTaskOptions.Requested(cli).Should().BeTrue();
        MultiTaskOptions.Requested(CliParser.Parse(["--train", "x.jsonl", "--dev", "y.jsonl"])).Should().BeFalse("one plain --train is a single-task run");
    }

    [Theory]
    [InlineData("spam", "\"spam\" is not NAME=FILE")]
    [InlineData("=x", "is not NAME=FILE")]
    [InlineData("sp am=FILE", "the task name \"sp am\" must start with a letter or digit")]
    [InlineData("base=FILE", "\"base\" is reserved for the base model's row")]
    [InlineData("spam=missing.safetensors", "--adapter spam=missing.safetensors: the file does not exist")]
    public void NameFileValuesAreChecked(string value, string expected)
    {
        using var dir = new TempDirectory();
        string file = dir.Write("a.safetensors", "x");
        var act = () => NamedFile.ParseAll([value.Replace("FILE", file, StringComparison.Ordinal)], "--adapter", "spam=runs/spam/adapter.safetensors");

        act.Should().Throw<UsageException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void DuplicateTaskNamesAreRefused()
    {
        using var dir = new TempDirectory();
        string a = dir.Write("a.safetensors", "x");
        string b = dir.Write("b.safetensors", "x");

        var act = () => NamedFile.ParseAll([$"spam={a}", $"spam={b}"], "--adapter", "spam=runs/spam/adapter.safetensors");

        act.Should().Throw<UsageException>().Which.Message.Should().Contain("the task name \"spam\" is given twice").And.Contain(a).And.Contain(b);
    }

    [Fact]
    public void TopLevelHelpDocumentsMultiTaskTrainingAndPredict()
    {
        HelpText.Text.Should().Contain("--train NAME=FILE").And.Contain("--dev NAME=FILE").And.Contain("Multi-task training")
            .And.Contain("GlueFineTune predict --model").And.Contain("predict --help").And.Contain("--variant no-avf");
        HelpText.Text.Should().NotContain("without AVF", "multi-task training runs per-adapter AVF");
        PredictCommand.Help.Should().Contain("GlueFineTune predict").And.Contain("OUTPUT/NAME/adapter.safetensors");
    }

    [Fact]
    public void MultiTaskDefaultsToVectorFitWithAvfAndTakesTheAvfOptions()
    {
        using var dir = new TempDirectory();
        var (sentiment, topic) = MultiTaskFixture.Data(dir.Path);
        Directory.CreateDirectory(Path.Combine(dir.Path, "model"));
        MultiTaskOptions Resolve(params string[] extra) =>
            MultiTaskOptions.Resolve(CliParser.Parse(MultiTaskFixture.Args(Path.Combine(dir.Path, "model"), Path.Combine(dir.Path, "out"), sentiment, topic, extra)));

        TrainingOptions byDefault = Resolve().Settings;
        byDefault.UsesAvf.Should().BeTrue("the default variant is VectorFit + AVF, as for a single task");
        byDefault.AvfStartEpoch.Should().Be(AvfOptions.DefaultInitialEpochs(2), "the custom-data AVF defaults, in epochs");
        byDefault.AvfEveryEpochs.Should().Be(AvfOptions.DefaultIntervalEpochs(2));

        TrainingOptions inSteps = Resolve("--t-i", "3", "--t-f", "2", "--n-f", "4", "--k", "2").Settings;
        inSteps.Avf.Should().Match<AvfOptions>(a => a.InitialStep == 3 && a.Interval == 2 && a.AvfSteps == 4 && a.K == 2);
        inSteps.AvfStartEpoch.Should().BeNull();

        Resolve("--variant", "no-avf").Settings.UsesAvf.Should().BeFalse();
    }

    [Theory]
    [InlineData(new[] { "--method", "svft" }, "--method svft does not apply")]
    [InlineData(new[] { "--resume" }, "multi-task training has no --resume yet")]
    [InlineData(new[] { "--regression" }, "--regression is for a single task")]
    public void MultiTaskRefusesWhatItCannotDo(string[] extra, string expected)
    {
        using var dir = new TempDirectory();
        var (sentiment, topic) = MultiTaskFixture.Data(dir.Path);
        Directory.CreateDirectory(Path.Combine(dir.Path, "model"));

        var act = () => MultiTaskOptions.Resolve(CliParser.Parse(MultiTaskFixture.Args(Path.Combine(dir.Path, "model"), Path.Combine(dir.Path, "out"), sentiment, topic, extra)));

        act.Should().Throw<UsageException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void MultiTaskNeedsMatchingDevSetsAndTwoTasks()
    {
        using var dir = new TempDirectory();
        var (sentiment, topic) = MultiTaskFixture.Data(dir.Path);
        string model = Directory.CreateDirectory(Path.Combine(dir.Path, "model")).FullName;

        var noDev = () => MultiTaskOptions.Resolve(CliParser.Parse(["--train", $"a={sentiment}", "--train", $"b={topic}", "--dev", $"a={sentiment}", "--model", model, "--output", "o"]));
        var oneTask = () => MultiTaskOptions.Resolve(CliParser.Parse(["--train", $"a={sentiment}", "--dev", $"a={sentiment}", "--model", model, "--output", "o"]));
        var plain = () => MultiTaskOptions.Resolve(CliParser.Parse(["--train", $"a={sentiment}", "--train", topic, "--model", model, "--output", "o"]));

        noDev.Should().Throw<UsageException>().Which.Message.Should().Contain("task b has a --train but no --dev");
        oneTask.Should().Throw<UsageException>().Which.Message.Should().Contain("multi-task training needs two or more tasks");
        plain.Should().Throw<UsageException>().Which.Message.Should().Contain($"\"{topic}\" is not NAME=FILE");
    }

    [Fact]
    public void TasksWithDifferentClassCountsAreRefused()
    {
        using var dir = new TempDirectory();
        var (sentiment, _) = MultiTaskFixture.Data(dir.Path);
        string three = dir.Write("three.jsonl", string.Join('\n', Enumerable.Range(0, 9).Select(i => $"{{\"text\": \"film {i}\", \"label\": \"c{i % 3}\"}}")));
        string model = Directory.CreateDirectory(Path.Combine(dir.Path, "model")).FullName;

        var act = () => MultiTaskOptions.Resolve(CliParser.Parse(["--train", $"a={sentiment}", "--dev", $"a={sentiment}", "--train", $"b={three}", "--dev", $"b={three}", "--model", model, "--output", "o"]));

        act.Should().Throw<InvalidDataException>().Which.Message.Should().Contain("a: 2 classes, b: 3 classes");
    }
}
