using System.Diagnostics;

namespace GlueFineTune.Tests.Cli;

/// <summary>
/// The sample run as a separate process on bad input: every user error ends with one <c>error: …</c> message naming the
/// offending file and exit code 1 (2 for a bad command line), never an unhandled exception (exit 134 and a stack trace).
/// </summary>
[Collection("libtorch")]
public sealed class ProgramProcessTests
{
    private const string Sst2Header = "sentence\tlabel";
    private const string Sst2Good = Sst2Header + "\na fine film\t1\na dull film\t0\n";
    private const string StsbHeader = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore";
    private const string MnliHeader = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label";

    public static TheoryData<string, string, string, string, string> MalformedFiles => new()
    {
        // task, file, content, expected text in the message (besides the file name), description
        { "SST-2", "train.tsv", Sst2Header + "\na row with no label\n", "line 2", "short row" },
        { "SST-2", "train.tsv", string.Empty, "empty", "empty file" },
        { "SST-2", "train.tsv", "text\tpolarity\nfine\t1\n", "header", "wrong header" },
        { "SST-2", "train.tsv", Sst2Header + "\nfine\t2\n", "unknown label \"2\"", "label 2" },
        { "SST-2", "train.tsv", Sst2Header + "\nfine\t-1\n", "unknown label \"-1\"", "label -1" },
        { "SST-2", "train.tsv", Sst2Header + "\nfine\tpositive\n", "unknown label \"positive\"", "label positive" },
        { "STS-B", "train.tsv", StsbHeader + "\n0\tg\tf\t2012\t0\ts\ts\tA man.\tA man.\t7.5\n", "outside [0, 5]", "STS-B score 7.5" },
        { "MNLI", "train.tsv", MnliHeader + "\n0\t1\t2\tfiction\ta\tb\tc\td\n", "columns", "short MNLI row" },
        { "SST-2", "dev.tsv", Sst2Header + "\nfine\tmaybe\n", "unknown label \"maybe\"", "bad dev.tsv" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void MalformedGlueTsvExitsWithCode1AndAMessageNamingTheFile(string task, string file, string content, string expected, string description)
    {
        using var temp = new TempDirectory();
        string folder = task == "MNLI" ? "MNLI" : task;
        string good = task switch
        {
            "STS-B" => StsbHeader + "\n0\tg\tf\t2012\t0\ts\ts\tA man.\tA man.\t3.5\n",
            "MNLI" => MnliHeader + "\n0\t1\t2\tfiction\ta\tb\tc\td\tA man.\tA man.\tentailment\tentailment\n",
            _ => Sst2Good,
        };
        string devName = task == "MNLI" ? "dev_matched.tsv" : "dev.tsv";
        temp.Write($"glue/{folder}/train.tsv", file == "train.tsv" ? content : good);
        temp.Write($"glue/{folder}/{devName}", file == "dev.tsv" ? content : good);
        // A real (tiny) checkpoint: the sample checks the model folder before it reads any data.
        using (var checkpoint = TinyCheckpoint.Model(TinyCheckpoint.Bert(), numLabels: task switch { "MNLI" => 3, "STS-B" => 1, _ => 2 }))
        {
            TinyCheckpoint.Write(Path.Combine(temp.Path, "model"), checkpoint);
        }

        string badFile = Path.Combine(temp.Path, "glue", folder, file == "dev.tsv" ? devName : file);

        var (code, stderr) = RunSample(
            "--task", task, "--data", Path.Combine(temp.Path, "glue"), "--model", Path.Combine(temp.Path, "model"), "--output", Path.Combine(temp.Path, "out"));

        code.Should().Be(1, $"{description}: a malformed GLUE file is a user error (stderr: {stderr})");
        stderr.Should().StartWith("error: ", description).And.Contain(badFile, description).And.Contain(expected, description);
        stderr.Should().NotContain("Unhandled exception", description).And.NotContain("   at ", description);
    }

    [Fact]
    public void BadCommandLineExitsWithCode2InAProcess()
    {
        var (code, stderr) = RunSample("--epochs", "x");
        code.Should().Be(2);
        stderr.Should().StartWith("error: ").And.Contain("--help");
    }

    /// <summary>The last-resort handler: one line naming the exception and a log file that holds the stack trace.</summary>
    [Fact]
    public void UnexpectedExceptionPrintsOneLineAndTheLogPath()
    {
        Exception bug;
        try
        {
            throw new KeyNotFoundException("line one\nline two");
        }
        catch (KeyNotFoundException e)
        {
            bug = e;
        }

        var error = new StringWriter();
        Program.ReportUnexpected(bug, error).Should().Be(1);
        string text = error.ToString();
        text.TrimEnd().Split('\n').Should().ContainSingle("the report is one line");
        text.Should().StartWith("error: unexpected KeyNotFoundException: line one line two; details in ");
        string log = text.Split("details in ")[1].Split(' ')[0];
        File.Exists(log).Should().BeTrue(log);
        File.ReadAllText(log).Should().Contain(nameof(UnexpectedExceptionPrintsOneLineAndTheLogPath), "the log holds the stack trace");
        File.Delete(log);
        Program.IsUserError(bug).Should().BeFalse();
    }

    /// <summary>Runs the built sample (the GlueFineTune.dll beside the tests) and returns its exit code and standard error.</summary>
    internal static (int Code, string StdErr) RunSample(params string[] args)
    {
        string dll = typeof(Program).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"GlueFineTune {string.Join(' ', args)} did not finish in 2 minutes.");
        }

        _ = stdout.Result;
        return (process.ExitCode, stderr);
    }
}
