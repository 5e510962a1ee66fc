using GlueFineTune.Cli;

namespace GlueFineTune.Tests.Cli;

/// <summary>What the sample says about a --model folder that lacks a file.</summary>
public sealed class ModelFolderTests
{
    [Theory]
    [InlineData("config.json", "lacks config.json")]
    [InlineData("model.safetensors", "lacks model.safetensors")]
    [InlineData("vocab.txt", "lacks vocab.txt or spm.model")]
    public void The_model_folder_is_checked_before_any_data_is_read(string missing, string message)
    {
        using var dir = new TempDirectory();
        foreach (string file in new[] { "config.json", "model.safetensors", "vocab.txt" }.Where(f => f != missing))
        {
            dir.Write(Path.Combine("model", file), "x");
        }

        // The data files do not exist: the model folder's problem is reported first.
        var cli = CliParser.Parse(["--train", Path.Combine(dir.Path, "missing.tsv"), "--dev", Path.Combine(dir.Path, "missing.tsv"), "--model", Path.Combine(dir.Path, "model"), "--output", "o"]);
        var glue = CliParser.Parse(["--task", "sst2", "--data", dir.Path, "--model", Path.Combine(dir.Path, "model"), "--output", "o"]);

        FluentActions.Invoking(() => OptionResolver.Resolve(glue)).Should().Throw<UsageException>().WithMessage($"*{message}*");
        dir.Write("train.tsv", "text\tlabel\n");
        var custom = CliParser.Parse(["--train", Path.Combine(dir.Path, "train.tsv"), "--dev", Path.Combine(dir.Path, "train.tsv"), "--model", Path.Combine(dir.Path, "model"), "--output", "o"]);
        FluentActions.Invoking(() => OptionResolver.Resolve(custom)).Should().Throw<UsageException>().WithMessage($"*{message}*");
        cli.Train.Should().NotBeNull();
    }
}
