using GlueFineTune.Cli;
using GlueFineTune.Import;

namespace GlueFineTune.Tests.Cli;

public sealed class CliParserTests
{
    [Fact]
    public void ParsesNamedOptionsWithSpaceOrEquals()
    {
        var options = CliParser.Parse(["--task", "sst2", "--epochs=3", "--lr", "5e-4", "--variant=sigma-a", "--resume", "--t-i", "100", "--k", "2", "--threads", "2"]);

        options.Task.Should().Be("sst2");
        options.Epochs.Should().Be(3);
        options.LearningRate.Should().Be(5e-4);
        options.Variant.Should().Be("sigma-a");
        options.Resume.Should().BeTrue();
        options.InitialStep.Should().Be(100);
        options.K.Should().Be(2);
        options.Threads.Should().Be(2);
        options.Demo.Should().BeFalse();
    }

    [Theory]
    [InlineData(new[] { "--epoch", "3" }, "unknown option \"--epoch\". Did you mean --epochs?")]
    [InlineData(new[] { "--epochs", "0" }, "--epochs must be at least 1, got 0")]
    [InlineData(new[] { "--epochs", "three" }, "--epochs must be a whole number, got \"three\"")]
    [InlineData(new[] { "--lr", "abc" }, "--lr must be a number such as 1e-3, got \"abc\"")]
    [InlineData(new[] { "--lr", "2" }, "--lr must be in (0, 1], got 2")]
    [InlineData(new[] { "--batch-size" }, "--batch-size needs a value: --batch-size N")]
    [InlineData(new[] { "--task", "--demo" }, "--task needs a value: --task NAME")]
    [InlineData(new[] { "--demo=yes" }, "--demo is a switch and takes no value")]
    [InlineData(new[] { "--seed", "1", "--seed", "2" }, "--seed is given twice")]
    [InlineData(new[] { "--k", "-1" }, "--k must be at least 0, got -1")]
    public void BadCommandLinesGetAClearMessage(string[] args, string expected)
    {
        var act = () => CliParser.Parse(args);

        act.Should().Throw<UsageException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void EveryOptionIsDocumentedInHelp()
    {
        foreach (string name in CliParser.OptionNames(null))
        {
            HelpText.Text.Should().Contain(name, $"{name} must be documented in --help");
        }

        foreach (string name in CliParser.OptionNames(CliParser.ImportVerb))
        {
            ImportCommand.Help.Should().Contain(name, $"{name} must be documented in import-onnx --help");
        }
    }

    /// <summary>import-onnx is parsed by the same parser with the same rules as training (issue 20).</summary>
    [Theory]
    [InlineData(new[] { "import-onnx", "--outt", "x" }, "unknown option \"--outt\" for import-onnx. Did you mean --out?")]
    [InlineData(new[] { "import-onnx", "--output", "x" }, "unknown option \"--output\" for import-onnx. Did you mean --out?")]
    [InlineData(new[] { "import-onnx", "--out" }, "--out needs a value: --out DIR")]
    [InlineData(new[] { "import-onnx", "--onnx", "--out", "x" }, "--onnx needs a value: --onnx MODEL.onnx")]
    [InlineData(new[] { "import-onnx", "--out", "a", "--out=b" }, "--out is given twice")]
    [InlineData(new[] { "import-onnx", "--num-heads", "0" }, "--num-heads must be at least 1, got 0")]
    [InlineData(new[] { "import-onnx", "--num-heads", "six" }, "--num-heads must be a whole number, got \"six\"")]
    [InlineData(new[] { "--out", "x" }, "unknown option \"--out\". Did you mean")]
    public void ImportOnnxFollowsTheSameRules(string[] args, string expected)
    {
        var act = () => CliParser.Parse(args);

        act.Should().Throw<UsageException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void ImportOnnxOptionsAreParsed()
    {
        var options = CliParser.Parse(["import-onnx", "--onnx=m.onnx", "--vocab", "v.txt", "--out", "dir", "--num-heads", "12", "--pooling", "cls"]);

        options.Should().BeEquivalentTo(new { Verb = "import-onnx", Onnx = "m.onnx", Vocab = "v.txt", Out = "dir", NumHeads = 12, Pooling = "cls" }, o => o.ExcludingMissingMembers());
    }
}
