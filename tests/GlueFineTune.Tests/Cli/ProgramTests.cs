namespace GlueFineTune.Tests.Cli;

[Collection("libtorch")]
public sealed class ProgramTests
{
    [Theory]
    [InlineData("--epochs x")]
    [InlineData("--bogus")]
    [InlineData("--task sst2")]
    [InlineData("--demo --variant lora")]
    public void BadCommandLineExitsWithCode2AndAMessage(string commandLine)
    {
        string[] args = commandLine.Split(' ');
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            Program.Main(args).Should().Be(2);
        }
        finally
        {
            Console.SetError(previous);
        }

        error.ToString().Should().StartWith("error: ").And.Contain("--help");
    }

    [Fact]
    public void UnknownOptionPrintsTheHelpHintOnce()
    {
        var error = new StringWriter();
        var previous = Console.Error;
        Console.SetError(error);
        try
        {
            Program.Main(["--bogus"]).Should().Be(2);
        }
        finally
        {
            Console.SetError(previous);
        }

        error.ToString().Should().Be($"error: unknown option \"--bogus\".{Environment.NewLine}Run with --help for the options.{Environment.NewLine}");
    }

    [Fact]
    public void HelpExitsWithCode0()
    {
        RunMainCapturingOutput("--help").Should().Contain("--demo").And.Contain("--resume");
    }

    /// <summary>
    /// <c>--version</c> (what build.sh prints) names the TorchSharp and libtorch this process loaded, and they are
    /// the release the build asked for with <c>TorchSharpVersion</c> and the libtorch paired with it.
    /// </summary>
    [Fact]
    public void VersionNamesTheLoadedTorchSharpAndLibTorch()
    {
        string line = RunMainCapturingOutput("--version").Trim();
        line.Should().StartWith("VectorFit ")
            .And.Contain($"TorchSharp {BuildMetadata("TorchSharpVersion")},")
            .And.Contain($"libtorch {BuildMetadata("LibTorchVersion")}");
        if (OperatingSystem.IsLinux())
        {
            string loaded = line.Split("loaded from ")[1].Split(',')[0];
            File.Exists(loaded).Should().BeTrue(loaded);
            Path.GetFileName(loaded).Should().StartWith("libtorch_cpu.");
        }
    }

    /// <summary>Runs the program with one argument, expects exit code 0 and returns what it wrote to standard output.</summary>
    private static string RunMainCapturingOutput(string argument)
    {
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        try
        {
            Program.Main([argument]).Should().Be(0);
        }
        finally
        {
            Console.SetOut(previous);
        }

        return output.ToString();
    }

    private static string BuildMetadata(string key) =>
        typeof(ProgramTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}
