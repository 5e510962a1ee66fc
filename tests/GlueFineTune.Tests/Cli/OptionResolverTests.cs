using GlueFineTune.Cli;
using GlueFineTune.Training;
using VectorFit;

namespace GlueFineTune.Tests.Cli;

public sealed class OptionResolverTests
{
    [Fact]
    public void DefaultsComeFromTable7()
    {
        using var dir = Folders();

        TrainingOptions options = OptionResolver.Resolve(Cli(dir.Path) with { Task = "sst2" });

        options.Task.Name.Should().Be("SST-2");
        options.Epochs.Should().Be(30);
        options.BatchSize.Should().Be(32);
        options.LearningRate.Should().Be(1e-3);
        options.Avf.Should().Be(new AvfOptions { InitialStep = 23200, Interval = 2100, AvfSteps = 10, K = 5 });
        options.Variant.Should().Be(VectorFitVariant.VectorFit);
        options.DataDirectory.Should().Be(Path.Combine(dir.Path, "glue"));
        options.PresetSource.Should().Contain("Table 7");
    }

    [Fact]
    public void CommandLineOverridesThePreset()
    {
        using var dir = Folders();

        TrainingOptions options = OptionResolver.Resolve(Cli(dir.Path) with
        {
            Task = "SST-2", Epochs = 2, BatchSize = 8, LearningRate = 5e-4, InitialStep = 10, Interval = 3, AvfSteps = 2, K = 1,
            Variant = "sigma-a-b", LearningRateSchedule = "constant", MaxLength = 64, Seed = 7,
        });

        options.Epochs.Should().Be(2);
        options.BatchSize.Should().Be(8);
        options.LearningRate.Should().Be(5e-4);
        options.Avf.Should().Be(new AvfOptions { InitialStep = 10, Interval = 3, AvfSteps = 2, K = 1 });
        options.Variant.Should().Be(VectorFitVariant.SigmaAttentionAndBias);
        options.Schedule.Should().Be(LearningRateSchedule.Constant);
        options.MaxLength.Should().Be(64);
        options.Seed.Should().Be(7);
    }

    [Theory]
    [InlineData(null, "--task is required")]
    [InlineData("wnli", "--task \"wnli\" is not a GLUE task; use one of MNLI, SST-2")]
    [InlineData("demo", "is not a GLUE task")]
    [InlineData("rte", "has no RTE/train.tsv")]
    public void TaskProblemsAreUsageErrors(string? task, string expected)
    {
        using var dir = Folders();

        var act = () => OptionResolver.Resolve(Cli(dir.Path) with { Task = task });

        act.Should().Throw<UsageException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void UnknownVariantListsTheNames()
    {
        using var dir = Folders();

        var act = () => OptionResolver.Resolve(Cli(dir.Path) with { Task = "sst2", Variant = "lora" });

        act.Should().Throw<UsageException>().WithMessage("*--variant \"lora\" is unknown; use one of vectorfit, no-avf, sigma-a-b, sigma, sigma-a*");
    }

    [Fact]
    public void MissingFoldersAreNamed()
    {
        using var dir = Folders();

        var act = () => OptionResolver.Resolve(Cli(dir.Path) with { Task = "sst2", Model = Path.Combine(dir.Path, "nope") });

        act.Should().Throw<UsageException>().WithMessage("*--model*nope does not exist*");
    }

    private static TempDirectory Folders()
    {
        var dir = new TempDirectory();
        dir.Write("glue/SST-2/train.tsv", "sentence\tlabel\na good film\t1\n");
        foreach (string file in new[] { "config.json", "model.safetensors", "vocab.txt" })
        {
            dir.Write(Path.Combine("model", file), "not read: the resolver only checks that the checkpoint's files are there");
        }

        return dir;
    }

    private static CliOptions Cli(string root) => new()
    {
        Data = Path.Combine(root, "glue"),
        Model = Path.Combine(root, "model"),
        Output = Path.Combine(root, "out"),
    };
}
