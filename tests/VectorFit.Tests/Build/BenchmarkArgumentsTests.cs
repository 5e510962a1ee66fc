using VectorFit.Benchmarks;
using VectorFit.Benchmarks.ModelLevel;

namespace VectorFit.Tests.Build;

/// <summary>
/// The benchmark runner's command line (<c>./build.sh bench [args]</c>) and its target lines. Before these were
/// written, <c>./build.sh bench --no-python</c> went to BenchmarkDotNet ("Option 'no-python' is unknown", 200 lines of
/// usage, exit 0), and merged inference faster than base was reported as a missed target.
/// </summary>
public class BenchmarkArgumentsTests
{
    [Fact]
    public void NoPythonAlone_IsTheQuickModelStepWithoutPyTorch()
    {
        BenchCommand command = BenchArguments.Route(["--no-python"]);

        command.Verb.Should().Be(BenchVerb.ModelStep);
        command.ModelStep!.Python.Should().BeFalse();
        command.ModelStep.Layers.Should().Equal(4);
        command.ModelStep.Steps.Should().Be(3);
    }

    [Fact]
    public void ModelStepOptionsWithoutTheVerb_AreParsedOverTheQuickRun()
    {
        BenchCommand command = BenchArguments.Route(["--steps", "2", "--no-memory"]);

        command.Verb.Should().Be(BenchVerb.ModelStep);
        command.ModelStep.Should().Be(BenchArguments.Quick with { Steps = 2, Memory = false });
    }

    [Fact]
    public void FactorDTypeVerb_RoutesWithItsArguments()
    {
        BenchCommand command = BenchArguments.Route(["factor-dtype", "--model", "dir"]);

        command.Verb.Should().Be(BenchVerb.FactorDType);
        command.Arguments.Should().Equal("--model", "dir");
    }

    [Fact]
    public void ModelStepVerb_KeepsTheFullRunsDepths()
    {
        BenchCommand command = BenchArguments.Route(["model-step", "--no-python"]);

        command.ModelStep!.Layers.Should().Equal(4, 12);
        command.ModelStep.Python.Should().BeFalse();
        BenchArguments.Route([]).ModelStep.Should().Be(BenchArguments.Quick);
    }

    [Fact]
    public void EveryModelStepOption_RoutesToModelStep()
    {
        foreach (string option in ModelStepOptions.OptionNames)
        {
            string[] args = option.StartsWith("--no-", StringComparison.Ordinal) || option == "--diagnostics"
                ? [option]
                : [option, option switch { "--layers" => "2", "--python" or "--out" => "x", "--malloc" => "default", _ => "1" }];

            BenchArguments.Route(args).Verb.Should().Be(BenchVerb.ModelStep, option);
        }
    }

    [Fact]
    public void Malloc_IsLiveByDefault_TakesDefault_AndRejectsAnythingElse()
    {
        BenchArguments.Route(["--no-python"]).ModelStep!.Malloc.Should().Be("live");
        BenchArguments.Route(["--malloc", "default"]).ModelStep!.Malloc.Should().Be("default");
        FluentActions.Invoking(() => BenchArguments.Route(["--malloc", "jemalloc"]))
            .Should().Throw<ArgumentException>().WithMessage("--malloc takes live or default, got 'jemalloc'.");
    }

    [Fact]
    public void BadValueOrUnknownCommand_OneLineError()
    {
        FluentActions.Invoking(() => BenchArguments.Route(["--no-python", "--steps", "0"]))
            .Should().Throw<ArgumentException>().WithMessage("--steps must be an integer of at least 1, got '0'.");
        FluentActions.Invoking(() => BenchArguments.Route(["frobnicate"]))
            .Should().Throw<ArgumentException>().Which.Message.Should().NotContain(Environment.NewLine).And.Contain("--help");
    }

    [Fact]
    public void BenchmarkDotNetOptions_GoToTheLayerSuite()
    {
        BenchArguments.Route(["--filter", "*Linear768x768*"]).Should().BeEquivalentTo(
            new BenchCommand(BenchVerb.Layers, ["--filter", "*Linear768x768*"]));
        BenchArguments.Route(["layers"]).Arguments.Should().Equal("--filter", "*");
    }

    [Fact]
    public void Verdict_StatesTheTargetWithItsDirection()
    {
        TargetVerdict.AtMost("merged inference ÷ base", 0.98, 1.03).Should().Be("- merged inference ÷ base ≤ 1.03: 0.98 ✓");
        TargetVerdict.AtMost("VectorFit + AVF step ÷ LoRA r=1 step (.NET)", 1.30, 1.20)
            .Should().Be("- VectorFit + AVF step ÷ LoRA r=1 step (.NET) ≤ 1.20: 1.30 ✗ (8% over)");
        TargetVerdict.AtMost("x ÷ y", 1.20, 1.20).Should().EndWith("✓", "the limit itself is met");
    }

    [Fact]
    public void Verdict_FasterThanBaseIsNeverAMiss_AndNoMeasurementNoLine()
    {
        TargetVerdict.AtMost("merged inference ÷ base", 0.50, 1.03).Should().EndWith("0.50 ✓");
        TargetVerdict.AtMost("x ÷ y", double.NaN, 1.0).Should().BeNull();
        TargetVerdict.AtMost("x ÷ y", null, 1.0).Should().BeNull();
        TargetVerdict.AtMost("x ÷ y", double.PositiveInfinity, 1.0).Should().BeNull();
    }
}
