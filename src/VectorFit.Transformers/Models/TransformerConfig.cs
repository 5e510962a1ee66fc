using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace VectorFit.Transformers.Models;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> that the BERT and DeBERTa-v2/v3 models need. Names follow
/// the JSON keys; defaults are those of <c>BertConfig</c> / <c>DebertaV2Config</c> when a key is absent.
/// </summary>
public sealed record TransformerConfig
{
    /// <summary>The file name of a checkpoint's configuration.</summary>
    public const string FileName = "config.json";

    /// <summary><c>model_type</c>: <c>bert</c> or <c>deberta-v2</c> (DeBERTa-v3 checkpoints say <c>deberta-v2</c>).</summary>
    public required string ModelType { get; init; }

    /// <summary><c>vocab_size</c>.</summary>
    public required int VocabSize { get; init; }

    /// <summary><c>hidden_size</c> (d_model).</summary>
    public int HiddenSize { get; init; } = 768;

    /// <summary><c>num_hidden_layers</c>.</summary>
    public int NumHiddenLayers { get; init; } = 12;

    /// <summary><c>num_attention_heads</c>.</summary>
    public int NumAttentionHeads { get; init; } = 12;

    /// <summary><c>intermediate_size</c> (the MLP width).</summary>
    public int IntermediateSize { get; init; } = 3072;

    /// <summary><c>hidden_act</c>: <c>gelu</c> (exact erf form), <c>relu</c> or <c>tanh</c>.</summary>
    public string HiddenAct { get; init; } = "gelu";

    /// <summary><c>hidden_dropout_prob</c>.</summary>
    public double HiddenDropoutProb { get; init; } = 0.1;

    /// <summary><c>attention_probs_dropout_prob</c>.</summary>
    public double AttentionProbsDropoutProb { get; init; } = 0.1;

    /// <summary><c>max_position_embeddings</c>.</summary>
    public int MaxPositionEmbeddings { get; init; } = 512;

    /// <summary><c>type_vocab_size</c> (0 for DeBERTa-v3: no token type embeddings).</summary>
    public int TypeVocabSize { get; init; } = 2;

    /// <summary><c>layer_norm_eps</c> (BERT 1e-12, DeBERTa-v3 1e-7).</summary>
    public double LayerNormEps { get; init; } = 1e-12;

    /// <summary><c>initializer_range</c>: standard deviation of freshly initialised weights (the task head).</summary>
    public double InitializerRange { get; init; } = 0.02;

    /// <summary><c>pad_token_id</c>.</summary>
    public int PadTokenId { get; init; }

    /// <summary><c>classifier_dropout</c> (BERT) or <c>cls_dropout</c> (DeBERTa); <c>null</c> means the hidden dropout.</summary>
    public double? ClassifierDropout { get; init; }

    /// <summary>Number of labels from <c>id2label</c>/<c>num_labels</c>, when the checkpoint has a head.</summary>
    public int? NumLabels { get; init; }

    // ---- DeBERTa-v2/v3 -------------------------------------------------------------------------

    /// <summary><c>relative_attention</c>: disentangled attention over relative positions.</summary>
    public bool RelativeAttention { get; init; }

    /// <summary><c>position_buckets</c> (v3: 256; ≤ 0 means no log-bucketing).</summary>
    public int PositionBuckets { get; init; } = -1;

    /// <summary><c>max_relative_positions</c> (≤ 0 means <see cref="MaxPositionEmbeddings"/>).</summary>
    public int MaxRelativePositions { get; init; } = -1;

    /// <summary><c>position_biased_input</c>: add absolute position embeddings to the input (BERT: always; v3: no).</summary>
    public bool PositionBiasedInput { get; init; } = true;

    /// <summary><c>pos_att_type</c>: the relative terms, <c>c2p</c> and/or <c>p2c</c>.</summary>
    public IReadOnlyList<string> PosAttType { get; init; } = [];

    /// <summary><c>share_att_key</c>: project relative embeddings with the content query/key projections.</summary>
    public bool ShareAttKey { get; init; }

    /// <summary><c>norm_rel_ebd</c> contains <c>layer_norm</c>: the relative embeddings pass through <c>encoder.LayerNorm</c>.</summary>
    public bool NormRelativeEmbeddings { get; init; }

    /// <summary><c>embedding_size</c> (≠ hidden size adds <c>embed_proj</c>).</summary>
    public int? EmbeddingSize { get; init; }

    /// <summary><c>pooler_hidden_size</c> (DeBERTa's <c>ContextPooler</c>).</summary>
    public int? PoolerHiddenSize { get; init; }

    /// <summary><c>pooler_dropout</c>.</summary>
    public double PoolerDropout { get; init; }

    /// <summary><c>pooler_hidden_act</c> (DeBERTa: <c>gelu</c>).</summary>
    public string PoolerHiddenAct { get; init; } = "gelu";

    /// <summary><c>conv_kernel_size</c> (DeBERTa-v2 xlarge's first-layer convolution; not built by VectorFit.Transformers).</summary>
    public int ConvKernelSize { get; init; }

    /// <summary>Whether this is a DeBERTa-v2/v3 configuration.</summary>
    public bool IsDeberta => ModelType is "deberta-v2" or "deberta";

    /// <summary>Width of one attention head.</summary>
    public int HeadSize => HiddenSize / NumAttentionHeads;

    /// <summary>The relative span: <c>position_buckets</c> when bucketing, else <c>max_relative_positions</c>.</summary>
    public int PositionEmbeddingSpan => PositionBuckets > 0 ? PositionBuckets : EffectiveMaxRelativePositions;

    /// <summary><c>max_relative_positions</c>, or <c>max_position_embeddings</c> when it is not set.</summary>
    public int EffectiveMaxRelativePositions => MaxRelativePositions < 1 ? MaxPositionEmbeddings : MaxRelativePositions;

    /// <summary>The scale divisor factor of DeBERTa's scores: 1 plus one per relative term (v3: 3).</summary>
    public int AttentionScaleFactor => 1 + (PosAttType.Contains("c2p") ? 1 : 0) + (PosAttType.Contains("p2c") ? 1 : 0);

    /// <summary>Reads and validates <c>config.json</c>.</summary>
    /// <param name="path">The file.</param>
    /// <returns>The configuration.</returns>
    public static TransformerConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} does not exist; a checkpoint folder needs the model's {FileName} (download it with the weights).", path);
        }

        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is JsonException or ArgumentException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>Parses and validates the text of a <c>config.json</c>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <returns>The configuration.</returns>
    public static TransformerConfig Parse(string json)
    {
        JsonObject root = JsonNode.Parse(json) as JsonObject
            ?? throw new FormatException("the configuration is not a JSON object.");
        string modelType = Str(root, "model_type")
            ?? throw new FormatException("model_type is missing; expected \"bert\" or \"deberta-v2\".");
        bool deberta = modelType is "deberta-v2" or "deberta";
        var config = new TransformerConfig
        {
            ModelType = modelType,
            VocabSize = Int(root, "vocab_size") ?? throw new FormatException("vocab_size is missing."),
            HiddenSize = Int(root, "hidden_size") ?? 768,
            NumHiddenLayers = Int(root, "num_hidden_layers") ?? 12,
            NumAttentionHeads = Int(root, "num_attention_heads") ?? 12,
            IntermediateSize = Int(root, "intermediate_size") ?? 3072,
            HiddenAct = Str(root, "hidden_act") ?? "gelu",
            HiddenDropoutProb = Dbl(root, "hidden_dropout_prob") ?? 0.1,
            AttentionProbsDropoutProb = Dbl(root, "attention_probs_dropout_prob") ?? 0.1,
            MaxPositionEmbeddings = Int(root, "max_position_embeddings") ?? 512,
            TypeVocabSize = Int(root, "type_vocab_size") ?? (deberta ? 0 : 2),
            LayerNormEps = Dbl(root, "layer_norm_eps") ?? (deberta ? 1e-7 : 1e-12),
            InitializerRange = Dbl(root, "initializer_range") ?? 0.02,
            PadTokenId = Int(root, "pad_token_id") ?? 0,
            ClassifierDropout = Dbl(root, deberta ? "cls_dropout" : "classifier_dropout"),
            NumLabels = root["id2label"] is JsonObject labels ? labels.Count : Int(root, "num_labels"),
            RelativeAttention = Bool(root, "relative_attention") ?? false,
            PositionBuckets = Int(root, "position_buckets") ?? -1,
            MaxRelativePositions = Int(root, "max_relative_positions") ?? -1,
            PositionBiasedInput = Bool(root, "position_biased_input") ?? true,
            PosAttType = PositionAttentionTypes(root["pos_att_type"]),
            ShareAttKey = Bool(root, "share_att_key") ?? false,
            NormRelativeEmbeddings = (Str(root, "norm_rel_ebd") ?? "none").Split('|').Any(s => s.Trim() == "layer_norm"),
            EmbeddingSize = Int(root, "embedding_size"),
            PoolerHiddenSize = Int(root, "pooler_hidden_size"),
            PoolerDropout = Dbl(root, "pooler_dropout") ?? 0,
            PoolerHiddenAct = Str(root, "pooler_hidden_act") ?? "gelu",
            ConvKernelSize = Int(root, "conv_kernel_size") ?? 0,
        };
        config.Validate();
        return config;
    }

    /// <summary>Checks every field and the cross-field rules.</summary>
    /// <exception cref="ArgumentException">A field is out of range; the message names it, its value and the fix.</exception>
    public void Validate()
    {
        if (ModelType is not ("bert" or "deberta-v2" or "deberta"))
        {
            throw new ArgumentException($"model_type \"{ModelType}\" is not supported; VectorFit.Transformers builds \"bert\" (bert-base-uncased family) and \"deberta-v2\" (microsoft/deberta-v3-base family).");
        }

        Positive(VocabSize, "vocab_size");
        Positive(HiddenSize, "hidden_size");
        Positive(NumHiddenLayers, "num_hidden_layers");
        Positive(NumAttentionHeads, "num_attention_heads");
        Positive(IntermediateSize, "intermediate_size");
        Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (HiddenSize % NumAttentionHeads != 0)
        {
            throw new ArgumentException($"hidden_size {HiddenSize} is not a multiple of num_attention_heads {NumAttentionHeads}; fix config.json.");
        }

        if (TypeVocabSize < 0)
        {
            throw new ArgumentException($"type_vocab_size must be 0 or more, got {TypeVocabSize}.");
        }

        if (!(LayerNormEps > 0))
        {
            throw new ArgumentException($"layer_norm_eps must be positive, got {LayerNormEps}.");
        }

        Activations.Check(HiddenAct, "hidden_act");
        if (IsDeberta)
        {
            Activations.Check(PoolerHiddenAct, "pooler_hidden_act");
            foreach (string t in PosAttType)
            {
                if (t is not ("c2p" or "p2c"))
                {
                    throw new ArgumentException($"pos_att_type entry \"{t}\" is not supported; use \"c2p\" and/or \"p2c\" (DeBERTa-v3: \"p2c|c2p\").");
                }
            }

            if (ConvKernelSize > 0)
            {
                throw new ArgumentException($"conv_kernel_size {ConvKernelSize} asks for DeBERTa-v2's convolution layer, which VectorFit.Transformers does not build; use a DeBERTa-v3 checkpoint (microsoft/deberta-v3-base family).");
            }

            if (EmbeddingSize is { } e && e != HiddenSize)
            {
                throw new ArgumentException($"embedding_size {e} differs from hidden_size {HiddenSize}; VectorFit.Transformers does not build DeBERTa's embed_proj (DeBERTa-v3 base/large have equal sizes).");
            }

            if (PoolerHiddenSize is { } p && p != HiddenSize)
            {
                throw new ArgumentException($"pooler_hidden_size {p} differs from hidden_size {HiddenSize}; VectorFit.Transformers expects them equal (as every DeBERTa-v3 checkpoint has).");
            }
        }
    }

    /// <summary>Writes this configuration as a Hugging Face <c>config.json</c> (the keys the loader reads).</summary>
    /// <returns>Indented JSON text.</returns>
    public string ToJson()
    {
        var o = new JsonObject
        {
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["intermediate_size"] = IntermediateSize,
            ["hidden_act"] = HiddenAct,
            ["hidden_dropout_prob"] = HiddenDropoutProb,
            ["attention_probs_dropout_prob"] = AttentionProbsDropoutProb,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["type_vocab_size"] = TypeVocabSize,
            ["layer_norm_eps"] = LayerNormEps,
            ["initializer_range"] = InitializerRange,
            ["pad_token_id"] = PadTokenId,
        };
        if (IsDeberta)
        {
            o["relative_attention"] = RelativeAttention;
            o["position_buckets"] = PositionBuckets;
            o["max_relative_positions"] = MaxRelativePositions;
            o["position_biased_input"] = PositionBiasedInput;
            o["pos_att_type"] = string.Join('|', PosAttType);
            o["share_att_key"] = ShareAttKey;
            o["norm_rel_ebd"] = NormRelativeEmbeddings ? "layer_norm" : "none";
        }

        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static IReadOnlyList<string> PositionAttentionTypes(JsonNode? node) => node switch
    {
        null => [],
        JsonArray a => a.Select(x => x?.GetValue<string>().Trim().ToLowerInvariant() ?? string.Empty).Where(s => s.Length > 0).ToArray(),
        JsonValue v => v.GetValue<string>().Split('|').Select(s => s.Trim().ToLowerInvariant()).Where(s => s.Length > 0 && s != "none").ToArray(),
        _ => throw new FormatException("pos_att_type must be a string like \"p2c|c2p\" or an array of strings."),
    };

    private static void Positive(int value, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentException($"{name} must be positive, got {value}; fix config.json.");
        }
    }

    private static string? Str(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static bool? Bool(JsonObject o, string key) => o[key] is JsonValue v && v.TryGetValue(out bool b) ? b : null;

    private static int? Int(JsonObject o, string key)
    {
        if (o[key] is not JsonValue v)
        {
            return null;
        }

        if (v.TryGetValue(out int i))
        {
            return i;
        }

        if (v.TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue)
        {
            return (int)d;
        }

        throw new FormatException($"{key} must be an integer, got {v.ToJsonString()}.");
    }

    private static double? Dbl(JsonObject o, string key)
    {
        if (o[key] is not JsonValue v)
        {
            return null;
        }

        if (v.TryGetValue(out double d))
        {
            return d;
        }

        if (v.TryGetValue(out string? s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
        {
            return d;
        }

        throw new FormatException($"{key} must be a number, got {v.ToJsonString()}.");
    }
}
