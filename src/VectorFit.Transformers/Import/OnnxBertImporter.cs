using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using VectorFit.Transformers.Models;
using VectorFit.Transformers.Tokenization;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Transformers.Import;

/// <summary>What an import produced.</summary>
/// <param name="OutputDirectory">The Hugging Face folder written.</param>
/// <param name="Config">The configuration read from the graph.</param>
/// <param name="TensorCount">Tensors written to <c>model.safetensors</c>.</param>
/// <param name="Renamed">Generic initializers named by walking the graph (<c>X.weight</c>, stored transposed).</param>
/// <param name="Parameters">Parameters written.</param>
/// <param name="LowerCase">Whether the tokenizer lowercases (no token of the vocabulary changes when lower-cased).</param>
/// <param name="HasPooler">Whether the graph has BERT's pooler (<c>pooler.dense</c>).</param>
public sealed record ImportReport(string OutputDirectory, TransformerConfig Config, int TensorCount, int Renamed, long Parameters, bool LowerCase, bool HasPooler)
{
    /// <summary>Lines for the console.</summary>
    /// <returns>The summary.</returns>
    public IEnumerable<string> Describe()
    {
        yield return string.Create(
            CultureInfo.InvariantCulture,
            $"imported a BERT encoder: {Config.NumHiddenLayers} layers, hidden {Config.HiddenSize}, {Config.NumAttentionHeads} heads, FFN {Config.IntermediateSize}, vocab {Config.VocabSize}, {Parameters:N0} parameters ({TensorCount} tensors, {Renamed} Linear weights named from the graph), layer_norm_eps {Config.LayerNormEps:G3}, {Config.HiddenAct}");
        yield return HasPooler
            ? "the graph has a pooler (pooler.dense); --pooling pooler uses it, --pooling cls or mean (the default for sentence-transformers models) leave it out"
            : "the graph has no pooler; use --pooling cls or mean";
        yield return $"tokenizer: vocab.txt ({(LowerCase ? "uncased: lower-casing and accent stripping" : "cased")}); wrote {OutputDirectory}";
    }
}

/// <summary>
/// Turns a BERT-family ONNX export (Hugging Face <c>BertModel</c> through <c>torch.onnx.export</c> or Optimum)
/// into the Hugging Face folder the sample loads: <c>config.json</c> read from the graph, <c>model.safetensors</c>
/// with Hugging Face key names and <c>vocab.txt</c> with LF line endings.
/// </summary>
/// <remarks>
/// Named initializers (<c>embeddings.word_embeddings.weight</c>, <c>encoder.layer.0.attention.self.query.bias</c>,
/// …) keep their names. Linear weights that the exporter gave generic names (<c>onnx::MatMul_123</c>, <c>927</c>)
/// are named by walking the graph: the <c>MatMul</c> that reads one feeds an <c>Add</c> whose other input is a
/// named <c>X.bias</c>, so it is <c>X.weight</c>, stored (in, out) and written transposed as (out, in). A graph
/// that does not map onto every tensor of a BERT encoder is refused with the list of what is missing.
/// </remarks>
public static class OnnxBertImporter
{
    private static readonly string[] LayerKeys =
    [
        "attention.self.query.weight", "attention.self.query.bias",
        "attention.self.key.weight", "attention.self.key.bias",
        "attention.self.value.weight", "attention.self.value.bias",
        "attention.output.dense.weight", "attention.output.dense.bias",
        "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
        "intermediate.dense.weight", "intermediate.dense.bias",
        "output.dense.weight", "output.dense.bias",
        "output.LayerNorm.weight", "output.LayerNorm.bias",
    ];

    private static readonly string[] EmbeddingKeys =
    [
        "embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
    ];

    /// <summary>Imports <paramref name="graph"/> and <paramref name="vocabulary"/> into <paramref name="outputDirectory"/>.</summary>
    /// <param name="graph">The ONNX graph.</param>
    /// <param name="vocabulary">The lines of the model's <c>vocab.txt</c>.</param>
    /// <param name="outputDirectory">The folder to create (must not hold a model already).</param>
    /// <param name="numHeads">The number of attention heads when the graph does not tell; <c>null</c> to read it from the graph.</param>
    /// <returns>The report.</returns>
    /// <exception cref="InvalidDataException">The graph is not a BERT encoder this importer can map (the message says what is missing).</exception>
    /// <exception cref="IOException">The output folder already holds a model.</exception>
    public static ImportReport Import(OnnxGraph graph, IReadOnlyList<string> vocabulary, string outputDirectory, int? numHeads = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentException.ThrowIfNullOrEmpty(outputDirectory);
        if (File.Exists(Path.Combine(outputDirectory, TransformerConfig.FileName)) || File.Exists(Path.Combine(outputDirectory, CheckpointLoader.WeightsFileName)))
        {
            throw new IOException($"--out {outputDirectory} already holds a model ({TransformerConfig.FileName} or {CheckpointLoader.WeightsFileName}); choose an empty folder or delete it first.");
        }

        var (tensors, renamed) = NameTensors(graph);
        string prefix = tensors.Keys.Any(k => k.StartsWith("bert.embeddings.", StringComparison.Ordinal)) ? "bert." : string.Empty;
        Dictionary<string, (OnnxTensor Tensor, bool Transpose)> weights = tensors
            .Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value, StringComparer.Ordinal);
        weights.Remove("embeddings.position_ids");

        int layers = CountLayers(weights.Keys);
        var required = EmbeddingKeys.Concat(Enumerable.Range(0, layers).SelectMany(i => LayerKeys.Select(k => $"encoder.layer.{i}.{k}"))).ToList();
        var missing = required.Where(k => !weights.ContainsKey(k)).ToList();
        if (layers == 0 || missing.Count > 0)
        {
            throw new InvalidDataException(
                $"{graph.Source} does not map onto a BERT encoder: {(layers == 0 ? "no encoder.layer.N tensors" : $"missing {Summarise(missing)}")}. "
                + "This importer reads Hugging Face BertModel exports (torch.onnx.export or optimum-cli export onnx, weights not fused or quantized).");
        }

        var unused = weights.Keys.Where(k => !required.Contains(k) && !k.StartsWith("pooler.dense.", StringComparison.Ordinal)).ToList();
        if (unused.Count > 0)
        {
            throw new InvalidDataException($"{graph.Source} has tensors a BERT encoder does not have: {Summarise(unused)}; this importer maps Hugging Face BertModel exports only.");
        }

        long[] word = weights["embeddings.word_embeddings.weight"].Tensor.Dims;
        int hidden = (int)word[1];
        if (word[0] != vocabulary.Count)
        {
            throw new InvalidDataException($"the vocabulary has {vocabulary.Count} tokens but the graph's word embeddings have {word[0]} rows; pass the vocab.txt exported with this model.");
        }

        int heads = numHeads ?? ReadHeadCount(graph, prefix, hidden);
        var config = new TransformerConfig
        {
            ModelType = "bert",
            VocabSize = (int)word[0],
            HiddenSize = hidden,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            IntermediateSize = (int)weights["encoder.layer.0.intermediate.dense.bias"].Tensor.Dims[0],
            HiddenAct = ReadActivation(graph),
            MaxPositionEmbeddings = (int)weights["embeddings.position_embeddings.weight"].Tensor.Dims[0],
            TypeVocabSize = (int)weights["embeddings.token_type_embeddings.weight"].Tensor.Dims[0],
            LayerNormEps = ReadLayerNormEps(graph, prefix + "embeddings.LayerNorm.weight"),
            PadTokenId = Math.Max(0, IndexOf(vocabulary, "[PAD]")),
        };
        try
        {
            config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{graph.Source}: the configuration read from the graph is invalid: {e.Message}", e);
        }

        CheckShapes(weights, config);
        bool lowerCase = !vocabulary.Any(t => !(t.StartsWith('[') && t.EndsWith(']')) && t.Any(ch => char.ToLowerInvariant(ch) != ch));
        bool hasPooler = weights.ContainsKey("pooler.dense.weight") && weights.ContainsKey("pooler.dense.bias");
        if (!hasPooler)
        {
            weights.Remove("pooler.dense.weight");
            weights.Remove("pooler.dense.bias");
        }

        long parameters = weights.Values.Sum(w => w.Tensor.ElementCount);
        Write(weights, config, vocabulary, lowerCase, outputDirectory, graph.Source);
        return new ImportReport(outputDirectory, config, weights.Count, renamed, parameters, lowerCase, hasPooler);
    }

    /// <summary>
    /// Names every float initializer: a Hugging Face name as it stands, or, for a generic name read by a
    /// <c>MatMul</c> (or a <c>Gemm</c>) whose output meets a named <c>X.bias</c> in an <c>Add</c>, <c>X.weight</c>.
    /// </summary>
    /// <param name="graph">The graph.</param>
    /// <returns>Tensors by Hugging Face name (with whether each is stored transposed) and how many were renamed.</returns>
    internal static (Dictionary<string, (OnnxTensor Tensor, bool Transpose)> Tensors, int Renamed) NameTensors(OnnxGraph graph)
    {
        var named = new Dictionary<string, (OnnxTensor, bool)>(StringComparer.Ordinal);
        int renamed = 0;
        var unnamed = new List<string>();
        foreach (OnnxTensor tensor in graph.Initializers.Values)
        {
            if (tensor.DataType is not (OnnxDataType.Float or OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Double))
            {
                continue; // shape constants, position ids
            }

            if (IsHuggingFaceName(tensor.Name))
            {
                Add(named, tensor.Name, tensor, StoredTransposed(graph, tensor.Name), graph.Source);
                continue;
            }

            if (tensor.Dims.Length < 2)
            {
                continue; // scalar constants (scale factors, LayerNorm eps)
            }

            string? name = WeightNameFromGraph(graph, tensor.Name, out bool transpose);
            if (name is null)
            {
                unnamed.Add($"{tensor.Name} [{string.Join(", ", tensor.Dims)}]");
                continue;
            }

            Add(named, name, tensor, transpose, graph.Source);
            renamed++;
        }

        if (unnamed.Count > 0)
        {
            throw new InvalidDataException(
                $"{graph.Source}: cannot name {unnamed.Count} weight tensor(s) from the graph: {Summarise(unnamed)}. Each Linear weight must be read by a MatMul whose output is added to a named X.bias "
                + "(an unfused Hugging Face export: run torch.onnx.export or optimum-cli export onnx without graph optimisation).");
        }

        return (named, renamed);
    }

    private static string? WeightNameFromGraph(OnnxGraph graph, string initializer, out bool transpose)
    {
        transpose = false;
        foreach (OnnxNode node in graph.Consumers(initializer))
        {
            if (node.OpType == "MatMul" && node.Inputs.Count == 2 && node.Inputs[1] == initializer)
            {
                foreach (OnnxNode add in graph.Consumers(node.Outputs[0]).Where(n => n.OpType == "Add"))
                {
                    string other = add.Inputs[0] == node.Outputs[0] ? add.Inputs[1] : add.Inputs[0];
                    if (other.EndsWith(".bias", StringComparison.Ordinal) && graph.Initializers.ContainsKey(other))
                    {
                        transpose = true;
                        return other[..^".bias".Length] + ".weight";
                    }
                }
            }
            else if (node.OpType == "Gemm" && node.Inputs.Count == 3 && node.Inputs[1] == initializer && node.Inputs[2].EndsWith(".bias", StringComparison.Ordinal))
            {
                transpose = (node.Attribute("transB")?.Int ?? 0) == 0;
                return node.Inputs[2][..^".bias".Length] + ".weight";
            }
        }

        return null;
    }

    /// <summary>A named 2-D weight read as a MatMul's right operand (or a Gemm's without transB) is stored (in, out).</summary>
    private static bool StoredTransposed(OnnxGraph graph, string name)
    {
        if (!name.EndsWith(".weight", StringComparison.Ordinal) || name.Contains("embeddings", StringComparison.Ordinal) || name.Contains("LayerNorm", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (OnnxNode node in graph.Consumers(name))
        {
            if (node.OpType == "MatMul" && node.Inputs.Count == 2 && node.Inputs[1] == name)
            {
                return true;
            }

            if (node.OpType == "Gemm" && node.Inputs.Count >= 2 && node.Inputs[1] == name)
            {
                return (node.Attribute("transB")?.Int ?? 0) == 0;
            }
        }

        return false;
    }

    private static bool IsHuggingFaceName(string name) =>
        name.StartsWith("embeddings.", StringComparison.Ordinal) || name.StartsWith("encoder.", StringComparison.Ordinal)
        || name.StartsWith("pooler.", StringComparison.Ordinal) || name.StartsWith("bert.", StringComparison.Ordinal);

    private static void Add(Dictionary<string, (OnnxTensor, bool)> named, string name, OnnxTensor tensor, bool transpose, string source)
    {
        if (!named.TryAdd(name, (tensor, transpose)))
        {
            throw new InvalidDataException($"{source}: two initializers map to {name} ({named[name].Item1.Name} and {tensor.Name}); the graph is not a plain BertModel export.");
        }
    }

    private static int CountLayers(IEnumerable<string> keys)
    {
        var indices = keys.Where(k => k.StartsWith("encoder.layer.", StringComparison.Ordinal))
            .Select(k => k["encoder.layer.".Length..].Split('.')[0])
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : -1)
            .Where(i => i >= 0)
            .ToHashSet();
        int count = indices.Count == 0 ? 0 : indices.Max() + 1;
        return count;
    }

    /// <summary>
    /// The head count: the reshape of the query projection's output to (batch, length, heads, head size) has
    /// heads as its second-to-last target dimension (a constant, or a constant input of the shape's Concat).
    /// </summary>
    private static int ReadHeadCount(OnnxGraph graph, string prefix, int hidden)
    {
        string bias = prefix + "encoder.layer.0.attention.self.query.bias";
        OnnxNode? add = graph.Consumers(bias).FirstOrDefault(n => n.OpType == "Add");
        OnnxNode? reshape = add is null ? null : graph.Consumers(add.Outputs[0]).FirstOrDefault(n => n.OpType == "Reshape");
        if (reshape is not null && reshape.Inputs.Count == 2)
        {
            long? heads = null;
            if (graph.Constant(reshape.Inputs[1]) is { } shape && shape.ElementCount == 4)
            {
                heads = shape.ToInt64s()[2];
            }
            else if (graph.Producer(reshape.Inputs[1]) is { OpType: "Concat" } concat && concat.Inputs.Count == 4)
            {
                heads = graph.Constant(concat.Inputs[2]) is { ElementCount: 1 } h ? h.ToInt64s()[0] : null;
            }

            if (heads is > 0 && hidden % heads == 0)
            {
                return (int)heads.Value;
            }
        }

        throw new InvalidDataException($"{graph.Source}: cannot read the number of attention heads from the graph (no reshape of the query projection to a constant head count); pass it with --num-heads N.");
    }

    private static string ReadActivation(OnnxGraph graph)
    {
        if (graph.Nodes.Any(n => n.OpType == "Erf") || graph.Nodes.Any(n => n.OpType == "Gelu" && (n.Attribute("approximate") is null)))
        {
            return "gelu";
        }

        if (graph.Nodes.Any(n => n.OpType == "Relu"))
        {
            return "relu";
        }

        throw new InvalidDataException($"{graph.Source}: cannot tell the feed-forward activation (no Erf-based GELU and no Relu); this importer maps BERT exports with exact GELU or ReLU.");
    }

    /// <summary>LayerNorm's ε: a LayerNormalization node's <c>epsilon</c>, or the constant added to the variance before Sqrt.</summary>
    private static double ReadLayerNormEps(OnnxGraph graph, string gammaName)
    {
        OnnxNode? consumer = graph.Consumers(gammaName).FirstOrDefault();
        if (consumer is { OpType: "LayerNormalization" })
        {
            return consumer.Attribute("epsilon")?.Float ?? 1e-5;
        }

        if (consumer is { OpType: "Mul" })
        {
            string normalised = consumer.Inputs[0] == gammaName ? consumer.Inputs[1] : consumer.Inputs[0];
            if (graph.Producer(normalised) is { OpType: "Div" } div
                && graph.Producer(div.Inputs[1]) is { OpType: "Sqrt" } sqrt
                && graph.Producer(sqrt.Inputs[0]) is { OpType: "Add" } add)
            {
                foreach (string input in add.Inputs)
                {
                    if (graph.Constant(input) is { ElementCount: 1 } eps && eps.DataType != OnnxDataType.Int64)
                    {
                        // The graph holds ε in float32: round-trip through float and print it short (1e-12, not 9.99…e-13).
                        return double.Parse(eps.ToFloats()[0].ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
                    }
                }
            }
        }

        throw new InvalidDataException($"{graph.Source}: cannot read LayerNorm's epsilon from the graph (expected LayerNormalization, or Div(x − mean, Sqrt(var + ε)) · {gammaName}).");
    }

    private static void CheckShapes(Dictionary<string, (OnnxTensor Tensor, bool Transpose)> weights, TransformerConfig c)
    {
        var problems = new List<string>();
        foreach (var (name, (tensor, transpose)) in weights)
        {
            long[] dims = transpose && tensor.Dims.Length == 2 ? [tensor.Dims[1], tensor.Dims[0]] : tensor.Dims;
            long[]? expected = ExpectedShape(name, c);
            if (expected is not null && !expected.SequenceEqual(dims))
            {
                problems.Add($"{name}: [{string.Join(", ", dims)}], expected [{string.Join(", ", expected)}]");
            }
        }

        if (problems.Count > 0)
        {
            throw new InvalidDataException($"the graph's tensors do not fit one BERT configuration: {Summarise(problems)}.");
        }
    }

    private static long[]? ExpectedShape(string name, TransformerConfig c)
    {
        long h = c.HiddenSize, f = c.IntermediateSize;
        string tail = name.StartsWith("encoder.layer.", StringComparison.Ordinal) ? name[(name.IndexOf('.', "encoder.layer.".Length) + 1)..] : name;
        return tail switch
        {
            "embeddings.word_embeddings.weight" => [c.VocabSize, h],
            "embeddings.position_embeddings.weight" => [c.MaxPositionEmbeddings, h],
            "embeddings.token_type_embeddings.weight" => [c.TypeVocabSize, h],
            "intermediate.dense.weight" => [f, h],
            "intermediate.dense.bias" => [f],
            "output.dense.weight" => [h, f],
            _ when tail.EndsWith(".weight", StringComparison.Ordinal) && !tail.Contains("LayerNorm", StringComparison.Ordinal) => [h, h],
            _ => [h],
        };
    }

    private static void Write(Dictionary<string, (OnnxTensor Tensor, bool Transpose)> weights, TransformerConfig config, IReadOnlyList<string> vocabulary, bool lowerCase, string outputDirectory, string source)
    {
        string full = Path.GetFullPath(outputDirectory);
        string parent = Path.GetDirectoryName(full) ?? full;
        Directory.CreateDirectory(parent);
        string staging = Path.Combine(parent, $".{Path.GetFileName(full)}.import-{Environment.ProcessId}");
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        try
        {
            using (var scope = NewDisposeScope())
            {
                var ordered = weights.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv =>
                {
                    Tensor t = tensor(kv.Value.Tensor.ToFloats(), kv.Value.Tensor.Dims);
                    return new KeyValuePair<string, Tensor>(kv.Key, kv.Value.Transpose ? t.t().contiguous() : t);
                }).ToList();
                SafetensorsWriter.Save(Path.Combine(staging, CheckpointLoader.WeightsFileName), ordered, new Dictionary<string, string> { ["format"] = "pt", ["source"] = Path.GetFileName(source) });
            }

            File.WriteAllText(Path.Combine(staging, TransformerConfig.FileName), ConfigJson(config));
            File.WriteAllText(Path.Combine(staging, TokenizerConfig.FileName), new JsonObject
            {
                ["tokenizer_class"] = "BertTokenizer",
                ["do_lower_case"] = lowerCase,
                ["model_max_length"] = config.MaxPositionEmbeddings,
            }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n");
            var vocab = new StringBuilder();
            foreach (string token in vocabulary)
            {
                vocab.Append(token).Append('\n');
            }

            File.WriteAllText(Path.Combine(staging, WordPieceTokenizer.VocabularyFileName), vocab.ToString(), new UTF8Encoding(false));
            if (Directory.Exists(full))
            {
                foreach (string file in Directory.EnumerateFiles(staging))
                {
                    File.Move(file, Path.Combine(full, Path.GetFileName(file)), overwrite: true);
                }

                Directory.Delete(staging);
            }
            else
            {
                Directory.Move(staging, full);
            }
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }
    }

    /// <summary>The <c>config.json</c> text of an imported BERT encoder.</summary>
    /// <param name="c">The configuration.</param>
    /// <returns>The JSON.</returns>
    internal static string ConfigJson(TransformerConfig c) => new JsonObject
    {
        ["architectures"] = new JsonArray("BertModel"),
        ["model_type"] = "bert",
        ["vocab_size"] = c.VocabSize,
        ["hidden_size"] = c.HiddenSize,
        ["num_hidden_layers"] = c.NumHiddenLayers,
        ["num_attention_heads"] = c.NumAttentionHeads,
        ["intermediate_size"] = c.IntermediateSize,
        ["hidden_act"] = c.HiddenAct,
        ["hidden_dropout_prob"] = 0.1,
        ["attention_probs_dropout_prob"] = 0.1,
        ["max_position_embeddings"] = c.MaxPositionEmbeddings,
        ["type_vocab_size"] = c.TypeVocabSize,
        ["initializer_range"] = 0.02,
        ["layer_norm_eps"] = c.LayerNormEps,
        ["pad_token_id"] = c.PadTokenId,
    }.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>Reads a <c>vocab.txt</c>: one token per line, LF or CRLF, a final empty line dropped.</summary>
    /// <param name="text">The file's text.</param>
    /// <param name="source">The file, for messages.</param>
    /// <returns>The tokens.</returns>
    public static List<string> ParseVocabulary(string text, string source)
    {
        var lines = text.Split('\n').Select(l => l.EndsWith('\r') ? l[..^1] : l).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        if (lines.Count == 0 || !lines.Contains("[CLS]") || !lines.Contains("[SEP]"))
        {
            throw new InvalidDataException($"{source} is not a BERT vocab.txt (no [CLS]/[SEP] lines); pass the vocab.txt exported with the model.");
        }

        return lines;
    }

    private static int IndexOf(IReadOnlyList<string> list, string value)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return i;
            }
        }

        return -1;
    }

    private static string Summarise(IReadOnlyList<string> items) =>
        items.Count <= 5 ? string.Join(", ", items) : string.Join(", ", items.Take(5)) + $", … ({items.Count - 5} more)";
}
