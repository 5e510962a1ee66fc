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
    public void HelpExitsWithCode0()
    {
        var output = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(output);
        try
        {
            Program.Main(["--help"]).Should().Be(0);
        }
        finally
        {
            Console.SetOut(previous);
        }

        output.ToString().Should().Contain("--demo").And.Contain("--resume");
    }
}
